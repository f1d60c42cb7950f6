// From an Azure Monitor alert to a new node, through the real HTTP routes: PUT a scale set stack,
// POST a CPU alert on its scale set to /api/alerts, and the intake's wake-up starts the real scale
// orchestration, which measures the CPU the alert claims and, when Azure Monitor agrees, adds a
// healthy instance; its progress and outcome are served by the stack's operation and status routes.
// The same alert forged while the fleet is idle changes nothing. The app runs on the durable test host (real time, timers sped up),
// the Azure emulator with the real SDK clients, and Azurite; web nodes answer through the stand-in
// agent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { standInAgentRoot } from "../../dev/stand-in-agent";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

const SUB = "00000000-0000-0000-0000-00000000e5e5";
const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "alerts");
type Json = Record<string, unknown>;

describe("scale from an alert end to end", () => {
  let env: JumpgateEnv;
  let root: string;

  async function call(method: string, route: string, body?: unknown): Promise<{ status: number; json: Json }> {
    const res = await fetch(`${env.api}${route}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  }

  async function waitFor(route: string, done: (op: Json) => boolean, timeoutMs = 60_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await call("GET", route);
      if (res.status === 200 && done(res.json)) return res.json;
      if (Date.now() > deadline) throw new Error(`${route}: still ${JSON.stringify(res.json)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    root = standInAgentRoot();
    env = await startJumpgateEnv({
      http: true,
      realTime: { timeScale: 50 },
      emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
    });
  });

  after(async () => {
    await env?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("a CPU alert on the scale set adds a healthy instance within fleet.max", async () => {
    const put = await call("PUT", "/stacks/fleet", {
      subscriptionId: SUB,
      resourceGroup: "rg-fleet",
      location: "westeurope",
      fleet: { mode: "scaleSet", size: 2, min: 2, max: 3 },
      policies: { scale: { enabled: true } },
    });
    assert.equal(put.status, 202, JSON.stringify(put.json));
    const operation = put.json.operation as { instanceId: string };
    const deployed = await waitFor(`/stacks/fleet/operations/${operation.instanceId}`, (op) =>
      ["Completed", "Failed"].includes(String(op.runtimeStatus)),
    );
    assert.equal(deployed.runtimeStatus, "Completed", JSON.stringify(deployed));

    const alert = fs
      .readFileSync(path.join(FIXTURES, "metric-vmss-cpu-dynamic.json"), "utf8")
      .replaceAll("7c0a1e2b-3d4f-4a5b-8c6d-9e0f1a2b3c4d", SUB);
    const instances = env.emulator.store
      .all()
      .filter((d) => d.type === "Microsoft.Compute/virtualMachines" && d.name.startsWith("fleet-vmss_"));
    assert.equal(instances.length, 2);
    const cpu = (value: number) => {
      for (const vm of instances) env.emulator.metrics.set(vm.id, "Percentage CPU", value);
    };
    const finished = (actions: number) => (op: Json) =>
      ["Completed", "Failed"].includes(String(op.runtimeStatus)) &&
      ((op.output as { actions?: unknown[] } | undefined)?.actions?.length ?? 0) >= actions;

    // forged: the alert says 88 % CPU, Azure Monitor measures 9 %: nothing changes
    cpu(9);
    const since = env.emulator.journal.list().at(-1)?.seq ?? 0;
    const forged = JSON.parse(alert) as { data: { essentials: { alertId: string } } };
    forged.data.essentials.alertId += "-forged";
    const refused = await call("POST", "/alerts", forged);
    assert.equal(refused.status, 202, JSON.stringify(refused.json));
    const skipped = await waitFor("/stacks/fleet/operations/scale-fleet", finished(1));
    assert.equal(skipped.runtimeStatus, "Completed", JSON.stringify(skipped));
    assert.deepEqual((skipped.output as { actions: unknown[] }).actions, [
      { direction: "out", outcome: "skipped", reason: "NotCorroborated" },
    ]);
    const writes = env.emulator.journal
      .list()
      .filter((e) => e.seq > since && e.method !== "GET" && !e.path.endsWith("/metrics:getBatch"));
    assert.deepEqual(
      writes.map((e) => `${e.method} ${e.path}`),
      [],
      "no ARM write, no Run Command",
    );
    const unchanged = await call("GET", "/stacks/fleet");
    const why = (unchanged.json.events as { what: string; why: string }[]).find((e) => e.what === "scale-out skipped");
    assert.match(why?.why ?? "", /Percentage CPU on average over the fleet measured 9 % over the last 15 minutes/);
    assert.equal((unchanged.json.observed as { nodes: unknown[] }).nodes.length, 2);

    // real: the fleet is busy, and the same alert adds a node
    cpu(90);
    const posted = await call("POST", "/alerts", JSON.parse(alert));
    assert.equal(posted.status, 202, JSON.stringify(posted.json));
    const [signal] = posted.json.signals as { intent: string; stack: string }[];
    assert.deepEqual([signal.stack, signal.intent], ["fleet", "scale-out"]);

    const scaled = await waitFor(
      "/stacks/fleet/operations/scale-fleet",
      (op) => finished(1)(op) && JSON.stringify(op.output).includes('"scaled"'),
    );
    assert.equal(scaled.runtimeStatus, "Completed", JSON.stringify(scaled));
    const output = scaled.output as { actions: { direction: string; outcome: string; from: number; to: number }[] };
    assert.deepEqual(
      output.actions.map((a) => [a.direction, a.outcome, a.from, a.to]),
      [["out", "scaled", 2, 3]],
    );

    const stack = await call("GET", "/stacks/fleet");
    const observed = stack.json.observed as { nodes: { healthy: boolean }[] };
    assert.equal(observed.nodes.length, 3);
    assert.ok(observed.nodes.every((n) => n.healthy));
    const conditions = stack.json.conditions as { type: string; status: string; reason: string }[];
    const limited = conditions.find((c) => c.type === "ScalingLimited");
    assert.deepEqual([limited?.status, limited?.reason], ["False", "ScaledOut"]);
    assert.equal(stack.json.operation, null, "the scale released the stack");
    const events = stack.json.events as { what: string; why: string }[];
    assert.ok(events.some((e) => e.what === "scale-out succeeded" && /fleet-cpu-dynamic/.test(e.why)));
  });
});
