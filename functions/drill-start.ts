// Starting a stack's restore drill (`drill-<stack>`): one at a time per stack. A drill is refused
// (never queued) while one runs, while another operation holds the stack (a deploy, a teardown or a
// credential rotation changes what the drill would read back), and before the stack was deployed.
// Check-then-start races with another caller: when the start fails because the other one started
// it first, that is a drill already running.
import type { DurableClient } from "durable-functions";
import type { StackRecord } from "../shared/store";
import type { StackObserved } from "../shared/stack-status";
import type { StackSpec } from "../shared/spec/types";
import { InstanceIds, Names } from "./names";
import type { RestoreDrillInput } from "./orchestrators/restore-drill";
import { claimIsLive, isInstanceRunning } from "./stack-claim";

export type RestoreDrillStart =
  | { started: true; instanceId: string }
  | { started: false; why: "running"; instanceId: string }
  | { started: false; why: "not-deployed" | "busy"; holder?: string };

export async function startRestoreDrill(
  client: DurableClient,
  record: StackRecord<StackSpec, StackObserved>,
  trigger: RestoreDrillInput["trigger"],
  now = new Date(),
): Promise<RestoreDrillStart> {
  const stack = record.name;
  if (!record.observed || record.observedGeneration === 0) return { started: false, why: "not-deployed" };
  const instanceId = InstanceIds.drill(stack);
  if (await isInstanceRunning(client, instanceId)) return { started: false, why: "running", instanceId };
  if (record.operation && (await claimIsLive(client, record.operation, now)))
    return { started: false, why: "busy", holder: record.operation.instanceId };
  try {
    await client.startNew(Names.orchestrators.restoreDrill, {
      instanceId,
      input: { stack, trigger } satisfies RestoreDrillInput,
    });
    return { started: true, instanceId };
  } catch (error) {
    if (await isInstanceRunning(client, instanceId)) return { started: false, why: "running", instanceId };
    throw error;
  }
}
