// Azure Resource Graph: the pinned @azure/arm-resourcegraph client, built by the app's client
// factory, against the emulator's `POST /providers/Microsoft.ResourceGraph/resources`. The request
// and answer shapes are checked against the REST spec (azure-rest-api-specs, Microsoft.ResourceGraph
// stable 2024-04-01 resourcegraph.json: QueryRequest {subscriptions, managementGroups, query, options
// {$skipToken, $top (1-1000), $skip, resultFormat, allowPartialScopes, authorizationScopeFilter},
// facets}; QueryResponse {totalRecords, count, resultTruncated "true"|"false", $skipToken, data,
// facets}, totalRecords/count/resultTruncated/data required), and the KQL the app sends is answered
// over what the emulator holds: tag and type filters, projections, paging, the lag behind ARM,
// the resourcechanges table, and the ParserFailure of a query outside the subset.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { kqlList, kqlString, queryResourceGraph } from "../../shared/azure/resource-graph";
import { desiredConnections } from "../../shared/connections/desired";
import { readInventory, UNIFORM_INSTANCES_QUERY } from "../../shared/connections/inventory";
import { validateStackSpec } from "../../shared/spec/validate";
import { LOCATION, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";

const OTHER_SUB = "00000000-0000-0000-0000-00000000b002";
const QUERY_REQUEST_KEYS = ["subscriptions", "managementGroups", "query", "options", "facets"];
const QUERY_OPTION_KEYS = [
  "$skipToken",
  "$top",
  "$skip",
  "resultFormat",
  "allowPartialScopes",
  "authorizationScopeFilter",
];
const QUERY_RESPONSE_KEYS = ["totalRecords", "count", "resultTruncated", "$skipToken", "data", "facets"];
const QUERY_RESPONSE_REQUIRED = ["totalRecords", "count", "resultTruncated", "data"];

function nsg(sub: string, rg: string, name: string, stack: string | undefined) {
  return {
    id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkSecurityGroups/${name}`,
    name,
    type: "Microsoft.Network/networkSecurityGroups",
    location: "West Europe",
    ...(stack ? { tags: { "jumpgate-stack": stack } } : {}),
    properties: { securityRules: [] },
  };
}

describe("Resource Graph through the pinned SDK", () => {
  let az: AzureFixture;

  before(async () => {
    az = await startAzure({});
    const rg = (sub: string, name: string) => ({
      id: `/subscriptions/${sub}/resourceGroups/${name}`,
      name,
      type: "Microsoft.Resources/resourceGroups",
      location: LOCATION,
      properties: {},
    });
    az.emulator.seed([
      rg(SUB, RG),
      rg(OTHER_SUB, RG),
      ...["a", "b", "c", "d", "e"].map((n) => nsg(SUB, RG, `demo-${n}-nsg`, "demo")),
      nsg(SUB, RG, "other-nsg", "other"),
      nsg(SUB, RG, "untagged-nsg", undefined),
      nsg(OTHER_SUB, RG, "demo-x-nsg", "demo"),
    ]);
  });
  after(() => az.stop());

  test("a tag and type filter with a projection, paged by $skipToken, scoped to the subscription", async () => {
    az.emulator.journal.clear();
    const query = `resources | where type in~ ('microsoft.network/networksecuritygroups') and tags['jumpgate-stack'] =~ ${kqlString("demo")} | project id, name, type, location, resourceGroup, tags`;
    const result = await queryResourceGraph<{ id: string; type: string; location: string; resourceGroup: string }>(
      az.factory,
      query,
      { subscriptions: [SUB], pageSize: 2 },
    );
    assert.equal(result.rows.length, 5);
    assert.equal(result.requests, 3, "5 rows at 2 a page");
    assert.equal(result.totalRecords, 5);
    assert.deepEqual(result.rows.map((r) => r.id.split("/").pop()).sort(), [
      "demo-a-nsg",
      "demo-b-nsg",
      "demo-c-nsg",
      "demo-d-nsg",
      "demo-e-nsg",
    ]);
    // Resource Graph's own casing of these columns
    assert.equal(result.rows[0].type, "microsoft.network/networksecuritygroups");
    assert.equal(result.rows[0].location, "westeurope");
    assert.equal(result.rows[0].resourceGroup, RG.toLowerCase());
    // what went over the wire is the spec's QueryRequest
    const sent = az.emulator.journal.list({ operation: "resource-graph" });
    assert.equal(sent.length, 3);
    for (const entry of sent) {
      assert.equal(entry.method, "POST");
      assert.equal(entry.apiVersion, "2024-04-01");
      const body = entry.body as Record<string, unknown>;
      for (const key of Object.keys(body)) assert.ok(QUERY_REQUEST_KEYS.includes(key), `request key ${key}`);
      for (const key of Object.keys(body.options as object))
        assert.ok(QUERY_OPTION_KEYS.includes(key), `option ${key}`);
    }
    assert.equal((sent[1].body as { options: { $skipToken?: string } }).options.$skipToken !== undefined, true);
  });

  test("the answer carries the spec's QueryResponse fields, and no others", async () => {
    const reply = await fetchRaw(az, {
      subscriptions: [SUB],
      query: "resources | where tags['jumpgate-stack'] == 'demo' | project id",
      options: { $top: 3 },
    });
    assert.equal(reply.status, 200);
    for (const key of QUERY_RESPONSE_REQUIRED) assert.ok(key in reply.body, `missing ${key}`);
    for (const key of Object.keys(reply.body)) assert.ok(QUERY_RESPONSE_KEYS.includes(key), `unexpected ${key}`);
    assert.equal(reply.body.count, 3);
    assert.equal(reply.body.totalRecords, 5);
    assert.equal(reply.body.resultTruncated, "false");
    assert.equal(typeof reply.body.$skipToken, "string");
    // rows without id cannot be paged: truncated instead of a token
    const noId = await fetchRaw(az, { subscriptions: [SUB], query: "resources | project name", options: { $top: 2 } });
    assert.equal(noId.body.resultTruncated, "true");
    assert.equal(noId.body.$skipToken, undefined);
  });

  test("resource groups are in resourcecontainers, and a query spans the subscriptions it names", async () => {
    const groups = await queryResourceGraph<{ id: string }>(
      az.factory,
      "resourcecontainers | where type =~ 'microsoft.resources/subscriptions/resourcegroups' | project id",
      { subscriptions: [SUB, OTHER_SUB] },
    );
    assert.equal(groups.rows.length, 2);
    const both = await queryResourceGraph(
      az.factory,
      `resources | where name in ${kqlList(["demo-x-nsg", "demo-a-nsg"])} | project id`,
      {
        subscriptions: [SUB, OTHER_SUB],
      },
    );
    assert.equal(both.rows.length, 2);
  });

  test("it lags ARM: a write shows after the lag, ARM's changedTime at once, and resourcechanges says who", async () => {
    const id = nsg(SUB, RG, "demo-a-nsg", "demo").id;
    const network = az.factory.network(SUB);
    az.emulator.resourceGraph.lagMs = 3_600_000;
    try {
      await network.networkSecurityGroups.beginCreateOrUpdateAndWait(
        RG,
        "demo-a-nsg",
        {
          location: LOCATION,
          tags: { "jumpgate-stack": "demo" },
          securityRules: [
            {
              name: "allow-ssh",
              protocol: "Tcp",
              access: "Allow",
              direction: "Inbound",
              priority: 100,
              sourceAddressPrefix: "*",
              sourcePortRange: "*",
              destinationAddressPrefix: "*",
              destinationPortRange: "22",
            },
          ],
        },
        az.factory.lro(),
      );
      const seen = await queryResourceGraph<{ properties: { securityRules: unknown[] } }>(
        az.factory,
        `resources | where id =~ ${kqlString(id)} | project id, properties`,
        { subscriptions: [SUB] },
      );
      assert.equal(seen.rows[0].properties.securityRules.length, 0, "Resource Graph still shows the version before");
      const listed = await listResources(az, `substringof('${RG}', resourceGroup)`);
      const changed = listed.find((r) => r.id?.toLowerCase() === id.toLowerCase());
      assert.ok(changed?.changedTime, "ARM's list carries changedTime");
      assert.ok(Date.now() - changed.changedTime.getTime() < 60_000, "changed just now");
      // ARM says `$expand` may not be honoured with a tag filter: the emulator never honours it then
      const byTag = await listResources(az, "tagName eq 'jumpgate-stack' and tagValue eq 'demo'");
      assert.ok(byTag.some((r) => r.id?.toLowerCase() === id.toLowerCase()));
      assert.ok(byTag.every((r) => r.changedTime === undefined));
      const noChanges = await queryResourceGraph(
        az.factory,
        `resourcechanges | where properties.targetResourceId =~ ${kqlString(id)} and properties.changeType == 'Update' | project id`,
        { subscriptions: [SUB] },
      );
      assert.equal(noChanges.rows.length, 0, "change records lag too");
    } finally {
      az.emulator.resourceGraph.lagMs = 0;
    }
    // written again with no lag: visible at once, and its change record says who and what changed
    await az.factory
      .network(SUB)
      .networkSecurityGroups.beginCreateOrUpdateAndWait(
        RG,
        "demo-b-nsg",
        { location: LOCATION, tags: { "jumpgate-stack": "demo", team: "blue" } },
        az.factory.lro(),
      );
    const changes = await queryResourceGraph<{
      id: string;
      changeType: string;
      changedBy: string;
      changes: Record<string, unknown>;
    }>(
      az.factory,
      `resourcechanges | where properties.targetResourceId =~ ${kqlString(nsg(SUB, RG, "demo-b-nsg", "demo").id)} and properties.changeType == 'Update' | extend changeTime = todatetime(properties.changeAttributes.timestamp) | where changeTime > ago(1h) | project id, changeType = tostring(properties.changeType), changedBy = tostring(properties.changeAttributes.changedBy), changes = properties.changes | order by changeTime desc`,
      { subscriptions: [SUB] },
    );
    assert.equal(changes.rows.length, 1);
    assert.equal(changes.rows[0].changeType, "Update");
    assert.equal(changes.rows[0].changedBy, "jumpgate");
    assert.ok("tags.team" in changes.rows[0].changes, JSON.stringify(changes.rows[0].changes));
  });

  test("the tables Azure keeps each type in: tracked children in resources and ARM's list, role assignments apart, proxy children in none", async () => {
    const zone = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/privateDnsZones/db.private.mysql.database.azure.com`;
    const link = `${zone}/virtualNetworkLinks/demo-vnet-link`;
    const server = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.DBforMySQL/flexibleServers/demo-db`;
    const grant = `${server}/providers/Microsoft.Authorization/roleAssignments/6c2f3b4e-2f0a-4c55-9a4e-0d6a1f1f2a10`;
    const tags = { "jumpgate-stack": "children" };
    az.emulator.seed([
      {
        id: zone,
        name: zone.split("/").pop()!,
        type: "Microsoft.Network/privateDnsZones",
        location: "global",
        tags,
        properties: {},
      },
      {
        id: link,
        name: "demo-vnet-link",
        type: "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        location: "global",
        tags,
        properties: {
          registrationEnabled: false,
          virtualNetwork: {
            id: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/demo-vnet`,
          },
        },
      },
      {
        id: server,
        name: "demo-db",
        type: "Microsoft.DBforMySQL/flexibleServers",
        location: LOCATION,
        tags,
        properties: {},
      },
      {
        id: `${server}/configurations/require_secure_transport`,
        name: "require_secure_transport",
        type: "Microsoft.DBforMySQL/flexibleServers/configurations",
        properties: { value: "ON" },
      },
      {
        id: grant,
        name: grant.split("/").pop()!,
        type: "Microsoft.Authorization/roleAssignments",
        properties: {
          roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6`,
          principalId: "11111111-2222-3333-4444-555555555555",
          principalType: "ServicePrincipal",
          scope: server,
        },
      },
    ]);
    const types = async (table: string) =>
      (
        await queryResourceGraph<{ type: string }>(
          az.factory,
          `${table} | where resourceGroup =~ ${kqlString(RG)} | project id, type`,
          { subscriptions: [SUB] },
        )
      ).rows.map((r) => r.type);
    const resources = await types("resources");
    assert.ok(resources.includes("microsoft.network/privatednszones/virtualnetworklinks"), resources.join());
    assert.ok(!resources.some((t) => t.includes("configurations") || t.includes("roleassignments")), resources.join());
    assert.deepEqual(await types("authorizationresources"), ["microsoft.authorization/roleassignments"]);
    // ARM's list: the link (a tracked child) with its change time; no proxy child, no extension resource
    const listed = await listResources(az, `substringof('${RG}', resourceGroup)`);
    const ids = listed.map((r) => r.id!.toLowerCase());
    assert.ok(ids.includes(link.toLowerCase()), ids.join("\n"));
    assert.ok(listed.find((r) => r.id!.toLowerCase() === link.toLowerCase())?.changedTime);
    assert.ok(!ids.some((i) => i.includes("/configurations/") || i.includes("/roleassignments/")));
  });

  test("a document changed in place shows after the lag like any write: ARM's changedTime at once, a change record", async () => {
    const link = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/privateDnsZones/db.private.mysql.database.azure.com/virtualNetworkLinks/demo-vnet-link`;
    const graph = az.emulator.resourceGraph;
    let now = Date.now() + 3_600_000;
    graph.clock = () => now;
    graph.lagMs = 60_000;
    try {
      const registration = async () =>
        (
          await queryResourceGraph<{ registration: boolean }>(
            az.factory,
            `resources | where id =~ ${kqlString(link)} | project id, registration = properties.registrationEnabled`,
            { subscriptions: [SUB] },
          )
        ).rows[0].registration;
      assert.equal(await registration(), false);
      // someone's change the emulator did not see as a request: the stored document edited in place
      (az.emulator.store.get(link)!.properties as { registrationEnabled: boolean }).registrationEnabled = true;
      const changedAt = now;
      assert.equal(await registration(), false, "within the lag Resource Graph shows the version before");
      const listed = await listResources(az, `substringof('${RG}', resourceGroup)`);
      assert.equal(
        listed.find((r) => r.id!.toLowerCase() === link.toLowerCase())?.changedTime?.getTime(),
        changedAt,
        "ARM's changedTime moved at once",
      );
      now += 60_001;
      assert.equal(await registration(), true, "after the lag Resource Graph shows it");
      const changes = await queryResourceGraph<{ changedBy: string; changes: Record<string, unknown> }>(
        az.factory,
        `resourcechanges | where properties.targetResourceId =~ ${kqlString(link)} and properties.changeType == 'Update' | project id, changedBy = tostring(properties.changeAttributes.changedBy), changes = properties.changes`,
        { subscriptions: [SUB] },
      );
      assert.equal(changes.rows.length, 1);
      assert.equal(changes.rows[0].changedBy, "unknown");
      assert.ok("properties.registrationEnabled" in changes.rows[0].changes, JSON.stringify(changes.rows[0].changes));
    } finally {
      graph.clock = Date.now;
      graph.lagMs = 0;
    }
  });

  test("Resources - List's $filter: what ARM documents, anything else is a 400", async () => {
    const named = await listResources(az, "substringof('demo-a', name) or substringof('demo-b', name)");
    assert.deepEqual(named.map((r) => r.name).sort(), ["demo-a-nsg", "demo-b-nsg"]);
    const typed = await listResources(
      az,
      "resourceType eq 'Microsoft.Network/networkSecurityGroups' and name eq 'other-nsg'",
    );
    assert.deepEqual(
      typed.map((r) => r.name),
      ["other-nsg"],
    );
    await assert.rejects(
      listResources(az, "properties/foo eq 'x'"),
      (e: { statusCode?: number }) => e.statusCode === 400,
    );
  });

  describe("Uniform scale sets: computeresources, and connections from their instances", () => {
    const VNET_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/uniform-vnet`;
    const setId = (name: string) =>
      `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
    const DEVS = "6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f";
    const checked = validateStackSpec({
      name: "uniform",
      subscriptionId: SUB,
      resourceGroup: RG,
      location: LOCATION,
      access: {
        tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
        clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
        adminGroups: ["0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f"],
        userGroups: [DEVS],
      },
      connections: { sources: [{ subscriptionId: SUB, resourceGroups: [RG], groups: [DEVS] }] },
    });
    assert.ok(checked.ok, JSON.stringify(checked));
    const spec = checked.spec;

    async function scaleSet(name: string, capacity: number, tags: Record<string, string>, subnetId: string) {
      await az.factory.compute(SUB).virtualMachineScaleSets.beginCreateOrUpdateAndWait(
        RG,
        name,
        {
          location: LOCATION,
          tags,
          sku: { name: "Standard_B2s", capacity },
          orchestrationMode: "Uniform",
          upgradePolicy: { mode: "Manual" },
          virtualMachineProfile: {
            storageProfile: {
              imageReference: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
            },
            osProfile: { computerNamePrefix: name, adminUsername: "azureuser" },
            networkProfile: {
              networkInterfaceConfigurations: [
                { name: "nic", primary: true, ipConfigurations: [{ name: "ipc", subnet: { id: subnetId } }] },
              ],
            },
          },
        },
        az.factory.lro(),
      );
    }

    async function connections() {
      const inventory = await readInventory(az.factory, spec, VNET_ID);
      const desired = desiredConnections(spec, inventory, { reachable: ["10.70.0.0/16"], credentials: [] });
      return { inventory, desired };
    }

    before(async () => {
      const vnet = await az.factory.network(SUB).virtualNetworks.beginCreateOrUpdateAndWait(
        RG,
        "uniform-vnet",
        {
          location: LOCATION,
          addressSpace: { addressPrefixes: ["10.70.0.0/16"] },
          subnets: [{ name: "targets", addressPrefix: "10.70.1.0/24" }],
        },
        az.factory.lro(),
      );
      const subnetId = vnet.subnets![0].id!;
      await scaleSet("upool", 3, { "jumpgate-connect": "ssh" }, subnetId);
      await scaleSet("quiet", 1, { owner: "someone" }, subnetId);
      await scaleSet("lookalike", 1, { "jumpgate-connect": "ssh'); DROP TABLE guacamole_connection; --" }, subnetId);
    });

    test("instances and their NICs are in computeresources with the documented shape, not in resources", async () => {
      // Microsoft's own sample query for this table, as published
      const documented = await queryResourceGraph<{ name: string; powerState: string; id: string }>(
        az.factory,
        "ComputeResources | where type =~ 'microsoft.compute/virtualmachinescalesets/virtualmachines' | extend powerState = properties.extended.instanceView.powerState.code | project name, powerState, id",
        { subscriptions: [SUB] },
      );
      const upool = documented.rows.filter((r) => r.id.toLowerCase().startsWith(setId("upool").toLowerCase()));
      assert.deepEqual(
        upool.map((r) => r.id),
        [0, 1, 2].map((i) => `${setId("upool")}/virtualMachines/${i}`),
      );
      assert.ok(upool.every((r) => r.powerState === "PowerState/running"));
      assert.equal(documented.rows.length, 5);
      // the same instance through ARM (Virtual Machine Scale Set VMs - Get): the documented Uniform name
      const vm = await az.factory.compute(SUB).virtualMachineScaleSetVMs.get(RG, "upool", "1");
      assert.deepEqual(
        [vm.name, vm.instanceId, vm.networkProfile?.networkInterfaces?.[0].id],
        ["upool_1", "1", `${setId("upool")}/virtualMachines/1/networkInterfaces/nic`],
      );
      // the inventory's own query: the NICs, under their instance's id, with an address of the subnet
      const rows = (
        await queryResourceGraph<Record<string, unknown>>(az.factory, UNIFORM_INSTANCES_QUERY, {
          subscriptions: [SUB],
        })
      ).rows;
      const nics = rows.filter(
        (r) => r.type === "microsoft.compute/virtualmachinescalesets/virtualmachines/networkinterfaces",
      );
      assert.equal(nics.length, 5);
      const addresses = nics.map((r) => {
        assert.match(String(r.id), /\/virtualMachines\/[0-9]+\/networkInterfaces\/nic$/);
        assert.equal(r.primary, true);
        const ipc = (r.ipConfigurations as { properties: { privateIPAddress: string } }[])[0];
        return ipc.properties.privateIPAddress;
      });
      assert.ok(
        addresses.every((a) => /^10\.70\.1\.[0-9]+$/.test(a)),
        addresses.join(),
      );
      assert.equal(new Set(addresses).size, 5, "each instance has its own address");
      assert.ok(rows.every((r) => r.resourceGroup === RG.toLowerCase() && r.subscriptionId === SUB));
      // the resources table holds the scale sets, not their instances
      const inResources = (
        await queryResourceGraph<{ type: string }>(
          az.factory,
          "resources | where type startswith 'microsoft.compute/virtualmachinescalesets' | project id, type",
          { subscriptions: [SUB] },
        )
      ).rows.map((r) => r.type);
      assert.deepEqual([...new Set(inResources)], ["microsoft.compute/virtualmachinescalesets"]);
    });

    test("a tagged Uniform scale set's instances become connections; untagged and look-alike ones none; scale-in removes one", async () => {
      const first = await connections();
      // targets, VM NICs, Uniform instances and their NICs, the stack's VNet: one page each
      assert.equal(first.inventory.requests, 4);
      const byName = new Map(first.desired.connections.map((c) => [c.name, c]));
      assert.deepEqual([...byName.keys()].sort(), ["upool_0", "upool_1", "upool_2"]);
      const nicRows = (
        await queryResourceGraph<Record<string, unknown>>(az.factory, UNIFORM_INSTANCES_QUERY, {
          subscriptions: [SUB],
        })
      ).rows;
      for (const [i, name] of ["upool_0", "upool_1", "upool_2"].entries()) {
        const c = byName.get(name)!;
        assert.equal(c.key, `${setId("upool")}/virtualMachines/${i}`.toLowerCase());
        assert.equal(c.protocol, "ssh");
        assert.equal(c.parameters.port, "22");
        const nic = nicRows.find((r) => String(r.id).toLowerCase() === `${c.key}/networkinterfaces/nic`)!;
        const ip = (nic.ipConfigurations as { properties: { privateIPAddress: string } }[])[0].properties
          .privateIPAddress;
        assert.equal(c.parameters.hostname, ip);
        assert.equal(c.vm.powerState, "running");
      }
      const lookalike = first.desired.skipped.filter((s) =>
        s.vm.toLowerCase().startsWith(setId("lookalike").toLowerCase()),
      );
      assert.equal(lookalike.length, 1);
      assert.match(lookalike[0].reason, /is not ssh, rdp or vnc/);
      assert.ok(
        !first.desired.skipped.some((s) => s.vm.toLowerCase().includes("/quiet/")),
        "an untagged scale set is no target",
      );

      // deleteInstances on instance 1, then a scale-in by capacity (the highest instance id goes)
      const compute = az.factory.compute(SUB);
      await compute.virtualMachineScaleSets.beginDeleteInstancesAndWait(
        RG,
        "upool",
        { instanceIds: ["1"] },
        az.factory.lro(),
      );
      assert.deepEqual((await connections()).desired.connections.map((c) => c.name).sort(), ["upool_0", "upool_2"]);
      const set = await compute.virtualMachineScaleSets.get(RG, "upool");
      assert.equal(set.sku?.capacity, 2);
      await compute.virtualMachineScaleSets.beginUpdateAndWait(
        RG,
        "upool",
        { sku: { ...set.sku, capacity: 1 } },
        az.factory.lro(),
      );
      const last = await connections();
      assert.deepEqual(
        last.desired.connections.map((c) => c.name),
        ["upool_0"],
      );
      // untagging the scale set takes its instances away
      await compute.virtualMachineScaleSets.beginUpdateAndWait(RG, "upool", { tags: {} }, az.factory.lro());
      assert.deepEqual((await connections()).desired.connections, []);
    });
  });

  test("a query outside the subset is a 400 InvalidQuery, as the service answers", async () => {
    await assert.rejects(
      queryResourceGraph(az.factory, "resources | summarize count() by type", { subscriptions: [SUB] }),
      (e: { statusCode?: number; code?: string }) => e.statusCode === 400 && e.code === "BadRequest",
    );
    const reply = await fetchRaw(az, { query: "resources | where" });
    assert.equal(reply.status, 400);
    const details = (reply.body.error as { details: { code: string }[] }).details;
    assert.equal(details[0].code, "InvalidQuery");
  });
});

async function listResources(az: AzureFixture, filter: string) {
  const listed = [];
  for await (const r of az.factory.resources(SUB).resources.list({
    filter,
    expand: "changedTime,createdTime",
    ...az.factory.call(),
  }))
    listed.push(r);
  return listed;
}

async function fetchRaw(
  az: AzureFixture,
  body: unknown,
  apiVersion = "2024-04-01",
): Promise<{ status: number; body: Record<string, unknown> }> {
  const https = await import("node:https");
  const url = new URL(`${az.emulator.url}/providers/Microsoft.ResourceGraph/resources?api-version=${apiVersion}`);
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: "POST",
        ca: az.emulator.caPem,
        headers: {
          authorization: "Bearer t",
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}
