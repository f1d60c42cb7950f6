// One writer per stack: before a deploy or teardown starts, it claims the stack in the registry
// (an ETag-guarded write). A claim whose orchestration is no longer running (the host crashed, or it
// was terminated by hand) is stale and is taken over; a live one makes the request a 409 that names it.
import * as df from "durable-functions";
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import { StackNotFoundError, type OperationKind, type StackOperation } from "../shared/store";
import type { StackSpec } from "../shared/spec/types";
import { currentDbUserSlot } from "../shared/stack-status";
import { services } from "./services";

export type ClaimKind = "deploy" | "teardown" | "reconcile" | "plan";

export type ClaimResult =
  { ok: true; instanceId: string; generation: number; dbUserSlot?: "a" | "b" } | { ok: false; running: StackOperation };

const ATTEMPTS = 4;

export async function claimStack(
  client: DurableClient,
  name: string,
  kind: Exclude<ClaimKind, "plan">,
  options: { spec?: StackSpec; instanceIdFor: (generation: number) => string; now?: Date },
): Promise<ClaimResult> {
  const { registry } = services();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let record = await registry.get(name);
    if (record?.operation) {
      if (await claimIsLive(client, record.operation.instanceId)) return { ok: false, running: record.operation };
      const cleared = await registry.setOperation(name, null, { ifMatch: record.etag });
      if (!cleared.ok) continue;
      record = cleared.stack;
    }
    if (options.spec) {
      const put = await registry.putDesired(name, options.spec, { ifMatch: record?.etag });
      if (!put.ok) continue;
      record = put.stack;
    }
    if (!record) throw new Error(`stack '${name}' is not registered`);
    const instanceId = options.instanceIdFor(record.generation);
    const op: StackOperation = { kind, instanceId, startedAt: (options.now ?? new Date()).toISOString() };
    const claimed = await registry.setOperation(name, op, { ifMatch: record.etag });
    // the app user nodes must log in as: the rotation keeps it in the registry (Key Vault's copy)
    if (claimed.ok)
      return { ok: true, instanceId, generation: record.generation, dbUserSlot: currentDbUserSlot(record.observed) };
    if (claimed.reason === "operation-running") return { ok: false, running: claimed.running };
  }
  throw new Error(`stack '${name}' kept changing while claiming it; try again`);
}

export async function instanceStatus(
  client: DurableClient,
  instanceId: string,
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    const status = await client.getStatus(instanceId, { showInput: false });
    return status && status.instanceId ? status : undefined;
  } catch {
    return undefined;
  }
}

const TERMINAL = new Set<string>([
  df.OrchestrationRuntimeStatus.Completed,
  df.OrchestrationRuntimeStatus.Failed,
  df.OrchestrationRuntimeStatus.Terminated,
]);

/**
 * Clears the stack's claim if its instance no longer runs (so an orchestration that claims the stack
 * itself, like the rotation, does not wait for a dead holder). True when it cleared one.
 */
export async function clearStaleClaim(client: DurableClient, name: string): Promise<boolean> {
  const { registry } = services();
  const record = await registry.get(name);
  if (!record?.operation || (await claimIsLive(client, record.operation.instanceId))) return false;
  const cleared = await registry.setOperation(name, null, { ifMatch: record.etag });
  return cleared.ok && !cleared.unchanged;
}

/** An operation claim whose instance no longer runs (crashed host, terminated by hand) is stale. */
export async function claimIsLive(client: DurableClient, instanceId: string): Promise<boolean> {
  const status = await instanceStatus(client, instanceId);
  if (!status) return false;
  return !TERMINAL.has(status.runtimeStatus);
}

export type WorkerClaim = { ok: true } | { ok: false; running: StackOperation } | { ok: false; gone: true };

/**
 * Claims the stack for a worker orchestration (heal, scale, a rotation) from an activity; claiming
 * again with the same instance is harmless. Another live operation is reported, never overridden: the
 * worker waits for it. Stale claims of dead instances are cleared by PUT, DELETE or the hourly drift
 * check, which can ask the task hub; an activity cannot. `gone`: the stack is no longer registered.
 */
export async function claimForWorker(
  stack: string,
  kind: Exclude<OperationKind, "deploy" | "teardown" | "reconcile">,
  instanceId: string,
  at: string,
): Promise<WorkerClaim> {
  try {
    const claimed = await services().registry.setOperation(stack, { kind, instanceId, startedAt: at });
    if (claimed.ok) return { ok: true };
    if (claimed.reason === "operation-running") return { ok: false, running: claimed.running };
    if (!claimed.stack?.operation) return { ok: false, gone: true };
    return { ok: false, running: claimed.stack.operation };
  } catch (e) {
    if (e instanceof StackNotFoundError) return { ok: false, gone: true };
    throw e;
  }
}
