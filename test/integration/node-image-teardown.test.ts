// A teardown while a node image build runs, end to end on the virtual clock: the app's real HTTP
// handlers (DELETE, POST .../node-image/build), the real deployStack, buildNodeImage and teardownStack
// orchestrators and activities on the durable test host, the real Azure SDK clients against the
// emulator (which refuses a subnet or load balancer a NIC still uses, as Azure does), builders that
// answer Run Command with the real node agent, held mid-bake (StandInImageBuilders).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { InMemoryDurableClient, fromRegistry, recordHistoryFixture } from "../../emulator/durable";
import { startNodeImageBuild } from "../../functions/image-build-start";
import { createImageBuilderActivity } from "../../functions/activities/images";
import { removeResourceActivity, type RemoveInput } from "../../functions/activities/resources";
import { InstanceIds, Names } from "../../functions/names";
import type { BuildNodeImageStatus } from "../../functions/orchestrators/build-node-image";
import type { TeardownOutput } from "../../functions/orchestrators/teardown-stack";
import { imageBuilderNodes } from "../../shared/graph/image-graph";
import { imageBuilderNames, stackNames, stackTags } from "../../shared/graph/names";
import { withOwnership } from "../../shared/graph/ownership";
import { nodeFilesDir } from "../../shared/node/cloud-init";
import { imageVersionName } from "../../shared/node/image-identity";
import { stackImageKey } from "../../shared/node/stack-image-key";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { StandInImageBuilders, standInAgentRoot } from "../../dev/stand-in-agent";

const SUB = "00000000-0000-0000-0000-0000000000e8";

let env: JumpgateEnv;
let root: string;
let builders: StandInImageBuilders;

before(async () => {
  root = standInAgentRoot();
  env = await startJumpgateEnv({
    http: true,
    emulator: { lro: { mode: "async", pollsBeforeDone: 1 }, runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
  });
  builders = new StandInImageBuilders(env.emulator, path.join(nodeFilesDir(), "jumpgate-node"));
});
after(async () => {
  await env?.stop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/** The spec's input, before validation: a 2-node availability set with node images. */
function specInput(name: string) {
  return {
    name,
    subscriptionId: SUB,
    resourceGroup: `rg-${name}`,
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 2, max: 2 },
    nodeImage: { enabled: true },
  };
}

function specOf(name: string): StackSpec {
  const r = validateStackSpec(specInput(name));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

const key = (spec: StackSpec) => stackImageKey(spec);
const versionOf = (spec: StackSpec) => imageVersionName(key(spec));
const builderOf = (spec: StackSpec) => imageBuilderNames(spec, versionOf(spec));
const buildId = (spec: StackSpec) => InstanceIds.nodeImage(spec.name, versionOf(spec));
const diskId = (spec: StackSpec, disk: string) =>
  `${stackNames(spec).resourceGroupId}/providers/Microsoft.Compute/disks/${disk}`;

/** What is left of the builder: its VM, NIC and OS disk, as the emulator holds them. */
function builderLeft(spec: StackSpec): string[] {
  const b = builderOf(spec);
  return [b.vmId, b.nicId, diskId(spec, b.osDisk)].filter((id) => env.emulator.store.get(id));
}

const lastSeq = () => env.emulator.journal.list().at(-1)?.seq ?? 0;

/** Registers and deploys the stack the way PUT does; runs until `until` holds (or everything is done). */
async function deploy(spec: StackSpec, until?: () => boolean): Promise<string> {
  const put = await env.registry.putDesired(spec.name, spec);
  assert.ok(put.ok);
  const instanceId = InstanceIds.deploy(spec.name, put.stack.generation, env.host.now.toISOString());
  const claimed = await env.registry.setOperation(spec.name, {
    kind: "deploy",
    instanceId,
    startedAt: env.host.now.toISOString(),
  });
  assert.ok(claimed.ok, "the stack is free to deploy");
  env.host.startNew(Names.orchestrators.deployStack, {
    instanceId,
    input: { spec, generation: put.stack.generation, nodeReadyTimeoutMinutes: 30, pollSeconds: 30, tickMs: 500 },
  });
  await env.host.runUntilIdle(until ? { until } : {});
  assert.equal(env.host.getStatus(instanceId)?.runtimeStatus, "Completed");
  return instanceId;
}

const call = (method: string, route: string) => fetch(`${env.api}${route}`, { method });

/** DELETE /api/stacks/{name}: 202 and the teardown's instance id. */
async function del(spec: StackSpec): Promise<{ instanceId: string; body: Record<string, unknown> }> {
  const res = await call("DELETE", `/stacks/${spec.name}`);
  const body = (await res.json()) as { operation: { instanceId: string } };
  assert.equal(res.status, 202, JSON.stringify(body));
  return { instanceId: body.operation.instanceId, body };
}

describe("a teardown during a node image build", () => {
  test("DELETE terminates the build held mid-bake; the teardown removes its builder before the network and leaves nothing; POST .../node-image/build is refused during (409) and after (404)", async () => {
    const spec = specOf("imgdel");
    builders.bake(builderOf(spec).vm, { never: true });
    const baking = () => {
      const build = env.host.getStatus(buildId(spec));
      const status = build?.customStatus as BuildNodeImageStatus | undefined;
      return status?.phase === "baking" && (status.polls ?? 0) >= 2;
    };
    await deploy(spec, baking);
    assert.equal(env.host.getStatus(buildId(spec))?.runtimeStatus, "Running", "the build is held mid-bake");
    assert.equal(builderLeft(spec).length, 3, "the builder's VM, NIC and OS disk exist");

    const since = lastSeq();
    const teardown = await del(spec);
    assert.deepEqual(teardown.body.stoppedImageBuilds, [buildId(spec)]);
    const stopped = (await env.audit.recent(spec.name, { limit: 5 })).find(
      (e) => e.what === "node image build stopped",
    );
    assert.match(stopped?.why ?? "", new RegExp(`being torn down \\(${teardown.instanceId}\\)`));
    const lastBuild = (await env.registry.get(spec.name))?.observed?.nodeImage?.lastBuild;
    assert.deepEqual([lastBuild?.outcome, lastBuild?.reason], ["failed", `stopped: ${stopped?.why}`]);

    // while the teardown runs: refused, naming it
    const during = await call("POST", `/stacks/${spec.name}/node-image/build`);
    assert.equal(during.status, 409);
    assert.equal(during.headers.get("content-type"), "application/problem+json");
    const problem = (await during.json()) as { type: string; detail: string; operation: { instanceId: string } };
    assert.match(problem.type, /\/stack-tearing-down$/);
    assert.equal(problem.operation.instanceId, teardown.instanceId);
    assert.match(problem.detail, new RegExp(teardown.instanceId));

    await env.host.runUntilIdle();
    const build = env.host.getStatus(buildId(spec))!;
    assert.equal(build.runtimeStatus, "Terminated");
    const gone = env.host.getStatus(teardown.instanceId)!;
    assert.equal(gone.runtimeStatus, "Completed", JSON.stringify(gone.output));
    const output = gone.output as TeardownOutput;
    assert.ok(output.deleted.includes(`vm:${builderOf(spec).node}`), JSON.stringify(output));
    assert.equal(output.kept, undefined);
    recordFixture(teardown.instanceId, "image-build-stopped");

    assert.deepEqual(builderLeft(spec), [], "no builder VM, NIC or OS disk");
    const tagged = env.emulator.store.all().filter((d) => d.tags?.["jumpgate-stack"] === spec.name);
    assert.deepEqual(
      tagged.map((d) => d.id),
      [],
    );
    assert.equal(env.emulator.store.get(stackNames(spec).resourceGroupId), undefined, "the resource group is gone");

    // the journal: the builder VM went before the load balancer and the network its NIC sat in
    const deletes = env.emulator.journal
      .writes()
      .filter((w) => w.seq > since && w.method === "DELETE" && w.status < 300);
    const at = (id: string) => deletes.findIndex((w) => w.path.toLowerCase() === id.toLowerCase());
    const names = stackNames(spec);
    assert.ok(at(builderOf(spec).vmId) >= 0, "the builder VM is deleted");
    assert.ok(at(names.vnetId) > at(builderOf(spec).vmId), "the builder VM goes before the network (its subnet)");
    assert.ok(at(names.loadBalancerId) > at(builderOf(spec).vmId), "and before the load balancer");
    // and the build never made anything after the DELETE
    const builderPuts = env.emulator.journal
      .writes()
      .filter((w) => w.seq > since && w.method === "PUT" && /imgbuild/i.test(w.path));
    assert.deepEqual(builderPuts, []);

    // after: the stack is gone
    const afterwards = await call("POST", `/stacks/${spec.name}/node-image/build`);
    assert.equal(afterwards.status, 404);
    assert.equal(afterwards.headers.get("content-type"), "application/problem+json");
  });

  test("a spec that dropped nodeImage while its build ran: DELETE still stops the build the registry records, and the teardown removes its builder", async () => {
    const spec = specOf("imgoff");
    builders.bake(builderOf(spec).vm, { never: true });
    const baking = () => {
      const status = env.host.getStatus(buildId(spec))?.customStatus as BuildNodeImageStatus | undefined;
      return status?.phase === "baking" && (status.polls ?? 0) >= 2;
    };
    await deploy(spec, baking);
    assert.equal(env.host.getStatus(buildId(spec))?.runtimeStatus, "Running", "the build is held mid-bake");
    // a PUT without nodeImage is stored (its deploy has not run yet) when the DELETE comes
    const off = validateStackSpec({ ...specInput(spec.name), nodeImage: { enabled: false } });
    assert.ok(off.ok, JSON.stringify(off));
    assert.ok((await env.registry.putDesired(spec.name, off.spec)).ok);

    const since = lastSeq();
    const teardown = await del(spec);
    assert.deepEqual(teardown.body.stoppedImageBuilds, [buildId(spec)]);
    await env.host.runUntilIdle();
    assert.equal(env.host.getStatus(buildId(spec))?.runtimeStatus, "Terminated");
    assert.equal(env.host.getStatus(teardown.instanceId)?.runtimeStatus, "Completed");
    assert.deepEqual(builderLeft(spec), [], "no builder VM, NIC or OS disk");
    const builderPuts = env.emulator.journal
      .writes()
      .filter((w) => w.seq > since && w.method === "PUT" && /imgbuild/i.test(w.path));
    assert.deepEqual(builderPuts, [], "the build created nothing after the DELETE");
  });

  test("a build started once the teardown holds the stack creates nothing (its guard), and fails saying why", async () => {
    const spec = specOf("imgrace");
    builders.bake(builderOf(spec).vm, { fails: "first try" });
    await deploy(spec);
    assert.equal((env.host.getStatus(buildId(spec))?.output as { outcome?: string })?.outcome, "failed");
    assert.deepEqual(builderLeft(spec), [], "the failed build removed its builder");
    // what a DELETE writes first, before it lists the builds to stop: the claim
    const teardownId = InstanceIds.teardown(spec.name, "20261207T000000000Z");
    assert.ok(
      (
        await env.registry.setOperation(spec.name, {
          kind: "teardown",
          instanceId: teardownId,
          startedAt: env.host.now.toISOString(),
        })
      ).ok,
    );
    const since = lastSeq();
    // a start that raced the DELETE: it got past the request's check and the stop's listing
    const client = new InMemoryDurableClient(env.host);
    const started = await startNodeImageBuild(client, { spec, version: versionOf(spec), trigger: "request" });
    assert.equal(started.started, true);
    await env.host.runUntilIdle();
    const build = env.host.getStatus(buildId(spec))!;
    assert.equal(build.runtimeStatus, "Failed");
    assert.match(JSON.stringify(build.output), new RegExp(`is being torn down \\(${teardownId}\\)`));
    const writes = env.emulator.journal.writes().filter((w) => w.seq > since && w.method !== "GET");
    assert.deepEqual(
      writes.map((w) => `${w.method} ${w.path}`),
      [],
      "no gallery, builder or version written",
    );
    assert.ok((await env.registry.setOperation(spec.name, null, { heldBy: teardownId })).ok);
  });

  test("a builder that appears after the teardown removed it (a terminate during its creation) fails the teardown, naming it; a second DELETE removes it", async () => {
    const spec = specOf("imgrace");
    const b = builderOf(spec);
    // a build's builder, as the stopped build left it
    await createImageBuilderActivity({ spec, key: key(spec), version: versionOf(spec) });
    assert.equal(builderLeft(spec).length, 3);
    // the create activity of the terminated build was past its guard: its writes land right after
    // the teardown deleted the builder VM (deterministically: right after that removal returns)
    const registered = fromRegistry().activities[Names.activities.removeResource];
    let recreated = false;
    env.host.setActivity(Names.activities.removeResource, async (input) => {
      const result = await removeResourceActivity(input as RemoveInput);
      if (result.key === `vm:${b.node}` && result.action === "deleted" && !recreated) {
        recreated = true;
        const names = stackNames(spec);
        const { nic, vm } = imageBuilderNodes(spec, names, stackTags(spec), versionOf(spec), "I2Nsb3VkLWNvbmZpZwo=");
        for (const node of withOwnership([nic, vm], names.tag, [])) await env.services.engine.apply(node);
      }
      return result;
    });
    let first;
    try {
      first = await del(spec);
      await env.host.runUntilIdle();
    } finally {
      env.host.setActivity(Names.activities.removeResource, registered);
    }
    assert.ok(recreated);
    const failed = env.host.getStatus(first.instanceId)!;
    assert.equal(failed.runtimeStatus, "Failed");
    const why = JSON.stringify(failed.output);
    assert.match(why, new RegExp(`teardown incomplete: nic:${b.node}: .*NicInUse`));
    assert.ok(env.emulator.store.get(b.vmId), "the late builder is there");
    const record = await env.registry.get(spec.name);
    assert.ok(record, "the stack stays registered, to be torn down again");
    assert.equal(record.operation, undefined, "its claim released");
    const events = await env.audit.recent(spec.name, { limit: 5 });
    assert.equal(events[0].what, "teardown failed");
    assert.match(events[0].why, new RegExp(`nic:${b.node}`));

    const second = await del(spec);
    await env.host.runUntilIdle();
    assert.equal(env.host.getStatus(second.instanceId)?.runtimeStatus, "Completed");
    assert.deepEqual(builderLeft(spec), []);
    assert.deepEqual(
      env.emulator.store
        .all()
        .filter((d) => d.tags?.["jumpgate-stack"] === spec.name)
        .map((d) => d.id),
      [],
    );
  });

  test("a look-alike builder without the stack's tags is kept and reported, not deleted", async () => {
    const spec = specOf("imglook");
    builders.bake(builderOf(spec).vm, { fails: "no matter" });
    await deploy(spec);
    // someone else's VM at a builder's name (another version's), its NIC in a network of their own
    const look = imageBuilderNames(spec, "1.6.99");
    const { factory } = env.services;
    const network = factory.network(SUB);
    const compute = factory.compute(SUB);
    await factory.resources(SUB).resourceGroups.createOrUpdate("rg-other", { location: "westeurope" });
    const vnet = await network.virtualNetworks.beginCreateOrUpdateAndWait("rg-other", "other-vnet", {
      location: "westeurope",
      addressSpace: { addressPrefixes: ["10.9.0.0/16"] },
      subnets: [{ name: "default", addressPrefix: "10.9.0.0/24" }],
    });
    const nic = await network.networkInterfaces.beginCreateOrUpdateAndWait(spec.resourceGroup, look.nic, {
      location: "westeurope",
      ipConfigurations: [{ name: "ipconfig1", subnet: { id: vnet.subnets![0].id } }],
    });
    await compute.virtualMachines.beginCreateOrUpdateAndWait(spec.resourceGroup, look.vm, {
      location: "westeurope",
      hardwareProfile: { vmSize: "Standard_B2s" },
      storageProfile: {
        imageReference: spec.fleet.image,
        osDisk: {
          name: look.osDisk,
          createOption: "FromImage",
          managedDisk: { storageAccountType: "StandardSSD_LRS" },
        },
      },
      osProfile: { computerName: look.vm, adminUsername: "someone", adminPassword: "Not-the-stacks-1!" },
      networkProfile: { networkInterfaces: [{ id: nic.id, primary: true }] },
    });

    const teardown = await del(spec);
    await env.host.runUntilIdle();
    const done = env.host.getStatus(teardown.instanceId)!;
    assert.equal(done.runtimeStatus, "Completed", JSON.stringify(done.output));
    const kept = (done.output as TeardownOutput).kept ?? [];
    const keptIds = kept.map((k) => k.id.toLowerCase());
    for (const id of [look.vmId, look.nicId, diskId(spec, look.osDisk)]) {
      assert.ok(env.emulator.store.get(id), `${id} is kept`);
      assert.ok(keptIds.includes(id.toLowerCase()), `${id} is reported: ${JSON.stringify(kept)}`);
    }
    assert.match(kept.find((k) => k.key === `vm:${look.node}`)?.reason ?? "", /not tagged|jumpgate-stack/);
    const events = await env.audit.recent(spec.name, { limit: 5 });
    assert.equal(events[0].what, "teardown succeeded");
    assert.match(events[0].why, new RegExp(look.vm));
    // everything of the stack's is gone, but its resource group, which holds the look-alike
    const rg = stackNames(spec).resourceGroupId;
    assert.match(kept.find((k) => k.id === rg)?.reason ?? "", new RegExp(`still holds 3 resource\\(s\\).*${look.vm}`));
    assert.deepEqual(
      env.emulator.store
        .all()
        .filter((d) => d.tags?.["jumpgate-stack"] === spec.name)
        .map((d) => d.id),
      [rg],
    );
  });
});

/**
 * With JUMPGATE_RECORD_FIXTURES=1, keeps an instance's history as a fixture for the replay gate
 * (test/orchestration/history-replay.test.ts); custom data (never compared on replay) is cut to a stub.
 */
function recordFixture(instanceId: string, scenario: string): void {
  if (process.env.JUMPGATE_RECORD_FIXTURES !== "1") return;
  recordHistoryFixture(env.host, instanceId, { scenario, stubCustomData: true });
}
