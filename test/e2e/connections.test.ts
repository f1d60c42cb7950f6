// Connections from the Azure inventory on the real thing: a stack with `access` and `connections`
// deployed through PUT /api/stacks/{name} with the REAL node agent (Run Command ->
// infra/node/jumpgate-node in per-VM sandboxes), a real MariaDB holding the real Guacamole 1.6.0
// schema, Key Vault and Resource Graph from the emulator through the pinned SDK clients, the app's
// orchestrations on the durable test host's virtual clock. 50 tagged VMs in two resource groups of
// a peered VNet (made through the compute and network clients), a VM in a VNet nobody peered, and
// hostile tag values and names.
//  - before the peering, every target is skipped as unreachable, with the reason; nothing is created
//  - after it, one sync makes 50 connections with the right protocol, host, port, parameters,
//    credentials (from a vault of the targets' owner) and READ for the source's Entra group, in
//    groups per subscription and resource group
//  - an unchanged inventory: the timer's sync makes no Run Command and no SQL; a forced one reads
//    and writes nothing
//  - tagging, untagging, deleting and a changed IP converge in one sync each; hand-made connections
//    (at the root and inside Jumpgate's group) survive every sync
//  - a new version of the credential reaches the connections on the next sync; no credential value
//    appears in histories, statuses, answers, logs, the ledger, the registry or the audit trail
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import type { StackSpec } from "../../shared/spec/types";
import {
  fromRegistry,
  InMemoryDurableClient,
  startDurableRpcServer,
  type DurableRpcServer,
  type InstanceState,
} from "../../emulator/durable";
import { durableClientContextFor } from "../../emulator/durable/client/client-context";
import { InstanceIds, Names } from "../../functions/names";
import { runConnectionTimer } from "../../functions/timers/connection-sync";
import { stackNames } from "../../shared/graph/names";
import { queryResourceGraph } from "../../shared/azure/resource-graph";
import { UNIFORM_INSTANCES_QUERY } from "../../shared/connections/inventory";
import { DB_ADMIN_LOGIN, GUACAMOLE_DATABASE } from "../../shared/node/constants";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { RealNodes } from "../../dev/real-nodes";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";

const STACK = "jgconn";
const SUB = "00000000-0000-0000-0000-0000000c0aa1";
const LOCATION = "westeurope";
const G = { ops: "0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f", devs: "6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f" };
const RG_A = "rg-targets-a";
const RG_B = "rg-targets-b";
const RG_NET = "rg-targets-net";
const VAULT = "kv-targets-e2e";
const SECRET = "targets-login";
type Doc = Record<string, unknown>;
const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
const PROTOCOLS = ["ssh", "rdp", "vnc:5901"];

describe("connections from the Azure inventory (real agent, MariaDB, Resource Graph)", { timeout: 300_000 }, () => {
  let workDir: string;
  let db: MariaDb;
  let env: JumpgateEnv;
  let web: RealNodes;
  let rpc: DurableRpcServer;
  let vaultUri: string;
  let subnetId: string;
  let strayVmId: string;
  const logs: string[] = [];
  const responses: string[] = [];
  const instances: InstanceState[] = [];
  const credentials: string[] = [];

  const lro = () => env.services.factory.lro();
  const call = () => env.services.factory.call();
  const compute = () => env.services.factory.compute(SUB);
  const net = () => env.services.factory.network(SUB);
  const query = (sql: string) => db.query(sql, { password: web.adminPassword });
  const T = (table: string) => `${GUACAMOLE_DATABASE}.${table}`;

  /** every connection: name, group path, protocol, parameters (name=value), READ holders */
  const connections = async () =>
    query(
      `SELECT c.connection_name,
         COALESCE(CONCAT(pg.connection_group_name, '/', g.connection_group_name), g.connection_group_name, '-'),
         c.protocol,
         COALESCE((SELECT GROUP_CONCAT(CONCAT(p.parameter_name, '=', IF(p.parameter_name = 'password', CONCAT('sha256:', SHA2(p.parameter_value, 256)), p.parameter_value)) ORDER BY p.parameter_name SEPARATOR ' ') FROM ${T("guacamole_connection_parameter")} p WHERE p.connection_id = c.connection_id), ''),
         COALESCE((SELECT GROUP_CONCAT(e.name ORDER BY e.name) FROM ${T("guacamole_connection_permission")} cp JOIN ${T("guacamole_entity")} e ON e.entity_id = cp.entity_id WHERE cp.connection_id = c.connection_id AND cp.permission = 'READ'), ''),
         COALESCE((SELECT a.attribute_value FROM ${T("guacamole_connection_attribute")} a WHERE a.connection_id = c.connection_id AND a.attribute_name = 'jumpgate-stack'), '-')
       FROM ${T("guacamole_connection")} c
       LEFT JOIN ${T("guacamole_connection_group")} g ON g.connection_group_id = c.parent_id
       LEFT JOIN ${T("guacamole_connection_group")} pg ON pg.connection_group_id = g.parent_id
       ORDER BY c.connection_name`,
    );
  const managed = async () => (await connections()).filter((r) => r[5] === STACK);
  /** every row of the tables a sync may write, for "nothing changed" */
  const dump = async () =>
    JSON.stringify(
      await Promise.all(
        [
          "guacamole_connection",
          "guacamole_connection_group",
          "guacamole_connection_parameter",
          "guacamole_connection_attribute",
          "guacamole_connection_permission",
          "guacamole_connection_group_permission",
        ].map((t) => query(`SELECT * FROM ${T(t)} ORDER BY 1, 2`)),
      ),
    );

  async function http(name: string, method: string, route: string, body?: unknown) {
    const registration = fromRegistry().http[name];
    assert.ok(registration, `${name} is registered`);
    const request = new HttpRequest({
      method,
      url: `http://127.0.0.1/api/${route}`,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      params: { name: STACK },
      body: body === undefined ? undefined : { string: JSON.stringify(body) },
    });
    const res = (await registration.handler(
      request,
      durableClientContextFor(registration, rpc.clientData()),
    )) as HttpResponseInit;
    const answer = (res.jsonBody ?? (typeof res.body === "string" && res.body ? JSON.parse(res.body) : {})) as Doc;
    responses.push(JSON.stringify(answer));
    return { status: res.status ?? 200, body: answer };
  }

  /** POST .../connections/sync and run it to its end; the instance */
  async function sync(): Promise<InstanceState> {
    const accepted = await http(Names.http.syncConnectionsHttp, "POST", `stacks/${STACK}/connections/sync`);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const instanceId = InstanceIds.connections(STACK);
    await env.host.runUntilIdle({ until: () => env.host.getStatus(instanceId)?.runtimeStatus === "Completed" });
    const state = env.host.getStatus(instanceId)!;
    instances.push(state);
    assert.equal(state.runtimeStatus, "Completed");
    return state;
  }
  const outputOf = (state: InstanceState) => state.output as Doc;

  async function makeVm(rg: string, name: string, tags: Record<string, string>, subnet = subnetId) {
    const nic = await net().networkInterfaces.beginCreateOrUpdateAndWait(
      rg,
      `${name}-nic`,
      { location: LOCATION, ipConfigurations: [{ name: "ipc", subnet: { id: subnet } }] },
      lro(),
    );
    const vm = await compute().virtualMachines.beginCreateOrUpdateAndWait(
      rg,
      name,
      {
        location: LOCATION,
        tags,
        hardwareProfile: { vmSize: "Standard_B2s" },
        storageProfile: {
          imageReference: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
          osDisk: { createOption: "FromImage" },
        },
        osProfile: { computerName: name, adminUsername: "azureuser" },
        networkProfile: { networkInterfaces: [{ id: nic.id, primary: true }] },
      },
      lro(),
    );
    return { vm, nic };
  }

  async function setCredential(value: Doc): Promise<string> {
    const text = JSON.stringify(value);
    credentials.push(String(value.password));
    const made = await env.services.factory.secrets(vaultUri).setSecret(SECRET, text);
    return made.properties.version!;
  }

  const spec = () => ({
    subscriptionId: SUB,
    resourceGroup: "rg-e2e-connections",
    location: LOCATION,
    fleet: { mode: "availabilitySet", size: 1, min: 1 },
    access: {
      tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
      adminGroups: [G.ops],
      userGroups: [G.devs],
    },
    connections: {
      sources: [
        {
          subscriptionId: SUB,
          resourceGroups: [RG_A, RG_B, RG_NET],
          credential: {
            secret: SECRET,
            vaultId: `/subscriptions/${SUB}/resourceGroups/${RG_NET}/providers/Microsoft.KeyVault/vaults/${VAULT}`,
          },
          groups: [G.devs],
        },
      ],
    },
  });

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-connections-"));
    const adminPassword = `bootstrap-${Date.now()}`;
    db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword });
    env = await startJumpgateEnv({
      emulator: { runCommand: { root: path.join(workDir, "run-command"), timeoutMs: 90_000 } },
      durable: { log: (line) => logs.push(line) },
    });
    web = RealNodes.wire(env.emulator, { db: { server: db, adminPassword } });
    rpc = await startDurableRpcServer(env.host);

    // the targets' owner: their network, a vault with the login, 25 VMs in each of two groups
    const rgs = env.services.factory.resources(SUB).resourceGroups;
    for (const rg of [RG_A, RG_B, RG_NET]) await rgs.createOrUpdate(rg, { location: LOCATION }, call());
    const vault = await env.services.factory.keyVaultManagement(SUB).vaults.beginCreateOrUpdateAndWait(
      RG_NET,
      VAULT,
      {
        location: LOCATION,
        properties: {
          tenantId: env.emulator.tenantId,
          sku: { family: "A", name: "standard" },
          enableRbacAuthorization: true,
        },
      },
      lro(),
    );
    vaultUri = vault.properties.vaultUri!;
    await setCredential({ username: "azureuser", password: "first-Pa55'word\\;--" });
    const vnet = await net().virtualNetworks.beginCreateOrUpdateAndWait(
      RG_NET,
      "targets-vnet",
      {
        location: LOCATION,
        addressSpace: { addressPrefixes: ["10.50.0.0/16"] },
        subnets: [{ name: "targets", addressPrefix: "10.50.0.0/20" }],
      },
      lro(),
    );
    subnetId = vnet.subnets![0].id!;
    for (let i = 1; i <= 50; i++) {
      const rg = i <= 25 ? RG_A : RG_B;
      await makeVm(rg, `vm-${String(i).padStart(2, "0")}`, { "jumpgate-connect": PROTOCOLS[i % 3] });
    }
    // hostile tags: skipped with the reason, never near SQL
    await makeVm(RG_A, "vm-hostile", { "jumpgate-connect": "ssh'); DROP TABLE guacamole_connection; --" });
    await makeVm(RG_A, "vm-untagged", { owner: "someone" });
    // a VNet nobody peered with the stack's
    const stray = await net().virtualNetworks.beginCreateOrUpdateAndWait(
      RG_NET,
      "stray-vnet",
      {
        location: LOCATION,
        addressSpace: { addressPrefixes: ["10.60.0.0/16"] },
        subnets: [{ name: "s", addressPrefix: "10.60.0.0/24" }],
      },
      lro(),
    );
    strayVmId = (await makeVm(RG_B, "vm-stray", { "jumpgate-connect": "ssh" }, stray.subnets![0].id)).vm.id!;
  });

  after(async () => {
    await rpc?.close();
    await web?.stop();
    await env?.stop();
    await db?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test("a deploy before the peering: every target skipped as unreachable, with the reason; nothing created", async () => {
    const accepted = await http(Names.http.putStack, "PUT", `stacks/${STACK}`, spec());
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const instanceId = (accepted.body.operation as { instanceId: string }).instanceId;
    await env.host.runUntilIdle();
    const deploy = env.host.getStatus(instanceId)!;
    instances.push(deploy);
    assert.equal(deploy.runtimeStatus, "Completed", JSON.stringify(deploy.output ?? deploy.customStatus));
    assert.deepEqual(await managed(), []);
    const listed = await http(Names.http.listConnections, "GET", `stacks/${STACK}/connections`);
    assert.equal(listed.status, 200);
    const skipped = listed.body.skipped as { name: string; reason: string }[];
    assert.equal(
      skipped.filter((s) => /not in the stack's virtual network or a peered address space/.test(s.reason)).length,
      51,
    );
    const hostile = skipped.find((s) => s.name === "vm-hostile");
    assert.match(hostile!.reason, /is not ssh, rdp or vnc/);
    assert.ok(!skipped.some((s) => s.name === "vm-untagged"));
  });

  test("peered: 50 VMs in two resource groups become 50 connections with protocol, host, port, credentials and READ", async () => {
    // the network team peers the targets' VNet with the stack's (as a GET of the VNet shows it)
    const stackVnet = env.emulator.store.get(stackNames((await env.registry.get(STACK))!.spec).vnetId)!;
    stackVnet.properties.virtualNetworkPeerings = [
      {
        name: "to-targets",
        properties: { peeringState: "Connected", remoteAddressSpace: { addressPrefixes: ["10.50.0.0/16"] } },
      },
    ];
    const state = await sync();
    assert.equal(outputOf(state).outcome, "applied", JSON.stringify(state.output));
    assert.equal(outputOf(state).created, 50);
    const rows = await managed();
    assert.equal(rows.length, 50);
    const nicIp = async (rg: string, name: string) =>
      (await net().networkInterfaces.get(rg, `${name}-nic`, call())).ipConfigurations![0].privateIPAddress!;
    for (const i of [1, 2, 3, 26, 50]) {
      const name = `vm-${String(i).padStart(2, "0")}`;
      const rg = i <= 25 ? RG_A : RG_B;
      const row = rows.find((r) => r[0] === name)!;
      const [protocol, port] = PROTOCOLS[i % 3].split(":");
      const ip = await nicIp(rg, name);
      assert.equal(row[1], `${SUB}/${rg}`, `${name}: in its subscription's and resource group's groups`);
      assert.equal(row[2], protocol);
      const expected: Record<string, string> = {
        hostname: ip,
        port: port ?? (protocol === "ssh" ? "22" : "3389"),
        username: "azureuser",
        password: `sha256:${sha256("first-Pa55'word\\;--")}`,
        ...(protocol === "rdp" ? { security: "any", "ignore-cert": "true" } : {}),
      };
      assert.equal(
        row[3],
        Object.entries(expected)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k}=${v}`)
          .join(" "),
        name,
      );
      assert.equal(row[4], G.devs, `${name}: READ for the source's group only`);
    }
    const groupReads = await query(
      `SELECT g.connection_group_name, e.name FROM ${T("guacamole_connection_group_permission")} p
         JOIN ${T("guacamole_connection_group")} g ON g.connection_group_id = p.connection_group_id
         JOIN ${T("guacamole_entity")} e ON e.entity_id = p.entity_id ORDER BY 1`,
    );
    assert.deepEqual(groupReads, [
      [SUB, G.devs],
      [RG_A, G.devs],
      [RG_B, G.devs],
    ]);
    const listed = await http(Names.http.listConnections, "GET", `stacks/${STACK}/connections`);
    const listedRows = listed.body.connections as Doc[];
    assert.equal(listedRows.length, 50);
    assert.deepEqual(Object.keys(listedRows[0]).sort(), [
      "credential",
      "group",
      "host",
      "key",
      "name",
      "permissions",
      "port",
      "protocol",
      "source",
      "vm",
    ]);
    assert.match(String(listedRows[0].credential), new RegExp(`^${SECRET}/[0-9a-f]{32}$`));
    const skipped = listed.body.skipped as { vm: string; reason: string }[];
    assert.deepEqual(
      skipped.filter((s) => /unreachable/.test(s.reason)).map((s) => s.vm.toLowerCase()),
      [strayVmId.toLowerCase()],
    );
    const synced = (await env.audit.all(STACK)).filter((e) => e.what === "connections synced");
    assert.equal(synced.length, 1);
  });

  test("an unchanged inventory: the timer's sync makes no Run Command and no SQL; a forced one writes nothing", async () => {
    const before = await dump();
    env.emulator.journal.clear();
    const timer = await runConnectionTimer(new InMemoryDurableClient(env.host), new Date());
    assert.deepEqual(timer.started, [STACK]);
    const instanceId = InstanceIds.connections(STACK);
    await env.host.runUntilIdle({ until: () => env.host.getStatus(instanceId)?.runtimeStatus === "Completed" });
    const quiet = env.host.getStatus(instanceId)!;
    instances.push(quiet);
    assert.equal(outputOf(quiet).outcome, "nothing", JSON.stringify(quiet.output));
    const writes = env.emulator.journal.writes().map((w) => `${w.method} ${w.path}`);
    assert.ok(
      writes.every((w) => /Microsoft\.ResourceGraph\/resources$/i.test(w)),
      writes.join("\n"),
    );
    assert.equal(await dump(), before);
    const forced = await sync();
    assert.equal(outputOf(forced).outcome, "applied");
    assert.equal(outputOf(forced).statements, 0, "read, compared, nothing written");
    assert.equal(await dump(), before);
  });

  test("tagging, untagging, deleting and a changed IP converge in one sync each; hand-made connections survive", async () => {
    // a person's own connections: one at the root, one inside Jumpgate's resource group group
    const [[groupA]] = await query(
      `SELECT connection_group_id FROM ${T("guacamole_connection_group")} WHERE connection_group_name = '${RG_A}'`,
    );
    await query(
      `INSERT INTO ${T("guacamole_connection")} (connection_name, parent_id, protocol) VALUES ('by-hand-root', NULL, 'ssh')`,
    );
    await query(
      `INSERT INTO ${T("guacamole_connection")} (connection_name, parent_id, protocol) VALUES ('by-hand-in-a', ${groupA}, 'rdp')`,
    );
    const handMade = async () =>
      (await connections()).filter((r) => r[0].startsWith("by-hand")).map((r) => r.slice(0, 3));
    const handBefore = await handMade();
    assert.equal(handBefore.length, 2);

    // tag: the untagged VM becomes a connection
    await compute().virtualMachines.beginUpdateAndWait(
      RG_A,
      "vm-untagged",
      { tags: { "jumpgate-connect": "ssh:2222" } },
      lro(),
    );
    let state = await sync();
    assert.deepEqual([outputOf(state).created, outputOf(state).updated, outputOf(state).removed], [1, 0, 0]);
    assert.match((await managed()).find((r) => r[0] === "vm-untagged")![3], / port=2222 /);

    // untag one, delete another
    await compute().virtualMachines.beginUpdateAndWait(RG_A, "vm-01", { tags: {} }, lro());
    await compute().virtualMachines.beginDeleteAndWait(RG_B, "vm-50", lro());
    state = await sync();
    assert.deepEqual([outputOf(state).created, outputOf(state).updated, outputOf(state).removed], [0, 0, 2]);
    const names = (await managed()).map((r) => r[0]);
    assert.ok(!names.includes("vm-01") && !names.includes("vm-50") && names.length === 49);

    // a changed IP (and a changed protocol tag)
    await net().networkInterfaces.beginCreateOrUpdateAndWait(
      RG_A,
      "vm-02-nic",
      {
        location: LOCATION,
        ipConfigurations: [
          { name: "ipc", subnet: { id: subnetId }, privateIPAllocationMethod: "Static", privateIPAddress: "10.50.9.9" },
        ],
      },
      lro(),
    );
    await compute().virtualMachines.beginUpdateAndWait(RG_A, "vm-04", { tags: { "jumpgate-connect": "ssh" } }, lro());
    state = await sync();
    assert.deepEqual([outputOf(state).created, outputOf(state).updated, outputOf(state).removed], [0, 2, 0]);
    const rows = await managed();
    assert.match(rows.find((r) => r[0] === "vm-02")![3], /hostname=10\.50\.9\.9 /);
    const vm04 = rows.find((r) => r[0] === "vm-04")!;
    assert.equal(vm04[2], "ssh");
    assert.ok(!/security=|ignore-cert=/.test(vm04[3]), "rdp's parameters went with the protocol");
    assert.match(vm04[3], /port=22 /, "the tag names no port: the new protocol's default");
    assert.deepEqual(await handMade(), handBefore, "hand-made connections survive every sync");

    // the group of RG_B loses every connection: it is removed; RG_A keeps a hand-made one, so it stays
    for (let i = 26; i <= 49; i++)
      await compute().virtualMachines.beginUpdateAndWait(RG_B, `vm-${i}`, { tags: {} }, lro());
    state = await sync();
    assert.equal(outputOf(state).removed, 24);
    const groups = (await query(`SELECT connection_group_name FROM ${T("guacamole_connection_group")} ORDER BY 1`)).map(
      (r) => r[0],
    );
    assert.deepEqual(groups, [SUB, RG_A]);
    assert.deepEqual(await handMade(), handBefore);
  });

  test("recordings on: the next sync gives every connection guacd's recording parameters; a source's opt-out takes them away again", async () => {
    // the spec as a PUT would register it (the deploy itself is the graph's business, tested apart):
    // the sync reads the registered spec, so this is what a PUT with `recordings` hands it
    const registered = (await env.registry.get(STACK))!.spec;
    const recordings = {
      enabled: true,
      retentionDays: 90,
      includeKeys: false,
      coolAfterDays: 30,
      immutability: "unlocked",
    };
    const withSource = (record?: boolean): StackSpec =>
      ({
        ...registered,
        recordings,
        connections: {
          sources: registered.connections!.sources.map((x) => ({
            ...x,
            ...(record === undefined ? {} : { recordings: record }),
          })),
        },
      }) as StackSpec;
    const recordingParams = (row: string[]) =>
      row[3].split(" ").filter((p) => p.startsWith("recording-") || p.startsWith("create-recording"));
    const handBefore = (await connections()).filter((r) => r[0].startsWith("by-hand"));

    await env.registry.putDesired(STACK, withSource());
    const on = await sync();
    assert.equal(outputOf(on).outcome, "applied", JSON.stringify(on.output));
    let rows = await managed();
    assert.ok(rows.length > 0);
    for (const r of rows) {
      assert.deepEqual(
        recordingParams(r),
        [
          "create-recording-path=true",
          "recording-include-keys=false",
          "recording-name=${HISTORY_UUID}",
          "recording-path=/var/lib/guacd/recordings",
          "recording-write-existing=false",
        ],
        r[0],
      );
      assert.match(r[3], / hostname=10\.50\./, "the address stays");
    }
    // the same spec again: the agent finds nothing to write
    const written = await dump();
    await sync();
    assert.equal(await dump(), written);

    await env.registry.putDesired(STACK, withSource(false));
    const off = await sync();
    assert.equal(outputOf(off).outcome, "applied", JSON.stringify(off.output));
    rows = await managed();
    for (const r of rows) assert.deepEqual(recordingParams(r), [], r[0]);
    // hand-made connections never get (or lose) anything
    assert.deepEqual(
      (await connections()).filter((r) => r[0].startsWith("by-hand")),
      handBefore,
    );
    await env.registry.putDesired(STACK, registered);
  });

  test("a tagged Uniform scale set's instances become connections; a scale-in removes one on the next sync, untagging the rest", async () => {
    await compute().virtualMachineScaleSets.beginCreateOrUpdateAndWait(
      RG_A,
      "upool",
      {
        location: LOCATION,
        tags: { "jumpgate-connect": "rdp" },
        sku: { name: "Standard_B2s", capacity: 2 },
        orchestrationMode: "Uniform",
        upgradePolicy: { mode: "Manual" },
        virtualMachineProfile: {
          storageProfile: {
            imageReference: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
          },
          osProfile: { computerNamePrefix: "upool", adminUsername: "azureuser" },
          networkProfile: {
            networkInterfaceConfigurations: [
              { name: "nic", primary: true, ipConfigurations: [{ name: "ipc", subnet: { id: subnetId } }] },
            ],
          },
        },
      },
      lro(),
    );
    // each instance's address, as Resource Graph's computeresources lists its NIC
    const nicRows = (
      await queryResourceGraph<Record<string, unknown>>(env.services.factory, UNIFORM_INSTANCES_QUERY, {
        subscriptions: [SUB],
      })
    ).rows.filter((r) => /\/upool\/virtualmachines\/[0-9]+\/networkinterfaces\//i.test(String(r.id)));
    const ipOf = (i: number) =>
      (
        nicRows.find((r) => String(r.id).toLowerCase().includes(`/upool/virtualmachines/${i}/`))!.ipConfigurations as {
          properties: { privateIPAddress: string };
        }[]
      )[0].properties.privateIPAddress;
    let state = await sync();
    assert.deepEqual([outputOf(state).created, outputOf(state).updated, outputOf(state).removed], [2, 0, 0]);
    const uniform = async () => (await managed()).filter((r) => r[0].startsWith("upool_"));
    const rows = await uniform();
    assert.deepEqual(
      rows.map((r) => [r[0], r[1], r[2]]),
      [
        ["upool_0", `${SUB}/${RG_A}`, "rdp"],
        ["upool_1", `${SUB}/${RG_A}`, "rdp"],
      ],
    );
    for (const [i, r] of rows.entries()) {
      assert.match(r[3], new RegExp(`hostname=${ipOf(i).replace(/\./g, "\\.")} `));
      assert.match(r[3], / port=3389 /);
    }
    const [[vmAttribute]] = await query(
      `SELECT a.attribute_value FROM ${T("guacamole_connection_attribute")} a JOIN ${T("guacamole_connection")} c ON c.connection_id = a.connection_id WHERE c.connection_name = 'upool_1' AND a.attribute_name = 'jumpgate-vm'`,
    );
    assert.match(vmAttribute, /\/virtualmachinescalesets\/upool\/virtualmachines\/1$/i);

    await compute().virtualMachineScaleSets.beginDeleteInstancesAndWait(RG_A, "upool", { instanceIds: ["0"] }, lro());
    state = await sync();
    assert.deepEqual([outputOf(state).created, outputOf(state).updated, outputOf(state).removed], [0, 0, 1]);
    assert.deepEqual(
      (await uniform()).map((r) => r[0]),
      ["upool_1"],
    );

    await compute().virtualMachineScaleSets.beginUpdateAndWait(RG_A, "upool", { tags: {} }, lro());
    state = await sync();
    assert.deepEqual([outputOf(state).created, outputOf(state).updated, outputOf(state).removed], [0, 0, 1]);
    assert.deepEqual(await uniform(), []);
  });

  test("a new credential version reaches the connections on the next sync; no credential value leaks anywhere", async () => {
    const version = await setCredential({ username: "azureuser", password: "second-Pa55word" });
    const state = await sync();
    assert.equal(outputOf(state).outcome, "applied");
    const rows = await managed();
    assert.ok(rows.length > 0);
    for (const r of rows) assert.ok(r[3].includes(` password=sha256:${sha256("second-Pa55word")} `), r[0]);
    const listed = await http(Names.http.listConnections, "GET", `stacks/${STACK}/connections`);
    assert.ok((listed.body.connections as Doc[]).every((c) => c.credential === `${SECRET}/${version}`));

    const haystacks: [string, string][] = [
      [
        "histories and statuses",
        JSON.stringify(instances.map((i) => [i.history, i.customStatusLog, i.output, i.input])),
      ],
      ["every instance on the host", JSON.stringify(env.host.listInstances())],
      ["HTTP answers", responses.join("\n")],
      ["logs", logs.join("\n")],
      ["audit trail", JSON.stringify(await env.audit.all(STACK))],
      ["registry", JSON.stringify(await env.registry.get(STACK))],
      ["ledger", JSON.stringify(await env.services.connections.get(STACK))],
      ["emulator journal", JSON.stringify(env.emulator.journal.list())],
    ];
    for (const value of credentials)
      for (const [what, hay] of haystacks) assert.ok(!hay.includes(value), `a credential leaked into the ${what}`);
  });
});
