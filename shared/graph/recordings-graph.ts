// The session recordings' storage as graph nodes, so plan, drift and teardown cover them like the
// rest of the stack: one storage account per stack (shared keys off, TLS 1.2, no public blob access,
// reachable only from the web subnet through its Microsoft.Storage service endpoint), versioning on
// its blob service, one `recordings` container with version-level immutability and a time-based
// retention policy of the spec's days (unlocked: a person locks it, never Jumpgate), and a lifecycle
// rule that moves recordings to the cool tier. Pure, like stack-graph.ts, which calls it.
import type { StackSpec } from "../spec/types";
import { stackHash, type StackNames } from "./names";
import type { DesiredJson, GraphNode } from "./types";

/** @azure/arm-storage 19.1.0's api-version (pinned; the emulator's storage provider speaks it). */
export const STORAGE_API_VERSION = "2025-06-01";

/** The container every node ships its recordings to. */
export const RECORDINGS_CONTAINER = "recordings";

/** Graph keys of the recordings' storage. */
export const RECORDING_KEYS = {
  account: "storage:recordings",
  blobService: "storage:recordings:blob",
  container: "storage:recordings:container",
  policy: "storage:recordings:immutability",
  lifecycle: "storage:recordings:lifecycle",
} as const;

/** The graph key of one web node holder's (`vm:web-1`, `vmss`) right to add recordings. */
export function recordingWriterKey(holderKey: string): string {
  return `ra:${holderKey}:recordings`;
}

/**
 * The custom role the web nodes get on the container (infra/app/recording-writer-role.bicep): read
 * and create blobs; no write (which overwrites) and no delete. Per "Permissions for calling blob data
 * operations": Put Block and Put Block List that create a new blob need `blobs/add/action`;
 * overwriting an existing blob needs `blobs/write`.
 */
export const RECORDING_WRITER_ROLE = {
  roleName: "Jumpgate recording writer",
  actions: [] as string[],
  dataActions: [
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
  ],
} as const;

/** The data actions that would let a node destroy or replace evidence: the role must hold none. */
export const RECORDING_DESTRUCTIVE_DATA_ACTIONS = [
  "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
  "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
  "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/deleteBlobVersion/action",
  "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/permanentDelete/action",
  "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/immutableStorage/runAsSuperUser/action",
  "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
] as const;

/**
 * The storage account's name: 3-24 lowercase letters and digits, unique in all of Azure, so the
 * stack's hash fills what the name leaves (at least 7 hex digits).
 */
export function recordingAccountName(spec: Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup">): string {
  const compact = `jg${spec.name.replace(/-/g, "")}`;
  return `${compact}${stackHash(spec, 24 - compact.length)}`;
}

/** The Function App's read-only role on the container (the recordings listing). */
export const RECORDING_READER_KEY = "ra:function:recordings";

/** The container's blob endpoint, as the nodes' uploader and the app's readers address it. */
export function recordingContainerUrl(account: string): string {
  return `https://${account}.blob.core.windows.net/${RECORDINGS_CONTAINER}`;
}

export interface RecordingStorageIds {
  account: string;
  accountId: string;
  blobServiceId: string;
  containerId: string;
  policyId: string;
  lifecycleId: string;
}

export function recordingStorageIds(
  spec: Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup">,
  names: Pick<StackNames, "resourceGroupId">,
): RecordingStorageIds {
  const account = recordingAccountName(spec);
  const accountId = `${names.resourceGroupId}/providers/Microsoft.Storage/storageAccounts/${account}`;
  const blobServiceId = `${accountId}/blobServices/default`;
  const containerId = `${blobServiceId}/containers/${RECORDINGS_CONTAINER}`;
  return {
    account,
    accountId,
    blobServiceId,
    containerId,
    policyId: `${containerId}/immutabilityPolicies/default`,
    lifecycleId: `${accountId}/managementPolicies/default`,
  };
}

/** The web subnet's service endpoint the account's network rule needs (added to the subnet by stack-graph.ts). */
export const STORAGE_SERVICE_ENDPOINT: { [k: string]: DesiredJson } = { service: "Microsoft.Storage" };

/** The storage nodes, or none when the spec has no `recordings`. */
export function recordingStorageNodes(spec: StackSpec, names: StackNames, tags: Record<string, string>): GraphNode[] {
  const recordings = spec.recordings;
  if (!recordings) return [];
  const ids = recordingStorageIds(spec, names);
  const accountOwner = { id: ids.accountId, apiVersion: STORAGE_API_VERSION };
  const account: GraphNode = {
    key: RECORDING_KEYS.account,
    kind: "storageAccount",
    id: ids.accountId,
    apiVersion: STORAGE_API_VERSION,
    body: {
      location: spec.location,
      tags: { ...tags },
      kind: "StorageV2",
      sku: { name: "Standard_ZRS" },
      properties: {
        // Entra ID only: no account key and so no SAS signed with one can reach the data
        allowSharedKeyAccess: false,
        defaultToOAuthAuthentication: true,
        minimumTlsVersion: "TLS1_2",
        supportsHttpsTrafficOnly: true,
        allowBlobPublicAccess: false,
        allowCrossTenantReplication: false,
        networkAcls: {
          defaultAction: "Deny",
          bypass: "None",
          virtualNetworkRules: [{ id: names.webSubnetId, action: "Allow" }],
          ipRules: [],
        },
      },
    },
    dependsOn: ["rg", "vnet"],
    latencyClass: "medium",
  };
  const blobService: GraphNode = {
    key: RECORDING_KEYS.blobService,
    kind: "blobService",
    id: ids.blobServiceId,
    apiVersion: STORAGE_API_VERSION,
    body: {
      properties: {
        // version-level immutability needs versions: an overwrite keeps the earlier version, protected
        isVersioningEnabled: true,
        deleteRetentionPolicy: { enabled: true, days: 7 },
        containerDeleteRetentionPolicy: { enabled: true, days: 7 },
      },
    },
    dependsOn: [RECORDING_KEYS.account],
    tagOwner: accountOwner,
    latencyClass: "fast",
  };
  const container: GraphNode = {
    key: RECORDING_KEYS.container,
    kind: "blobContainer",
    id: ids.containerId,
    apiVersion: STORAGE_API_VERSION,
    body: {
      properties: {
        publicAccess: "None",
        immutableStorageWithVersioning: { enabled: true },
      },
    },
    dependsOn: [RECORDING_KEYS.blobService],
    tagOwner: accountOwner,
    latencyClass: "fast",
  };
  const policy: GraphNode = {
    key: RECORDING_KEYS.policy,
    kind: "immutabilityPolicy",
    id: ids.policyId,
    apiVersion: STORAGE_API_VERSION,
    body: {
      properties: {
        immutabilityPeriodSinceCreationInDays: recordings.retentionDays,
        allowProtectedAppendWrites: false,
        // Jumpgate never locks; `locked` in the spec only says what a person did (plan shows it)
        ...(recordings.immutability === "locked" ? { state: "Locked" } : {}),
      },
    },
    dependsOn: [RECORDING_KEYS.container],
    tagOwner: accountOwner,
    latencyClass: "fast",
  };
  const lifecycle: GraphNode = {
    key: RECORDING_KEYS.lifecycle,
    kind: "managementPolicy",
    id: ids.lifecycleId,
    apiVersion: STORAGE_API_VERSION,
    body: {
      properties: {
        policy: {
          rules: [
            {
              name: "recordings-to-cool",
              enabled: true,
              type: "Lifecycle",
              definition: {
                filters: { blobTypes: ["blockBlob"], prefixMatch: [`${RECORDINGS_CONTAINER}/`] },
                actions: {
                  baseBlob: { tierToCool: { daysAfterModificationGreaterThan: recordings.coolAfterDays } },
                  version: { tierToCool: { daysAfterCreationGreaterThan: recordings.coolAfterDays } },
                },
              },
            },
          ],
        },
      },
    },
    dependsOn: [RECORDING_KEYS.blobService],
    tagOwner: accountOwner,
    latencyClass: "fast",
  };
  return [account, blobService, container, policy, lifecycle];
}
