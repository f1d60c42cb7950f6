// One writer per stack. A request (PUT, DELETE, POST rotate/database) or the drift check claims the
// stack in the registry before it starts the orchestration that changes it: one ETag-guarded write
// that stores the claim (and a PUT's spec) together, so a request that loses the race has stored
// nothing. A claim is live while its orchestration runs, and, when a request made it, for a grace
// period before that orchestration exists (the request starts it right after the write). A claim
// whose orchestration ended without releasing it (a crash, a terminate by hand), or whose request
// never started it within the grace period, is stale: the next claimant replaces exactly that claim,
// under the ETag it read, so two claimants can never both take over one stale claim.
import * as df from "durable-functions";
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import { StackNotFoundError, type OperationKind, type StackOperation } from "../shared/store";
import { placementChanges, type PlacementChange } from "../shared/spec/placement";
import type { StackSpec } from "../shared/spec/types";
import { appUserForNewNode } from "../shared/node/join";
import { services } from "./services";

export type ClaimKind = "deploy" | "teardown" | "reconcile" | "plan" | "upgrade";

/**
 * How long a claim a request wrote stays live while its orchestration does not exist yet. The
 * request starts the orchestration right after the write (milliseconds); it gives up instead of
 * starting it when half of this has passed (`assertStillMine`), so a claim is never taken over
 * while its request may still start the orchestration. Longer only delays taking over the claim of
 * a request that died in between.
 */
export const CLAIM_START_GRACE_MS = 120_000;

export type ClaimResult =
  | { ok: true; instanceId: string; generation: number; spec: StackSpec; dbUserSlot?: "a" | "b"; startedAt: string }
  | { ok: false; running: StackOperation };

/** A PUT would move a registered stack (another subscription, resource group or region). */
export class StackMoveError extends Error {
  readonly changes: PlacementChange[];
  constructor(stack: string, changes: PlacementChange[]) {
    super(`stack '${stack}' cannot move: ${changes.map((c) => `${c.field} '${c.from}' -> '${c.to}'`).join(", ")}`);
    this.name = "StackMoveError";
    this.changes = changes;
  }
}

/** The claimant's request took so long that its claim may have been taken over: it starts nothing. */
export class ClaimExpiredError extends Error {
  constructor(stack: string, instanceId: string) {
    super(`the claim of stack '${stack}' for ${instanceId} is older than the start grace period; nothing was started`);
    this.name = "ClaimExpiredError";
  }
}

const ATTEMPTS = 4;

export interface ClaimStackOptions {
  /** the desired spec, stored in the same write as the claim (PUT); creates the stack if needed */
  spec?: StackSpec;
  instanceIdFor: (generation: number) => string;
  /** the claim's startedAt, and the clock the grace period is judged by */
  now?: Date;
  /** a singleton instance id's finished run (its createdTime), which is not this claim's run */
  previousRun?: string;
}

/**
 * Claims the stack for an operation a request or timer is about to start. Throws
 * StackNotFoundError without a spec for a stack that is not registered, and StackMoveError when
 * the spec would move a registered stack. `{ok: false}` names the live operation that holds it.
 */
export async function claimStack(
  client: DurableClient,
  name: string,
  kind: Exclude<OperationKind, "heal" | "scale" | "rotate-certificate">,
  options: ClaimStackOptions,
): Promise<ClaimResult> {
  const { registry } = services();
  const { spec } = options;
  const now = options.now ?? new Date();
  const startedAt = now.toISOString();
  const moveOf = (stored: StackSpec) => (spec ? placementChanges(stored, spec) : []);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const record = await registry.get(name);
    if (!record && !spec) throw new StackNotFoundError(name);
    // a move is refused whoever holds the stack: waiting would not make it possible
    const moved = record ? moveOf(record.spec) : [];
    if (moved.length > 0) throw new StackMoveError(name, moved);
    let replacing: StackOperation | undefined;
    if (record?.operation) {
      if (await claimIsLive(client, record.operation, now)) return { ok: false, running: record.operation };
      replacing = record.operation;
    }
    const result = await registry.claim(
      name,
      (generation) => ({
        kind,
        instanceId: options.instanceIdFor(generation),
        startedAt,
        starting: true,
        ...(options.previousRun ? { previousRun: options.previousRun } : {}),
      }),
      {
        spec,
        replacing,
        refuse: (current) => {
          const changes = moveOf(current.spec);
          return changes.length > 0 ? changes : undefined;
        },
      },
    );
    if (result.ok) {
      const { stack } = result;
      return {
        ok: true,
        instanceId: stack.operation!.instanceId,
        generation: stack.generation,
        spec: stack.spec,
        startedAt,
        // the app user nodes must log in as: the rotation keeps it in the registry (Key Vault's copy)
        dbUserSlot: appUserForNewNode(stack.observed),
      };
    }
    if (result.reason === "not-found") throw new StackNotFoundError(name);
    if (result.reason === "refused") throw new StackMoveError(name, result.refusal);
    // another claimant wrote first: look at its claim (live, so 409) on the next round
  }
  throw new Error(`stack '${name}' kept changing while claiming it; try again`);
}

/**
 * Starts what a request claimed the stack for. When the request took so long that others may soon
 * judge its claim stale (half the grace period), or the start fails, the claim is released and
 * nothing is started: a claim never outlives the request that could not use it.
 */
export async function startClaimed(
  stack: string,
  claim: { instanceId: string; startedAt: string },
  start: () => Promise<unknown>,
  now: () => Date = () => new Date(),
): Promise<void> {
  try {
    if (now().getTime() - Date.parse(claim.startedAt) > CLAIM_START_GRACE_MS / 2) {
      throw new ClaimExpiredError(stack, claim.instanceId);
    }
    await start();
  } catch (e) {
    await releaseClaim(stack, claim.instanceId);
    throw e;
  }
}

/** Releases a claim a request made but could not start: it must not hold the stack for nothing. */
export async function releaseClaim(stack: string, instanceId: string): Promise<void> {
  try {
    await services().registry.setOperation(stack, null, { heldBy: instanceId });
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
}

/** The instance's status, or undefined when it does not exist or cannot be read (for display). */
export async function instanceStatus(
  client: DurableClient,
  instanceId: string,
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await lookUpInstance(client, instanceId);
  } catch {
    return undefined;
  }
}

/**
 * The instance's status, or undefined when the task hub has no such instance. Any other failure
 * is thrown: a claim must never be judged stale because the task hub could not be asked.
 */
async function lookUpInstance(
  client: DurableClient,
  instanceId: string,
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    const status = await client.getStatus(instanceId, { showInput: false });
    return status && status.instanceId ? status : undefined;
  } catch (e) {
    if (e instanceof Error && /replied with HTTP 404/.test(e.message)) return undefined;
    throw e;
  }
}

const TERMINAL = new Set<string>([
  df.OrchestrationRuntimeStatus.Completed,
  df.OrchestrationRuntimeStatus.Failed,
  df.OrchestrationRuntimeStatus.Terminated,
  "Canceled",
]);

export function isTerminal(runtimeStatus: string): boolean {
  return TERMINAL.has(runtimeStatus);
}

/** Whether the instance exists and has not finished (an unreadable task hub is an error, not "no"). */
export async function isInstanceRunning(client: DurableClient, instanceId: string): Promise<boolean> {
  const status = await lookUpInstance(client, instanceId);
  return !!status && !TERMINAL.has(status.runtimeStatus);
}

/**
 * Clears the stack's claim if it is stale (so an orchestration that claims the stack itself, like
 * the rotation, does not wait for a dead holder). Under the ETag it read: a claim written meanwhile
 * is left alone. True when it cleared one.
 */
export async function clearStaleClaim(client: DurableClient, name: string, now = new Date()): Promise<boolean> {
  const { registry } = services();
  const record = await registry.get(name);
  if (!record?.operation || (await claimIsLive(client, record.operation, now))) return false;
  const cleared = await registry.setOperation(name, null, { ifMatch: record.etag });
  return cleared.ok && !cleared.unchanged;
}

/**
 * Whether a claim still holds the stack: its orchestration is Pending or Running; or the claim is a
 * request's (`starting`), its orchestration has not run yet (no instance, or only the earlier run of
 * a singleton id), and the grace period has not passed. A claim whose orchestration ran and ended is
 * stale, and so is one whose request never started it in time.
 */
export async function claimIsLive(client: DurableClient, op: StackOperation, now = new Date()): Promise<boolean> {
  const status = await lookUpInstance(client, op.instanceId);
  if (status && !TERMINAL.has(status.runtimeStatus)) return true;
  if (!op.starting) return false;
  if (status && createdIso(status) !== op.previousRun) return false;
  return now.getTime() - Date.parse(op.startedAt) < CLAIM_START_GRACE_MS;
}

/** An instance's createdTime as an ISO string (the RPC client gives a Date, other clients a string). */
export function createdIso(status: DurableOrchestrationStatus): string {
  return new Date(status.createdTime).toISOString();
}

export type WorkerClaim = { ok: true } | { ok: false; running: StackOperation } | { ok: false; gone: true };

/** The operations that claim the stack from inside their orchestration. */
export type WorkerKind = Exclude<OperationKind, "deploy" | "teardown" | "reconcile">;

/**
 * Claims the stack for a worker orchestration (heal, scale, a rotation) from an activity; claiming
 * again with the same instance is harmless. Another live operation is reported, never overridden: the
 * worker waits for it. Stale claims of dead instances are cleared by PUT, DELETE or the hourly drift
 * check, which can ask the task hub; an activity cannot. `gone`: the stack is no longer registered.
 * A claim of this instance id with another startedAt (the one a request made for this run, or a dead
 * earlier run's) is rewritten as this run's, so whoever judged that one stale fails its write.
 */
export async function claimForWorker(
  stack: string,
  kind: WorkerKind,
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
