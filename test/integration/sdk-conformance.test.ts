// Every Azure operation the project uses, through the app's own client factory and the real pinned
// SDK clients, against the emulator in `instant` and in `async` LRO mode (real polling shapes).
// Each step asserts what Azure would answer, so a status code or LRO shape the SDK does not accept
// fails here first.
import assert from "node:assert/strict";
import { describe, test, before, after } from "node:test";
import { randomUUID } from "node:crypto";
import { actionCount, powerStateOf } from "../../emulator/arm/providers/compute";
import { LOCATION, RG, rgId, startAzure, SUB, type AzureFixture } from "../../dev/azure";

const KV_SECRETS_USER = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6`;
const IMAGE = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" };

for (const mode of ["instant", "async"] as const) {
  describe(`SDK conformance (${mode} LRO mode)`, () => {
    let az: AzureFixture;
    const net = () => az.factory.network(SUB);
    const compute = () => az.factory.compute(SUB);
    const lro = () => az.factory.lro();
    const call = () => az.factory.call();
    let subnetWeb = "";
    let subnetDb = "";
    let poolId = "";

    before(async () => {
      az = await startAzure({ lro: { mode, pollsBeforeDone: 2 } });
      await az.factory
        .resources(SUB)
        .resourceGroups.createOrUpdate(RG, { location: LOCATION, tags: { "jumpgate-stack": "t1" } }, call());
    });
    after(() => az.stop());

    test("resource groups: create, exists, missing, list by tag", async () => {
      const rg = az.factory.resources(SUB).resourceGroups;
      assert.equal((await rg.get(RG, call())).properties?.provisioningState, "Succeeded");
      assert.equal((await rg.checkExistence(RG, call())).body, true);
      assert.equal((await rg.checkExistence("rg-missing", call())).body, false);
      await assert.rejects(
        rg.get("rg-missing", call()),
        (e: { statusCode?: number; code?: string }) => e.statusCode === 404 && e.code === "ResourceGroupNotFound",
      );
    });

    test("network: vnet with delegated subnet, NSG, public IP with DNS label, load balancer, NIC in the pool", async () => {
      const vnet = await net().virtualNetworks.beginCreateOrUpdateAndWait(
        RG,
        "vnet",
        {
          location: LOCATION,
          addressSpace: { addressPrefixes: ["10.20.0.0/16"] },
          subnets: [
            { name: "web", addressPrefix: "10.20.1.0/24" },
            {
              name: "db",
              addressPrefix: "10.20.2.0/24",
              delegations: [{ name: "mysql", serviceName: "Microsoft.DBforMySQL/flexibleServers" }],
            },
          ],
        },
        lro(),
      );
      assert.equal(vnet.provisioningState, "Succeeded");
      subnetWeb = vnet.subnets!.find((s) => s.name === "web")!.id!;
      subnetDb = vnet.subnets!.find((s) => s.name === "db")!.id!;
      const db = await net().subnets.get(RG, "vnet", "db", call());
      assert.equal(db.delegations?.[0].serviceName, "Microsoft.DBforMySQL/flexibleServers");

      const nsg = await net().networkSecurityGroups.beginCreateOrUpdateAndWait(
        RG,
        "nsg",
        {
          location: LOCATION,
          securityRules: [
            {
              name: "https",
              protocol: "Tcp",
              access: "Allow",
              direction: "Inbound",
              priority: 100,
              sourceAddressPrefix: "Internet",
              sourcePortRange: "*",
              destinationAddressPrefix: "*",
              destinationPortRange: "443",
            },
          ],
        },
        lro(),
      );
      assert.equal(nsg.securityRules?.[0].provisioningState, "Succeeded");
      assert.ok(nsg.defaultSecurityRules?.some((r) => r.name === "DenyAllInBound"));
      const rule = await net().securityRules.beginCreateOrUpdateAndWait(
        RG,
        "nsg",
        "http",
        {
          protocol: "Tcp",
          access: "Allow",
          direction: "Inbound",
          priority: 110,
          sourceAddressPrefix: "Internet",
          sourcePortRange: "*",
          destinationAddressPrefix: "*",
          destinationPortRange: "80",
        },
        lro(),
      );
      assert.equal(rule.priority, 110);
      assert.equal((await net().networkSecurityGroups.get(RG, "nsg", call())).securityRules?.length, 2);

      const pip = await net().publicIPAddresses.beginCreateOrUpdateAndWait(
        RG,
        "pip",
        {
          location: LOCATION,
          sku: { name: "Standard" },
          publicIPAllocationMethod: "Static",
          dnsSettings: { domainNameLabel: "jg-test" },
        },
        lro(),
      );
      assert.equal(pip.dnsSettings?.fqdn, `jg-test.${LOCATION}.cloudapp.azure.com`);
      assert.match(pip.ipAddress ?? "", /^203\.0\.113\.\d+$/);

      const lbId = `${rgId()}/providers/Microsoft.Network/loadBalancers/lb`;
      const lb = await net().loadBalancers.beginCreateOrUpdateAndWait(
        RG,
        "lb",
        {
          location: LOCATION,
          sku: { name: "Standard" },
          frontendIPConfigurations: [{ name: "fe", publicIPAddress: { id: pip.id } }],
          backendAddressPools: [{ name: "web" }],
          probes: [
            {
              name: "health",
              protocol: "Http",
              port: 80,
              requestPath: "/healthz",
              intervalInSeconds: 5,
              numberOfProbes: 2,
            },
          ],
          loadBalancingRules: [
            {
              name: "https",
              protocol: "Tcp",
              frontendPort: 443,
              backendPort: 443,
              loadDistribution: "SourceIP",
              frontendIPConfiguration: { id: `${lbId}/frontendIPConfigurations/fe` },
              backendAddressPool: { id: `${lbId}/backendAddressPools/web` },
              probe: { id: `${lbId}/probes/health` },
            },
          ],
        },
        lro(),
      );
      poolId = lb.backendAddressPools![0].id!;
      assert.equal(lb.loadBalancingRules?.[0].loadDistribution, "SourceIP");
      assert.equal(
        (await net().publicIPAddresses.get(RG, "pip", call())).ipConfiguration?.id,
        lb.frontendIPConfigurations![0].id,
      );

      const nic = await net().networkInterfaces.beginCreateOrUpdateAndWait(
        RG,
        "nic-1",
        {
          location: LOCATION,
          ipConfigurations: [
            { name: "ipc", subnet: { id: subnetWeb }, loadBalancerBackendAddressPools: [{ id: poolId }] },
          ],
        },
        lro(),
      );
      assert.equal(nic.ipConfigurations?.[0].privateIPAddress, "10.20.1.4");
      const pool = await net().loadBalancerBackendAddressPools.get(RG, "lb", "web", call());
      assert.deepEqual(
        pool.backendIPConfigurations?.map((c) => c.id),
        [nic.ipConfigurations[0].id],
      );
      const web = await net().subnets.get(RG, "vnet", "web", call());
      assert.equal(web.ipConfigurations?.length, 1);
    });

    test("network: in-use and missing references are refused like ARM does", async () => {
      await assert.rejects(
        net().subnets.beginDeleteAndWait(RG, "vnet", "web", lro()),
        (e: { code?: string }) => e.code === "InUseSubnetCannotBeDeleted",
      );
      await assert.rejects(
        net().publicIPAddresses.beginDeleteAndWait(RG, "pip", lro()),
        (e: { code?: string }) => e.code === "PublicIPAddressInUse",
      );
      await assert.rejects(
        net().networkInterfaces.beginCreateOrUpdateAndWait(
          RG,
          "nic-bad",
          { location: LOCATION, ipConfigurations: [{ name: "ipc", subnet: { id: `${subnetWeb}-missing` } }] },
          lro(),
        ),
        (e: { statusCode?: number; code?: string }) => e.statusCode === 400 && e.code === "InvalidResourceReference",
      );
      await assert.rejects(
        net().virtualNetworks.beginCreateOrUpdateAndWait(
          RG,
          "vnet-bad",
          {
            location: LOCATION,
            addressSpace: { addressPrefixes: ["10.30.0.0/16"] },
            subnets: [
              { name: "a", addressPrefix: "10.30.0.0/24" },
              { name: "b", addressPrefix: "10.30.0.128/25" },
            ],
          },
          lro(),
        ),
        (e: { code?: string }) => e.code === "NetcfgSubnetRangesOverlap",
      );
    });

    test("private DNS zone, VNet link and record set; public DNS zone and TXT record", async () => {
      const zone = await az.factory
        .privateDns(SUB)
        .privateZones.beginCreateOrUpdateAndWait(RG, "t1.mysql.database.azure.com", { location: "global" }, lro());
      assert.equal(zone.provisioningState, "Succeeded");
      const link = await az.factory.privateDns(SUB).virtualNetworkLinks.beginCreateOrUpdateAndWait(
        RG,
        "t1.mysql.database.azure.com",
        "vnet",
        {
          location: "global",
          virtualNetwork: { id: `${rgId()}/providers/Microsoft.Network/virtualNetworks/vnet` },
          registrationEnabled: false,
        },
        lro(),
      );
      assert.equal(link.virtualNetworkLinkState, "Completed");
      const a = await az.factory
        .privateDns(SUB)
        .recordSets.createOrUpdate(
          RG,
          "t1.mysql.database.azure.com",
          "A",
          "db",
          { ttl: 30, aRecords: [{ ipv4Address: "10.20.2.4" }] },
          call(),
        );
      assert.equal(a.fqdn, "db.t1.mysql.database.azure.com.");

      const dns = az.factory.dns(SUB);
      await dns.zones.createOrUpdate(RG, "jump.example.org", { location: "global" }, call());
      const txt = await dns.recordSets.createOrUpdate(
        RG,
        "jump.example.org",
        "_acme-challenge",
        "TXT",
        { ttl: 60, txtRecords: [{ value: ["token"] }] },
        call(),
      );
      assert.equal(txt.fqdn, "_acme-challenge.jump.example.org.");
      assert.deepEqual(
        (await dns.recordSets.get(RG, "jump.example.org", "_acme-challenge", "TXT", call())).txtRecords?.[0].value,
        ["token"],
      );
      await dns.recordSets.delete(RG, "jump.example.org", "_acme-challenge", "TXT", call());
      await assert.rejects(
        dns.recordSets.get(RG, "jump.example.org", "_acme-challenge", "TXT", call()),
        (e: { statusCode?: number }) => e.statusCode === 404,
      );
    });

    test("availability set and VM: identity, no secret echoed, instance view, power actions, run command", async () => {
      const avset = await compute().availabilitySets.createOrUpdate(
        RG,
        "avset",
        { location: LOCATION, platformFaultDomainCount: 2, platformUpdateDomainCount: 5, sku: { name: "Aligned" } },
        call(),
      );
      assert.equal(avset.platformFaultDomainCount, 2);
      const nicId = `${rgId()}/providers/Microsoft.Network/networkInterfaces/nic-1`;
      const vm = await compute().virtualMachines.createOrUpdate(
        RG,
        "web-1",
        {
          location: LOCATION,
          identity: { type: "SystemAssigned" },
          hardwareProfile: { vmSize: "Standard_B2s" },
          availabilitySet: { id: avset.id },
          storageProfile: { imageReference: IMAGE, osDisk: { createOption: "FromImage", deleteOption: "Delete" } },
          osProfile: {
            computerName: "web-1",
            adminUsername: "jumpgate",
            adminPassword: "never-echoed-Aa1!",
            customData: Buffer.from("#cloud-config\n").toString("base64"),
          },
          networkProfile: { networkInterfaces: [{ id: nicId, primary: true }] },
        },
        lro(),
      );
      assert.equal(vm.provisioningState, "Succeeded");
      assert.match(vm.identity?.principalId ?? "", /^[0-9a-f-]{36}$/);
      assert.equal(vm.osProfile?.adminPassword, undefined);
      assert.equal(vm.osProfile?.customData, undefined);
      assert.equal(
        (await net().networkInterfaces.get(RG, "nic-1", call())).virtualMachine?.id?.toLowerCase(),
        vm.id!.toLowerCase(),
      );
      assert.equal((await compute().availabilitySets.get(RG, "avset", call())).virtualMachines?.length, 1);

      const view = await compute().virtualMachines.instanceView(RG, "web-1", call());
      assert.ok(view.statuses?.some((s) => s.code === "PowerState/running"));
      const expanded = await compute().virtualMachines.get(RG, "web-1", { ...call(), expand: "instanceView" });
      assert.ok(expanded.instanceView?.statuses?.some((s) => s.code === "PowerState/running"));

      await compute().virtualMachines.restart(RG, "web-1", lro());
      await compute().virtualMachines.redeploy(RG, "web-1", lro());
      assert.equal(actionCount(az.emulator, vm.id!, "restart"), 1);
      assert.equal(actionCount(az.emulator, vm.id!, "redeploy"), 1);
      await compute().virtualMachines.deallocate(RG, "web-1", lro());
      assert.equal(powerStateOf(az.emulator, vm.id!), "deallocated");
      await assert.rejects(
        compute().virtualMachines.restart(RG, "web-1", lro()),
        (e: { statusCode?: number }) => e.statusCode === 409,
      );
      await compute().virtualMachines.start(RG, "web-1", lro());
      await compute().virtualMachines.reimage(RG, "web-1", lro());
      assert.equal(powerStateOf(az.emulator, vm.id!), "running");

      const rc = await compute().virtualMachines.runCommand(
        RG,
        "web-1",
        {
          commandId: "RunShellScript",
          script: ['echo "out:$1"', "echo err >&2", 'test -d "$HOME"'],
          parameters: [{ name: "ARG", value: "hello" }],
        },
        lro(),
      );
      assert.equal(rc.value?.[0].code, "ProvisioningState/succeeded");
      assert.match(rc.value?.[0].message ?? "", /\[stdout\]\nout:hello\n[\s\S]*\[stderr\]\nerr/);
      const failed = await compute().virtualMachines.runCommand(
        RG,
        "web-1",
        { commandId: "RunShellScript", script: ["exit 3"] },
        lro(),
      );
      assert.match(failed.value?.[0].message ?? "", /exit status=3/);
      assert.equal(failed.value?.[0].code, "ProvisioningState/failed/1");

      await assert.rejects(
        net().networkInterfaces.beginDeleteAndWait(RG, "nic-1", lro()),
        (e: { code?: string }) => e.code === "NicInUse",
      );
    });

    test("Flexible scale set: user-assigned identity only; capacity creates and removes VMs with NICs in the pool; delete instances; reimage", async () => {
      const vmss = compute().virtualMachineScaleSets;
      const identityId = `${rgId()}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/web-id`;
      const model = (identity: Record<string, unknown>) => ({
        location: LOCATION,
        sku: { name: "Standard_B2s", capacity: 0 },
        identity,
        orchestrationMode: "Flexible" as const,
        platformFaultDomainCount: 1,
      });
      // ARM refuses a system-assigned identity on a Flexible scale set (Azure/bicep-registry-modules#2671)
      for (const type of ["SystemAssigned", "SystemAssigned, UserAssigned"]) {
        await assert.rejects(
          vmss.createOrUpdate(RG, "web", model({ type, userAssignedIdentities: {} }), lro()),
          (e: { code?: string; statusCode?: number; message?: string }) =>
            e.statusCode === 400 &&
            e.code === "InvalidParameter" &&
            e.message ===
              `The value '${type}' of parameter 'identity' is not allowed. Allowed values are: UserAssigned, None.`,
        );
      }
      // a user-assigned identity that does not exist is refused too
      await assert.rejects(
        vmss.createOrUpdate(
          RG,
          "web",
          model({ type: "UserAssigned", userAssignedIdentities: { [identityId]: {} } }),
          lro(),
        ),
        (e: { code?: string; statusCode?: number }) => e.statusCode === 400 && e.code === "FailedIdentityOperation",
      );
      const identity = await az.factory
        .resources(SUB)
        .resources.beginCreateOrUpdateByIdAndWait(identityId, "2023-01-31", { location: LOCATION }, lro());
      const principalId = (identity.properties as { principalId?: string }).principalId;
      assert.match(principalId ?? "", /^[0-9a-f-]{36}$/);
      const set = await vmss.createOrUpdate(
        RG,
        "web",
        {
          location: LOCATION,
          sku: { name: "Standard_B2s", capacity: 2 },
          identity: { type: "UserAssigned", userAssignedIdentities: { [identityId]: {} } },
          orchestrationMode: "Flexible",
          platformFaultDomainCount: 1,
          virtualMachineProfile: {
            storageProfile: { imageReference: IMAGE },
            osProfile: {
              computerNamePrefix: "web",
              adminUsername: "jumpgate",
              customData: Buffer.from("#cloud-config\n").toString("base64"),
            },
            networkProfile: {
              networkApiVersion: "2022-11-01",
              networkInterfaceConfigurations: [
                {
                  name: "nic",
                  primary: true,
                  ipConfigurations: [
                    { name: "ipc", subnet: { id: subnetWeb }, loadBalancerBackendAddressPools: [{ id: poolId }] },
                  ],
                },
              ],
            },
          },
        },
        lro(),
      );
      assert.equal(set.orchestrationMode, "Flexible");
      assert.equal(set.identity?.type, "UserAssigned");
      assert.equal(set.identity?.userAssignedIdentities?.[identityId]?.principalId, principalId);
      const members = async () => {
        const all = [];
        for await (const vm of compute().virtualMachines.list(RG, call()))
          if (vm.virtualMachineScaleSet?.id?.toLowerCase() === set.id!.toLowerCase()) all.push(vm);
        return all;
      };
      assert.equal((await members()).length, 2);
      assert.equal(
        (await net().loadBalancerBackendAddressPools.get(RG, "lb", "web", call())).backendIPConfigurations?.length,
        3,
      );
      await vmss.update(RG, "web", { sku: { name: "Standard_B2s", capacity: 3 } }, lro());
      const three = await members();
      assert.equal(three.length, 3);
      await vmss.reimage(RG, "web", { ...lro(), vmScaleSetReimageInput: { instanceIds: [three[0].name!] } });
      assert.equal(actionCount(az.emulator, three[0].id!, "reimage"), 1);
      await vmss.deleteInstances(RG, "web", { instanceIds: [three[0].name!] }, lro());
      assert.equal((await vmss.get(RG, "web", call())).sku?.capacity, 2);
      assert.equal((await members()).length, 2);
      await vmss.update(RG, "web", { sku: { name: "Standard_B2s", capacity: 0 } }, lro());
      assert.equal((await members()).length, 0);
      assert.equal(
        (await net().loadBalancerBackendAddressPools.get(RG, "lb", "web", call())).backendIPConfigurations?.length,
        1,
      );
    });

    test("MySQL flexible server: private access, database, firewall rule, configuration, admin password never echoed", async () => {
      const mysql = az.factory.mysql(SUB);
      let hooked: string | undefined;
      az.emulator.mysqlAdminPasswordHook = async (_id, login) => {
        hooked = login;
      };
      const server = await mysql.servers.beginCreateAndWait(
        RG,
        "t1-db",
        {
          location: LOCATION,
          sku: { name: "Standard_B1ms", tier: "Burstable" },
          version: "8.0.21",
          administratorLogin: "jgadmin",
          administratorLoginPassword: "first-Password-1",
          storage: { storageSizeGB: 32 },
          network: {
            delegatedSubnetResourceId: subnetDb,
            privateDnsZoneResourceId: `${rgId()}/providers/Microsoft.Network/privateDnsZones/t1.mysql.database.azure.com`,
          },
        },
        lro(),
      );
      assert.equal(server.fullyQualifiedDomainName, "t1-db.mysql.database.azure.com");
      assert.equal(server.network?.publicNetworkAccess, "Disabled");
      assert.equal(server.administratorLoginPassword, undefined);
      assert.equal(hooked, "jgadmin");
      const updated = await mysql.servers.beginUpdateAndWait(
        RG,
        "t1-db",
        { administratorLoginPassword: "second-Password-2" },
        lro(),
      );
      assert.equal(updated.administratorLoginPassword, undefined);
      assert.equal(
        az.emulator.store.getSecret(server.id!, "properties.administratorLoginPassword"),
        "second-Password-2",
      );
      assert.ok(
        !JSON.stringify(az.emulator.journal.list()).includes("second-Password-2"),
        "the journal never holds a password",
      );

      const db = await mysql.databases.beginCreateOrUpdateAndWait(
        RG,
        "t1-db",
        "guacamole",
        { charset: "utf8mb4", collation: "utf8mb4_unicode_ci" },
        lro(),
      );
      assert.equal(db.charset, "utf8mb4");
      const fw = await mysql.firewallRules.beginCreateOrUpdateAndWait(
        RG,
        "t1-db",
        "none",
        { startIpAddress: "0.0.0.0", endIpAddress: "0.0.0.0" },
        lro(),
      );
      assert.equal(fw.endIpAddress, "0.0.0.0");
      assert.equal((await mysql.configurations.get(RG, "t1-db", "require_secure_transport", call())).value, "ON");
      const cfg = await mysql.configurations.beginUpdateAndWait(
        RG,
        "t1-db",
        "max_connections",
        { value: "500", source: "user-override" },
        lro(),
      );
      assert.equal(cfg.value, "500");
      await mysql.configurations.beginBatchUpdateAndWait(
        RG,
        "t1-db",
        { value: [{ name: "time_zone", value: "+00:00", source: "user-override" }] },
        lro(),
      );
      assert.equal((await mysql.configurations.get(RG, "t1-db", "time_zone", call())).value, "+00:00");
      await assert.rejects(
        mysql.servers.beginCreateAndWait(
          RG,
          "t1-bad",
          {
            location: LOCATION,
            sku: { name: "Standard_B1ms", tier: "Burstable" },
            administratorLogin: "a",
            administratorLoginPassword: "b-Password-1",
            network: {
              delegatedSubnetResourceId: subnetWeb,
              privateDnsZoneResourceId: `${rgId()}/providers/Microsoft.Network/privateDnsZones/t1.mysql.database.azure.com`,
            },
          },
          lro(),
        ),
        (e: { code?: string }) => e.code === "SubnetNotDelegated",
      );
    });

    test("Key Vault in RBAC mode with purge protection; scoped role assignment; secrets with versions and tags", async () => {
      const kv = await az.factory.keyVaultManagement(SUB).vaults.createOrUpdate(
        RG,
        "kv-t1",
        {
          location: LOCATION,
          properties: {
            tenantId: az.emulator.tenantId,
            sku: { family: "A", name: "standard" },
            enableRbacAuthorization: true,
            enablePurgeProtection: true,
            enableSoftDelete: true,
          },
        },
        lro(),
      );
      assert.equal(kv.properties.enableRbacAuthorization, true);
      assert.match(kv.properties.vaultUri ?? "", /^https:\/\/127\.0\.0\.1:\d+\/$/);

      const vm = await compute().virtualMachines.get(RG, "web-1", call());
      const auth = az.factory.authorization(SUB).roleAssignments;
      const name = randomUUID();
      const ra = await auth.create(
        kv.id!,
        name,
        {
          roleDefinitionId: KV_SECRETS_USER,
          principalId: vm.identity!.principalId!,
          principalType: "ServicePrincipal",
        },
        call(),
      );
      assert.equal(ra.scope?.toLowerCase(), kv.id!.toLowerCase());
      await assert.rejects(
        auth.create(
          kv.id!,
          randomUUID(),
          { roleDefinitionId: KV_SECRETS_USER, principalId: vm.identity!.principalId! },
          call(),
        ),
        (e: { statusCode?: number; code?: string }) => e.statusCode === 409 && e.code === "RoleAssignmentExists",
      );
      const listed = [];
      for await (const r of auth.listForScope(kv.id!, call())) listed.push(r);
      assert.equal(listed.length, 1);

      const secrets = az.factory.secrets(kv.properties.vaultUri!);
      const v1 = await secrets.setSecret("db-admin", "value-one", {
        contentType: "text/plain",
        tags: { state: "current" },
      });
      const v2 = await secrets.setSecret("db-admin", "value-two", { tags: { state: "pending" } });
      assert.notEqual(v1.properties.version, v2.properties.version);
      assert.equal((await secrets.getSecret("db-admin")).value, "value-two");
      assert.equal((await secrets.getSecret("db-admin", { version: v1.properties.version })).value, "value-one");
      const versions = [];
      for await (const p of secrets.listPropertiesOfSecretVersions("db-admin")) versions.push(p.version);
      assert.equal(versions.length, 2);
      await secrets.updateSecretProperties("db-admin", v2.properties.version!, { tags: { state: "current" } });
      assert.deepEqual((await secrets.getSecret("db-admin")).properties.tags, { state: "current" });
      await assert.rejects(
        secrets.getSecret("missing"),
        (e: { statusCode?: number; code?: string }) => e.statusCode === 404 && e.code === "SecretNotFound",
      );
      const poller = await secrets.beginDeleteSecret("db-admin", { intervalInMs: 5 });
      await poller.pollUntilDone();
      await assert.rejects(
        secrets.purgeDeletedSecret("db-admin"),
        (e: { statusCode?: number }) => e.statusCode === 403,
      );

      await auth.delete(kv.id!, name, call());
      await assert.rejects(auth.get(kv.id!, name, call()), (e: { statusCode?: number }) => e.statusCode === 404);
    });

    test("metrics:getBatch: DipAvailability per backend IP follows VM power state and test overrides", async () => {
      const lbId = `${rgId()}/providers/Microsoft.Network/loadBalancers/lb`;
      const metrics = az.factory.metrics(LOCATION);
      const query = async () => {
        const [r] = await metrics.queryResources([lbId], ["DipAvailability"], "Microsoft.Network/loadBalancers", {
          aggregation: "Average",
          filter: "BackendIPAddress eq '*'",
          ...call(),
        });
        const values: Record<string, number | undefined> = {};
        for (const ts of r.metrics[0].timeseries)
          values[String(ts.metadatavalues?.[0]?.value)] = ts.data?.at(-1)?.average;
        return values;
      };
      assert.deepEqual(await query(), { "10.20.1.4": 100 });
      await compute().virtualMachines.powerOff(RG, "web-1", lro());
      assert.deepEqual(await query(), { "10.20.1.4": 0 });
      await compute().virtualMachines.start(RG, "web-1", lro());
      az.emulator.metrics.set(lbId, "DipAvailability", 0, { BackendIPAddress: "10.20.1.4" });
      assert.deepEqual(await query(), { "10.20.1.4": 0 });
    });

    test("deletes: VM (with its disk), then teardown of the whole resource group", async () => {
      const vmId = `${rgId()}/providers/Microsoft.Compute/virtualMachines/web-1`;
      const diskId = String(
        (az.emulator.get(vmId)!.properties.storageProfile as { osDisk: { managedDisk: { id: string } } }).osDisk
          .managedDisk.id,
      );
      await compute().virtualMachines.delete(RG, "web-1", lro());
      assert.equal(az.emulator.get(vmId), undefined);
      assert.equal(az.emulator.get(diskId), undefined, "deleteOption Delete removes the OS disk");
      await compute().virtualMachines.delete(RG, "web-1", lro()); // absent: 204, still fine
      await az.factory.resources(SUB).resourceGroups.beginDeleteAndWait(RG, lro());
      assert.equal(az.emulator.store.all().length, 0);
    });
  });
}
