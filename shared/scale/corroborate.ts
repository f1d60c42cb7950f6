// Corroboration of a scale-out request: an alert is a claim ("Percentage CPU 97 > 75 on web-2"), and
// anyone who can reach the alert route can make one. Before the fleet grows, Jumpgate measures the
// metric the alert claims itself, from Azure Monitor (Percentage CPU, or the `jumpgate/liveSessions`
// the node agents publish), over the alert rule's own window, and acts only when the measurement
// agrees: on the node the alert names, or, for an alert about the whole fleet (a scale set rule),
// on the fleet's average. Heal corroborates the same way (shared/heal/policy.ts): a signal alone
// never changes anything.
//
// The bar is the policy's scale-out threshold less a tenth (CORROBORATION_SHARE): the alert fired on
// the rule's window, the measurement comes minutes later, and a load hovering at the threshold must
// not be vetoed by the delay. A forged alert over an idle fleet is far below it.
//
// Pure: the orchestration passes the readings its activity took.
import type { ScaleMetricClaim, StackSignal } from "../alerts/signal";
import { SCALE_THRESHOLDS, type ScaleMetric, type ScaleSkip } from "./policy";

/** The minutes a reading averages: the window of the stack's scale-out rules (PT15M). */
export const CORROBORATION_WINDOW_MINUTES = 15;
/** A measurement corroborates at this share of the scale-out threshold or above. */
export const CORROBORATION_SHARE = 0.9;

/** What Azure Monitor says of one metric over the window, per member node. */
export interface LoadReading {
  metric: ScaleMetricClaim;
  /** VM name (lower case) -> the average over the window; nodes without data are absent */
  perNode: Record<string, number>;
  windowMinutes: number;
  /** why the metric could not be read at all (a failed query), for the record */
  error?: string;
}

export type Corroboration = { corroborated: true; message: string } | ScaleSkip;

/** The metrics the signals claim (the policy's metric for a signal that does not say). */
export function claimedMetrics(signals: readonly StackSignal[], policyMetric: ScaleMetric): ScaleMetricClaim[] {
  return [...new Set(signals.map((s) => s.metric ?? policyMetric))].sort();
}

/** Whether the measurements bear out at least one of the pending scale-out signals. */
export function corroborateScaleOut(input: {
  signals: readonly StackSignal[];
  policyMetric: ScaleMetric;
  readings: readonly LoadReading[];
}): Corroboration {
  const findings: string[] = [];
  let measured = 0;
  for (const signal of input.signals) {
    const metric = signal.metric ?? input.policyMetric;
    const reading = input.readings.find((r) => r.metric === metric);
    const bar = round1(SCALE_THRESHOLDS[metric].out * CORROBORATION_SHARE);
    const where = signal.node ? `on ${signal.node}` : "on average over the fleet";
    const value = reading ? valueOf(reading, signal.node) : undefined;
    const window = reading?.windowMinutes ?? CORROBORATION_WINDOW_MINUTES;
    if (value === undefined) {
      findings.push(
        `${label(metric)} ${where}: no data in the last ${window} minutes${reading?.error ? ` (${reading.error})` : ""}`,
      );
      continue;
    }
    measured++;
    const text = `${label(metric)} ${where} measured ${round1(value)}${unit(metric)} over the last ${window} minutes`;
    if (value >= bar) {
      return {
        corroborated: true,
        message: `${text}, at or above ${bar}${unit(metric)} (the scale-out threshold ${SCALE_THRESHOLDS[metric].out} less a tenth): the alert '${signal.summary}' is borne out`,
      };
    }
    findings.push(`${text}, below ${bar}${unit(metric)}`);
  }
  const claims = [...new Set(input.signals.map((s) => `'${s.summary}'`))].slice(0, 3).join(", ");
  if (measured === 0) {
    return {
      action: "skip",
      reason: "MetricsUnavailable",
      message: `the alert claims ${claims}, but Azure Monitor has nothing to measure it by (${findings.slice(0, 3).join("; ")}); Jumpgate does not scale out on a claim it cannot check`,
    };
  }
  return {
    action: "skip",
    reason: "NotCorroborated",
    message: `the alert claims ${claims}, but ${findings.slice(0, 3).join("; ")}: not corroborated, nothing changes`,
  };
}

/** The node's average, or the fleet's when the signal names no node. */
function valueOf(reading: LoadReading, node: string | undefined): number | undefined {
  if (node !== undefined) return reading.perNode[node.toLowerCase()];
  const values = Object.values(reading.perNode).filter((v) => Number.isFinite(v));
  return values.length > 0 ? values.reduce((a, v) => a + v, 0) / values.length : undefined;
}

function label(metric: ScaleMetricClaim): string {
  return metric === "cpu" ? "Percentage CPU" : "jumpgate/liveSessions";
}

function unit(metric: ScaleMetricClaim): string {
  return metric === "cpu" ? " %" : "";
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
