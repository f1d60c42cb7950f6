// What a spec error is and how its words are made: the pointer (RFC 6901) into the body as the client
// sent it, the body's context (what the client wrote, what a default filled in), and the small text
// helpers every message uses (labels, quoting, suggestions for a misspelt name).

export interface SpecError {
  /** RFC 6901 JSON pointer into the request body ("" is the whole body) */
  pointer: string;
  /** what is wrong and how to fix it, for a human */
  detail: string;
  /** the JSON Schema keyword that failed, or the name of the semantic rule */
  keyword?: string;
}

/** What the messages need to know about the body as sent (before defaults). */
export class Context {
  constructor(
    readonly sent: unknown,
    readonly nameFromRoute: boolean,
  ) {}

  /** Whether the client wrote this pointer (as opposed to a default filling it in). */
  provided(pointer: string): boolean {
    return resolvePointer(this.sent, pointer).found;
  }

  /** Human name of a location: "network.webSubnet", "network.adminSourceRanges[2]", 'tags["a b"]'. */
  label(pointer: string): string {
    if (pointer === "") return "the stack spec";
    if (pointer === "/name" && this.nameFromRoute) return "the stack name in the URL";
    return splitPointer(pointer)
      .map((whole, index) => {
        const segment = truncate(whole, 64);
        if (/^(0|[1-9][0-9]*)$/.test(segment)) return `[${segment}]`;
        if (/^[A-Za-z_$][\w$-]*$/.test(segment)) return index === 0 ? segment : `.${segment}`;
        return `[${JSON.stringify(segment)}]`;
      })
      .join("");
  }
}

// ---------------------------------------------------------------------------------------------
// JSON pointers and small helpers

function escapeSegment(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

export function splitPointer(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function childPointer(pointer: string, segment: string): string {
  return `${pointer}/${escapeSegment(segment)}`;
}

export function parentPointer(pointer: string): string {
  return pointer.slice(0, Math.max(0, pointer.lastIndexOf("/")));
}

/** Whether `inner` lies strictly inside `outer`. */
export function isInside(inner: string, outer: string): boolean {
  return inner.startsWith(`${outer}/`);
}

/** Own properties only: "/constructor" must not resolve to Object.prototype.constructor. */
export function resolvePointer(document: unknown, pointer: string): { found: boolean; value?: unknown } {
  let value = document;
  for (const segment of splitPointer(pointer)) {
    if (Array.isArray(value)) {
      if (!/^(0|[1-9][0-9]*)$/.test(segment) || Number(segment) >= value.length) return { found: false };
      value = value[Number(segment)];
    } else if (isObject(value) && Object.hasOwn(value, segment)) {
      value = value[segment];
    } else return { found: false };
  }
  return { found: true, value };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** Control characters of a user's text as \\u escapes, so a detail never carries them into a log or a terminal. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A user value for a message, JSON-quoted and cut short: a detail must never carry a whole body. */
export function quote(text: string): string {
  // JSON escapes C0 controls; DEL and C1 controls are escaped by hand
  return text.length <= 64
    ? printable(JSON.stringify(text))
    : `${printable(JSON.stringify(`${text.slice(0, 48)}…`))} (${text.length} characters)`;
}

export function describeValue(value: unknown): string {
  if (typeof value === "string") return `the string ${quote(value)}`;
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    return Number.isFinite(value) ? String(value) : "a number too large to represent";
  }
  if (typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

export function countOf(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  return isObject(value) ? Object.keys(value).length : 0;
}

/** "did you mean" for enums: the allowed value equal ignoring case, if any. */
export function suggestion(value: unknown, allowed: readonly unknown[]): string {
  if (typeof value !== "string") return "";
  const match = allowed.find((option) => typeof option === "string" && option.toLowerCase() === value.toLowerCase());
  return match === undefined ? "" : `; did you mean ${JSON.stringify(match)}?`;
}

/** The allowed field a typo most likely meant: same letters ignoring case, or at most 2 edits away. */
export function closestName(field: string, allowed: readonly string[]): string | undefined {
  const lower = field.toLowerCase();
  const exact = allowed.find((name) => name.toLowerCase() === lower);
  if (exact !== undefined || field.length < 4 || field.length > 64) return exact;
  let best: { name: string; distance: number } | undefined;
  for (const name of allowed) {
    const distance = editDistance(lower, name.toLowerCase());
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}
