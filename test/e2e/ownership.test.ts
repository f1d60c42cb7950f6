// Only our own resources, through the real HTTP routes (app on the durable test host in real time,
// the Azure emulator with the real SDK clients, Azurite, stand-in node agents):
//  - someone else's untagged resource group and NSG `<stack>-web-nsg` at the stack's ids: plan flags
//    both, the deploy fails with a 409 problem naming them and writes nothing, GET shows
//    ResourcesOwned=False; adopting the group takes it over while the NSG stays refused; teardown
//    finishes, keeps the NSG and the group that holds it, says so, and unregisters the stack; the
//    NSG's ARM document is byte for byte what its owner wrote, throughout;
//  - adopting an untagged group and NSG makes them the stack's (deploy, plan in sync, teardown);
//    teardown with someone else's resource in the group finishes, keeps the group and unregisters;
//  - a public IP DNS label another Azure customer holds fails the deploy naming it and the fix.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { stackNames, STACK_TAG_NAME } from "../../shared/graph/names";
import { API_VERSIONS } from "../../shared/graph/stack-graph";
import { validateStackSpec } from "../../shared/spec/validate";
import { armGetRaw } from "../../dev/azure";
import { standInAgentRoot } from "../../dev/stand-in-agent";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

const SUB = "00000000-0000-0000-0000-00000000e2e7";
const LOCATION = "westeurope";
type Json = Record<string, unknown>;

const body = (rg: string, extra: Json = {}) => ({
  subscriptionId: SUB,
  resourceGroup: rg,
  location: LOCATION,
  fleet: { mode: "availabilitySet", size: 2 },
  ...extra,
});
const namesOf = (stack: string, rg: string) => {
  const r = validateStackSpec({ name: stack, ...body(rg) });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return stackNames(r.spec);
};

describe("only the stack's own resources, through the HTTP API", () => {
  let env: JumpgateEnv;
  let root: string;

  async function call(method: string, route: string, payload?: unknown) {
    const res = await fetch(`${env.api}${route}`, {
      method,
      ...(payload !== undefined
        ? { body: JSON.stringify(payload), headers: { "content-type": "application/json" } }
        : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      location: res.headers.get("location") ?? "",
      contentType: res.headers.get("content-type"),
      json: text ? (JSON.parse(text) as Json) : {},
    };
  }

  async function finished(url: string): Promise<Json> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const op = (await (await fetch(url)).json()) as Json;
      if (op.runtimeStatus === "Completed" || op.runtimeStatus === "Failed") return op;
      if (Date.now() > deadline) throw new Error(`operation still ${String(op.runtimeStatus)}: ${JSON.stringify(op)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function deploy(stack: string, spec: Json): Promise<Json> {
    const put = await call("PUT", `/stacks/${stack}`, spec);
    assert.equal(put.status, 202, JSON.stringify(put.json));
    return finished(put.location);
  }

  async function teardown(stack: string): Promise<Json> {
    const del = await call("DELETE", `/stacks/${stack}`);
    assert.equal(del.status, 202, JSON.stringify(del.json));
    return finished(del.location);
  }

  const raw = (id: string, apiVersion: string = API_VERSIONS.network) => armGetRaw(env.emulator, id, apiVersion);

  /** Someone else's: an untagged group, an untagged `<stack>-web-nsg` in it with a rule of theirs. */
  async function lookAlikes(rg: string, nsg: string): Promise<void> {
    const { factory } = env.services;
    await factory.resources(SUB).resourceGroups.createOrUpdate(rg, { location: LOCATION, tags: { team: "platform" } });
    await factory.network(SUB).networkSecurityGroups.beginCreateOrUpdateAndWait(
      rg,
      nsg,
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
      factory.lro(),
    );
  }

  before(async () => {
    root = standInAgentRoot();
    env = await startJumpgateEnv({
      http: true,
      realTime: { timeScale: 50 },
      emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
    });
  });

  after(async () => {
    await env?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("a look-alike group and NSG: plan flags them, deploy refuses them untouched, teardown keeps them and finishes", async () => {
    const stack = "look";
    const rg = "rg-look";
    const names = namesOf(stack, rg);
    await lookAlikes(rg, names.webNsg);
    const nsgBytes = await raw(names.webNsgId);
    const groupBytes = await raw(names.resourceGroupId, API_VERSIONS.resources);
    env.emulator.journal.clear();

    // plan of the spec: both flagged, with why
    const plan = await call("POST", `/stacks/${stack}/plan`, body(rg));
    assert.equal(plan.status, 200, JSON.stringify(plan.json));
    const summary = plan.json.summary as Record<string, number>;
    assert.equal(summary.conflict, 2, JSON.stringify(summary));
    const changes = plan.json.changes as { key: string; id: string; action: string; reason?: string }[];
    const conflicts = changes.filter((c) => c.action === "conflict");
    assert.deepEqual(conflicts.map((c) => c.id).sort(), [names.resourceGroupId, names.webNsgId].sort());
    for (const c of conflicts) assert.match(c.reason ?? "", /is not the stack's \(no jumpgate-stack tag\)/);

    // the deploy fails on the group, writes nothing, names it as a 409 problem
    const failed = await deploy(stack, body(rg));
    assert.equal(failed.runtimeStatus, "Failed", JSON.stringify(failed));
    assert.match(String(failed.failure), /rg: 409 ForeignResource/);
    const problem = (failed.progress as Json).problem as Json;
    assert.equal(problem.status, 409);
    assert.equal(problem.type, "https://jumpgate.dev/problems/foreign-resource");
    assert.deepEqual(
      (problem.resources as { key: string; id: string }[]).map((r) => [r.key, r.id]),
      [["rg", names.resourceGroupId]],
    );
    assert.match(String(problem.detail), /rg-look/);
    assert.deepEqual(env.emulator.journal.writes(), [], "not one ARM or Key Vault write");
    const got = await call("GET", `/stacks/${stack}`);
    const owned = (got.json.conditions as { type: string; status: string; reason: string; message: string }[]).find(
      (c) => c.type === "ResourcesOwned",
    );
    assert.deepEqual([owned?.status, owned?.reason], ["False", "ForeignResource"]);
    assert.match(owned?.message ?? "", /rg-look/);
    const last = (got.json.observed as { lastOperation: { outcome: string; failures: string[] } }).lastOperation;
    assert.equal(last.outcome, "failed");
    assert.match(last.failures.join("\n"), /ForeignResource/);

    // adopting the group takes it over; the NSG is still someone else's
    const adopted = await deploy(stack, body(rg, { adopt: [names.resourceGroupId] }));
    assert.equal(adopted.runtimeStatus, "Failed", JSON.stringify(adopted));
    const second = (adopted.progress as Json).problem as { resources: { key: string; id: string }[] };
    assert.deepEqual(
      second.resources.map((r) => [r.key, r.id]),
      [["nsg:web", names.webNsgId]],
    );
    const group = JSON.parse((await raw(names.resourceGroupId, API_VERSIONS.resources))!) as Json;
    assert.deepEqual(group.tags, { team: "platform", [STACK_TAG_NAME]: stack });
    assert.notEqual(JSON.stringify(group), groupBytes);
    assert.equal(await raw(names.webNsgId), nsgBytes, "the NSG is byte for byte what its owner wrote");
    const stored = await call("POST", `/stacks/${stack}/plan`);
    assert.deepEqual(
      (stored.json.changes as { key: string; action: string }[])
        .filter((c) => c.action === "conflict")
        .map((c) => c.key),
      ["nsg:web"],
    );

    // teardown: what is the stack's goes, the NSG and the group that holds it stay, and it is said
    const gone = await teardown(stack);
    assert.equal(gone.runtimeStatus, "Completed", JSON.stringify(gone));
    const output = gone.output as { kept: { key: string; id: string; reason: string }[]; deleted: string[] };
    assert.deepEqual(output.kept.map((k) => k.key).sort(), ["nsg:web", "rg"]);
    assert.match(output.kept.find((k) => k.key === "rg")!.reason, /still holds 1 resource.*look-web-nsg/);
    assert.ok(output.deleted.includes("kv") && output.deleted.includes("pip"), JSON.stringify(output.deleted));
    assert.equal((await call("GET", `/stacks/${stack}`)).status, 404, "unregistered");
    const trail = await call("GET", `/stacks/${stack}/events`);
    const events = trail.json.events as { what: string; why: string; details?: Json }[];
    assert.equal(events[0].what, "teardown succeeded");
    assert.match(events[0].why, /kept 2 resource\(s\) that are not the stack's/);
    assert.equal(((events[0].details as Json).kept as unknown[]).length, 2);
    assert.equal(await raw(names.webNsgId), nsgBytes);
    assert.ok(await raw(names.resourceGroupId, API_VERSIONS.resources), "the group stays");
  });

  test("adopt takes an untagged group and NSG over; teardown with someone else's resource in the group finishes", async () => {
    const stack = "adopt1";
    const rg = "rg-adopt1";
    const names = namesOf(stack, rg);
    await lookAlikes(rg, names.webNsg);
    const spec = body(rg, { adopt: [names.resourceGroupId, names.webNsgId] });

    const plan = await call("POST", `/stacks/${stack}/plan`, spec);
    assert.equal((plan.json.summary as Record<string, number>).adopt, 2, JSON.stringify(plan.json.summary));
    const done = await deploy(stack, spec);
    assert.equal(done.runtimeStatus, "Completed", JSON.stringify(done));
    const resources = (done.output as { resources: { key: string; lastAction: string }[] }).resources;
    assert.deepEqual(
      resources.filter((r) => r.lastAction === "adopted").map((r) => r.key),
      ["rg", "nsg:web"],
    );
    const nsg = JSON.parse((await raw(names.webNsgId))!) as {
      tags: Json;
      properties: { securityRules: { name: string }[] };
    };
    assert.equal(nsg.tags[STACK_TAG_NAME], stack);
    assert.ok(!nsg.properties.securityRules.some((r) => r.name === "allow-ssh-from-office"));
    const got = await call("GET", `/stacks/${stack}`);
    const owned = (got.json.conditions as { type: string; status: string }[]).find((c) => c.type === "ResourcesOwned");
    assert.equal(owned?.status, "True");
    const deployed = (got.json.events as { what: string; details?: { adopted?: string[] } }[]).find(
      (e) => e.what === "deploy succeeded",
    );
    assert.deepEqual(deployed?.details?.adopted, [names.resourceGroupId, names.webNsgId]);
    // the default DNS label is the stack's own
    const pip = JSON.parse((await raw(names.publicIpId))!) as { properties: { dnsSettings: { fqdn: string } } };
    assert.match(pip.properties.dnsSettings.fqdn, /^adopt1-[0-9a-f]{8}\.westeurope\.cloudapp\.azure\.com$/);
    const inSync = await call("POST", `/stacks/${stack}/plan`);
    assert.deepEqual(inSync.json.changes, []);

    // someone puts a resource of theirs in the stack's group
    const stranger = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Network/publicIPAddresses/someone-elses-ip`;
    await env.services.factory
      .network(SUB)
      .publicIPAddresses.beginCreateOrUpdateAndWait(
        rg,
        "someone-elses-ip",
        { location: LOCATION, sku: { name: "Standard" }, publicIPAllocationMethod: "Static" },
        env.services.factory.lro(),
      );
    const strangerBytes = await raw(stranger);
    const gone = await teardown(stack);
    assert.equal(gone.runtimeStatus, "Completed", JSON.stringify(gone));
    const output = gone.output as { kept: { key: string; reason: string }[]; deleted: string[] };
    assert.deepEqual(
      output.kept.map((k) => k.key),
      ["rg"],
    );
    assert.match(output.kept[0].reason, /someone-elses-ip/);
    assert.ok(output.deleted.includes("nsg:web"), "adopted, so the stack's to delete");
    assert.equal((await call("GET", `/stacks/${stack}`)).status, 404);
    assert.equal(await raw(stranger), strangerBytes);
    const left = env.emulator.store.all().filter((d) => d.id.toLowerCase().includes(`/resourcegroups/${rg}/`));
    assert.deepEqual(
      left.map((d) => d.id.toLowerCase()),
      [stranger.toLowerCase()],
    );
  });

  test("a DNS label another public IP holds fails the deploy, naming the label and the fix", async () => {
    const stack = "label1";
    const failed = await deploy(stack, body("rg-label1", { tls: { dnsLabel: "demo" } }));
    assert.equal(failed.runtimeStatus, "Failed", JSON.stringify(failed));
    const failure = String(failed.failure);
    assert.match(failure, /pip: write \/subscriptions\/.*\/publicIPAddresses\/label1-pip failed: 400 DnsRecordInUse/);
    assert.match(failure, /DNS record demo\.westeurope\.cloudapp\.azure\.com is already used by another public IP/);
    assert.match(failure, /set tls\.dnsLabel to another label/);
    const got = await call("GET", `/stacks/${stack}`);
    const last = (got.json.observed as { lastOperation: { failures: string[] } }).lastOperation;
    assert.match(last.failures.join("\n"), /DnsRecordInUse/);
    assert.equal((await teardown(stack)).runtimeStatus, "Completed");
  });
});
