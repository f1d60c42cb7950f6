// Values cross the host/worker boundary as JSON *text* (history Input/Result fields are strings that
// the JS library JSON.parse()s). These helpers keep that encoding in one place so the host emulation
// never hands the library a value it would not get from the real extension.

/** JSON text for a history field; `undefined` becomes null, as the extension writes empty results. */
export function toJsonText(value: unknown): string | null {
  const text = JSON.stringify(value);
  return text === undefined ? null : text;
}

/** Inverse of toJsonText; empty or missing text means "no value". */
export function parseJsonText(text: unknown): unknown {
  if (typeof text !== "string" || text === "") return undefined;
  return JSON.parse(text) as unknown;
}

/** What a value looks like after crossing the wire once (Dates become strings, undefined keys vanish). */
export function jsonRoundTrip<T>(value: T): T {
  if (value === undefined) return value;
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * CallActivity/CallActivityWithRetry/ContinueAsNew actions run the library's Utils.processInput(),
 * which JSON-stringifies string inputs a second time ("x" becomes "\"x\""). The activity on the real
 * host still receives "x", so undo that extra layer here.
 */
export function decodeProcessedInput(input: unknown): unknown {
  if (typeof input !== "string") return input;
  try {
    return JSON.parse(input) as unknown;
  } catch {
    return input;
  }
}
