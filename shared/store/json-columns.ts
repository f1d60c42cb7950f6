// JSON documents stored as string columns of one table entity, within Azure Table Storage's limits.
//
// Azure stores strings as UTF-16 and caps one property at 64 KiB (32 Ki UTF-16 code units; Azurite
// enforces the same) and one entity at 1 MiB. A document longer than one property is split across
// numbered columns: `Spec` holds the first part, `Spec_1`, `Spec_2`, ... the rest, and `SpecParts`
// the count (absent when there is one part). Documents over their caller's budget, and entities over
// 1 MiB, are refused with a StoreLimitError before anything is sent.
//
// The stored JSON is ASCII: characters beyond it are written as \uXXXX escapes (valid JSON, read
// back unchanged). So a split never falls inside a character, and large bodies survive Azurite
// 3.35's table service, which corrupts a multi-byte UTF-8 character that straddles two chunks of a
// request body (Azure/Azurite#2670). The cost: such a character counts 6 toward the budget.
import { StoreCorruptionError, StoreLimitError } from "./errors";

/** Azure Table Storage's cap on one string property, in UTF-16 code units. */
export const MAX_PROPERTY_CHARS = 32 * 1024;
/** Azure Table Storage's cap on one entity, in bytes. */
export const MAX_ENTITY_BYTES = 1024 * 1024;

/** Each part stays a little under the property cap. */
const PART_CHARS = 32_000;

export type EntityColumns = Record<string, string | number>;

/**
 * The columns holding `value` as JSON under `column`. `maxChars` is the budget of this document
 * (UTF-16 code units); `describe` names it in the error, e.g. "stack 'prod': spec".
 */
export function toJsonColumns(column: string, value: unknown, maxChars: number, describe: string): EntityColumns {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError(`${describe} is not representable as JSON`);
  const json = asciiJson(text);
  if (json.length > maxChars) {
    throw new StoreLimitError(
      `${describe} is ${kib(json.length * 2)} KiB as stored (UTF-16 JSON), over its limit of ${kib(maxChars * 2)} KiB ` +
        `(Azure Table Storage holds at most 1 MiB per entity)`,
    );
  }
  const parts = splitParts(json);
  const columns: EntityColumns = {};
  parts.forEach((part, i) => (columns[i === 0 ? column : `${column}_${i}`] = part));
  if (parts.length > 1) columns[`${column}Parts`] = parts.length;
  return columns;
}

/** The document stored under `column`, or undefined when the entity has none. */
export function fromJsonColumns(entity: Record<string, unknown>, column: string, describe: string): unknown {
  const first = entity[column];
  if (first === undefined || first === null) return undefined;
  const count = entity[`${column}Parts`] ?? 1;
  if (typeof first !== "string" || typeof count !== "number" || !Number.isInteger(count) || count < 1) {
    throw new StoreCorruptionError(`${describe}: column ${column} is not a stored JSON document`);
  }
  let json = first;
  for (let i = 1; i < count; i++) {
    const part = entity[`${column}_${i}`];
    if (typeof part !== "string") throw new StoreCorruptionError(`${describe}: part ${i} of ${count} is missing`);
    json += part;
  }
  try {
    return JSON.parse(json) as unknown;
  } catch (e) {
    throw new StoreCorruptionError(`${describe}: stored JSON does not parse (${(e as Error).message})`);
  }
}

/**
 * Refuses an entity over 1 MiB by either measure: Azure's documented size (UTF-16 strings plus
 * per-property overhead) and the UTF-8 JSON sent on the wire (what Azurite checks).
 */
export function assertEntityFits(entity: Record<string, unknown>, describe: string): void {
  const size = Math.max(azureEntitySize(entity), Buffer.byteLength(JSON.stringify(entity), "utf8"));
  if (size > MAX_ENTITY_BYTES) {
    throw new StoreLimitError(`${describe} would be ${kib(size)} KiB, over Azure Table Storage's 1 MiB entity limit`);
  }
}

/** Non-ASCII characters as JSON escapes; only JSON strings can hold them, where escapes are valid. */
export function asciiJson(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function splitParts(json: string): string[] {
  const parts: string[] = [];
  for (let start = 0; start < json.length; start += PART_CHARS) parts.push(json.slice(start, start + PART_CHARS));
  return parts.length > 0 ? parts : [""];
}

/**
 * Microsoft's published estimate: 4 + 2 × len(PartitionKey + RowKey) + per property 8 + 2 × len(name)
 * + the value (strings 2 × length + 4; numbers counted as 8 bytes, the larger of Int32 and Double).
 */
function azureEntitySize(entity: Record<string, unknown>): number {
  let size = 4;
  for (const [name, value] of Object.entries(entity)) {
    if (name === "partitionKey" || name === "rowKey") {
      size += String(value).length * 2;
      continue;
    }
    size += 8 + name.length * 2;
    if (typeof value === "string") size += value.length * 2 + 4;
    else if (typeof value === "boolean") size += 1;
    else size += 8;
  }
  return size;
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}
