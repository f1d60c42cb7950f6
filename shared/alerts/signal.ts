// What an Azure Monitor alert means to Jumpgate once it has been matched to a stack: a hint that one
// web node may be broken (heal), or that the fleet is too busy or too idle (scale). Signals are kept
// in the alert inbox (shared/store/alert-inbox.ts) and read level-triggered by the stack's heal or
// scale orchestration, so a lost wake-up event or a duplicate delivery changes nothing.
// Everything here is shown to users: alert ids, rule names, resource names and IPs, never secrets.

export type AlertCondition = "Fired" | "Resolved";

/** The audit actor of the alert intake's receipts: `alert:<rule>`. */
export const ALERT_ACTOR_PREFIX = "alert:";

/** The metric a scale alert claims is too high or too low: Percentage CPU, or jumpgate/liveSessions. */
export type ScaleMetricClaim = "cpu" | "sessions";

/** What the signal asks for; an alert that asks for nothing Jumpgate does is not a signal. */
export type SignalIntent = "heal" | "scale-out" | "scale-in";

export interface StackSignal {
  /** deduplication key: the same alert (id, condition, Fired/Resolved) always gets the same id */
  id: string;
  stack: string;
  intent: SignalIntent;
  condition: AlertCondition;
  /** the web VM the alert names, when it names one */
  node?: string;
  /** a load balancer backend the alert names (the BackendIPAddress dimension of DipAvailability) */
  backendIp?: string;
  /**
   * scale signals: the metric the alert claims; scale-out measures it before acting (absent in
   * signals recorded before it existed: the stack's policy metric is meant then)
   */
  metric?: ScaleMetricClaim;
  /** the alert rule's name */
  rule: string;
  /** the common alert schema's signalType: "Metric", "Log", "Activity Log", ... */
  signalType: string;
  /** one line for status and audit, e.g. "DipAvailability 0 < 100 for 10.0.1.4" */
  summary: string;
  /** the alert's own id (essentials.alertId) */
  alertId: string;
  /** when the alert fired, or resolved for a Resolved signal (ISO 8601) */
  at: string;
  /** when Jumpgate received it (ISO 8601) */
  receivedAt: string;
}

/** An alert that was received and ignored: it named nothing Jumpgate manages, or asked for nothing. */
export interface IgnoredAlert {
  id: string;
  alertId: string;
  rule: string;
  reason: string;
  targets: string[];
  receivedAt: string;
}
