// What healing works with: what was seen of one web node, what was done to it before (the repair
// ledger), and the names of the repair steps. Plain JSON: observations and ledger state travel
// through orchestration history, so they hold names, ids, IPs, health facts and times, never secrets.
import type { StackSpec } from "../spec/types";

export type RepairPolicy = StackSpec["policies"]["repair"];

/** Power state from the VM's instance view (`PowerState/<x>`); "unknown" when it reports none. */
export type PowerState = "running" | "starting" | "stopping" | "stopped" | "deallocating" | "deallocated" | "unknown";

/** What one repair does to a node. Every step but `start` stops whatever runs on the node. */
export type RepairStep = "start" | "restart" | "redeploy" | "reimage" | "replace";

export const DESTRUCTIVE_STEPS: ReadonlySet<RepairStep> = new Set(["restart", "redeploy", "reimage", "replace"]);

export function isDestructive(step: RepairStep): boolean {
  return DESTRUCTIVE_STEPS.has(step);
}

/** The LB health probe of one backend, from `DipAvailability` by `BackendIPAddress`. */
export interface ProbeReading {
  /** up: the latest value is 50 % or more; unknown: no data (metrics lag, or the query failed) */
  state: "up" | "down" | "unknown";
  /** latest average (percent of probes answered) */
  value?: number;
  /** why unknown, when it is */
  note?: string;
}

/** What the node agent said to `health` through Run Command. */
export interface AgentReading {
  /** false: Run Command could not reach the VM (hung OS, no network, VM agent dead) */
  reachable: boolean;
  /** the agent printed a health document */
  answered: boolean;
  healthy: boolean;
  /** another Run Command was running on the VM (a health check of someone else): no answer yet */
  busy?: boolean;
  /** the first-boot installer has not finished (the agent says `installed: null`) */
  installing?: boolean;
  draining?: boolean;
  liveSessions?: number;
  /** names of the checks that failed: nginx, tomcat, guacd, database, certificate; "agent" when it did not answer */
  failing: string[];
  /** one line per failing check, for people */
  problems: string[];
  /** the database login the node uses (from its database check), e.g. "guacamole_a" */
  databaseUser?: string;
}

export interface NodeObservation {
  /** VM name */
  name: string;
  exists: boolean;
  id?: string;
  /** the VM's `properties.vmId`: a new one means the VM was recreated */
  vmId?: string;
  power: PowerState;
  /** lower case: succeeded, failed, creating, updating, deleting, ... */
  provisioning: string;
  nicId?: string;
  privateIp?: string;
  zones?: string[];
  probe: ProbeReading;
  agent: AgentReading;
  /** when it was observed (ISO 8601, the activity's clock) */
  at: string;
}

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

export interface LedgerState {
  nodes: Record<string, NodeLedger>;
  brake?: BrakeState;
}
