// The rolling upgrade end to end on the virtual clock: PUT /api/stacks/{name} (the real handler,
// through the durable client) with a new guacamole.version, the app's real orchestrations and
// activities on the durable test host, the real Azure SDK clients against the emulator (async LROs,
// the flexible server's on-demand backups), Azurite for the registry, fleet state and audit trail,
// and the stand-in fleet (dev/stand-in-agent.ts) for every VM: each reports the release its custom
// data installs, and `schema-upgrade` keeps the real command's contract (tested against MariaDB in
// schema-upgrade.test.ts). The target release is the test catalog's (test/support/test-catalog.ts).
//
// The serving nodes are counted from the stand-in fleet (healthy and not drained, as the load
// balancer's probe sees them) at every agent command and after every ARM write: never by timing.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import {
  fromRegistry,
  InMemoryDurableClient,
  recordHistoryFixture,
  startDurableRpcServer,
  type DurableRpcServer,
} from "../../emulator/durable";
import { durableClientContextFor } from "../../emulator/durable/client/client-context";
import { buildGraphActivity } from "../../functions/activities/resources";
import { startNodeImageBuild } from "../../functions/image-build-start";
import { InstanceIds, Names } from "../../functions/names";
import type { UpgradeOutput } from "../../functions/orchestrators/upgrade-stack";
import { imageBuilderNames, nodeImageVersionId, stackNames } from "../../shared/graph/names";
import { CUSTOM_DATA_TAG_NAME } from "../../shared/graph/stack-graph";
import { nodeFilesDir } from "../../shared/node/cloud-init";
import { imageVersionName } from "../../shared/node/image-identity";
import { stackImageKey } from "../../shared/node/stack-image-key";
import type { StackSpec } from "../../shared/spec/types";
import { validateStackSpec } from "../../shared/spec/validate";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { StandInFleet, StandInImageBuilders, standInAgentRoot } from "../../dev/stand-in-agent";
import { installTestCatalog, TEST_RELEASE, type TestCatalog } from "../support/test-catalog";

const SUB = "00000000-0000-0000-0000-0000000000a7";
type Doc = Record<string, unknown>;

let env: JumpgateEnv;
let rpc: DurableRpcServer;
let root: string;
let catalog: TestCatalog;
let fleet: StandInFleet;
let builders: StandInImageBuilders;

before(async () => {
  catalog = installTestCatalog();
  root = standInAgentRoot();
  env = await startJumpgateEnv({
    emulator: { lro: { mode: "async", pollsBeforeDone: 1 }, runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
  });
  rpc = await startDurableRpcServer(env.host);
  builders = new StandInImageBuilders(env.emulator, path.join(nodeFilesDir(), "jumpgate-node"));
});
after(async () => {
  await rpc?.close();
  await env?.stop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
  catalog?.remove();
});

function specOf(name: string, version = "1.6.0", extra: Doc = {}): Doc {
  return {
    name,
    subscriptionId: SUB,
    resourceGroup: `rg-${name}`,
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 3, min: 2, max: 4 },
    guacamole: { version },
    policies: { scale: { drainTimeoutMinutes: 10 } },
    ...extra,
  };
}

async function call(name: keyof typeof Names.http, method: string, stack: string, body?: Doc) {
  const registration = fromRegistry().http[Names.http[name]];
  const res = (await registration.handler(
    new HttpRequest({
      method,
      url: `http://127.0.0.1/api/stacks/${stack}`,
      headers: body ? { "content-type": "application/json" } : {},
      params: { name: stack },
      ...(body ? { body: { string: JSON.stringify(body) } } : {}),
    }),
    durableClientContextFor(registration, rpc.clientData()),
  )) as HttpResponseInit;
  return { status: res.status ?? 200, body: (res.jsonBody ?? {}) as Doc };
}
const put = (stack: string, body: Doc) => call("putStack", "PUT", stack, body);
const get = async (stack: string) => (await call("getStack", "GET", stack)).body;

/** A fresh stand-in fleet for every VM from now on (the stack's database schema at 1.6.0). */
function newFleet(): StandInFleet {
  fleet = new StandInFleet(env.emulator);
  fleet.scriptNewVms();
  return fleet;
}

/** The stack's web VMs: its availability set's, or its scale set's instances. */
function vmNames(stack: string): string[] {
  const valid = validateStackSpec(specOf(stack));
  if (!valid.ok) throw new Error(JSON.stringify(valid.errors));
  const names = stackNames(valid.spec);
  const owners = [names.availabilitySetId.toLowerCase(), names.scaleSetId.toLowerCase()];
  type VmProps = { availabilitySet?: { id?: string }; virtualMachineScaleSet?: { id?: string } };
  return env.emulator.store
    .all()
    .filter(
      (d) =>
        d.type === "Microsoft.Compute/virtualMachines" &&
        [(d.properties as VmProps).availabilitySet?.id, (d.properties as VmProps).virtualMachineScaleSet?.id].some(
          (id) => id !== undefined && owners.includes(String(id).toLowerCase()),
        ),
    )
    .map((d) => d.name)
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

/** Deploys a 3-node stack at 1.6.0 through PUT. */
async function deploy(stack: string, extra: Doc = {}): Promise<void> {
  newFleet();
  const res = await put(stack, specOf(stack, "1.6.0", extra));
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await env.host.runUntilIdle();
  const id = (res.body.operation as { instanceId: string }).instanceId;
  assert.equal(env.host.getStatus(id)!.runtimeStatus, "Completed", JSON.stringify(env.host.getStatus(id)!.output));
  assert.deepEqual(
    vmNames(stack).map((vm) => fleet.releaseOf(vm)),
    ["1.6.0", "1.6.0", "1.6.0"],
  );
}

interface Sample {
  at: string;
  serving: string[];
  /** the stack's VMs at that moment */
  vms: number;
}

const vmNamesAt = (s: Sample) => s.vms;

/** Counts the serving nodes at every agent command and after every ARM write, from now on. */
function sampleServing(stack: string): Sample[] {
  const samples: Sample[] = [];
  const take = (at: string) => {
    const vms = vmNames(stack);
    samples.push({ at, serving: vms.filter((vm) => fleet.inService(vm)), vms: vms.length });
  };
  fleet.onCommand = (c) => take(`${c.command} ${c.vm}`);
  const journal = env.emulator.journal;
  const record = journal.record.bind(journal);
  journal.record = (e) => {
    const entry = record(e);
    if (["put", "patch", "delete", "action"].includes(entry.operation)) take(`${entry.method} ${entry.path}`);
    return entry;
  };
  return samples;
}

function stopSampling(): void {
  fleet.onCommand = undefined;
  delete (env.emulator.journal as { record?: unknown }).record;
}

async function runUpgrade(stack: string, extra: Doc = {}): Promise<UpgradeOutput> {
  const res = await put(stack, specOf(stack, TEST_RELEASE, extra));
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const operation = res.body.operation as { kind: string; instanceId: string };
  assert.equal(operation.kind, "upgrade");
  assert.equal(operation.instanceId, InstanceIds.upgrade(stack));
  assert.deepEqual(res.body.upgrade, { from: "1.6.0", to: TEST_RELEASE });
  await env.host.runUntilIdle();
  const status = env.host.getStatus(operation.instanceId)!;
  assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
  return status.output as UpgradeOutput;
}

/**
 * With JUMPGATE_RECORD_FIXTURES=1, keeps the upgrade's history as a fixture for the replay gate
 * (test/orchestration/history-replay.test.ts); the web nodes' custom data is cut to a stub.
 */
function recordFixture(stack: string, scenario: string): void {
  if (process.env.JUMPGATE_RECORD_FIXTURES !== "1") return;
  recordHistoryFixture(env.host, InstanceIds.upgrade(stack), { scenario, stubCustomData: true });
}

const conditionOf = (doc: Doc, type: string) =>
  (doc.conditions as { type: string; status: string; reason: string; message: string }[]).find((c) => c.type === type);

async function auditOf(stack: string): Promise<{ what: string; why: string }[]> {
  return (await env.audit.recent(stack, { limit: 100 })).reverse();
}

describe("rolling upgrade: 1.6.0 -> the test catalog's release on a 3-node fleet", () => {
  test("backup first, the schema once through a drained new node, one node at a time, never below fleet.min", async () => {
    const stack = "upg-ok";
    await deploy(stack);
    const before = await get(stack);
    assert.deepEqual((before.guacamole as Doc).running, ["1.6.0"]);
    assert.deepEqual(
      ((before.guacamole as Doc).nodes as Doc[]).map((n) => n.version),
      ["1.6.0", "1.6.0", "1.6.0"],
    );

    const samples = sampleServing(stack);
    let schemaSeq = 0;
    let schemaThroughServing: boolean | undefined;
    const onCommand = fleet.onCommand!;
    fleet.onCommand = (c) => {
      onCommand(c);
      if (c.command === "schema-upgrade") {
        schemaSeq = env.emulator.journal.list().at(-1)!.seq;
        schemaThroughServing = fleet.inService(c.vm);
      }
    };
    const out = await runUpgrade(stack);
    stopSampling();
    recordFixture(stack, "upgraded-availability-set");
    assert.equal(out.outcome, "succeeded", JSON.stringify(out));

    // never fewer than fleet.min serving; with room below fleet.max, never fewer than the fleet's size
    assert.ok(samples.length > 50, `sampled ${samples.length} times`);
    const fewest = Math.min(...samples.map((s) => s.serving.length));
    assert.ok(fewest >= 3, `at ${samples.find((s) => s.serving.length === fewest)!.at}: ${fewest} serving`);

    // the backup came before the schema upgrade and before the first new VM
    const journal = env.emulator.journal.list();
    const backups = journal.filter((e) => e.method === "PUT" && /\/flexibleServers\/[^/]+\/backups\//i.test(e.path));
    assert.equal(backups.length, 1, "one on-demand backup");
    const backupSeq = backups[0].seq;
    assert.ok(backupSeq < schemaSeq, "the backup was taken before the schema upgrade");
    const newVmPuts = journal.filter(
      (e) => e.method === "PUT" && e.type === "Microsoft.Compute/virtualMachines" && /-web-4$/i.test(e.path),
    );
    assert.ok(newVmPuts.length > 0 && backupSeq < newVmPuts[0].seq, "no new node before the backup");

    // the schema upgraded once, through a new node that was not serving yet
    assert.deepEqual(fleet.schema.runs, [{ vm: `${stack}-web-4`, from: "1.6.0", to: TEST_RELEASE }]);
    assert.equal(schemaThroughServing, false, "the first new node took no traffic before the schema was upgraded");
    assert.equal(fleet.schema.version, TEST_RELEASE);

    // one at a time: three pairs, every VM of the new release, the fleet at its size
    assert.deepEqual(
      out.replaced.map((r) => r.old),
      [`${stack}-web-1`, `${stack}-web-2`, `${stack}-web-3`],
    );
    assert.equal(vmNames(stack).length, 3);
    assert.deepEqual(
      vmNames(stack).map((vm) => fleet.releaseOf(vm)),
      [TEST_RELEASE, TEST_RELEASE, TEST_RELEASE],
    );
    assert.ok(vmNames(stack).every((vm) => fleet.inService(vm)));

    // status and audit
    const after = await get(stack);
    const release = after.guacamole as Doc;
    assert.equal(release.target, TEST_RELEASE);
    assert.deepEqual(release.running, [TEST_RELEASE]);
    assert.deepEqual(
      (release.nodes as Doc[]).map((n) => n.version),
      [TEST_RELEASE, TEST_RELEASE, TEST_RELEASE],
    );
    const upgrade = release.upgrade as Doc;
    assert.equal(upgrade.state, "succeeded");
    assert.equal(upgrade.bootSource, "source");
    assert.deepEqual((upgrade.schema as Doc).applied, [`upgrade-pre-${TEST_RELEASE}.sql`]);
    const lastBackup = after.lastBackup as Doc;
    assert.match(String(lastBackup.name), /^customer_.*_pre-upgrade-1-99-0-/);
    assert.equal(
      String(lastBackup.id).toLowerCase(),
      `${backups[0].path.replace(/\/backups\/.*$/, "")}/backups/${String(lastBackup.name)}`.toLowerCase(),
    );
    assert.equal(conditionOf(after, "UpgradeFailed")?.status, "False");
    assert.equal(conditionOf(after, "Upgrading")?.reason, "UpgradeSucceeded");
    assert.equal(after.operation, null, "the upgrade released the stack");
    const whats = (await auditOf(stack)).map((e) => e.what);
    const order = ["upgrade started", "database backed up", "schema upgraded", "node upgraded", "upgrade succeeded"];
    assert.deepEqual(
      whats.filter((w) => order.includes(w)),
      [...order.slice(0, 4), "node upgraded", "node upgraded", "upgrade succeeded"],
    );

    // the same spec again is a deploy: nothing left to upgrade
    const again = await put(stack, specOf(stack, TEST_RELEASE));
    assert.equal(again.status, 202);
    assert.equal((again.body.operation as { kind: string }).kind, "deploy");
    await env.host.runUntilIdle();
    assert.equal(fleet.schema.runs.length, 1);
  });

  test("concurrent PUTs of a new version: one upgrade accepted, the other refused with 409", async () => {
    const stack = "upg-race";
    await deploy(stack);
    const answers = await Promise.all([
      put(stack, specOf(stack, TEST_RELEASE)),
      put(stack, specOf(stack, TEST_RELEASE)),
      put(stack, specOf(stack, TEST_RELEASE)),
    ]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [202, 409, 409], JSON.stringify(answers));
    for (const refused of answers.filter((a) => a.status === 409)) {
      assert.equal((refused.body.operation as { instanceId: string }).instanceId, InstanceIds.upgrade(stack));
    }
    await env.host.runUntilIdle();
    const out = env.host.getStatus(InstanceIds.upgrade(stack))!.output as UpgradeOutput;
    assert.equal(out.outcome, "succeeded");
    assert.equal(fleet.schema.runs.length, 1, "one upgrade, one schema upgrade");
    const backups = env.emulator.journal
      .list()
      .filter((e) => e.method === "PUT" && e.path.includes(`rg-${stack}/`) && /\/backups\//i.test(e.path));
    assert.equal(backups.length, 1, "one backup");
  });

  test("a new version together with another change is refused before anything is stored (422)", async () => {
    const stack = "upg-mixed";
    await deploy(stack);
    const mixed = specOf(stack, TEST_RELEASE, { policies: { scale: { drainTimeoutMinutes: 20 } } });
    const res = await put(stack, mixed);
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal((res.body.errors as Doc[])[0].pointer, "/guacamole/version");
    assert.equal((await env.registry.get(stack))!.spec.guacamole.version, "1.6.0");
    const unknown = await put(stack, specOf(stack, "1.7.3"));
    assert.equal(unknown.status, 422);
    assert.match(JSON.stringify(unknown.body), /not in the pinned catalog/);
  });
});

describe("rolling upgrade: a fleet at fleet.max", () => {
  test("no room to surge: each old node goes first, and the others serving never drop below fleet.min", async () => {
    const stack = "upg-atmax";
    const atMax = { fleet: { mode: "availabilitySet", size: 3, min: 2, max: 3 } };
    await deploy(stack, atMax);
    const samples = sampleServing(stack);
    const out = await runUpgrade(stack, atMax);
    stopSampling();
    assert.equal(out.outcome, "succeeded", JSON.stringify(out));
    const fewest = Math.min(...samples.map((s) => s.serving.length));
    assert.equal(fewest, 2, "one node fewer while each is replaced, never below fleet.min");
    // never more VMs than fleet.max
    assert.ok(samples.every((s) => vmNamesAt(s) <= 3));
    assert.deepEqual(
      vmNames(stack).map((vm) => [fleet.releaseOf(vm), fleet.inService(vm)]),
      [
        [TEST_RELEASE, true],
        [TEST_RELEASE, true],
        [TEST_RELEASE, true],
      ],
    );
    assert.equal(fleet.schema.runs.length, 1);
  });

  test("size = min = max: refused before anything is done, nothing replaced", async () => {
    const stack = "upg-tight";
    const tight = { fleet: { mode: "availabilitySet", size: 3, min: 3, max: 3 } };
    await deploy(stack, tight);
    const out = await runUpgrade(stack, tight);
    assert.equal(out.outcome, "failed");
    assert.equal(out.step, "prepare");
    assert.match(out.message ?? "", /raise fleet\.max by one/);
    assert.equal(vmNames(stack).length, 3);
    assert.ok(vmNames(stack).every((vm) => fleet.releaseOf(vm) === "1.6.0" && fleet.inService(vm)));
    assert.equal(fleet.schema.runs.length, 0);
    // refused before the backup: nothing was done
    assert.equal((await get(stack)).lastBackup, null);
  });
});

describe("rolling upgrade: a failure at each step stops it and the old release keeps serving", () => {
  const cases: {
    step: string;
    inject: (stack: string) => void;
    schemaRuns: number;
  }[] = [
    {
      step: "backup",
      inject: () =>
        env.emulator.faults.add({
          match: { method: "PUT", type: "Microsoft.DBforMySQL/flexibleServers/backups" },
          effect: { kind: "status", status: 409, code: "OperationNotAllowed", message: "Backup is not allowed now." },
          times: 0,
        }),
      schemaRuns: 0,
    },
    { step: "bring-up", inject: () => fleet.failCommand("db-credentials"), schemaRuns: 0 },
    { step: "schema", inject: () => fleet.failCommand("schema-upgrade"), schemaRuns: 0 },
    { step: "drain", inject: (stack) => fleet.failCommand("drain", `${stack}-web-1`), schemaRuns: 1 },
    {
      step: "remove",
      inject: (stack) =>
        env.emulator.faults.add({
          match: { method: "DELETE", path: `/virtualMachines/${stack}-web-1$` },
          effect: { kind: "status", status: 409, code: "OperationNotAllowed", message: "The VM is locked." },
          times: 0,
        }),
      schemaRuns: 1,
    },
  ];
  for (const c of cases) {
    test(`${c.step} fails: the upgrade stops, says why, and the three 1.6.0 nodes serve`, async () => {
      const stack = `upg-f-${c.step.replace("-", "")}`.slice(0, 15);
      await deploy(stack);
      const samples = sampleServing(stack);
      c.inject(stack);
      const out = await runUpgrade(stack);
      stopSampling();
      env.emulator.faults.clear();
      if (c.step === "drain") recordFixture(stack, "drain-failed");
      assert.equal(out.outcome, "failed", JSON.stringify(out));
      assert.equal(out.step, c.step, out.message);
      assert.deepEqual(out.replaced, []);

      const fewest = Math.min(...samples.map((s) => s.serving.length));
      assert.ok(fewest >= 2, `at ${samples.find((s) => s.serving.length === fewest)?.at}: ${fewest} serving`);
      // the pair in progress ended as it began: the old nodes serve, no node of the new release is left
      assert.deepEqual(vmNames(stack), [`${stack}-web-1`, `${stack}-web-2`, `${stack}-web-3`]);
      assert.deepEqual(
        vmNames(stack).map((vm) => [fleet.releaseOf(vm), fleet.inService(vm)]),
        [
          ["1.6.0", true],
          ["1.6.0", true],
          ["1.6.0", true],
        ],
      );
      assert.equal(fleet.schema.runs.length, c.schemaRuns);

      const after = await get(stack);
      const failed = conditionOf(after, "UpgradeFailed")!;
      assert.equal(failed.status, "True");
      assert.match(failed.message, new RegExp(`1\\.6\\.0 -> ${TEST_RELEASE.replace(/\./g, "\\.")}: `));
      const upgrade = (after.guacamole as Doc).upgrade as Doc;
      assert.equal(upgrade.state, "failed");
      assert.equal(upgrade.step, c.step);
      assert.deepEqual((after.guacamole as Doc).running, ["1.6.0"]);
      assert.equal(after.operation, null, "the failed upgrade released the stack");
      const event = (await auditOf(stack)).find((e) => e.what === "upgrade failed");
      assert.ok(event, "the audit trail says the upgrade failed");
      assert.match(event.why, new RegExp(`^step ${c.step}: `));
      assert.match(event.why, /serving on 3 node\(s\) of the old release/);
    });
  }
});

describe("rolling upgrade with node images", () => {
  const images = { nodeImage: { enabled: true } };
  const specAt = (stack: string, version: string): StackSpec => {
    const valid = validateStackSpec(specOf(stack, version, images));
    if (!valid.ok) throw new Error(JSON.stringify(valid.errors));
    return valid.spec;
  };
  const keyOf = (spec: StackSpec) => stackImageKey(spec);
  const versionOf = (spec: StackSpec) => imageVersionName(keyOf(spec));
  const builderOf = (spec: StackSpec) => imageBuilderNames(spec, versionOf(spec)).vm;
  const lastSeq = () => env.emulator.journal.list().at(-1)?.seq ?? 0;
  /** successful PUTs of the stack's web VMs after `since`, with the image each references */
  const webVmPuts = (stack: string, since: number) =>
    env.emulator.journal
      .writes()
      .filter(
        (w) =>
          w.seq > since &&
          w.method === "PUT" &&
          w.status < 300 &&
          new RegExp(`/virtualMachines/${stack}-web-\\d+$`, "i").test(w.path),
      )
      .map((w) => ({
        seq: w.seq,
        vm: w.path.split("/").pop()!,
        image: (w.body as { properties: { storageProfile: { imageReference: { id?: string } } } }).properties
          .storageProfile.imageReference.id,
      }));

  /** A 1.6.0 stack with node images: its deploy builds the 1.6.0 image (baked by the stand-in builder). */
  async function deployWithImages(stack: string): Promise<void> {
    const old = specAt(stack, "1.6.0");
    builders.bake(builderOf(old), { bakes: keyOf(old).digest });
    await deploy(stack, images);
    assert.equal(env.host.getStatus(InstanceIds.nodeImage(stack, versionOf(old)))?.runtimeStatus, "Completed");
  }

  test("the target release's image is built once, before the first new node, and every new VM boots from it", async () => {
    const stack = "upg-img";
    await deployWithImages(stack);
    const target = specAt(stack, TEST_RELEASE);
    const image = nodeImageVersionId(target, versionOf(target));
    builders.bake(builderOf(target), { bakes: keyOf(target).digest, afterPolls: 3 });
    const since = lastSeq();

    const out = await runUpgrade(stack, images);
    assert.equal(out.outcome, "succeeded", JSON.stringify(out));
    recordFixture(stack, "upgraded-from-node-image");

    const build = env.host.getStatus(InstanceIds.nodeImage(stack, versionOf(target)))!;
    assert.equal(build.runtimeStatus, "Completed");
    assert.equal((build.output as { outcome: string }).outcome, "succeeded");
    const writes = env.emulator.journal.writes().filter((w) => w.seq > since && w.status < 300);
    const builderPuts = writes.filter(
      (w) => w.method === "PUT" && w.path.toLowerCase().endsWith(`/virtualmachines/${builderOf(target).toLowerCase()}`),
    );
    assert.equal(builderPuts.length, 1, "one build of the target's image");
    const capture = writes.find((w) => w.method === "PUT" && w.path.toLowerCase() === image.toLowerCase());
    assert.ok(capture, "the target's image version was captured");
    const created = webVmPuts(stack, since);
    assert.equal(created.length, 3, JSON.stringify(created));
    assert.ok(capture.seq < created[0].seq, "the image is there before the first new node is written");
    for (const vm of created) assert.equal(vm.image, image, `${vm.vm} boots from the target's gallery version`);
    assert.deepEqual(
      vmNames(stack).map((vm) => [fleet.releaseOf(vm), fleet.firstBoot(vm)?.from]),
      created.map(() => [TEST_RELEASE, "image"]),
    );

    const doc = await get(stack);
    const upgrade = (doc.guacamole as Doc).upgrade as Doc;
    assert.equal(upgrade.bootSource, "image");
    assert.equal(upgrade.bootImage, versionOf(target));
    const audit = await auditOf(stack);
    const whats = audit.map((e) => e.what);
    assert.ok(whats.indexOf("upgrade waits for node image") < whats.indexOf("upgrade started"));
    assert.ok(whats.indexOf("node image build done") < whats.indexOf("node upgraded"));
    const started = audit.filter((e) => e.what === "node image build started");
    assert.match(started.at(-1)!.why, new RegExp(`^no image version ${versionOf(target)} .*\\(upgrade\\)$`));
    assert.ok(!whats.includes("upgrade goes on from source"));
  });

  test("a failed image build: the upgrade goes on from source and says why in the status and the audit trail", async () => {
    const stack = "upg-imgfail";
    await deployWithImages(stack);
    const target = specAt(stack, TEST_RELEASE);
    builders.bake(builderOf(target), { fails: "install-node.sh: sha256 mismatch for guacamole-server.tar.gz" });
    const since = lastSeq();

    const out = await runUpgrade(stack, images);
    assert.equal(out.outcome, "succeeded", JSON.stringify(out));
    recordFixture(stack, "upgraded-from-source-after-failed-image");

    const build = env.host.getStatus(InstanceIds.nodeImage(stack, versionOf(target)))!;
    assert.equal((build.output as { outcome: string }).outcome, "failed");
    const created = webVmPuts(stack, since);
    assert.equal(created.length, 3);
    for (const vm of created) assert.ok(!/\/galleries\//i.test(vm.image ?? ""), `${vm.vm} boots from source`);
    assert.deepEqual(
      vmNames(stack).map((vm) => [fleet.releaseOf(vm), fleet.firstBoot(vm)?.from]),
      created.map(() => [TEST_RELEASE, "source"]),
    );
    const upgrade = ((await get(stack)).guacamole as Doc).upgrade as Doc;
    assert.equal(upgrade.bootSource, "source");
    assert.match(
      String(upgrade.bootReason),
      /image build failed: .*sha256 mismatch.*install the release at first boot/,
    );
    const fallback = (await auditOf(stack)).find((e) => e.what === "upgrade goes on from source");
    assert.ok(fallback, "audited");
    assert.match(fallback.why, /sha256 mismatch/);
  });

  test("the target's image exists already: no build, no wait, the new VMs boot from it", async () => {
    const stack = "upg-imgready";
    await deployWithImages(stack);
    const target = specAt(stack, TEST_RELEASE);
    const image = nodeImageVersionId(target, versionOf(target));
    builders.bake(builderOf(target), { bakes: keyOf(target).digest });
    // built beforehand, as POST .../node-image/build would
    await startNodeImageBuild(new InMemoryDurableClient(env.host), {
      spec: target,
      version: versionOf(target),
      trigger: "request",
    });
    await env.host.runUntilIdle();
    const since = lastSeq();

    const out = await runUpgrade(stack, images);
    assert.equal(out.outcome, "succeeded", JSON.stringify(out));
    const builderPuts = env.emulator.journal
      .writes()
      .filter((w) => w.seq > since && w.method === "PUT" && /\/virtualMachines\/[^/]*imgbuild/i.test(w.path));
    assert.deepEqual(builderPuts, [], "nothing built");
    const created = webVmPuts(stack, since);
    assert.equal(created.length, 3);
    for (const vm of created) assert.equal(vm.image, image);
    const whats = (await auditOf(stack)).map((e) => e.what);
    assert.ok(!whats.includes("upgrade waits for node image"));
    const upgrade = ((await get(stack)).guacamole as Doc).upgrade as Doc;
    assert.deepEqual([upgrade.bootSource, upgrade.bootImage], ["image", versionOf(target)]);
  });

  test("a scale set fleet: the model's imageReference moves to the target's image, and back after a failure", async () => {
    const both = { ...images, fleet: { mode: "scaleSet", size: 3, min: 2, max: 4 } };
    const valid = (stack: string, version: string) => {
      const v = validateStackSpec(specOf(stack, version, both));
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      return v.spec;
    };
    const modelImage = (stack: string) =>
      (
        env.emulator.store.get(stackNames(valid(stack, "1.6.0")).scaleSetId)!.properties as {
          virtualMachineProfile: { storageProfile: { imageReference: { id?: string } } };
        }
      ).virtualMachineProfile.storageProfile.imageReference.id;
    for (const stack of ["upg-simg", "upg-simgfail"]) {
      const old = valid(stack, "1.6.0");
      const target = valid(stack, TEST_RELEASE);
      builders.bake(builderOf(old), { bakes: keyOf(old).digest });
      builders.bake(builderOf(target), { bakes: keyOf(target).digest });
      await deploy(stack, both);
      // the deploy made the scale set before its image was built: the model is the marketplace image
      const oldImage = nodeImageVersionId(old, versionOf(old));
      assert.equal(modelImage(stack), undefined);
      const instances = vmNames(stack);
      if (stack === "upg-simgfail") fleet.failCommand("schema-upgrade");
      const out = await runUpgrade(stack, both);
      if (stack === "upg-simg") {
        assert.equal(out.outcome, "succeeded", JSON.stringify(out));
        assert.equal(modelImage(stack), nodeImageVersionId(target, versionOf(target)));
        const now = vmNames(stack);
        assert.ok(now.every((vm) => !instances.includes(vm)));
        assert.deepEqual(
          now.map((vm) => [fleet.releaseOf(vm), fleet.firstBoot(vm)?.from]),
          now.map(() => [TEST_RELEASE, "image"]),
        );
      } else {
        assert.equal(out.outcome, "failed");
        assert.equal(out.step, "schema");
        // put back as a deploy of 1.6.0 would write it now: that release's image, built since
        assert.equal(modelImage(stack), oldImage, "the model boots the old release's image");
        assert.deepEqual(vmNames(stack), instances);
      }
    }
  });

  test("images disabled: no image is looked for or built, the new nodes install from source", async () => {
    const stack = "upg-noimg";
    await deploy(stack);
    const since = lastSeq();
    const out = await runUpgrade(stack);
    assert.equal(out.outcome, "succeeded", JSON.stringify(out));
    const created = webVmPuts(stack, since);
    assert.equal(created.length, 3);
    for (const vm of created) assert.ok(!/\/galleries\//i.test(vm.image ?? ""));
    const whats = (await auditOf(stack)).map((e) => e.what);
    assert.ok(!whats.includes("upgrade waits for node image"));
    const upgrade = ((await get(stack)).guacamole as Doc).upgrade as Doc;
    assert.equal(upgrade.bootSource, "source");
    assert.equal(upgrade.bootReason, undefined);
  });
});

describe("rolling upgrade of a scale set fleet (Flexible)", () => {
  const scaleSet = { fleet: { mode: "scaleSet", size: 3, min: 2, max: 4 } };
  const scaleSetId = (stack: string) => {
    const valid = validateStackSpec(specOf(stack, "1.6.0", scaleSet));
    if (!valid.ok) throw new Error(JSON.stringify(valid.errors));
    return stackNames(valid.spec).scaleSetId;
  };
  /** what the scale set's model holds: its custom data (write-only, kept by the emulator) and its digest tag */
  const modelOf = (stack: string) => {
    const id = scaleSetId(stack);
    const doc = env.emulator.store.get(id)!;
    const customData = env.emulator.store.getSecret(id, "properties.virtualMachineProfile.osProfile.customData");
    return {
      customData: String(customData),
      tag: (doc.tags as Record<string, string>)[CUSTOM_DATA_TAG_NAME],
      capacity: (doc.sku as { capacity: number }).capacity,
    };
  };
  /** successful writes of the scale set's model after `since` */
  const modelWrites = (stack: string, since: number) =>
    env.emulator.journal
      .writes()
      .filter(
        (w) =>
          w.seq > since &&
          w.method === "PUT" &&
          w.status < 300 &&
          w.path.toLowerCase() === scaleSetId(stack).toLowerCase(),
      );

  test("the model moves to the target, then one instance at a time: backup first, schema once, never below fleet.min", async () => {
    const stack = "upg-vmss";
    await deploy(stack, scaleSet);
    const old = vmNames(stack);
    // a new version with another change is still refused, as for an availability set
    const mixed = await put(stack, specOf(stack, TEST_RELEASE, { ...scaleSet, tags: { team: "x" } }));
    assert.equal(mixed.status, 422, JSON.stringify(mixed.body));
    const before = modelOf(stack);
    assert.equal(before.tag, createHash("sha256").update(before.customData).digest("hex"));
    const since = env.emulator.journal.list().at(-1)!.seq;
    const samples = sampleServing(stack);
    let schemaSeq = 0;
    let schemaThroughServing: boolean | undefined;
    const onCommand = fleet.onCommand!;
    fleet.onCommand = (c) => {
      onCommand(c);
      if (c.command === "schema-upgrade") {
        schemaSeq = env.emulator.journal.list().at(-1)!.seq;
        schemaThroughServing = fleet.inService(c.vm);
      }
    };
    const out = await runUpgrade(stack, scaleSet);
    stopSampling();
    recordFixture(stack, "upgraded-scale-set");
    assert.equal(out.outcome, "succeeded", JSON.stringify(out));

    assert.ok(samples.length > 50, `sampled ${samples.length} times`);
    const fewest = Math.min(...samples.map((s) => s.serving.length));
    assert.ok(fewest >= 3, `at ${samples.find((s) => s.serving.length === fewest)!.at}: ${fewest} serving`);
    assert.ok(
      samples.every((s) => s.vms <= 4),
      "never more instances than fleet.max",
    );

    const journal = env.emulator.journal.list();
    const backups = journal.filter(
      (e) => e.seq > since && e.method === "PUT" && /\/flexibleServers\/[^/]+\/backups\//i.test(e.path),
    );
    assert.equal(backups.length, 1, "one on-demand backup");
    const writes = modelWrites(stack, since);
    assert.ok(writes.length >= 3, `the model was written for each new instance (${writes.length})`);
    assert.ok(backups[0].seq < writes[0].seq, "the model moved only after the backup");
    assert.ok(backups[0].seq < schemaSeq, "the backup was taken before the schema upgrade");
    // the first write sends the target's custom data (the digest changed); the next ones only the capacity
    const sent = (w: (typeof writes)[number]) =>
      (w.body as { properties: { virtualMachineProfile: { osProfile: { customData?: string } } } }).properties
        .virtualMachineProfile.osProfile.customData;
    assert.ok(sent(writes[0]), "the custom data went with the first write");
    assert.deepEqual(
      writes.slice(1).map(sent),
      writes.slice(1).map(() => undefined),
    );

    // the schema once, through the first new instance before it served
    assert.equal(fleet.schema.runs.length, 1);
    assert.ok(!old.includes(fleet.schema.runs[0].vm), "through a new instance");
    assert.equal(schemaThroughServing, false);
    assert.equal(fleet.schema.version, TEST_RELEASE);

    // three new instances of the target, the old ones gone, the model at the target
    assert.deepEqual(out.replaced.map((r) => r.old).sort(), [...old].sort());
    const now = vmNames(stack);
    assert.equal(now.length, 3);
    assert.ok(now.every((vm) => !old.includes(vm)));
    assert.deepEqual(
      now.map((vm) => [fleet.releaseOf(vm), fleet.inService(vm)]),
      now.map(() => [TEST_RELEASE, true]),
    );
    const after = modelOf(stack);
    assert.notEqual(after.customData, before.customData);
    assert.equal(after.tag, createHash("sha256").update(after.customData).digest("hex"));
    assert.equal(after.capacity, 3);
    const doc = await get(stack);
    assert.deepEqual((doc.guacamole as Doc).running, [TEST_RELEASE]);

    // a deploy of the same spec finds the model as it wants it: nothing written again
    const mark = env.emulator.journal.list().at(-1)!.seq;
    const again = await put(stack, specOf(stack, TEST_RELEASE, scaleSet));
    assert.equal(again.status, 202);
    await env.host.runUntilIdle();
    assert.deepEqual(modelWrites(stack, mark), [], "the model is at the target already");
  });

  const cases: { step: string; inject: (stack: string, first: string) => void; schemaRuns: number }[] = [
    {
      step: "backup",
      inject: () =>
        env.emulator.faults.add({
          match: { method: "PUT", type: "Microsoft.DBforMySQL/flexibleServers/backups" },
          effect: { kind: "status", status: 409, code: "OperationNotAllowed", message: "Backup is not allowed now." },
          times: 0,
        }),
      schemaRuns: 0,
    },
    { step: "bring-up", inject: () => fleet.failCommand("db-credentials"), schemaRuns: 0 },
    { step: "schema", inject: () => fleet.failCommand("schema-upgrade"), schemaRuns: 0 },
    { step: "drain", inject: (_stack, first) => fleet.failCommand("drain", first), schemaRuns: 1 },
    {
      step: "remove",
      // every removal fails until the old instance serves again ("drain off" after its failed
      // removal); the rollback's removal of the new instance goes through
      inject: (stack, first) => {
        env.emulator.faults.add({
          match: { method: "POST", path: `/virtualMachineScaleSets/${stack}[^/]*/delete$` },
          effect: { kind: "status", status: 409, code: "OperationNotAllowed", message: "The instance is locked." },
          times: 0,
        });
        const sample = fleet.onCommand;
        let drains = 0;
        fleet.onCommand = (c) => {
          sample?.(c);
          if (c.command === "drain" && c.vm === first && ++drains === 2) env.emulator.faults.clear();
        };
      },
      schemaRuns: 1,
    },
  ];
  for (const c of cases) {
    test(`${c.step} fails: the old instances serve and the model is back at 1.6.0`, async () => {
      const stack = `upg-s-${c.step.replace("-", "")}`.slice(0, 15);
      await deploy(stack, scaleSet);
      const old = vmNames(stack);
      const before = modelOf(stack);
      const samples = sampleServing(stack);
      c.inject(stack, old[0]);
      const out = await runUpgrade(stack, scaleSet);
      stopSampling();
      env.emulator.faults.clear();
      if (c.step === "drain") recordFixture(stack, "scale-set-drain-failed-model-restored");
      assert.equal(out.outcome, "failed", JSON.stringify(out));
      assert.equal(out.step, c.step, out.message);
      assert.deepEqual(out.replaced, []);
      const fewest = Math.min(...samples.map((s) => s.serving.length));
      assert.ok(fewest >= 2, `at ${samples.find((s) => s.serving.length === fewest)?.at}: ${fewest} serving`);
      assert.deepEqual(vmNames(stack), old);
      assert.deepEqual(
        old.map((vm) => [fleet.releaseOf(vm), fleet.inService(vm)]),
        old.map(() => ["1.6.0", true]),
      );
      assert.equal(fleet.schema.runs.length, c.schemaRuns);
      // the model holds the old release's custom data again: an instance it makes now runs 1.6.0
      assert.deepEqual(modelOf(stack), before);
      const event = (await auditOf(stack)).find((e) => e.what === "upgrade failed");
      assert.ok(event, "the audit trail says the upgrade failed");
      assert.match(event.why, new RegExp(`^step ${c.step}: `));
      assert.match(event.why, /serving on 3 node\(s\) of the old release/);
      if (c.step !== "backup") assert.match(event.why, /the scale set's model is back at 1\.6\.0$/);
      // what a later scale-out, heal or deploy writes (the graph from the stored spec, which names the
      // target): the model at 1.6.0, as it is, so its next instance runs the release the fleet runs
      const stored = (await env.registry.get(stack))!.spec;
      assert.equal(stored.guacamole.version, TEST_RELEASE);
      const graph = await buildGraphActivity({ spec: stored });
      const desired = graph.nodes.find((n) => n.key === "vmss")!;
      assert.equal((desired.body.tags as Record<string, string>)[CUSTOM_DATA_TAG_NAME], before.tag);
      assert.deepEqual(((await get(stack)).guacamole as Doc).running, ["1.6.0"]);
    });
  }
});
