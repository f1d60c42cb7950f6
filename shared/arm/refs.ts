// ValueRefs: values known only once another resource exists (a VM identity's principalId). They are
// read from the target's current ARM document; during a plan a target that does not exist yet gives
// "(known after apply)", during an apply it is an error (the graph orders targets first).
import type { ValueRef } from "../graph/types";
import { getAt, isObject, leaves, setAt, type JsonObject } from "./json-path";

export const KNOWN_AFTER_APPLY = "(known after apply)";

export function isValueRef(v: unknown): v is ValueRef {
  return (
    isObject(v) &&
    Object.keys(v).length === 1 &&
    isObject(v.$ref) &&
    typeof v.$ref.node === "string" &&
    typeof v.$ref.path === "string"
  );
}

/** Every ValueRef in a document, with its dotted path. */
export function findRefs(body: unknown): { path: string; ref: ValueRef }[] {
  return leaves(body)
    .filter((l): l is { path: string; value: ValueRef } => isValueRef(l.value))
    .map((l) => ({ path: l.path, ref: l.value }));
}

/** Reads a ref's target document; undefined when the target does not exist. */
export type RefTargetReader = (ref: ValueRef["$ref"]) => Promise<JsonObject | undefined>;

export interface ResolvedBody {
  body: JsonObject;
  /** paths whose target (or value in it) does not exist yet; set to KNOWN_AFTER_APPLY in `body` */
  unresolved: { path: string; node: string; targetPath: string }[];
}

/** A copy of `body` with every ValueRef replaced by the value it points at. */
export async function resolveRefs(body: JsonObject, read: RefTargetReader): Promise<ResolvedBody> {
  const out = structuredClone(body);
  const unresolved: ResolvedBody["unresolved"] = [];
  const targets = new Map<string, Promise<JsonObject | undefined>>();
  for (const { path, ref } of findRefs(body)) {
    const cacheKey = (ref.$ref.id ?? ref.$ref.node).toLowerCase();
    if (!targets.has(cacheKey)) targets.set(cacheKey, read(ref.$ref));
    const value = getAt(await targets.get(cacheKey), ref.$ref.path);
    if (value === undefined || value === null) {
      unresolved.push({ path, node: ref.$ref.node, targetPath: ref.$ref.path });
      setAt(out, path, KNOWN_AFTER_APPLY);
    } else {
      setAt(out, path, value);
    }
  }
  return { body: out, unresolved };
}
