// What Jumpgate last saw of a stack (the "observed" half of desired vs observed). It goes into the
// registry and the status API, so it holds names, ids, health facts and times: never secret values.

export interface ObservedNode {
  name: string;
  id: string;
  healthy: boolean;
  draining?: boolean;
  liveSessions?: number;
  /** failing checks, e.g. ["database: access denied"] */
  problems: string[];
  certificate?: { serial?: string; notAfter?: string };
  checkedAt: string;
}

export interface ObservedResource {
  key: string;
  kind: string;
  id: string;
  /** what the last deploy or reconcile did to it */
  lastAction?: string;
}

export interface OperationOutcome {
  kind: string;
  instanceId: string;
  outcome: "succeeded" | "failed";
  startedAt: string;
  finishedAt: string;
  /** one line per failure, safe to show */
  failures: string[];
}

export interface StackObserved {
  /** generation of the desired spec this state was produced from */
  generation: number;
  publicFqdn?: string;
  hostname?: string;
  resources: ObservedResource[];
  nodes: ObservedNode[];
  lastOperation?: OperationOutcome;
  /** a plan that found drift, and what it found (reconcile) */
  drift?: { at: string; changes: { key: string; action: string; paths: string[] }[] };
}
