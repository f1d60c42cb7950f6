// Ordering over a stack graph: checks that it is a DAG of known keys, gives deploy order (every node
// after what it depends on), teardown order (the reverse) and the critical path, which bounds how
// fast a fully parallel deploy can be.
import type { GraphNode } from "./types";

type Nodes = readonly Pick<GraphNode, "key" | "dependsOn">[];

export class GraphError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack graph: ${problems.join("; ")}`);
    this.name = "GraphError";
  }
}

/** Throws GraphError for duplicate keys, unknown or self dependencies, and cycles. */
export function validateGraph(nodes: Nodes): void {
  const problems: string[] = [];
  const keys = new Set<string>();
  for (const n of nodes) {
    if (keys.has(n.key)) problems.push(`duplicate key ${n.key}`);
    keys.add(n.key);
  }
  for (const n of nodes) {
    for (const d of n.dependsOn) {
      if (d === n.key) problems.push(`${n.key} depends on itself`);
      else if (!keys.has(d)) problems.push(`${n.key} depends on unknown ${d}`);
    }
  }
  if (problems.length === 0) {
    const cycle = findCycle(nodes);
    if (cycle) problems.push(`cycle ${cycle.join(" -> ")}`);
  }
  if (problems.length > 0) throw new GraphError(problems);
}

function findCycle(nodes: Nodes): string[] | undefined {
  const deps = new Map(nodes.map((n) => [n.key, n.dependsOn]));
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (key: string): string[] | undefined => {
    if (state.get(key) === "done") return undefined;
    if (state.get(key) === "visiting") return [...stack.slice(stack.indexOf(key)), key];
    state.set(key, "visiting");
    stack.push(key);
    for (const d of deps.get(key) ?? []) {
      const found = visit(d);
      if (found) return found;
    }
    stack.pop();
    state.set(key, "done");
    return undefined;
  };
  for (const n of nodes) {
    const found = visit(n.key);
    if (found) return found;
  }
  return undefined;
}

/** Every node after its dependencies; ties keep the graph's own order (deterministic). */
export function topologicalOrder<T extends Pick<GraphNode, "key" | "dependsOn">>(nodes: readonly T[]): T[] {
  validateGraph(nodes);
  const done = new Set<string>();
  const out: T[] = [];
  while (out.length < nodes.length) {
    for (const n of nodes) {
      if (!done.has(n.key) && n.dependsOn.every((d) => done.has(d))) {
        done.add(n.key);
        out.push(n);
      }
    }
  }
  return out;
}

/** Teardown order: every node before the nodes it depends on. */
export function teardownOrder<T extends Pick<GraphNode, "key" | "dependsOn">>(nodes: readonly T[]): T[] {
  return topologicalOrder(nodes).reverse();
}

/** Keys of the nodes that depend directly on each node. */
export function dependentsOf(nodes: Nodes): Map<string, string[]> {
  const out = new Map<string, string[]>(nodes.map((n) => [n.key, []]));
  for (const n of nodes) for (const d of n.dependsOn) out.get(d)?.push(n.key);
  return out;
}

export interface CriticalPath {
  /** sum of the durations along the path: the shortest possible makespan with unlimited parallelism */
  duration: number;
  /** the path, first node first */
  keys: string[];
}

/** The longest chain of dependencies, weighted by `durationOf` each node. */
export function criticalPath<T extends Pick<GraphNode, "key" | "dependsOn">>(
  nodes: readonly T[],
  durationOf: (node: T) => number,
): CriticalPath {
  const finish = new Map<string, { end: number; via?: string }>();
  for (const n of topologicalOrder(nodes)) {
    let start = 0;
    let via: string | undefined;
    for (const d of n.dependsOn) {
      const end = finish.get(d)!.end;
      if (via === undefined || end > start) {
        start = end;
        via = d;
      }
    }
    finish.set(n.key, { end: start + durationOf(n), via });
  }
  let last: string | undefined;
  for (const [key, f] of finish) if (last === undefined || f.end > finish.get(last)!.end) last = key;
  const keys: string[] = [];
  for (let k = last; k !== undefined; k = finish.get(k)!.via) keys.unshift(k);
  return { duration: last === undefined ? 0 : finish.get(last)!.end, keys };
}

/**
 * The same graph without edges that another path already implies (a -> c when a -> b -> c): the
 * schedule is identical, and each node lists only what it waits for directly.
 */
export function transitiveReduction<T extends Pick<GraphNode, "key" | "dependsOn">>(nodes: readonly T[]): T[] {
  const ordered = topologicalOrder(nodes);
  const ancestors = new Map<string, Set<string>>();
  for (const n of ordered) {
    const all = new Set<string>();
    for (const d of n.dependsOn) {
      all.add(d);
      for (const a of ancestors.get(d)!) all.add(a);
    }
    ancestors.set(n.key, all);
  }
  return nodes.map((n) => {
    const unique = [...new Set(n.dependsOn)];
    const direct = unique.filter((d) => !unique.some((other) => other !== d && ancestors.get(other)!.has(d)));
    return { ...n, dependsOn: direct };
  });
}
