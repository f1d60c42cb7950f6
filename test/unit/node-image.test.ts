// The node image's pure parts: its graph nodes (in the stack graph only when the spec opts in; names
// within Azure's rules; torn down definition first), the builder's NIC and VM, the installer digest
// (stable, and changed by any embedded file) and the status GET /api/stacks/{name} shows.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  IMAGE_KEYS,
  imageBuilderNodes,
  imageBuilderRemovalNodes,
  NODE_IMAGE_IDENTIFIER,
} from "../../shared/graph/image-graph";
import {
  imageBuilderNames,
  imageBuilderOfName,
  nodeImageNames,
  nodeImageVersionId,
  stackNames,
  stackTags,
} from "../../shared/graph/names";
import { teardownOrder } from "../../shared/graph/order";
import { buildStackGraph, type StackGraphContext } from "../../shared/graph/stack-graph";
import { nodeFilesDir } from "../../shared/node/cloud-init";
import { installerDigest } from "../../shared/node/installer-digest";
import { nodeImageStatus, recordedBootImage } from "../../shared/node/image-status";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";

const SUB = "00000000-0000-0000-0000-00000000a001";
const ctx: StackGraphContext = {
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  renderCustomData: (vm) => Buffer.from(`#cloud-config\n# ${vm.name}\n`).toString("base64"),
};

function spec(overrides: Record<string, unknown> = {}): StackSpec {
  const r = validateStackSpec({
    name: "jump-one",
    subscriptionId: SUB,
    resourceGroup: "rg-jump",
    location: "westeurope",
    ...overrides,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

describe("node image graph", () => {
  test("the gallery and definition are in the graph only with nodeImage.enabled, owned by the stack", () => {
    const keys = (s: StackSpec) => buildStackGraph(s, ctx).nodes.map((n) => n.key);
    assert.ok(!keys(spec()).includes(IMAGE_KEYS.gallery));
    assert.ok(!keys(spec({ nodeImage: { enabled: false } })).includes(IMAGE_KEYS.gallery));
    const g = buildStackGraph(spec({ nodeImage: { enabled: true } }), ctx);
    const gallery = g.nodes.find((n) => n.key === IMAGE_KEYS.gallery)!;
    const definition = g.nodes.find((n) => n.key === IMAGE_KEYS.definition)!;
    assert.equal(gallery.kind, "gallery");
    assert.equal(definition.kind, "galleryImage");
    assert.deepEqual(definition.dependsOn, [IMAGE_KEYS.gallery]);
    assert.deepEqual(gallery.ownership?.tag, { name: "jumpgate-stack", value: "jump-one" });
    const p = definition.body.properties as Record<string, unknown>;
    assert.deepEqual(
      { osType: p.osType, osState: p.osState, gen: p.hyperVGeneration, identifier: p.identifier },
      { osType: "Linux", osState: "Generalized", gen: "V2", identifier: { ...NODE_IMAGE_IDENTIFIER } },
    );
    // teardown: the definition (and so its versions) before the gallery
    const order = teardownOrder(g.nodes).map((n) => n.key);
    assert.ok(order.indexOf(IMAGE_KEYS.definition) < order.indexOf(IMAGE_KEYS.gallery));
  });

  test("names keep to Azure's rules: a gallery takes no hyphen and is the stack's in the subscription", () => {
    const a = nodeImageNames(spec());
    assert.match(a.gallery, /^[a-zA-Z0-9][a-zA-Z0-9._]{0,78}[a-zA-Z0-9]$/);
    assert.ok(a.gallery.startsWith("jg_jump_one_"));
    assert.notEqual(a.gallery, nodeImageNames(spec({ resourceGroup: "rg-other" })).gallery);
    const b = imageBuilderNames(spec({ name: "abcdefghijklmno" }), "1.6.2147483647");
    assert.ok(b.vm.length <= 64, b.vm);
    assert.equal(b.vm, "abcdefghijklmno-imgbuild-2147483647");
  });

  test("the builder: web subnet, no public IP, the marketplace image, bake custom data write-only", () => {
    const s = spec({ nodeImage: { enabled: true } });
    const names = stackNames(s);
    const { nic, vm } = imageBuilderNodes(s, names, stackTags(s), "1.6.42", "Y3VzdG9t");
    const ip = (nic.body.properties as { ipConfigurations: { properties: Record<string, unknown> }[] })
      .ipConfigurations[0].properties;
    assert.deepEqual(ip.subnet, { id: names.webSubnetId });
    assert.equal(ip.publicIPAddress, undefined);
    const props = vm.body.properties as Record<string, Record<string, unknown>>;
    assert.deepEqual(props.storageProfile.imageReference, { ...s.fleet.image });
    assert.equal((props.osProfile as { customData: string }).customData, "Y3VzdG9t");
    assert.ok(vm.writeOnly?.includes("properties.osProfile.customData"));
    assert.equal(vm.body.identity, undefined, "the builder has no identity: it reads no secret");
  });
});

describe("a teardown's builder leftovers", () => {
  test("found by name for this stack only, whatever the version; removed before the network and load balancer", () => {
    const s = spec({ nodeImage: { enabled: true } });
    const b = imageBuilderNames(s, "1.6.123");
    for (const name of [b.vm, b.nic, b.osDisk, b.vm.toUpperCase()])
      assert.equal(imageBuilderOfName(s, name)?.node, b.node);
    // another stack whose name this one's is a prefix of, a web node, a look-alike suffix: not builders
    for (const name of ["jump-one-x-imgbuild-1", "jump-imgbuild-1", "jump-one-web-1", "jump-one-imgbuild-1-data"]) {
      assert.equal(imageBuilderOfName(s, name), undefined, name);
    }
    const graph = buildStackGraph(s, ctx);
    const leftovers = imageBuilderRemovalNodes(s, b, stackTags(s), { rg: "rg", vnet: "vnet", lb: "lb" });
    assert.deepEqual(
      leftovers.map((n) => [n.key, n.kind, n.id]),
      [
        [`nic:${b.node}`, "networkInterface", b.nicId],
        [`disk:${b.node}`, "disk", `${stackNames(s).resourceGroupId}/providers/Microsoft.Compute/disks/${b.osDisk}`],
        [`vm:${b.node}`, "virtualMachine", b.vmId],
      ],
    );
    const order = teardownOrder([...graph.nodes, ...leftovers]).map((n) => n.key);
    const at = (k: string) => order.indexOf(k);
    assert.ok(at(`vm:${b.node}`) < at(`nic:${b.node}`) && at(`vm:${b.node}`) < at(`disk:${b.node}`));
    for (const later of ["vnet", "lb", "rg"]) assert.ok(at(`nic:${b.node}`) < at(later), later);
    assert.ok(at(`disk:${b.node}`) < at("rg"));
  });
});

describe("installer digest", () => {
  test("stable, and changed by any file the template embeds", () => {
    const d = installerDigest();
    assert.match(d, /^[0-9a-f]{64}$/);
    assert.equal(installerDigest(), d);
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-node-files-"));
    try {
      fs.cpSync(nodeFilesDir(), copy, { recursive: true });
      assert.equal(installerDigest(copy), d, "a copy digests the same");
      fs.writeFileSync(path.join(copy, "README.md"), "docs change nothing\n");
      assert.equal(installerDigest(copy), d);
      fs.appendFileSync(path.join(copy, "install-node.sh"), "\n# changed\n");
      assert.notEqual(installerDigest(copy), d);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});

describe("node image status", () => {
  const on = spec({ nodeImage: { enabled: true } });
  const at = "2026-12-07T10:00:00.000Z";
  test("disabled, unresolved, reused, running, failed, conflict", () => {
    assert.deepEqual(nodeImageStatus(spec(), undefined), {
      enabled: false,
      bootSource: "source",
      reason: "disabled: the spec's nodeImage is not enabled",
    });
    assert.match(nodeImageStatus(on, undefined).reason ?? "", /^not resolved yet/);
    assert.deepEqual(nodeImageStatus(on, { resolved: { at, version: "1.6.7", action: "reuse" } }), {
      enabled: true,
      bootSource: "image",
      version: "1.6.7",
    });
    const running = { version: "1.6.7", instanceId: "image-x-1.6.7", startedAt: at, outcome: "running" as const };
    const building = nodeImageStatus(on, { resolved: { at, version: "1.6.7", action: "build" }, lastBuild: running });
    assert.equal(building.bootSource, "source");
    assert.equal(building.reason, `build running since ${at}`);
    const failed = { ...running, outcome: "failed" as const, reason: "the bake failed: x" };
    assert.equal(
      nodeImageStatus(on, { resolved: { at, version: "1.6.7", action: "build" }, lastBuild: failed }).reason,
      "build failed: the bake failed: x",
    );
    const conflict = nodeImageStatus(on, { resolved: { at, version: "1.6.7", action: "conflict", reason: "no tag" } });
    assert.deepEqual([conflict.bootSource, conflict.reason], ["source", "conflict: no tag"]);
  });
});

describe("recorded boot image (the drift screen's, without listing the gallery)", () => {
  test("only a reused version of an enabled stack", () => {
    const on = spec({ nodeImage: { enabled: true } });
    const at = "2026-12-07T10:00:00.000Z";
    assert.deepEqual(recordedBootImage(on, { resolved: { at, version: "1.6.9", action: "reuse" } }), {
      id: nodeImageVersionId(on, "1.6.9"),
      version: "1.6.9",
    });
    assert.equal(recordedBootImage(on, { resolved: { at, version: "1.6.9", action: "build" } }), undefined);
    assert.equal(recordedBootImage(on, undefined), undefined);
    assert.equal(recordedBootImage(spec(), { resolved: { at, version: "1.6.9", action: "reuse" } }), undefined);
  });
});
