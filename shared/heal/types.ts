// What healing works with besides what it sees of a node (shared/node/model.ts NodeObservation):
// what was done to each node before (the repair ledger), and the names of the repair steps. Plain
// JSON: ledger state travels through orchestration history, so it holds names and times, never secrets.
import type { StackSpec } from "../spec/types";

export type RepairPolicy = StackSpec["policies"]["repair"];

/**
 * What one repair does to a node. Every step but `start` stops whatever runs on the node:
 * `restart-services` restarts only the node's failed services (guacd, Tomcat, NGINX), which ends the
 * sessions they carry, without a reboot.
 */
export type RepairStep = "start" | "restart-services" | "restart" | "redeploy" | "reimage" | "replace";

export const DESTRUCTIVE_STEPS: ReadonlySet<RepairStep> = new Set([
  "restart-services",
  "restart",
  "redeploy",
  "reimage",
  "replace",
]);

export function isDestructive(step: RepairStep): boolean {
  return DESTRUCTIVE_STEPS.has(step);
}

/** What a step did to a node, in words ("node web-1 restarted"). */
export const STEP_DONE: Record<RepairStep, string> = {
  start: "started",
  "restart-services": "had its failed services restarted",
  restart: "restarted",
  redeploy: "redeployed",
  reimage: "reimaged",
  replace: "replaced",
};

/**
 * How long each step's node may take to be healthy before the step counts as failed and the ladder
 * climbs. A service restart has already waited for the services' own checks (the agent, up to 90 s),
 * so what is left is the health look and the probe; a restart boots in a few minutes; a redeploy moves to another host first; a reimaged or
 * replaced node has already waited for its agent (nodeReadyTimeoutMinutes) before this starts.
 */
export const VERIFY_MINUTES: Record<RepairStep, number> = {
  start: 10,
  "restart-services": 3,
  restart: 6,
  redeploy: 12,
  reimage: 15,
  replace: 15,
};

export type AttemptOutcome = "running" | "succeeded" | "failed";

/** One repair of one node, as the ledger keeps it. */
export interface RepairAttempt {
  /** unique per attempt (the orchestration makes it), so recording it again changes nothing */
  id: string;
  step: RepairStep;
  startedAt: string;
  finishedAt?: string;
  outcome: AttemptOutcome;
  /** the node broke again soon after this attempt had made it healthy: it did not really work */
  relapsed?: boolean;
  /** one line for people: what verification saw, or the error */
  detail?: string;
}

export interface NodeSuspension {
  reason: string;
  at: string;
}

export interface NodeLedger {
  node: string;
  /** oldest first, the most recent few dozen */
  attempts: RepairAttempt[];
  suspended?: NodeSuspension;
  /** a person lifted a suspension then: attempts before it no longer count against the node */
  resumedAt?: string;
}

/** The fleet brake: while it holds, no repair step changes any node of the stack. */
export interface BrakeState {
  /** "unhealthy-share" or "common-dependency:<check>" */
  reason: string;
  message: string;
  since: string;
}

/** A person told heal to repair despite the fleet brake, until `until` (per-node budget and suspension still apply). */
export interface BrakeOverride {
  by: string;
  at: string;
  until: string;
}

export interface LedgerState {
  nodes: Record<string, NodeLedger>;
  brake?: BrakeState;
  brakeOverride?: BrakeOverride;
}
