// The scale orchestration end to end on the virtual clock: the app's real orchestrators and
// activities on the durable test host, the real Azure SDK clients against the emulator (async LROs),
// Azurite for the inbox, fleet state, registry and audit trail, and stand-in node agents: scripted
// ones (StandInFleet: live sessions, drain) for deployed VMs, the always-healthy one for new VMs.
// Each test deploys its own stack with deployStack first, then sends scale alerts the way the intake
// does (record in the inbox, then start scale-<stack> or raise "signal" to it).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { InMemoryDurableClient, recordHistoryFixture } from "../../emulator/durable";
import type { JournalEntry } from "../../emulator/arm/journal";
import { InstanceIds, Names } from "../../functions/names";
import type { ScaleOutput, ScaleStatus } from "../../functions/orchestrators/scale-stack";
import type { PlanOutput } from "../../functions/orchestrators/plan-stack";
import { claimStack } from "../../functions/stack-claim";
import { followSpecFleet } from "../../functions/fleet-reset";
import type { StackSignal } from "../../shared/alerts/signal";
import { ROLE_DEFINITIONS, roleAssignmentName, stackNames } from "../../shared/graph/names";
import { SECRET_NAMES } from "../../shared/secret-names";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
// after the env, which installs the durable test host the app registers with
import { grantTlsBundleReaders } from "../../functions/activities/resources";
import { agentWords, StandInFleet, standInAgentRoot } from "../../dev/stand-in-agent";

const SUB = "00000000-0000-0000-0000-0000000000e5";

let env: JumpgateEnv;
let root: string;
let fleet: StandInFleet;

before(async () => {
  root = standInAgentRoot();
  env = await startJumpgateEnv({
    emulator: { lro: { mode: "async", pollsBeforeDone: 1 }, runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
  });
  fleet = new StandInFleet(env.emulator);
});
after(async () => {
  await env?.stop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

type Doc = Record<string, unknown>;
const at = (doc: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((cur, k) => (cur && typeof cur === "object" ? (cur as Doc)[k] : undefined), doc);
const minutes = (n: number) => n * 60_000;
const later = (ms: number) => new Date(env.host.now.getTime() + ms);

function specOf(name: string, extra: { fleet?: Doc; scale?: Doc } = {}): StackSpec {
  const r = validateStackSpec({
    name,
    subscriptionId: SUB,
    resourceGroup: `rg-${name}`,
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 2, min: 2, max: 3, ...extra.fleet },
    policies: { scale: { enabled: true, metric: "cpu", cooldownMinutes: 10, drainTimeoutMinutes: 30, ...extra.scale } },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

/** Registers and deploys a stack the way PUT does (claim, fleet follows the spec, deployStack), on the virtual clock. */
async function deploy(spec: StackSpec, options: { run?: boolean } = {}): Promise<string> {
  const put = await env.registry.putDesired(spec.name, spec);
  assert.ok(put.ok);
  const instanceId = InstanceIds.deploy(spec.name, put.stack.generation, env.host.now.toISOString());
  const claimed = await env.registry.setOperation(spec.name, {
    kind: "deploy",
    instanceId,
    startedAt: env.host.now.toISOString(),
  });
  assert.ok(claimed.ok, "the stack is free to deploy");
  await followSpecFleet(spec.name, spec, env.host.now, instanceId);
  env.host.startNew(Names.orchestrators.deployStack, {
    instanceId,
    input: {
      spec,
      generation: put.stack.generation,
      nodeReadyTimeoutMinutes: 30,
      pollSeconds: 30,
      tickMs: 500,
      checkFirst: true,
    },
  });
  if (options.run === false) return instanceId;
  await env.host.runUntilIdle();
  const status = env.host.getStatus(instanceId)!;
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return instanceId;
}

function vmNames(spec: StackSpec): string[] {
  const names = stackNames(spec);
  const parent = (spec.fleet.mode === "scaleSet" ? names.scaleSetId : names.availabilitySetId).toLowerCase();
  const link =
    spec.fleet.mode === "scaleSet" ? "properties.virtualMachineScaleSet.id" : "properties.availabilitySet.id";
  return env.emulator.store
    .all()
    .filter((d) => d.type === "Microsoft.Compute/virtualMachines" && String(at(d, link)).toLowerCase() === parent)
    .map((d) => d.name)
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

const vmId = (spec: StackSpec, vm: string) =>
  `/subscriptions/${SUB}/resourceGroups/${spec.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${vm}`;

/**
 * What Azure Monitor measures of the stack's web VMs over the last minutes, which a scale-out must
 * agree with: Percentage CPU, or the live sessions the agents publish (on each VM; on the scale set
 * by VMName in scale-set mode).
 */
function measure(spec: StackSpec, value: number, vms = vmNames(spec)): void {
  for (const vm of vms) {
    if (spec.policies.scale.metric === "cpu") env.emulator.metrics.set(vmId(spec, vm), "Percentage CPU", value);
    else if (spec.fleet.mode === "scaleSet")
      env.emulator.metrics.set(stackNames(spec).scaleSetId, "liveSessions", value, { VMName: vm });
    else env.emulator.metrics.set(vmId(spec, vm), "liveSessions", value);
  }
}

let signalSeq = 0;
function signal(spec: StackSpec, intent: "scale-out" | "scale-in", extra: Partial<StackSignal> = {}): StackSignal {
  const n = ++signalSeq;
  const time = env.host.now.toISOString();
  return {
    id: `sig-${spec.name}-${n}`,
    stack: spec.name,
    intent,
    condition: "Fired",
    rule: `${spec.name}-${intent}`,
    signalType: "Metric",
    summary: intent === "scale-out" ? "Percentage CPU 91 > 75" : "Percentage CPU 9 < 25",
    alertId: `/subscriptions/${SUB}/providers/Microsoft.AlertsManagement/alerts/s${n}`,
    at: time,
    receivedAt: time,
    ...extra,
  };
}

/** What the intake does: keep the signal, then start scale-<stack> or wake the running one. */
async function deliver(spec: StackSpec, s: StackSignal): Promise<void> {
  await env.inbox.record(s);
  const id = InstanceIds.scale(spec.name);
  const current = env.host.getStatus(id);
  if (current && (current.runtimeStatus === "Running" || current.runtimeStatus === "Pending")) {
    env.host.raiseEvent(id, "signal", [s.id]);
  } else {
    env.host.startNew(Names.orchestrators.scaleStack, { instanceId: id, input: { stack: spec.name, pollSeconds: 30 } });
  }
}

/**
 * With JUMPGATE_RECORD_FIXTURES=1, keeps the scale instance's history as a fixture for the replay
 * gate (test/orchestration/history-replay.test.ts): a change that would break in-flight scale
 * instances then fails CI. The web nodes' custom data (27 KB of cloud-init, never compared on replay)
 * is cut to a stub to keep the files small.
 */
function recordFixture(spec: StackSpec, scenario: string): void {
  if (process.env.JUMPGATE_RECORD_FIXTURES !== "1") return;
  recordHistoryFixture(env.host, InstanceIds.scale(spec.name), { scenario, stubCustomData: true });
}

const scaleStatus = (spec: StackSpec) => env.host.getStatus(InstanceIds.scale(spec.name));
const phase = (spec: StackSpec) => (scaleStatus(spec)?.customStatus as ScaleStatus | undefined)?.phase;

function assertScaleCompleted(spec: StackSpec): ScaleOutput {
  const status = scaleStatus(spec)!;
  assert.equal(
    status.runtimeStatus,
    "Completed",
    JSON.stringify({ output: status.output, custom: status.customStatus }),
  );
  return status.output as ScaleOutput;
}

/** ARM writes (PUT, PATCH, DELETE, POST actions but Run Command) in the stack's resource group, after `since`. */
function writes(spec: StackSpec, since = 0): JournalEntry[] {
  const rg = `/resourcegroups/${spec.resourceGroup.toLowerCase()}/`;
  return env.emulator.journal
    .writes()
    .filter((w) => w.seq > since && w.path.toLowerCase().includes(rg) && w.status < 300)
    .filter((w) => w.action?.toLowerCase() !== "runcommand");
}

/** Node agent commands sent through Run Command after `since`, from the emulator's journal. */
function agentCalls(spec: StackSpec, since = 0): { seq: number; vm: string; words: string[] }[] {
  const rg = `/resourcegroups/${spec.resourceGroup.toLowerCase()}/`;
  return env.emulator.journal
    .list({ operation: "action" })
    .filter((e) => e.seq > since && e.action?.toLowerCase() === "runcommand" && e.path.toLowerCase().includes(rg))
    .map((e) => ({
      seq: e.seq,
      vm: /virtualMachines\/([^/]+)\//i.exec(e.path)![1],
      words: agentWords(((e.body as { script?: string[] } | undefined)?.script ?? []).join("\n")),
    }));
}

/** The name of a web VM's role assignment (Key Vault Secrets User on the stack's vault). */
const roleOf = (spec: StackSpec, vm: string, secret: string = SECRET_NAMES.dbAppPasswordA) =>
  roleAssignmentName(`${stackNames(spec).keyVaultId}/secrets/${secret}`, vm, ROLE_DEFINITIONS.keyVaultSecretsUser);
/** A sessions stack's Monitoring Metrics Publisher assignment of a VM, on that VM. */
const metricsRoleOf = (spec: StackSpec, vm: string) =>
  roleAssignmentName(
    `${stackNames(spec).resourceGroupId}/providers/Microsoft.Compute/virtualMachines/${vm}`,
    vm,
    ROLE_DEFINITIONS.monitoringMetricsPublisher,
  );

const lastSeq = () => env.emulator.journal.list().at(-1)?.seq ?? 0;
const describeWrite = (w: JournalEntry) =>
  `${w.method} ${w.action ?? ""} ${w.path.replace(/^.*\/providers\//, "")}`.replace(/\s+/g, " ");

async function outcomes(spec: StackSpec) {
  return (await env.inbox.recent(spec.name)).map((e) => ({ id: e.id, consumed: e.consumed, outcome: e.outcome ?? "" }));
}

async function condition(spec: StackSpec, type = "ScalingLimited") {
  return (await env.registry.get(spec.name))!.conditions.find((c) => c.type === type);
}

async function events(spec: StackSpec) {
  return env.audit.recent(spec.name, { limit: 100 });
}

/** Members of the LB backend pool (NIC ids, lower case). */
function poolNics(spec: StackSpec): string[] {
  const lb = env.emulator.get(stackNames(spec).loadBalancerId)!;
  const refs = (at(lb, "properties.backendAddressPools.0.properties.backendIPConfigurations") ?? []) as {
    id: string;
  }[];
  return refs.map((r) => r.id.split("/ipConfigurations/")[0].toLowerCase()).sort();
}

/** A drift check's plan of the stored spec, and a no-op redeploy: neither may write anything. */
async function assertDriftFree(spec: StackSpec): Promise<void> {
  const plan = await env.host.run(Names.orchestrators.planStack, { spec, generation: 1 });
  const out = plan.output as PlanOutput;
  assert.deepEqual(
    out.changes.map((c) => `${c.key} ${c.action} ${c.changes.map((x) => x.path).join(",")}`),
    [],
    "the drift check sees no drift: the graph follows the fleet state",
  );
  const since = lastSeq();
  const record = (await env.registry.get(spec.name))!;
  const reconcile = await env.host.run(Names.orchestrators.reconcileStack, {
    spec: record.spec,
    generation: record.generation,
    nodeReadyTimeoutMinutes: 30,
  });
  assert.equal(reconcile.runtimeStatus, "Completed", JSON.stringify(reconcile.output));
  assert.deepEqual(writes(spec, since).map(describeWrite), [], "a reconcile makes 0 ARM writes");
  const redeploy = await env.host.run(Names.orchestrators.deployStack, {
    spec: record.spec,
    generation: record.generation,
    nodeReadyTimeoutMinutes: 30,
    pollSeconds: 30,
    tickMs: 500,
    checkFirst: true,
  });
  assert.equal(redeploy.runtimeStatus, "Completed", JSON.stringify(redeploy.output));
  assert.deepEqual(writes(spec, since).map(describeWrite), [], "a no-op redeploy makes 0 ARM writes");
}

describe("scale: availability set", () => {
  test("scale-out adds a node that is healthy in the LB pool, with the stack's certificate; then stops at max", async () => {
    const spec = specOf("scout");
    await deploy(spec);
    measure(spec, 90);
    // the stack has a certificate: a new node gets it before it counts
    const vault = env.emulator.get(stackNames(spec).keyVaultId)!;
    await env.services.factory
      .secrets(String(at(vault, "properties.vaultUri")))
      .setSecret(SECRET_NAMES.tlsBundle, "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n");
    // as the certificate worker does right after storing it: the nodes may read it
    await grantTlsBundleReaders(spec);
    const since = lastSeq();
    const out = signal(spec, "scale-out");
    await deliver(spec, out);
    await env.host.runUntilIdle();

    const output = assertScaleCompleted(spec);
    recordFixture(spec, "scaled-out-availability-set");
    assert.deepEqual(output.actions, [{ direction: "out", outcome: "scaled", node: "scout-web-3", from: 2, to: 3 }]);
    assert.deepEqual(vmNames(spec), ["scout-web-1", "scout-web-2", "scout-web-3"]);
    const created = writes(spec, since).map(describeWrite);
    // the new node's NIC, VM and its reads of the app users' secrets and of the TLS bundle, nothing else
    assert.deepEqual(created, [
      "PUT Microsoft.Network/networkInterfaces/scout-web-3-nic",
      "PUT Microsoft.Compute/virtualMachines/scout-web-3",
      ...[SECRET_NAMES.dbAppPasswordA, SECRET_NAMES.dbAppPasswordB, SECRET_NAMES.tlsBundle].map(
        (secret) => `PUT Microsoft.Authorization/roleAssignments/${roleOf(spec, "scout-web-3", secret)}`,
      ),
    ]);
    // in the backend pool, and the probe sees it up
    const nic = `${stackNames(spec).resourceGroupId}/providers/Microsoft.Network/networkInterfaces/scout-web-3-nic`;
    assert.ok(poolNics(spec).includes(nic.toLowerCase()), JSON.stringify(poolNics(spec)));
    const [probe] = await env.services.factory
      .metrics(spec.location)
      .queryResources([stackNames(spec).loadBalancerId], ["DipAvailability"], "Microsoft.Network/loadBalancers", {
        aggregation: "Average",
        filter: "BackendIPAddress eq '*'",
      });
    const probeValues = probe.metrics[0].timeseries.map((ts) => ts.data?.at(-1)?.average);
    assert.deepEqual(probeValues, [100, 100, 100]);
    // brought up like a deploy brings nodes up: certificate, then health, before it counts
    const calls = agentCalls(spec, since).filter((c) => c.vm === "scout-web-3");
    assert.deepEqual(
      calls.map((c) => c.words.join(" ")),
      ["health", `install-cert --secret ${SECRET_NAMES.tlsBundle}`, "health"],
    );
    // recorded: fleet state, observed nodes, inbox outcome, audit, condition
    const state = (await env.fleet.get(spec.name))!;
    assert.deepEqual([state.size, state.ordinals, state.specSize], [3, [1, 2, 3], 2]);
    assert.equal(state.lastScale?.direction, "out");
    assert.match(state.lastScale.reason, /scout-scale-out/);
    const observed = (await env.registry.get(spec.name))!.observed!;
    assert.deepEqual(
      observed.nodes.map((n) => [n.name, n.healthy]),
      [
        ["scout-web-1", true],
        ["scout-web-2", true],
        ["scout-web-3", true],
      ],
    );
    assert.deepEqual(await outcomes(spec), [
      { id: out.id, consumed: true, outcome: "scaled out: scout-web-3 added and healthy, 2 -> 3 node(s)" },
    ]);
    const added = (await events(spec)).find((e) => e.what === "scale-out succeeded")!;
    assert.match(added.why, /alert scout-scale-out/);
    assert.deepEqual(added.operation, { kind: "scale", instanceId: InstanceIds.scale(spec.name) });
    assert.equal((await condition(spec))?.reason, "ScaledOut");
    assert.equal((await env.registry.get(spec.name))!.operation, undefined, "the claim is released");

    // the drift check and a redeploy keep the new node
    await assertDriftFree(spec);
    assert.deepEqual(vmNames(spec), ["scout-web-1", "scout-web-2", "scout-web-3"]);

    // at max: skipped with the reason, nothing written
    const since2 = lastSeq();
    const more = signal(spec, "scale-out");
    await deliver(spec, more);
    await env.host.runUntilIdle();
    assert.deepEqual(assertScaleCompleted(spec).actions, [{ direction: "out", outcome: "skipped", reason: "AtMax" }]);
    assert.deepEqual(writes(spec, since2), []);
    const skipped = (await outcomes(spec)).find((o) => o.id === more.id)!;
    assert.match(skipped.outcome, /^skipped \(AtMax\): the fleet has 3 node\(s\), its maximum \(fleet\.max 3\)/);
    const limited = (await condition(spec))!;
    assert.deepEqual([limited.status, limited.reason], ["True", "AtMax"]);
    assert.ok((await events(spec)).some((e) => e.what === "scale-out skipped" && /fleet\.max 3/.test(e.why)));
  });

  test("scale-in drains the node with the fewest sessions first and keeps it until the drain deadline", async () => {
    const spec = specOf("scin", { fleet: { size: 3, max: 4 }, scale: { metric: "sessions" } });
    await deploy(spec);
    const [web1, web2, web3] = vmNames(spec);
    fleet.adopt([web1, web2, web3]);
    fleet.setSessions(web1, 4);
    fleet.setSessions(web2, 2);
    fleet.setSessions(web3, 3);
    const since = lastSeq();
    const start = env.host.now.getTime();
    await deliver(spec, signal(spec, "scale-in"));

    // before the deadline: drained, still there, still holding the stack
    await env.host.runUntilIdle({ upTo: new Date(start + minutes(29)) });
    assert.equal(phase(spec), "draining");
    const draining = scaleStatus(spec)!.customStatus as ScaleStatus;
    assert.deepEqual([draining.node, draining.liveSessions], [web2, 2]);
    assert.deepEqual(vmNames(spec), [web1, web2, web3], "a node with live sessions stays before the deadline");
    assert.deepEqual(writes(spec, since), []);
    assert.deepEqual(
      fleet.callsTo(web2, "drain").map((c) => c.args),
      [["on"]],
    );
    assert.equal(fleet.callsTo(web1, "drain").length + fleet.callsTo(web3, "drain").length, 0);
    // one writer per stack: a PUT (or anything else that claims) is refused while the scale drains
    const put = await claimStack(new InMemoryDurableClient(env.host), spec.name, "deploy", {
      instanceIdFor: () => "deploy-scin-x",
    });
    assert.equal(put.ok, false);
    assert.equal(!put.ok && put.running.kind, "scale");

    // after the deadline: removed, and the sessions cut are recorded
    await env.host.runUntilIdle();
    const output = assertScaleCompleted(spec);
    assert.deepEqual(output.actions, [
      { direction: "in", outcome: "scaled", node: web2, from: 3, to: 2, sessionsCut: 2 },
    ]);
    assert.deepEqual(vmNames(spec), [web1, web3]);
    const removed = writes(spec, since).map(describeWrite);
    // a sessions stack: the VM's metrics publisher role goes first, then its Key Vault roles (last made, first gone)
    assert.deepEqual(removed, [
      `DELETE Microsoft.Authorization/roleAssignments/${metricsRoleOf(spec, web2)}`,
      `DELETE Microsoft.Authorization/roleAssignments/${roleOf(spec, web2, SECRET_NAMES.dbAppPasswordB)}`,
      `DELETE Microsoft.Authorization/roleAssignments/${roleOf(spec, web2, SECRET_NAMES.dbAppPasswordA)}`,
      `DELETE Microsoft.Compute/virtualMachines/${web2}`,
      `DELETE Microsoft.Network/networkInterfaces/${web2}-nic`,
    ]);
    // drained before the delete, from the journal's order
    const drainOn = agentCalls(spec, since).find((c) => c.vm === web2 && c.words.join(" ") === "drain on")!;
    const vmDelete = writes(spec, since).find((w) => w.method === "DELETE" && w.path.endsWith(`/${web2}`))!;
    assert.ok(drainOn.seq < vmDelete.seq, "drain on ran before the VM delete");
    const state = (await env.fleet.get(spec.name))!;
    assert.deepEqual([state.size, state.ordinals], [2, [1, 3]]);
    assert.equal(state.lastScale?.sessionsCut, 2);
    assert.ok(Date.parse(state.lastScale.at) >= start + minutes(30), "removed at the deadline, not before");
    const done = (await events(spec)).find((e) => e.what === "scale-in succeeded")!;
    assert.equal(done.details?.sessionsCut, 2);
    assert.match(
      (await outcomes(spec))[0].outcome,
      /deadline \(30 min\) passed with 2 live session\(s\), which were cut/,
    );
    assert.equal((await env.registry.get(spec.name))!.operation, undefined);

    // the drift check and a redeploy keep the fleet at two: web-2 does not come back
    await assertDriftFree(spec);
    assert.deepEqual(vmNames(spec), [web1, web3]);

    // at min: never below it
    const since2 = lastSeq();
    await env.host.runUntilIdle({ upTo: later(minutes(11)) });
    const atMin = signal(spec, "scale-in");
    await deliver(spec, atMin);
    await env.host.runUntilIdle();
    assert.deepEqual(assertScaleCompleted(spec).actions, [{ direction: "in", outcome: "skipped", reason: "AtMin" }]);
    assert.deepEqual(writes(spec, since2), []);
    assert.equal(agentCalls(spec, since2).filter((c) => c.words[0] === "drain").length, 0);
    assert.deepEqual([(await condition(spec))?.status, (await condition(spec))?.reason], ["True", "AtMin"]);
  });

  test("a node whose sessions end is removed before the deadline, without cutting anything", async () => {
    const spec = specOf("scend", { fleet: { size: 3, max: 4 }, scale: { metric: "sessions" } });
    await deploy(spec);
    const [web1, web2, web3] = vmNames(spec);
    fleet.adopt([web1, web2, web3]);
    fleet.setSessions(web1, 2);
    fleet.setSessions(web2, 2);
    fleet.setSessions(web3, 1);
    const start = env.host.now.getTime();
    await deliver(spec, signal(spec, "scale-in"));
    await env.host.runUntilIdle({ upTo: new Date(start + minutes(5)) });
    assert.equal(phase(spec), "draining");
    recordFixture(spec, "draining-availability-set");
    fleet.setSessions(web3, 0); // the last user logged off
    await env.host.runUntilIdle();
    const output = assertScaleCompleted(spec);
    assert.deepEqual(output.actions, [
      { direction: "in", outcome: "scaled", node: web3, from: 3, to: 2, sessionsCut: 0 },
    ]);
    const state = (await env.fleet.get(spec.name))!;
    assert.ok(Date.parse(state.lastScale!.at) < start + minutes(10), state.lastScale!.at);
    assert.deepEqual(state.ordinals, [1, 2]);
    assert.match((await outcomes(spec))[0].outcome, /its sessions had ended/);
  });

  test("a node whose drain could not ship a session recording: removed, and the loss is an audit event with the reason", async () => {
    const spec = specOf("sclost", { fleet: { size: 3, max: 4 }, scale: { metric: "sessions" } });
    await deploy(spec);
    const [web1, web2, web3] = vmNames(spec);
    fleet.adopt([web1, web2, web3]);
    fleet.setSessions(web1, 2);
    fleet.setSessions(web2, 2);
    fleet.setSessions(web3, 0);
    // the uploader's `ship --final` answer inside `drain on`: one shipped, one refused by the container
    fleet.setDrainRecordings(web3, {
      shipped: [{ blob: `${web3}/s-1`, bytes: 10 }],
      pending: [],
      lost: [{ recording: "s-2", reason: "the container holds other bytes for web-3/s-2" }],
    });
    await deliver(spec, signal(spec, "scale-in"));
    await env.host.runUntilIdle();
    assertScaleCompleted(spec);
    const lost = (await events(spec)).filter((e) => e.what === "recordings.lost");
    assert.equal(lost.length, 1);
    assert.match(lost[0].why, new RegExp(`1 session recording\\(s\\) of ${web3} could not be shipped`));
    assert.match(lost[0].why, /s-2 \(the container holds other bytes/);
    assert.deepEqual((lost[0].details as { lost: unknown[] }).lost, [
      { recording: "s-2", reason: "the container holds other bytes for web-3/s-2" },
    ]);
  });

  test("a drained node that can't be removed is undrained and serves again; the fleet is unchanged", async () => {
    const spec = specOf("scstuck", {
      fleet: { size: 3, max: 4 },
      scale: { metric: "sessions", drainTimeoutMinutes: 0 },
    });
    await deploy(spec);
    const [web1, web2, web3] = vmNames(spec);
    fleet.adopt([web1, web2, web3]);
    fleet.setSessions(web1, 1);
    fleet.setSessions(web2, 1);
    const rule = env.emulator.faults.add({
      match: { method: "DELETE", path: `/virtualMachines/${web3}$` },
      effect: {
        kind: "failOperation",
        code: "InternalExecutionError",
        message: "An internal execution error occurred.",
      },
      times: 0,
    });
    try {
      await deliver(spec, signal(spec, "scale-in"));
      await env.host.runUntilIdle();
    } finally {
      env.emulator.faults.clear();
    }
    assert.ok(rule.fired >= 1, "the VM delete was tried");
    const [action] = assertScaleCompleted(spec).actions;
    assert.deepEqual([action.direction, action.outcome, action.node], ["in", "failed", web3]);
    assert.deepEqual(
      fleet.callsTo(web3, "drain").map((c) => c.args[0]),
      ["on", "off"],
    );
    assert.deepEqual(vmNames(spec), [web1, web2, web3]);
    assert.deepEqual((await env.fleet.get(spec.name))?.size, undefined, "the fleet never changed");
    assert.match(
      (await outcomes(spec))[0].outcome,
      new RegExp(`^failed: ${web3} was drained but not removed .*; it serves again$`),
    );
    assert.deepEqual([(await condition(spec))?.status, (await condition(spec))?.reason], ["True", "ScaleInFailed"]);
    assert.equal((await env.registry.get(spec.name))!.operation, undefined, "the claim is released");
  });

  test("flapping: a scale-in whose remaining node would be above the scale-out threshold is skipped and recorded", async () => {
    const spec = specOf("scflap", { fleet: { size: 2, min: 1 } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    env.emulator.metrics.set(vmId(spec, web1), "Percentage CPU", 60);
    env.emulator.metrics.set(vmId(spec, web2), "Percentage CPU", 60);
    const since = lastSeq();
    const s = signal(spec, "scale-in");
    await deliver(spec, s);
    await env.host.runUntilIdle();

    assert.deepEqual(assertScaleCompleted(spec).actions, [{ direction: "in", outcome: "skipped", reason: "Flapping" }]);
    assert.deepEqual(vmNames(spec), [web1, web2]);
    assert.deepEqual(writes(spec, since), []);
    assert.equal(fleet.callsTo(web1, "drain").length + fleet.callsTo(web2, "drain").length, 0, "nothing drained");
    const [o] = await outcomes(spec);
    assert.match(o.outcome, /^skipped \(Flapping\): removing a node would leave 1 node\(s\) at 120 % CPU each/);
    const e = (await events(spec)).find((x) => x.what === "scale-in skipped")!;
    assert.equal(e.details?.reason, "Flapping");
    assert.deepEqual([(await condition(spec))?.status, (await condition(spec))?.reason], ["True", "Flapping"]);
    assert.equal(await env.fleet.get(spec.name), undefined, "the fleet never changed");

    // with the load gone, the same request scales in (CPU 10 % on two nodes: 20 % on one)
    env.emulator.metrics.set(vmId(spec, web1), "Percentage CPU", 10);
    env.emulator.metrics.set(vmId(spec, web2), "Percentage CPU", 10);
    await deliver(spec, signal(spec, "scale-in"));
    await env.host.runUntilIdle();
    assert.deepEqual(
      assertScaleCompleted(spec).actions.map((a) => [a.outcome, a.node]),
      [["scaled", web2]],
    );
  });

  test("cooldown: a second request waits for its end; resolved meanwhile it is cancelled, still firing it acts", async () => {
    const spec = specOf("sccool", { fleet: { size: 2, max: 5 } });
    await deploy(spec);
    measure(spec, 90);
    await deliver(spec, signal(spec, "scale-out"));
    await env.host.runUntilIdle();
    assertScaleCompleted(spec);
    const scaledAt = Date.parse((await env.fleet.get(spec.name))!.lastScale!.at);

    // a second scale-out 2 minutes later: deferred until the cooldown ends, nothing changes
    await env.host.runUntilIdle({ upTo: new Date(scaledAt + minutes(2)) });
    const since = lastSeq();
    const second = signal(spec, "scale-out");
    await deliver(spec, second);
    await env.host.runUntilIdle({ upTo: new Date(scaledAt + minutes(9)) });
    assert.equal(phase(spec), "cooldown");
    recordFixture(spec, "cooldown-wait");
    const waiting = scaleStatus(spec)!.customStatus as ScaleStatus;
    assert.equal(waiting.waitingUntil, new Date(scaledAt + minutes(10)).toISOString());
    assert.deepEqual(writes(spec, since), []);
    assert.ok((await events(spec)).some((e) => e.what === "scale-out deferred"));
    // the alert resolves before the cooldown ends: the request is cancelled, nothing was done
    await deliver(spec, signal(spec, "scale-out", { alertId: second.alertId, condition: "Resolved" }));
    await env.host.runUntilIdle();
    assert.deepEqual(assertScaleCompleted(spec).actions, [{ direction: "out", outcome: "cancelled" }]);
    assert.deepEqual(writes(spec, since), []);
    assert.equal(vmNames(spec).length, 3);
    assert.match((await outcomes(spec)).find((o) => o.id === second.id)!.outcome, /^cancelled: the alert resolved/);

    // another request inside the cooldown that keeps firing is acted on when the cooldown ends
    await deliver(spec, signal(spec, "scale-out"));
    await env.host.runUntilIdle();
    let state = (await env.fleet.get(spec.name))!;
    assert.equal(state.size, 4);
    assert.ok(Date.parse(state.lastScale!.at) >= scaledAt + minutes(10), "not before the cooldown ended");

    // after the cooldown, a new worker instance acts at once; every change is kept in the history
    await env.host.runUntilIdle({ upTo: new Date(Date.parse(state.lastScale!.at) + minutes(11)) });
    await deliver(spec, signal(spec, "scale-out"));
    await env.host.runUntilIdle();
    state = (await env.fleet.get(spec.name))!;
    assert.deepEqual([state.size, state.ordinals], [5, [1, 2, 3, 4, 5]]);
    assert.deepEqual(
      state.history.map((h) => [h.direction, h.from, h.to]),
      [
        ["out", 2, 3],
        ["out", 3, 4],
        ["out", 4, 5],
      ],
    );
    assert.equal(new Set(state.history.map((h) => h.id)).size, 3);
    assert.equal(vmNames(spec).length, 5);
  });

  test("only a healthy node counts: a new node that never comes up is removed again and the fleet is unchanged", async () => {
    const spec = specOf("scfail");
    await deploy(spec);
    measure(spec, 90);
    // the new VM boots, but its Tomcat never answers
    env.emulator.runCommand.setVm("scfail-web-3", async () => ({
      exitCode: 1,
      stdout:
        JSON.stringify({
          healthy: false,
          draining: false,
          liveSessions: 0,
          checks: [{ name: "tomcat", ok: false, detail: "GET /api/languages answered '000'" }],
        }) + "\n",
      stderr: "",
    }));
    const since = lastSeq();
    const s = signal(spec, "scale-out");
    await deliver(spec, s);
    await env.host.runUntilIdle();
    const output = assertScaleCompleted(spec);
    assert.equal(output.actions[0].outcome, "failed");
    assert.match(output.actions[0].reason!, /nodes not healthy after 30 minutes: scfail-web-3: tomcat/);
    assert.deepEqual(vmNames(spec), ["scfail-web-1", "scfail-web-2"]);
    const done = writes(spec, since).map(describeWrite);
    assert.deepEqual(done, [
      "PUT Microsoft.Network/networkInterfaces/scfail-web-3-nic",
      "PUT Microsoft.Compute/virtualMachines/scfail-web-3",
      `PUT Microsoft.Authorization/roleAssignments/${roleOf(spec, "scfail-web-3", SECRET_NAMES.dbAppPasswordA)}`,
      `PUT Microsoft.Authorization/roleAssignments/${roleOf(spec, "scfail-web-3", SECRET_NAMES.dbAppPasswordB)}`,
      `DELETE Microsoft.Authorization/roleAssignments/${roleOf(spec, "scfail-web-3", SECRET_NAMES.dbAppPasswordB)}`,
      `DELETE Microsoft.Authorization/roleAssignments/${roleOf(spec, "scfail-web-3", SECRET_NAMES.dbAppPasswordA)}`,
      "DELETE Microsoft.Compute/virtualMachines/scfail-web-3",
      "DELETE Microsoft.Network/networkInterfaces/scfail-web-3-nic",
    ]);
    const state = (await env.fleet.get(spec.name))!;
    assert.deepEqual([state.size, state.ordinals, state.lastScale], [2, [1, 2], undefined]);
    assert.match((await outcomes(spec))[0].outcome, /^failed: the new node did not come up .*; removed again$/);
    assert.deepEqual([(await condition(spec))?.status, (await condition(spec))?.reason], ["True", "ScaleOutFailed"]);
    await assertDriftFree(spec);
    env.emulator.runCommand.setVm("scfail-web-3", undefined);
  });

  test("heal first: no scale-out while a node is unhealthy", async () => {
    const spec = specOf("scsick");
    await deploy(spec);
    measure(spec, 90);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    fleet.break(web2, "tomcat-down", "never");
    const since = lastSeq();
    await deliver(spec, signal(spec, "scale-out"));
    await env.host.runUntilIdle();
    assert.deepEqual(assertScaleCompleted(spec).actions, [
      { direction: "out", outcome: "skipped", reason: "UnhealthyNodes" },
    ]);
    assert.deepEqual(writes(spec, since), []);
    assert.match((await outcomes(spec))[0].outcome, new RegExp(`1 of 2 node\\(s\\) are unhealthy \\(${web2}\\)`));
    fleet.repair(web2);
  });

  test("a forged CPU alert over a fleet Azure Monitor measures idle changes nothing: no claim, no Run Command, no ARM write", async () => {
    const spec = specOf("scforge");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    measure(spec, 12);
    const since = lastSeq();
    const before = (await env.registry.get(spec.name))!;
    const forged = signal(spec, "scale-out", {
      node: web1,
      metric: "cpu",
      summary: `Percentage CPU 99 > 75 on ${web1}`,
      rule: "scforge-scale-out",
    });
    await deliver(spec, forged);
    await env.host.runUntilIdle();

    assert.deepEqual(assertScaleCompleted(spec).actions, [
      { direction: "out", outcome: "skipped", reason: "NotCorroborated" },
    ]);
    recordFixture(spec, "not-corroborated");
    // nothing but reads reached Azure: the VM list and the metrics query
    const touched = env.emulator.journal.list().filter((e) => e.seq > since);
    assert.deepEqual(
      touched.filter((e) => e.method !== "GET" && !e.path.endsWith("/metrics:getBatch")).map(describeWrite),
      [],
      "no ARM write of any kind, no Run Command",
    );
    assert.ok(
      touched.some((e) => e.path.endsWith("/metrics:getBatch")),
      "the claim was measured",
    );
    assert.deepEqual(vmNames(spec), [web1, web2]);
    assert.equal(await env.fleet.get(spec.name), undefined, "the fleet never changed");
    const after = (await env.registry.get(spec.name))!;
    assert.equal(after.operation, undefined);
    assert.deepEqual(after.spec, before.spec);
    // the audit trail and the inbox say why
    const [o] = await outcomes(spec);
    assert.match(
      o.outcome,
      new RegExp(
        `^skipped \\(NotCorroborated\\): the alert claims 'Percentage CPU 99 > 75 on ${web1}', but Percentage CPU on ${web1} measured 12 % over the last 15 minutes, below 67.5 %`,
      ),
    );
    const e = (await events(spec)).find((x) => x.what === "scale-out skipped")!;
    assert.equal(e.details?.reason, "NotCorroborated");
    assert.match(e.why, /measured 12 %/);
    assert.deepEqual([(await condition(spec))?.status, (await condition(spec))?.reason], ["True", "NotCorroborated"]);

    // the same claim while the node is busy is borne out and acted on
    measure(spec, 88, [web1]);
    await deliver(
      spec,
      signal(spec, "scale-out", { node: web1, metric: "cpu", summary: `Percentage CPU 91 > 75 on ${web1}` }),
    );
    await env.host.runUntilIdle();
    assert.deepEqual(
      assertScaleCompleted(spec).actions.map((a) => [a.outcome, a.node]),
      [["scaled", "scforge-web-3"]],
    );
    const added = (await events(spec)).find((x) => x.what === "scale-out succeeded")!;
    assert.match(String(added.details?.corroboration), new RegExp(`Percentage CPU on ${web1} measured 88 %`));
  });

  test("a live-sessions claim is measured by the published metric; with nothing published, no scale-out", async () => {
    const spec = specOf("scsess", { scale: { metric: "sessions" } });
    await deploy(spec);
    const [web1] = vmNames(spec);
    const claim = (n: number) =>
      signal(spec, "scale-out", { metric: "sessions", summary: `liveSessions ${n} > 20 on ${web1}`, node: web1 });
    // nothing published yet: the claim cannot be checked
    await deliver(spec, claim(40));
    await env.host.runUntilIdle();
    assert.deepEqual(assertScaleCompleted(spec).actions, [
      { direction: "out", outcome: "skipped", reason: "MetricsUnavailable" },
    ]);
    assert.match((await outcomes(spec))[0].outcome, /Azure Monitor has nothing to measure it by/);
    // published, but idle
    measure(spec, 3);
    await deliver(spec, claim(41));
    await env.host.runUntilIdle();
    assert.deepEqual(assertScaleCompleted(spec).actions, [
      { direction: "out", outcome: "skipped", reason: "NotCorroborated" },
    ]);
    assert.equal(vmNames(spec).length, 2);
    assert.equal(await env.fleet.get(spec.name), undefined);
  });

  test("a scale-out asked while a node drains aborts the scale-in: the node serves again", async () => {
    const spec = specOf("scabort", { fleet: { size: 3, max: 4 }, scale: { metric: "sessions" } });
    await deploy(spec);
    const [web1, web2, web3] = vmNames(spec);
    fleet.adopt([web1, web2, web3]);
    fleet.setSessions(web1, 1);
    fleet.setSessions(web2, 1);
    fleet.setSessions(web3, 4);
    const since = lastSeq();
    const start = env.host.now.getTime();
    const inSignal = signal(spec, "scale-in");
    await deliver(spec, inSignal);
    await env.host.runUntilIdle({ upTo: new Date(start + minutes(3)) });
    assert.equal(phase(spec), "draining");
    assert.equal((scaleStatus(spec)!.customStatus as ScaleStatus).node, web2);
    const outSignal = signal(spec, "scale-out");
    measure(spec, 25);
    await deliver(spec, outSignal);
    await env.host.runUntilIdle();
    const output = assertScaleCompleted(spec);
    assert.deepEqual(
      output.actions.map((a) => [a.direction, a.outcome, a.node]),
      [
        ["in", "aborted", web2],
        ["out", "scaled", "scabort-web-4"],
      ],
    );
    assert.deepEqual(
      fleet.callsTo(web2, "drain").map((c) => c.args[0]),
      ["on", "off"],
    );
    assert.deepEqual(vmNames(spec), [web1, web2, web3, "scabort-web-4"]);
    assert.ok(!writes(spec, since).some((w) => w.method === "DELETE"), "nothing was removed");
    const all = await outcomes(spec);
    assert.match(all.find((o) => o.id === inSignal.id)!.outcome, /^aborted: a scale-out was asked while/);
    assert.match(all.find((o) => o.id === outSignal.id)!.outcome, /^scaled out/);
  });

  test("scale waits for a running deploy, then acts under its own claim", async () => {
    const spec = specOf("scwait");
    await deploy(spec);
    measure(spec, 90);
    // a redeploy is running (it holds the stack) when the alert comes
    const deployId = await deploy(spec, { run: false });
    await deliver(spec, signal(spec, "scale-out"));
    await env.host.runUntilIdle({
      until: () => phase(spec) === "waiting",
    });
    const waiting = scaleStatus(spec)!.customStatus as ScaleStatus;
    assert.equal(waiting.heldBy?.kind, "deploy");
    assert.equal(waiting.heldBy?.instanceId, deployId);
    assert.match(waiting.waitingFor!, /the stack is busy: deploy/);
    await env.host.runUntilIdle();
    assert.equal(env.host.getStatus(deployId)!.runtimeStatus, "Completed");
    assertScaleCompleted(spec);
    const list = await events(spec);
    const deployed = list.findIndex((e) => e.what === "deploy succeeded");
    const scaled = list.findIndex((e) => e.what === "scale-out succeeded");
    assert.ok(scaled >= 0 && scaled < deployed, "the scale-out came after the deploy (newest first)");
    assert.equal(vmNames(spec).length, 3);
  });

  test("a PUT with another fleet.size resets the scaled fleet to the user's size, also back to the old size", async () => {
    const spec = specOf("screset", { fleet: { size: 2, max: 5 } });
    await deploy(spec);
    measure(spec, 90);
    await deliver(spec, signal(spec, "scale-out"));
    await env.host.runUntilIdle();
    assert.deepEqual((await env.fleet.get(spec.name))!.ordinals, [1, 2, 3]);
    // the user asks for 4: the graph has web-1..4 (web-3 kept, web-4 new)
    await env.host.runUntilIdle({ upTo: later(minutes(1)) });
    await deploy(specOf("screset", { fleet: { size: 4, max: 5 } }));
    assert.deepEqual(vmNames(spec), ["screset-web-1", "screset-web-2", "screset-web-3", "screset-web-4"]);
    let state = (await env.fleet.get(spec.name))!;
    assert.deepEqual([state.specSize, state.size, state.ordinals], [4, 4, [1, 2, 3, 4]]);
    assert.equal(state.history.at(-1)?.direction, "reset");
    assert.match(state.history.at(-1)!.reason, /fleet\.size changed from 2 to 4 in the spec/);
    assert.equal(state.lastScale?.direction, "out", "a reset is not a scale action: the cooldown still counts");
    // and back to 2: the user's 2, not the 3 scaling once left with fleet.size 2
    await deploy(specOf("screset", { fleet: { size: 2, max: 5 } }));
    state = (await env.fleet.get(spec.name))!;
    assert.deepEqual([state.specSize, state.size, state.ordinals], [2, 2, [1, 2]]);
    const plan = await env.host.run(Names.orchestrators.planStack, { spec, generation: 3 });
    const keys = (plan.output as PlanOutput).changes.map((c) => c.key);
    assert.deepEqual(keys, [], "the graph holds web-1 and web-2, which exist");
  });
});

describe("scale: teardown", () => {
  test("a teardown removes the nodes scaling added and forgets the fleet state", async () => {
    const spec = specOf("scdown");
    await deploy(spec);
    measure(spec, 90);
    await deliver(spec, signal(spec, "scale-out"));
    await env.host.runUntilIdle();
    assert.equal(vmNames(spec).length, 3);
    const record = (await env.registry.get(spec.name))!;
    await env.registry.setOperation(spec.name, {
      kind: "teardown",
      instanceId: "teardown-scdown",
      startedAt: env.host.now.toISOString(),
    });
    const gone = await env.host.run(
      Names.orchestrators.teardownStack,
      { spec: record.spec },
      { instanceId: "teardown-scdown" },
    );
    assert.equal(gone.runtimeStatus, "Completed", JSON.stringify(gone.output));
    const tagged = env.emulator.store.all().filter((d) => d.tags?.["jumpgate-stack"] === spec.name);
    assert.deepEqual(
      tagged.map((d) => d.id),
      [],
    );
    assert.equal(await env.fleet.get(spec.name), undefined);
  });
});

describe("scale: scale set", () => {
  test("scale-out raises the capacity with a healthy instance; scale-in drains and deletes the chosen instance", async () => {
    const spec = specOf("scvmss", {
      fleet: { mode: "scaleSet", size: 2, min: 2, max: 3 },
      scale: { metric: "sessions", cooldownMinutes: 5, drainTimeoutMinutes: 20 },
    });
    await deploy(spec);
    const before = vmNames(spec);
    fleet.adopt(before);
    fleet.setSessions(before[0], 3);
    fleet.setSessions(before[1], 3);
    measure(spec, 22);
    const since = lastSeq();
    await deliver(spec, signal(spec, "scale-out"));
    await env.host.runUntilIdle();
    const out = assertScaleCompleted(spec);
    const after = vmNames(spec);
    assert.equal(after.length, 3);
    const added = after.find((n) => !before.includes(n))!;
    assert.deepEqual(out.actions, [{ direction: "out", outcome: "scaled", node: added, from: 2, to: 3 }]);
    assert.deepEqual(writes(spec, since).map(describeWrite), [
      `PUT Microsoft.Compute/virtualMachineScaleSets/scvmss-vmss`,
    ]);
    const set = env.emulator.get(stackNames(spec).scaleSetId)!;
    assert.equal(at(set, "sku.capacity"), 3);
    assert.equal(poolNics(spec).length, 3, "every instance's NIC is in the backend pool");
    const health = agentCalls(spec, since).filter((c) => c.vm === added);
    assert.deepEqual(
      health.map((c) => c.words[0]),
      ["health", "health"],
      "the new instance is healthy before it counts",
    );
    assert.deepEqual((await env.fleet.get(spec.name))!.size, 3);
    await assertDriftFree(spec);
    assert.equal(vmNames(spec).length, 3);

    // scale-in after the cooldown: the new instance has 1 session, the others 3: it goes, drained first
    fleet.adopt([added]);
    fleet.setSessions(added, 1);
    await env.host.runUntilIdle({ upTo: later(minutes(6)) });
    const since2 = lastSeq();
    const start = env.host.now.getTime();
    await deliver(spec, signal(spec, "scale-in"));
    await env.host.runUntilIdle({ upTo: new Date(start + minutes(19)) });
    assert.equal(phase(spec), "draining");
    assert.equal(vmNames(spec).length, 3);
    await env.host.runUntilIdle();
    const scaledIn = assertScaleCompleted(spec);
    assert.deepEqual(scaledIn.actions, [
      { direction: "in", outcome: "scaled", node: added, from: 3, to: 2, sessionsCut: 1 },
    ]);
    assert.deepEqual(vmNames(spec), before);
    const deleted = writes(spec, since2);
    assert.deepEqual(deleted.map(describeWrite), [
      `POST delete Microsoft.Compute/virtualMachineScaleSets/scvmss-vmss/delete`,
    ]);
    assert.deepEqual(at(deleted[0].body, "instanceIds"), [added]);
    const drainOn = agentCalls(spec, since2).find((c) => c.vm === added && c.words.join(" ") === "drain on")!;
    assert.ok(drainOn.seq < deleted[0].seq, "drain on ran before the instance was deleted");
    assert.equal(at(env.emulator.get(stackNames(spec).scaleSetId)!, "sku.capacity"), 2);
    assert.equal((await env.fleet.get(spec.name))!.size, 2);
    await assertDriftFree(spec);
    assert.deepEqual(vmNames(spec), before);
  });
});

describe("fleet state store", () => {
  test("members and changes survive a round trip; a retried change is kept once; bad members are refused", async () => {
    const members = { mode: "availabilitySet" as const, specSize: 2, size: 3, ordinals: [3, 1, 2] };
    const change = {
      id: "scale-store:1:out",
      direction: "out" as const,
      at: "2026-11-21T12:00:00.000Z",
      from: 2,
      to: 3,
      node: "store-web-3",
      reason: "alert store-scale-out (1 signal(s)): scale out from 2 to 3 node(s)",
    };
    await env.fleet.setMembers("store", members, { change });
    await env.fleet.setMembers("store", members, { change }); // a retried activity
    const state = (await env.fleet.get("store"))!;
    assert.deepEqual([state.mode, state.specSize, state.size, state.ordinals], ["availabilitySet", 2, 3, [1, 2, 3]]);
    assert.deepEqual(state.history, [change]);
    assert.deepEqual(state.lastScale, change);
    // a reset is history, not a scale action: the cooldown still counts from the last one
    await env.fleet.setMembers(
      "store",
      { ...members, specSize: 4, size: 4, ordinals: [1, 2, 3, 4] },
      { change: { ...change, id: "reset:1", direction: "reset", from: 3, to: 4, reason: "PUT" } },
    );
    const reset = (await env.fleet.get("store"))!;
    assert.equal(reset.history.length, 2);
    assert.deepEqual(reset.lastScale, change);
    await assert.rejects(env.fleet.setMembers("store", { ...members, ordinals: [1, 1, 2] }), /3 distinct node numbers/);
    await assert.rejects(env.fleet.setMembers("store", { ...members, size: -1 }), /size must be 0-1000/);
    assert.equal(await env.fleet.delete("store"), true);
    assert.equal(await env.fleet.get("store"), undefined);
    assert.equal(await env.fleet.delete("store"), false);
  });
});

describe("scale: secrets", () => {
  test("no secret value appears in scale's histories, statuses, fleet state, audit trail or alert outcomes", async () => {
    const secrets: string[] = [];
    for (const vault of env.emulator.store.all().filter((d) => d.type === "Microsoft.KeyVault/vaults")) {
      secrets.push(...env.emulator.keyVault.secretValues(vault.name).filter((v) => !v.startsWith("ssh-")));
    }
    assert.ok(secrets.length >= 8, `expected the stacks' generated secrets, found ${secrets.length}`);
    const haystacks = [JSON.stringify(env.host.listInstances().filter((i) => i.instanceId.startsWith("scale-")))];
    for (const stack of await env.registry.list()) {
      haystacks.push(
        JSON.stringify(await env.audit.all(stack.name)),
        JSON.stringify(await env.inbox.recent(stack.name)),
        JSON.stringify(await env.fleet.get(stack.name)),
        JSON.stringify(stack.conditions),
        JSON.stringify(stack.observed),
      );
    }
    const text = haystacks.join("\n");
    assert.ok(text.includes("scale-out succeeded") && text.includes("drain"), "the haystack holds scale's records");
    for (const secret of secrets) assert.ok(!text.includes(secret), "a secret value leaked");
  });
});
