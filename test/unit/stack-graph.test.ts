// The stack resource graph, pure: node set and edges per fleet mode, every security property the
// stack depends on (read straight from the ARM documents), names, determinism, and the ordering
// helpers (validation, teardown order, critical path).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  nameBasedUuid,
  roleAssignmentName,
  ROLE_DEFINITIONS,
  stackHash,
  stackNames,
  STACK_TAG_NAME,
  VM_SSH_PUBLIC_KEY_SECRET,
  webNodeNames,
} from "../../shared/graph/names";
import {
  criticalPath,
  GraphError,
  teardownOrder,
  topologicalOrder,
  transitiveReduction,
  validateGraph,
} from "../../shared/graph/order";
import {
  API_VERSIONS,
  buildStackGraph,
  CUSTOM_DATA_TAG_NAME,
  webNodeGraphKeys,
  type StackGraphContext,
} from "../../shared/graph/stack-graph";
import type { GraphNode, StackGraph, ValueRef } from "../../shared/graph/types";
import { NODE_PROBE } from "../../shared/node/constants";
import { SCALE_THRESHOLDS } from "../../shared/scale/policy";
import { SECRET_NAMES } from "../../shared/secret-names";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";

const SUB = "00000000-0000-0000-0000-00000000a001";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FUNCTION_PRINCIPAL = "11111111-2222-3333-4444-555555555555";

function spec(overrides: Record<string, unknown> = {}): StackSpec {
  const result = validateStackSpec({
    name: "jump1",
    subscriptionId: SUB,
    resourceGroup: "rg-jump",
    location: "westeurope",
    tags: { owner: "platform" },
    ...overrides,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.spec;
}

const ctx: StackGraphContext = {
  tenantId: TENANT,
  functionPrincipalId: FUNCTION_PRINCIPAL,
  renderCustomData: (vm) => Buffer.from(`#cloud-config\n# ${vm.name} ${vm.index}\n`).toString("base64"),
};

function node(graph: StackGraph, key: string): GraphNode {
  const n = graph.nodes.find((x) => x.key === key);
  assert.ok(n, `node ${key} in ${graph.nodes.map((x) => x.key).join(", ")}`);
  return n;
}

type Doc = Record<string, unknown>;
const at = (doc: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((cur, k) => (cur && typeof cur === "object" ? (cur as Doc)[k] : undefined), doc);
const props = (n: GraphNode) => n.body.properties as Doc;
const named = (list: unknown, name: string) => (list as Doc[]).find((x) => x.name === name) as Doc;

const SECRET_KEYS = [
  SECRET_NAMES.dbAdminPassword,
  SECRET_NAMES.dbAppPasswordA,
  SECRET_NAMES.dbAppPasswordB,
  SECRET_NAMES.guacadminPassword,
  VM_SSH_PUBLIC_KEY_SECRET,
].map((s) => `secret:${s}`);

describe("stack graph: booting web nodes from a node image (bootImage)", () => {
  const versionId = (rg = "rg-jump", sub = SUB, version = "1.6.12345") =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/gal_jump/images/jumpgate-node/versions/${version}`;
  const seen: { name: string; boot: string }[] = [];
  const recording: StackGraphContext = {
    ...ctx,
    renderCustomData: (vm) => {
      seen.push({ name: vm.name, boot: vm.boot });
      return Buffer.from(`#cloud-config\n# ${vm.name} ${vm.boot}\n`).toString("base64");
    },
  };
  const custom = (doc: unknown) => Buffer.from(String(doc), "base64").toString();

  test("VMs of an availability set: imageReference { id } of the version, image-mode custom data", () => {
    const g = buildStackGraph(spec(), { ...recording, bootImage: { id: versionId(), version: "1.6.12345" } });
    for (const key of ["vm:web-1", "vm:web-2"]) {
      const p = props(node(g, key));
      // a gallery image version is named by its id alone (Compute ImageReference: id, no publisher/offer/sku/version)
      assert.deepEqual(at(p, "storageProfile.imageReference"), { id: versionId() });
      assert.match(custom(at(p, "osProfile.customData")), / image\n$/);
    }
    assert.ok(node(g, "vm:web-1").createOnly?.includes("properties.storageProfile.imageReference"));
  });

  test("the scale set's model: imageReference { id }, image-mode custom data, re-sent when the image changes", () => {
    const s = spec({ fleet: { mode: "scaleSet" } });
    const g = buildStackGraph(s, { ...recording, bootImage: { id: versionId(), version: "1.6.12345" } });
    const vmss = node(g, "vmss");
    assert.deepEqual(at(vmss.body, "properties.virtualMachineProfile.storageProfile.imageReference"), {
      id: versionId(),
    });
    assert.match(custom(at(vmss.body, "properties.virtualMachineProfile.osProfile.customData")), / image\n$/);
    assert.deepEqual(vmss.resendWriteOnlyOn, {
      "properties.virtualMachineProfile.osProfile.customData": [
        "properties.virtualMachineProfile.storageProfile.imageReference",
        `tags.${CUSTOM_DATA_TAG_NAME}`,
      ],
    });
    // the digest of the custom data as sent is a tag: the engine compares it in place of the write-only value
    const data = at(vmss.body, "properties.virtualMachineProfile.osProfile.customData") as string;
    assert.equal(
      (vmss.body.tags as Record<string, string>)[CUSTOM_DATA_TAG_NAME],
      createHash("sha256").update(data).digest("hex"),
    );
    const other = node(buildStackGraph(s, { ...recording, renderCustomData: () => "b3RoZXI=" }), "vmss");
    assert.notEqual(
      (other.body.tags as Record<string, string>)[CUSTOM_DATA_TAG_NAME],
      (vmss.body.tags as Record<string, string>)[CUSTOM_DATA_TAG_NAME],
      "other custom data (another release), another digest",
    );
  });

  test("without bootImage: the marketplace Ubuntu 24.04 image and source-mode custom data, as before", () => {
    seen.length = 0;
    const g = buildStackGraph(spec(), recording);
    assert.deepEqual(at(props(node(g, "vm:web-1")), "storageProfile.imageReference"), {
      publisher: "Canonical",
      offer: "ubuntu-24_04-lts",
      sku: "server",
      version: "latest",
    });
    assert.deepEqual(
      seen.map((x) => x.boot),
      ["source", "source"],
    );
    const set = buildStackGraph(spec({ fleet: { mode: "scaleSet" } }), recording);
    assert.equal(
      at(node(set, "vmss").body, "properties.virtualMachineProfile.storageProfile.imageReference.offer"),
      "ubuntu-24_04-lts",
    );
  });

  test("only a gallery image version of the stack's own resource group, named as its id says", () => {
    const bad = [
      { id: versionId("rg-other"), version: "1.6.12345" },
      { id: versionId("rg-jump", "00000000-0000-0000-0000-00000000ffff"), version: "1.6.12345" },
      { id: versionId().replace(/\/versions\/.*$/, ""), version: "1.6.12345" },
      { id: versionId(), version: "1.6.1" },
      { id: `${versionId()}/../../x`, version: "1.6.12345" },
      {
        id: "/subscriptions/" + SUB + "/resourceGroups/rg-jump/providers/Microsoft.Compute/images/img",
        version: "1.6.12345",
      },
    ];
    for (const bootImage of bad) {
      assert.throws(() => buildStackGraph(spec(), { ...ctx, bootImage }), /bootImage/, bootImage.id);
    }
  });
});

describe("stack graph: nodes and edges", () => {
  test("availability set mode: the node set and each node's direct dependencies", () => {
    const g = buildStackGraph(spec(), ctx);
    const deps = Object.fromEntries(g.nodes.map((n) => [n.key, [...n.dependsOn].sort()]));
    const secretDeps = ["ra:function"];
    assert.deepEqual(deps, {
      rg: [],
      "nsg:web": ["rg"],
      "nsg:db": ["rg"],
      vnet: ["nsg:db", "nsg:web"],
      pip: ["rg"],
      lb: ["pip"],
      "dns:mysql": ["rg"],
      "dns:mysql-link": ["dns:mysql", "vnet"],
      kv: ["rg"],
      "ra:function": ["kv"],
      ...Object.fromEntries(SECRET_KEYS.map((k) => [k, secretDeps])),
      mysql: ["dns:mysql-link", "secret:mysql-admin-password"],
      "mysql:db": ["mysql"],
      "mysql:config:require_secure_transport": ["mysql:db"],
      "mysql:config:tls_version": ["mysql:config:require_secure_transport"],
      avset: ["rg"],
      "nic:web-1": ["lb", "vnet"],
      "vm:web-1": ["avset", "nic:web-1", "secret:vm-ssh-public-key"],
      "ra:vm:web-1:db-app-a-password": ["secret:db-app-a-password", "vm:web-1"],
      "ra:vm:web-1:db-app-b-password": ["secret:db-app-b-password", "vm:web-1"],
      "nic:web-2": ["lb", "vnet"],
      "vm:web-2": ["avset", "nic:web-2", "secret:vm-ssh-public-key"],
      "ra:vm:web-2:db-app-a-password": ["secret:db-app-a-password", "vm:web-2"],
      "ra:vm:web-2:db-app-b-password": ["secret:db-app-b-password", "vm:web-2"],
    });
    assert.equal(g.nodes.length, 28);
    assert.deepEqual(g.tag, { name: STACK_TAG_NAME, value: "jump1" });
    assert.equal(g.stack, "jump1");
  });

  test("fleet size N gives N NICs, VMs and two role assignments each (one per app user secret)", () => {
    const g = buildStackGraph(spec({ fleet: { size: 5, max: 6 } }), ctx);
    for (const kind of ["networkInterface", "virtualMachine"] as const)
      assert.equal(g.nodes.filter((n) => n.kind === kind).length, 5);
    assert.equal(g.nodes.filter((n) => n.key.startsWith("ra:vm:")).length, 10);
    assert.equal(g.nodes.length, 28 + 3 * 4);
  });

  test("once the vault holds the TLS bundle, every web node identity gets read on it too, after the vault", () => {
    const g = buildStackGraph(spec(), { ...ctx, tlsBundle: true });
    assert.deepEqual(node(g, "ra:vm:web-1:tls-bundle").dependsOn, ["vm:web-1"]);
    assert.equal(g.nodes.length, 30);
    const set = buildStackGraph(spec({ fleet: { mode: "scaleSet" } }), { ...ctx, tlsBundle: true });
    assert.deepEqual([...node(set, "ra:vmss:tls-bundle").dependsOn].sort(), ["identity:web", "kv"]);
  });

  test("scale set mode: one Flexible scale set, its user-assigned identity and one role assignment instead of per-VM nodes", () => {
    const g = buildStackGraph(spec({ fleet: { mode: "scaleSet", size: 3 } }), ctx);
    const keys = g.nodes.map((n) => n.key);
    assert.ok(!keys.some((k) => k.startsWith("vm:") || k.startsWith("nic:") || k === "avset"));
    assert.deepEqual(node(g, "identity:web").dependsOn, ["rg"]);
    assert.deepEqual([...node(g, "vmss").dependsOn].sort(), ["identity:web", "lb", "secret:vm-ssh-public-key", "vnet"]);
    // the roles go to the identity: they need not wait for the scale set, only for their secret
    assert.deepEqual([...node(g, "ra:vmss:db-app-a-password").dependsOn].sort(), [
      "identity:web",
      "secret:db-app-a-password",
    ]);
    assert.deepEqual([...node(g, "ra:vmss:db-app-b-password").dependsOn].sort(), [
      "identity:web",
      "secret:db-app-b-password",
    ]);
    // 21 before the identity node (a Flexible scale set can't have a system-assigned identity)
    assert.equal(g.nodes.length, 23);
  });

  test("scale set teardown: the identity goes after the scale set and the roles that name it", () => {
    const s = spec({
      policies: { scale: { enabled: true, metric: "sessions" } },
      fleet: { mode: "scaleSet", size: 2 },
    });
    const teardown = teardownOrder(buildStackGraph(s, ctx).nodes).map((n) => n.key);
    const at = (k: string) => teardown.indexOf(k);
    for (const k of ["vmss", "ra:vmss:db-app-a-password", "ra:vmss:db-app-b-password", "ra:metrics:vmss"]) {
      assert.ok(at(k) >= 0 && at(k) < at("identity:web"), k);
    }
    assert.ok(at("ra:metrics:vmss") < at("vmss"));
  });

  test("without a Function principal there is no officer role and secrets wait for the vault only", () => {
    const g = buildStackGraph(spec(), { ...ctx, functionPrincipalId: undefined });
    assert.ok(!g.nodes.some((n) => n.key === "ra:function"));
    for (const k of SECRET_KEYS) assert.deepEqual(node(g, k).dependsOn, ["kv"]);
  });

  test("the graph is acyclic, every dependency is known, and teardown order reverses deploy order", () => {
    for (const mode of ["availabilitySet", "scaleSet"]) {
      const g = buildStackGraph(spec({ fleet: { mode } }), ctx);
      validateGraph(g.nodes);
      const deploy = topologicalOrder(g.nodes).map((n) => n.key);
      const position = new Map(deploy.map((k, i) => [k, i]));
      for (const n of g.nodes) for (const d of n.dependsOn) assert.ok(position.get(d)! < position.get(n.key)!);
      const teardown = teardownOrder(g.nodes).map((n) => n.key);
      assert.deepEqual(teardown, [...deploy].reverse());
      assert.equal(teardown[teardown.length - 1], "rg");
    }
  });

  test("every node has an api-version, an id under the stack's resource group, and a latency class", () => {
    const s = spec();
    const g = buildStackGraph(s, ctx);
    const rgId = `/subscriptions/${SUB}/resourceGroups/rg-jump`;
    for (const n of g.nodes) {
      assert.ok(n.id.startsWith(rgId), n.id);
      assert.ok(Object.values(API_VERSIONS).includes(n.apiVersion as never), `${n.key} ${n.apiVersion}`);
      assert.ok(n.latencyClass, n.key);
    }
    assert.equal(new Set(g.nodes.map((n) => n.id.toLowerCase())).size, g.nodes.length);
  });

  test("the same input gives a deep-equal graph (no randomness, no clock)", () => {
    assert.deepEqual(buildStackGraph(spec(), ctx), buildStackGraph(spec(), ctx));
    const scale = spec({ fleet: { mode: "scaleSet", zones: ["1", "2"] } });
    assert.deepEqual(buildStackGraph(scale, ctx), buildStackGraph(structuredClone(scale), ctx));
    assert.deepEqual(JSON.parse(JSON.stringify(buildStackGraph(spec(), ctx))), buildStackGraph(spec(), ctx));
  });

  test("every taggable resource carries the user's tags and the stack tag", () => {
    const g = buildStackGraph(spec(), ctx);
    const untagged = new Set(["roleAssignment", "mysqlDatabase", "mysqlConfiguration"]);
    for (const n of g.nodes) {
      if (untagged.has(n.kind)) {
        assert.equal(n.body.tags, undefined, n.key);
        assert.ok(n.tagOwner, `${n.key} names the resource whose tag vouches for it`);
        continue;
      }
      assert.deepEqual(n.body.tags, { owner: "platform", [STACK_TAG_NAME]: "jump1" }, n.key);
    }
  });
});

describe("stack graph: security properties", () => {
  const g = buildStackGraph(spec(), ctx);

  test("web NSG: 443 and 80 from the Internet, the probe port from the LB, then deny everything", () => {
    const rules = props(node(g, "nsg:web")).securityRules as Doc[];
    assert.deepEqual(
      rules.map((r) => [
        r.name,
        at(r, "properties.priority"),
        at(r, "properties.access"),
        at(r, "properties.protocol"),
        at(r, "properties.destinationPortRange"),
        at(r, "properties.sourceAddressPrefix") ?? at(r, "properties.sourceAddressPrefixes"),
      ]),
      [
        ["allow-https", 100, "Allow", "Tcp", "443", "Internet"],
        ["allow-http", 110, "Allow", "Tcp", "80", "Internet"],
        ["allow-lb-probe", 120, "Allow", "Tcp", String(NODE_PROBE.port), "AzureLoadBalancer"],
        ["deny-all-inbound", 4000, "Deny", "*", "*", "*"],
      ],
    );
    for (const r of rules) assert.equal(at(r, "properties.direction"), "Inbound");
  });

  test("admin source ranges restrict 443; 80 stays open for HTTP-01 and closes to them with DNS-01", () => {
    const ranges = ["198.51.100.0/24", "203.0.113.7/32"];
    const http01 = buildStackGraph(spec({ network: { adminSourceRanges: ranges } }), ctx);
    const r1 = props(node(http01, "nsg:web")).securityRules;
    assert.deepEqual(at(named(r1, "allow-https"), "properties.sourceAddressPrefixes"), ranges);
    assert.equal(at(named(r1, "allow-http"), "properties.sourceAddressPrefix"), "Internet");
    const dns01 = buildStackGraph(
      spec({
        network: { adminSourceRanges: ranges },
        tls: {
          hostname: "jump.example.com",
          acme: { challenge: "dns-01", dnsZone: { resourceGroup: "dns", name: "example.com" } },
        },
      }),
      ctx,
    );
    const r2 = props(node(dns01, "nsg:web")).securityRules;
    assert.deepEqual(at(named(r2, "allow-https"), "properties.sourceAddressPrefixes"), ranges);
    assert.deepEqual(at(named(r2, "allow-http"), "properties.sourceAddressPrefixes"), ranges);
    assert.equal(at(named(r2, "allow-http"), "properties.sourceAddressPrefix"), undefined);
  });

  test("no rule anywhere allows port 22 (or a port range that contains it)", () => {
    for (const mode of ["availabilitySet", "scaleSet"]) {
      const graph = buildStackGraph(spec({ fleet: { mode } }), ctx);
      const allows = graph.nodes
        .filter((n) => n.kind === "networkSecurityGroup")
        .flatMap((n) => props(n).securityRules as Doc[])
        .filter((r) => at(r, "properties.access") === "Allow");
      for (const r of allows) {
        const port = String(at(r, "properties.destinationPortRange"));
        const from = at(r, "properties.sourceAddressPrefix");
        const covers22 = port === "*" || port === "22" || /^(\d+)-(\d+)$/.test(port);
        // the only any-port allow is the MySQL subnet to itself (the HA standby replicates inside it)
        if (covers22) assert.equal(r.name, "allow-mysql-subnet", JSON.stringify(r));
        if (covers22) assert.equal(from, "10.40.2.0/24");
      }
      assert.ok(!JSON.stringify(graph).includes("inboundNatRules"));
    }
  });

  test("database NSG: 3306 from the web subnet only, then deny everything", () => {
    const rules = props(node(g, "nsg:db")).securityRules as Doc[];
    const mysql = named(rules, "allow-mysql-from-web");
    assert.equal(at(mysql, "properties.destinationPortRange"), "3306");
    assert.equal(at(mysql, "properties.sourceAddressPrefix"), "10.40.1.0/24");
    assert.equal(at(mysql, "properties.destinationAddressPrefix"), "10.40.2.0/24");
    const deny = named(rules, "deny-all-inbound");
    assert.equal(at(deny, "properties.access"), "Deny");
    assert.equal(at(deny, "properties.sourceAddressPrefix"), "*");
    assert.equal(at(deny, "properties.priority"), 4000);
  });

  test("VNet: the web subnet uses the web NSG; the database subnet its NSG and the MySQL delegation", () => {
    const names = stackNames(spec());
    const subnets = props(node(g, "vnet")).subnets;
    assert.deepEqual(at(named(subnets, "web"), "properties.networkSecurityGroup"), { id: names.webNsgId });
    assert.deepEqual(at(named(subnets, "db"), "properties.networkSecurityGroup"), { id: names.dbNsgId });
    assert.equal(
      at((at(named(subnets, "db"), "properties.delegations") as Doc[])[0], "properties.serviceName"),
      "Microsoft.DBforMySQL/flexibleServers",
    );
    assert.equal(at(named(subnets, "web"), "properties.defaultOutboundAccess"), false);
  });

  test("public IP: Standard, static, with the DNS label", () => {
    const pip = node(g, "pip");
    assert.deepEqual(pip.body.sku, { name: "Standard", tier: "Regional" });
    assert.equal(at(pip.body, "properties.publicIPAllocationMethod"), "Static");
    const label = String(at(pip.body, "properties.dnsSettings.domainNameLabel"));
    assert.equal(stackNames(spec()).publicFqdn, `${label}.westeurope.cloudapp.azure.com`);
    const labelled = buildStackGraph(spec({ tls: { dnsLabel: "guac-entry" } }), ctx);
    assert.equal(at(node(labelled, "pip").body, "properties.dnsSettings.domainNameLabel"), "guac-entry");
  });

  test("the default DNS label is the stack's own: name + a stable hash of where it lives, within ARM's rules", () => {
    const label = stackNames(spec()).dnsLabel;
    assert.match(label, /^jump1-[0-9a-f]{8}$/);
    assert.match(label, /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/, "ARM's domainNameLabel rule");
    assert.equal(stackNames(spec()).dnsLabel, label, "stable");
    // the longest stack name still fits, and every input to the hash changes it
    assert.ok(stackNames(spec({ name: "abcdefghijklmno" })).dnsLabel.length <= 63);
    const others = [
      spec({ resourceGroup: "rg-other" }),
      spec({ subscriptionId: "00000000-0000-0000-0000-0000000000ff" }),
      spec({ name: "jump2" }),
    ].map((s) => stackNames(s).dnsLabel.split("-").pop());
    assert.equal(new Set([label.split("-").pop(), ...others]).size, 4);
  });

  test("ownership: every node carries the stack's tag; adopt marks the listed resource, and a child with its parent", () => {
    for (const n of g.nodes) assert.deepEqual(n.ownership, { tag: { name: STACK_TAG_NAME, value: "jump1" } }, n.key);
    const names = stackNames(spec());
    const adopting = buildStackGraph(
      // ids as ARM compares them: case-insensitively
      spec({ adopt: [`/subscriptions/${SUB}/resourceGroups/RG-JUMP`, names.keyVaultId] }),
      ctx,
    );
    const adopted = adopting.nodes.filter((n) => n.ownership?.adopt).map((n) => n.key);
    assert.deepEqual(
      adopted.sort(),
      ["kv", "rg", ...adopting.nodes.filter((n) => n.tagOwner?.id === names.keyVaultId).map((n) => n.key)].sort(),
    );
    assert.ok(adopted.some((k) => k.startsWith("secret:")) && adopted.some((k) => k.startsWith("ra:")));
  });

  test("load balancer: HTTP probe on the agent's port/path, SourceIP rules for 443 and 80, no SNAT, outbound rule", () => {
    const lb = props(node(g, "lb"));
    const names = stackNames(spec());
    const probe = (lb.probes as Doc[])[0];
    assert.equal(at(probe, "properties.protocol"), "Http");
    assert.equal(at(probe, "properties.port"), NODE_PROBE.port);
    assert.equal(at(probe, "properties.requestPath"), NODE_PROBE.path);
    const rules = lb.loadBalancingRules as Doc[];
    assert.deepEqual(rules.map((r) => [at(r, "properties.frontendPort"), at(r, "properties.backendPort")]).sort(), [
      [443, 443],
      [80, 80],
    ]);
    for (const r of rules) {
      assert.equal(at(r, "properties.loadDistribution"), "SourceIP");
      assert.equal(at(r, "properties.disableOutboundSnat"), true);
      assert.equal(at(r, "properties.enableTcpReset"), true);
      assert.equal(at(r, "properties.probe.id"), names.lbProbeId);
      assert.equal(at(r, "properties.backendAddressPool.id"), names.lbBackendPoolId);
    }
    const outbound = (lb.outboundRules as Doc[])[0];
    assert.equal(at(outbound, "properties.backendAddressPool.id"), names.lbBackendPoolId);
    assert.deepEqual(at(outbound, "properties.frontendIPConfigurations"), [{ id: names.lbFrontendId }]);
    assert.deepEqual(at((lb.frontendIPConfigurations as Doc[])[0], "properties.publicIPAddress"), {
      id: names.publicIpId,
    });
    assert.deepEqual(node(g, "lb").body.sku, { name: "Standard", tier: "Regional" });
  });

  test("MySQL: private access through the delegated subnet and zone, no firewall rules, TLS required", () => {
    const names = stackNames(spec());
    const mysql = node(g, "mysql");
    const p = props(mysql);
    assert.equal(at(p, "network.delegatedSubnetResourceId"), names.dbSubnetId);
    assert.equal(at(p, "network.privateDnsZoneResourceId"), names.privateDnsZoneId);
    assert.equal(at(p, "network.publicNetworkAccess"), "Disabled");
    assert.equal(p.version, "8.0.21");
    assert.equal(p.administratorLogin, "jumpgateadmin");
    assert.equal(p.administratorLoginPassword, undefined, "the password is never in the graph");
    assert.deepEqual(mysql.secretValues, { "properties.administratorLoginPassword": SECRET_NAMES.dbAdminPassword });
    assert.ok(mysql.writeOnly?.includes("properties.administratorLoginPassword"));
    assert.deepEqual(mysql.body.sku, { name: "Standard_B1ms", tier: "Burstable" });
    assert.deepEqual(p.backup, { backupRetentionDays: 7, geoRedundantBackup: "Disabled" });
    assert.deepEqual(p.highAvailability, { mode: "Disabled" });
    assert.ok(!g.nodes.some((n) => /firewallRules/i.test(n.id)));
    assert.equal(at(node(g, "mysql:config:require_secure_transport").body, "properties.value"), "ON");
    assert.equal(at(node(g, "mysql:config:tls_version").body, "properties.value"), "TLSv1.2,TLSv1.3");
    assert.deepEqual(props(node(g, "mysql:db")), { charset: "utf8mb4", collation: "utf8mb4_0900_ai_ci" });
    assert.ok(node(g, "mysql:db").id.endsWith("/databases/guacamole"));
    assert.ok(names.privateDnsZone.endsWith(".private.mysql.database.azure.com"));
    assert.equal(at(node(g, "dns:mysql-link").body, "properties.registrationEnabled"), false);
  });

  test("Key Vault: RBAC mode, purge protection, 90 days of soft delete, standard SKU", () => {
    const p = props(node(g, "kv"));
    assert.equal(p.enableRbacAuthorization, true);
    assert.equal(p.enablePurgeProtection, true);
    assert.equal(p.enableSoftDelete, true);
    assert.equal(p.softDeleteRetentionInDays, 90);
    assert.deepEqual(p.sku, { family: "A", name: "standard" });
    assert.equal(p.tenantId, TENANT);
  });

  test("secrets: generated passwords and the SSH public key, addressed under the vault", () => {
    const names = stackNames(spec());
    for (const key of SECRET_KEYS) {
      const s = node(g, key);
      assert.equal(s.kind, "keyVaultSecret");
      assert.equal(s.id, `${names.keyVaultId}/secrets/${key.slice("secret:".length)}`);
      assert.deepEqual(s.tagOwner, { id: names.keyVaultId, apiVersion: API_VERSIONS.keyVault });
    }
    assert.deepEqual(node(g, `secret:${SECRET_NAMES.dbAdminPassword}`).generate, { kind: "password", length: 32 });
    assert.deepEqual(node(g, `secret:${VM_SSH_PUBLIC_KEY_SECRET}`).generate, { kind: "sshPublicKey" });
  });

  test("role assignments: each VM's identity reads the app user secrets, each granted on that secret alone; Officer for the Function", () => {
    const names = stackNames(spec());
    const users = g.nodes.filter((n) => n.key.startsWith("ra:vm:"));
    assert.deepEqual(
      users.map((n) => n.key),
      [
        "ra:vm:web-1:db-app-a-password",
        "ra:vm:web-1:db-app-b-password",
        "ra:vm:web-2:db-app-a-password",
        "ra:vm:web-2:db-app-b-password",
      ],
    );
    for (const ra of users) {
      // ra:vm:web-N:<secret>
      const [, kind, web, secret] = ra.key.split(":");
      const vmKey = `${kind}:${web}`;
      const scope = `${names.keyVaultId}/secrets/${secret}`;
      assert.ok(ra.id.startsWith(`${scope}/providers/Microsoft.Authorization/roleAssignments/`), ra.id);
      assert.equal(
        at(ra.body, "properties.roleDefinitionId"),
        `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_DEFINITIONS.keyVaultSecretsUser}`,
      );
      const ref = at(ra.body, "properties.principalId") as ValueRef;
      const vm = node(g, vmKey);
      assert.deepEqual(ref, {
        $ref: { node: vm.key, path: "identity.principalId", id: vm.id, apiVersion: vm.apiVersion },
      });
      assert.equal(at(ra.body, "properties.principalType"), "ServicePrincipal");
      // the vault's stack tag vouches for the assignment on one of its secrets
      assert.deepEqual(ra.tagOwner, { id: names.keyVaultId, apiVersion: API_VERSIONS.keyVault });
    }
    assert.equal(new Set(users.map((u) => u.id)).size, users.length);
    // never the vault, never another secret: not the admin's, guacadmin's, the SSH key's or the ACME keys
    const granted = g.nodes
      .filter((n) => n.kind === "roleAssignment" && n.key !== "ra:function" && !n.key.startsWith("ra:metrics:"))
      .map((n) => n.id.split("/providers/Microsoft.Authorization/")[0]);
    assert.deepEqual([...new Set(granted)].sort(), [
      `${names.keyVaultId}/secrets/${SECRET_NAMES.dbAppPasswordA}`,
      `${names.keyVaultId}/secrets/${SECRET_NAMES.dbAppPasswordB}`,
    ]);
    // the vault-wide grant earlier versions made is deleted with the first per-secret one
    const legacy = roleAssignmentName(names.keyVaultId, "jump1-web-1", ROLE_DEFINITIONS.keyVaultSecretsUser);
    assert.deepEqual(node(g, "ra:vm:web-1:db-app-a-password").supersedes, [
      {
        id: `${names.keyVaultId}/providers/Microsoft.Authorization/roleAssignments/${legacy}`,
        apiVersion: "2022-04-01",
      },
    ]);
    assert.equal(node(g, "ra:vm:web-1:db-app-b-password").supersedes, undefined);
    const officer = node(g, "ra:function");
    assert.equal(at(officer.body, "properties.principalId"), FUNCTION_PRINCIPAL);
    assert.ok(
      String(at(officer.body, "properties.roleDefinitionId")).endsWith(ROLE_DEFINITIONS.keyVaultSecretsOfficer),
    );
    // the name is a deterministic UUID of vault + holder + role, not of the principal
    const name = users[0].id.split("/").pop()!;
    assert.match(name, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("VMs: no public IP, identity, Trusted Launch, key-only login from the vault, custom data write-only", () => {
    const names = stackNames(spec());
    const vm = node(g, "vm:web-1");
    const p = props(vm);
    assert.deepEqual(vm.body.identity, { type: "SystemAssigned" });
    assert.equal(at(p, "osProfile.linuxConfiguration.disablePasswordAuthentication"), true);
    assert.equal(at(p, "osProfile.adminPassword"), undefined);
    assert.deepEqual(at(p, "securityProfile"), {
      securityType: "TrustedLaunch",
      uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
    });
    assert.equal(at(p, "storageProfile.osDisk.deleteOption"), "Delete");
    assert.deepEqual(at(p, "networkProfile.networkInterfaces"), [
      { id: webNodeNames(spec(), 1).nicId, properties: { primary: true, deleteOption: "Detach" } },
    ]);
    assert.deepEqual(at(p, "availabilitySet"), { id: names.availabilitySetId });
    assert.equal(at(p, "diagnosticsProfile.bootDiagnostics.enabled"), true);
    assert.deepEqual(at(p, "storageProfile.imageReference"), {
      publisher: "Canonical",
      offer: "ubuntu-24_04-lts",
      sku: "server",
      version: "latest",
    });
    assert.equal(
      Buffer.from(String(at(p, "osProfile.customData")), "base64").toString(),
      "#cloud-config\n# jump1-web-1 1\n",
    );
    assert.ok(vm.writeOnly?.includes("properties.osProfile.customData"));
    assert.ok(vm.createOnly?.includes("properties.osProfile"));
    assert.deepEqual(vm.secretValues, {
      "properties.osProfile.linuxConfiguration.ssh.publicKeys.0.keyData": VM_SSH_PUBLIC_KEY_SECRET,
    });
    assert.deepEqual(vm.secretVault, { id: names.keyVaultId, apiVersion: API_VERSIONS.keyVault });
    const nic = props(node(g, "nic:web-1"));
    assert.equal(nic.enableAcceleratedNetworking, false);
    const ipc = (nic.ipConfigurations as Doc[])[0];
    assert.equal(at(ipc, "properties.publicIPAddress"), undefined);
    assert.deepEqual(at(ipc, "properties.loadBalancerBackendAddressPools"), [{ id: names.lbBackendPoolId }]);
    assert.deepEqual(at(ipc, "properties.subnet"), { id: names.webSubnetId });
    const avset = node(g, "avset");
    assert.deepEqual(avset.body.sku, { name: "Aligned" });
    assert.equal(at(avset.body, "properties.platformFaultDomainCount"), 2);
    assert.equal(at(avset.body, "properties.platformUpdateDomainCount"), 5);
  });

  test("scale set: Flexible, capacity and zones from the spec, same OS security, NICs in the pool", () => {
    const names = stackNames(spec());
    const zonal = buildStackGraph(spec({ fleet: { mode: "scaleSet", size: 3, zones: ["1", "2", "3"] } }), ctx);
    const vmss = node(zonal, "vmss");
    assert.deepEqual(vmss.body.zones, ["1", "2", "3"]);
    assert.equal(at(vmss.body, "sku.capacity"), 3);
    assert.equal(at(vmss.body, "properties.orchestrationMode"), "Flexible");
    assert.equal(at(vmss.body, "properties.platformFaultDomainCount"), 1);
    // Flexible orchestration: user-assigned identities only
    assert.deepEqual(vmss.body.identity, {
      type: "UserAssigned",
      userAssignedIdentities: { [names.webIdentityId]: {} },
    });
    const identity = node(zonal, "identity:web");
    assert.equal(identity.kind, "userAssignedIdentity");
    assert.equal(identity.id, names.webIdentityId);
    assert.ok(identity.id.endsWith("/providers/Microsoft.ManagedIdentity/userAssignedIdentities/jump1-web-id"));
    assert.equal(identity.apiVersion, API_VERSIONS.managedIdentity);
    assert.equal(identity.body.location, "westeurope");
    assert.deepEqual(at(node(zonal, "ra:vmss:db-app-a-password").body, "properties.principalId"), {
      $ref: { node: "identity:web", path: "properties.principalId", id: names.webIdentityId, apiVersion: "2023-01-31" },
    });
    const profile = at(vmss.body, "properties.virtualMachineProfile") as Doc;
    assert.equal(at(profile, "osProfile.linuxConfiguration.disablePasswordAuthentication"), true);
    assert.equal(at(profile, "securityProfile.securityType"), "TrustedLaunch");
    const cfg = (at(profile, "networkProfile.networkInterfaceConfigurations") as Doc[])[0];
    const ipc = (at(cfg, "properties.ipConfigurations") as Doc[])[0];
    assert.equal(at(ipc, "properties.publicIPAddressConfiguration"), undefined);
    assert.deepEqual(at(ipc, "properties.loadBalancerBackendAddressPools"), [{ id: names.lbBackendPoolId }]);
    assert.ok(vmss.writeOnly?.includes("properties.virtualMachineProfile.osProfile.customData"));
    const regional = buildStackGraph(spec({ fleet: { mode: "scaleSet" } }), ctx);
    assert.equal(node(regional, "vmss").body.zones, undefined);
    assert.equal(at(node(regional, "vmss").body, "properties.platformFaultDomainCount"), 2);
    const ra = node(zonal, "ra:vmss:db-app-b-password");
    const scope = `${names.keyVaultId}/secrets/${SECRET_NAMES.dbAppPasswordB}`;
    assert.ok(ra.id.startsWith(`${scope}/providers/Microsoft.Authorization/roleAssignments/`));
    // the holder is the scale set (whose instances use the identity), the scope the secret
    assert.ok(ra.id.endsWith(`/${roleAssignmentName(scope, names.scaleSet, ROLE_DEFINITIONS.keyVaultSecretsUser)}`));
    assert.equal(ra.tagOwner?.id, names.keyVaultId);
    const legacy = roleAssignmentName(names.keyVaultId, names.scaleSet, ROLE_DEFINITIONS.keyVaultSecretsUser);
    assert.deepEqual(node(zonal, "ra:vmss:db-app-a-password").supersedes, [
      {
        id: `${names.keyVaultId}/providers/Microsoft.Authorization/roleAssignments/${legacy}`,
        apiVersion: "2022-04-01",
      },
    ]);
  });
});

describe("stack graph: the live sessions metric", () => {
  const ACTION_GROUP = `/subscriptions/${SUB}/resourceGroups/rg-app/providers/microsoft.insights/actionGroups/jumpgate`;
  const withAlerts = { ...ctx, alertActionGroupId: ACTION_GROUP };
  const sessions = { policies: { scale: { enabled: true, metric: "sessions" } } };
  const publisher = (sub: string) =>
    `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_DEFINITIONS.monitoringMetricsPublisher}`;
  const keysOf = (g: StackGraph, pattern: RegExp) => g.nodes.map((n) => n.key).filter((k) => pattern.test(k));

  test("availability set scaling on sessions: Monitoring Metrics Publisher per VM, scoped to that VM only", () => {
    const s = spec({ ...sessions, fleet: { size: 3 } });
    const g = buildStackGraph(s, withAlerts);
    const roles = g.nodes.filter((n) => n.key.startsWith("ra:metrics:"));
    assert.deepEqual(
      roles.map((n) => n.key),
      ["ra:metrics:vm:web-1", "ra:metrics:vm:web-2", "ra:metrics:vm:web-3"],
    );
    for (const [i, ra] of roles.entries()) {
      const n = webNodeNames(s, i + 1);
      const vm = node(g, `vm:${n.node}`);
      assert.ok(ra.id.startsWith(`${n.vmId}/providers/Microsoft.Authorization/roleAssignments/`), ra.id);
      assert.equal(at(ra.body, "properties.roleDefinitionId"), publisher(SUB));
      assert.deepEqual(at(ra.body, "properties.principalId"), {
        $ref: { node: vm.key, path: "identity.principalId", id: vm.id, apiVersion: vm.apiVersion },
      });
      assert.deepEqual(ra.dependsOn, [vm.key]);
      assert.deepEqual(ra.tagOwner, { id: vm.id, apiVersion: API_VERSIONS.compute }, "the VM proves it is ours");
    }
    // the Key Vault roles are unchanged: still two per VM, one on each app user's secret
    assert.equal(keysOf(g, /^ra:vm:/).length, 6);
  });

  test("availability set scaling on sessions: a scale-out and a scale-in rule per VM on jumpgate/liveSessions", () => {
    const s = spec({ ...sessions, fleet: { size: 2 } });
    const g = buildStackGraph(s, withAlerts);
    assert.deepEqual(keysOf(g, /^alert:scale/), [
      "alert:scale-out:vm:web-1",
      "alert:scale-in:vm:web-1",
      "alert:scale-out:vm:web-2",
      "alert:scale-in:vm:web-2",
    ]);
    const n = webNodeNames(s, 2);
    const out = node(g, "alert:scale-out:vm:web-2");
    const into = node(g, "alert:scale-in:vm:web-2");
    assert.equal(
      out.id,
      `${stackNames(s).resourceGroupId}/providers/Microsoft.Insights/metricAlerts/${n.vm}-scale-out`,
    );
    assert.deepEqual(out.dependsOn, ["vm:web-2"]);
    for (const [rule, operator, threshold] of [
      [out, "GreaterThan", SCALE_THRESHOLDS.sessions.out],
      [into, "LessThan", SCALE_THRESHOLDS.sessions.in],
    ] as const) {
      // one resource: Azure Monitor takes multi-resource rules for platform metrics only
      assert.deepEqual(at(rule.body, "properties.scopes"), [n.vmId]);
      assert.equal(at(rule.body, "properties.targetResourceType"), undefined);
      assert.equal(
        (at(rule.body, "properties.criteria") as Doc)["odata.type"],
        "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
      );
      const [criterion] = at(rule.body, "properties.criteria.allOf") as Doc[];
      assert.deepEqual(
        [criterion.metricName, criterion.metricNamespace, criterion.operator, criterion.threshold],
        ["liveSessions", "jumpgate", operator, threshold],
      );
      assert.equal(criterion.timeAggregation, "Average");
      assert.equal(criterion.skipMetricValidation, true, "the metric exists only once a node has published");
      assert.equal((at(rule.body, "properties.actions") as Doc[])[0].actionGroupId, ACTION_GROUP);
    }
    // scale and heal handle a node with exactly its own nodes, rules included
    assert.deepEqual(webNodeGraphKeys(g, "web-2"), [
      "nic:web-2",
      "vm:web-2",
      "ra:vm:web-2:db-app-a-password",
      "ra:vm:web-2:db-app-b-password",
      "ra:metrics:vm:web-2",
      "alert:scale-out:vm:web-2",
      "alert:scale-in:vm:web-2",
    ]);
  });

  test("scale set scaling on sessions: one role and one pair of rules, on the scale set", () => {
    const s = spec({ ...sessions, fleet: { mode: "scaleSet", size: 2 } });
    const g = buildStackGraph(s, withAlerts);
    const names = stackNames(s);
    const ra = node(g, "ra:metrics:vmss");
    assert.ok(ra.id.startsWith(`${names.scaleSetId}/providers/Microsoft.Authorization/roleAssignments/`), ra.id);
    assert.equal(at(ra.body, "properties.roleDefinitionId"), publisher(SUB));
    assert.deepEqual(at(ra.body, "properties.principalId"), {
      $ref: {
        node: "identity:web",
        path: "properties.principalId",
        id: names.webIdentityId,
        apiVersion: API_VERSIONS.managedIdentity,
      },
    });
    assert.deepEqual(ra.dependsOn, ["vmss"]);
    assert.deepEqual(keysOf(g, /^(ra:metrics|alert:scale)/), ["ra:metrics:vmss", "alert:scale-out", "alert:scale-in"]);
    const out = node(g, "alert:scale-out");
    assert.deepEqual(at(out.body, "properties.scopes"), [names.scaleSetId]);
    assert.deepEqual(out.dependsOn, ["vmss"]);
    const [criterion] = at(out.body, "properties.criteria.allOf") as Doc[];
    assert.deepEqual([criterion.metricNamespace, criterion.metricName], ["jumpgate", "liveSessions"]);
  });

  test("the role does not wait for alerts: a sessions stack without an action group still gets it", () => {
    const g = buildStackGraph(spec(sessions), ctx);
    assert.deepEqual(keysOf(g, /^ra:metrics:/), ["ra:metrics:vm:web-1", "ra:metrics:vm:web-2"]);
    assert.deepEqual(keysOf(g, /^alert:/), []);
  });

  test("a CPU-scaled or non-scaling stack gets no publisher role and no sessions rule, and the same node count", () => {
    for (const mode of ["availabilitySet", "scaleSet"] as const) {
      for (const scale of [
        { enabled: true, metric: "cpu" },
        { enabled: false, metric: "sessions" },
        { enabled: false },
      ]) {
        const g = buildStackGraph(spec({ fleet: { mode, size: 2 }, policies: { scale } }), withAlerts);
        assert.deepEqual(keysOf(g, /^ra:metrics:/), [], JSON.stringify(scale));
        const rules = g.nodes.filter((n) => n.kind === "metricAlert");
        for (const rule of rules) {
          const [criterion] = at(rule.body, "properties.criteria.allOf") as Doc[];
          assert.notEqual(criterion.metricNamespace, "jumpgate", `${rule.key} (${JSON.stringify(scale)})`);
        }
        const base = buildStackGraph(spec({ fleet: { mode, size: 2 } }), withAlerts).nodes.length;
        assert.equal(g.nodes.length, base + (scale.enabled ? 2 : 0), `${mode} ${JSON.stringify(scale)}`);
      }
    }
  });
});

describe("names", () => {
  test("globally unique names carry a stable hash and fit Azure's rules", () => {
    const s = spec({ name: "abcdefghijklmno" });
    const names = stackNames(s);
    assert.match(names.keyVault, /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/);
    assert.ok(!names.keyVault.includes("--"));
    assert.equal(names.keyVault.length, 24);
    assert.match(names.mysqlServer, /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
    assert.equal(stackNames(s).keyVault, names.keyVault, "stable");
    const elsewhere = stackNames(spec({ name: "abcdefghijklmno", resourceGroup: "rg-other" }));
    assert.notEqual(elsewhere.keyVault, names.keyVault);
    assert.notEqual(elsewhere.mysqlServer, names.mysqlServer);
    assert.equal(stackHash(spec({ resourceGroup: "RG-JUMP" })), stackHash(spec()), "resource groups ignore case");
    assert.deepEqual(
      ["web-1", "jump1-web-1", "jump1-web-1-nic"],
      [webNodeNames(spec(), 1).node, webNodeNames(spec(), 1).vm, webNodeNames(spec(), 1).nic],
    );
  });

  test("name-based UUIDs are RFC 4122 version 5", () => {
    // the DNS namespace example from RFC 4122 errata / Python's uuid.uuid5(NAMESPACE_DNS, "python.org")
    assert.equal(
      nameBasedUuid("python.org", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
      "886313e1-3b8a-5372-9b90-0c9aee199e5d",
    );
    assert.equal(nameBasedUuid("a"), nameBasedUuid("a"));
    assert.notEqual(nameBasedUuid("a"), nameBasedUuid("b"));
  });
});

describe("order helpers", () => {
  const nodes = [
    { key: "a", dependsOn: [] },
    { key: "b", dependsOn: ["a"] },
    { key: "c", dependsOn: ["a"] },
    { key: "d", dependsOn: ["b", "c", "a"] },
  ];

  test("validateGraph reports unknown, self and cyclic dependencies", () => {
    assert.throws(
      () => validateGraph([{ key: "a", dependsOn: ["zz"] }]),
      (e: GraphError) => /unknown zz/.test(e.message),
    );
    assert.throws(() => validateGraph([{ key: "a", dependsOn: ["a"] }]), /depends on itself/);
    assert.throws(
      () =>
        validateGraph([
          { key: "a", dependsOn: ["c"] },
          { key: "b", dependsOn: ["a"] },
          { key: "c", dependsOn: ["b"] },
        ]),
      /cycle a -> c -> b -> a/,
    );
    assert.throws(
      () =>
        validateGraph([
          { key: "a", dependsOn: [] },
          { key: "a", dependsOn: [] },
        ]),
      /duplicate key a/,
    );
  });

  test("criticalPath is the heaviest chain", () => {
    const weights: Record<string, number> = { a: 1, b: 5, c: 2, d: 1 };
    assert.deepEqual(
      criticalPath(nodes, (n) => weights[n.key]),
      { duration: 7, keys: ["a", "b", "d"] },
    );
    assert.deepEqual(
      criticalPath([], () => 1),
      { duration: 0, keys: [] },
    );
  });

  test("transitiveReduction drops implied edges only", () => {
    assert.deepEqual(
      transitiveReduction(nodes).map((n) => n.dependsOn),
      [[], ["a"], ["a"], ["b", "c"]],
    );
  });

  test("the stack's critical path runs through the MySQL server", () => {
    const g = buildStackGraph(spec(), ctx);
    const seconds: Record<string, number> = { fast: 5, medium: 30, slow: 400 };
    const path = criticalPath(g.nodes, (n) => seconds[n.latencyClass ?? "fast"]);
    assert.ok(path.keys.includes("mysql"), path.keys.join(" -> "));
    assert.equal(path.keys[0], "rg");
    assert.equal(path.keys[path.keys.length - 1], "mysql:config:tls_version");
  });
});
