// From an Azure Monitor alert to a new node, through the real HTTP routes: PUT a scale set stack,
// POST a CPU alert on its scale set to /api/alerts, and the intake's wake-up starts the real scale
// orchestration, which adds a healthy instance; its progress and outcome are served by the stack's
// operation and status routes. The app runs on the durable test host (real time, timers sped up),
// the Azure emulator with the real SDK clients, and Azurite; web nodes answer through the stand-in
// agent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { standInAgentRoot } from "../support/stand-in-agent";
import { startJumpgateEnv, type JumpgateEnv } from "../support/jumpgate-env";

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
    const posted = await call("POST", "/alerts", JSON.parse(alert));
    assert.equal(posted.status, 202, JSON.stringify(posted.json));
    const [signal] = posted.json.signals as { intent: string; stack: string }[];
    assert.deepEqual([signal.stack, signal.intent], ["fleet", "scale-out"]);

    const scaled = await waitFor("/stacks/fleet/operations/scale-fleet", (op) =>
      ["Completed", "Failed"].includes(String(op.runtimeStatus)),
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
