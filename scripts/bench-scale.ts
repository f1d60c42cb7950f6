// `npm run bench -- --scale`: a thousand stacks on one Function App (issue "A thousand stacks").
// Deploys STACKS stacks on the emulator and Azurite (one subscription, a resource group each, stand-in
// node agents), then prints per stack:
//   - ARM and Resource Graph requests of the drift check: a screening run over unchanged stacks (and
//     its writes: bar 0), the full check that reads every resource through ARM, and the average per
//     stack-hour (screening every hour, the full check every JUMPGATE_DRIFT_FULL_CHECK_HOURS): bar <= 2;
//   - an out-of-band change found and repaired by the next run, and one made less than Resource
//     Graph's lag ago confirmed through ARM;
//   - Table operations and time per alert (POST /api/alerts's handler with the real DurableClient),
//     with 1 stack registered and with the registry cloned to CLONED stacks: bar <= 3 operations and
//     the same time;
//   - GET /api/stacks latency per page (100 stacks a page) over the cloned registry;
//   - the share of the subscription's hourly ARM read budget (25 reads/s: 90,000 an hour) that
//     CLONED stacks' timer work would take, projected from the measured figures: bar <= 10 %.
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import { performance } from "node:perf_hooks";
import { HttpRequest } from "@azure/functions";
import * as df from "durable-functions";
import { durableClientContextFor, fromRegistry, startDurableRpcServer } from "../emulator/durable";
import { startJumpgateEnv, type JumpgateEnv } from "../dev/jumpgate-env";
import { Names } from "../functions/names";
import type { DeployInput } from "../functions/orchestrators/deploy-stack";
import { postAlert } from "../functions/http/alerts";
import { listStacks } from "../functions/http/stacks";
import { runDriftCheck } from "../functions/timers/drift-check";
import { DRIFT_SLOTS } from "../shared/drift/schedule";
import { AZURE_ARM_LIMITS } from "../shared/azure/arm-budget";
import { stackNames } from "../shared/graph/names";
import { validateStackSpec } from "../shared/spec/validate";
import type { StackSpec } from "../shared/spec/types";
import { probeAlert } from "../dev/alert-payloads";
import { standInAgentRoot } from "../dev/stand-in-agent";

const SUB = "00000000-0000-0000-0000-000000005ca1";
const STACKS = Number(process.env.BENCH_STACKS ?? 100);
const CLONED = 1000;
const ALERTS = 20;
const FULL_CHECK_HOURS = 24;

function specOf(i: number): StackSpec {
  const r = validateStackSpec({
    name: `s${String(i).padStart(4, "0")}`,
    subscriptionId: SUB,
    resourceGroup: `rg-s${String(i).padStart(4, "0")}`,
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 1, min: 1, max: 2 },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchScale(): Promise<void> {
  const root = standInAgentRoot("jumpgate-bench-scale-");
  const env: JumpgateEnv = await startJumpgateEnv({
    emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: root } }, pageSize: 1000 },
    gates: true,
    drift: { resourceGraphLagMs: 0, fullCheckHours: FULL_CHECK_HOURS },
  });
  const rpc = await startDurableRpcServer(env.host);
  const say = (line: string) => console.log(line);
  try {
    const specs = Array.from({ length: STACKS }, (_, i) => specOf(i + 1));
    const deploy = async (spec: StackSpec) => {
      await env.registry.putDesired(spec.name, spec);
      const input: DeployInput = { spec, generation: 1, nodeReadyTimeoutMinutes: 30 };
      const status = await env.host.run(Names.orchestrators.deployStack, input, { instanceId: `deploy-${spec.name}` });
      if (status.runtimeStatus !== "Completed")
        throw new Error(`deploy of ${spec.name}: ${JSON.stringify(status.output)}`);
    };

    // --- alerts with one stack registered
    await deploy(specs[0]);
    const alertAt1 = await measureAlerts(env, rpc.clientData(), specs[0]);

    // --- the other stacks, ten deploys at a time on the durable host
    const started = performance.now();
    for (let i = 1; i < specs.length; i += 10) {
      const batch = specs.slice(i, i + 10);
      for (const spec of batch) {
        await env.registry.putDesired(spec.name, spec);
        const input: DeployInput = { spec, generation: 1, nodeReadyTimeoutMinutes: 30 };
        env.host.startNew(Names.orchestrators.deployStack, { instanceId: `deploy-${spec.name}`, input });
      }
      await env.host.runUntilIdle();
      for (const spec of batch) {
        const status = env.host.getStatus(`deploy-${spec.name}`);
        if (status?.runtimeStatus !== "Completed")
          throw new Error(`deploy of ${spec.name}: ${JSON.stringify(status?.output)}`);
      }
    }
    say(`scale bench: ${STACKS} stacks deployed in ${((performance.now() - started) / 1000).toFixed(0)} s`);

    const client = df.getClient(
      durableClientContextFor(fromRegistry().timers[Names.timers.driftCheck], rpc.clientData()),
    );
    const armRequests = () =>
      env.emulator.journal.list().filter((e) => e.operation !== "secret" && e.operation !== "resource-graph");
    const graphRequests = () => env.emulator.journal.list({ operation: "resource-graph" });
    const drift = async (fullCheck: boolean) => {
      env.emulator.journal.clear();
      const result = await runDriftCheck(client, new Date(), { allSlots: true, fullCheck });
      await env.host.runUntilIdle();
      return {
        result,
        arm: armRequests().length,
        armReads: armRequests().filter((e) => e.method === "GET").length,
        graph: graphRequests().length,
        writes: env.emulator.journal.writes().length,
      };
    };
    await env.registry.backfillRoutes(await env.registry.list());

    // --- drift over unchanged stacks: screening, then the full check
    const screening = await drift(false);
    const full = await drift(true);
    const perStackHour =
      (screening.arm + screening.graph) / STACKS + (full.arm + full.graph) / STACKS / FULL_CHECK_HOURS;
    say(
      `drift, ${STACKS} unchanged stacks: screening ${screening.graph} Resource Graph + ${screening.arm} ARM request(s) (${((screening.arm + screening.graph) / STACKS).toFixed(3)} per stack), ${screening.result.started.length} reconcile(s), ${screening.writes} write(s)`,
    );
    say(
      `drift, full check: ${full.arm} ARM request(s) (${(full.armReads / STACKS).toFixed(1)} reads per stack), ${full.writes} write(s)`,
    );
    say(
      `drift, average per stack-hour (screening hourly, full check every ${FULL_CHECK_HOURS} h): ${perStackHour.toFixed(2)} ARM/Resource Graph requests (bar <= 2; before: 27)`,
    );

    // --- an out-of-band change, and one within Resource Graph's lag
    const target = specs[1];
    const names = stackNames(target);
    const nsgRule = (name: string, port: string, priority: number) =>
      env.services.factory.network(SUB).securityRules.beginCreateOrUpdateAndWait(
        target.resourceGroup,
        names.webNsg,
        name,
        {
          protocol: "Tcp",
          sourceAddressPrefix: "*",
          sourcePortRange: "*",
          destinationAddressPrefix: "*",
          destinationPortRange: port,
          access: "Allow",
          priority,
          direction: "Inbound",
        },
        env.services.factory.lro(),
      );
    await nsgRule("ssh-from-anywhere", "22", 150);
    const found = await drift(false);
    const repaired = !(
      await env.services.factory.network(SUB).networkSecurityGroups.get(target.resourceGroup, names.webNsg)
    ).securityRules?.some((r) => r.name === "ssh-from-anywhere");
    say(
      `drift, an SSH rule added out of band: ${found.result.started.join(", ") || "nothing"} confirmed through ARM, ${repaired ? "repaired" : "NOT repaired"} (${found.arm} ARM request(s), ${found.writes} write(s))`,
    );
    env.emulator.resourceGraph.lagMs = 3_600_000;
    env.services.drift.resourceGraphLagMs = 3_600_000;
    await nsgRule("rdp-from-anywhere", "3389", 160);
    const lagged = await drift(false);
    const closed = !(
      await env.services.factory.network(SUB).networkSecurityGroups.get(target.resourceGroup, names.webNsg)
    ).securityRules?.some((r) => r.name === "rdp-from-anywhere");
    env.emulator.resourceGraph.lagMs = 0;
    env.services.drift.resourceGraphLagMs = 0;
    say(
      `drift, a change Resource Graph does not show yet (lag 1 h): ${lagged.result.started.includes(target.name) ? "confirmed through ARM" : "MISSED"}, ${closed ? "repaired" : "NOT repaired"}`,
    );

    // --- the registry cloned to CLONED stacks (specs only) for the read paths
    for (let i = STACKS + 1; i <= CLONED; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, CLONED - i + 1) }, (_, k) => specOf(i + k)).map((s) =>
          env.registry.putDesired(s.name, s),
        ),
      );
    }
    const alertAtN = await measureAlerts(env, rpc.clientData(), specs[0]);
    say(
      `alert intake, 1 stack registered: ${alertAt1.tableOps} Table operation(s) per alert, ${alertAt1.ms.toFixed(1)} ms (median of ${ALERTS})`,
    );
    say(
      `alert intake, ${CLONED} stacks registered: ${alertAtN.tableOps} Table operation(s) per alert, ${alertAtN.ms.toFixed(1)} ms (median of ${ALERTS}) (bar <= 3, same time)`,
    );

    // --- GET /api/stacks page by page
    const pageTimes: number[] = [];
    let token: string | undefined;
    let listed = 0;
    do {
      const url = `http://127.0.0.1/api/stacks?pageSize=100${token ? `&continuationToken=${token}` : ""}`;
      const t0 = performance.now();
      const res = await listStacks(new HttpRequest({ method: "GET", url }));
      pageTimes.push(performance.now() - t0);
      const body = res.jsonBody as { value: unknown[]; continuationToken?: string };
      listed += body.value.length;
      token = body.continuationToken;
    } while (token);
    say(
      `GET /api/stacks over ${listed} stacks: ${pageTimes.length} pages of 100, ${median(pageTimes).toFixed(1)} ms per page (median), ${Math.max(...pageTimes).toFixed(1)} ms the slowest`,
    );

    // --- CLONED stacks projected: the hourly ARM reads of timer work
    let tagged = 0;
    for await (const page of env.services.factory.resources(SUB).resources.list().byPage()) tagged += page.length;
    const resourcesPerStack = tagged / STACKS;
    const listPagesPerRun = Math.ceil((CLONED * resourcesPerStack) / 1000);
    const screeningReads = DRIFT_SLOTS * listPagesPerRun;
    const fullReads = (CLONED / FULL_CHECK_HOURS) * (full.armReads / STACKS);
    const hourlyBudget = AZURE_ARM_LIMITS.reads.perSecond * 3600;
    const share = (100 * (screeningReads + fullReads)) / hourlyBudget;
    say(
      `${CLONED} stacks projected: ${screeningReads} ARM reads an hour for screening (${DRIFT_SLOTS} runs x ${listPagesPerRun} list pages) + ${fullReads.toFixed(0)} for full checks = ${(screeningReads + fullReads).toFixed(0)} of the subscription's ${hourlyBudget} reads an hour: ${share.toFixed(1)} % (bar <= 10 %); Resource Graph: ${DRIFT_SLOTS * Math.ceil(((CLONED / DRIFT_SLOTS) * resourcesPerStack) / 1000)} queries an hour`,
    );
  } finally {
    await rpc.close();
    await env.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Posts ALERTS fresh probe alerts for one stack straight to the intake's handler; Table operations and time of each. */
async function measureAlerts(
  env: JumpgateEnv,
  clientData: Parameters<typeof durableClientContextFor>[1],
  spec: StackSpec,
): Promise<{ tableOps: number; ms: number }> {
  const registration = fromRegistry().http[Names.http.postAlert];
  const ops: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < ALERTS + 2; i++) {
    const body = JSON.stringify(probeAlert(spec, "10.40.1.4", { alertGuid: randomUUID() }));
    const context = durableClientContextFor(registration, clientData);
    const request = new HttpRequest({
      method: "POST",
      url: "http://127.0.0.1/api/alerts",
      body: { string: body },
      headers: { "content-type": "application/json" },
    });
    const before = env.gates!.tables.exchanges.length;
    const t0 = performance.now();
    const res = await postAlert(request, context);
    const elapsed = performance.now() - t0;
    if (res.status !== 202) throw new Error(`alert intake answered ${res.status}`);
    if (i < 2) continue; // warm-up: table creation, connections
    ops.push(env.gates!.tables.exchanges.length - before);
    times.push(elapsed);
  }
  await env.host.runUntilIdle();
  return { tableOps: Math.max(...ops), ms: median(times) };
}
