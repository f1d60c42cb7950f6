// Why Jumpgate's identity needs each ARM action: what each resource type the stack graph manages
// needs (the engine reads, creates, updates and deletes them by id), what each Azure SDK operation
// the code calls directly needs, and the linked-access checks ARM makes when one resource names
// another. test/unit/infra.test.ts derives the operator role from these and the code, and compares
// it with infra/jumpgate-operator-role.json both ways.

export interface Grant {
  actions: string[];
  why: string;
}

const crud = (type: string) => [`${type}/read`, `${type}/write`, `${type}/delete`];

/** Keyed by ARM resource type (as in resource ids), for every type a stack graph can hold. */
export const RESOURCE_TYPE_GRANTS: Record<string, Grant> = {
  "Microsoft.Resources/subscriptions/resourceGroups": {
    actions: crud("Microsoft.Resources/subscriptions/resourceGroups"),
    why: "the stack's resource group: created by deploy, deleted (once empty) by teardown",
  },
  "Microsoft.Network/networkSecurityGroups": {
    actions: crud("Microsoft.Network/networkSecurityGroups"),
    why: "web and database subnet rules",
  },
  "Microsoft.Network/virtualNetworks": {
    actions: [...crud("Microsoft.Network/virtualNetworks"), "Microsoft.Network/virtualNetworks/subnets/read"],
    why: "the stack's network; its subnets are declared inline",
  },
  "Microsoft.Network/publicIPAddresses": {
    actions: crud("Microsoft.Network/publicIPAddresses"),
    why: "the load balancer's public address and DNS label",
  },
  "Microsoft.Network/loadBalancers": {
    actions: crud("Microsoft.Network/loadBalancers"),
    why: "the public load balancer in front of the web nodes",
  },
  "Microsoft.Network/privateDnsZones": {
    actions: crud("Microsoft.Network/privateDnsZones"),
    why: "the MySQL server's private DNS zone",
  },
  "Microsoft.Network/privateDnsZones/virtualNetworkLinks": {
    actions: crud("Microsoft.Network/privateDnsZones/virtualNetworkLinks"),
    why: "links the private DNS zone to the stack's network",
  },
  "Microsoft.KeyVault/vaults": {
    actions: crud("Microsoft.KeyVault/vaults"),
    why: "the stack's vault (generated passwords, certificates)",
  },
  "Microsoft.KeyVault/vaults/secrets": {
    actions: [],
    why: "secrets are written through Key Vault's data plane, as Key Vault Secrets Officer of the stack's own vault (a role assignment in the graph)",
  },
  "Microsoft.Authorization/roleAssignments": {
    actions: crud("Microsoft.Authorization/roleAssignments"),
    why: "Key Vault roles of the web nodes' identities (per secret) and their metrics role; limited by the assignment's condition",
  },
  "Microsoft.DBforMySQL/flexibleServers": {
    actions: crud("Microsoft.DBforMySQL/flexibleServers"),
    why: "the MySQL flexible server",
  },
  "Microsoft.DBforMySQL/flexibleServers/databases": {
    actions: crud("Microsoft.DBforMySQL/flexibleServers/databases"),
    why: "Guacamole's database",
  },
  "Microsoft.DBforMySQL/flexibleServers/configurations": {
    actions: [
      "Microsoft.DBforMySQL/flexibleServers/configurations/read",
      "Microsoft.DBforMySQL/flexibleServers/configurations/write",
    ],
    why: "server parameters pinned to TLS 1.2+ (parameters are set, never deleted)",
  },
  "Microsoft.Compute/availabilitySets": {
    actions: crud("Microsoft.Compute/availabilitySets"),
    why: "the availability set fleet",
  },
  "Microsoft.ManagedIdentity/userAssignedIdentities": {
    actions: crud("Microsoft.ManagedIdentity/userAssignedIdentities"),
    why: "the scale set's identity (Flexible scale sets take only user-assigned identities)",
  },
  "Microsoft.Compute/virtualMachineScaleSets": {
    actions: crud("Microsoft.Compute/virtualMachineScaleSets"),
    why: "the scale set fleet",
  },
  "Microsoft.Network/networkInterfaces": {
    actions: crud("Microsoft.Network/networkInterfaces"),
    why: "each availability-set web node's NIC",
  },
  "Microsoft.Compute/virtualMachines": {
    actions: crud("Microsoft.Compute/virtualMachines"),
    why: "the web nodes",
  },
  "Microsoft.Insights/metricAlerts": {
    actions: crud("Microsoft.Insights/metricAlerts"),
    why: "probe, availability and CPU alert rules that feed /api/alerts",
  },
  "Microsoft.Insights/activityLogAlerts": {
    actions: crud("Microsoft.Insights/activityLogAlerts"),
    why: "Resource Health alert rules that feed /api/alerts",
  },
  "Microsoft.Compute/galleries": {
    actions: crud("Microsoft.Compute/galleries"),
    why: "the stack's node image gallery (spec nodeImage)",
  },
  "Microsoft.Compute/galleries/images": {
    actions: crud("Microsoft.Compute/galleries/images"),
    why: "the node image definition in it",
  },
  "Microsoft.Storage/storageAccounts": {
    // never listKeys: shared keys are off, and no key or SAS is ever made
    actions: crud("Microsoft.Storage/storageAccounts"),
    why: "the session recordings' account (teardown deletes it only when nothing in it is under retention)",
  },
  "Microsoft.Storage/storageAccounts/blobServices": {
    actions: [
      "Microsoft.Storage/storageAccounts/blobServices/read",
      "Microsoft.Storage/storageAccounts/blobServices/write",
    ],
    why: "versioning and soft delete of the recordings (never deleted: it goes with the account)",
  },
  "Microsoft.Storage/storageAccounts/blobServices/containers": {
    actions: crud("Microsoft.Storage/storageAccounts/blobServices/containers"),
    why: "the recordings container (teardown deletes it only when nothing in it is under retention)",
  },
  "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies": {
    // never lock/action nor delete: a person locks the policy, and a retention policy is never removed
    actions: [
      "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/read",
      "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/write",
    ],
    why: "the recordings' time-based retention, written while unlocked",
  },
  "Microsoft.Storage/storageAccounts/managementPolicies": {
    actions: [
      "Microsoft.Storage/storageAccounts/managementPolicies/read",
      "Microsoft.Storage/storageAccounts/managementPolicies/write",
    ],
    why: "the lifecycle rule that moves old recordings to the cool tier (never deleted: it goes with the account)",
  },
};

/**
 * Keyed by `<operations group>.<method>` as the code calls it on an SDK client. The engine's generic
 * calls (`resources.*ById`, `resourceGroups.*`) act on the graph's types, granted above.
 */
export const SDK_OPERATION_GRANTS: Record<string, Grant> = {
  "resources.getById": { actions: [], why: "the engine's read of a graph resource: see its type" },
  "resources.beginCreateOrUpdateByIdAndWait": { actions: [], why: "the engine's write of a graph resource" },
  "resources.beginDeleteByIdAndWait": { actions: [], why: "the engine's delete of a graph resource" },
  "resources.listByResourceGroup": {
    actions: ["Microsoft.Resources/subscriptions/resourceGroups/resources/read"],
    why: "a resource group is deleted only once nothing is left in it",
  },
  "resources.list": {
    actions: ["Microsoft.Resources/subscriptions/resources/read"],
    why: "the drift check: ARM's changedTime of every resource carrying the stack tag (no Resource Graph lag)",
  },
  "resourceGraph.resources": {
    actions: ["Microsoft.ResourceGraph/resources/read", "Microsoft.Resources/changes/read"],
    why: "the drift check screens every stack of a subscription in one paged Resource Graph query, and names who changed what from its resourcechanges table",
  },
  "resourceGroups.get": { actions: [], why: "the engine's read of the stack's resource group" },
  "resourceGroups.createOrUpdate": { actions: [], why: "the engine's write of the stack's resource group" },
  "resourceGroups.beginDeleteAndWait": { actions: [], why: "the engine's delete of the stack's resource group" },
  "networkInterfaces.get": { actions: ["Microsoft.Network/networkInterfaces/read"], why: "a node's private address" },
  "virtualMachines.get": { actions: ["Microsoft.Compute/virtualMachines/read"], why: "power state before a repair" },
  "virtualMachines.list": { actions: ["Microsoft.Compute/virtualMachines/read"], why: "the web nodes of a fleet" },
  "virtualMachines.start": { actions: ["Microsoft.Compute/virtualMachines/start/action"], why: "heal: a stopped node" },
  "virtualMachines.restart": { actions: ["Microsoft.Compute/virtualMachines/restart/action"], why: "heal: step 1" },
  "virtualMachines.redeploy": {
    actions: ["Microsoft.Compute/virtualMachines/redeploy/action"],
    why: "heal: step 2 (another host)",
  },
  "virtualMachines.delete": { actions: ["Microsoft.Compute/virtualMachines/delete"], why: "heal: replace a node" },
  "virtualMachines.runCommand": {
    actions: ["Microsoft.Compute/virtualMachines/runCommand/action"],
    why: "every node agent command (health, drain, certificates, credentials)",
  },
  "virtualMachineRunCommands.createOrUpdate": {
    actions: ["Microsoft.Compute/virtualMachines/runCommands/write"],
    why: "the admin steps (bootstrap-db, sql, db-user): a managed run command, the admin password in its protected parameters",
  },
  "virtualMachineRunCommands.getByVirtualMachine": {
    actions: ["Microsoft.Compute/virtualMachines/runCommands/read"],
    why: "an admin step's exit code and output (its instance view)",
  },
  "virtualMachineRunCommands.delete": {
    actions: ["Microsoft.Compute/virtualMachines/runCommands/delete"],
    why: "an admin step's run command is deleted once read, so its parameters do not stay on the VM",
  },
  "virtualMachines.instanceView": {
    actions: ["Microsoft.Compute/virtualMachines/read"],
    why: "node image build: whether the builder is deallocated or generalized already",
  },
  "virtualMachines.deallocate": {
    actions: ["Microsoft.Compute/virtualMachines/deallocate/action"],
    why: "node image build: the sealed builder is deallocated before it is generalized",
  },
  "virtualMachines.generalize": {
    actions: ["Microsoft.Compute/virtualMachines/generalize/action"],
    why: "node image build: the builder is generalized before its image version is captured",
  },
  "galleryImageVersions.listByGalleryImage": {
    actions: ["Microsoft.Compute/galleries/images/versions/read"],
    why: "which node image version new nodes boot from, and whether one must be built (teardown: the stack's versions)",
  },
  "galleryImageVersions.get": {
    actions: ["Microsoft.Compute/galleries/images/versions/read"],
    why: "node image build: a version already captured, or a failed one to replace",
  },
  "galleryImageVersions.createOrUpdate": {
    actions: ["Microsoft.Compute/galleries/images/versions/write"],
    why: "node image build: capture the version from the generalized builder",
  },
  "galleryImageVersions.delete": {
    actions: ["Microsoft.Compute/galleries/images/versions/delete"],
    why: "a failed version before its rebuild; the stack's versions on teardown",
  },
  "galleryImageVersions.beginDeleteAndWait": {
    actions: ["Microsoft.Compute/galleries/images/versions/delete"],
    why: "teardown: the stack's versions before its image definition",
  },
  "disks.get": {
    actions: ["Microsoft.Compute/disks/read"],
    why: "node image build: the builder's OS disk, tagged as the stack's so its removal is ownership-checked",
  },
  "disks.update": { actions: ["Microsoft.Compute/disks/write"], why: "node image build: the builder disk's stack tag" },
  "disks.delete": {
    actions: ["Microsoft.Compute/disks/delete"],
    why: "node image build: the builder's OS disk when it outlived its VM",
  },
  "virtualMachineScaleSets.get": { actions: ["Microsoft.Compute/virtualMachineScaleSets/read"], why: "capacity" },
  "virtualMachineScaleSets.update": {
    actions: ["Microsoft.Compute/virtualMachineScaleSets/write"],
    why: "capacity after a replacement",
  },
  "virtualMachineScaleSets.reimage": {
    actions: ["Microsoft.Compute/virtualMachineScaleSets/reimage/action"],
    why: "heal: reimage a scale set node",
  },
  "virtualMachineScaleSets.deleteInstances": {
    actions: ["Microsoft.Compute/virtualMachineScaleSets/delete/action"],
    why: "scale in, or replace a scale set node",
  },
  "servers.beginUpdateAndWait": {
    actions: ["Microsoft.DBforMySQL/flexibleServers/write"],
    why: "rotate the MySQL admin password",
  },
  "servers.get": {
    actions: ["Microsoft.DBforMySQL/flexibleServers/read"],
    why: "restore drill: the live server's id, network and earliest restore point (read only)",
  },
  "servers.beginCreate": {
    actions: ["Microsoft.DBforMySQL/flexibleServers/write"],
    why: "restore drill: the temporary server restored from the live one's backups (createMode PointInTimeRestore), begun and then polled (resumed from its operation)",
  },
  "servers.listByResourceGroup": {
    actions: ["Microsoft.DBforMySQL/flexibleServers/read"],
    why: "restore drill: the stack's drill servers to delete (this drill's and any one left behind)",
  },
  "servers.beginDeleteAndWait": {
    actions: ["Microsoft.DBforMySQL/flexibleServers/delete"],
    why: "restore drill: the temporary server is deleted at the drill's end, also after a failure",
  },
  "recordSets.createOrUpdate": {
    actions: [
      "Microsoft.Network/dnsZones/read",
      "Microsoft.Network/dnsZones/TXT/read",
      "Microsoft.Network/dnsZones/TXT/write",
    ],
    why: "DNS-01: the _acme-challenge TXT record",
  },
  "recordSets.delete": {
    actions: ["Microsoft.Network/dnsZones/TXT/delete"],
    why: "DNS-01: remove the challenge record",
  },
  "metrics.queryResources": {
    actions: ["Microsoft.Insights/metrics/read"],
    why: "load balancer probe health per backend, CPU and sessions per node",
  },
};

/**
 * Checks ARM makes on a resource that another one names (a NIC names a subnet, ...). These follow
 * ARM's documented linked-access checks and what users report of 403s; none could be tried against
 * Azure from here. The least certain: subnets/write (subnets declared inline in the network's PUT),
 * the load balancer's probe and frontend joins, the OS disks, and deletedVaults/read for a recovery.
 */
export const LINKED_GRANTS: Grant[] = [
  {
    actions: [
      "Microsoft.Network/virtualNetworks/subnets/join/action",
      "Microsoft.Network/virtualNetworks/subnets/write",
    ],
    why: "NICs, the scale set and the MySQL server (delegated subnet) join subnets declared inline in the network",
  },
  { actions: ["Microsoft.Network/networkSecurityGroups/join/action"], why: "subnets name their NSG" },
  {
    actions: ["Microsoft.Network/publicIPAddresses/join/action"],
    why: "the load balancer's frontend names the public IP",
  },
  {
    actions: [
      "Microsoft.Network/loadBalancers/backendAddressPools/join/action",
      "Microsoft.Network/loadBalancers/frontendIPConfigurations/join/action",
      "Microsoft.Network/loadBalancers/probes/join/action",
    ],
    why: "NICs and the scale set join the backend pool; rules name the frontend and the probe",
  },
  { actions: ["Microsoft.Network/networkInterfaces/join/action"], why: "a VM names its NIC" },
  { actions: ["Microsoft.Network/virtualNetworks/join/action"], why: "the private DNS zone link names the network" },
  { actions: ["Microsoft.Network/privateDnsZones/join/action"], why: "the MySQL server names its private DNS zone" },
  {
    actions: ["Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"],
    why: "the scale set is given its user-assigned identity",
  },
  {
    actions: ["Microsoft.Compute/disks/read", "Microsoft.Compute/disks/write", "Microsoft.Compute/disks/delete"],
    why: "each VM's managed OS disk, created with it and deleted with it (deleteOption Delete)",
  },
  {
    actions: ["Microsoft.Compute/galleries/images/versions/read"],
    why: "a VM or scale set that boots from the stack's node image names its gallery image version",
  },
  {
    actions: ["Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action"],
    why: "the recordings' account admits the web subnet through its Microsoft.Storage service endpoint (a network rule)",
  },
  {
    actions: ["Microsoft.KeyVault/locations/deletedVaults/read"],
    why: "a redeploy recovers the stack's soft-deleted vault (createMode recover)",
  },
];

/** Granted outside the operator role, on one resource, by infra/app/function-app.bicep. */
export const RESOURCE_SCOPED_GRANTS: (Grant & { role: string; bicepResource: string })[] = [
  {
    actions: ["Microsoft.Insights/actionGroups/read"],
    role: "43d0d8ad-25c7-4714-9337-8ba259a9fe05", // Monitoring Reader
    bicepResource: "actionGroupAccess",
    why: "the stacks' alert rules name Jumpgate's action group",
  },
];
