// Which nodes the pending heal signals point at. A signal names a VM, or a load balancer backend IP,
// or nothing (then every node is a suspect). A Resolved signal cancels what its Fired signals asked
// for and was not started yet: for a node, every Fired signal about that node from no later than the
// resolution; for the whole stack, the Fired signal of the same alert. Pure: no I/O, no clock.
import type { StackSignal } from "../alerts/signal";
import type { NodeObservation } from "../node/model";

export interface SignalRouting {
  /** suspect node -> the Fired signals that point at it (alive, not cancelled) */
  byNode: Map<string, StackSignal[]>;
  /** Fired signals that name no node: every node is a suspect */
  everyNode: StackSignal[];
  /** signals that name a VM or IP the stack does not have */
  unknown: StackSignal[];
  /** Fired signals a later Resolved one cancelled, and the Resolved signals themselves */
  cancelled: { signal: StackSignal; by: StackSignal }[];
  resolved: StackSignal[];
}

/** The node a signal names (by VM name, else by backend IP), "*" for none, undefined if unknown. */
export function targetOf(signal: StackSignal, nodes: readonly NodeObservation[]): string | undefined {
  if (signal.node) {
    const want = signal.node.toLowerCase();
    return nodes.find((n) => n.name.toLowerCase() === want)?.name;
  }
  if (signal.backendIp) return nodes.find((n) => n.privateIp === signal.backendIp)?.name;
  return "*";
}

export function routeSignals(signals: readonly StackSignal[], nodes: readonly NodeObservation[]): SignalRouting {
  const routing: SignalRouting = { byNode: new Map(), everyNode: [], unknown: [], cancelled: [], resolved: [] };
  const resolvedByTarget = new Map<string, StackSignal[]>();
  for (const s of signals) {
    if (s.condition !== "Resolved") continue;
    routing.resolved.push(s);
    const target = targetOf(s, nodes);
    if (target === undefined) continue;
    resolvedByTarget.set(target, [...(resolvedByTarget.get(target) ?? []), s]);
  }
  for (const s of signals) {
    if (s.condition !== "Fired") continue;
    const target = targetOf(s, nodes);
    if (target === undefined) {
      routing.unknown.push(s);
      continue;
    }
    const cancelledBy =
      target === "*"
        ? (resolvedByTarget.get("*") ?? []).find((r) => r.alertId === s.alertId)
        : [...(resolvedByTarget.get(target) ?? []), ...(resolvedByTarget.get("*") ?? [])].find(
            (r) => (r.node || r.backendIp ? true : r.alertId === s.alertId) && r.at >= s.at,
          );
    if (cancelledBy) {
      routing.cancelled.push({ signal: s, by: cancelledBy });
      continue;
    }
    if (target === "*") routing.everyNode.push(s);
    else routing.byNode.set(target, [...(routing.byNode.get(target) ?? []), s]);
  }
  return routing;
}

/** Every node the routing makes a suspect, in name order. */
export function suspectsOf(routing: SignalRouting, nodes: readonly NodeObservation[]): string[] {
  const names = routing.everyNode.length > 0 ? nodes.map((n) => n.name) : [...routing.byNode.keys()];
  return [...new Set(names)].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

/** The signals that point at a node (its own, and those about every node). */
export function signalsOf(routing: SignalRouting, node: string): StackSignal[] {
  return [...(routing.byNode.get(node) ?? []), ...routing.everyNode];
}

/** The signals about a node in one line, for an audit event. */
export function signalText(routing: SignalRouting, node: string): string {
  const signals = signalsOf(routing, node);
  if (signals.length === 0) return "none";
  const first = signals
    .slice(0, 3)
    .map((s) => `${s.rule}: ${s.summary}`)
    .join("; ");
  return first + (signals.length > 3 ? ` (and ${signals.length - 3} more)` : "");
}

/**
 * What each signal of a round came to, grouped by outcome: unknown targets, cancellations and
 * resolutions at once; a node's signals once that node reached an outcome (`outcomes`, by node);
 * signals about every node once no node waits for a later round (`summary` says what came of all).
 * Signals of nodes still waiting stay pending.
 */
export function signalOutcomes(
  routing: SignalRouting,
  outcomes: ReadonlyMap<string, string>,
  everyNode: { summary: string } | undefined,
): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  const add = (outcome: string, id: string) => groups.set(outcome, [...(groups.get(outcome) ?? []), id]);
  for (const s of routing.unknown) add("names no web node of the stack: nothing to do", s.id);
  for (const c of routing.cancelled)
    add(`cancelled: resolved by ${c.by.rule} at ${c.by.at} before any action`, c.signal.id);
  for (const s of routing.resolved) add("resolved", s.id);
  for (const [node, signals] of routing.byNode) {
    const outcome = outcomes.get(node);
    if (outcome !== undefined) for (const s of signals) add(outcome, s.id);
  }
  if (everyNode) for (const s of routing.everyNode) add(everyNode.summary || "the stack has no web nodes", s.id);
  return groups;
}
