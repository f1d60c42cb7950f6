// The node image build end to end on the virtual clock: the app's real deploy and buildNodeImage
// orchestrators and activities on the durable test host, the real Azure SDK clients against the
// emulator (galleries, image versions captured from generalized VMs, generalize, async LROs),
// Azurite for the registry and audit trail, stand-in web nodes (always healthy), and builders that
// answer Run Command with the REAL node agent (image-status, image-seal) in a sandbox where the test
// plays the bake (StandInImageBuilders).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { InMemoryDurableClient, recordHistoryFixture } from "../../emulator/durable";
import type { JournalEntry } from "../../emulator/arm/journal";
import { startNodeImageBuild } from "../../functions/image-build-start";
import { buildGraphActivity } from "../../functions/activities/resources";
import { createImageBuilderActivity } from "../../functions/activities/images";
import { InstanceIds, Names } from "../../functions/names";
import type { BuildNodeImageOutput } from "../../functions/orchestrators/build-node-image";
import { imageBuilderNames, nodeImageNames, nodeImageVersionId, stackNames } from "../../shared/graph/names";
import { nodeFilesDir } from "../../shared/node/cloud-init";
import { IMAGE_TAGS, imageVersionName } from "../../shared/node/image-identity";
import { stackImageKey } from "../../shared/node/stack-image-key";
import { nodeImageStatus } from "../../shared/node/image-status";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { StandInImageBuilders, standInAgentRoot } from "../../dev/stand-in-agent";

const SUB = "00000000-0000-0000-0000-0000000000e7";

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

function specOf(name: string, extra: Record<string, unknown> = {}): StackSpec {
  const r = validateStackSpec({
    name,
    subscriptionId: SUB,
    resourceGroup: `rg-${name}`,
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 2, max: 3 },
    nodeImage: { enabled: true },
    ...extra,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

const key = (spec: StackSpec) => stackImageKey(spec);
const versionOf = (spec: StackSpec) => imageVersionName(key(spec));
const builderOf = (spec: StackSpec) => imageBuilderNames(spec, versionOf(spec));

/** Registers and deploys the stack the way PUT does (claim, deployStack), runs everything due (the build too). */
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
  env.host.startNew(Names.orchestrators.deployStack, {
    instanceId,
    input: { spec, generation: put.stack.generation, nodeReadyTimeoutMinutes: 30, pollSeconds: 30, tickMs: 500 },
  });
  if (options.run === false) return instanceId;
  await env.host.runUntilIdle();
  const status = env.host.getStatus(instanceId)!;
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return instanceId;
}

function buildOutput(spec: StackSpec): BuildNodeImageOutput {
  const status = env.host.getStatus(InstanceIds.nodeImage(spec.name, versionOf(spec)));
  assert.ok(status, "the build ran");
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify({ out: status.output, custom: status.customStatus }));
  return status.output as BuildNodeImageOutput;
}

/**
 * With JUMPGATE_RECORD_FIXTURES=1, keeps an instance's history as a fixture for the replay gate
 * (test/orchestration/history-replay.test.ts); custom data (never compared on replay) is cut to a stub.
 */
function recordFixture(instanceId: string, scenario: string): void {
  if (process.env.JUMPGATE_RECORD_FIXTURES !== "1") return;
  recordHistoryFixture(env.host, instanceId, { scenario, stubCustomData: true });
}

const lastSeq = () => env.emulator.journal.list().at(-1)?.seq ?? 0;

/** Successful PUTs of the builder VM of the stack's image version after `since`. */
function builderCreates(spec: StackSpec, since = 0): JournalEntry[] {
  const vm = `/virtualmachines/${builderOf(spec).vm.toLowerCase()}`;
  return env.emulator.journal
    .writes()
    .filter((w) => w.seq > since && w.method === "PUT" && w.path.toLowerCase().endsWith(vm) && w.status < 300);
}

/** What is left of the builder: its VM, NIC and OS disk, as the emulator holds them. */
function builderLeft(spec: StackSpec): string[] {
  const b = builderOf(spec);
  const disk = `${stackNames(spec).resourceGroupId}/providers/Microsoft.Compute/disks/${b.osDisk}`;
  return [b.vmId, b.nicId, disk].filter((id) => env.emulator.store.get(id));
}

async function auditWhats(spec: StackSpec): Promise<string[]> {
  return (await env.audit.recent(spec.name, { limit: 100 })).map((e) => e.what);
}

async function versionDoc(spec: StackSpec) {
  const ids = nodeImageNames(spec);
  const { factory } = env.services;
  return factory
    .compute(SUB)
    .galleryImageVersions.get(spec.resourceGroup, ids.gallery, ids.imageDefinition, versionOf(spec));
}

describe("node image build", () => {
  test("a deploy starts the build without waiting; the version is captured from the sealed, generalized builder and the builder is gone; a second build reuses it", async () => {
    const spec = specOf("imgone");
    builders.bake(builderOf(spec).vm, { bakes: key(spec).digest, afterPolls: 3 });
    const since = lastSeq();
    const deployId = await deploy(spec);

    const out = buildOutput(spec);
    assert.equal(out.outcome, "succeeded", JSON.stringify(out));
    recordFixture(deployId, "node-image-build-started");
    recordFixture(InstanceIds.nodeImage(spec.name, versionOf(spec)), "succeeded");
    assert.equal(out.id, nodeImageVersionId(spec, versionOf(spec)));
    assert.equal(builderCreates(spec, since).length, 1, "one builder");
    assert.deepEqual(builderLeft(spec), [], "the builder's VM, NIC and OS disk are deleted");
    // the real agent sealed it (waagent deprovisioned) before ARM generalized it
    assert.deepEqual(builders.sealed, [builderOf(spec).vm]);
    const commands = builders.calls.filter((c) => c.vm === builderOf(spec).vm).map((c) => c.command);
    assert.deepEqual(commands.slice(-2), ["image-status", "image-seal"]);
    assert.ok(commands.filter((c) => c === "image-status").length >= 3, "waited for the bake");
    const generalize = env.emulator.journal
      .writes()
      .filter((w) => w.seq > since && w.action?.toLowerCase() === "generalize" && w.status < 300);
    assert.equal(generalize.length, 1);

    const version = await versionDoc(spec);
    assert.equal(version.provisioningState, "Succeeded");
    assert.equal(version.tags?.[IMAGE_TAGS.digest], key(spec).digest);
    assert.equal(version.tags?.[IMAGE_TAGS.guacamole], spec.guacamole.version);
    assert.equal(version.tags?.["jumpgate-stack"], spec.name);
    assert.equal(version.storageProfile?.source?.virtualMachineId, builderOf(spec).vmId);

    const whats = await auditWhats(spec);
    assert.ok(whats.includes("node image build started"));
    assert.ok(whats.includes("node image build done"));
    const record = await env.registry.get(spec.name);
    assert.equal(record?.observed?.nodeImage?.lastBuild?.outcome, "succeeded");
    // the status says new nodes boot from the version now
    const status = nodeImageStatus(spec, record?.observed?.nodeImage);
    assert.deepEqual([status.bootSource, status.version], ["image", versionOf(spec)]);

    // again: the version is there, nothing is built
    const again = lastSeq();
    const client = new InMemoryDurableClient(env.host);
    const start = await startNodeImageBuild(client, { spec, version: versionOf(spec), trigger: "request" });
    assert.equal(start.started, true);
    await env.host.runUntilIdle();
    assert.equal(buildOutput(spec).outcome, "reused");
    recordFixture(InstanceIds.nodeImage(spec.name, versionOf(spec)), "reused");
    assert.equal(builderCreates(spec, again).length, 0, "no builder VM the second time");
    assert.ok((await auditWhats(spec)).includes("node image reused"));
  });

  test("a deploy after the version exists boots its new VMs from the gallery version (journal), the old ones stay", async () => {
    const spec = specOf("imgone");
    const since = lastSeq();
    await deploy(specOf("imgone", { fleet: { mode: "availabilitySet", size: 3, max: 3 } }));
    const vmPuts = env.emulator.journal
      .writes()
      .filter((w) => w.seq > since && w.method === "PUT" && /\/virtualMachines\/imgone-web-\d+$/i.test(w.path));
    const created = vmPuts.filter((w) => w.status < 300).map((w) => w.path.split("/").pop());
    assert.deepEqual(created, ["imgone-web-3"], "only the new node is written");
    const body = vmPuts.at(-1)!.body as { properties: { storageProfile: { imageReference: { id?: string } } } };
    assert.equal(body.properties.storageProfile.imageReference.id, nodeImageVersionId(spec, versionOf(spec)));
    assert.equal(builderCreates(spec, since).length, 0, "no build: the version exists");
    const record = await env.registry.get(spec.name);
    assert.equal(record?.observed?.nodeImage?.resolved?.action, "reuse");
  });

  test("two starts at once get one build", async () => {
    const spec = specOf("imgtwo");
    builders.bake(builderOf(spec).vm, { bakes: key(spec).digest, afterPolls: 2 });
    const since = lastSeq();
    await deploy(spec, { run: false });
    const client = new InMemoryDurableClient(env.host);
    const input = { spec, version: versionOf(spec), trigger: "request" };
    const [a, b] = await Promise.all([startNodeImageBuild(client, input), startNodeImageBuild(client, input)]);
    assert.deepEqual([a.started, b.started].sort(), [false, true]);
    assert.equal(a.instanceId, b.instanceId);
    await env.host.runUntilIdle();
    assert.equal(builderCreates(spec, since).length, 1, "one builder for every start (the deploy's included)");
    assert.equal((await versionDoc(spec)).provisioningState, "Succeeded");
    assert.deepEqual(builderLeft(spec), []);
  });

  test("a failed bake leaves no builder and records why", async () => {
    const spec = specOf("imgfail");
    builders.bake(builderOf(spec).vm, { fails: "install-node.sh: sha256 mismatch for guacamole-server-1.6.0.tar.gz" });
    await deploy(spec);
    const out = buildOutput(spec);
    assert.equal(out.outcome, "failed");
    assert.match(out.reason ?? "", /the bake failed: cloud-init finished with errors: .*sha256 mismatch/);
    recordFixture(InstanceIds.nodeImage(spec.name, versionOf(spec)), "bake-failed");
    assert.deepEqual(builderLeft(spec), [], "the builder is deleted after a failure too");
    assert.deepEqual(builders.sealed.includes(builderOf(spec).vm), false, "a failed bake is never sealed");
    await assert.rejects(versionDoc(spec), (e: { statusCode?: number }) => e.statusCode === 404);
    const events = await env.audit.recent(spec.name, { limit: 100 });
    const failed = events.find((e) => e.what === "node image build failed");
    assert.ok(failed, "audited");
    assert.match(failed.why, /sha256 mismatch/);
    const record = await env.registry.get(spec.name);
    assert.equal(record?.observed?.nodeImage?.lastBuild?.outcome, "failed");
    assert.match(record?.observed?.nodeImage?.lastBuild?.reason ?? "", /sha256 mismatch/);
    assert.match(nodeImageStatus(spec, record?.observed?.nodeImage).reason ?? "", /^build failed: .*sha256 mismatch/);
  });

  test("a version of that name built from another digest is refused, never booted", async () => {
    const spec = specOf("imgone");
    const ids = nodeImageNames(spec);
    const versions = env.services.factory.compute(SUB).galleryImageVersions;
    const other = "f".repeat(64);
    await versions.update(spec.resourceGroup, ids.gallery, ids.imageDefinition, versionOf(spec), {
      tags: { "jumpgate-stack": spec.name, [IMAGE_TAGS.digest]: other },
    });
    const since = lastSeq();
    const client = new InMemoryDurableClient(env.host);
    await startNodeImageBuild(client, { spec, version: versionOf(spec), trigger: "request" });
    await env.host.runUntilIdle();
    const out = buildOutput(spec);
    assert.equal(out.outcome, "refused");
    recordFixture(InstanceIds.nodeImage(spec.name, versionOf(spec)), "conflict-refused");
    assert.match(out.reason ?? "", /built from node digest ffffffffffff/);
    assert.equal(builderCreates(spec, since).length, 0);
    assert.ok((await auditWhats(spec)).includes("node image refused"));
    // and a deploy boots new nodes from source, not from the look-alike
    await deploy(specOf("imgone", { fleet: { mode: "availabilitySet", size: 3, max: 3 } }));
    const record = await env.registry.get(spec.name);
    assert.equal(record?.observed?.nodeImage?.resolved?.action, "conflict");
  });
});

describe("node image: scale-out, heal and teardown", () => {
  test("the graph a scale-out or a heal replacement builds boots new nodes from the version", async () => {
    const spec = specOf("imgtwo");
    // what scale-actions and heal's replaceWebNode call: the graph activity with the new members
    const graph = await buildGraphActivity({ spec, members: { size: 4, ordinals: [1, 2, 3, 4] } });
    const vm = graph.nodes.find((n) => n.key === "vm:web-4")!;
    const image = (vm.body.properties as { storageProfile: { imageReference: { id?: string } } }).storageProfile
      .imageReference;
    assert.equal(image.id, nodeImageVersionId(spec, versionOf(spec)));
    // a stack whose build failed: from source, the marketplace image
    const failed = await buildGraphActivity({ spec: specOf("imgfail"), members: { size: 3, ordinals: [1, 2, 3] } });
    const source = failed.nodes.find((n) => n.key === "vm:web-3")!;
    const reference = (source.body.properties as { storageProfile: { imageReference: Record<string, string> } })
      .storageProfile.imageReference;
    assert.equal(reference.id, undefined);
    assert.equal(reference.offer, specOf("imgfail").fleet.image.offer);
  });

  test("POST .../node-image/build builds again after a failure; GET shows where nodes boot from", async () => {
    const spec = specOf("imgfail");
    const post = (stack: string) => fetch(`${env.api}/stacks/${stack}/node-image/build`, { method: "POST" });
    const get = async (stack: string) =>
      ((await (await fetch(`${env.api}/stacks/${stack}`)).json()) as { nodeImage: Record<string, unknown> }).nodeImage;
    assert.match(String((await get(spec.name)).reason), /^build failed: /);

    builders.bake(builderOf(spec).vm, { bakes: key(spec).digest });
    const since = lastSeq();
    const started = await post(spec.name);
    assert.equal(started.status, 202, await started.clone().text());
    const body = (await started.json()) as { operation: { instanceId: string; started: boolean } };
    assert.deepEqual(body.operation.instanceId, InstanceIds.nodeImage(spec.name, versionOf(spec)));
    assert.equal(body.operation.started, true);
    assert.match(started.headers.get("location") ?? "", /\/operations\/image-imgfail-/);
    await env.host.runUntilIdle();
    assert.equal(buildOutput(spec).outcome, "succeeded");
    assert.equal(builderCreates(spec, since).length, 1);
    assert.deepEqual(builderLeft(spec), []);
    const status = await get(spec.name);
    assert.deepEqual([status.bootSource, status.version], ["image", versionOf(spec)]);

    // built: nothing to do
    const again = await post(spec.name);
    assert.equal(again.status, 200);
    // a stack without nodeImage: refused
    const plain = specOf("imgplain", { nodeImage: { enabled: false } });
    assert.ok((await env.registry.putDesired(plain.name, plain)).ok);
    const refused = await post(plain.name);
    assert.equal(refused.status, 409);
    assert.equal(refused.headers.get("content-type"), "application/problem+json");
    assert.deepEqual((await get(plain.name)).bootSource, "source");
  });

  test("a builder an earlier build left generalized (it stopped before the capture) is captured as it is", async () => {
    const spec = specOf("imgcrash");
    builders.bake(builderOf(spec).vm, { fails: "first try" });
    await deploy(spec);
    assert.equal(buildOutput(spec).outcome, "failed");
    // what a build that stopped between its generalize and its capture leaves behind
    await createImageBuilderActivity({ spec, key: key(spec), version: versionOf(spec) });
    const compute = env.services.factory.compute(SUB);
    await compute.virtualMachines.deallocate(spec.resourceGroup, builderOf(spec).vm);
    await compute.virtualMachines.generalize(spec.resourceGroup, builderOf(spec).vm);
    const commands = builders.calls.length;
    const client = new InMemoryDurableClient(env.host);
    await startNodeImageBuild(client, { spec, version: versionOf(spec), trigger: "request" });
    await env.host.runUntilIdle();
    assert.equal(buildOutput(spec).outcome, "succeeded");
    assert.equal(builders.calls.length, commands, "no Run Command on a generalized builder");
    assert.equal((await versionDoc(spec)).provisioningState, "Succeeded");
    assert.deepEqual(builderLeft(spec), []);
  });

  test("teardown deletes the stack's image versions, the definition and the gallery", async () => {
    const spec = specOf("imgtwo");
    const ids = nodeImageNames(spec);
    assert.ok(env.emulator.store.get(nodeImageVersionId(spec, versionOf(spec))), "a version to delete");
    const record = (await env.registry.get(spec.name))!;
    await env.registry.setOperation(spec.name, {
      kind: "teardown",
      instanceId: "teardown-imgtwo",
      startedAt: env.host.now.toISOString(),
    });
    const gone = await env.host.run(
      Names.orchestrators.teardownStack,
      { spec: record.spec },
      { instanceId: "teardown-imgtwo" },
    );
    assert.equal(gone.runtimeStatus, "Completed", JSON.stringify(gone.output));
    for (const id of [nodeImageVersionId(spec, versionOf(spec)), ids.imageDefinitionId, ids.galleryId]) {
      assert.equal(env.emulator.store.get(id), undefined, `${id} is deleted`);
    }
    const tagged = env.emulator.store.all().filter((d) => d.tags?.["jumpgate-stack"] === spec.name);
    assert.deepEqual(
      tagged.map((d) => d.id),
      [],
    );
  });
});
