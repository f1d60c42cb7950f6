// Drift check, every five minutes for the stacks of that slot (each stack once an hour, spread by a
// hash of its name: shared/drift/schedule.ts). It screens the slot's deployed stacks through Azure
// Resource Graph, one paged query per subscription plus ARM's list of change times
// (shared/drift/screen.ts), and starts a reconcile only for a stack with suspects, which it confirms
// through ARM and repairs, or whose full check is due (every resource through ARM, every
// JUMPGATE_DRIFT_FULL_CHECK_HOURS). An unchanged stack costs its share of those pages and no write.
// Its ARM requests are background work: they wait for budget behind heal and deploy. Stacks with a
// live operation are skipped this hour. When Resource Graph can't be read, the slot's stacks get a
// full check instead: drift is never left unlooked-for.
// It also sweeps the alert inbox: a signal still pending while its heal or scale worker is not
// running lost its wake-up (e.g. raised just as the worker completed), so the worker is started.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { intentsOf, isWorkerLive, wakeStackWorker, type StackWorker } from "../alert-wake";
import { InstanceIds, Names } from "../names";
import type { ReconcileInput } from "../orchestrators/reconcile-stack";
import { SECRET_NAMES } from "../../shared/secret-names";
import { asBackgroundWork } from "../../shared/azure/arm-budget";
import { driftSlotAt, driftSlotOf, fullCheckDue } from "../../shared/drift/schedule";
import { screenSubscription, type ScreenedStack, type StackToScreen } from "../../shared/drift/screen";
import { effectiveFleet } from "../../shared/scale/fleet";
import type { StackSpec } from "../../shared/spec/types";
import type { StackObserved } from "../../shared/stack-status";
import { services } from "../services";
import { StackNotFoundError, type StackRecord } from "../../shared/store";
import { claimStack, clearStaleClaim, startClaimed } from "../stack-claim";
import { recordedBootImage } from "../../shared/node/image-status";
import { stackGraphOf } from "../stack-graph";

export interface DriftCheckResult {
  /** reconciles started (a suspect to confirm, or the full check due) */
  started: string[];
  /** stacks with a live operation, or not deployed yet */
  skipped: string[];
  /** screened and in sync: no reconcile, no ARM read beyond the screening */
  inSync: string[];
  /** in sync, and the claim a dead operation left on them was released (heal and scale wait on it) */
  released: string[];
  woken: string[];
  /** requests the screening made */
  requests: { resourceGraph: number; arm: number };
}

export interface DriftCheckOptions {
  /** screen every stack, not only the slot's (tests, the bench) */
  allSlots?: boolean;
  /** whether the full check is due, instead of the schedule's answer for `now` (tests, the bench) */
  fullCheck?: boolean;
  log?: (line: string) => void;
}

export async function driftCheck(_timer: Timer, context: InvocationContext): Promise<DriftCheckResult> {
  return runDriftCheck(df.getClient(context), new Date(), { log: (line) => context.log(line) });
}

export async function runDriftCheck(
  client: df.DurableClient,
  now: Date,
  options: DriftCheckOptions = {},
): Promise<DriftCheckResult> {
  const s = services();
  const log = options.log ?? (() => undefined);
  const slot = driftSlotAt(now);
  const at = now.toISOString().replace(/[-:.]/g, "");
  const all = await s.registry.list();
  // stacks registered before the alert routing index existed get their rows, once
  if (!(await s.registry.routesComplete())) {
    const { written, removed } = await s.registry.backfillRoutes(all);
    log(`drift check: alert routing index backfilled (${written} row(s) written, ${removed} removed)`);
  }
  const records = all.filter((r) => options.allSlots || driftSlotOf(r.name) === slot);
  const woken = await sweepInbox(
    client,
    records.map((r) => r.name),
    log,
  );
  const result: DriftCheckResult = {
    started: [],
    skipped: [],
    inSync: [],
    released: [],
    woken,
    requests: { resourceGraph: 0, arm: 0 },
  };
  const deployed = records.filter((r) => {
    const ready = r.generation > 0 && !!r.observed;
    if (!ready) result.skipped.push(r.name);
    return ready;
  });
  const screened = await screen(deployed, now, result, log, options.fullCheck);
  for (const record of deployed) {
    const verdict = screened.get(record.name)!;
    if (!verdict.full && verdict.suspects.length === 0) {
      result.inSync.push(record.name);
      // no reconcile will take a dead operation's claim over: release it here, or heal and scale
      // would wait on it until the stack's next full check (under the ETag read: a new claim stays)
      if (record.operation && (await releaseStaleClaim(client, record.name, now, log)))
        result.released.push(record.name);
      continue;
    }
    if (verdict.suspects.length > 0) {
      const shown = verdict.suspects.slice(0, 5).map((x) => `${x.key} (${x.why})`);
      log(
        `drift check: ${record.name}: ${verdict.suspects.length} resource(s) to confirm through ARM: ${shown.join("; ")}${verdict.suspects.length > 5 ? "; ..." : ""}`,
      );
    }
    if (await startReconcile(client, record, verdict, now, at, log)) result.started.push(record.name);
    else result.skipped.push(record.name);
  }
  log(
    `drift check (slot ${slot}): ${deployed.length} stack(s) screened with ${result.requests.resourceGraph} Resource Graph and ${result.requests.arm} ARM request(s), ${result.inSync.length} in sync, ${result.started.length} reconcile(s) started, ${result.skipped.length} skipped, ${woken.length} worker(s) woken`,
  );
  return result;
}

/** Screens the stacks per subscription; a subscription whose screening fails gets full checks. */
async function screen(
  records: StackRecord<StackSpec, StackObserved>[],
  now: Date,
  result: DriftCheckResult,
  log: (line: string) => void,
  fullCheck: boolean | undefined,
): Promise<Map<string, ScreenedStack>> {
  const s = services();
  const bySubscription = new Map<string, StackRecord<StackSpec, StackObserved>[]>();
  for (const r of records) {
    const key = r.spec.subscriptionId.toLowerCase();
    bySubscription.set(key, [...(bySubscription.get(key) ?? []), r]);
  }
  const verdicts = new Map<string, ScreenedStack>();
  for (const [subscription, group] of bySubscription) {
    try {
      const inputs: StackToScreen[] = [];
      for (const r of group) {
        const members = effectiveFleet(r.spec, await s.fleet.get(r.name));
        const tlsBundle = !!(await s.certificates.get(r.name)).current;
        inputs.push({
          stack: r.name,
          // the node image a deploy or build last resolved (no gallery listing from the timer)
          graph: stackGraphOf(r.spec, members, tlsBundle, recordedBootImage(r.spec, r.observed?.nodeImage)),
          fullCheckDue: fullCheck ?? fullCheckDue(r.name, now, s.drift.fullCheckHours),
        });
      }
      const screened = await asBackgroundWork(() =>
        screenSubscription(s.factory, subscription, inputs, { lagMs: s.drift.resourceGraphLagMs, now }),
      );
      result.requests.resourceGraph += screened.requests.resourceGraph;
      result.requests.arm += screened.requests.arm;
      for (const v of screened.stacks) verdicts.set(v.stack, v);
    } catch (error) {
      const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
      log(
        `drift check: could not screen subscription ${subscription} through Resource Graph (${message}); its stacks get a full check`,
      );
      for (const r of group) verdicts.set(r.name, { stack: r.name, suspects: [], full: true });
    }
  }
  return verdicts;
}

async function releaseStaleClaim(
  client: df.DurableClient,
  stack: string,
  now: Date,
  log: (line: string) => void,
): Promise<boolean> {
  try {
    const released = await clearStaleClaim(client, stack, now);
    if (released) log(`drift check: ${stack}: released the claim of an operation that is no longer running`);
    return released;
  } catch (error) {
    // one stack's claim must not stop the drift check of the others
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    log(`drift check: could not look at the claim of ${stack}: ${message}`);
    return false;
  }
}

/** Claims the stack and starts its reconcile; false when another operation holds it. */
async function startReconcile(
  client: df.DurableClient,
  record: StackRecord<StackSpec, StackObserved>,
  verdict: ScreenedStack,
  now: Date,
  at: string,
  log: (line: string) => void,
): Promise<boolean> {
  const s = services();
  const current = (await s.certificates.get(record.name)).current;
  let claim;
  try {
    claim = await claimStack(client, record.name, "reconcile", {
      instanceIdFor: () => InstanceIds.reconcile(record.name, at),
    });
  } catch (e) {
    // torn down since the list was read
    if (e instanceof StackNotFoundError) return false;
    throw e;
  }
  if (!claim.ok) {
    log(`drift check: ${record.name} skipped, ${claim.running.kind} ${claim.running.instanceId} is running`);
    return false;
  }
  // the spec and generation the claim was written over: a PUT accepted since the list was read wins
  const input: ReconcileInput = {
    spec: claim.spec,
    generation: claim.generation,
    nodeReadyTimeoutMinutes: s.nodeReadyTimeoutMinutes,
    dbUserSlot: claim.dbUserSlot,
    ...(current ? { certificate: { secret: SECRET_NAMES.tlsBundle, serial: current.serial } } : {}),
    screening: { at: now.toISOString(), full: verdict.full, suspects: verdict.suspects.slice(0, 100) },
    access: true,
  };
  const claimed = claim;
  await startClaimed(record.name, claimed, () =>
    client.startNew(Names.orchestrators.reconcileStack, { instanceId: claimed.instanceId, input }),
  );
  return true;
}

/** Starts the heal or scale worker of every stack whose signals wait with no worker running. */
async function sweepInbox(client: df.DurableClient, stacks: string[], log: (line: string) => void): Promise<string[]> {
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
        log(`drift check: ${pending.length} ${worker} signal(s) of ${stack} waited with no worker; started it`);
      } catch (error) {
        // one stack's sweep must not stop the drift check of the others
        const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
        log(`drift check: could not sweep ${worker} signals of ${stack}: ${message}`);
      }
    }
  }
  return woken;
}

app.timer(Names.timers.driftCheck, {
  // every five minutes, off the five-minute marks everyone else's timers use; each run screens one
  // slot of stacks (shared/drift/schedule.ts), so every stack is screened once an hour
  schedule: "0 2-59/5 * * * *",
  extraInputs: [df.input.durableClient()],
  handler: driftCheck,
});
