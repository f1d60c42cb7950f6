// Activities that write the stack registry and the audit trail (Table Storage). Orchestrators can't
// do I/O, so every record of what happened goes through here.
import * as df from "durable-functions";
import type { OperationOutcome, StackObserved } from "../../shared/stack-status";
import type { OperationKind, StackConditionInput } from "../../shared/store";
import { Names } from "../names";
import { services } from "../services";

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
  operation?: { kind: OperationKind; instanceId: string };
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

df.app.activity(Names.activities.recordObserved, { handler: recordObservedActivity });
df.app.activity(Names.activities.appendAudit, { handler: appendAuditActivity });
df.app.activity(Names.activities.releaseOperation, { handler: releaseOperationActivity });
df.app.activity(Names.activities.forgetStack, { handler: forgetStackActivity });
