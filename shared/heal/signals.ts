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
