// Waking a stack's heal or scale orchestration after the alert intake recorded new signals.
//
// Both are singletons per stack (InstanceIds.heal / InstanceIds.scale) that read their pending
// signals from the alert inbox themselves and mark them consumed (level-triggered). A wake-up only
// says "look now": a running instance gets the external event SIGNAL_EVENT (payload: the new signal
// ids), a missing or finished one is started with `{ stack }`. So losing a wake-up is harmless as
// long as an instance is running (it reads the inbox anyway), and getting two is harmless too (the
// second finds nothing pending). The one loss that matters, an instance that never starts, is what
// the alert route's duplicate path repairs (functions/http/alerts.ts).
//
// Check-then-start races with a concurrent request (the singleton pattern's known race): when
// startNew is refused because the other request started the instance first, the event is raised
// on that instance instead.
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import type { SignalIntent } from "../shared/alerts/signal";
import { InstanceIds, Names } from "./names";
import { instanceStatus } from "./stack-claim";
import { SIGNAL_EVENT } from "./workflow/events";

export { SIGNAL_EVENT };

/** Input of the heal and scale orchestrations: they read everything else from the inbox and registry. */
export interface StackWorkerInput {
  stack: string;
}

export type StackWorker = "heal" | "scale";

export function workerOf(intent: SignalIntent): StackWorker {
  return intent === "heal" ? "heal" : "scale";
}

/** The intents a worker handles (for AlertInbox.pending). */
export function intentsOf(worker: StackWorker): SignalIntent[] {
  return worker === "heal" ? ["heal"] : ["scale-out", "scale-in"];
}

export function workerInstance(stack: string, worker: StackWorker): { instanceId: string; orchestrator: string } {
  return worker === "heal"
    ? { instanceId: InstanceIds.heal(stack), orchestrator: Names.orchestrators.healStack }
    : { instanceId: InstanceIds.scale(stack), orchestrator: Names.orchestrators.scaleStack };
}

const TERMINAL = new Set<string>([
  df.OrchestrationRuntimeStatus.Completed,
  df.OrchestrationRuntimeStatus.Failed,
  df.OrchestrationRuntimeStatus.Terminated,
  "Canceled",
]);

/** Whether the worker's instance exists and has not finished (Pending, Running, Suspended, ...). */
export async function isWorkerLive(client: DurableClient, stack: string, worker: StackWorker): Promise<boolean> {
  const status = await instanceStatus(client, workerInstance(stack, worker).instanceId);
  return status !== undefined && !TERMINAL.has(status.runtimeStatus);
}

export type WakeOutcome = "started" | "signalled";

/**
 * Wakes the orchestration that handles `intent` for `stack`: raises SIGNAL_EVENT on a live instance,
 * or starts a new one. Throws when the task hub can't be reached (the caller answers 503).
 */
export async function wakeStackWorker(
  client: DurableClient,
  stack: string,
  intent: SignalIntent,
  signalIds: string[] = [],
): Promise<WakeOutcome> {
  const worker = workerOf(intent);
  const { instanceId, orchestrator } = workerInstance(stack, worker);
  if (await isWorkerLive(client, stack, worker)) {
    await client.raiseEvent(instanceId, SIGNAL_EVENT, signalIds);
    return "signalled";
  }
  const input: StackWorkerInput = { stack };
  try {
    await client.startNew(orchestrator, { instanceId, input });
    return "started";
  } catch (error) {
    // another request started it between our check and our start: tell that instance instead
    if (await isWorkerLive(client, stack, worker)) {
      await client.raiseEvent(instanceId, SIGNAL_EVENT, signalIds);
      return "signalled";
    }
    throw error;
  }
}
