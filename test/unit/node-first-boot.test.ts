// When bring-up looks at a new node again (shared/node/first-boot.ts): what the graph's new web VM or
// scale set model boots from, read from the stack graph itself.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { nodeImageVersionId } from "../../shared/graph/names";
import { buildStackGraph, webNodeGraphNodes, type StackGraphContext } from "../../shared/graph/stack-graph";
import { bootSourceOf, FIRST_BOOT_ESTIMATE_MS, provisionsWebVm } from "../../shared/node/first-boot";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";

const ctx: StackGraphContext = {
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  renderCustomData: (vm) => Buffer.from(`#cloud-config\n# ${vm.name} ${vm.boot}\n`).toString("base64"),
};

function spec(mode: "availabilitySet" | "scaleSet"): StackSpec {
  const r = validateStackSpec({
    name: "jump-one",
    subscriptionId: "00000000-0000-0000-0000-00000000a001",
    resourceGroup: "rg-jump",
    location: "westeurope",
    fleet: { mode, size: 2 },
    nodeImage: { enabled: true },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

for (const mode of ["availabilitySet", "scaleSet"] as const) {
  void test(`${mode}: a new web node boots from the image only when the graph is given one`, () => {
    const s = spec(mode);
    const ordinal = mode === "availabilitySet" ? 2 : undefined;
    const bootImage = { id: nodeImageVersionId(s, "1.6.12345"), version: "1.6.12345" };
    const fromSource = webNodeGraphNodes(buildStackGraph(s, ctx), ordinal);
    const fromImage = webNodeGraphNodes(buildStackGraph(s, { ...ctx, bootImage }), ordinal);
    assert.equal(bootSourceOf(fromSource), "source");
    assert.equal(bootSourceOf(fromImage), "image");
    // exactly one of the member's nodes provisions the VM: its write ends where the first boot starts
    assert.equal(fromImage.filter(provisionsWebVm).length, 1);
    assert.ok(FIRST_BOOT_ESTIMATE_MS.image < FIRST_BOOT_ESTIMATE_MS.source);
  });
}

void test("no web VM among the nodes: nothing to say", () => {
  const s = spec("availabilitySet");
  const graph = buildStackGraph(s, ctx);
  assert.equal(bootSourceOf(graph.nodes.filter((n) => n.kind === "networkInterface")), undefined);
});
