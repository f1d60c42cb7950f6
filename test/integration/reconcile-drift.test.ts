// The drift check (functions/timers/drift-check.ts: screening through Resource Graph, then a
// reconcile of the suspects only) and reconcileStack's apply branch, on the
// durable test host (virtual clock) with the emulator and Azurite. The timer's registered handler is
// called with the InvocationContext the worker would pass, so df.getClient(context) is the real
// DurableClient talking to the host over the extension's RPC routes. Two stacks are deployed; then
// one is changed behind Jumpgate's back (an SSH rule in the web NSG, the load balancer's probe, the
// public IP's idle timeout) and the reconcile must write back exactly those resources, record the
// drift in the registry and the audit trail, and leave the other stack without a single write. A
// resource whose stack tag was removed is no longer provably the stack's: the plan shows a conflict,
// the repair closes the rest and leaves it untouched, until the spec adopts it back. Child resources
// are screened too: a private DNS zone link changed less than the lag ago (ARM's changedTime), a
// role assignment deleted (Resource Graph's authorizationresources), and a stored document changed
// in place without a request are all confirmed and repaired. The timer skips a stack a live
// operation holds (and logs why), and takes over a claim whose instance is gone.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { format } from "node:util";
import { after, before, describe, test } from "node:test";
import * as df from "durable-functions";
import {
  durableClientContextFor,
  fromRegistry,
  startDurableRpcServer,
  type DurableRpcServer,
} from "../../emulator/durable";
import { InstanceIds, Names } from "../../functions/names";
import type { DeployInput } from "../../functions/orchestrators/deploy-stack";
import type { ReconcileOutput } from "../../functions/orchestrators/reconcile-stack";
import { stackNames, STACK_TAG_NAME } from "../../shared/graph/names";
import { API_VERSIONS } from "../../shared/graph/stack-graph";
import { NODE_PROBE } from "../../shared/node/constants";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
// after the environment, which installs the durable test host before the app registers its functions
import { runDriftCheck as driftCheckRun, type DriftCheckResult } from "../../functions/timers/drift-check";
import { armGetRaw } from "../../dev/azure";
import { standInAgentRoot } from "../../dev/stand-in-agent";

const SUB = "00000000-0000-0000-0000-00000000d41f";

function specOf(name: string): StackSpec {
  const r = validateStackSpec({
    name,
    subscriptionId: SUB,
    resourceGroup: `rg-${name}`,
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 1, min: 1, max: 2 },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

describe("drift check timer and reconcileStack", () => {
  const drifty = specOf("drifty");
  const steady = specOf("steady");
  let env: JumpgateEnv;
  let rpc: DurableRpcServer;
  let root: string;

  /**
   * Runs the drift check over every stack (every slot of the hour) with the real DurableClient of the
   * registered timer's context, then the orchestrations it started. `fullCheck` pins whether the
   * stacks' full check is due (the schedule's answer depends on the hour).
   */
  async function runDriftCheck(fullCheck = false): Promise<DriftCheckResult & { logs: string[]; ids: string[] }> {
    const registration = fromRegistry().timers[Names.timers.driftCheck];
    assert.ok(registration, "the drift check timer is registered");
    assert.equal(registration.schedule, "0 2-59/5 * * * *");
    const logs: string[] = [];
    const context = durableClientContextFor(registration, rpc.clientData(), {
      logHandler: (_level, ...args) => logs.push(format(...args)),
    });
    const before = new Set(env.host.listInstances().map((i) => i.instanceId));
    const result = await driftCheckRun(df.getClient(context), new Date(), {
      allSlots: true,
      fullCheck,
      log: (line) => logs.push(line),
    });
    const ids = env.host
      .listInstances()
      .map((i) => i.instanceId)
      .filter((id) => !before.has(id) && id.startsWith("reconcile-") && !/-(plan|apply)$/.test(id));
    await env.host.runUntilIdle();
    return { ...result, logs, ids };
  }

  const reconcileOf = (ids: string[], stack: string) => {
    const id = ids.find((i) => i.startsWith(`reconcile-${stack}-`));
    assert.ok(id, `a reconcile of ${stack} was started (${ids.join(", ")})`);
    const instance = env.host.getStatus(id)!;
    assert.equal(instance.runtimeStatus, "Completed", JSON.stringify(instance.output));
    return { id, output: instance.output as ReconcileOutput };
  };

  /** ARM writes to one stack's resource group, and every data-plane write to any vault. */
  const writesTo = (spec: StackSpec) =>
    env.emulator.journal
      .writes()
      .filter((w) => w.path.toLowerCase().includes(`/resourcegroups/${spec.resourceGroup.toLowerCase()}/`));
  const secretWrites = () => env.emulator.journal.list({ operation: "secret" }).filter((e) => e.method !== "GET");

  before(async () => {
    root = standInAgentRoot("jumpgate-drift-node-");
    env = await startJumpgateEnv({
      emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
      // Resource Graph in step with ARM here; the lag has its own test
      drift: { resourceGraphLagMs: 0 },
    });
    rpc = await startDurableRpcServer(env.host);
    for (const spec of [drifty, steady]) {
      await env.registry.putDesired(spec.name, spec);
      const input: DeployInput = { spec, generation: 1, nodeReadyTimeoutMinutes: 30 };
      const status = await env.host.run(Names.orchestrators.deployStack, input, { instanceId: `deploy-${spec.name}` });
      assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    }
  });

  after(async () => {
    await rpc?.close();
    await env?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("stacks nobody changed: screened through Resource Graph, no reconcile, no ARM read of a resource, not one write", async () => {
    env.emulator.journal.clear();
    const run = await runDriftCheck();
    assert.deepEqual(run.started, [], run.logs.join("\n"));
    assert.deepEqual([...run.inSync].sort(), ["drifty", "steady"]);
    assert.deepEqual(
      run.requests,
      { resourceGraph: 2, arm: 1 },
      "two queries (resources, role assignments) and one list for the subscription",
    );
    assert.match(run.logs.join("\n"), /2 stack\(s\) screened with 2 Resource Graph and 1 ARM request\(s\), 2 in sync/);
    assert.deepEqual(
      env.emulator.journal.list().map((e) => `${e.method} ${e.operation}`),
      ["POST resource-graph", "POST resource-graph", "GET list"],
      "nothing but the screening reached Azure",
    );
    assert.deepEqual(secretWrites(), []);
    for (const spec of [drifty, steady]) {
      assert.ok(!(await env.audit.all(spec.name)).some((e) => e.what === "drift detected"));
      assert.equal((await env.registry.get(spec.name))?.operation, undefined, "nobody claimed the stack");
    }
  });

  test("the full check reads every resource through ARM: a reconcile each, nothing drifted, not one write", async () => {
    env.emulator.journal.clear();
    const run = await runDriftCheck(true);
    assert.deepEqual([...run.started].sort(), ["drifty", "steady"]);
    for (const spec of [drifty, steady]) {
      const { id, output } = reconcileOf(run.ids, spec.name);
      assert.deepEqual(output, { drifted: false, changes: [] });
      assert.equal(env.host.getStatus(`${id}-apply`), undefined, "an unchanged stack is not deployed again");
      const record = await env.registry.get(spec.name);
      assert.deepEqual(record?.observed?.drift?.changes, []);
      assert.equal(record?.operation, undefined, "the reconcile released the stack");
    }
    assert.deepEqual(
      env.emulator.journal.writes().map((w) => `${w.method} ${w.path}`),
      [],
    );
    assert.deepEqual(secretWrites(), []);
  });

  test("drift behind Jumpgate's back: the reconcile writes back exactly the drifted resources and records them", async () => {
    const names = stackNames(drifty);
    const net = env.services.factory.network(SUB);
    const call = () => env.services.factory.call();
    const lro = () => env.services.factory.lro();
    const rg = drifty.resourceGroup;
    // someone opens SSH to the world ...
    await net.securityRules.beginCreateOrUpdateAndWait(
      rg,
      `${drifty.name}-web-nsg`,
      "ssh-from-anywhere",
      {
        protocol: "Tcp",
        sourceAddressPrefix: "*",
        sourcePortRange: "*",
        destinationAddressPrefix: "*",
        destinationPortRange: "22",
        access: "Allow",
        priority: 150,
        direction: "Inbound",
      },
      lro(),
    );
    // ... slows the load balancer's probe down ...
    const lb = await net.loadBalancers.get(rg, `${drifty.name}-lb`, call());
    lb.probes![0].intervalInSeconds = 60;
    await net.loadBalancers.beginCreateOrUpdateAndWait(rg, `${drifty.name}-lb`, lb, lro());
    // ... and changes the public IP's idle timeout
    const pip = await net.publicIPAddresses.get(rg, `${drifty.name}-pip`, call());
    await net.publicIPAddresses.beginCreateOrUpdateAndWait(
      rg,
      `${drifty.name}-pip`,
      { ...pip, idleTimeoutInMinutes: 10 },
      lro(),
    );

    env.emulator.journal.clear();
    const run = await runDriftCheck();
    assert.deepEqual(run.started, ["drifty"], "only the changed stack is confirmed through ARM");
    assert.deepEqual(run.inSync, ["steady"]);

    const { id, output } = reconcileOf(run.ids, drifty.name);
    // only the suspects were read through ARM: the plan read 3 of the stack's resources
    const planned = env.emulator.journal
      .list({ method: "GET" })
      .filter(
        (e) => e.operation === "get" && e.path.toLowerCase().includes(`/resourcegroups/${drifty.resourceGroup}/`),
      );
    assert.ok(planned.length > 0);
    assert.equal(output.drifted, true);
    const drift = output.changes.map((c) => [c.key, c.action]);
    assert.deepEqual(drift, [
      ["nsg:web", "update"],
      ["pip", "update"],
      ["lb", "update"],
    ]);
    const paths = Object.fromEntries(output.changes.map((c) => [c.key, c.changes.map((x) => x.path)]));
    assert.ok(
      paths["nsg:web"].some((p) => p.startsWith("properties.securityRules")),
      JSON.stringify(paths),
    );
    assert.deepEqual(paths.lb, ["properties.probes[node-health].properties.intervalInSeconds"]);
    assert.deepEqual(paths.pip, ["properties.idleTimeoutInMinutes"]);

    // exactly the three drifted resources were written back (run commands only read node health)
    const writes = writesTo(drifty);
    assert.deepEqual(
      writes
        .filter((w) => w.operation !== "action")
        .map((w) => `${w.method} ${w.path}`)
        .sort(),
      [`PUT ${names.loadBalancerId}`, `PUT ${names.publicIpId}`, `PUT ${names.webNsgId}`].sort(),
    );
    assert.ok(
      writes.filter((w) => w.operation === "action").every((w) => w.action?.toLowerCase() === "runcommand"),
      JSON.stringify(writes.map((w) => w.action)),
    );
    assert.deepEqual(secretWrites(), []);
    const apply = env.host.getStatus(`${id}-apply`);
    assert.equal(apply?.runtimeStatus, "Completed", "the apply ran as a deploy sub-orchestration");

    // Azure is back to the spec
    const nsg = await net.networkSecurityGroups.get(rg, `${drifty.name}-web-nsg`, call());
    assert.ok(!nsg.securityRules!.some((r) => r.destinationPortRange === "22"));
    const probe = (await net.loadBalancers.get(rg, `${drifty.name}-lb`, call())).probes![0];
    assert.deepEqual([probe.port, probe.intervalInSeconds], [NODE_PROBE.port, NODE_PROBE.intervalSeconds]);
    assert.equal((await net.publicIPAddresses.get(rg, `${drifty.name}-pip`, call())).idleTimeoutInMinutes, 4);

    // the registry and the audit trail say what drifted
    const record = await env.registry.get(drifty.name);
    assert.deepEqual(
      record?.observed?.drift?.changes.map((c) => [c.key, c.action, c.paths]),
      output.changes.map((c) => [c.key, c.action, c.changes.map((x) => x.path)]),
    );
    assert.equal(record?.operation, undefined);
    assert.equal(record?.observed?.lastOperation?.instanceId, `${id}-apply`);
    const events = await env.audit.all(drifty.name);
    const detected = events.find((e) => e.what === "drift detected" && e.operation?.instanceId === id);
    assert.ok(detected, JSON.stringify(events.map((e) => e.what)));
    assert.match(detected.why, /^3 resource\(s\) differ from the spec; applying it again$/);
    assert.deepEqual(
      (detected.details as { changes: { key: string }[] }).changes.map((c) => c.key),
      ["nsg:web", "pip", "lb"],
    );
    assert.ok(events.some((e) => e.what === "deploy succeeded" && e.operation?.instanceId === `${id}-apply`));

    // the stack nobody touched: in sync, no write at all
    assert.deepEqual(writesTo(steady), []);
    assert.ok(!(await env.audit.all(steady.name)).some((e) => e.what === "drift detected"));

    // the audit names who changed them (Resource Graph's change history)
    const changedBy = (detected.details as { changedBy: { id: string; by: string }[] }).changedBy;
    assert.ok(
      changedBy.some((c) => c.id === `${drifty.name}-pip`),
      JSON.stringify(changedBy),
    );

    // and the next hour finds nothing left to repair
    env.emulator.journal.clear();
    const next = await runDriftCheck();
    assert.deepEqual(next.started, []);
    assert.deepEqual([...next.inSync].sort(), ["drifty", "steady"]);
    assert.deepEqual(env.emulator.journal.writes(), []);
  });

  test("a change made less than Resource Graph's lag ago is confirmed through ARM, not missed", async () => {
    const names = stackNames(steady);
    const net = env.services.factory.network(SUB);
    // Resource Graph an hour behind ARM, and the app told it may lag that much
    env.emulator.resourceGraph.lagMs = 3_600_000;
    env.services.drift.resourceGraphLagMs = 3_600_000;
    try {
      await net.securityRules.beginCreateOrUpdateAndWait(
        steady.resourceGroup,
        names.webNsg,
        "rdp-from-anywhere",
        {
          protocol: "Tcp",
          sourceAddressPrefix: "*",
          sourcePortRange: "*",
          destinationAddressPrefix: "*",
          destinationPortRange: "3389",
          access: "Allow",
          priority: 170,
          direction: "Inbound",
        },
        env.services.factory.lro(),
      );
      const run = await runDriftCheck();
      assert.ok(run.started.includes("steady"), "ARM's changedTime made the NSG a suspect");
      // what Jumpgate repaired in drifty within the hour is confirmed too, and found in sync
      if (run.started.includes("drifty")) assert.equal(reconcileOf(run.ids, drifty.name).output.drifted, false);
      const { output } = reconcileOf(run.ids, steady.name);
      assert.deepEqual(
        output.changes.map((c) => [c.key, c.action]),
        [["nsg:web", "update"]],
      );
      const web = await net.networkSecurityGroups.get(steady.resourceGroup, names.webNsg);
      assert.ok(!web.securityRules!.some((r) => r.name === "rdp-from-anywhere"), "closed again");
      const detected = (await env.audit.all(steady.name)).find((e) => e.what === "drift detected");
      assert.ok(detected);
    } finally {
      env.emulator.resourceGraph.lagMs = 0;
      env.services.drift.resourceGraphLagMs = 0;
    }
  });

  test("child resources: a private DNS link changed within the lag and a role assignment deleted are confirmed and repaired", async () => {
    const names = stackNames(steady);
    const rg = steady.resourceGroup;
    const lro = () => env.services.factory.lro();
    // one of the stack's grants, as ARM holds it (Resource Graph keeps them in authorizationresources)
    const grant = env.emulator.store
      .all()
      .find(
        (d) =>
          d.type.toLowerCase() === "microsoft.authorization/roleassignments" &&
          d.id.toLowerCase().startsWith(names.keyVaultId.toLowerCase()),
      );
    assert.ok(grant, "the stack has role assignments on its vault");
    await env.services.factory.authorization(SUB).roleAssignments.deleteById(grant.id, env.services.factory.call());
    // and the MySQL zone's link starts registering VM records: a tracked child, changed a moment ago
    env.emulator.resourceGraph.lagMs = 3_600_000;
    env.services.drift.resourceGraphLagMs = 3_600_000;
    try {
      await env.services.factory.privateDns(SUB).virtualNetworkLinks.beginCreateOrUpdateAndWait(
        rg,
        names.privateDnsZone,
        names.privateDnsZoneLink,
        {
          location: "global",
          tags: { [STACK_TAG_NAME]: steady.name },
          virtualNetwork: { id: names.vnetId },
          registrationEnabled: true,
        },
        lro(),
      );
      // Resource Graph shows the link's change an hour from now (the lag applies when a write is made);
      // the repairs below show at once, so later tests see the stack as it is
      env.emulator.resourceGraph.lagMs = 0;
      const run = await runDriftCheck();
      assert.ok(run.started.includes("steady"), run.logs.join("\n"));
      // Resource Graph still shows the link as the spec wants it: only ARM's change time made it a suspect
      const { output } = reconcileOf(run.ids, steady.name);
      const actions = Object.fromEntries(output.changes.map((c) => [c.key, c.action]));
      assert.equal(actions["dns:mysql-link"], "update", JSON.stringify(output.changes));
      assert.ok(
        output.changes.some((c) => c.action === "create" && c.id.toLowerCase() === grant.id.toLowerCase()),
        JSON.stringify(output.changes),
      );
      const link = await env.services.factory
        .privateDns(SUB)
        .virtualNetworkLinks.get(rg, names.privateDnsZone, names.privateDnsZoneLink);
      assert.equal(link.registrationEnabled, false, "the link is back to the spec");
      assert.ok(env.emulator.store.get(grant.id), "the grant is back");
    } finally {
      env.emulator.resourceGraph.lagMs = 0;
      env.services.drift.resourceGraphLagMs = 0;
    }
  });

  test("a stored document changed in place (no request the emulator saw) is found like any change", async () => {
    const names = stackNames(steady);
    env.emulator.resourceGraph.lagMs = 3_600_000;
    env.services.drift.resourceGraphLagMs = 3_600_000;
    try {
      const lb = env.emulator.store.get(names.loadBalancerId)!;
      const probe = (lb.properties as { probes: { properties: { intervalInSeconds: number } }[] }).probes[0];
      probe.properties.intervalInSeconds = 45;
      const run = await runDriftCheck();
      assert.ok(run.started.includes("steady"), run.logs.join("\n"));
      const { output } = reconcileOf(run.ids, steady.name);
      assert.deepEqual(
        output.changes.map((c) => [c.key, c.changes.map((x) => x.path)]),
        [["lb", ["properties.probes[node-health].properties.intervalInSeconds"]]],
      );
      const now = await env.services.factory.network(SUB).loadBalancers.get(steady.resourceGroup, names.loadBalancer);
      assert.equal(now.probes![0].intervalInSeconds, NODE_PROBE.intervalSeconds);
    } finally {
      env.emulator.resourceGraph.lagMs = 0;
      env.services.drift.resourceGraphLagMs = 0;
    }
  });

  test("a stack tag removed from one of its resources: conflict, the rest repaired, the resource untouched until adopted", async () => {
    const names = stackNames(drifty);
    const net = env.services.factory.network(SUB);
    const rg = drifty.resourceGroup;
    const lro = () => env.services.factory.lro();
    // the database NSG loses its stack tag, and SSH is opened in the web NSG
    const dbNsg = await net.networkSecurityGroups.get(rg, names.dbNsg);
    const tags = { ...dbNsg.tags };
    delete tags[STACK_TAG_NAME];
    await net.networkSecurityGroups.beginCreateOrUpdateAndWait(rg, names.dbNsg, { ...dbNsg, tags }, lro());
    await net.securityRules.beginCreateOrUpdateAndWait(
      rg,
      names.webNsg,
      "ssh-again",
      {
        protocol: "Tcp",
        sourceAddressPrefix: "*",
        sourcePortRange: "*",
        destinationAddressPrefix: "*",
        destinationPortRange: "22",
        access: "Allow",
        priority: 160,
        direction: "Inbound",
      },
      lro(),
    );
    const untagged = await armGetRaw(env.emulator, names.dbNsgId, API_VERSIONS.network);

    env.emulator.journal.clear();
    const run = await runDriftCheck();
    assert.deepEqual(run.started, ["drifty"]);
    const id = run.ids.find((i) => i.startsWith(`reconcile-${drifty.name}-`))!;
    const reconcile = env.host.getStatus(id)!;
    // the repair's deploy fails on the NSG it can no longer prove is the stack's, naming it
    assert.equal(reconcile.runtimeStatus, "Failed");
    const apply = env.host.getStatus(`${id}-apply`)!;
    assert.match(String((apply.customStatus as { failure?: string }).failure), /nsg:db: 409 ForeignResource/);
    const plan = env.host.getStatus(`${id}-plan`)!.output as ReconcileOutput;
    assert.deepEqual(
      plan.changes.map((c) => [c.key, c.action]),
      [
        ["nsg:web", "update"],
        ["nsg:db", "conflict"],
      ],
    );
    // what does not need it is repaired: SSH is closed again
    const web = await net.networkSecurityGroups.get(rg, names.webNsg);
    assert.ok(!web.securityRules!.some((r) => r.name === "ssh-again"));
    assert.equal(await armGetRaw(env.emulator, names.dbNsgId, API_VERSIONS.network), untagged, "untouched");
    const record = await env.registry.get(drifty.name);
    const owned = record?.conditions.find((c) => c.type === "ResourcesOwned");
    assert.deepEqual([owned?.status, owned?.reason], ["False", "ForeignResource"]);
    assert.match(owned?.message ?? "", new RegExp(names.dbNsg));
    assert.equal(record?.operation, undefined, "released");

    // the operator vouches for it: adopted back, the stack is whole again
    const adopting = { ...drifty, adopt: [names.dbNsgId] };
    await env.registry.putDesired(drifty.name, adopting);
    const status = await env.host.run(
      Names.orchestrators.deployStack,
      { spec: adopting, generation: 2, nodeReadyTimeoutMinutes: 30 } satisfies DeployInput,
      { instanceId: "deploy-drifty-adopt" },
    );
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    const back = await net.networkSecurityGroups.get(rg, names.dbNsg);
    assert.equal(back.tags?.[STACK_TAG_NAME], drifty.name);
    const whole = (await env.registry.get(drifty.name))?.conditions.find((c) => c.type === "ResourcesOwned");
    assert.equal(whole?.status, "True");
  });

  test("a stack held by a live operation is skipped, and the log says which operation holds it", async () => {
    const liveId = "deploy-steady-g1-live";
    env.host.startNew(Names.orchestrators.deployStack, {
      instanceId: liveId,
      input: { spec: steady, generation: 1, nodeReadyTimeoutMinutes: 30 } satisfies DeployInput,
    });
    const claimed = await env.registry.setOperation(steady.name, {
      kind: "deploy",
      instanceId: liveId,
      startedAt: new Date().toISOString(),
    });
    assert.ok(claimed.ok);

    const registration = fromRegistry().timers[Names.timers.driftCheck];
    const logs: string[] = [];
    const context = durableClientContextFor(registration, rpc.clientData(), {
      logHandler: (_level, ...args) => logs.push(format(...args)),
    });
    const reconcilesOfSteady = () =>
      env.host.listInstances().filter((i) => i.instanceId.startsWith("reconcile-steady-")).length;
    const before = reconcilesOfSteady();
    const result = await driftCheckRun(df.getClient(context), new Date(), {
      allSlots: true,
      fullCheck: true,
      log: (line) => logs.push(line),
    });
    assert.deepEqual(
      { started: result.started, skipped: result.skipped, woken: result.woken },
      { started: ["drifty"], skipped: ["steady"], woken: [] },
    );
    assert.equal(reconcilesOfSteady(), before, "no reconcile was started for the held stack");
    assert.ok(
      logs.includes(`drift check: steady skipped, deploy ${liveId} is running`),
      `the log names the live operation:\n${logs.join("\n")}`,
    );
    assert.equal((await env.registry.get(steady.name))?.operation?.instanceId, liveId, "the claim is untouched");

    // the live deploy runs to its end and releases the stack
    await env.host.runUntilIdle();
    assert.equal(env.host.getStatus(liveId)?.runtimeStatus, "Completed");
    assert.equal((await env.registry.get(steady.name))?.operation, undefined);
  });

  test("a claim whose instance is gone (terminated, or never known to the task hub) is taken over", async () => {
    const crashed = "deploy-steady-g1-crashed";
    env.host.startNew(Names.orchestrators.deployStack, {
      instanceId: crashed,
      input: { spec: steady, generation: 1, nodeReadyTimeoutMinutes: 30 } satisfies DeployInput,
    });
    env.host.terminate(crashed, "operator stopped it");
    await env.host.runUntilIdle();
    assert.equal(env.host.getStatus(crashed)?.runtimeStatus, "Terminated");

    for (const stale of [crashed, "deploy-steady-g1-unknown"]) {
      const claimed = await env.registry.setOperation(steady.name, {
        kind: "deploy",
        instanceId: stale,
        startedAt: new Date().toISOString(),
      });
      assert.ok(claimed.ok);
      const run = await runDriftCheck(true);
      assert.deepEqual([...run.started].sort(), ["drifty", "steady"], `a claim held by ${stale} is stale`);
      assert.deepEqual(run.skipped, []);
      const { id, output } = reconcileOf(run.ids, steady.name);
      assert.deepEqual(output, { drifted: false, changes: [] });
      const record = await env.registry.get(steady.name);
      assert.equal(record?.operation, undefined, `the reconcile ${id} took the claim over and released it`);
    }
  });
  test("an in-sync stack's claim left by a dead operation is released by the screening, with no reconcile; a live one stays", async () => {
    const dead = "deploy-steady-g1-dead";
    const claimed = await env.registry.setOperation(steady.name, {
      kind: "deploy",
      instanceId: dead,
      startedAt: new Date().toISOString(),
    });
    assert.ok(claimed.ok);
    env.emulator.journal.clear();
    const run = await runDriftCheck();
    assert.deepEqual([...run.inSync].sort(), ["drifty", "steady"], run.logs.join("\n"));
    assert.deepEqual(run.started, [], "screening found nothing to reconcile");
    assert.deepEqual(run.released, ["steady"]);
    assert.equal((await env.registry.get(steady.name))?.operation, undefined, "heal and scale no longer wait on it");
    assert.ok(
      run.logs.includes("drift check: steady: released the claim of an operation that is no longer running"),
      run.logs.join("\n"),
    );
    assert.deepEqual(
      env.emulator.journal.list().filter((e) => e.method !== "GET" && e.method !== "POST"),
      [],
      "no write reached Azure",
    );

    // a claim whose orchestration runs is left alone
    const liveId = "deploy-steady-g1-live-claim";
    env.host.startNew(Names.orchestrators.deployStack, {
      instanceId: liveId,
      input: { spec: steady, generation: 1, nodeReadyTimeoutMinutes: 30 } satisfies DeployInput,
    });
    const live = await env.registry.setOperation(steady.name, {
      kind: "deploy",
      instanceId: liveId,
      startedAt: new Date().toISOString(),
    });
    assert.ok(live.ok);
    const driftClient = df.getClient(
      durableClientContextFor(fromRegistry().timers[Names.timers.driftCheck], rpc.clientData(), {}),
    );
    const second = await driftCheckRun(driftClient, new Date(), { allSlots: true, log: () => undefined });
    assert.deepEqual(second.released, []);
    assert.equal((await env.registry.get(steady.name))?.operation?.instanceId, liveId, "the live claim is untouched");
    await env.host.runUntilIdle();
    assert.equal((await env.registry.get(steady.name))?.operation, undefined, "the deploy released it at its end");
  });
  test("a heal signal that lost its wake-up is picked up by the hourly sweep; a live worker is left alone", async () => {
    const receivedAt = new Date().toISOString();
    await env.inbox.record({
      id: "sweep-test-1",
      stack: steady.name,
      intent: "heal",
      condition: "Fired",
      rule: "probe-down",
      signalType: "Metric",
      summary: "DipAvailability 0 (wake-up lost)",
      alertId: "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/sweep-test-1",
      at: receivedAt,
      receivedAt,
    });
    const run = await runDriftCheck();
    assert.deepEqual(run.woken, [`heal-${steady.name}`]);
    assert.ok(
      run.logs.some((l) => l.includes(`1 heal signal(s) of ${steady.name} waited with no worker`)),
      run.logs.join("\n"),
    );
    const heal = env.host.getStatus(InstanceIds.heal(steady.name));
    assert.equal(heal?.runtimeStatus, "Completed", JSON.stringify(heal?.output));
    assert.deepEqual(await env.inbox.pending(steady.name), [], "the worker consumed the signal");
    // nothing pending now: the next sweep wakes nobody
    assert.deepEqual((await runDriftCheck()).woken, []);
  });
});
