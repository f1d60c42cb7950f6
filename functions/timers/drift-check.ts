// Hourly drift check: every registered stack that nobody is changing gets a reconcile (plan, and
// apply again if Azure drifted from the spec). Stacks with a live operation are skipped this hour.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { InstanceIds, Names } from "../names";
import type { ReconcileInput } from "../orchestrators/reconcile-stack";
import { services } from "../services";
import { claimStack } from "../stack-claim";

export async function driftCheck(
  _timer: Timer,
  context: InvocationContext,
): Promise<{ started: string[]; skipped: string[] }> {
  const client = df.getClient(context);
  const s = services();
  const started: string[] = [];
  const skipped: string[] = [];
  const at = new Date().toISOString().replace(/[-:.]/g, "");
  for (const record of await s.registry.list()) {
    if (record.generation === 0 || !record.observed) {
      skipped.push(record.name);
      continue;
    }
    const claim = await claimStack(client, record.name, "reconcile", {
      instanceIdFor: () => InstanceIds.reconcile(record.name, at),
    });
    if (!claim.ok) {
      skipped.push(record.name);
      context.log(`drift check: ${record.name} skipped, ${claim.running.kind} ${claim.running.instanceId} is running`);
      continue;
    }
    const input: ReconcileInput = {
      spec: record.spec,
      generation: record.generation,
      nodeReadyTimeoutMinutes: s.nodeReadyTimeoutMinutes,
    };
    await client.startNew(Names.orchestrators.reconcileStack, { instanceId: claim.instanceId, input });
    started.push(record.name);
  }
  context.log(`drift check: ${started.length} reconcile(s) started, ${skipped.length} stack(s) skipped`);
  return { started, skipped };
}

app.timer(Names.timers.driftCheck, {
  // at minute 17 of every hour: off the top of the hour, when everyone else's timers fire
  schedule: "0 17 * * * *",
  extraInputs: [df.input.durableClient()],
  handler: driftCheck,
});
