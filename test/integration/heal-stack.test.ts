// The heal orchestration end to end on the virtual clock: the app's real orchestrators and
// activities on the durable test host, the real Azure SDK clients against the emulator, Azurite for
// the inbox, ledger, registry and audit trail, and scripted stand-in node agents (StandInFleet).
// Each test deploys its own stack with deployStack first, then breaks nodes and sends alerts the way
// the intake does (record in the inbox, then start heal-<stack> or raise "signal" to it).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import {
  fromRegistry,
  InMemoryDurableClient,
  startDurableRpcServer,
  type DurableRpcServer,
} from "../../emulator/durable";
import { durableClientContextFor } from "../../emulator/durable/client/client-context";
import { powerStateOf } from "../../emulator/arm/providers/compute";
import type { JournalEntry } from "../../emulator/arm/journal";
import { InstanceIds, Names } from "../../functions/names";
import type { HealStatus } from "../../functions/orchestrators/heal-stack";
import { claimStack } from "../../functions/stack-claim";
import type { StackSignal } from "../../shared/alerts/signal";
import { ROLE_DEFINITIONS, roleAssignmentName, stackNames, webNodeNames } from "../../shared/graph/names";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import { at, HealHarness } from "../support/heal-harness";
import type { JumpgateEnv } from "../../dev/jumpgate-env";
import { agentWords, type StandInFleet } from "../../dev/stand-in-agent";

let h: HealHarness;
let env: JumpgateEnv;
let fleet: StandInFleet;

before(async () => {
  h = await HealHarness.start("00000000-0000-0000-0000-0000000000a1");
  env = h.env;
  fleet = h.fleet;
});
after(async () => {
  await h?.stop();
});

type Doc = Record<string, unknown>;
const specOf = (name: string, extra: Record<string, unknown> = {}) => h.spec(name, extra);
const deploy = (spec: StackSpec, options?: { run?: boolean; nodeReadyTimeoutMinutes?: number }) =>
  h.deploy(spec, options);
const vmNames = (spec: StackSpec) => h.vmNames(spec);
const signal = (spec: StackSpec, extra: Partial<StackSignal> = {}) => h.signal(spec, extra);
const deliver = (spec: StackSpec, s: StackSignal) => h.deliver(spec, s);
const wake = (spec: StackSpec) => h.wake(spec);
const healStatus = (spec: StackSpec) => h.healStatus(spec);

/** ARM writes (PUT, PATCH, DELETE, POST actions but Run Command) in the stack's resource group, after `since`. */
function writes(spec: StackSpec, since = 0): JournalEntry[] {
  const rg = `/resourcegroups/${spec.resourceGroup.toLowerCase()}/`;
  return env.emulator.journal
    .writes()
    .filter((w) => w.seq > since && w.path.toLowerCase().includes(rg) && w.status < 300)
    .filter((w) => w.action?.toLowerCase() !== "runcommand");
}

const lastSeq = () => env.emulator.journal.list().at(-1)?.seq ?? 0;
/** The agent commands run since `from` (an index into fleet.calls), as "web-1 health", "web-1 drain on". */
const agentCallsSince = (from: number, vms?: string[]) =>
  fleet.calls
    .slice(from)
    .filter((c) => !vms || vms.includes(c.vm))
    .map((c) => `${c.vm} ${c.command}${c.command === "drain" ? ` ${c.args[0]}` : ""}`);
const describeWrite = (w: JournalEntry) =>
  `${w.method} ${w.action ?? ""} ${w.path.replace(/^.*\/providers\//, "")}`.replace(/\s+/g, " ");
const actions = (list: JournalEntry[], action: string, vm?: string) =>
  list.filter(
    (w) =>
      w.action?.toLowerCase() === action.toLowerCase() &&
      (!vm || w.path.toLowerCase().includes(`/${vm.toLowerCase()}/`)),
  );

async function attempts(spec: StackSpec, node: string) {
  return (await env.repairs.get(spec.name)).nodes[node]?.attempts ?? [];
}

async function outcomes(spec: StackSpec) {
  return (await env.inbox.recent(spec.name)).map((e) => ({ id: e.id, consumed: e.consumed, outcome: e.outcome }));
}

async function condition(spec: StackSpec, type: string) {
  return (await env.registry.get(spec.name))!.conditions.find((c) => c.type === type);
}

function assertHealCompleted(spec: StackSpec) {
  const status = healStatus(spec)!;
  assert.equal(
    status.runtimeStatus,
    "Completed",
    JSON.stringify({ output: status.output, custom: status.customStatus }),
  );
}

describe("heal: availability set", () => {
  test("a node whose Tomcat died gets its Tomcat unit restarted: no VM restart, and everyone is told which unit", async () => {
    const spec = specOf("hltomcat");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    const calls = fleet.calls.length;
    fleet.break(web1, "tomcat-down");
    await deliver(spec, signal(spec, { node: web1, rule: "tomcat-down", summary: "Guacamole answers 502" }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    // the look that corroborated the alert named the failed unit; the agent restarts it (no drain:
    // no live session and the probe already down), and one look after it finds the node healthy
    assert.deepEqual(agentCallsSince(calls, [web1]), [`${web1} health`, `${web1} restart-services`, `${web1} health`]);
    assert.deepEqual(fleet.callsTo(web1, "restart-services").at(-1)?.args, ["tomcat.service"]);
    // no VM restart, no write to Azure at all
    assert.deepEqual(writes(spec, since).map(describeWrite), []);
    assert.equal(
      env.emulator.journal.list().filter((e) => e.seq > since && e.action?.toLowerCase() === "restart").length,
      0,
    );
    assert.deepEqual(fleet.activeFaults(web1), []);
    const [attempt, ...more] = await attempts(spec, web1);
    assert.deepEqual([attempt.step, attempt.outcome, more.length], ["restart-services", "succeeded", 0]);
    assert.match(
      attempt.detail!,
      /^tomcat\.service restarted, its check passes \(GET \/api\/languages: 200\); agent healthy/,
    );
    assert.deepEqual(fleet.callsTo(web1, "drain"), [], "nothing to protect: never drained");
    const [consumed] = await outcomes(spec);
    assert.equal(consumed.consumed, true);
    assert.match(
      consumed.outcome!,
      new RegExp(
        `${web1}: had its failed services restarted at .*; healthy again \\(tomcat\\.service restarted, its check passes`,
      ),
    );
    const events = await env.audit.recent(spec.name);
    const done = events.find((e) => e.what === `node ${web1} had its failed services restarted`);
    assert.ok(done && /tomcat/.test(done.why), JSON.stringify(events));
    assert.match(JSON.stringify(done.details), /tomcat\.service restarted, its check passes/);
    assert.equal((await condition(spec, "HealBrake"))?.status, "False");
    assert.equal((await env.registry.get(spec.name))!.operation, undefined, "the claim is released");
    const last = (healStatus(spec)!.customStatus as HealStatus).lastAction;
    assert.deepEqual([last?.node, last?.step, last?.outcome], [web1, "restart-services", "succeeded"]);
    assert.match(last?.detail ?? "", /tomcat\.service/);
  });

  test("a Tomcat that crashes again after its unit restarts: the service restart fails, the VM restart follows", async () => {
    const spec = specOf("hlcrashloop");
    await deploy(spec);
    const [web1] = vmNames(spec);
    fleet.adopt(vmNames(spec));
    const since = lastSeq();
    const calls = fleet.calls.length;
    fleet.break(web1, "tomcat-crash-loop");
    await deliver(spec, signal(spec, { node: web1 }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    const ran = agentCallsSince(calls, [web1]);
    assert.deepEqual(ran.slice(0, 2), [`${web1} health`, `${web1} restart-services`], ran.join(" | "));
    assert.deepEqual(writes(spec, since).map(describeWrite), [
      `POST restart Microsoft.Compute/virtualMachines/${web1}/restart`,
    ]);
    const steps = (await attempts(spec, web1)).map((a) => [a.step, a.outcome]);
    assert.deepEqual(steps, [
      ["restart-services", "failed"],
      ["restart", "succeeded"],
    ]);
    const [failed] = await attempts(spec, web1);
    assert.match(failed.detail!, /tomcat\.service restarted, its check still fails/);
    const events = await env.audit.recent(spec.name);
    assert.ok(
      events.some((e) => e.what === `restart-services of node ${web1} failed`),
      JSON.stringify(events),
    );
    assert.ok(events.some((e) => e.what === `node ${web1} restarted`));
    assert.deepEqual(fleet.activeFaults(web1), []);
  });

  test("a hung node never gets restart-services; a database outage holds as before", async () => {
    const spec = specOf("hlnosvc", { fleet: { mode: "availabilitySet", size: 3, max: 3 } });
    await deploy(spec);
    const [web1, web2, web3] = vmNames(spec);
    fleet.adopt([web1, web2, web3]);
    const since = lastSeq();
    fleet.break(web1, "hung");
    await deliver(spec, signal(spec, { node: web1 }));
    const waiting = () => (healStatus(spec)?.customStatus as HealStatus | undefined)?.phase === "waiting";
    await env.host.runUntilIdle({ until: waiting });
    assert.deepEqual(fleet.callsTo(web1, "restart-services"), []);
    const [first] = await attempts(spec, web1);
    assert.equal(first.step, "restart");
    assert.equal(actions(writes(spec, since), "restart", web1).length, 1);
    fleet.repair(web1);
    await env.host.runUntilIdle();

    // two nodes fail the database: the common-dependency brake, no step, no service restart
    fleet.break(web2, "database-unreachable");
    fleet.break(web3, "database-unreachable");
    const before = lastSeq();
    await deliver(spec, signal(spec, { node: web2 }));
    await deliver(spec, signal(spec, { node: web3 }));
    await env.host.runUntilIdle({
      until: () => (healStatus(spec)?.customStatus as HealStatus | undefined)?.brake !== undefined,
    });
    assert.deepEqual([...fleet.callsTo(web2, "restart-services"), ...fleet.callsTo(web3, "restart-services")], []);
    assert.deepEqual(writes(spec, before).map(describeWrite), []);
    assert.equal((await attempts(spec, web2)).length + (await attempts(spec, web3)).length, 0);
    fleet.repair(web2);
    fleet.repair(web3);
    await env.host.runUntilIdle();
  });

  test("a node whose Tomcat died but a session is still live is drained before its service restart, like a restart", async () => {
    const spec = specOf("hltomcatlive", { policies: { scale: { drainTimeoutMinutes: 1 } } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    const calls = fleet.calls.length;
    fleet.setSessions(web1, 1);
    try {
      fleet.break(web1, "tomcat-down");
      await deliver(spec, signal(spec, { node: web1 }));
      await env.host.runUntilIdle();
    } finally {
      fleet.setSessions(web1, 0);
    }

    assertHealCompleted(spec);
    const ran = agentCallsSince(calls, [web1]);
    // the corroborating look saw a live session: drain on, its sessions get the drain timeout, the
    // service restart, and the drain is off once the node is healthy again
    assert.deepEqual(ran.slice(0, 2), [`${web1} health`, `${web1} drain on`], ran.join(" | "));
    assert.ok(ran.includes(`${web1} restart-services`), ran.join(" | "));
    assert.equal(ran.at(-1), `${web1} drain off`, ran.join(" | "));
    assert.deepEqual(
      fleet.callsTo(web1, "drain").map((c) => c.args[0]),
      ["on", "off"],
    );
    assert.deepEqual(writes(spec, since).map(describeWrite), []);
    const [attempt] = await attempts(spec, web1);
    assert.deepEqual([attempt.step, attempt.outcome], ["restart-services", "succeeded"]);
  });

  test("a hung node is restarted, redeployed, then replaced: same NIC, IP and pool, new identity, healthy", async () => {
    const spec = specOf("hlhung");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const names = stackNames(spec);
    const n1 = webNodeNames(spec, 1);
    const vmBefore = structuredClone(env.emulator.get(n1.vmId)!);
    const nic = env.emulator.get(n1.nicId)!;
    const ip = String(at((nic.properties.ipConfigurations as Doc[])[0], "properties.privateIPAddress"));
    // the stack has a certificate in Key Vault by now (issued by the certificate work)
    const vaultUri = String(at(env.emulator.get(names.keyVaultId), "properties.vaultUri"));
    await env.services.factory.secrets(vaultUri).setSecret("tls-bundle", "-----BEGIN PRIVATE KEY-----\n(test)");
    const since = lastSeq();
    fleet.break(web1, "hung");
    await deliver(spec, signal(spec, { backendIp: ip, summary: `DipAvailability 0 for ${ip}` }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    const done = writes(spec, since);
    assert.equal(actions(done, "restart", web1).length, 1);
    assert.equal(actions(done, "redeploy", web1).length, 1);
    // the new VM's identity gets the reads the old one had (each app user's secret), and the TLS
    // bundle's, which the vault holds now
    assert.deepEqual(done.filter((w) => w.operation !== "action").map(describeWrite), [
      `DELETE Microsoft.Compute/virtualMachines/${web1}`,
      `PUT Microsoft.Compute/virtualMachines/${web1}`,
      `DELETE Microsoft.Authorization/roleAssignments/${roleName(spec, 1)}`,
      `PUT Microsoft.Authorization/roleAssignments/${roleName(spec, 1)}`,
      `DELETE Microsoft.Authorization/roleAssignments/${roleName(spec, 1, SECRET_NAMES.dbAppPasswordB)}`,
      `PUT Microsoft.Authorization/roleAssignments/${roleName(spec, 1, SECRET_NAMES.dbAppPasswordB)}`,
      `PUT Microsoft.Authorization/roleAssignments/${roleName(spec, 1, SECRET_NAMES.tlsBundle)}`,
    ]);
    assert.equal(
      writes(spec, since).filter((w) => w.path.includes(web2)).length,
      0,
      "the healthy node was not touched",
    );

    const vmAfter = env.emulator.get(n1.vmId)!;
    assert.notEqual(at(vmAfter, "properties.vmId"), at(vmBefore, "properties.vmId"), "a new VM");
    assert.notEqual(at(vmAfter, "identity.principalId"), at(vmBefore, "identity.principalId"), "a new identity");
    assert.equal(
      String(at((at(vmAfter, "properties.networkProfile.networkInterfaces") as Doc[])[0], "id")).toLowerCase(),
      n1.nicId.toLowerCase(),
      "the same NIC",
    );
    const nicAfter = env.emulator.get(n1.nicId)!;
    assert.equal(
      at((nicAfter.properties.ipConfigurations as Doc[])[0], "properties.privateIPAddress"),
      ip,
      "the same private IP",
    );
    const lb = env.emulator.get(names.loadBalancerId)!;
    const pool = (lb.properties.backendAddressPools as Doc[])[0];
    assert.ok(
      (at(pool, "properties.backendIPConfigurations") as { id: string }[]).some((r) =>
        r.id.toLowerCase().startsWith(n1.nicId.toLowerCase()),
      ),
      "still in the backend pool",
    );
    const role = env.emulator.get(
      `${names.keyVaultId}/secrets/${SECRET_NAMES.dbAppPasswordA}/providers/Microsoft.Authorization/roleAssignments/${roleName(spec, 1)}`,
    )!;
    assert.equal(
      at(role, "properties.principalId"),
      at(vmAfter, "identity.principalId"),
      "the role follows the new identity",
    );
    assert.equal(powerStateOf(env.emulator, n1.vmId), "running");

    // the new node joined as every new node does (shared/node/join.ts): drained, the stack's
    // certificate, then its credentials, before it took traffic; healthy by probe and agent
    const newVmId = String(at(vmAfter, "properties.vmId"));
    const onNew = fleet.calls.filter((c) => c.vmId === newVmId).map((c) => `${c.command} ${c.args.join(" ")}`.trim());
    assert.ok(onNew.indexOf("drain on") < onNew.indexOf("install-cert --secret tls-bundle"), onNew.join(" | "));
    assert.ok(
      onNew.indexOf("install-cert --secret tls-bundle") < onNew.indexOf("db-credentials --user a"),
      onNew.join(" | "),
    );
    assert.ok(onNew.indexOf("db-credentials --user a") < onNew.lastIndexOf("drain off"), onNew.join(" | "));
    assert.deepEqual(fleet.activeFaults(web1), []);
    const ledger = await attempts(spec, web1);
    assert.deepEqual(
      ledger.map((a) => [a.step, a.outcome]),
      [
        ["restart", "failed"],
        ["redeploy", "failed"],
        ["replace", "succeeded"],
      ],
    );
    const custom = healStatus(spec)!.customStatusLog as HealStatus[];
    assert.ok(custom.some((s) => s.phase === "verifying" && s.lastAction?.step === "replace"));
  });

  test("a probe still down after the restart is looked at again in full before the node counts as healthy", async () => {
    const spec = specOf("hllagprobe");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const calls = fleet.calls.length;
    // Azure Monitor's DipAvailability lags the load balancer: the first reading after the node is
    // healthy again still says down
    const standIn = env.emulator.metrics.probeOf!;
    let lagging = 1;
    env.emulator.metrics.probeOf = (vm) => {
      const value = standIn(vm);
      if (vm.name !== web1 || value !== 100 || lagging === 0) return value;
      lagging--;
      return 0;
    };
    try {
      fleet.break(web1, "tomcat-down");
      await deliver(spec, signal(spec, { node: web1 }));
      await env.host.runUntilIdle();
    } finally {
      env.emulator.metrics.probeOf = standIn;
    }

    assertHealCompleted(spec);
    assert.equal(lagging, 0, "the probe was read after the node was healthy");
    assert.deepEqual(agentCallsSince(calls, [web1]), [
      `${web1} health`,
      `${web1} restart-services`,
      `${web1} health`,
      `${web1} health`,
    ]);
    const [attempt] = await attempts(spec, web1);
    assert.deepEqual([attempt.step, attempt.outcome], ["restart-services", "succeeded"]);
    assert.match(attempt.detail!, /agent healthy, probe 100 %/);
  });

  test("a deallocated VM is started: not a destructive step, not counted in the budget", async () => {
    const spec = specOf("hlstopped", { policies: { repair: { maxRepairsPerHour: 0 } } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const { factory } = env.services;
    await factory.compute(spec.subscriptionId).virtualMachines.deallocate(spec.resourceGroup, web1, factory.lro());
    const since = lastSeq();
    await deliver(spec, signal(spec, { node: web1, rule: "vm-availability", summary: "VmAvailabilityMetric 0" }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    assert.deepEqual(writes(spec, since).map(describeWrite), [
      `POST start Microsoft.Compute/virtualMachines/${web1}/start`,
    ]);
    assert.equal(powerStateOf(env.emulator, webNodeNames(spec, 1).vmId), "running");
    assert.deepEqual(fleet.callsTo(web1, "drain"), [], "nothing ran on it: nothing to drain");
    const [attempt] = await attempts(spec, web1);
    assert.deepEqual([attempt.step, attempt.outcome], ["start", "succeeded"]);
  });

  test("a node that recovers inside the debounce window triggers nothing", async () => {
    const spec = specOf("hldebounce");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    fleet.break(web1, "tomcat-down", "never");
    await deliver(spec, signal(spec, { node: web1 }));
    await env.host.runUntilIdle({
      until: () => (healStatus(spec)?.customStatus as HealStatus | undefined)?.phase === "debounce",
    });
    fleet.repair(web1); // Tomcat came back by itself
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    assert.deepEqual(writes(spec, since).map(describeWrite), []);
    assert.deepEqual(fleet.callsTo(web1, "drain"), []);
    const [consumed] = await outcomes(spec);
    assert.match(consumed.outcome!, /healthy: nothing to do/);
  });

  test("100 duplicate deliveries of one alert cause exactly one repair", async () => {
    const spec = specOf("hldup");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    fleet.break(web1, "tomcat-down");
    const one = signal(spec, { node: web1 });
    const recorded = await Promise.all(Array.from({ length: 100 }, () => env.inbox.record({ ...one })));
    assert.equal(recorded.filter((r) => r.recorded).length, 1);
    for (let i = 0; i < 100; i++) wake(spec);
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    assert.deepEqual(writes(spec, since).map(describeWrite), []);
    assert.equal(fleet.callsTo(web1, "restart-services").length, 1);
    assert.deepEqual(
      (await attempts(spec, web1)).map((a) => a.step),
      ["restart-services"],
    );
  });

  test("a new alert wakes heal from a backoff wait: the other node is repaired at once", async () => {
    const spec = specOf("hlwake", { fleet: { mode: "availabilitySet", size: 4, max: 4 } });
    await deploy(spec);
    const [web1, web2, web3, web4] = vmNames(spec);
    fleet.adopt([web1, web2, web3, web4]);
    const since = lastSeq();
    fleet.break(web1, "hung");
    await deliver(spec, signal(spec, { node: web1 }));
    const waiting = () => (healStatus(spec)?.customStatus as HealStatus | undefined)?.phase === "waiting";
    await env.host.runUntilIdle({ until: waiting });
    const backoffUntil = (healStatus(spec)!.customStatus as HealStatus).waitingUntil!;
    fleet.break(web2, "tomcat-down");
    await deliver(spec, signal(spec, { node: web2 })); // a running heal gets the "signal" event
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    const done = writes(spec, since);
    const web1Redeploy = actions(done, "redeploy", web1)[0];
    assert.ok(web1Redeploy, done.map(describeWrite).join("\n"));
    // web-2's Tomcat needed only its unit restarted: done before web-1's backoff ended
    const [web2Attempt] = await attempts(spec, web2);
    assert.deepEqual([web2Attempt.step, web2Attempt.outcome], ["restart-services", "succeeded"]);
    assert.ok(web2Attempt.startedAt < backoffUntil, `${web2Attempt.startedAt} vs ${backoffUntil}`);
  });

  test("a Resolved alert cancels the repair not yet started", async () => {
    const spec = specOf("hlresolved");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    fleet.break(web1, "tomcat-down", "never");
    const fired = signal(spec, { node: web1 });
    await deliver(spec, fired);
    await env.host.runUntilIdle({
      until: () => (healStatus(spec)?.customStatus as HealStatus | undefined)?.phase === "debounce",
    });
    await deliver(spec, signal(spec, { node: web1, condition: "Resolved", alertId: fired.alertId }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    assert.deepEqual(writes(spec, since).map(describeWrite), []);
    const all = await outcomes(spec);
    assert.deepEqual(
      all.map((o) => o.consumed),
      [true, true],
    );
    assert.ok(
      all.some((o) => /^cancelled: resolved by web-probe/.test(o.outcome ?? "")),
      JSON.stringify(all),
    );
  });
});

describe("heal: the fleet brake", () => {
  test("all nodes unhealthy: no destructive action, the status says the share brake held, an all-clear releases it", async () => {
    const spec = specOf("hlbrake");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    fleet.break(web1, "hung");
    fleet.break(web2, "hung");
    await deliver(spec, signal(spec, { summary: "VipAvailability 0" })); // no node: check every node
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    assert.deepEqual(writes(spec, since).map(describeWrite), [], "zero destructive actions");
    const brake = await condition(spec, "HealBrake");
    assert.equal(brake?.status, "True");
    assert.equal(brake?.reason, "UnhealthyShare");
    assert.match(brake.message, /2 of 2 nodes unhealthy \(100 %\), more than the policy's 50 %/);
    const engaged = (await env.audit.recent(spec.name)).find((e) => e.what === "fleet brake engaged: no repairs");
    assert.ok(engaged);
    assert.equal(engaged.details?.reason, "unhealthy-share");
    const custom = healStatus(spec)!.customStatusLog as HealStatus[];
    assert.ok(custom.some((s) => s.brake?.reason === "unhealthy-share"));
    const [consumed] = await outcomes(spec);
    assert.match(consumed.outcome!, /the fleet brake holds/);

    // the outage ends; the Resolved alert brings the all-clear
    fleet.repair(web1);
    fleet.repair(web2);
    await deliver(spec, signal(spec, { condition: "Resolved", summary: "VipAvailability 100" }));
    await env.host.runUntilIdle();
    assert.equal((await condition(spec, "HealBrake"))?.status, "False");
    assert.ok((await env.audit.recent(spec.name)).some((e) => e.what === "fleet brake released"));
    assert.equal((await env.repairs.get(spec.name)).brake, undefined);
    assert.deepEqual(writes(spec, since).map(describeWrite), []);
  });

  test("every unhealthy node reports the database unreachable: the common-dependency brake holds", async () => {
    const spec = specOf("hldb", {
      fleet: { mode: "availabilitySet", size: 3 },
      policies: { repair: { maxUnhealthyPercent: 80 } },
    });
    await deploy(spec);
    const [web1, web2, web3] = vmNames(spec);
    fleet.adopt([web1, web2, web3]);
    const since = lastSeq();
    fleet.break(web1, "database-unreachable");
    fleet.break(web2, "database-unreachable");
    await deliver(spec, signal(spec, { node: web1 }));
    await deliver(spec, signal(spec, { node: web2 }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    assert.deepEqual(writes(spec, since).map(describeWrite), [], "zero destructive actions");
    const brake = await condition(spec, "HealBrake");
    assert.equal(brake?.reason, "CommonDependency");
    assert.match(brake.message, /fail the same dependency, database/);
    assert.deepEqual(fleet.callsTo(web1, "drain"), []);
  });
});

describe("heal: repairs disabled by policy", () => {
  test("nothing is done, and the audit trail and the signal's outcome say why", async () => {
    const spec = specOf("hloff", { policies: { repair: { enabled: false } } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    fleet.break(web1, "tomcat-down");
    await deliver(spec, signal(spec, { node: web1 }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    assert.deepEqual(writes(spec, since).map(describeWrite), []);
    const event = (await env.audit.recent(spec.name)).find((e) => e.what === "no repair: repairs are disabled");
    assert.match(event!.why, new RegExp(`policies.repair.enabled is false; ${web1}: failing: tomcat`));
    assert.match((await outcomes(spec))[0].outcome!, /repairs are disabled by the stack's policy/);
  });
});

describe("heal: budget and suspension", () => {
  /** Breaks the node again after every repair and alerts, until heal stops repairing it. */
  async function breakAfterEveryRepair(spec: StackSpec, node: string, rounds: number) {
    for (let i = 0; i < rounds; i++) {
      fleet.break(node, "tomcat-down");
      await deliver(spec, signal(spec, { node, summary: `round ${i + 1}` }));
      await env.host.runUntilIdle();
      assertHealCompleted(spec);
    }
  }

  test("a node that fails again after every repair climbs the ladder, then is suspended with a reason", async () => {
    const spec = specOf("hlsuspend");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    await breakAfterEveryRepair(spec, web1, 5);

    const ledger = (await env.repairs.get(spec.name)).nodes[web1];
    assert.deepEqual(
      ledger.attempts.map((a) => [a.step, a.outcome, a.relapsed ?? false]),
      [
        // its failed Tomcat unit first, then the VM ladder
        ["restart-services", "succeeded", true],
        ["restart", "succeeded", true],
        ["redeploy", "succeeded", true],
      ],
    );
    assert.match(ledger.suspended!.reason, /3 repairs in a row did not fix/);
    const done = writes(spec, since);
    assert.equal(actions(done, "restart").length + actions(done, "redeploy").length, 2);
    assert.equal(done.filter((w) => w.method === "DELETE" && w.path.endsWith(`/virtualMachines/${web1}`)).length, 0);
    const suspended = await condition(spec, "NodeSuspended");
    assert.equal(suspended?.status, "True");
    assert.match(suspended.message, new RegExp(`${web1}: 3 repairs in a row`));
    assert.ok((await env.audit.recent(spec.name)).some((e) => e.what === `repairs of ${web1} suspended`));
    const last = await outcomes(spec);
    assert.match(last[0].outcome!, /repairs suspended/);
  });

  test("the hourly budget holds: the third repair waits until the first leaves the window", async () => {
    const spec = specOf("hlbudget", { policies: { repair: { maxRepairsPerHour: 2, suspendAfterFailedRepairs: 10 } } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    await breakAfterEveryRepair(spec, web1, 3);

    const tried = await attempts(spec, web1);
    assert.deepEqual(
      tried.map((a) => a.step),
      ["restart-services", "restart", "redeploy"],
    );
    const hour = 60 * 60_000;
    assert.ok(
      Date.parse(tried[2].startedAt) >= Date.parse(tried[0].startedAt) + hour,
      `third at ${tried[2].startedAt}, first at ${tried[0].startedAt}`,
    );
    assert.ok(Date.parse(tried[1].startedAt) < Date.parse(tried[0].startedAt) + hour);
    const deferred = (await env.audit.recent(spec.name)).find((e) => e.what === `repair of ${web1} deferred`);
    assert.match(deferred!.why, /budget of 2 destructive repair\(s\) per hour is spent/);
    const custom = healStatus(spec)!.customStatusLog as HealStatus[];
    assert.ok(custom.some((s) => s.phase === "waiting" && s.decisions.some((d) => /budget/.test(d))));
  });
});

describe("heal: scale set", () => {
  test("a hung instance: restart, redeploy, reimage, then delete-and-replace; the new instance is healthy in the pool", async () => {
    const spec = specOf("hlvmss", {
      fleet: { mode: "scaleSet", size: 2, max: 2, zones: ["1", "2"] },
      policies: { repair: { suspendAfterFailedRepairs: 5 } },
    });
    await deploy(spec);
    const before = vmNames(spec);
    fleet.adopt(before);
    const [sick, well] = before;
    const since = lastSeq();
    fleet.break(sick, "hung");
    await deliver(spec, signal(spec, { node: sick }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    const done = writes(spec, since);
    const names = stackNames(spec);
    assert.equal(actions(done, "restart", sick).length, 1);
    assert.equal(actions(done, "redeploy", sick).length, 1);
    assert.equal(actions(done, "reimage").length, 1);
    assert.equal(actions(done, "delete").length, 1, "deleteInstances");
    assert.equal(done.filter((w) => w.path.includes(well)).length, 0);
    const after = vmNames(spec);
    assert.equal(after.length, 2);
    assert.ok(!after.includes(sick));
    const replacement = after.find((n) => n !== well)!;
    const set = env.emulator.get(names.scaleSetId)!;
    assert.equal(at(set, "sku.capacity"), 2);
    const vm = env.emulator.store.all().find((d) => d.name === replacement)!;
    const nicId = String(at((at(vm, "properties.networkProfile.networkInterfaces") as Doc[])[0], "id"));
    const pool = (env.emulator.get(names.loadBalancerId)!.properties.backendAddressPools as Doc[])[0] ?? {};
    assert.ok(
      (at(pool, "properties.backendIPConfigurations") as { id: string }[]).some((r) =>
        r.id.toLowerCase().startsWith(nicId.toLowerCase()),
      ),
      "the new instance is in the backend pool",
    );
    const tried = await attempts(spec, sick);
    assert.deepEqual(
      tried.map((a) => [a.step, a.outcome]),
      [
        ["restart", "failed"],
        ["redeploy", "failed"],
        ["reimage", "failed"],
        ["replace", "succeeded"],
      ],
    );
    assert.match(tried[3].detail!, new RegExp(`new instance ${replacement}`));
  });
});

describe("heal: one writer per stack", () => {
  test("heal waits for a running deploy; its first write comes after the deploy's last; a PUT while heal repairs is refused", async () => {
    const spec = specOf("hlwriter");
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    // a Tomcat its unit's restart does not bring back: heal's repair comes to a VM restart (an ARM write)
    fleet.break(web1, "tomcat-crash-loop");
    const since = lastSeq();
    // a new generation (new tags: a write to every tagged resource) whose deploy runs now
    const changed = specOf("hlwriter", { tags: { owner: "ops" } });
    const deployId = await deploy(changed, { run: false, nodeReadyTimeoutMinutes: 10 });
    await deliver(spec, signal(spec, { node: web1 }));
    const client = new InMemoryDurableClient(env.host);
    await env.host.runUntilIdle({
      until: () => (healStatus(spec)?.customStatus as HealStatus | undefined)?.phase === "repairing",
    });
    const busy = await claimStack(client, spec.name, "deploy", {
      spec: changed,
      instanceIdFor: (g) => InstanceIds.deploy(spec.name, g, "x"),
    });
    const refused = busy.ok ? undefined : `${busy.running.kind} ${busy.running.instanceId}`;
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    // the deploy could not finish (web-1 was broken) and released the stack; then heal repaired it
    assert.equal(env.host.getStatus(deployId)!.runtimeStatus, "Failed");
    const all = writes(spec, since);
    const firstHeal = all.findIndex((w) => w.action === "restart");
    assert.ok(firstHeal > 0, all.map(describeWrite).join("\n"));
    const deployWrites = all.filter((w) => w.method === "PUT");
    assert.ok(deployWrites.length > 5, "the deploy wrote the new tags");
    assert.ok(
      deployWrites.every((w) => w.seq < all[firstHeal].seq),
      "no deploy write after heal's first",
    );
    const custom = healStatus(spec)!.customStatusLog as HealStatus[];
    assert.ok(
      custom.some((s) => s.phase === "waiting-for-stack" && s.waitingFor?.startsWith(`deploy ${deployId}`)),
      JSON.stringify(custom.map((s) => s.waitingFor)),
    );
    assert.equal(refused, `heal ${InstanceIds.heal(spec.name)}`, "a PUT while heal holds the stack gets 409 naming it");
  });
});

/** Web node `index`'s read of one secret: a name-based UUID of (the secret, VM name, role). */
function roleName(spec: StackSpec, index: number, secret: string = SECRET_NAMES.dbAppPasswordA): string {
  const names = stackNames(spec);
  return roleAssignmentName(
    `${names.keyVaultId}/secrets/${secret}`,
    webNodeNames(spec, index).vm,
    ROLE_DEFINITIONS.keyVaultSecretsUser,
  );
}

describe("heal: a person resumes what healing stopped", () => {
  let rpc: DurableRpcServer;
  before(async () => {
    rpc = await startDurableRpcServer(env.host);
  });
  after(async () => {
    await rpc?.close();
  });

  /** POST /api/stacks/{name}/heal/resume through the registered handler, as the host calls it. */
  async function resume(stack: string, body?: unknown, contentType = "application/json") {
    const registration = fromRegistry().http[Names.http.resumeHeal];
    assert.ok(registration, "the resume route is registered");
    const request = new HttpRequest({
      method: "POST",
      url: `http://127.0.0.1/api/stacks/${stack}/heal/resume`,
      headers: body === undefined ? {} : { "content-type": contentType },
      params: { name: stack },
      body: body === undefined ? undefined : { string: typeof body === "string" ? body : JSON.stringify(body) },
    });
    const context = durableClientContextFor(registration, rpc.clientData());
    const res = (await registration.handler(request, context)) as HttpResponseInit;
    const answer: unknown = res.jsonBody ?? (typeof res.body === "string" ? JSON.parse(res.body) : {});
    return { status: res.status ?? 200, body: answer as Doc };
  }

  test("releasing the brake lets heal repair every broken node, within the budget; bad requests change nothing", async () => {
    const spec = specOf("hlresume", { policies: { repair: { maxRepairsPerHour: 10 } } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    fleet.break(web1, "tomcat-down");
    fleet.break(web2, "tomcat-down");
    await deliver(spec, signal(spec, { summary: "VipAvailability 0" }));
    await env.host.runUntilIdle();
    assert.equal((await condition(spec, "HealBrake"))?.status, "True");
    const since = lastSeq();

    for (const [body, status] of [
      [{ bogus: 1 }, 422],
      [{ overrideMinutes: 0 }, 422],
      [{ node: web1 }, 404], // not suspended
      ["{nope", 400],
    ] as const) {
      assert.equal((await resume(spec.name, body)).status, status, JSON.stringify(body));
    }
    assert.equal((await resume("nosuchstack")).status, 404);
    assert.equal((await env.repairs.get(spec.name)).brakeOverride, undefined, "refused requests changed nothing");

    const answer = await resume(spec.name, { overrideMinutes: 120 });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((answer.body.brakeWasHeld as Doc | null)?.reason, "unhealthy-share");
    const calls = fleet.calls.length;
    await env.host.runUntilIdle();

    // one look at both corroborates; the first repair starts on it, the second looks again first
    // (its node may have changed while the first was repaired)
    const ran = agentCallsSince(calls);
    assert.deepEqual(new Set(ran.slice(0, 2)), new Set([`${web1} health`, `${web2} health`]), ran.join("\n"));
    // no live sessions and both probes down: neither drain protects anything (v5); each node's
    // failed Tomcat unit is restarted, no VM is (v6)
    const [first, second] = ran[2] === `${web1} restart-services` ? [web1, web2] : [web2, web1];
    assert.deepEqual(ran.slice(2), [
      `${first} restart-services`,
      `${first} health`,
      `${second} health`,
      `${second} restart-services`,
      `${second} health`,
    ]);
    const done = writes(spec, since);
    assert.deepEqual(done.map(describeWrite), []);
    assert.deepEqual([fleet.activeFaults(web1), fleet.activeFaults(web2)], [[], []]);
    const brake = await condition(spec, "HealBrake");
    assert.equal(brake?.status, "False");
    assert.ok(["Overridden", "NotHeld"].includes(brake.reason), brake.reason);
    const events = await env.audit.recent(spec.name);
    const released = events.find((e) => e.what === "fleet brake overridden");
    assert.ok(released, JSON.stringify(events.map((e) => e.what)));
    assert.match(released.why, /a person released the brake .*2 of 2 nodes unhealthy/);
    assert.ok(events.some((e) => e.what === `node ${web2} had its failed services restarted`));
  });
});

describe("heal: secrets", () => {
  test("no secret value appears in heal's histories, statuses, ledger, audit trail or alert outcomes", async () => {
    const secrets: string[] = [];
    for (const vault of env.emulator.store.all().filter((d) => d.type === "Microsoft.KeyVault/vaults")) {
      secrets.push(...env.emulator.keyVault.secretValues(vault.name).filter((v) => !v.startsWith("ssh-")));
    }
    assert.ok(secrets.length >= 8, `expected the stacks' generated secrets, found ${secrets.length}`);
    const haystacks = [JSON.stringify(env.host.listInstances().filter((i) => i.instanceId.startsWith("heal-")))];
    for (const stack of await env.registry.list()) {
      haystacks.push(
        JSON.stringify(await env.audit.all(stack.name)),
        JSON.stringify(await env.inbox.recent(stack.name)),
        JSON.stringify(await env.repairs.get(stack.name)),
        JSON.stringify(stack.conditions),
      );
    }
    const text = haystacks.join("\n");
    assert.ok(text.includes("heal"), "the haystack holds heal's records");
    for (const secret of secrets) assert.ok(!text.includes(secret), "a secret value leaked");
  });
});

/** Node agent commands sent through Run Command after `since`, from the emulator's journal. */
function agentCalls(spec: StackSpec, since: number): { vm: string; words: string }[] {
  const rg = `/resourcegroups/${spec.resourceGroup.toLowerCase()}/`;
  return env.emulator.journal
    .list({ operation: "action" })
    .filter((e) => e.seq > since && e.action?.toLowerCase() === "runcommand" && e.path.toLowerCase().includes(rg))
    .map((e) => ({
      vm: /virtualMachines\/([^/]+)\//i.exec(e.path)![1],
      words: agentWords(((e.body as { script?: string[] } | undefined)?.script ?? []).join("\n")).join(" "),
    }));
}

describe("heal: surge (room below fleet.max)", () => {
  test("availability set, hung node: a replacement joins while the restart is tried; it wins, the hung node is removed", async () => {
    const spec = specOf("hlsurge", { fleet: { mode: "availabilitySet", size: 2, max: 3 } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const names = stackNames(spec);
    const vaultUri = String(at(env.emulator.get(names.keyVaultId), "properties.vaultUri"));
    await env.services.factory.secrets(vaultUri).setSecret("tls-bundle", "-----BEGIN PRIVATE KEY-----\n(test)");
    const since = lastSeq();
    fleet.break(web1, "hung");
    await deliver(spec, signal(spec, { node: web1 }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    const web3 = webNodeNames(spec, 3).vm;
    assert.deepEqual(vmNames(spec), [web2, web3], "the fleet is back to its size: web-3 in place of web-1");
    const done = writes(spec, since);
    assert.equal(actions(done, "restart", web1).length, 1, "the cheap step was tried");
    assert.equal(actions(done, "redeploy", web1).length, 0, "no climb up the ladder");
    assert.equal(done.filter((w) => w.path.includes(web2)).length, 0, "the healthy node was not touched");
    // web-3 came in through the scale-out path: its NIC, VM and roles, then web-1's were removed
    const described = done.filter((w) => w.operation !== "action").map(describeWrite);
    assert.ok(described.indexOf(`PUT Microsoft.Compute/virtualMachines/${web3}`) >= 0, described.join("\n"));
    assert.ok(
      described.indexOf(`PUT Microsoft.Compute/virtualMachines/${web3}`) <
        described.indexOf(`DELETE Microsoft.Compute/virtualMachines/${web1}`),
      described.join("\n"),
    );
    assert.ok(described.includes(`DELETE Microsoft.Network/networkInterfaces/${webNodeNames(spec, 1).nic}`));
    // it joined as every new node does: the stack's certificate before it counted
    const onNew = agentCalls(spec, since)
      .filter((c) => c.vm === web3)
      .map((c) => c.words);
    assert.ok(onNew.includes("install-cert --secret tls-bundle"), onNew.join(" | "));
    assert.equal(onNew.at(-1), "health", onNew.join(" | "));
    const nic3 = webNodeNames(spec, 3).nicId.toLowerCase();
    const pool = (env.emulator.get(names.loadBalancerId)!.properties.backendAddressPools as Doc[])[0];
    assert.ok(
      (at(pool, "properties.backendIPConfigurations") as { id: string }[]).some((r) =>
        r.id.toLowerCase().startsWith(nic3),
      ),
      "web-3 is in the backend pool",
    );
    // the fleet state, the ledger and the audit trail say what happened
    const state = await env.fleet.get(spec.name);
    assert.deepEqual([state?.size, state?.ordinals], [2, [2, 3]]);
    const [attempt, ...more] = await attempts(spec, web1);
    assert.deepEqual([attempt.step, attempt.outcome, more.length], ["restart", "succeeded", 0]);
    assert.match(attempt.detail!, new RegExp(`surge node ${web3} healthy first; ${web1} removed`));
    const audit = await env.audit.recent(spec.name);
    assert.ok(audit.some((e) => e.what === `node ${web1} replaced by surge node ${web3}`));
    const [consumed] = await outcomes(spec);
    assert.match(consumed.outcome ?? "", /replaced by surge node .*capacity healthy again/);
  });

  test("the restart takes effect while the surge node comes up: the cheap step wins, the surge node is drained and removed", async () => {
    const spec = specOf("hlsurgeback", { fleet: { mode: "availabilitySet", size: 2, max: 3 } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    fleet.break(web1, "hung");
    await deliver(spec, signal(spec, { node: web1 }));
    await env.host.runUntilIdle({
      until: () => (healStatus(spec)?.customStatus as HealStatus | undefined)?.phase === "surging",
    });
    fleet.repair(web1); // the node is back from its restart before the race is judged
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    const web3 = webNodeNames(spec, 3).vm;
    assert.deepEqual(vmNames(spec), [web1, web2], "the fleet is back to its size, web-1 kept");
    const described = writes(spec, since)
      .filter((w) => w.operation !== "action")
      .map(describeWrite);
    assert.ok(described.includes(`PUT Microsoft.Compute/virtualMachines/${web3}`), described.join("\n"));
    assert.ok(described.includes(`DELETE Microsoft.Compute/virtualMachines/${web3}`), described.join("\n"));
    assert.ok(!described.some((d) => d.startsWith("DELETE") && d.includes(web1)), described.join("\n"));
    // the surge node served meanwhile: it was drained before it went
    const onSurge = agentCalls(spec, since)
      .filter((c) => c.vm === web3)
      .map((c) => c.words);
    assert.ok(onSurge.includes("drain on"), onSurge.join(" | "));
    const state = await env.fleet.get(spec.name);
    assert.deepEqual([state?.size, state?.ordinals], [2, [1, 2]]);
    const [attempt] = await attempts(spec, web1);
    assert.deepEqual([attempt.step, attempt.outcome], ["restart", "succeeded"]);
    assert.match(attempt.detail!, new RegExp(`the cheap step won the race: surge node ${web3} drained and removed`));
    // hung before its step, web-1 was never drained; it is verified like any restarted node
    assert.deepEqual(fleet.callsTo(web1, "drain"), []);
    const [consumed] = await outcomes(spec);
    assert.match(consumed.outcome ?? "", new RegExp(`${web1}: restarted .*healthy again`));
  });

  test("a surge node that never answers is removed again; the ladder goes on and the fleet keeps its size", async () => {
    const spec = specOf("hlsurgefail", { fleet: { mode: "availabilitySet", size: 2, max: 3 } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const web3 = webNodeNames(spec, 3).vm;
    env.emulator.runCommand.setVm(web3, "unreachable");
    try {
      fleet.break(web1, "hung");
      await deliver(spec, signal(spec, { node: web1 }));
      await env.host.runUntilIdle();
    } finally {
      env.emulator.runCommand.setVm(web3, undefined);
    }

    assertHealCompleted(spec);
    assert.deepEqual(vmNames(spec), [web1, web2], "no surge node left behind");
    assert.equal(env.emulator.get(webNodeNames(spec, 3).nicId), undefined, "its NIC went too");
    const ledger = await attempts(spec, web1);
    assert.deepEqual(
      ledger.map((a) => [a.step, a.outcome]),
      [
        ["restart", "failed"],
        ["redeploy", "failed"],
        ["replace", "succeeded"],
      ],
    );
    assert.match(ledger[0].detail!, /surge replacement did not come up .*removed again/);
    const failed = (await env.audit.recent(spec.name)).filter((e) => e.what === `surge replacement for ${web1} failed`);
    assert.equal(failed.length, 2, "the restart's and the redeploy's surge");
    const state = await env.fleet.get(spec.name);
    assert.deepEqual([state?.size, state?.ordinals], [2, [1, 2]]);
  });

  test("a node whose Tomcat died: its service restart wins at the first look, no surge", async () => {
    const spec = specOf("hlsurgetc", { fleet: { mode: "availabilitySet", size: 2, max: 3 } });
    await deploy(spec);
    const [web1, web2] = vmNames(spec);
    fleet.adopt([web1, web2]);
    const since = lastSeq();
    const calls = fleet.calls.length;
    fleet.break(web1, "tomcat-down");
    await deliver(spec, signal(spec, { node: web1 }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    assert.deepEqual(vmNames(spec), [web1, web2]);
    // the surge's first look is the verification's: room to surge costs the service restart no Run Command
    assert.deepEqual(agentCallsSince(calls, [web1]), [`${web1} health`, `${web1} restart-services`, `${web1} health`]);
    assert.deepEqual(agentCallsSince(calls, [web2]), [`${web2} health`]);
    assert.deepEqual(writes(spec, since).map(describeWrite), []);
    assert.equal(await env.fleet.get(spec.name), undefined, "no fleet change recorded");
  });

  test("scale set, hung instance: a new instance joins, the hung one is deleted, capacity back to 2", async () => {
    const spec = specOf("hlsurgess", { fleet: { mode: "scaleSet", size: 2, max: 3, zones: ["1", "2"] } });
    await deploy(spec);
    const before = vmNames(spec);
    fleet.adopt(before);
    const [sick, well] = before;
    const since = lastSeq();
    fleet.break(sick, "hung");
    await deliver(spec, signal(spec, { node: sick }));
    await env.host.runUntilIdle();

    assertHealCompleted(spec);
    const after = vmNames(spec);
    assert.equal(after.length, 2);
    assert.ok(!after.includes(sick) && after.includes(well), after.join(", "));
    const surge = after.find((n) => n !== well)!;
    assert.equal(at(env.emulator.get(stackNames(spec).scaleSetId)!, "sku.capacity"), 2);
    const done = writes(spec, since);
    assert.equal(actions(done, "restart", sick).length, 1);
    assert.equal(actions(done, "reimage").length, 0);
    assert.equal(actions(done, "delete").length, 1, "deleteInstances of the hung one");
    const [attempt] = await attempts(spec, sick);
    assert.match(attempt.detail!, new RegExp(`surge node ${surge} healthy first; ${sick} removed`));
    assert.equal((await env.fleet.get(spec.name))?.size, 2);
  });
});
