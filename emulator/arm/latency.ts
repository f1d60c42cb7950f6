// Per-type latency profile for benchmarks: realistic durations of Azure operations in milliseconds,
// multiplied by `scale` (0 = no latency, the default for tests; e.g. 0.01 turns 90 s into 0.9 s).
// The figures are typical observed durations in westeurope, not guarantees. Where a figure comes
// from a public recording or document its comment cites it; "estimate" marks one no public source
// gives (emulator/README.md, "Latency profile", lists them).

export interface LatencyProfile {
  scale: number;
  /** type key -> verb (put | patch | delete | action name | "*") -> ms */
  types: Record<string, Record<string, number>>;
}

const s = 1000;

export const DEFAULT_LATENCY: Record<string, Record<string, number>> = {
  "microsoft.resources/resourcegroups": { put: 1 * s, delete: 60 * s },
  "microsoft.network/virtualnetworks": { put: 5 * s, delete: 10 * s },
  "microsoft.network/networksecuritygroups": { put: 4 * s, delete: 10 * s },
  "microsoft.network/publicipaddresses": { put: 4 * s, delete: 10 * s },
  "microsoft.network/loadbalancers": { put: 4 * s, delete: 10 * s },
  "microsoft.network/networkinterfaces": { put: 2 * s, delete: 10 * s },
  "microsoft.network/privatednszones": { put: 35 * s, delete: 30 * s },
  "microsoft.network/privatednszones/virtualnetworklinks": { put: 30 * s, delete: 30 * s },
  "microsoft.network/dnszones": { put: 2 * s, delete: 10 * s },
  "microsoft.compute/availabilitysets": { put: 1 * s, delete: 2 * s },
  "microsoft.compute/virtualmachines": {
    put: 60 * s,
    delete: 40 * s,
    restart: 30 * s,
    redeploy: 180 * s,
    runcommand: 20 * s,
    // a synchronous POST that only marks the VM (the OS was deprovisioned inside it). Estimate
    generalize: 2 * s,
    "*": 30 * s,
  },
  "microsoft.compute/virtualmachinescalesets": { put: 60 * s, patch: 60 * s, delete: 60 * s, "*": 60 * s },
  "microsoft.dbformysql/flexibleservers": {
    put: 420 * s,
    patch: 120 * s,
    delete: 120 * s,
    // a create with createMode PointInTimeRestore. Estimate: Learn gives no figure ("PITR: RTO:
    // Varies", concepts-business-continuity; "The estimated time of recovery depends on several
    // factors including the database sizes, the transaction log backup size, the compute size of
    // the SKU, and the time of the restore", concepts-backup-restore): a new server (420 s above)
    // plus hydrating a small database from its snapshot and replaying its logs
    restore: 900 * s,
    "*": 60 * s,
  },
  // on-demand backup (a synchronous PUT). Estimate: "The snapshot operation only takes few seconds"
  // (concepts-backup-restore, FAQ), plus the service's own bookkeeping
  "microsoft.dbformysql/flexibleservers/backups": { put: 30 * s },
  "microsoft.dbformysql/flexibleservers/databases": { put: 20 * s, delete: 20 * s },
  "microsoft.dbformysql/flexibleservers/firewallrules": { put: 60 * s, delete: 60 * s },
  "microsoft.dbformysql/flexibleservers/configurations": { patch: 20 * s, "*": 20 * s },
  "microsoft.keyvault/vaults": { put: 15 * s, delete: 5 * s },
  "microsoft.authorization/roleassignments": { put: 2 * s },
  "microsoft.managedidentity/userassignedidentities": { put: 2 * s, delete: 2 * s },
  // recording_storageaccounts_create_test: PUT at 09:48:32, the 200 at 09:48:55 (23 s);
  // ExtendImmutabilityPolicy/LockImmutabilityPolicy: 202 at 08:30:28, the 200 at 08:30:45 (17 s).
  // PATCH 4 s and DELETE 6 s (recording_storageaccounts_update_test / _delete_test, sent → answered)
  "microsoft.storage/storageaccounts": { put: 20 * s, patch: 4 * s, delete: 6 * s },
  // the JS and .NET recordings answer these within a second or two
  "microsoft.storage/storageaccounts/blobservices": { put: 1 * s },
  "microsoft.storage/storageaccounts/blobservices/containers": { put: 1 * s, patch: 1 * s, delete: 1 * s, "*": 1 * s },
  "microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies": {
    put: 1 * s,
    delete: 1 * s,
    "*": 1 * s,
  },
  "microsoft.storage/storageaccounts/managementpolicies": { put: 1 * s, delete: 1 * s },
  // GalleryImageCollectionTests / TestGalleryTestSuite: gallery and image definition writes answer in
  // 2-3 s and their operations end within 0.2 s
  "microsoft.compute/galleries": { put: 3 * s, patch: 3 * s, delete: 3 * s },
  "microsoft.compute/galleries/images": { put: 3 * s, patch: 3 * s, delete: 3 * s },
  // the Python SDK's gallery recording (azure-sdk-assets, python/sdk/compute/azure-mgmt-compute/tests/
  // recordings/test_mgmt_compute_galleries.pyTestMgmtComputetest_compute_galleries.json, commit
  // 0fc23eb5): an image version from a 200 GiB snapshot, one region, 2 ZRS replicas: operation
  // started 08:13:26, ended 08:20:27 (421 s). Deletes: estimate
  "microsoft.compute/galleries/images/versions": { put: 421 * s, patch: 60 * s, delete: 60 * s },
  // managed image capture from a VM. Estimate (no public figure)
  "microsoft.compute/images": { put: 60 * s, delete: 20 * s },
};

/**
 * How long a new web node takes from "VM provisioned" (the VM PUT's operation ended) to serving,
 * for the node stand-ins and the bench. Both are estimates: no public document times this
 * project's installer, and Azure documents no boot time for a custom image.
 * - fromSource: the first-boot installer on a B2s (2 vCPUs, burstable) installs the build
 *   dependencies, compiles guacamole-server from source and downloads Tomcat, the Guacamole web
 *   application and Connector/J from the Apache and MySQL archives: 9 minutes (estimate).
 * - fromImage: a node booted from a gallery image only writes its configuration and starts guacd,
 *   Tomcat and NGINX, then waits the installer's service settle time (10 s,
 *   JUMPGATE_SERVICE_SETTLE_SECONDS): 45 s (estimate).
 */
export const NODE_FIRST_BOOT_MS = { fromSource: 540 * s, fromImage: 45 * s } as const;
