// Activities that write the stack registry, the audit trail and the alert inbox (Table Storage), and
// the workers' claim of the stack. Orchestrators can't do I/O, so every record of what happened goes
// through here.
import type { OperationOutcome, StackObserved } from "../../shared/stack-status";
import { StackNotFoundError, type AuditOperationKind, type StackConditionInput } from "../../shared/store";
import { services } from "../services";
import { claimForWorker, type WorkerClaim, type WorkerKind } from "../stack-claim";

export interface RecordObservedInput {
  stack: string;
  /**
   * fields to replace; the others keep what was observed before (a failed deploy keeps the nodes).
   * An operation's outcome without `finishedAt` finishes now: the wall clock here, not the
   * orchestration's replayed time.
   */
  observed: Partial<Omit<StackObserved, "lastOperation">> & {
    generation: number;
    lastOperation?: Omit<OperationOutcome, "finishedAt"> & { finishedAt?: string };
  };
  /** conditions to set with it (by type; the others stay) */
  conditions?: StackConditionInput[];
}

export async function recordObservedActivity(input: RecordObservedInput): Promise<void> {
  const { registry } = services();
  const before = (await registry.get(input.stack))?.observed;
  const { lastOperation, ...rest } = input.observed;
  const merged: StackObserved = {
    resources: [],
    nodes: [],
    ...before,
    ...rest,
    ...(lastOperation
      ? { lastOperation: { ...lastOperation, finishedAt: lastOperation.finishedAt ?? new Date().toISOString() } }
      : {}),
  };
  await registry.putObserved(input.stack, merged, { generation: merged.generation });
  if (input.conditions?.length) await registry.setConditions(input.stack, input.conditions);
}

export interface AppendAuditInput {
  stack: string;
  what: string;
  why: string;
  operation?: { kind: AuditOperationKind; instanceId: string };
  details?: Record<string, unknown>;
}

export async function appendAuditActivity(input: AppendAuditInput): Promise<void> {
  await services().audit.append({ ...input, actor: "jumpgate" });
}

export interface ReleaseOperationInput {
  stack: string;
  instanceId: string;
}

/** Frees the stack for the next writer, but only if this instance still holds it. */
export async function releaseOperationActivity(input: ReleaseOperationInput): Promise<boolean> {
  const { registry } = services();
  if (!(await registry.get(input.stack))) return false;
  const released = await registry.setOperation(input.stack, null, { heldBy: input.instanceId });
  return released.ok && !released.unchanged;
}

/** After a teardown: the stack leaves the registry, the repair and certificate ledgers and the fleet state; its audit trail stays. */
export async function forgetStackActivity(input: { stack: string }): Promise<void> {
  const { registry, repairs, fleet, certificates, connections } = services();
  await repairs.forget(input.stack);
  await certificates.forget(input.stack);
  await connections.forget(input.stack);
  await fleet.delete(input.stack);
  await registry.delete(input.stack);
}

export interface ClaimInput {
  stack: string;
  instanceId: string;
  /** ISO 8601, the orchestration's time */
  at: string;
}

/**
 * The claim activity of one kind of worker (heal, scale, a rotation, the certificate worker): claims
 * the stack for that instance (again: harmless). Another live operation is reported, never
 * overridden: the worker waits for it (functions/stack-claim.ts claimForWorker).
 */
export function claimFor(kind: WorkerKind): (input: ClaimInput) => Promise<WorkerClaim> {
  return (input) => claimForWorker(input.stack, kind, input.instanceId, input.at);
}

export interface SetConditionsInput {
  stack: string;
  conditions?: StackConditionInput[];
  /** one condition (scale's input) */
  condition?: StackConditionInput;
}

/** Sets conditions on the stack's record (by type; the others stay); a stack torn down meanwhile is fine. */
export async function setConditionsActivity(input: SetConditionsInput): Promise<void> {
  const conditions = [...(input.conditions ?? []), ...(input.condition ? [input.condition] : [])];
  try {
    await services().registry.setConditions(input.stack, conditions);
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
}

export interface ConsumeSignalsInput {
  stack: string;
  ids: string[];
  outcome: string;
}

/** Marks alert signals done, with what came of them. */
export async function consumeSignalsActivity(input: ConsumeSignalsInput): Promise<number> {
  if (input.ids.length === 0) return 0;
  return services().inbox.consume(input.stack, input.ids, input.outcome);
}
