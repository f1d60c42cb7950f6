// Hourly drift check: every registered stack that nobody is changing gets a reconcile (plan, and
// apply again if Azure drifted from the spec). Stacks with a live operation are skipped this hour.
// It also sweeps the alert inbox: a signal still pending while its heal or scale worker is not
// running lost its wake-up (e.g. raised just as the worker completed), so the worker is started.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { intentsOf, isWorkerLive, wakeStackWorker, type StackWorker } from "../alert-wake";
import { InstanceIds, Names } from "../names";
import type { ReconcileInput } from "../orchestrators/reconcile-stack";
import { SECRET_NAMES } from "../../shared/secret-names";
import { services } from "../services";
import { StackNotFoundError } from "../../shared/store";
import { claimStack, startClaimed } from "../stack-claim";

export async function driftCheck(
  _timer: Timer,
  context: InvocationContext,
): Promise<{ started: string[]; skipped: string[]; woken: string[] }> {
  const client = df.getClient(context);
  const s = services();
  const started: string[] = [];
  const skipped: string[] = [];
  const at = new Date().toISOString().replace(/[-:.]/g, "");
  const records = await s.registry.list();
  const woken = await sweepInbox(
    client,
    records.map((r) => r.name),
    context,
  );
  for (const record of records) {
    if (record.generation === 0 || !record.observed) {
      skipped.push(record.name);
      continue;
    }
    const current = (await s.certificates.get(record.name)).current;
    let claim;
    try {
      claim = await claimStack(client, record.name, "reconcile", {
        instanceIdFor: () => InstanceIds.reconcile(record.name, at),
      });
    } catch (e) {
      // torn down since the list was read
      if (e instanceof StackNotFoundError) continue;
      throw e;
    }
    if (!claim.ok) {
      skipped.push(record.name);
      context.log(`drift check: ${record.name} skipped, ${claim.running.kind} ${claim.running.instanceId} is running`);
      continue;
    }
    // the spec and generation the claim was written over: a PUT accepted since the list was read wins
    const input: ReconcileInput = {
      spec: claim.spec,
      generation: claim.generation,
      nodeReadyTimeoutMinutes: s.nodeReadyTimeoutMinutes,
      dbUserSlot: claim.dbUserSlot,
      ...(current ? { certificate: { secret: SECRET_NAMES.tlsBundle, serial: current.serial } } : {}),
      access: true,
    };
    const claimed = claim;
    await startClaimed(record.name, claimed, () =>
      client.startNew(Names.orchestrators.reconcileStack, { instanceId: claimed.instanceId, input }),
    );
    started.push(record.name);
  }
  context.log(
    `drift check: ${started.length} reconcile(s) started, ${skipped.length} stack(s) skipped, ${woken.length} worker(s) woken`,
  );
  return { started, skipped, woken };
}

/** Starts the heal or scale worker of every stack whose signals wait with no worker running. */
async function sweepInbox(client: df.DurableClient, stacks: string[], context: InvocationContext): Promise<string[]> {
  const { inbox } = services();
  const woken: string[] = [];
  for (const stack of stacks) {
    for (const worker of ["heal", "scale"] as StackWorker[]) {
      try {
        const pending = await inbox.pending(stack, { intents: intentsOf(worker) });
        if (pending.length === 0 || (await isWorkerLive(client, stack, worker))) continue;
        await wakeStackWorker(
          client,
          stack,
          pending[0].intent,
          pending.map((p) => p.id),
        );
        woken.push(`${worker}-${stack}`);
        context.log(`drift check: ${pending.length} ${worker} signal(s) of ${stack} waited with no worker; started it`);
      } catch (error) {
        // one stack's sweep must not stop the drift check of the others
        const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
        context.warn(`drift check: could not sweep ${worker} signals of ${stack}: ${message}`);
      }
    }
  }
  return woken;
}

app.timer(Names.timers.driftCheck, {
  // at minute 17 of every hour: off the top of the hour, when everyone else's timers fire
  schedule: "0 17 * * * *",
  extraInputs: [df.input.durableClient()],
  handler: driftCheck,
});
