// Puts on every node whose it must be (the stack's tag) and whether the spec adopts it, so the engine
// can refuse a foreign resource with the node alone (heal and scale apply single nodes too). A node
// with a `tagOwner` (a secret, a role assignment, a MySQL child) is adopted with its owner: ids in the
// spec's `adopt` are matched case-insensitively, as ARM compares ids.
import type { GraphNode } from "./types";

export function withOwnership(
  nodes: GraphNode[],
  tag: { name: string; value: string },
  adopt: readonly string[] = [],
): GraphNode[] {
  const adopted = new Set(adopt.map((id) => id.toLowerCase()));
  return nodes.map((node) => {
    const holder = node.tagOwner?.id ?? node.id;
    return { ...node, ownership: { tag: { ...tag }, ...(adopted.has(holder.toLowerCase()) ? { adopt: true } : {}) } };
  });
}
