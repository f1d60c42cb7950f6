// Reads a request body into JSON safely, for every JSON route (stacks, alerts, heal, rotation,
// break-glass): hostile bodies must end in a 4xx problem, never in a 5xx, and no message ever quotes
// the body.
import { malformedBodyProblem, payloadTooLargeProblem, unsupportedMediaTypeProblem, type Problem } from "./problem";

export type JsonBodyResult = { ok: true; value: unknown } | { ok: false; problem: Problem };

/** Limits of one route's JSON body. */
export interface JsonBodyLimits {
  maxBodyBytes: number;
  maxJsonDepth: number;
  /** what the route expects, for the "empty body" message, e.g. "the stack spec" */
  expected: string;
}

/**
 * Reads a request body as JSON, refusing what a JSON API must not process: a non-JSON content type
 * (415), more than `limits.maxBodyBytes` (413), an empty body, bytes that are not UTF-8, invalid
 * JSON, duplicate keys, or nesting deeper than `limits.maxJsonDepth` (400). The text is checked by a non-recursive scanner before JSON.parse sees it, so
 * the error says where (line and column) on every Node version, and no message ever quotes the body.
 * Accepts a string or bytes (a Buffer is a Uint8Array).
 */
export function parseJsonBody(
  raw: string | Uint8Array | null | undefined,
  contentType: string | null | undefined,
  limits: JsonBodyLimits,
): JsonBodyResult {
  const fail = (problem: Problem): JsonBodyResult => ({ ok: false, problem });
  const empty = `The request body is empty; send ${limits.expected} as a JSON object.`;
  if (raw === null || raw === undefined || raw.length === 0) return fail(malformedBodyProblem(empty));
  if (!isJsonMediaType(contentType)) return fail(unsupportedMediaTypeProblem(contentType));
  const bytes = typeof raw === "string" ? Buffer.byteLength(raw, "utf8") : raw.byteLength;
  if (bytes > limits.maxBodyBytes) return fail(payloadTooLargeProblem(limits.maxBodyBytes, bytes));

  let text: string;
  if (typeof raw === "string") text = raw.startsWith("\uFEFF") ? raw.slice(1) : raw;
  else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw); // drops a leading byte order mark
    } catch {
      return fail(malformedBodyProblem("The request body is not valid UTF-8."));
    }
  }
  if (text.trim() === "") return fail(malformedBodyProblem(empty));

  const syntaxError = findJsonSyntaxError(text, limits.maxJsonDepth);
  if (syntaxError !== undefined)
    return fail(malformedBodyProblem(`The request body is not valid JSON: ${syntaxError}.`));
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return fail(malformedBodyProblem("The request body is not valid JSON.")); // the scanner and V8 disagree: refuse
  }
}

/** application/json or any application/*+json, optionally with charset=utf-8 (JSON is UTF-8, RFC 8259). */
function isJsonMediaType(contentType: string | null | undefined): boolean {
  if (!contentType) return false;
  const [essence, ...parameters] = contentType.split(";");
  const mediaType = essence.trim().toLowerCase();
  if (mediaType !== "application/json" && !/^application\/[a-z0-9!#$&^_.+-]+\+json$/.test(mediaType)) return false;
  return parameters.every((parameter) => {
    const [name, ...rest] = parameter.split("=");
    if (name.trim().toLowerCase() !== "charset") return true;
    const charset = rest
      .join("=")
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
    return charset === "utf-8" || charset === "utf8";
  });
}

type Expecting =
  | "value" // after ':' or at the start
  | "valueOrEnd" // after '['
  | "valueAfterComma" // after ',' in an array
  | "keyOrEnd" // after '{'
  | "keyAfterComma" // after ',' in an object
  | "colon"
  | "commaOrEnd"
  | "nothing"; // after the top-level value

interface Container {
  kind: "object" | "array";
  keys: Set<string>;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * RFC 8259 syntax check with an explicit stack (no recursion, so no stack overflow on hostile
 * input), plus two refusals JSON.parse doesn't make: duplicate keys (JSON.parse silently keeps the
 * last one, so two readers of the same body could disagree) and excessive depth.
 * Returns a description with line and column, or undefined when the text is fine.
 */
function findJsonSyntaxError(text: string, maxDepth: number): string | undefined {
  const stack: Container[] = [];
  let expecting: Expecting = "value";
  let i = 0;
  const at = (position: number) => describePosition(text, position);
  const afterValue = (): Expecting => (stack.length === 0 ? "nothing" : "commaOrEnd");

  while (true) {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
    if (i >= text.length) {
      if (expecting === "nothing") return undefined;
      return `unexpected end of the body at ${at(i)}${stack.length > 0 ? ` (an ${stack[stack.length - 1].kind} is not closed)` : ""}`;
    }
    const c = text[i];
    switch (expecting) {
      case "nothing":
        return `unexpected ${describeChar(c)} after the end of the JSON value at ${at(i)}`;
      case "colon":
        if (c !== ":") return `expected ':' after a property name at ${at(i)}, found ${describeChar(c)}`;
        i++;
        expecting = "value";
        continue;
      case "commaOrEnd": {
        const top = stack[stack.length - 1];
        const close = top.kind === "object" ? "}" : "]";
        if (c === ",") expecting = top.kind === "object" ? "keyAfterComma" : "valueAfterComma";
        else if (c === close) {
          stack.pop();
          expecting = afterValue();
        } else return `expected ',' or '${close}' at ${at(i)}, found ${describeChar(c)}`;
        i++;
        continue;
      }
      case "keyOrEnd":
      case "keyAfterComma": {
        if (c === "}") {
          if (expecting === "keyAfterComma") return `trailing comma before '}' at ${at(i)}`;
          stack.pop();
          expecting = afterValue();
          i++;
          continue;
        }
        if (c !== '"') return `expected a property name in double quotes at ${at(i)}, found ${describeChar(c)}`;
        const end = scanString(text, i);
        if (typeof end === "string") return end;
        const key = JSON.parse(text.slice(i, end)) as string;
        const keys = stack[stack.length - 1].keys;
        if (keys.has(key))
          return `duplicate property name '${key.length <= 64 ? key : `${key.slice(0, 64)}…`}' at ${at(i)}`;
        keys.add(key);
        i = end;
        expecting = "colon";
        continue;
      }
      case "value":
      case "valueOrEnd":
      case "valueAfterComma": {
        if (c === "]" && expecting !== "value") {
          if (expecting === "valueAfterComma") return `trailing comma before ']' at ${at(i)}`;
          stack.pop();
          expecting = afterValue();
          i++;
          continue;
        }
        if (c === "{" || c === "[") {
          if (stack.length >= maxDepth)
            return `objects and arrays are nested deeper than ${maxDepth} levels at ${at(i)}`;
          stack.push({ kind: c === "{" ? "object" : "array", keys: new Set() });
          expecting = c === "{" ? "keyOrEnd" : "valueOrEnd";
          i++;
          continue;
        }
        if (c === '"') {
          const end = scanString(text, i);
          if (typeof end === "string") return end;
          i = end;
        } else if (c === "-" || (c >= "0" && c <= "9")) {
          NUMBER.lastIndex = i;
          if (!NUMBER.test(text) || /[0-9.eE]/.test(text[NUMBER.lastIndex] ?? "")) return `invalid number at ${at(i)}`;
          i = NUMBER.lastIndex;
        } else {
          const literal = ["true", "false", "null"].find((word) => text.startsWith(word, i));
          if (literal === undefined) return `expected a value at ${at(i)}, found ${describeChar(c)}`;
          i += literal.length;
        }
        expecting = afterValue();
        continue;
      }
    }
  }
}

/** Scans the string starting at the quote at `start`; returns the index after its closing quote, or an error. */
function scanString(text: string, start: number): number | string {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20)
      return `control character ${describeChar(text[i])} inside a string at ${describePosition(text, i)} (escape it)`;
    if (c === 0x5c) {
      const next = text[i + 1];
      if (next === "u") {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6)))
          return `invalid \\u escape at ${describePosition(text, i)}`;
        i += 5;
      } else if (next !== undefined && `"\\/bfnrt`.includes(next)) i++;
      else return `invalid escape sequence at ${describePosition(text, i)}`;
    }
  }
  return `string starting at ${describePosition(text, start)} is not terminated`;
}

function describePosition(text: string, position: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++)
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  return `line ${line}, column ${position - lineStart + 1}`;
}

/** One character of the body, printable ASCII shown as is and anything else as a code point. */
function describeChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code >= 0x21 && code <= 0x7e ? `'${c}'` : `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}
