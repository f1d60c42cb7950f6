// The alert rules a stack gets when an action group is configured: created through the resource
// engine and the real SDK clients on the emulator, shaped as Azure Monitor wants them (per-backend
// probe, VM availability and Resource Health for every VM in the resource group, CPU rules only
// when the stack scales on CPU), unchanged on a second apply, and removed by teardown.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ResourceEngine } from "../../shared/arm/engine";
import { stackNames, STACK_TAG_NAME } from "../../shared/graph/names";
import { teardownOrder, topologicalOrder } from "../../shared/graph/order";
import { buildStackGraph } from "../../shared/graph/stack-graph";
import type { StackGraph } from "../../shared/graph/types";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { LOCATION, startAzure, SUB, type AzureFixture } from "../../dev/azure";

const ACTION_GROUP = `/subscriptions/${SUB}/resourceGroups/rg-jumpgate-app/providers/microsoft.insights/actionGroups/jumpgate-alerts`;
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";

function specOf(overrides: Record<string, unknown>): StackSpec {
  const r = validateStackSpec({ subscriptionId: SUB, location: LOCATION, ...overrides });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

function graphOf(spec: StackSpec, actionGroup: string | null = ACTION_GROUP): StackGraph {
  return buildStackGraph(spec, {
    tenantId: TENANT,
    renderCustomData: () => "",
    alertActionGroupId: actionGroup ?? undefined,
  });
}

type Doc = Record<string, unknown>;
const at = (doc: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((cur, k) => (cur && typeof cur === "object" ? (cur as Doc)[k] : undefined), doc);

describe("alert rules that feed healing and scaling", () => {
  let az: AzureFixture;
  let engine: ResourceEngine;

  before(async () => {
    az = await startAzure({ tenantId: TENANT });
    engine = new ResourceEngine(az.factory, { secretAccessRetry: { attempts: 2, delayMs: 5 } });
  });
  after(async () => {
    await az?.stop();
  });

  test("without an action group a stack gets no alert rule", () => {
    const graph = graphOf(specOf({ name: "noalerts", resourceGroup: "rg-noalerts" }), null);
    assert.deepEqual(
      graph.nodes.filter((n) => n.key.startsWith("alert:")),
      [],
    );
  });

  test("an availability set stack that scales on CPU: five rules, each wired to the action group", async () => {
    const spec = specOf({
      name: "alerts1",
      resourceGroup: "rg-alerts1",
      policies: { scale: { enabled: true, metric: "cpu" } },
    });
    const graph = graphOf(spec);
    for (const node of topologicalOrder(graph.nodes)) await engine.apply(node);
    const names = stackNames(spec);
    const rules = az.emulator.store.all().filter((d) => /\/providers\/Microsoft\.Insights\//i.test(d.id));
    assert.deepEqual(rules.map((d) => d.name).sort(), [
      "alerts1-probe-down",
      "alerts1-resource-health",
      "alerts1-scale-in",
      "alerts1-scale-out",
      "alerts1-vm-unavailable",
    ]);
    for (const rule of rules) assert.equal(rule.tags?.[STACK_TAG_NAME], "alerts1", `${rule.name} is tagged`);

    const byName = (n: string) => rules.find((d) => d.name === `alerts1-${n}`)!;
    const probe = byName("probe-down");
    assert.deepEqual(at(probe, "properties.scopes"), [names.loadBalancerId]);
    const probeCriterion = (at(probe, "properties.criteria.allOf") as Doc[])[0];
    assert.equal(probeCriterion.metricName, "DipAvailability");
    assert.deepEqual(probeCriterion.dimensions, [{ name: "BackendIPAddress", operator: "Include", values: ["*"] }]);
    assert.equal(at(probe, "properties.autoMitigate"), true, "Resolved notifications cancel pending repairs");
    assert.equal((at(probe, "properties.actions") as Doc[])[0].actionGroupId, ACTION_GROUP);

    // every VM of the resource group, so replacements and scale-outs need no new rule
    const vm = byName("vm-unavailable");
    assert.deepEqual(at(vm, "properties.scopes"), [names.resourceGroupId]);
    assert.equal(at(vm, "properties.targetResourceType"), "Microsoft.Compute/virtualMachines");
    assert.equal(at(vm, "properties.targetResourceRegion"), LOCATION);

    const health = byName("resource-health");
    assert.deepEqual(at(health, "properties.condition.allOf"), [
      { field: "category", equals: "ResourceHealth" },
      { field: "resourceType", equals: "Microsoft.Compute/virtualMachines" },
    ]);
    assert.equal((at(health, "properties.actions.actionGroups") as Doc[])[0].actionGroupId, ACTION_GROUP);

    const out = (at(byName("scale-out"), "properties.criteria.allOf") as Doc[])[0];
    const into = (at(byName("scale-in"), "properties.criteria.allOf") as Doc[])[0];
    assert.deepEqual(
      [out.metricName, out.operator, into.metricName, into.operator],
      ["Percentage CPU", "GreaterThan", "Percentage CPU", "LessThan"],
    );
    assert.ok((out.threshold as number) - (into.threshold as number) >= 40, "a margin wide enough to not flap");

    // a second apply writes nothing
    const before = az.emulator.journal.list().length;
    const plans = await Promise.all(graph.nodes.map((n) => engine.plan(n)));
    assert.deepEqual(
      plans.filter((p) => p.action !== "none").map((p) => `${p.key}: ${p.action}`),
      [],
    );
    const writes = az.emulator.journal
      .list()
      .slice(before)
      .filter((e) => e.method !== "GET");
    assert.deepEqual(
      writes.map((e) => `${e.method} ${e.path}`),
      [],
    );

    // teardown removes them with the rest of the stack
    for (const node of teardownOrder(graph.nodes)) await engine.remove(node, graph.tag);
    assert.deepEqual(
      az.emulator.store
        .all()
        .filter((d) => d.tags?.[STACK_TAG_NAME] === "alerts1")
        .map((d) => d.id),
      [],
    );
  });

  test("a scale set stack watches its scale set's CPU; no CPU rules when scaling is off", async () => {
    const spec = specOf({
      name: "alerts2",
      resourceGroup: "rg-alerts2",
      fleet: { mode: "scaleSet", size: 2 },
      policies: { scale: { enabled: true } },
    });
    const scaling = graphOf(spec);
    const out = scaling.nodes.find((n) => n.key === "alert:scale-out")!;
    assert.deepEqual(at(out.body, "properties.scopes"), [stackNames(spec).scaleSetId]);
    assert.deepEqual(out.dependsOn, ["vmss"]);
    for (const node of topologicalOrder(scaling.nodes)) await engine.apply(node);
    assert.ok(az.emulator.store.get(out.id), "the scale set rule exists");

    const quiet = graphOf(specOf({ name: "alerts3", resourceGroup: "rg-alerts3" }));
    assert.deepEqual(
      quiet.nodes.filter((n) => n.key.startsWith("alert:")).map((n) => n.key),
      ["alert:probe-down", "alert:vm-unavailable", "alert:resource-health"],
    );
  });

  test("the emulator refuses rules Azure Monitor would refuse", async () => {
    const spec = specOf({ name: "alerts4", resourceGroup: "rg-alerts4" });
    const graph = graphOf(spec);
    for (const node of topologicalOrder(graph.nodes).filter((n) => !n.key.startsWith("alert:"))) {
      await engine.apply(node);
    }
    const probe = graph.nodes.find((n) => n.key === "alert:probe-down")!;
    const client = az.factory.resources(SUB);
    const broken = structuredClone(probe.body) as Doc;
    (broken.properties as Doc).scopes = [];
    await assert.rejects(
      client.resources.beginCreateOrUpdateByIdAndWait(probe.id, probe.apiVersion, broken),
      /Scopes cannot be empty/,
    );
    const multi = structuredClone(probe.body) as Doc;
    (multi.properties as Doc).scopes = [stackNames(spec).resourceGroupId];
    await assert.rejects(
      client.resources.beginCreateOrUpdateByIdAndWait(probe.id, probe.apiVersion, multi),
      /exactly one resource/,
    );
  });
});
