// POST /api/alerts through the real HTTP routes: malformed and unknown alerts start nothing, 100
// concurrent deliveries of one alert leave one signal and one woken heal worker, a Resolved is a
// new signal that reaches the running worker as an event, an alert naming a managed and an
// unmanaged VM signals the managed one only, and a duplicate restarts a worker only for a signal
// whose wake-up was evidently lost. The heal and scale orchestrators are test stand-ins (the real
// ones live elsewhere) that count their wake-ups; stacks are registered directly, no deploy needed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as df from "durable-functions";
import { orchestratorHandler } from "../../emulator/durable";
import { SIGNAL_EVENT } from "../../functions/alert-wake";
import { InstanceIds, Names } from "../../functions/names";
import { matchAlert } from "../../shared/alerts/match";
import { parseAlert } from "../../shared/alerts/parse";
import { validateStackSpec } from "../../shared/spec";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

const SUB = "00000000-0000-0000-0000-00000000a1e7";
const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "alerts");
type Json = Record<string, unknown>;

/** A fixture re-targeted at this test's subscription and resource groups. */
function alert(name: string, replace: Record<string, string> = {}): Json {
  let text = fs
    .readFileSync(path.join(FIXTURES, `${name}.json`), "utf8")
    .replaceAll("7c0a1e2b-3d4f-4a5b-8c6d-9e0f1a2b3c4d", SUB);
  for (const [from, to] of Object.entries(replace)) text = text.replaceAll(from, to);
  return JSON.parse(text) as Json;
}

const essentials = (payload: Json) => (payload.data as Json).essentials as Json;
const vmId = (rg: string, name: string) =>
  `/subscriptions/${SUB}/resourcegroups/${rg}/providers/microsoft.compute/virtualmachines/${name}`;

function spec(name: string, resourceGroup: string, mode: "availabilitySet" | "scaleSet"): StackSpec {
  const result = validateStackSpec({
    name,
    subscriptionId: SUB,
    resourceGroup,
    location: "westeurope",
    fleet: { mode },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.spec;
}

/** Stand-in heal/scale worker: runs until stopped, counting each wake-up event in its custom status. */
const countingWorker = orchestratorHandler(function* (context: df.OrchestrationContext) {
  const input = context.df.getInput<{ stack: string }>();
  const events: unknown[] = [];
  context.df.setCustomStatus({ stack: input.stack, events });
  for (;;) {
    const data: unknown = yield context.df.waitForExternalEvent(SIGNAL_EVENT);
    events.push(data);
    context.df.setCustomStatus({ stack: input.stack, events });
  }
});

interface Answer {
  status: number;
  contentType: string | null;
  json: Json;
}

describe("alert intake end to end", () => {
  let env: JumpgateEnv;
  /** what the routes logged */
  const logs: string[] = [];

  async function post(body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(`${env.api}/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, contentType: res.headers.get("content-type"), json: JSON.parse(text) as Json };
  }

  const signalsOf = (a: Answer) => a.json.signals as Json[];
  const events = (instanceId: string) => (env.host.getStatus(instanceId)?.customStatus as { events: unknown[] }).events;

  before(async () => {
    env = await startJumpgateEnv({ http: true, realTime: { timeScale: 50 }, log: (line) => logs.push(line) });
    env.host.setOrchestrator(Names.orchestrators.healStack, countingWorker);
    env.host.setOrchestrator(Names.orchestrators.scaleStack, countingWorker);
    await env.registry.putDesired("web1", spec("web1", "rg-jump", "availabilitySet"));
    await env.registry.putDesired("fleet", spec("fleet", "rg-fleet", "scaleSet"));
    await env.registry.putDesired("wide", spec("wide", "rg-wide", "availabilitySet"));
  });

  after(async () => {
    await env?.stop();
  });

  test("malformed bodies get 400, 413 or 415 problems and start and store nothing", async () => {
    const valid = alert("metric-lb-dip-fired");
    const wrongSchema = { ...valid, schemaId: "Microsoft.Insights/activityLogs" };
    const noEssentials = { schemaId: "azureMonitorCommonAlertSchema", data: { alertContext: {} } };
    const cases: [string, unknown, Record<string, string>, number][] = [
      ["not JSON", "{not json", {}, 400],
      ["empty", "", {}, 400],
      ["text/plain", JSON.stringify(valid), { "content-type": "text/plain" }, 415],
      ["over 256 KiB", JSON.stringify({ ...valid, pad: "x".repeat(300 * 1024) }), {}, 413],
      ["wrong schemaId", wrongSchema, {}, 400],
      ["no essentials", noEssentials, {}, 400],
      [
        "__proto__",
        JSON.stringify(valid).replace('"customProperties":null', '"customProperties":{"__proto__":{}}'),
        {},
        400,
      ],
      ["deep nesting", `{"schemaId":${"[".repeat(200)}${"]".repeat(200)}}`, {}, 400],
    ];
    for (const [what, body, headers, status] of cases) {
      const res = await post(body, headers);
      assert.equal(res.status, status, `${what}: ${JSON.stringify(res.json)}`);
      assert.equal(res.contentType, "application/problem+json", what);
      assert.equal(res.json.status, status, what);
    }
    const schema = await post(wrongSchema);
    assert.equal(schema.json.type, "https://jumpgate.dev/problems/invalid-alert");
    assert.deepEqual(schema.json.errors, [
      { pointer: "/schemaId", detail: 'schemaId must be "azureMonitorCommonAlertSchema"' },
    ]);
    assert.deepEqual(
      (((await post(noEssentials)).json.errors as Json[]) ?? []).map((e) => e.pointer),
      ["/data/essentials"],
    );

    assert.equal(env.host.listInstances().length, 0);
    assert.deepEqual(await env.inbox.recent("web1"), []);
    assert.deepEqual(await env.inbox.ignored(), []);
  });

  test("an alert about a resource no stack manages is acknowledged, recorded as ignored, and starts nothing", async () => {
    const payload = alert("resource-health-vm");
    essentials(payload).alertTargetIDs = [vmId("rg-payroll", "payroll-db-1")];
    const res = await post(payload);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.equal(res.json.received, true);
    assert.deepEqual(res.json.signals, []);
    assert.match(String(res.json.ignored), /no registered stack is in resource group 'rg-payroll'/);

    const ignored = await env.inbox.ignored();
    assert.equal(ignored.length, 1);
    assert.equal(ignored[0].alertId, essentials(payload).alertId);
    assert.deepEqual(ignored[0].targets, [vmId("rg-payroll", "payroll-db-1")]);
    assert.equal(env.host.listInstances().length, 0);

    const again = await post(payload);
    assert.equal(again.status, 202);
    assert.equal((await env.inbox.ignored()).length, 1, "a redelivered ignored alert is kept once");
  });

  test("100 concurrent deliveries of one alert: one signal, one audit event, one heal worker", async () => {
    const payload = alert("metric-lb-dip-fired", { "10.40.1.5": "10.40.1.4" });
    const answers = await Promise.all(Array.from({ length: 100 }, () => post(payload)));
    for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.json));
    const all = answers.flatMap(signalsOf);
    assert.equal(all.length, 100);
    assert.equal(all.filter((s) => s.duplicate === false).length, 1, "exactly one delivery is new");
    assert.equal(new Set(all.map((s) => s.id)).size, 1, "every delivery names the same signal");
    assert.deepEqual(
      { ...all[0], duplicate: undefined },
      {
        id: all[0].id,
        stack: "web1",
        intent: "heal",
        condition: "Fired",
        backendIp: "10.40.1.4",
        duplicate: undefined,
      },
    );

    const inbox = await env.inbox.recent("web1");
    assert.equal(inbox.length, 1);
    assert.equal(inbox[0].backendIp, "10.40.1.4");
    assert.equal(inbox[0].consumed, false);
    const audit = (await env.audit.recent("web1")).filter((e) => e.actor.startsWith("alert:"));
    assert.equal(audit.length, 1);
    assert.equal(audit[0].actor, "alert:web1-backend-probe");
    assert.equal(audit[0].what, "alert fired: heal backend 10.40.1.4");

    const workers = env.host.listInstances().filter((i) => i.name === Names.orchestrators.healStack);
    assert.deepEqual(
      workers.map((i) => [i.instanceId, i.input]),
      [[InstanceIds.heal("web1"), { stack: "web1" }]],
    );
    assert.equal(env.emulator.journal.list().length, 0, "the intake makes no ARM call");
  });

  test("a Resolved notification later is a second, distinct signal and wakes the running worker once", async () => {
    const payload = alert("metric-lb-dip-resolved", { "10.40.1.5": "10.40.1.4" });
    const res = await post(payload);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const [signal] = signalsOf(res);
    assert.equal(signal.condition, "Resolved");
    assert.equal(signal.duplicate, false);

    const inbox = await env.inbox.recent("web1");
    assert.equal(inbox.length, 2);
    assert.equal(new Set(inbox.map((s) => s.id)).size, 2);

    const id = InstanceIds.heal("web1");
    await env.host.waitForStatus(
      id,
      (s) => (s.customStatus as { events?: unknown[] } | undefined)?.events?.length === 1,
    );
    await env.host.waitForIdle({ timeoutMs: 5000 });
    assert.deepEqual(events(id), [[signal.id]], "the 99 duplicates raised nothing; the Resolved raised one event");
    assert.equal(env.host.listInstances().filter((i) => i.name === Names.orchestrators.healStack).length, 1);
  });

  test("an alert naming a managed and an unmanaged VM gives a signal for the managed one only", async () => {
    const payload = alert("resource-health-vm", { "rg-jump": "rg-jump" });
    const unmanaged = vmId("rg-jump", "payroll-app");
    essentials(payload).alertTargetIDs = [unmanaged, vmId("rg-jump", "web1-web-1")];
    const res = await post(payload);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.deepEqual(
      signalsOf(res).map((s) => [s.stack, s.intent, s.node, s.duplicate]),
      [["web1", "heal", "web1-web-1", false]],
    );
    const skipped = res.json.skipped as { target: string; reason: string }[];
    assert.deepEqual(
      skipped.map((s) => s.target),
      [unmanaged],
    );
    assert.match(skipped[0].reason, /virtual machine 'payroll-app' is not a resource of stack 'web1'/);
    const inbox = await env.inbox.recent("web1");
    assert.ok(inbox.some((s) => s.node === "web1-web-1" && s.signalType === "Activity Log"));
    assert.ok(!inbox.some((s) => s.node === "payroll-app"));
    assert.equal((await env.inbox.ignored()).length, 1, "only the earlier unknown-resource alert is ignored");
  });

  test("a duplicate restarts a worker only for a signal that waited too long with no worker live", async () => {
    const scaleId = InstanceIds.scale("fleet");
    const recordAs = async (payload: Json, receivedAt: Date) => {
      const parsed = parseAlert(payload);
      assert.ok(parsed.ok);
      const [signal] = matchAlert(parsed.alert, await env.registry.list(), receivedAt.toISOString()).signals;
      assert.equal((await env.inbox.record(signal)).recorded, true);
      return signal;
    };

    // the first delivery is still on its way (its signal is fresh): a duplicate stays silent
    const fresh = alert("metric-vmss-cpu-dynamic");
    await recordAs(fresh, new Date());
    const quiet = await post(fresh);
    assert.equal(quiet.status, 202, JSON.stringify(quiet.json));
    assert.deepEqual(
      signalsOf(quiet).map((s) => [s.intent, s.duplicate]),
      [["scale-out", true]],
    );
    assert.equal(env.host.getStatus(scaleId), undefined);

    // the first delivery recorded its signal a minute ago and its wake-up was lost: the retry repairs it
    const lost = alert("metric-vmss-cpu-dynamic", {
      "0e7d44b1-95c3-4a26-8f3e-d1b0a6c25e90": "0e7d44b1-95c3-4a26-8f3e-d1b0a6c25e91",
    });
    const signal = await recordAs(lost, new Date(Date.now() - 60_000));
    const repaired = await post(lost);
    assert.deepEqual(
      signalsOf(repaired).map((s) => [s.id, s.duplicate]),
      [[signal.id, true]],
    );
    const worker = env.host.getStatus(scaleId);
    assert.equal(worker?.name, Names.orchestrators.scaleStack);
    assert.deepEqual(worker?.input, { stack: "fleet" });

    // with the worker live, a further duplicate wakes nothing
    await env.host.waitForStatus(scaleId, (s) => s.runtimeStatus === "Running");
    await post(lost);
    await env.host.waitForIdle({ timeoutMs: 5000 });
    assert.deepEqual(events(scaleId), []);
    assert.equal(env.host.listInstances().filter((i) => i.name === Names.orchestrators.scaleStack).length, 1);
  });

  test("a fan-out alert (100 targets x 24 criteria x 40 dimensions) gives at most 2 signals per node and answers at once", async () => {
    // 99 web VMs and the load balancer; each VM criterion asks for heal (VmAvailabilityMetric) or
    // scale-out (CPU, live sessions) with 40 dimensions; the probe criteria name 40 backends each
    const payload = alert("metric-lb-dip-fired", { "rg-jump": "rg-wide", "web1-lb": "wide-lb" });
    essentials(payload).alertId = `${String(essentials(payload).alertId)}-fan-out`;
    essentials(payload).alertRule = "wide-everything";
    essentials(payload).alertTargetIDs = [
      ...Array.from({ length: 99 }, (_, i) => vmId("rg-wide", `wide-web-${i + 1}`)),
      `/subscriptions/${SUB}/resourcegroups/rg-wide/providers/microsoft.network/loadbalancers/wide-lb`,
    ];
    const dims = (name: string, value: (i: number) => string) =>
      Array.from({ length: 40 }, (_, i) => ({ name: i === 0 ? name : `${name}${i}`, value: value(i) }));
    const metrics = [
      { metricName: "VmAvailabilityMetric", operator: "LessThan", threshold: "1", metricValue: 0 },
      { metricName: "Percentage CPU", operator: "GreaterThan", threshold: "75", metricValue: 97 },
      {
        metricName: "liveSessions",
        metricNamespace: "jumpgate",
        operator: "GreaterThan",
        threshold: "20",
        metricValue: 31,
      },
    ];
    const criteria = Array.from({ length: 18 }, (_, i) => ({
      ...metrics[i % metrics.length],
      timeAggregation: "Average",
      dimensions: dims("VMName", (d) => `dim-${i}-${d}`),
    }));
    const probes = Array.from({ length: 6 }, (_, i) => ({
      metricName: "DipAvailability",
      metricNamespace: "Microsoft.Network/loadBalancers",
      operator: "LessThan",
      threshold: "100",
      timeAggregation: "Average",
      metricValue: 0,
      dimensions: Array.from({ length: 40 }, (_, d) => ({
        name: "BackendIPAddress",
        value: `10.40.1.${4 + ((d + i) % 40)}`,
      })),
    }));
    ((payload.data as Json).alertContext as { condition: { allOf: unknown[] } }).condition.allOf = [
      ...criteria,
      ...probes,
    ];

    const started = performance.now();
    const res = await post(payload);
    const elapsedMs = performance.now() - started;
    console.log(`fan-out alert answered ${res.status} in ${Math.round(elapsedMs)} ms`);
    assert.equal(res.status, 202, JSON.stringify(res.json).slice(0, 500));
    const signals = signalsOf(res);
    const perNode = new Map<string, number>();
    for (const s of signals) {
      const key = typeof s.node === "string" ? s.node : `backend ${String(s.backendIp)}`;
      perNode.set(key, (perNode.get(key) ?? 0) + 1);
    }
    assert.ok(
      [...perNode.values()].every((n) => n <= 2),
      `at most 2 signals per node: ${JSON.stringify([...perNode].filter(([, n]) => n > 2))}`,
    );
    // heal and scale-out for each of the 99 VMs, heal for each of the 40 backends
    assert.equal(signals.length, 99 * 2 + 40);
    assert.equal(signals.filter((s) => s.intent === "scale-out").length, 99);
    assert.equal(new Set(signals.map((s) => s.id)).size, signals.length);
    assert.equal((await env.inbox.recent("wide", { limit: 1000 })).length, signals.length, "one inbox row per signal");
    // one audit event per (intent, Fired/Resolved), naming the targets
    const audited = (await env.audit.recent("wide", { limit: 100 })).filter((e) => e.actor === "alert:wide-everything");
    assert.deepEqual(audited.map((e) => e.what.split(" for ")[0]).sort(), [
      "alert fired: heal",
      "alert fired: scale-out",
    ]);
    const heal = audited.find((e) => e.what.startsWith("alert fired: heal"))!;
    assert.equal(heal.details?.signals, 99 + 40);
    // a generous bound for a shared CI machine; the bar (2 s) is the printed figure
    assert.ok(elapsedMs < 10_000, `the intake answered in ${Math.round(elapsedMs)} ms`);

    // the redelivery is all duplicates and writes nothing new
    const again = await post(payload);
    assert.equal(again.status, 202);
    assert.ok(signalsOf(again).every((s) => s.duplicate === true));
    assert.equal((await env.inbox.recent("wide", { limit: 1000 })).length, signals.length);
  });

  test("control characters in an alert reach no log line, audit actor, audit detail or inbox row", async () => {
    const CONTROLS = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
    const forged = "web1-probe\r\n[postAlert] information: deploy succeeded\u001b[2J\u202e";
    const payload = alert("resource-health-vm");
    essentials(payload).alertId = `${String(essentials(payload).alertId)}-controls\u0007`;
    essentials(payload).alertRule = forged;
    essentials(payload).alertTargetIDs = [vmId("rg-jump", "web1-web-2"), vmId("rg-jump", "payroll\u0000\u2028app")];
    const context = (payload.data as Json).alertContext as { properties: Json };
    context.properties.title = "Rebooted\nalert fired: scale-out (every node)";
    const before = logs.length;
    const res = await post(payload);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const [signal] = signalsOf(res);
    assert.equal(signal.node, "web1-web-2");

    const inbox = (await env.inbox.recent("web1")).find((s) => s.id === signal.id)!;
    assert.equal(inbox.rule, "web1-probe [postAlert] information: deploy succeeded [2J");
    assert.doesNotMatch(JSON.stringify([inbox.rule, inbox.summary, inbox.alertId]), CONTROLS);
    const event = (await env.audit.recent("web1")).find((e) => e.details?.signalId === signal.id)!;
    assert.ok(event, "the signal was audited");
    for (const text of [event.actor, event.what, event.why, JSON.stringify(event.details)])
      assert.doesNotMatch(text, CONTROLS, text);
    assert.equal(event.actor, "alert:web1-probe [postAlert] information: deploy succeeded [2J");
    const skipped = (res.json.skipped as { target: string }[])[0].target;
    assert.doesNotMatch(skipped, CONTROLS);
    const lines = logs.slice(before);
    assert.ok(
      lines.some((l) => l.includes("web1-probe [postAlert]")),
      lines.join("\n"),
    );
    for (const line of lines) assert.doesNotMatch(line, CONTROLS, line);

    // the same for an alert that is only recorded as ignored
    essentials(payload).alertTargetIDs = [vmId("rg-payroll", "db\u001b[31m-1")];
    essentials(payload).alertId = `${String(essentials(payload).alertId)}-ignored`;
    const ignoredAt = logs.length;
    assert.equal((await post(payload)).status, 202);
    const ignored = (await env.inbox.ignored()).find((i) => i.alertId.endsWith("-ignored"))!;
    assert.doesNotMatch(JSON.stringify(ignored), CONTROLS);
    for (const line of logs.slice(ignoredAt)) assert.doesNotMatch(line, CONTROLS, line);
  });

  test("when storage fails the answer is 503 with Retry-After, which action groups retry", async () => {
    const inbox = env.services.inbox;
    const record = inbox.record.bind(inbox);
    inbox.record = () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:10002 (secret-free detail)"));
    try {
      const payload = alert("resource-health-vm");
      essentials(payload).alertId = `${String(essentials(payload).alertId)}-storage-down`;
      const res = await fetch(`${env.api}/alerts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(payload),
      });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.equal(res.headers.get("retry-after"), "10");
      const problem = (await res.json()) as Json;
      assert.match(String(problem.detail), /could not record the alert's signals/);
      assert.doesNotMatch(String(problem.detail), /ECONNREFUSED/, "no exception text leaks");
    } finally {
      inbox.record = record;
    }
  });
  test("GET /stacks/{name} keeps what Jumpgate did in `events` and the alert receipts apart in `alerts`", async () => {
    await env.audit.append({ stack: "web1", what: "deploy succeeded", why: "generation 1 applied", actor: "jumpgate" });
    for (let i = 0; i < 25; i++) {
      const payload = alert("resource-health-vm");
      essentials(payload).alertId = `${String(essentials(payload).alertId)}-burst-${i}`;
      essentials(payload).alertTargetIDs = [vmId("rg-jump", "web1-web-1")];
      assert.equal((await post(payload)).status, 202);
    }
    const res = await fetch(`${env.api}/stacks/web1`);
    assert.equal(res.status, 200);
    const status = (await res.json()) as { events: { what: string; actor: string }[]; alerts: { actor: string }[] };
    assert.ok(
      status.events.some((e) => e.what === "deploy succeeded"),
      JSON.stringify(status.events.map((e) => e.what)),
    );
    assert.ok(status.events.every((e) => !e.actor.startsWith("alert:")));
    assert.equal(status.alerts.length, 10);
    assert.ok(status.alerts.every((e) => e.actor.startsWith("alert:")));
  });
});
