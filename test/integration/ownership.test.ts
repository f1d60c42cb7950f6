// Only our own resources, through the resource engine and the real SDK clients against the emulator:
// a look-alike resource at one of the stack's ids (an untagged NSG `<stack>-web-nsg`, an untagged
// resource group, a vault of someone else's at the vault's id, a resource of another stack) is
// flagged by plan (`conflict`), refused by apply before any write (409 ForeignResource, nothing behind
// it starts) and kept by teardown, its ARM document byte for byte the same; the spec's `adopt` takes
// an untagged one over (tagged, then managed and torn down like the stack's own), never another
// stack's; children (secrets, role assignments) go with their parent.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ResourceEngine } from "../../shared/arm/engine";
import { ArmApplyError } from "../../shared/arm/errors";
import { stackNames, STACK_TAG_NAME } from "../../shared/graph/names";
import { topologicalOrder } from "../../shared/graph/order";
import { API_VERSIONS, buildStackGraph } from "../../shared/graph/stack-graph";
import type { GraphNode, StackGraph } from "../../shared/graph/types";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { armGetRaw, LOCATION, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";

const STACK = "owned";
const FUNCTION_PRINCIPAL = "0f0e0d0c-0b0a-4909-8807-060504030201";

function specOf(overrides: Record<string, unknown> = {}): StackSpec {
  const r = validateStackSpec({
    name: STACK,
    subscriptionId: SUB,
    resourceGroup: RG,
    location: LOCATION,
    ...overrides,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

const names = stackNames(specOf());

describe("ownership: the engine writes only what is the stack's", () => {
  let az: AzureFixture;
  let engine: ResourceEngine;
  const ctx = {
    tenantId: "",
    functionPrincipalId: FUNCTION_PRINCIPAL,
    renderCustomData: (vm: { name: string }) => Buffer.from(`#cloud-config\nhostname: ${vm.name}\n`).toString("base64"),
  };
  const graphOf = (spec = specOf()): StackGraph => buildStackGraph(spec, ctx);
  const node = (g: StackGraph, key: string): GraphNode => g.nodes.find((n) => n.key === key)!;
  const raw = (id: string, apiVersion: string = API_VERSIONS.network) => armGetRaw(az.emulator, id, apiVersion);
  const rawGroup = () => raw(names.resourceGroupId, API_VERSIONS.resources);
  const net = () => az.factory.network(SUB);

  /** Applies every node in dependency order; a failed node's dependents are skipped, as the deploy does. */
  async function applyAll(g: StackGraph) {
    const failed = new Map<string, ArmApplyError>();
    const skipped: string[] = [];
    const actions = new Map<string, string>();
    const blocked = new Set<string>();
    for (const n of topologicalOrder(g.nodes)) {
      const key = n.key;
      if (n.dependsOn.some((d) => blocked.has(d))) {
        blocked.add(key);
        skipped.push(key);
        continue;
      }
      try {
        actions.set(key, (await engine.apply(n)).action);
      } catch (e) {
        assert.ok(e instanceof ArmApplyError, String(e));
        failed.set(key, e);
        blocked.add(key);
      }
    }
    return { failed, skipped, actions };
  }

  async function removeAll(g: StackGraph) {
    const results = new Map<string, { action: string; reason?: string }>();
    for (const n of topologicalOrder(g.nodes).reverse()) results.set(n.key, await engine.remove(n, g.tag));
    return results;
  }

  /** Someone else's resources at the stack's ids: an untagged group and an untagged `<stack>-web-nsg` in it. */
  async function lookAlikes(groupLocation = LOCATION) {
    await az.factory
      .resources(SUB)
      .resourceGroups.createOrUpdate(RG, { location: groupLocation, tags: { team: "platform" } }, az.factory.call());
    await lookAlikeNsg();
  }

  /** An untagged `<stack>-web-nsg` with a rule of its owner's. */
  async function lookAlikeNsg() {
    await net().networkSecurityGroups.beginCreateOrUpdateAndWait(
      RG,
      names.webNsg,
      {
        location: LOCATION,
        tags: { team: "platform" },
        securityRules: [
          {
            name: "allow-ssh-from-office",
            protocol: "Tcp",
            sourcePortRange: "*",
            destinationPortRange: "22",
            sourceAddressPrefix: "198.51.100.0/24",
            destinationAddressPrefix: "*",
            access: "Allow",
            priority: 200,
            direction: "Inbound",
          },
        ],
      },
      az.factory.lro(),
    );
  }

  before(async () => {
    az = await startAzure({ lro: { mode: "async", pollsBeforeDone: 1 } });
    ctx.tenantId = az.emulator.tenantId;
    engine = new ResourceEngine(az.factory, { secretAccessRetry: { attempts: 2, delayMs: 5 } });
  });
  after(async () => {
    await az.stop();
  });

  test("an untagged resource group: plan flags it, apply refuses it with no write, nothing behind it starts", async () => {
    az.emulator.reset();
    await lookAlikes();
    const group = await rawGroup();
    const nsg = await raw(names.webNsgId);
    az.emulator.journal.clear();
    const g = graphOf();

    const plans = await Promise.all(g.nodes.map((n) => engine.plan(n)));
    const conflicts = plans.filter((p) => p.action === "conflict");
    assert.deepEqual(conflicts.map((p) => p.key).sort(), ["nsg:web", "rg"]);
    assert.match(
      conflicts.find((p) => p.key === "rg")!.reason!,
      /exists and is not the stack's \(no jumpgate-stack tag\)/,
    );
    // what a deploy would have done to the NSG, had it been the stack's: its rules replaced
    const nsgPlan = conflicts.find((p) => p.key === "nsg:web")!;
    assert.ok(nsgPlan.changes.some((c) => c.path === "properties.securityRules[allow-ssh-from-office]"));

    const run = await applyAll(g);
    assert.deepEqual([...run.failed.keys()], ["rg"]);
    const refusal = run.failed.get("rg")!;
    assert.equal(refusal.code, "ForeignResource");
    assert.equal(refusal.status, 409);
    assert.equal(refusal.id, names.resourceGroupId);
    assert.match(
      refusal.message,
      /^rg: 409 ForeignResource: \/subscriptions\/.*\/resourceGroups\/rg-jumpgate-test exists/,
    );
    assert.equal(run.skipped.length, g.nodes.length - 1, "every node waits for the group");
    assert.deepEqual(az.emulator.journal.writes(), [], "no ARM or Key Vault write at all");
    assert.equal(await rawGroup(), group, "the group's document is byte for byte the same");
    assert.equal(await raw(names.webNsgId), nsg);
  });

  test("an untagged NSG `<stack>-web-nsg` in the stack's own group: refused, its rules and tags untouched, teardown keeps it", async () => {
    az.emulator.reset();
    const g = graphOf();
    await engine.apply(node(g, "rg")); // the group is the stack's: only the NSG is someone else's
    await lookAlikeNsg();
    const nsg = await raw(names.webNsgId);
    az.emulator.journal.clear();

    const run = await applyAll(g);
    assert.deepEqual([...run.failed.keys()], ["nsg:web"]);
    assert.equal(run.failed.get("nsg:web")!.code, "ForeignResource");
    // what needs the NSG waits; what does not is built
    assert.ok(run.skipped.includes("vnet") && run.skipped.includes("mysql"), run.skipped.join(", "));
    assert.equal(run.actions.get("kv"), "created");
    assert.equal(run.actions.get("pip"), "created");
    assert.ok(
      !az.emulator.journal.writes().some((w) => w.path.toLowerCase() === names.webNsgId.toLowerCase()),
      "no write to the NSG",
    );
    assert.equal(await raw(names.webNsgId), nsg, "byte for byte the same");

    // teardown deletes what is the stack's, keeps the NSG and the group that holds it
    const removed = await removeAll(g);
    assert.equal(removed.get("nsg:web")?.action, "refused");
    assert.match(removed.get("nsg:web")?.reason ?? "", /not tagged jumpgate-stack=owned/);
    assert.equal(removed.get("rg")?.action, "refused");
    assert.match(removed.get("rg")?.reason ?? "", /still holds 1 resource/);
    assert.equal(removed.get("kv")?.action, "deleted");
    assert.equal(await raw(names.webNsgId), nsg, "still byte for byte the same");
    assert.deepEqual(
      az.emulator.store.all().map((d) => d.id.toLowerCase()),
      [names.resourceGroupId, names.webNsgId].map((id) => id.toLowerCase()),
    );
  });

  test("a resource of another stack is never taken, not even when the spec adopts it", async () => {
    az.emulator.reset();
    const other = buildStackGraph(specOf({ name: "other", resourceGroup: RG }), ctx);
    await engine.apply(node(other, "rg"));
    const group = await rawGroup();
    const adopting = graphOf(specOf({ adopt: [names.resourceGroupId] }));
    const plan = await engine.plan(node(adopting, "rg"));
    assert.equal(plan.action, "conflict");
    assert.match(plan.reason ?? "", /belongs to stack 'other' \(tag jumpgate-stack=other\)/);
    az.emulator.journal.clear();
    await assert.rejects(engine.apply(node(adopting, "rg")), (e: ArmApplyError) => e.code === "ForeignResource");
    assert.deepEqual(az.emulator.journal.writes(), []);
    assert.equal(await rawGroup(), group);
  });

  test("children go with their parent: no secret and no role assignment in someone else's vault", async () => {
    az.emulator.reset();
    const g = graphOf();
    await engine.apply(node(g, "rg"));
    // someone else's vault at the stack's vault id (the name is the stack's, the tag is not)
    await az.factory.resources(SUB).resources.beginCreateOrUpdateByIdAndWait(
      names.keyVaultId,
      API_VERSIONS.keyVault,
      {
        location: LOCATION,
        tags: { team: "platform" },
        properties: {
          tenantId: az.emulator.tenantId,
          sku: { family: "A", name: "standard" },
          enableRbacAuthorization: true,
        },
      },
      az.factory.lro(),
    );
    const children = g.nodes.filter((n) => n.tagOwner?.id === names.keyVaultId);
    assert.ok(children.some((n) => n.kind === "keyVaultSecret") && children.some((n) => n.kind === "roleAssignment"));
    for (const child of children) {
      const plan = await engine.plan(child);
      assert.equal(plan.action, "conflict", child.key);
      assert.match(plan.reason ?? "", /would go into .*vaults\/kv-owned-.*, which exists and is not the stack's/);
    }
    az.emulator.journal.clear();
    for (const child of children) {
      await assert.rejects(engine.apply(child), (e: ArmApplyError) => e.code === "ForeignResource", child.key);
    }
    assert.deepEqual(az.emulator.journal.writes(), [], "no secret written, no role granted");
    assert.deepEqual(az.emulator.keyVault.secretValues(names.keyVault), []);
  });

  test("adopt: an untagged group (in another region) and NSG are taken over, then are the stack's in every verb", async () => {
    az.emulator.reset();
    await lookAlikes("northeurope");
    const g = graphOf(specOf({ adopt: [names.resourceGroupId, names.webNsgId.toLowerCase()] }));

    const plans = await Promise.all(g.nodes.map((n) => engine.plan(n)));
    const adopted = plans.filter((p) => p.action === "adopt");
    assert.deepEqual(adopted.map((p) => p.key).sort(), ["nsg:web", "rg"]);
    // the group keeps its region (fixed at creation): only the tag changes hands
    assert.deepEqual(adopted.find((p) => p.key === "rg")!.changes, [
      { path: `tags.${STACK_TAG_NAME}`, from: undefined, to: STACK },
    ]);
    assert.ok(
      !plans.some((p) => p.action === "conflict"),
      JSON.stringify(plans.filter((p) => p.action === "conflict")),
    );

    const run = await applyAll(g);
    assert.deepEqual([...run.failed.keys()], [], [...run.failed.values()].map((e) => e.message).join("\n"));
    assert.equal(run.actions.get("rg"), "adopted");
    assert.equal(run.actions.get("nsg:web"), "adopted");
    const group = JSON.parse((await rawGroup())!) as { location: string; tags: Record<string, string> };
    assert.equal(group.location, "northeurope");
    assert.deepEqual(group.tags, { team: "platform", [STACK_TAG_NAME]: STACK }, "their tags stay, ours is added");
    const nsg = JSON.parse((await raw(names.webNsgId))!) as {
      tags: Record<string, string>;
      properties: { securityRules: { name: string }[] };
    };
    assert.equal(nsg.tags[STACK_TAG_NAME], STACK);
    assert.ok(!nsg.properties.securityRules.some((r) => r.name === "allow-ssh-from-office"), "the stack's rules now");

    // from now on it is the stack's: an unchanged stack is zero writes, even without adopt
    az.emulator.journal.clear();
    const again = await applyAll(graphOf());
    assert.deepEqual([...again.failed.keys()], []);
    assert.deepEqual(az.emulator.journal.writes(), []);
    // and teardown takes it with the rest
    const removed = await removeAll(graphOf());
    assert.equal(removed.get("nsg:web")?.action, "deleted");
    assert.equal(removed.get("rg")?.action, "deleted");
    assert.deepEqual(az.emulator.store.all(), []);
  });

  test("a deleted look-alike is no obstacle: a missing resource is created as the stack's", async () => {
    az.emulator.reset();
    const g = graphOf();
    const plans = await Promise.all(g.nodes.map((n) => engine.plan(n)));
    assert.ok(plans.every((p) => p.action === "create"));
  });
});
