// Validation of the stack spec a user sends: the JSON Schema (ajv, defaults applied) plus the rules a
// schema can't express (cross-field-rules.ts), reported together as {pointer, detail} pairs
// (schema-errors.ts, spec-errors.ts) that become the `errors` of an RFC 9457 problem, deduplicated
// and in schema order. The body itself is read by shared/http/json-body.ts.
//
// Pointers (RFC 6901) always address the body as the client sent it: an unknown field points at
// the field itself, a missing required property at the place it should be (e.g. "/subscriptionId",
// whose parent exists), and a cross-field rule at the field the client actually wrote, so a client
// can highlight it. A value that came from a default is marked "(default)" in the detail.
import type { JsonBodyLimits, JsonBodyResult } from "../http/json-body";
import { parseJsonBody } from "../http/json-body";
import { compiledValidator } from "../validators";
import type { StackSpec } from "./types";
import { Context, type SpecError, isObject, quote, splitPointer } from "./spec-errors";
import { ROOT_SCHEMA, type SchemaNode, describeSchemaError } from "./schema-errors";
import { RuleContext, SEMANTIC_RULES } from "./cross-field-rules";

export type StackSpecValidation = { ok: true; spec: StackSpec } | { ok: false; errors: SpecError[] };

export const STACK_SPEC_LIMITS = {
  /** a full spec is about 2 KiB; anything near this is not a stack spec */
  maxBodyBytes: 64 * 1024,
  /** the spec nests 4 levels; deeper bodies are refused before parsing */
  maxJsonDepth: 32,
} as const;

// ---------------------------------------------------------------------------------------------
// STACK_SPEC_SCHEMA, compiled ahead of time with its defaults applied (shared/validators).

const schemaValidator = compiledValidator("stack-spec");

// ---------------------------------------------------------------------------------------------
// validateStackSpec

/**
 * Validates a stack spec and returns it with every default applied, or every error found (schema
 * and semantic, deduplicated, in schema order). Never mutates `input`. With `routeName` (the
 * {name} of PUT /api/stacks/{name}) a body without `name` takes the route's, and a body whose
 * `name` differs is an error.
 */
export function validateStackSpec(input: unknown, options: { routeName?: string } = {}): StackSpecValidation {
  let sent: unknown;
  let working: unknown;
  try {
    sent = structuredClone(input);
    working = structuredClone(sent);
  } catch {
    const detail = "the stack spec must be plain JSON data: objects, arrays, strings, numbers, booleans and null";
    return { ok: false, errors: [{ pointer: "", detail, keyword: "type" }] };
  }

  const errors: SpecError[] = [];
  let nameFromRoute = false;
  const { routeName } = options;
  if (routeName !== undefined && isObject(working)) {
    if (working.name === undefined) {
      working.name = routeName;
      nameFromRoute = true;
    } else if (typeof working.name === "string" && working.name !== routeName) {
      errors.push({
        pointer: "/name",
        detail: `name ${quote(working.name)} does not match the stack name ${quote(routeName)} in the URL; make them equal or leave name out`,
        keyword: "routeName",
      });
    }
  }

  const context = new Context(sent, nameFromRoute);
  const validateAgainstSchema = schemaValidator();
  validateAgainstSchema(working);
  const schemaErrors = (validateAgainstSchema.errors ?? []).flatMap((error) => describeSchemaError(error, context));
  errors.push(...schemaErrors);
  if (isObject(working)) {
    const rules = new RuleContext(working as unknown as StackSpec, context, schemaErrors);
    for (const rule of SEMANTIC_RULES) errors.push(...rule(rules));
  }

  if (errors.length === 0) return { ok: true, spec: working as StackSpec };
  return { ok: false, errors: inStableOrder(deduplicated(errors)) };
}

// ---------------------------------------------------------------------------------------------
// Order and deduplication

function deduplicated(errors: readonly SpecError[]): SpecError[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = `${error.pointer}\u0000${error.detail}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Sorts by where the field is declared in the schema (unknown fields after known ones, by name;
 * array entries by index), so the order doesn't depend on the order of keys in the body. The sort
 * is stable: errors at the same pointer keep the order they were found in.
 */
function inStableOrder(errors: readonly SpecError[]): SpecError[] {
  const keyed = errors.map((error) => ({ error, key: schemaOrderKey(error.pointer) }));
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  return keyed.map(({ error }) => error);
}

type OrderKey = [number, string][];

function schemaOrderKey(pointer: string): OrderKey {
  const key: OrderKey = [];
  let node: SchemaNode | undefined = ROOT_SCHEMA;
  for (const segment of splitPointer(pointer)) {
    const names = Object.keys(node?.properties ?? {});
    const index = names.indexOf(segment);
    if (index >= 0 && node?.properties) {
      key.push([index, ""]);
      node = node.properties[segment];
    } else if (/^[0-9]+$/.test(segment) && node?.items) {
      key.push([Number(segment), ""]);
      node = node.items;
    } else {
      key.push([names.length, segment]);
      node = typeof node?.additionalProperties === "object" ? node.additionalProperties : undefined;
    }
  }
  return key;
}

function compareKeys(a: OrderKey, b: OrderKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i][0] !== b[i][0]) return a[i][0] - b[i][0];
    if (a[i][1] !== b[i][1]) return a[i][1] < b[i][1] ? -1 : 1;
  }
  return a.length - b.length;
}

export { CROSS_FIELD_RULES } from "./cross-field-rules";
export type { SpecError } from "./spec-errors";

/** The stack spec's body limits, for the JSON body reader. */
export const STACK_SPEC_BODY: JsonBodyLimits = { ...STACK_SPEC_LIMITS, expected: "the stack spec" };

/** Reads a request body that should hold a stack spec (shared/http/json-body.ts with the spec's limits). */
export function parseStackSpecBody(
  raw: string | Uint8Array | null | undefined,
  contentType: string | null | undefined,
): JsonBodyResult {
  return parseJsonBody(raw, contentType, STACK_SPEC_BODY);
}
