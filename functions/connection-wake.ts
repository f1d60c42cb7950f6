// Starting a stack's connection sync (`connections-<stack>`): one at a time per stack. A running
// one is the answer to a second request (its result covers the inventory as it reads it); a stack
// another operation holds (a deploy runs its own sync at its end, a teardown removes the nodes) is
// left to it. Check-then-start races with another caller: when the start is refused because the
// other one started it first, that instance is the answer.
import type { DurableClient } from "durable-functions";
import type { StackRecord } from "../shared/store";
import type { StackObserved } from "../shared/stack-status";
import type { StackSpec } from "../shared/spec/types";
import { InstanceIds, Names } from "./names";
import type { ConnectionSyncInput } from "./orchestrators/connection-sync";
import { claimIsLive, isInstanceRunning } from "./stack-claim";

export type ConnectionSyncStart =
  | { started: true; instanceId: string }
  | { started: false; instanceId: string; why: "running" }
  | { started: false; why: "no-connections" | "not-deployed" | "busy"; holder?: string };

export async function startConnectionSync(
  client: DurableClient,
  record: StackRecord<StackSpec, StackObserved>,
  input: Omit<ConnectionSyncInput, "stack">,
  now = new Date(),
): Promise<ConnectionSyncStart> {
  const stack = record.name;
  if (!record.spec.connections) return { started: false, why: "no-connections" };
  if (!record.observed || record.observedGeneration === 0) return { started: false, why: "not-deployed" };
  if (record.operation && (await claimIsLive(client, record.operation, now)))
    return { started: false, why: "busy", holder: record.operation.instanceId };
  const instanceId = InstanceIds.connections(stack);
  if (await isInstanceRunning(client, instanceId)) return { started: false, instanceId, why: "running" };
  try {
    await client.startNew(Names.orchestrators.syncConnections, { instanceId, input: { stack, ...input } });
    return { started: true, instanceId };
  } catch (error) {
    if (await isInstanceRunning(client, instanceId)) return { started: false, instanceId, why: "running" };
    throw error;
  }
}
