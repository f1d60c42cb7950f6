// Microsoft.Storage through the real pinned client (@azure/arm-storage 19.1.0) against the emulator,
// in `instant` and `async` LRO mode, with Azurite as the blob data plane: the storage account a
// recordings feature needs (no shared keys, TLS 1.2, no public access, a service-endpoint network
// rule), the blob service's versioning and soft delete, a version-level immutable container with a
// time-based retention policy (lock and extend under If-Match, its history naming who locked it), a
// lifecycle rule, and ARM refusing to delete what holds blobs under retention.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { StorageManagementClient } from "@azure/arm-storage";
import type { BlobServiceClient } from "@azure/storage-blob";
import { containerImmutability } from "../../emulator/arm/providers/storage";
import { LOCATION, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";
import { personCredential, storageClient, wireAzuriteBlobs } from "../support/storage";

type RestError = { statusCode?: number; code?: string; message?: string };
const DAY_MS = 86_400_000;
const PERSON = {
  objectId: "6b1a3c1e-7d7e-4c61-9a53-3f1f0d6f1a01",
  upn: "auditor@contoso.example",
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
};

function rejectsWith(status: number, code: string) {
  return (e: RestError) => {
    assert.equal(e.code, code, e.message);
    assert.equal(e.statusCode, status, e.message);
    return true;
  };
}

for (const mode of ["instant", "async"] as const) {
  describe(`Microsoft.Storage conformance (${mode} LRO mode)`, () => {
    let az: AzureFixture;
    let azurite: AzuriteServer;
    let blobs: BlobServiceClient;
    let storage: StorageManagementClient;
    let asPerson: StorageManagementClient;
    const account = `jgrec${mode}01`;
    const plain = `jgplain${mode}01`;
    const lro = () => az.factory.lro();
    let subnetWeb = "";
    let subnetBare = "";

    before(async () => {
      az = await startAzure({ lro: { mode, pollsBeforeDone: 2 } });
      azurite = await startAzurite();
      blobs = wireAzuriteBlobs(az.emulator, azurite);
      storage = storageClient(az, SUB);
      asPerson = storageClient(az, SUB, personCredential(PERSON));
      await az.factory.resources(SUB).resourceGroups.createOrUpdate(RG, { location: LOCATION }, az.factory.call());
      const vnet = await az.factory.network(SUB).virtualNetworks.beginCreateOrUpdateAndWait(
        RG,
        "vnet",
        {
          location: LOCATION,
          addressSpace: { addressPrefixes: ["10.30.0.0/16"] },
          subnets: [
            { name: "web", addressPrefix: "10.30.1.0/24", serviceEndpoints: [{ service: "Microsoft.Storage" }] },
            { name: "bare", addressPrefix: "10.30.2.0/24" },
          ],
        },
        lro(),
      );
      subnetWeb = vnet.subnets!.find((s) => s.name === "web")!.id!;
      subnetBare = vnet.subnets!.find((s) => s.name === "bare")!.id!;
      assert.deepEqual(
        vnet.subnets!.find((s) => s.name === "web")!.serviceEndpoints?.map((e) => [e.service, e.provisioningState]),
        [["Microsoft.Storage", "Succeeded"]],
      );
    });
    after(async () => {
      await azurite?.stop();
      await az?.stop();
    });

    test("a hardened storage account: created through a 202 and its Location, every setting read back", async () => {
      az.emulator.journal.clear();
      const created = await storage.storageAccounts.beginCreateAndWait(
        RG,
        account,
        {
          location: LOCATION,
          kind: "StorageV2",
          sku: { name: "Standard_LRS" },
          allowSharedKeyAccess: false,
          minimumTlsVersion: "TLS1_2",
          allowBlobPublicAccess: false,
          enableHttpsTrafficOnly: true,
          publicNetworkAccess: "Enabled",
          networkRuleSet: {
            defaultAction: "Deny",
            bypass: "AzureServices",
            virtualNetworkRules: [{ virtualNetworkResourceId: subnetWeb, action: "Allow" }],
          },
          tags: { "jumpgate-stack": "t1" },
        },
        lro(),
      );
      assert.equal(created.provisioningState, "Succeeded");
      assert.equal(created.allowSharedKeyAccess, false);
      assert.equal(created.minimumTlsVersion, "TLS1_2");
      assert.equal(created.allowBlobPublicAccess, false);
      assert.equal(created.enableHttpsTrafficOnly, true);
      assert.equal(created.sku?.tier, "Standard");
      assert.equal(created.networkRuleSet?.defaultAction, "Deny");
      assert.deepEqual(
        created.networkRuleSet?.virtualNetworkRules?.map((r) => [r.virtualNetworkResourceId, r.state]),
        [[subnetWeb, "Succeeded"]],
      );
      // the blob endpoint is the data plane's (Azurite here), as a vault's URI is its listener
      assert.equal(created.primaryEndpoints?.blob, `${azurite.blobEndpoint}/`);
      const put = az.emulator.journal.list({ method: "PUT", type: "Microsoft.Storage/storageAccounts" });
      assert.equal(put.at(-1)?.status, mode === "async" ? 202 : 200);
    });

    test("account names are global and checked; a network rule needs the subnet's Microsoft.Storage endpoint", async () => {
      const names = storage.storageAccounts;
      assert.deepEqual(
        await names.checkNameAvailability({ name: account, type: "Microsoft.Storage/storageAccounts" }),
        {
          nameAvailable: false,
          reason: "AlreadyExists",
          message: `The storage account named ${account} is already taken.`,
        },
      );
      assert.equal(
        (await names.checkNameAvailability({ name: "jgfree01", type: "Microsoft.Storage/storageAccounts" }))
          .nameAvailable,
        true,
      );
      assert.equal(
        (await names.checkNameAvailability({ name: "recordings", type: "Microsoft.Storage/storageAccounts" })).reason,
        "AlreadyExists",
      );
      assert.equal(
        (await names.checkNameAvailability({ name: "Bad_Name", type: "Microsoft.Storage/storageAccounts" })).reason,
        "AccountNameInvalid",
      );

      await az.factory
        .resources(SUB)
        .resourceGroups.createOrUpdate("rg-other", { location: LOCATION }, az.factory.call());
      const body = { location: LOCATION, kind: "StorageV2", sku: { name: "Standard_LRS" } } as const;
      await assert.rejects(
        names.beginCreateAndWait("rg-other", account, body, lro()),
        rejectsWith(409, "StorageAccountAlreadyTaken"),
      );
      await assert.rejects(
        names.beginCreateAndWait(RG, "recordings", body, lro()),
        rejectsWith(409, "StorageAccountAlreadyTaken"),
      );
      await assert.rejects(names.beginCreateAndWait(RG, "UPPER", body, lro()), rejectsWith(400, "AccountNameInvalid"));
      await assert.rejects(
        names.beginCreateAndWait(
          RG,
          `jgbare${mode}`,
          {
            ...body,
            networkRuleSet: { defaultAction: "Deny", virtualNetworkRules: [{ virtualNetworkResourceId: subnetBare }] },
          },
          lro(),
        ),
        (e: RestError) =>
          e.code === "NetworkAclsValidationFailure" && /SubnetsHaveNoServiceEndpointsConfigured/.test(e.message ?? ""),
      );
    });

    test("blob service: versioning and soft delete on, validated, and read back with the account's sku", async () => {
      const set = await storage.blobServices.setServiceProperties(RG, account, {
        isVersioningEnabled: true,
        deleteRetentionPolicy: { enabled: true, days: 7 },
        containerDeleteRetentionPolicy: { enabled: true, days: 7 },
      });
      assert.equal(set.isVersioningEnabled, true);
      const read = await storage.blobServices.getServiceProperties(RG, account);
      assert.equal(read.deleteRetentionPolicy?.days, 7);
      assert.equal(read.containerDeleteRetentionPolicy?.enabled, true);
      assert.equal(read.sku?.name, "Standard_LRS");
      await assert.rejects(
        storage.blobServices.setServiceProperties(RG, account, { deleteRetentionPolicy: { enabled: true, days: 0 } }),
        rejectsWith(400, "InvalidRequestPropertyValue"),
      );
      // what was not sent stays
      assert.equal((await storage.blobServices.getServiceProperties(RG, account)).isVersioningEnabled, true);
    });

    test("a version-level immutable container with a retention policy; the app reads it back through ARM", async () => {
      const c = storage.blobContainers;
      await assert.rejects(
        c.create(RG, account, `public-${mode}`, { publicAccess: "Blob" }),
        rejectsWith(409, "PublicAccessNotPermitted"),
      );
      const created = await c.create(RG, account, `recordings-${mode}`, {
        immutableStorageWithVersioning: { enabled: true },
      });
      assert.equal(created.immutableStorageWithVersioning?.enabled, true);
      // versioning off: no version-level immutability
      await storage.storageAccounts.beginCreateAndWait(
        RG,
        plain,
        { location: LOCATION, kind: "StorageV2", sku: { name: "Standard_LRS" } },
        lro(),
      );
      await assert.rejects(
        c.create(RG, plain, `vlw-${mode}`, { immutableStorageWithVersioning: { enabled: true } }),
        rejectsWith(400, "InvalidRequestPropertyValue"),
      );
      await assert.rejects(
        storage.blobServices.setServiceProperties(RG, account, { isVersioningEnabled: false }),
        rejectsWith(400, "InvalidRequestPropertyValue"),
      );

      // no policy yet: ARM reads 0 days, Unlocked
      const none = await c.getImmutabilityPolicy(RG, account, `recordings-${mode}`);
      assert.equal(none.immutabilityPeriodSinceCreationInDays, 0);
      assert.equal(none.state, "Unlocked");
      assert.equal((await c.get(RG, account, `recordings-${mode}`)).hasImmutabilityPolicy, false);

      const policy = await asPerson.blobContainers.createOrUpdateImmutabilityPolicy(RG, account, `recordings-${mode}`, {
        parameters: { immutabilityPeriodSinceCreationInDays: 90, allowProtectedAppendWrites: false },
      });
      assert.equal(policy.state, "Unlocked");
      assert.match(policy.etag ?? "", /^"8d[0-9a-f]+"$/);
      for (const days of [0, 146_001]) {
        await assert.rejects(
          c.createOrUpdateImmutabilityPolicy(RG, account, `recordings-${mode}`, {
            parameters: { immutabilityPeriodSinceCreationInDays: days },
          }),
          rejectsWith(400, "InvalidRequestPropertyValue"),
        );
      }
      const read = await c.get(RG, account, `recordings-${mode}`);
      assert.equal(read.hasImmutabilityPolicy, true);
      assert.equal(read.immutabilityPolicy?.immutabilityPeriodSinceCreationInDays, 90);
      assert.equal(read.immutabilityPolicy?.state, "Unlocked");
      assert.deepEqual(
        read.immutabilityPolicy?.updateHistory?.map((h) => [h.update, h.objectIdentifier, h.upn]),
        [["put", PERSON.objectId, PERSON.upn]],
      );
      assert.deepEqual(containerImmutability(az.emulator, read.id!), {
        versionLevel: true,
        retentionDays: 90,
        state: "Unlocked",
        legalHold: [],
      });
    });

    test("lock and extend need the policy's current ETag; a locked policy can only grow", async () => {
      const c = storage.blobContainers;
      const name = `recordings-${mode}`;
      const unlocked = await c.getImmutabilityPolicy(RG, account, name);
      await assert.rejects(
        c.lockImmutabilityPolicy(RG, account, name, '"8d0000000000000"'),
        rejectsWith(412, "ConditionNotMet"),
      );
      const locked = await asPerson.blobContainers.lockImmutabilityPolicy(RG, account, name, unlocked.etag!);
      assert.equal(locked.state, "Locked");
      assert.notEqual(locked.etag, unlocked.etag);
      // a locked policy can be neither shortened, replaced nor deleted
      await assert.rejects(
        c.createOrUpdateImmutabilityPolicy(RG, account, name, {
          ifMatch: locked.etag,
          parameters: { immutabilityPeriodSinceCreationInDays: 30 },
        }),
        rejectsWith(409, "ContainerImmutabilityPolicyLocked"),
      );
      await assert.rejects(
        c.deleteImmutabilityPolicy(RG, account, name, locked.etag!),
        rejectsWith(409, "ContainerImmutabilityPolicyLocked"),
      );
      await assert.rejects(
        c.extendImmutabilityPolicy(RG, account, name, locked.etag!, {
          parameters: { immutabilityPeriodSinceCreationInDays: 60 },
        }),
        rejectsWith(400, "InvalidRequestPropertyValue"),
      );
      const extended = await asPerson.blobContainers.extendImmutabilityPolicy(RG, account, name, locked.etag!, {
        parameters: { immutabilityPeriodSinceCreationInDays: 120 },
      });
      assert.equal(extended.immutabilityPeriodSinceCreationInDays, 120);
      const history = (await c.get(RG, account, name)).immutabilityPolicy?.updateHistory ?? [];
      assert.deepEqual(
        history.map((h) => [h.update, h.immutabilityPeriodSinceCreationInDays, h.upn]),
        [
          ["put", 90, PERSON.upn],
          ["lock", 90, PERSON.upn],
          ["extend", 120, PERSON.upn],
        ],
      );
    });

    test("an unlocked policy is deleted under If-Match and answers with itself", async () => {
      const c = storage.blobContainers;
      const name = `scratch-${mode}`;
      await c.create(RG, plain, name, {});
      const p = await c.createOrUpdateImmutabilityPolicy(RG, plain, name, {
        parameters: { immutabilityPeriodSinceCreationInDays: 1 },
      });
      await assert.rejects(
        c.deleteImmutabilityPolicy(RG, plain, name, '"8dffffffffffff0"'),
        rejectsWith(412, "ConditionNotMet"),
      );
      const deleted = await c.deleteImmutabilityPolicy(RG, plain, name, p.etag!);
      assert.equal(deleted.immutabilityPeriodSinceCreationInDays, 1);
      assert.equal((await c.getImmutabilityPolicy(RG, plain, name)).immutabilityPeriodSinceCreationInDays, 0);
      assert.equal((await c.get(RG, plain, name)).hasImmutabilityPolicy, false);
    });

    test("a lifecycle rule moves old recordings to the cool tier", async () => {
      const rules = [
        {
          name: "cool-after-30-days",
          enabled: true,
          type: "Lifecycle" as const,
          definition: {
            filters: { blobTypes: ["blockBlob"], prefixMatch: [`recordings-${mode}/`] },
            actions: { baseBlob: { tierToCool: { daysAfterModificationGreaterThan: 30 } } },
          },
        },
      ];
      const set = await storage.managementPolicies.createOrUpdate(RG, account, "default", { policy: { rules } });
      assert.equal(set.policy?.rules[0].definition.actions.baseBlob?.tierToCool?.daysAfterModificationGreaterThan, 30);
      assert.ok(set.lastModifiedTime instanceof Date);
      await assert.rejects(
        storage.managementPolicies.createOrUpdate(RG, account, "default", {
          policy: { rules: [{ ...rules[0], definition: { actions: rules[0].definition.actions } }] },
        }),
        rejectsWith(400, "InvalidRequestPropertyValue"),
      );
      assert.equal((await storage.managementPolicies.get(RG, account, "default")).policy?.rules.length, 1);
    });

    test("a legal hold keeps a container with blobs until it is cleared", async () => {
      const c = storage.blobContainers;
      const name = `legal-${mode}`;
      await c.create(RG, account, name, {});
      const hold = await c.setLegalHold(RG, account, name, { tags: ["case42"] });
      assert.deepEqual([hold.hasLegalHold, hold.tags], [true, ["case42"]]);
      await assert.rejects(
        c.setLegalHold(RG, account, name, { tags: ["no spaces"] }),
        rejectsWith(400, "InvalidRequestPropertyValue"),
      );
      const read = await c.get(RG, account, name);
      assert.deepEqual([read.hasLegalHold, read.legalHold?.tags?.map((t) => t.tag)], [true, ["case42"]]);
      await blobs.getContainerClient(name).createIfNotExists();
      await blobs.getContainerClient(name).getBlockBlobClient("evidence.guac").upload("x", 1);
      await assert.rejects(c.delete(RG, account, name), rejectsWith(409, "ContainerProtectedFromDeletion"));
      assert.equal((await c.clearLegalHold(RG, account, name, { tags: ["case42"] })).hasLegalHold, false);
      await c.delete(RG, account, name);
    });

    test("ARM refuses to delete what holds blobs under retention, and deletes what is empty or expired", async () => {
      const c = storage.blobContainers;
      const held = `recordings-${mode}`;
      await blobs.getContainerClient(held).createIfNotExists();
      await blobs.getContainerClient(held).getBlockBlobClient("session-1.guac").upload("recorded", 8);
      await assert.rejects(c.delete(RG, account, held), rejectsWith(409, "ContainerProtectedFromDeletion"));
      await assert.rejects(
        storage.storageAccounts.delete(RG, account),
        (e: RestError) => e.code === "AccountProtectedFromDeletion" && e.message!.includes(held),
      );
      await assert.rejects(
        az.factory.resources(SUB).resourceGroups.beginDeleteAndWait(RG, lro()),
        (e: RestError) => e.code === "AccountProtectedFromDeletion",
      );
      assert.ok(await storage.storageAccounts.getProperties(RG, account), "the group's delete deleted nothing");

      // an unlocked retention policy protects the container's blobs until it runs out, not the account
      const unlocked = `unlocked-${mode}`;
      await c.create(RG, plain, unlocked, {});
      await c.createOrUpdateImmutabilityPolicy(RG, plain, unlocked, {
        parameters: { immutabilityPeriodSinceCreationInDays: 1 },
      });
      await blobs.getContainerClient(unlocked).createIfNotExists();
      await blobs.getContainerClient(unlocked).getBlockBlobClient("old.guac").upload("x", 1);
      await assert.rejects(c.delete(RG, plain, unlocked), rejectsWith(409, "ContainerProtectedFromDeletion"));
      const realNow = Date.now;
      az.emulator.storageDataPlane.now = () => realNow() + 2 * DAY_MS;
      try {
        await c.delete(RG, plain, unlocked);
      } finally {
        delete az.emulator.storageDataPlane.now;
      }
      // an empty container goes whatever its policy (the recorded lock test deletes its locked one)
      await c.create(RG, plain, `empty-${mode}`, {});
      const p = await c.createOrUpdateImmutabilityPolicy(RG, plain, `empty-${mode}`, {
        parameters: { immutabilityPeriodSinceCreationInDays: 5 },
      });
      await c.lockImmutabilityPolicy(RG, plain, `empty-${mode}`, p.etag!);
      await c.delete(RG, plain, `empty-${mode}`);
      await storage.storageAccounts.delete(RG, plain);
      await assert.rejects(storage.storageAccounts.getProperties(RG, plain), rejectsWith(404, "ResourceNotFound"));
    });

    test("an api-version the storage provider does not have is refused", async () => {
      const old = new StorageManagementClient(az.factory.credential, SUB, {
        endpoint: az.settings.armEndpoint,
        tlsOptions: { ca: az.settings.caPem },
        apiVersion: "2019-06-01",
      });
      await assert.rejects(
        old.storageAccounts.beginCreateAndWait(
          RG,
          `jgold${mode}`,
          { location: LOCATION, kind: "StorageV2", sku: { name: "Standard_LRS" } },
          lro(),
        ),
        rejectsWith(400, "NoRegisteredProviderFound"),
      );
    });
  });
}
