// Storage for tests: the pinned @azure/arm-storage client pointed at the emulator (the app's client
// factory has no storage client yet, so it is built here with the factory's endpoint, trust store
// and retry settings), and Azurite wired in as the blob data plane behind every emulated storage
// account: ARM asks it which blobs a container holds before deleting the container or its account,
// and accounts announce its blob endpoint.
import { StorageManagementClient } from "@azure/arm-storage";
import type { TokenCredential } from "@azure/core-auth";
import { BlobServiceClient } from "@azure/storage-blob";
import type { Emulator } from "../../emulator/arm/emulator";
import type { BlobInventoryEntry } from "../../emulator/arm/providers/storage";
import type { AzureFixture } from "../../dev/azure";
import type { AzuriteServer } from "../../dev/servers/azurite";

export function storageClient(
  az: AzureFixture,
  subscriptionId: string,
  credential: TokenCredential = az.factory.credential,
): StorageManagementClient {
  const s = az.settings;
  return new StorageManagementClient(credential, subscriptionId, {
    endpoint: s.armEndpoint,
    retryOptions: { ...s.retry },
    ...(s.caPem ? { tlsOptions: { ca: s.caPem } } : {}),
  });
}

/**
 * A token whose claims name a person (`oid`, `upn`, `tid`), unsigned: the emulator's ARM accepts any
 * bearer token and records who it claims to be where Azure does (an immutability policy's history).
 */
export function personCredential(person: { objectId: string; upn: string; tenantId: string }): TokenCredential {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const token = `${part({ alg: "none", typ: "JWT" })}.${part({ oid: person.objectId, upn: person.upn, tid: person.tenantId })}.`;
  return { getToken: () => Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

/**
 * Every emulated storage account's blobs live in Azurite's one account (container names must then be
 * unique across the accounts a test makes).
 */
export function wireAzuriteBlobs(emulator: Emulator, azurite: AzuriteServer): BlobServiceClient {
  const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  emulator.storageDataPlane = {
    ...emulator.storageDataPlane,
    blobEndpoint: () => `${azurite.blobEndpoint}/`,
    async listBlobs(_account, container): Promise<BlobInventoryEntry[]> {
      const client = service.getContainerClient(container);
      if (!(await client.exists())) return [];
      const out: BlobInventoryEntry[] = [];
      for await (const blob of client.listBlobsFlat()) {
        out.push({ name: blob.name, createdOn: blob.properties.createdOn ?? blob.properties.lastModified });
      }
      return out;
    },
  };
  return service;
}
