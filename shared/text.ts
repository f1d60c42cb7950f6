// Text from outside (an alert's rule name, target ids, dimensions; a token's claims) goes into logs,
// the audit trail and status pages. Control characters there can forge log lines ("\n...: deploy
// succeeded"), rewrite a terminal (ESC sequences) or reorder what a reader sees (bidi overrides), so
// they are replaced by a space before such text is kept or logged.

/** C0 and C1 controls, DEL, line and paragraph separators, and bidirectional formatting characters. */
const CONTROL = /[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+/gu;

/** `text` with every run of control characters replaced by one space. */
export function stripControlCharacters(text: string): string {
  return text.replace(CONTROL, " ");
}

/** A copy of JSON-like data with control characters stripped from every string, keys included. */
export function stripControlCharactersDeep<T>(value: T): T {
  if (typeof value === "string") return stripControlCharacters(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => stripControlCharactersDeep(v)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[stripControlCharacters(k)] = stripControlCharactersDeep(v);
    }
    return out as T;
  }
  return value;
}
