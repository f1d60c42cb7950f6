// The whole stack graph through the resource engine and the real SDK clients, against the emulator
// in `instant` and `async` LRO modes: deploy (as parallel as the edges allow), read the security
// properties back through ARM, reconcile with zero writes, plan and apply one change, repair drift
// (an SSH rule added out of band), survive faults and converge on a re-run, tear down in reverse
// order while refusing what is not the stack's, recover a soft-deleted vault, deploy a zonal scale
// set, and never leak a secret value into anything the engine produced.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ResourceEngine, type ApplyResult, type RemoveResult } from "../../shared/arm/engine";
import { ArmApplyError } from "../../shared/arm/errors";
import { stackNames, STACK_TAG_NAME, VM_SSH_PUBLIC_KEY_SECRET, webNodeNames } from "../../shared/graph/names";
import { dependentsOf } from "../../shared/graph/order";
import { buildStackGraph } from "../../shared/graph/stack-graph";
import type { GraphNode, NodePlan, StackGraph } from "../../shared/graph/types";
import { NODE_PROBE } from "../../shared/node/constants";
import { SECRET_NAMES } from "../../shared/secret-names";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { LOCATION, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";

const FUNCTION_PRINCIPAL = "0f0e0d0c-0b0a-4909-8807-060504030201";

function specOf(overrides: Record<string, unknown> = {}): StackSpec {
  const r = validateStackSpec({
    name: "jgtest",
    subscriptionId: SUB,
    resourceGroup: RG,
    location: LOCATION,
    tags: { env: "test" },
    ...overrides,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

type Doc = Record<string, unknown>;
const at = (doc: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((cur, k) => (cur && typeof cur === "object" ? (cur as Doc)[k] : undefined), doc);

interface RunOutcome<R> {
  results: Map<string, R>;
  failed: Map<string, unknown>;
  skipped: string[];
}

/** Runs `fn` per node, each as soon as what it waits for is done (dependencies, or dependents in reverse). */
async function runGraph<R>(
  nodes: GraphNode[],
  fn: (node: GraphNode) => Promise<R>,
  direction: "forward" | "reverse" = "forward",
): Promise<RunOutcome<R>> {
  const dependents = dependentsOf(nodes);
  const waitsFor = (n: GraphNode) => (direction === "forward" ? n.dependsOn : dependents.get(n.key)!);
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const runs = new Map<string, Promise<R>>();
  const out: RunOutcome<R> = { results: new Map(), failed: new Map(), skipped: [] };
  class Skipped extends Error {}
  const run = (key: string): Promise<R> => {
    let p = runs.get(key);
    if (!p) {
      const node = byKey.get(key)!;
      p = Promise.all(waitsFor(node).map(run)).then(
        () => fn(node),
        () => {
          throw new Skipped(key);
        },
      );
      runs.set(key, p);
    }
    return p;
  };
  const settled = await Promise.allSettled(nodes.map((n) => run(n.key)));
  settled.forEach((s, i) => {
    const key = nodes[i].key;
    if (s.status === "fulfilled") out.results.set(key, s.value);
    else if (s.reason instanceof Skipped) out.skipped.push(key);
    else out.failed.set(key, s.reason);
  });
  return out;
}

for (const mode of ["instant", "async"] as const) {
  describe(`stack apply through the engine (${mode} LRO mode)`, () => {
    let az: AzureFixture;
    let engine: ResourceEngine;
    const spec = specOf();
    const names = stackNames(spec);
    const ctx = {
      tenantId: "",
      functionPrincipalId: FUNCTION_PRINCIPAL,
      renderCustomData: (vm: { name: string; index: number }) =>
        Buffer.from(`#cloud-config\nhostname: ${vm.name}\n`).toString("base64"),
    };
    let graph: StackGraph;
    /** everything the engine produced, scanned for secret values at the end */
    const produced: unknown[] = [];
    const secretValues = new Set<string>();
    const collectSecrets = () => {
      for (const v of az.emulator.keyVault.secretValues(names.keyVault)) secretValues.add(v);
    };
    const get = async (id: string, apiVersion: string) =>
      (await az.factory.resources(SUB).resources.getById(id, apiVersion, az.factory.call())) as unknown as Doc;
    const node = (key: string, g = graph) => g.nodes.find((n) => n.key === key)!;

    const applyAll = async (g = graph) => {
      const run = await runGraph(g.nodes, (n) => engine.apply(n));
      produced.push([...run.results.values()], [...run.failed.values()].map(errorText));
      return run;
    };
    const planAll = async (g = graph) => {
      const plans = await Promise.all(g.nodes.map((n) => engine.plan(n)));
      produced.push(plans);
      return plans;
    };
    const changed = (plans: NodePlan[]) => plans.filter((p) => p.action !== "none");
    const assertAllApplied = (run: RunOutcome<ApplyResult>) => {
      assert.deepEqual(
        [...run.failed.entries()].map(([k, e]) => `${k}: ${errorText(e)}`),
        [],
      );
      assert.deepEqual(run.skipped, []);
    };

    before(async () => {
      // a short per-request deadline: the SDK's timer for a request whose connection was reset
      // (the fault test) outlives the request and would hold the process open for its length
      az = await startAzure({ lro: { mode, pollsBeforeDone: 1 } }, { requestTimeoutMs: 1_000 });
      ctx.tenantId = az.emulator.tenantId;
      graph = buildStackGraph(spec, ctx);
      engine = new ResourceEngine(az.factory, { secretAccessRetry: { attempts: 2, delayMs: 5 } });
    });
    after(async () => {
      // the last check: nothing the engine produced carries a secret value
      const values = [...secretValues].filter((v) => !v.startsWith("ssh-rsa ")); // public by nature
      assert.ok(values.length >= 4, `collected ${values.length} secret values`);
      const text = JSON.stringify(produced) + JSON.stringify(az.emulator.journal.list());
      for (const v of values)
        assert.ok(!text.includes(v), "a secret value leaked into a plan, result, error or journal");
      await az.stop();
    });

    test("deploy: every node is created, in dependency order, as parallel as the edges allow", async () => {
      const plans = await planAll();
      assert.ok(
        plans.every((p) => p.action === "create"),
        JSON.stringify(plans.filter((p) => p.action !== "create")),
      );
      assert.equal(az.emulator.journal.writes().length, 0, "plan writes nothing");
      const roleplan = plans.find((p) => p.key === "ra:vm:web-1:db-app-a-password")!;
      assert.deepEqual(
        roleplan.changes.find((c) => c.path === "properties.principalId"),
        { path: "properties.principalId", from: undefined, to: "(known after apply)" },
      );
      const run = await applyAll();
      assertAllApplied(run);
      // a new server already requires TLS (no write), but it allows TLS 1.2 only (Azure's default):
      // the pinned "TLSv1.2,TLSv1.3" is written
      assert.deepEqual(
        [...run.results.values()].filter((r) => r.action !== "created").map((r) => `${r.key}:${r.action}`),
        ["mysql:config:require_secure_transport:unchanged", "mysql:config:tls_version:updated"],
      );
      collectSecrets();
      assert.equal(az.emulator.keyVault.secretValues(names.keyVault).length, 5);
    });

    test("read back through ARM: the security properties are what the graph says", async () => {
      const net = "2024-05-01";
      const web = await get(names.webNsgId, net);
      const rules = at(web, "properties.securityRules") as Doc[];
      assert.deepEqual(rules.map((r) => r.name).sort(), [
        "allow-http",
        "allow-https",
        "allow-lb-probe",
        "deny-all-inbound",
      ]);
      assert.ok(!rules.some((r) => at(r, "properties.destinationPortRange") === "22"));
      const vnet = await get(names.vnetId, net);
      const subnets = at(vnet, "properties.subnets") as Doc[];
      const db = subnets.find((s) => s.name === "db")!;
      assert.equal(String(at(db, "properties.networkSecurityGroup.id")).toLowerCase(), names.dbNsgId.toLowerCase());
      assert.equal(
        at((at(db, "properties.delegations") as Doc[])[0], "properties.serviceName"),
        "Microsoft.DBforMySQL/flexibleServers",
      );
      const lb = await get(names.loadBalancerId, net);
      const probe = (at(lb, "properties.probes") as Doc[])[0];
      assert.equal(at(probe, "properties.port"), NODE_PROBE.port);
      assert.equal(at(probe, "properties.requestPath"), NODE_PROBE.path);
      for (const r of at(lb, "properties.loadBalancingRules") as Doc[]) {
        assert.equal(at(r, "properties.loadDistribution"), "SourceIP");
        assert.equal(at(r, "properties.disableOutboundSnat"), true);
      }
      assert.equal((at(lb, "properties.outboundRules") as Doc[]).length, 1);
      const pool = (at(lb, "properties.backendAddressPools") as Doc[])[0];
      assert.equal((at(pool, "properties.backendIPConfigurations") as Doc[]).length, 2, "both NICs in the pool");
      const pip = await get(names.publicIpId, net);
      assert.equal(at(pip, "properties.dnsSettings.fqdn"), names.publicFqdn);

      const mysql = await get(names.mysqlServerId, "2023-12-30");
      assert.equal(at(mysql, "properties.network.publicNetworkAccess"), "Disabled");
      assert.equal(
        String(at(mysql, "properties.network.delegatedSubnetResourceId")).toLowerCase(),
        names.dbSubnetId.toLowerCase(),
      );
      assert.equal(at(mysql, "properties.administratorLoginPassword"), undefined);
      assert.equal(at(mysql, "properties.version"), "8.0.21");
      const firewall = [];
      for await (const r of az.factory.mysql(SUB).firewallRules.listByServer(RG, names.mysqlServer, az.factory.call()))
        firewall.push(r);
      assert.deepEqual(firewall, []);
      const tls = await get(`${names.mysqlServerId}/configurations/require_secure_transport`, "2023-12-30");
      assert.equal(at(tls, "properties.value"), "ON");
      assert.equal(at(await get(names.mysqlDatabaseId, "2023-12-30"), "properties.charset"), "utf8mb4");

      const kv = await get(names.keyVaultId, "2024-11-01");
      assert.equal(at(kv, "properties.enableRbacAuthorization"), true);
      assert.equal(at(kv, "properties.enablePurgeProtection"), true);

      const assignments = [];
      for await (const a of az.factory
        .authorization(SUB)
        .roleAssignments.listForScope(names.keyVaultId, az.factory.call()))
        assignments.push(a);
      const principals = new Set(assignments.map((a) => a.principalId));
      const onVault = assignments.filter((a) => a.scope?.toLowerCase() === names.keyVaultId.toLowerCase());
      for (const i of [1, 2]) {
        const vm = await get(webNodeNames(spec, i).vmId, "2024-07-01");
        const principalId = at(vm, "identity.principalId") as string;
        assert.ok(principals.has(principalId), `VM ${i}'s identity has a role on the vault's secrets`);
        assert.ok(!onVault.some((a) => a.principalId === principalId), `VM ${i}'s identity has none on the vault`);
        assert.deepEqual(
          assignments
            .filter((a) => a.principalId === principalId)
            .map((a) => a.scope)
            .sort(),
          [SECRET_NAMES.dbAppPasswordA, SECRET_NAMES.dbAppPasswordB].map((n) => `${names.keyVaultId}/secrets/${n}`),
          `VM ${i} reads the two app users' secrets, each granted on that secret`,
        );
        assert.equal(at(vm, "properties.osProfile.linuxConfiguration.disablePasswordAuthentication"), true);
        assert.match(String(at(vm, "properties.osProfile.linuxConfiguration.ssh.publicKeys.0.keyData")), /^ssh-rsa /);
        assert.equal(at(vm, "properties.osProfile.customData"), undefined, "write-only");
        const nic = await get(webNodeNames(spec, i).nicId, net);
        const ipc = (at(nic, "properties.ipConfigurations") as Doc[])[0];
        assert.equal(at(ipc, "properties.publicIPAddress"), undefined);
      }
      assert.deepEqual(
        onVault.map((a) => a.principalId),
        [FUNCTION_PRINCIPAL],
        "only the app holds a role on the whole vault",
      );
      const users = assignments.filter((a) => a.roleDefinitionId?.endsWith("4633458b-17de-408a-b874-0445c86b69e6"));
      assert.equal(users.length, 4);
    });

    test("reconcile of the unchanged stack: zero ARM writes, and the plan is all 'none'", async () => {
      az.emulator.journal.clear();
      const run = await applyAll();
      assertAllApplied(run);
      assert.deepEqual(
        [...run.results.values()]
          .filter((r) => r.action !== "unchanged")
          .map((r) => `${r.key}: ${JSON.stringify(r.changes)}`),
        [],
      );
      assert.deepEqual(az.emulator.journal.writes(), []);
      assert.deepEqual(changed(await planAll()), []);
      assert.deepEqual(az.emulator.journal.writes(), []);
    });

    test("one property changes: the plan shows exactly it and apply writes only that resource", async () => {
      const next = buildStackGraph(specOf({ database: { backupRetentionDays: 14 } }), ctx);
      const plans = changed(await planAll(next));
      assert.deepEqual(plans, [
        {
          key: "mysql",
          kind: "mysqlServer",
          id: names.mysqlServerId,
          action: "update",
          changes: [{ path: "properties.backup.backupRetentionDays", from: 7, to: 14 }],
        },
      ]);
      az.emulator.journal.clear();
      const run = await applyAll(next);
      assertAllApplied(run);
      const writes = az.emulator.journal.writes();
      assert.deepEqual(
        writes.map((w) => `${w.method} ${w.path.toLowerCase()}`),
        [`PUT ${names.mysqlServerId.toLowerCase()}`],
      );
      assert.equal(at(await get(names.mysqlServerId, "2023-12-30"), "properties.backup.backupRetentionDays"), 14);
      assert.deepEqual(changed(await planAll(next)), []);
      // and back, through the original graph
      assert.equal(changed(await planAll()).length, 1);
      assertAllApplied(await applyAll());
    });

    test("an extra tag in the spec is one change per tagged resource", async () => {
      const next = buildStackGraph(specOf({ tags: { env: "test", costCenter: "42" } }), ctx);
      const plans = changed(await planAll(next));
      const tagged = next.nodes.filter((n) => n.body.tags !== undefined && n.kind !== "keyVaultSecret");
      assert.deepEqual(plans.map((p) => p.key).sort(), tagged.map((n) => n.key).sort());
      for (const p of plans) assert.deepEqual(p.changes, [{ path: "tags.costCenter", from: undefined, to: "42" }]);
    });

    test("drift: an SSH rule added out of band shows in the plan and apply removes it", async () => {
      const ssh = {
        protocol: "Tcp",
        sourcePortRange: "*",
        destinationPortRange: "22",
        sourceAddressPrefix: "*",
        destinationAddressPrefix: "*",
        access: "Allow",
        priority: 300,
        direction: "Inbound",
      };
      await az.factory
        .network(SUB)
        .securityRules.beginCreateOrUpdateAndWait(RG, names.webNsg, "allow-ssh", ssh, az.factory.lro());
      const plan = await engine.plan(node("nsg:web"));
      produced.push(plan);
      assert.equal(plan.action, "update");
      assert.deepEqual(
        plan.changes.map((c) => [c.path, c.to]),
        [["properties.securityRules[allow-ssh]", undefined]],
      );
      az.emulator.journal.clear();
      const result = await engine.apply(node("nsg:web"));
      assert.equal(result.action, "updated");
      const rules = at(await get(names.webNsgId, "2024-05-01"), "properties.securityRules") as Doc[];
      assert.ok(!rules.some((r) => r.name === "allow-ssh"));
      assert.equal(az.emulator.journal.writes().length, 1);
      assert.equal((await engine.plan(node("nsg:web"))).action, "none");
    });

    test("a VM replaced out of band keeps its NIC; its role assignment follows the new identity", async () => {
      const vm1 = webNodeNames(spec, 1);
      const before = at(await get(vm1.vmId, "2024-07-01"), "identity.principalId");
      await az.factory.resources(SUB).resources.beginDeleteByIdAndWait(vm1.vmId, "2024-07-01", az.factory.lro());
      assert.ok(az.emulator.store.get(vm1.nicId), "NIC deleteOption Detach: the NIC waits for the next VM");
      const plans = changed(await planAll());
      assert.deepEqual(
        plans.map((p) => [p.key, p.action]),
        [
          ["vm:web-1", "create"],
          ["ra:vm:web-1:db-app-a-password", "replace"],
          ["ra:vm:web-1:db-app-b-password", "replace"],
        ],
      );
      const run = await applyAll();
      assertAllApplied(run);
      assert.equal(run.results.get("vm:web-1")?.action, "created");
      const after = at(await get(vm1.vmId, "2024-07-01"), "identity.principalId");
      assert.notEqual(after, before);
      for (const key of ["ra:vm:web-1:db-app-a-password", "ra:vm:web-1:db-app-b-password"]) {
        const role = run.results.get(key)!;
        assert.equal(role.action, "replaced");
        assert.deepEqual(role.changes, [{ path: "properties.principalId", from: before, to: after }]);
        assert.equal(at(await get(node(key).id, "2022-04-01"), "properties.principalId"), after);
      }
    });

    test("a VM size change updates the VM in place, sending create-only parts as ARM has them", async () => {
      const next = buildStackGraph(specOf({ fleet: { vmSize: "Standard_B2ms" } }), ctx);
      assert.deepEqual(
        changed(await planAll(next)).map((p) => [p.key, p.changes.map((c) => c.path)]),
        [
          ["vm:web-1", ["properties.hardwareProfile.vmSize"]],
          ["vm:web-2", ["properties.hardwareProfile.vmSize"]],
        ],
      );
      az.emulator.journal.clear();
      assertAllApplied(await applyAll(next));
      const puts = az.emulator.journal.writes();
      assert.equal(puts.length, 2);
      for (const w of puts) {
        assert.equal(at(w.body, "properties.osProfile.adminUsername"), "jumpgate");
        assert.equal(at(w.body, "properties.osProfile.customData"), undefined, "custom data is not sent again");
        assert.equal(at(w.body, "properties.hardwareProfile.vmSize"), "Standard_B2ms");
      }
      assertAllApplied(await applyAll());
    });

    test("a change ARM would refuse (shrinking MySQL storage) is refused before any write", async () => {
      const next = buildStackGraph(specOf({ database: { storageGb: 20 } }), ctx);
      const grown = buildStackGraph(specOf({ database: { storageGb: 64 } }), ctx);
      assertAllApplied(await applyAll(grown));
      const plan = await engine.plan(node("mysql", next));
      assert.equal(plan.action, "update");
      assert.match(plan.reason ?? "", /storage can only grow: the server has 64 GB, the spec asks for 20 GB/);
      az.emulator.journal.clear();
      await assert.rejects(engine.apply(node("mysql", next)), (e: ArmApplyError) => {
        assert.equal(e.code, "UnsupportedChange");
        assert.equal(e.key, "mysql");
        return true;
      });
      assert.deepEqual(az.emulator.journal.writes(), []);
      graph = grown;
    });

    test("teardown in reverse order deletes everything, leaves nothing tagged, keeps the vault recoverable", async () => {
      collectSecrets();
      const run = await runGraph(graph.nodes, (n) => engine.remove(n, graph.tag), "reverse");
      produced.push([...run.results.values()]);
      assert.deepEqual([...run.failed.keys()], []);
      const actions = [...run.results.values()] as RemoveResult[];
      assert.deepEqual(
        actions
          .filter((r) => r.action !== "deleted")
          .map((r) => `${r.key}:${r.action}`)
          .sort(),
        ["mysql:config:require_secure_transport:absent", "mysql:config:tls_version:absent"],
      );
      const left = az.emulator.store.all().filter((d) => d.tags?.[STACK_TAG_NAME] !== undefined);
      assert.deepEqual(
        left.map((d) => d.id),
        [],
      );
      assert.deepEqual(
        az.emulator.store.all().map((d) => d.id),
        [],
      );
      assert.ok(az.emulator.deletedVaults.has(names.keyVault.toLowerCase()), "soft-deleted, name held");
      // a second teardown finds nothing
      const again = await runGraph(graph.nodes, (n) => engine.remove(n, graph.tag), "reverse");
      assert.ok([...again.results.values()].every((r) => r.action === "absent"));
    });

    test("a redeploy recovers the soft-deleted vault and its secrets instead of failing", async () => {
      const run = await applyAll();
      assertAllApplied(run);
      assert.deepEqual(run.results.get("kv")?.action, "created");
      const secret = run.results.get(`secret:${VM_SSH_PUBLIC_KEY_SECRET}`)!;
      assert.deepEqual(secret.changes, [{ path: "deleted", from: true, to: false }]);
      assert.ok(!az.emulator.deletedVaults.has(names.keyVault.toLowerCase()));
      az.emulator.journal.clear();
      assertAllApplied(await applyAll());
      assert.deepEqual(az.emulator.journal.writes(), []);
    });

    test("teardown refuses a resource that is not the stack's, and a group that still holds one", async () => {
      const run = await runGraph(graph.nodes, (n) => engine.remove(n, graph.tag), "reverse");
      assert.deepEqual([...run.failed.keys()], []);
      // someone else's untagged NSG sits at one of our names, in a group we made
      await engine.apply(node("rg"));
      await az.factory
        .network(SUB)
        .networkSecurityGroups.beginCreateOrUpdateAndWait(
          RG,
          names.webNsg,
          { location: LOCATION, tags: { team: "x" } },
          az.factory.lro(),
        );
      const refused = await engine.remove(node("nsg:web"), graph.tag);
      assert.equal(refused.action, "refused");
      assert.match(refused.reason ?? "", /not tagged jumpgate-stack=jgtest \(has no jumpgate-stack tag\)/);
      const rg = await engine.remove(node("rg"), graph.tag);
      assert.equal(rg.action, "refused");
      assert.match(rg.reason ?? "", /still holds 1 resource/);
      assert.ok(az.emulator.store.get(names.webNsgId), "the foreign NSG is still there");
      const wrongStack = await engine.remove(node("rg"), { name: STACK_TAG_NAME, value: "other" });
      assert.equal(wrongStack.action, "refused");
      produced.push(refused, rg, wrongStack);
    });

    test("faults (429 + Retry-After, 500, reset, a failed LRO): apply succeeds or throws ArmApplyError, a re-run converges", async () => {
      az.emulator.reset();
      const f = az.emulator.faults;
      f.add({
        match: { method: "PUT", type: "Microsoft.Network/networkSecurityGroups" },
        effect: { kind: "status", status: 429, retryAfterSeconds: 1 },
      });
      f.add({
        match: { method: "PUT", type: "Microsoft.Network/loadBalancers" },
        effect: { kind: "status", status: 500 },
      });
      f.add({ match: { method: "GET", type: "Microsoft.Network/virtualNetworks" }, effect: { kind: "reset" } });
      f.add({ match: { operation: "secret", method: "PUT" }, effect: { kind: "status", status: 503 } });
      f.add({
        match: { method: "PUT", type: "Microsoft.Network/privateDnsZones/virtualNetworkLinks" },
        effect: { kind: "failOperation", code: "InternalServerError", message: "link failed" },
      });
      f.add({
        match: { method: "PUT", type: "Microsoft.Compute/virtualMachines" },
        effect: { kind: "status", status: 409, code: "Conflict" },
      });
      const first = await applyAll();
      assert.ok(
        first.failed.size >= 2,
        `expected the failed LRO and the 409 to fail: ${[...first.failed.keys()].join(", ")}`,
      );
      for (const [key, e] of first.failed) {
        assert.ok(e instanceof ArmApplyError, `${key}: ${String(e)}`);
        assert.equal(e.key, key);
        assert.ok(e.code.length > 0 && e.id.length > 0);
        assert.deepEqual(
          Object.keys(JSON.parse(JSON.stringify(e)) as Doc)
            .sort()
            .filter((k) => k !== "status"),
          ["code", "id", "key", "message", "name"],
        );
      }
      const link = first.failed.get("dns:mysql-link") as ArmApplyError;
      assert.equal(link.code, "InternalServerError");
      assert.match(link.message, /link failed/);
      assert.ok(first.skipped.includes("mysql"), "nodes behind a failure wait");
      collectSecrets();
      const second = await applyAll();
      assertAllApplied(second);
      collectSecrets();
      az.emulator.journal.clear();
      const third = await applyAll();
      assertAllApplied(third);
      assert.deepEqual(az.emulator.journal.writes(), [], "converged");
      assert.equal(az.emulator.keyVault.secretValues(names.keyVault).length, 5, "one version per secret");
    });

    test("scale set mode with zones: the Flexible scale set gets its zones, instances, its user-assigned identity and the vault role", async () => {
      az.emulator.reset();
      const zonalSpec = specOf({ fleet: { mode: "scaleSet", size: 3, zones: ["1", "2", "3"] } });
      const zonal = buildStackGraph(zonalSpec, ctx);
      assertAllApplied(await applyAll(zonal));
      collectSecrets();
      const vmss = await get(names.scaleSetId, "2024-07-01");
      assert.deepEqual(vmss.zones, ["1", "2", "3"]);
      assert.equal(at(vmss, "sku.capacity"), 3);
      assert.equal(at(vmss, "properties.orchestrationMode"), "Flexible");
      const lb = await get(names.loadBalancerId, "2024-05-01");
      const pool = (at(lb, "properties.backendAddressPools") as Doc[])[0];
      assert.equal((at(pool, "properties.backendIPConfigurations") as Doc[]).length, 3);
      // the identity exists, the scale set carries it (ARM fills in its ids), and the role names it
      const identity = await get(names.webIdentityId, "2023-01-31");
      const principalId = at(identity, "properties.principalId");
      assert.match(String(principalId), /^[0-9a-f-]{36}$/);
      assert.match(String(at(identity, "properties.clientId")), /^[0-9a-f-]{36}$/);
      assert.equal(at(identity, `tags.${STACK_TAG_NAME}`), zonalSpec.name);
      assert.equal(at(vmss, "identity.type"), "UserAssigned");
      assert.equal(at(vmss, "identity.principalId"), undefined);
      const attached = at(vmss, "identity.userAssignedIdentities") as Record<string, Doc>;
      assert.deepEqual(Object.keys(attached), [names.webIdentityId]);
      assert.equal(attached[names.webIdentityId].principalId, principalId);
      const role = await get(node("ra:vmss:db-app-a-password", zonal).id, "2022-04-01");
      assert.equal(at(role, "properties.principalId"), principalId);
      // a second apply writes nothing: the filled-in identity entry is not drift
      az.emulator.journal.clear();
      assertAllApplied(await applyAll(zonal));
      assert.deepEqual(az.emulator.journal.writes(), []);
      // scaling is a change of sku.capacity only
      const bigger = buildStackGraph(specOf({ fleet: { mode: "scaleSet", size: 4, zones: ["1", "2", "3"] } }), ctx);
      assert.deepEqual(
        changed(await planAll(bigger)).map((p) => [p.key, p.changes]),
        [["vmss", [{ path: "sku.capacity", from: 3, to: 4 }]]],
      );
      // teardown deletes the identity after the scale set and the role that names it, and leaves nothing
      az.emulator.journal.clear();
      const down = await runGraph(zonal.nodes, (n) => engine.remove(n, zonal.tag), "reverse");
      assert.deepEqual([...down.failed.keys()], []);
      const deleted = (id: string) =>
        az.emulator.journal.list({ method: "DELETE" }).find((e) => e.path.toLowerCase() === id.toLowerCase())?.seq ??
        -1;
      assert.ok(deleted(names.webIdentityId) > deleted(names.scaleSetId), "identity after the scale set");
      for (const key of ["ra:vmss:db-app-a-password", "ra:vmss:db-app-b-password"])
        assert.ok(deleted(names.webIdentityId) > deleted(node(key, zonal).id), "identity after its roles");
      assert.ok(deleted(names.scaleSetId) > 0);
      assert.equal(az.emulator.store.get(names.webIdentityId), undefined);
      assert.deepEqual(
        az.emulator.store.all().map((d) => d.id),
        [],
      );
    });
  });
}

function errorText(e: unknown): string {
  return e instanceof ArmApplyError ? JSON.stringify(e) : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
