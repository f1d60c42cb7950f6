// Alert -> heal through the real HTTP routes: a stack deployed with PUT /api/stacks/{name}, one node
// broken (Tomcat dead: a restart of its unit fixes it) and its load balancer probe alert POSTed five times at
// once, as Azure Monitor's retries and a second action group would; then every node hung. The app
// runs on the durable test host in real time (timers sped up), the Azure emulator with the real SDK
// clients, and Azurite; nodes are the heal tests' scripted stand-ins (StandInFleet), whose faults
// the load balancer probe metric follows. What is asserted is only what the API, the emulator and the
// stores show: signals, instances, ARM writes, conditions, the audit trail, the heal operation.
// first: the app's functions must register with the durable test host, not with @azure/functions
import "../../emulator/durable/install";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { actionCount } from "../../emulator/arm/providers/compute";
import { observeWebNodeActivity } from "../../functions/activities/heal";
import { InstanceIds, Names } from "../../functions/names";
import type { HealOutput, HealStatus } from "../../functions/orchestrators/heal-stack";
import { webNodeNames } from "../../shared/graph/names";
import { verdictOf } from "../../shared/heal/policy";
import type { StackSpec } from "../../shared/spec/types";
import { validateStackSpec } from "../../shared/spec/validate";
import { probeAlert } from "../../dev/alert-payloads";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { StandInFleet, standInAgentRoot } from "../../dev/stand-in-agent";

const SUB = "00000000-0000-0000-0000-00000000e2e3";
const NAME = "healweb";
const body = {
  subscriptionId: SUB,
  resourceGroup: "rg-e2e-heal",
  location: "westeurope",
  fleet: { mode: "availabilitySet", size: 2 },
};
type Json = Record<string, unknown>;
const validated = validateStackSpec({ name: NAME, ...body });
if (!validated.ok) throw new Error(JSON.stringify(validated.errors));
/** the spec as the API registers it (defaults filled in) */
const spec: StackSpec = validated.spec;

describe("alert -> heal end to end", () => {
  let env: JumpgateEnv;
  let root: string;
  let fleet: StandInFleet;
  const logs: string[] = [];
  const responses: string[] = [];
  const secrets: string[] = [];
  const web1 = webNodeNames(spec, 1);
  const web2 = webNodeNames(spec, 2);

  async function call(method: string, route: string, payload?: unknown) {
    const init: RequestInit = { method };
    if (payload !== undefined) {
      init.body = JSON.stringify(payload);
      init.headers = { "content-type": "application/json" };
    }
    const res = await fetch(`${env.api}${route}`, init);
    const text = await res.text();
    responses.push(text);
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Json) : {} };
  }

  /** Polls an operation's status URL (absolute, from Location, or a route) until it has finished. */
  async function waitForOperation(url: string, timeoutMs = 60_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await fetch(url.startsWith("http") ? url : `${env.api}${url}`);
      const text = await res.text();
      responses.push(text);
      assert.equal(res.status, 200, text);
      const op = JSON.parse(text) as Json;
      if (op.runtimeStatus === "Completed" || op.runtimeStatus === "Failed") return op;
      if (Date.now() > deadline) throw new Error(`operation still ${String(op.runtimeStatus)}: ${text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const ipOf = (nicId: string) =>
    (env.emulator.get(nicId)!.properties as { ipConfigurations: { properties: { privateIPAddress: string } }[] })
      .ipConfigurations[0].properties.privateIPAddress;
  const lastSeq = () => env.emulator.journal.list().at(-1)?.seq ?? 0;
  /** ARM writes after `since`, but Run Command (which only talks to the node agent) */
  const writesSince = (since: number) =>
    env.emulator.journal
      .writes()
      .filter((w) => w.seq > since && w.status < 300 && w.action?.toLowerCase() !== "runcommand")
      .map((w) => `${w.method} ${w.action ?? ""} ${w.path.replace(/^.*\/providers\//, "")}`.replace(/\s+/g, " "));
  const healInstances = () => env.host.listInstances().filter((i) => i.name === Names.orchestrators.healStack);
  const postAlert = (ip: string, alertGuid?: string) =>
    call("POST", "/alerts", probeAlert(spec, ip, alertGuid ? { alertGuid } : {}));

  before(async () => {
    root = standInAgentRoot();
    env = await startJumpgateEnv({
      http: true,
      realTime: { timeScale: 50 },
      // async long-running operations, as Azure answers Run Command and VM actions
      emulator: { lro: { mode: "async", pollsBeforeDone: 1 }, runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
      durable: { log: (line) => logs.push(line) },
      log: (line) => logs.push(line),
    });
  });

  after(async () => {
    await env?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("deploy through PUT /api/stacks", async () => {
    const put = await call("PUT", `/stacks/${NAME}`, body);
    assert.equal(put.status, 202, JSON.stringify(put.json));
    const deployed = await waitForOperation(put.headers.get("location")!);
    assert.equal(deployed.runtimeStatus, "Completed", JSON.stringify(deployed));
    assert.deepEqual((await env.registry.get(NAME))!.spec, spec);
    for (const vault of env.emulator.store.all().filter((d) => d.type === "Microsoft.KeyVault/vaults")) {
      secrets.push(...env.emulator.keyVault.secretValues(vault.name).filter((v) => !v.startsWith("ssh-")));
    }
    // from here on the nodes are scripted: healthy until a test breaks them
    fleet = new StandInFleet(env.emulator);
    fleet.adopt([web1.vm, web2.vm]);
  });

  test("Tomcat dead, its alert delivered 5 times at once: one signal, one heal, its Tomcat unit restarted (no VM restart), healthy again", async () => {
    const since = lastSeq();
    fleet.break(web1.vm, "tomcat-down");
    const ip = ipOf(web1.nicId);
    const payload = probeAlert(spec, ip);
    const answers = await Promise.all(Array.from({ length: 5 }, () => call("POST", "/alerts", payload)));
    for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.json));
    const signals = answers.flatMap((a) => a.json.signals as Json[]);
    assert.equal(new Set(signals.map((s) => s.id)).size, 1, "every delivery names the same signal");
    assert.equal(signals.filter((s) => s.duplicate === false).length, 1, "exactly one delivery is new");
    assert.deepEqual(
      [signals[0].stack, signals[0].intent, signals[0].condition, signals[0].backendIp],
      [NAME, "heal", "Fired", ip],
    );

    const heal = await waitForOperation(`/stacks/${NAME}/operations/${InstanceIds.heal(NAME)}`);

    // one signal, consumed with what came of it; one heal instance
    const inbox = await env.inbox.recent(NAME);
    assert.equal(inbox.length, 1, JSON.stringify(inbox));
    assert.equal(inbox[0].consumed, true);
    assert.match(
      inbox[0].outcome!,
      new RegExp(
        `^${web1.vm}: had its failed services restarted at .*; healthy again \\(tomcat\\.service restarted, its check passes`,
      ),
    );
    assert.deepEqual(
      healInstances().map((i) => i.instanceId),
      [InstanceIds.heal(NAME)],
    );

    // one service restart, of the broken node's Tomcat unit; no VM restart, nothing written
    assert.deepEqual(
      fleet.callsTo(web1.vm, "restart-services").map((c) => c.args),
      [["tomcat.service"]],
    );
    assert.deepEqual(fleet.callsTo(web2.vm, "restart-services"), []);
    assert.equal(actionCount(env.emulator, web1.vmId, "restart"), 0);
    assert.equal(actionCount(env.emulator, web2.vmId, "restart"), 0);
    assert.deepEqual(writesSince(since), []);

    // healthy: the agent answers healthy and not draining, the load balancer probe is up
    const seen = await observeWebNodeActivity({ spec, vmName: web1.vm });
    assert.equal(verdictOf(seen).state, "healthy", JSON.stringify(seen));
    assert.equal(seen.agent.draining, false);
    assert.equal(seen.probe.state, "up");
    assert.deepEqual(fleet.activeFaults(web1.vm), []);

    // the stack: no brake, no claim left, the alert and the repair with its reason in the audit trail
    const stack = await call("GET", `/stacks/${NAME}`);
    assert.equal(stack.status, 200);
    const conditions = stack.json.conditions as { type: string; status: string; reason: string; message: string }[];
    const brake = conditions.find((c) => c.type === "HealBrake");
    assert.deepEqual([brake?.status, brake?.reason], ["False", "NotHeld"], JSON.stringify(conditions));
    assert.equal(stack.json.operation, null, "heal released the stack");
    const events = stack.json.events as { what: string; why: string; actor: string }[];
    // the intake's receipts are kept apart from what Jumpgate did
    assert.ok(events.every((e) => !e.actor.startsWith("alert:")));
    const alerted = (stack.json.alerts as { what: string; why: string; actor: string }[]).filter(
      (e) => e.actor === `alert:${NAME}-backend-probe`,
    );
    assert.deepEqual(
      alerted.map((e) => e.what),
      [`alert fired: heal backend ${ip}`],
      "the alert is audited once",
    );
    assert.match(alerted[0].why, /DipAvailability/);
    const repaired = events.find((e) => e.what === `node ${web1.vm} had its failed services restarted`);
    assert.ok(repaired, JSON.stringify(events));
    assert.match(JSON.stringify(repaired), /tomcat\.service restarted, its check passes/, "the audit names the unit");
    assert.match(repaired.why, /tomcat/, "the reason names the failing check");
    assert.match(repaired.why, new RegExp(`alerts: ${NAME}-backend-probe`), "and the alert that led to it");

    // the heal operation: done, and its status still says what it did last
    assert.equal(heal.orchestrator, Names.orchestrators.healStack);
    assert.equal(heal.runtimeStatus, "Completed");
    assert.equal((heal.output as HealOutput).outcome, "idle");
    const progress = heal.progress as HealStatus;
    assert.equal(progress.phase, "done");
    assert.deepEqual(
      [progress.lastAction?.node, progress.lastAction?.step, progress.lastAction?.outcome],
      [web1.vm, "restart-services", "succeeded"],
    );
    assert.match(
      progress.lastAction?.detail ?? "",
      /tomcat\.service restarted, its check passes/,
      "the status names the unit",
    );
  });

  test("every node hung, alerts for both: the fleet brake holds, nothing destructive, GET says why", async () => {
    const since = lastSeq();
    const drains = [web1.vm, web2.vm].map((vm) => fleet.callsTo(vm, "drain").length);
    fleet.break(web1.vm, "hung");
    fleet.break(web2.vm, "hung");
    const answers = await Promise.all([postAlert(ipOf(web1.nicId)), postAlert(ipOf(web2.nicId))]);
    for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.json));

    const heal = await waitForOperation(`/stacks/${NAME}/operations/${InstanceIds.heal(NAME)}`);
    assert.equal(heal.runtimeStatus, "Completed", JSON.stringify(heal));
    assert.equal((heal.progress as HealStatus).brake?.reason, "unhealthy-share");

    assert.deepEqual(writesSince(since), [], "zero destructive actions");
    assert.equal(actionCount(env.emulator, web1.vmId, "restart"), 0, "no restart, then or now");
    assert.equal(actionCount(env.emulator, web2.vmId, "restart"), 0);
    assert.deepEqual(
      [web1.vm, web2.vm].map((vm) => fleet.callsTo(vm, "drain").length),
      drains,
      "no node was drained",
    );

    const ids = answers.map((a) => (a.json.signals as Json[])[0].id);
    const signals = (await env.inbox.recent(NAME)).filter((s) => ids.includes(s.id));
    assert.equal(signals.length, 2);
    for (const s of signals) {
      assert.equal(s.consumed, true);
      assert.match(s.outcome!, /the fleet brake holds/);
    }

    const stack = await call("GET", `/stacks/${NAME}`);
    const conditions = stack.json.conditions as { type: string; status: string; reason: string; message: string }[];
    const brake = conditions.find((c) => c.type === "HealBrake");
    assert.equal(brake?.status, "True", JSON.stringify(conditions));
    assert.equal(brake?.reason, "UnhealthyShare");
    assert.match(brake.message, /2 of 2 nodes unhealthy \(100 %\), more than the policy's 50 %/);
    const events = stack.json.events as { what: string; why: string }[];
    const engaged = events.find((e) => e.what === "fleet brake engaged: no repairs");
    assert.ok(engaged, JSON.stringify(events));
    assert.match(engaged.why, /2 of 2 nodes unhealthy/);
    assert.equal(healInstances().length, 1, "still the one heal instance");
  });

  test("no secret value appears in responses, logs, histories, statuses, the stores or the ARM journal", async () => {
    assert.ok(secrets.length >= 4, `expected the stack's generated secrets, found ${secrets.length}`);
    const haystacks = [
      responses.join("\n"),
      logs.join("\n"),
      JSON.stringify(env.host.listInstances()),
      JSON.stringify(await env.audit.all(NAME)),
      JSON.stringify(await env.inbox.recent(NAME)),
      JSON.stringify(await env.repairs.get(NAME)),
      JSON.stringify(await env.registry.get(NAME)),
      JSON.stringify(env.emulator.journal.list()),
    ];
    for (const secret of secrets) {
      for (const hay of haystacks) assert.ok(!hay.includes(secret), "a secret value leaked");
    }
  });
});
