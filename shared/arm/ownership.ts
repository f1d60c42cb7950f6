// Whose a resource is, pure. Jumpgate writes only what carries its stack tag (`jumpgate-stack=<stack>`)
// or does not exist yet. A resource without tags of its own (a secret's vault, a role assignment's
// scope, a MySQL database's or parameter's server; subnets live inside their VNet's document) is the
// stack's exactly when that parent (`tagOwner`) is: adding a secret, a role or a database to someone
// else's vault or server is touching it. A resource that exists without the tag is foreign: apply
// refuses it before any write (409 `ForeignResource`), plan shows it as `conflict`, teardown keeps
// it. The spec's `adopt` list is the one way to take over an untagged resource; one tagged for
// another stack is never taken, adopt or not.
import { STACK_TAG_NAME } from "../graph/names";
import type { GraphNode, StackOwnership } from "../graph/types";
import type { Problem } from "../http/problem";
import type { ObservedDocument } from "./arm-documents";
import { isObject } from "./json-path";

export const FOREIGN_RESOURCE = "ForeignResource";

export type OwnershipVerdict =
  /** tagged for this stack, or nothing there yet */
  | { verdict: "ours" }
  /** exists without a stack tag, and the spec adopts it (or, for a child, its parent) */
  | { verdict: "adopt"; reason: string }
  | { verdict: "foreign"; reason: string };

/**
 * The node's ownership: what the graph put on it, else (a node from an older instance's history)
 * the stack tag its own desired tags carry; undefined when neither says whose it is.
 */
export function ownershipOf(node: GraphNode): StackOwnership | undefined {
  if (node.ownership) return node.ownership;
  const tags = isObject(node.body.tags) ? node.body.tags : {};
  const value = tags[STACK_TAG_NAME];
  return typeof value === "string" ? { tag: { name: STACK_TAG_NAME, value } } : undefined;
}

/** The stack tag's value on a document (tag names are case-insensitive), or undefined. */
export function stackTagOf(doc: ObservedDocument, name = STACK_TAG_NAME): string | undefined {
  const tags = isObject(doc.tags) ? doc.tags : {};
  const found = Object.entries(tags).find(([k]) => k.toLowerCase() === name.toLowerCase());
  return found === undefined ? undefined : String(found[1]);
}

/**
 * Whether the engine may write `node`. `holder` is the document that carries the tag: the resource
 * itself, or its `tagOwner` for a node that has one; undefined when it does not exist.
 */
export function ownershipVerdict(node: GraphNode, holder: ObservedDocument | undefined): OwnershipVerdict {
  const ownership = ownershipOf(node);
  if (!holder || !ownership) return { verdict: "ours" };
  const { tag } = ownership;
  const found = stackTagOf(holder, tag.name);
  if (found === tag.value) return { verdict: "ours" };
  const child = node.tagOwner !== undefined;
  const what = child ? `its parent ${node.tagOwner!.id}` : node.id;
  if (found !== undefined) {
    return {
      verdict: "foreign",
      reason: `${what} belongs to stack '${found}' (tag ${tag.name}=${found}), not to '${tag.value}'; Jumpgate never takes a resource from another stack${child ? "" : ": give this stack another resource group"}`,
    };
  }
  if (ownership.adopt) {
    return {
      verdict: "adopt",
      reason: `${what} has no ${tag.name} tag and the spec adopts it: it gets the tag ${tag.name}=${tag.value} and is the stack's from then on`,
    };
  }
  return {
    verdict: "foreign",
    reason: child
      ? `${node.id} would go into ${node.tagOwner!.id}, which exists and is not the stack's (no ${tag.name} tag); adopt the parent (its id in the spec's adopt) or remove it`
      : `${node.id} exists and is not the stack's (no ${tag.name} tag): Jumpgate does not change what it did not create. Remove or rename it, or take it over by listing its id in the spec's adopt`,
  };
}

/** A failure line an apply gives for a foreign resource: `<key>: 409 ForeignResource: <reason>`. */
export function foreignResourceMessage(key: string, reason: string): string {
  return `${key}: 409 ${FOREIGN_RESOURCE}: ${reason}`;
}

export interface ForeignResource {
  key: string;
  id: string;
  reason: string;
}

const FOREIGN_LINE = new RegExp(`^([^\\s:][^\\s]*): 409 ${FOREIGN_RESOURCE}: (.*)$`);

/** The foreign resources among a graph run's failures (orchestrators read them from history: pure). */
export function foreignResources(
  failures: readonly { key: string; message: string }[],
  idOf: (key: string) => string | undefined,
): ForeignResource[] {
  const out: ForeignResource[] = [];
  for (const f of failures) {
    const m = FOREIGN_LINE.exec(f.message);
    if (!m || m[1] !== f.key) continue;
    out.push({ key: f.key, id: idOf(f.key) ?? "", reason: m[2] });
  }
  return out;
}

/** RFC 9457 problem for an operation that met resources that are not the stack's (409). */
export function foreignResourceProblem(stack: string, resources: readonly ForeignResource[]): Problem {
  const shown = resources.slice(0, 10);
  return {
    type: "https://jumpgate.dev/problems/foreign-resource",
    title: "A resource at one of the stack's names is not the stack's",
    status: 409,
    detail:
      `${resources.length} resource(s) that stack '${stack}' would change exist without its tag and were left untouched: ` +
      shown.map((r) => r.id || r.key).join(", ") +
      (resources.length > shown.length ? `, and ${resources.length - shown.length} more` : "") +
      ". Remove or rename them, or list their ids in the spec's adopt to take them over.",
    resources: shown,
  };
}

/** The stack condition `ResourcesOwned`: whether every resource of the stack that exists is its own. */
export function ownershipCondition(resources: readonly ForeignResource[]): {
  type: "ResourcesOwned";
  status: "True" | "False";
  reason: string;
  message: string;
} {
  if (resources.length === 0) {
    return {
      type: "ResourcesOwned",
      status: "True",
      reason: "AllResourcesOwned",
      message: "every resource of the stack that exists carries its tag",
    };
  }
  const named = resources
    .slice(0, 5)
    .map((r) => r.id || r.key)
    .join(", ");
  const more = resources.length > 5 ? `, and ${resources.length - 5} more` : "";
  return {
    type: "ResourcesOwned",
    status: "False",
    reason: FOREIGN_RESOURCE,
    message:
      `not the stack's, left untouched: ${named}${more}; remove or rename them, or list their ids in the spec's adopt`.slice(
        0,
        2_000,
      ),
  };
}
