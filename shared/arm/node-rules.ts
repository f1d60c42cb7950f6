// What the engine decides about one node from its desired and observed documents, pure: the changes,
// the PUT body of an update, when a change means replace or is refused before any write, whether ARM
// is still busy with the resource, and whether the resource is the stack's to delete.
import type { GraphNode, PropertyChange } from "../graph/types";
import type { ObservedDocument } from "./arm-documents";
import { diffDocuments } from "./diff";
import { deleteAt, getAt, hasPath, isObject, leaves, setAt, type JsonObject } from "./json-path";
import { KNOWN_AFTER_APPLY } from "./refs";

const TERMINAL_STATES = new Set(["succeeded", "failed", "canceled"]);

export function provisioningState(doc: ObservedDocument): string | undefined {
  const state = getAt(doc, "properties.provisioningState");
  return typeof state === "string" ? state : undefined;
}

/** Set while ARM is still working on the resource (an earlier, interrupted attempt's operation). */
export function busyReason(doc: ObservedDocument): string | undefined {
  const state = provisioningState(doc);
  if (state === undefined || TERMINAL_STATES.has(state.toLowerCase())) return undefined;
  return `ARM is still working on this resource (provisioningState ${state})`;
}

/** Desired vs observed, without write-only and create-only places; a Failed resource always differs. */
export function changesOf(node: GraphNode, desired: JsonObject, observed: ObservedDocument): PropertyChange[] {
  const changes = diffDocuments(desired, observed, { skip: [...(node.writeOnly ?? []), ...(node.createOnly ?? [])] });
  // a resource an earlier attempt left Failed is written again even when its model matches
  const state = provisioningState(observed);
  if (state?.toLowerCase() === "failed") {
    changes.push({ path: "properties.provisioningState", from: state, to: "Succeeded" });
  }
  return changes;
}

/** What a create writes, as changes from nothing; write-only values and secrets shown by name only. */
export function createChanges(node: GraphNode, desired: JsonObject): PropertyChange[] {
  const writeOnly = node.writeOnly ?? [];
  const changes: PropertyChange[] = leaves(desired).map(({ path, value }) => ({
    path,
    from: undefined,
    to: writeOnly.some((w) => path === w || path.startsWith(`${w}.`)) ? "(write-only)" : value,
  }));
  for (const [path, secretName] of Object.entries(node.secretValues ?? {})) {
    changes.push({ path, from: undefined, to: `(Key Vault secret ${secretName})` });
  }
  return changes;
}

/**
 * The PUT body of an update: the desired document without write-only values (ARM keeps the ones it
 * has), create-only places as ARM has them (sending our wish would be refused), and tags merged, so
 * tags someone else added (a policy's, say) survive while ours are enforced. A write-only value goes
 * again when the place it belongs with changes (`resendWriteOnlyOn`).
 */
export function updateBody(node: GraphNode, desired: JsonObject, observed: ObservedDocument): JsonObject {
  const body = structuredClone(desired);
  for (const path of node.createOnly ?? []) {
    if (hasPath(observed, path)) setAt(body, path, structuredClone(getAt(observed, path)));
    else deleteAt(body, path);
  }
  for (const path of node.writeOnly ?? []) deleteAt(body, path);
  for (const [path, on] of Object.entries(node.resendWriteOnlyOn ?? {})) {
    const triggers: readonly string[] = typeof on === "string" ? [on] : on;
    const changed = triggers.some(
      (trigger) => diffDocuments({ at: getAt(desired, trigger) }, { at: getAt(observed, trigger) }).length > 0,
    );
    if (changed && hasPath(desired, path)) setAt(body, path, structuredClone(getAt(desired, path)));
  }
  if (isObject(observed.tags) || isObject(body.tags)) {
    body.tags = { ...(isObject(observed.tags) ? observed.tags : {}), ...(isObject(body.tags) ? body.tags : {}) };
  }
  return body;
}

function sameText(a: unknown, b: unknown): boolean {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}

/** Role assignments can't be updated: a new principal (a replaced VM) or role means delete + create. */
export function replaceReason(node: GraphNode, desired: JsonObject, observed: ObservedDocument): string | undefined {
  if (node.kind !== "roleAssignment") return undefined;
  for (const field of ["principalId", "roleDefinitionId"]) {
    const want = getAt(desired, `properties.${field}`);
    if (want === KNOWN_AFTER_APPLY) return `the ${field} will be known after apply`;
    if (!sameText(want, getAt(observed, `properties.${field}`))) {
      return `a role assignment can't change its ${field}; it is deleted and made again`;
    }
  }
  return undefined;
}

/** Changes ARM would refuse, found before any write. */
export function unsupportedChange(
  node: GraphNode,
  desired: JsonObject,
  observed: ObservedDocument,
): string | undefined {
  if (node.kind === "immutabilityPolicy") {
    const refusal = retentionPolicyChange(desired, observed);
    if (refusal) return refusal;
  }
  if (node.kind === "mysqlServer") {
    const want = getAt(desired, "properties.storage.storageSizeGB");
    const have = getAt(observed, "properties.storage.storageSizeGB");
    if (typeof want === "number" && typeof have === "number" && want < have) {
      return `MySQL storage can only grow: the server has ${have} GB, the spec asks for ${want} GB`;
    }
  }
  return undefined;
}

/** Why `owner` (the resource, or the node's `tagOwner`) does not prove the node is the stack's. */
export function tagRefusal(
  node: GraphNode,
  owner: ObservedDocument | undefined,
  tag: { name: string; value: string },
): string | undefined {
  const whose = node.tagOwner ? `its owner ${node.tagOwner.id}` : "it";
  if (!owner) return `${whose} does not exist, so nothing vouches that ${node.id} is the stack's`;
  const tags = isObject(owner.tags) ? owner.tags : {};
  const found = Object.entries(tags).find(([k]) => k.toLowerCase() === tag.name.toLowerCase());
  if (found?.[1] === tag.value) return undefined;
  const has = found ? `${found[0]}=${String(found[1])}` : `no ${tag.name} tag`;
  return `${whose} is not tagged ${tag.name}=${tag.value} (has ${has}); not deleting what is not the stack's`;
}

/**
 * Jumpgate writes a retention policy only while it is unlocked, and never locks it: a locked policy
 * can only be extended, by a person (`az storage container immutability-policy extend`); a spec that
 * says `locked` before anyone locked it is reported, not acted on.
 */
function retentionPolicyChange(desired: JsonObject, observed: ObservedDocument): string | undefined {
  const have = getAt(observed, "properties.state");
  const want = getAt(desired, "properties.state");
  const days = getAt(desired, "properties.immutabilityPeriodSinceCreationInDays");
  const current = getAt(observed, "properties.immutabilityPeriodSinceCreationInDays");
  if (have === "Locked" && days !== current) {
    return `the retention policy is locked (${String(current)} days): Jumpgate never changes a locked policy; extend it yourself to ${String(days)} days if that is what you want (see Session recordings)`;
  }
  if (want === "Locked") {
    return 'the spec says the retention policy is locked, but it is not: Jumpgate never locks it on its own; lock it yourself (see Session recordings, "Locking the policy")';
  }
  return undefined;
}
