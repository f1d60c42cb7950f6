// The pure scaling decisions, in the style of Azure Monitor autoscale (research/anchors.md §1d):
// one node at a time, within fleet.min and fleet.max, a cooldown after every scale action in both
// directions, and flapping protection on scale-in: a scale-in whose remaining nodes would carry more
// than the scale-out threshold is skipped and recorded, because the next evaluation would add the
// node back. Scale-in picks the node with the fewest live sessions (Decision 7: live sessions are
// sacred) and never the only healthy one.
//
// Alerts are hints, read level-triggered: every pending Fired signal of a direction asks for the
// same one action (an availability set's CPU rule fires once per busy VM), a Resolved signal
// cancels the Fired ones of its alert that nothing has acted on yet, and when both directions are
// pending, scale-out wins (Azure: any scale-out rule wins over scale-in).
//
// No I/O and no clock: the orchestration passes `now` (its replay-safe time).
import type { StackSignal } from "../alerts/signal";
import type { NodeSummary } from "../node/model";
import type { StackSpec } from "../spec/types";

export type ScaleDirection = "out" | "in";
export type ScaleMetric = StackSpec["policies"]["scale"]["metric"];

/**
 * Thresholds per node, on the average over the fleet. The CPU ones are the stack's own alert rules
 * (shared/graph/stack-graph.ts): 50 points apart, where Azure's guidance asks for at least 40 against
 * flapping. The session ones are what the flapping check projects with when the stack scales on
 * live sessions; alert rules on `jumpgate/liveSessions` should use them.
 */
export const SCALE_THRESHOLDS: Record<ScaleMetric, { out: number; in: number }> = {
  cpu: { out: 75, in: 25 },
  sessions: { out: 20, in: 5 },
};

/** Why a requested scale action was not taken. */
export type ScaleSkipReason =
  | "AtMax"
  | "AtMin"
  | "Cooldown"
  | "UnhealthyNodes"
  | "Flapping"
  | "MetricsUnavailable"
  /** the metric a scale-out alert claims, measured by Jumpgate, does not bear it out (corroborate.ts) */
  | "NotCorroborated"
  | "NoCandidate"
  /** another operation held the stack for longer than the scale worker waits */
  | "Busy";

export interface ScaleLimitsInput {
  direction: ScaleDirection;
  /** current members (the fleet state's size) and the spec's bounds */
  fleet: { size: number; min: number; max: number };
  cooldownMinutes: number;
  /** the last scale action that changed the fleet (either direction) */
  lastScale?: { direction: ScaleDirection; at: string };
  now: Date;
}

/** What the policy reads of a member node (a node summary: its VM exists and its agent answered, or not). */
export type FleetMember = Pick<NodeSummary, "name" | "ordinal" | "answered" | "healthy" | "liveSessions" | "cpu">;

export interface ScaleDecisionInput extends ScaleLimitsInput {
  metric: ScaleMetric;
  nodes: FleetMember[];
}

export interface ScaleSkip {
  action: "skip";
  reason: ScaleSkipReason;
  /** for people: why, with the numbers */
  message: string;
  /** decide again at this time (ISO 8601): the request waits instead of being dropped (cooldown) */
  retryAt?: string;
}

export type ScaleDecision =
  | { action: "out"; from: number; to: number; message: string }
  | {
      action: "in";
      from: number;
      to: number;
      /** the VM to drain and remove */
      node: string;
      ordinal?: number;
      liveSessions: number;
      /** the projected load per remaining node, when known */
      projected?: number;
      message: string;
    }
  | ScaleSkip;

/**
 * The checks that need no observation of the nodes: bounds and cooldown. The orchestration runs them
 * before it claims the stack, so a request at max or in cooldown never waits for another operation.
 */
export function checkLimits(input: ScaleLimitsInput): ScaleSkip | undefined {
  const { direction, fleet } = input;
  if (direction === "out" && fleet.size >= fleet.max) {
    return skip("AtMax", `the fleet has ${fleet.size} node(s), its maximum (fleet.max ${fleet.max})`);
  }
  if (direction === "in" && fleet.size <= fleet.min) {
    return skip("AtMin", `the fleet has ${fleet.size} node(s), its minimum (fleet.min ${fleet.min})`);
  }
  const until = cooldownUntil(input);
  if (until && until.getTime() > input.now.getTime()) {
    const last = input.lastScale!;
    return {
      ...skip(
        "Cooldown",
        `cooldown of ${input.cooldownMinutes} minute(s) after the scale-${last.direction} at ${last.at}, until ${until.toISOString()}`,
      ),
      retryAt: until.toISOString(),
    };
  }
  return undefined;
}

/** When the cooldown after the last scale action ends, if there was one. */
export function cooldownUntil(input: Pick<ScaleLimitsInput, "lastScale" | "cooldownMinutes">): Date | undefined {
  if (!input.lastScale) return undefined;
  const at = Date.parse(input.lastScale.at);
  if (Number.isNaN(at)) return undefined;
  return new Date(at + input.cooldownMinutes * 60_000);
}

/** The full decision, on observed nodes. */
export function decideScale(input: ScaleDecisionInput): ScaleDecision {
  const limited = checkLimits(input);
  if (limited) return limited;
  const { fleet, nodes } = input;
  const thresholds = SCALE_THRESHOLDS[input.metric];

  if (input.direction === "out") {
    // heal first: a node added next to a broken one hides the fault and may break the same way, and
    // the heal orchestration's fleet brake needs the fleet as it is to tell a node fault from an outage
    const unhealthy = nodes.filter((n) => !n.healthy);
    if (unhealthy.length > 0) {
      return skip(
        "UnhealthyNodes",
        `${unhealthy.length} of ${nodes.length} node(s) are unhealthy (${unhealthy.map((n) => n.name).join(", ")}); healing comes first, scale-out waits for a new alert`,
      );
    }
    return {
      action: "out",
      from: fleet.size,
      to: fleet.size + 1,
      message: `scale out from ${fleet.size} to ${fleet.size + 1} node(s) (fleet.max ${fleet.max})`,
    };
  }

  // scale-in: the load after removing one node, spread over the others, must stay under the
  // scale-out threshold, or the next evaluation would add it back (Azure autoscale's flapping check)
  const load = fleetLoad(input.metric, nodes);
  if (load === undefined) {
    return skip(
      "MetricsUnavailable",
      `the fleet's ${metricLabel(input.metric)} is unknown, so the load after removing a node can't be projected; like Azure autoscale, Jumpgate does not scale in on missing metrics`,
    );
  }
  const remaining = fleet.size - 1;
  const projected = round1((load.average * fleet.size) / remaining);
  if (projected > thresholds.out) {
    return {
      ...skip(
        "Flapping",
        `removing a node would leave ${remaining} node(s) at ${projected}${unitOf(input.metric)} ${metricLabel(input.metric)} each (now ${round1(load.average)}), above the scale-out threshold ${thresholds.out}: the next evaluation would scale out again`,
      ),
    };
  }

  const healthyCount = nodes.filter((n) => n.healthy).length;
  const candidates = nodes
    // an agent that does not answer can't drain its node, and its sessions are unknown: healing's case
    .filter((n) => n.answered && n.liveSessions !== undefined)
    // never the only healthy node
    .filter((n) => !(n.healthy && healthyCount === 1));
  if (candidates.length === 0) {
    return skip(
      "NoCandidate",
      `no node can be drained: ${nodes.length === 0 ? "no member node was found" : "the agents did not answer, or the only healthy node would go"}`,
    );
  }
  const chosen = [...candidates].sort(byFewestSessions)[0];
  return {
    action: "in",
    from: fleet.size,
    to: remaining,
    node: chosen.name,
    ...(chosen.ordinal !== undefined ? { ordinal: chosen.ordinal } : {}),
    liveSessions: chosen.liveSessions ?? 0,
    projected,
    message: `scale in from ${fleet.size} to ${remaining} node(s): ${chosen.name} has the fewest live sessions (${chosen.liveSessions ?? 0}); the others would carry ${projected}${unitOf(input.metric)} ${metricLabel(input.metric)} each`,
  };
}

/** Fewest live sessions first; ties: the highest node number (or name) first, the newest node. */
function byFewestSessions(a: FleetMember, b: FleetMember): number {
  const s = (a.liveSessions ?? 0) - (b.liveSessions ?? 0);
  if (s !== 0) return s;
  if (a.ordinal !== undefined && b.ordinal !== undefined && a.ordinal !== b.ordinal) return b.ordinal - a.ordinal;
  return b.name.localeCompare(a.name, "en", { numeric: true });
}

/** The fleet's average load per node on `metric`, over the nodes that reported it. */
export function fleetLoad(
  metric: ScaleMetric,
  nodes: readonly FleetMember[],
): { average: number; known: number } | undefined {
  const values = nodes
    .map((n) => (metric === "cpu" ? n.cpu : n.liveSessions))
    .filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  if (values.length === 0) return undefined;
  return { average: values.reduce((a, v) => a + v, 0) / values.length, known: values.length };
}

function metricLabel(metric: ScaleMetric): string {
  return metric === "cpu" ? "CPU" : "live sessions";
}

function unitOf(metric: ScaleMetric): string {
  return metric === "cpu" ? " %" : "";
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function skip(reason: ScaleSkipReason, message: string): ScaleSkip {
  return { action: "skip", reason, message };
}

// ------------------------------------------------------------------------------ signals

/** Pending scale signals sorted into what to do now. */
export interface SettledSignals {
  /** the direction to act on, if any Fired signal is left */
  direction?: ScaleDirection;
  /** Fired signals of that direction: one action answers all of them */
  active: StackSignal[];
  /** signals consumed at once, with why (Resolved ones, what they cancelled, superseded scale-ins) */
  done: { ids: string[]; outcome: string }[];
}

/**
 * Sorts pending scale signals (oldest first, as the inbox gives them). A Resolved signal cancels the
 * Fired signals of the same alert, intent and node received before it: nothing acted on them yet, and
 * the condition they reported is over. Fired signals of both directions: scale-out wins, the
 * scale-ins are consumed as superseded.
 */
export function settleSignals(pending: readonly StackSignal[]): SettledSignals {
  const scale = pending.filter((s) => s.intent === "scale-out" || s.intent === "scale-in");
  const fired = scale.filter((s) => s.condition === "Fired");
  const cancelled = new Set<string>();
  const done: SettledSignals["done"] = [];
  for (const resolved of scale.filter((s) => s.condition === "Resolved")) {
    const matches = fired.filter(
      (f) =>
        !cancelled.has(f.id) &&
        f.alertId === resolved.alertId &&
        f.intent === resolved.intent &&
        (f.node ?? "") === (resolved.node ?? "") &&
        f.receivedAt <= resolved.receivedAt,
    );
    for (const f of matches) cancelled.add(f.id);
    if (matches.length > 0) {
      done.push({
        ids: matches.map((f) => f.id),
        outcome: `cancelled: the alert resolved at ${resolved.at} before Jumpgate acted on it`,
      });
    }
    done.push({
      ids: [resolved.id],
      outcome:
        matches.length > 0
          ? `resolved: cancelled ${matches.length} pending ${resolved.intent} signal(s) of this alert`
          : `resolved: no pending ${resolved.intent} signal of this alert, nothing to cancel`,
    });
  }
  const live = fired.filter((f) => !cancelled.has(f.id));
  const outs = live.filter((s) => s.intent === "scale-out");
  const ins = live.filter((s) => s.intent === "scale-in");
  if (outs.length > 0) {
    if (ins.length > 0) {
      done.push({
        ids: ins.map((s) => s.id),
        outcome: "superseded: a scale-out was asked at the same time, and scale-out wins",
      });
    }
    return { direction: "out", active: outs, done };
  }
  if (ins.length > 0) return { direction: "in", active: ins, done };
  return { active: [], done };
}

/** The alert rules behind signals, for audit and status ("web1-scale-out", ...). */
export function rulesOf(signals: readonly StackSignal[]): string[] {
  return [...new Set(signals.map((s) => s.rule))].sort();
}

/** A request in words, for audit events and outcomes: the rules that asked and what came of it. */
export function requestText(active: readonly StackSignal[], message: string): string {
  return `alert ${rulesOf(active).join(", ")} (${active.length} signal(s)): ${message}`;
}

/** The limits a request is checked against: the fleet's size and bounds, the cooldown since the last action. */
export function limitsFor(
  view: { spec: StackSpec; fleet: { size: number }; lastScale?: { direction: ScaleDirection | "reset"; at: string } },
  direction: ScaleDirection,
  now: Date,
): ScaleLimitsInput {
  const { lastScale } = view;
  return {
    direction,
    fleet: { size: view.fleet.size, min: view.spec.fleet.min, max: view.spec.fleet.max },
    cooldownMinutes: view.spec.policies.scale.cooldownMinutes,
    ...(lastScale && lastScale.direction !== "reset"
      ? { lastScale: { direction: lastScale.direction, at: lastScale.at } }
      : {}),
    now,
  };
}
