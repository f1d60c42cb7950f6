// The recordings' storage nodes through the real engine against the emulator (Azurite as the blob
// data plane): a deploy of the stack's network and storage nodes creates them, a second apply writes
// nothing, a spec that claims the policy is locked is refused before any write, and teardown keeps
// the container under retention and its account, with the reason, while deleting nothing else of it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ResourceEngine } from "../../shared/arm/engine";
import { RECORDING_KEYS } from "../../shared/graph/recordings-graph";
import { buildStackGraph } from "../../shared/graph/stack-graph";
import type { GraphNode, StackGraph } from "../../shared/graph/types";
import { validateStackSpec } from "../../shared/spec/validate";
import { startAzure, SUB, type AzureFixture } from "../../dev/azure";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";
import { wireAzuriteBlobs } from "../support/storage";

const KEYS = ["rg", "nsg:web", "nsg:db", "vnet", ...Object.values(RECORDING_KEYS)];

function graphOf(recordings: Record<string, unknown>): StackGraph {
  const r = validateStackSpec({
    name: "recst",
    subscriptionId: SUB,
    resourceGroup: "rg-recst",
    location: "westeurope",
    recordings,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return buildStackGraph(r.spec, {
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    renderCustomData: () => "",
    recordingWriterRoleId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
  });
}

const pick = (graph: StackGraph, key: string): GraphNode => graph.nodes.find((n) => n.key === key) ?? assert.fail(key);

let az: AzureFixture;
let azurite: AzuriteServer;
let engine: ResourceEngine;
before(async () => {
  az = await startAzure();
  azurite = await startAzurite();
  const blobs = wireAzuriteBlobs(az.emulator, azurite);
  engine = new ResourceEngine(az.factory);
  void blobs;
});
after(async () => {
  await azurite?.stop();
  await az?.stop();
});

describe("recordings storage through the engine", () => {
  const graph = graphOf({ retentionDays: 30 });

  test("created in dependency order; applied again, nothing is written", async () => {
    // Azure makes the blob service with the account, and a container reads a 0-day policy before it has one
    const existsAlready = new Set<string>([RECORDING_KEYS.blobService, RECORDING_KEYS.policy]);
    for (const key of KEYS)
      assert.equal((await engine.apply(pick(graph, key))).action, existsAlready.has(key) ? "updated" : "created", key);
    az.emulator.journal.clear();
    for (const key of KEYS) assert.equal((await engine.apply(pick(graph, key))).action, "unchanged", key);
    assert.equal(az.emulator.journal.writes().length, 0);
    const policy = await engine.observe(pick(graph, RECORDING_KEYS.policy));
    assert.equal((policy?.properties as Record<string, unknown>).immutabilityPeriodSinceCreationInDays, 30);
    assert.equal((policy?.properties as Record<string, unknown>).state, "Unlocked");
  });

  test("a spec that says `locked` while the policy is not: shown by plan, refused before any write", async () => {
    const locked = pick(graphOf({ retentionDays: 30, immutability: "locked" }), RECORDING_KEYS.policy);
    const plan = await engine.plan(locked);
    assert.equal(plan.action, "update");
    assert.match(plan.reason ?? "", /never locks it on its own/);
    await assert.rejects(engine.apply(locked), /never locks it on its own/);
  });

  test("teardown keeps the container under retention and its account, says why, and deletes neither", async () => {
    const tag = graph.tag;
    const removed = [];
    for (const key of [...Object.values(RECORDING_KEYS)].reverse())
      removed.push(await engine.remove(pick(graph, key), tag));
    const byKey = Object.fromEntries(removed.map((r) => [r.key, r]));
    assert.equal(byKey[RECORDING_KEYS.container].action, "kept");
    assert.match(byKey[RECORDING_KEYS.container].reason ?? "", /30-day time-based retention policy \(unlocked\)/);
    assert.equal(byKey[RECORDING_KEYS.account].action, "kept");
    for (const key of [RECORDING_KEYS.policy, RECORDING_KEYS.blobService, RECORDING_KEYS.lifecycle])
      assert.equal(byKey[key].action, "absent", `${key} is never deleted on its own`);
    assert.ok(await engine.observe(pick(graph, RECORDING_KEYS.container)));
    assert.ok(await engine.observe(pick(graph, RECORDING_KEYS.account)));
  });
});
