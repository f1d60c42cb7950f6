// Every Azure name and id of a stack, derived from its spec alone, so the graph, the activities and
// the node template agree without asking Azure. Names follow each resource type's rules; the ones
// that must be unique across Azure (Key Vault, MySQL server, the public IP's default DNS label: all
// become DNS names) carry a short hash of subscription + resource group + stack name, stable for the
// stack's whole life.
import { createHash } from "node:crypto";
import { GUACAMOLE_DATABASE } from "../node/constants";
import { SECRET_NAMES, type SecretName } from "../secret-names";
import type { StackSpec } from "../spec/types";

/** The tag every resource of a stack carries; teardown refuses anything without it. */
export const STACK_TAG_NAME = "jumpgate-stack";

/** Linux administrator of the web VMs. Nobody logs in (password login is off, no SSH is allowed in). */
export const VM_ADMIN_USERNAME = "jumpgate";

/**
 * Key Vault secret holding the public half of the web VMs' required admin SSH key (its private half
 * is thrown away when it is generated). Not in SECRET_NAMES, which another module owns; the cast
 * marks the one name that list is missing.
 */
export const VM_SSH_PUBLIC_KEY_SECRET: SecretName = SECRET_NAMES.vmSshPublicKey;

/** Built-in role definitions (the same GUIDs in every tenant). */
export const ROLE_DEFINITIONS = {
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  keyVaultSecretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  /** ingest custom metrics (Azure Monitor's metrics REST API) for resources in scope */
  monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
  /** list and read blobs (the app's own view of a stack's recordings container; no write, no delete) */
  storageBlobDataReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
} as const;

/** Names of children kept inline in their parents (subnets, load balancer parts). */
export const INLINE_NAMES = {
  webSubnet: "web",
  dbSubnet: "db",
  dbSubnetDelegation: "mysql-flexible-servers",
  lbFrontend: "public",
  lbBackendPool: "web",
  lbProbe: "node-health",
  lbRuleHttps: "https",
  lbRuleHttp: "http",
  lbOutboundRule: "egress",
  nicIpConfiguration: "ipconfig1",
  scaleSetNicConfiguration: "nic",
} as const;

type NamingSpec = Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup" | "location"> & {
  tls: Pick<StackSpec["tls"], "dnsLabel">;
};

export interface StackNames {
  stack: string;
  tag: { name: string; value: string };
  resourceGroup: string;
  resourceGroupId: string;
  webNsg: string;
  webNsgId: string;
  dbNsg: string;
  dbNsgId: string;
  vnet: string;
  vnetId: string;
  webSubnetId: string;
  dbSubnetId: string;
  publicIp: string;
  publicIpId: string;
  dnsLabel: string;
  /** `<dnsLabel>.<location>.cloudapp.azure.com` */
  publicFqdn: string;
  loadBalancer: string;
  loadBalancerId: string;
  lbFrontendId: string;
  lbBackendPoolId: string;
  lbProbeId: string;
  privateDnsZone: string;
  privateDnsZoneId: string;
  privateDnsZoneLink: string;
  privateDnsZoneLinkId: string;
  keyVault: string;
  keyVaultId: string;
  /** the vault's data-plane URL in public Azure (the engine reads the real one from ARM) */
  keyVaultUri: string;
  mysqlServer: string;
  mysqlServerId: string;
  /** resolves to the server's private address inside the VNet (through the private DNS zone) */
  mysqlFqdn: string;
  mysqlDatabaseId: string;
  availabilitySet: string;
  availabilitySetId: string;
  scaleSet: string;
  scaleSetId: string;
  /** the scale set's user-assigned identity (a Flexible scale set can't have a system-assigned one) */
  webIdentity: string;
  webIdentityId: string;
  /** computer name prefix of scale set instances */
  computerNamePrefix: string;
}

/** A short stable hex hash of where the stack lives; resource group names are case-insensitive. */
export function stackHash(spec: Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup">, length = 8): string {
  const seed = `${spec.subscriptionId.toLowerCase()}/${spec.resourceGroup.toLowerCase()}/${spec.name}`;
  return createHash("sha256").update(seed).digest("hex").slice(0, length);
}

/**
 * The public IP's DNS label when the spec names none: `<stack>-<8 hex>`. A label is unique per region
 * across all of Azure (ARM answers 400 `DnsRecordInUse` when another public IP has it), so the stack
 * name alone ("demo") is almost always taken; the hash makes it this stack's. At most 24 characters,
 * lowercase, starts with a letter, ends with a hex digit: within ^[a-z][a-z0-9-]{1,61}[a-z0-9]$.
 */
export function defaultDnsLabel(spec: Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup">): string {
  return `${spec.name}-${stackHash(spec)}`;
}

export function resourceGroupId(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
}

export function stackNames(spec: NamingSpec): StackNames {
  const { name, location } = spec;
  const rgId = resourceGroupId(spec.subscriptionId, spec.resourceGroup);
  const id = (provider: string, resource: string) => `${rgId}/providers/${provider}/${resource}`;
  const hash = stackHash(spec);
  const vnet = `${name}-vnet`;
  const vnetId = id("Microsoft.Network/virtualNetworks", vnet);
  const loadBalancer = `${name}-lb`;
  const loadBalancerId = id("Microsoft.Network/loadBalancers", loadBalancer);
  // Key Vault: 3-24 characters; the stack name pattern allows 15, "kv-" + "-" + 5 hex fill the rest
  const keyVault = `kv-${name}-${hash.slice(0, 5)}`;
  // MySQL flexible server: 3-63 lowercase letters, digits and hyphens
  const mysqlServer = `${name}-mysql-${hash}`;
  const mysqlServerId = id("Microsoft.DBforMySQL/flexibleServers", mysqlServer);
  const privateDnsZone = `${mysqlServer}.private.mysql.database.azure.com`;
  const privateDnsZoneId = id("Microsoft.Network/privateDnsZones", privateDnsZone);
  const privateDnsZoneLink = `${vnet}-link`;
  const dnsLabel = spec.tls.dnsLabel ?? defaultDnsLabel(spec);
  const availabilitySet = `${name}-avset`;
  const scaleSet = `${name}-vmss`;
  const webIdentity = `${name}-web-id`;
  return {
    stack: name,
    tag: { name: STACK_TAG_NAME, value: name },
    resourceGroup: spec.resourceGroup,
    resourceGroupId: rgId,
    webNsg: `${name}-web-nsg`,
    webNsgId: id("Microsoft.Network/networkSecurityGroups", `${name}-web-nsg`),
    dbNsg: `${name}-db-nsg`,
    dbNsgId: id("Microsoft.Network/networkSecurityGroups", `${name}-db-nsg`),
    vnet,
    vnetId,
    webSubnetId: `${vnetId}/subnets/${INLINE_NAMES.webSubnet}`,
    dbSubnetId: `${vnetId}/subnets/${INLINE_NAMES.dbSubnet}`,
    publicIp: `${name}-pip`,
    publicIpId: id("Microsoft.Network/publicIPAddresses", `${name}-pip`),
    dnsLabel,
    publicFqdn: `${dnsLabel}.${location}.cloudapp.azure.com`,
    loadBalancer,
    loadBalancerId,
    lbFrontendId: `${loadBalancerId}/frontendIPConfigurations/${INLINE_NAMES.lbFrontend}`,
    lbBackendPoolId: `${loadBalancerId}/backendAddressPools/${INLINE_NAMES.lbBackendPool}`,
    lbProbeId: `${loadBalancerId}/probes/${INLINE_NAMES.lbProbe}`,
    privateDnsZone,
    privateDnsZoneId,
    privateDnsZoneLink,
    privateDnsZoneLinkId: `${privateDnsZoneId}/virtualNetworkLinks/${privateDnsZoneLink}`,
    keyVault,
    keyVaultId: id("Microsoft.KeyVault/vaults", keyVault),
    keyVaultUri: `https://${keyVault}.vault.azure.net/`,
    mysqlServer,
    mysqlServerId,
    mysqlFqdn: `${mysqlServer}.mysql.database.azure.com`,
    mysqlDatabaseId: `${mysqlServerId}/databases/${GUACAMOLE_DATABASE}`,
    availabilitySet,
    availabilitySetId: id("Microsoft.Compute/availabilitySets", availabilitySet),
    scaleSet,
    scaleSetId: id("Microsoft.Compute/virtualMachineScaleSets", scaleSet),
    webIdentity,
    webIdentityId: id("Microsoft.ManagedIdentity/userAssignedIdentities", webIdentity),
    computerNamePrefix: `${name}-`,
  };
}

/** The stack's tags: the user's, plus the stack tag (which wins over a user tag of the same name). */
export function stackTags(spec: Pick<StackSpec, "name" | "tags">): Record<string, string> {
  return { ...spec.tags, [STACK_TAG_NAME]: spec.name };
}

export interface WebNodeNames {
  /** short name used in graph keys: `web-1` */
  node: string;
  vm: string;
  vmId: string;
  nic: string;
  nicId: string;
  osDisk: string;
  computerName: string;
}

/** The name the stack's certificate is for: the spec's hostname, else the public IP's DNS name. */
export function certificateHostname(spec: NamingSpec & { tls: Pick<StackSpec["tls"], "hostname"> }): string {
  return (spec.tls.hostname ?? stackNames(spec).publicFqdn).toLowerCase();
}

/** Names of the web node with 1-based `index` (availability set mode). */
export function webNodeNames(spec: NamingSpec, index: number): WebNodeNames {
  if (!Number.isInteger(index) || index < 1) throw new RangeError(`web node index must be 1 or more, got ${index}`);
  return vmNames(spec, `web-${index}`);
}

/** A VM of the stack called `<stack>-<node>`, with its NIC and OS disk named after it. */
function vmNames(spec: NamingSpec, node: string): WebNodeNames {
  const rgId = resourceGroupId(spec.subscriptionId, spec.resourceGroup);
  const vm = `${spec.name}-${node}`;
  return {
    node,
    vm,
    vmId: `${rgId}/providers/Microsoft.Compute/virtualMachines/${vm}`,
    nic: `${vm}-nic`,
    nicId: `${rgId}/providers/Microsoft.Network/networkInterfaces/${vm}-nic`,
    osDisk: `${vm}-osdisk`,
    computerName: vm,
  };
}

export function roleDefinitionId(subscriptionId: string, roleGuid: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`;
}

/**
 * Name of a role assignment: a name-based UUID of (scope, who, role), so a replayed deploy finds the
 * assignment it made, and a new principal for the same holder (a replaced VM) lands on the same name.
 */
export function roleAssignmentName(scopeId: string, holder: string, roleGuid: string): string {
  return nameBasedUuid(`${scopeId.toLowerCase()}|${holder}|${roleGuid.toLowerCase()}`);
}

export function roleAssignmentId(scopeId: string, name: string): string {
  return `${scopeId}/providers/Microsoft.Authorization/roleAssignments/${name}`;
}

/** Jumpgate's namespace for name-based UUIDs (RFC 4122 version 5). */
const UUID_NAMESPACE = "6f4d3c1e-2b8a-5c7d-9e0f-1a2b3c4d5e6f";

/** RFC 4122 version 5 (SHA-1, name-based) UUID of `name` in Jumpgate's namespace. */
export function nameBasedUuid(name: string, namespace = UUID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const bytes = createHash("sha1").update(ns).update(name, "utf8").digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface NodeImageNames {
  /** Azure Compute Gallery: letters, digits, dots and underscores, unique in the subscription */
  gallery: string;
  galleryId: string;
  /** the one image definition of the stack's web nodes */
  imageDefinition: string;
  imageDefinitionId: string;
}

/**
 * The stack's node image gallery and definition. A gallery name takes no hyphen, so the stack's
 * become underscores; the stack's hash makes it the stack's in the subscription.
 */
export function nodeImageNames(spec: Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup">): NodeImageNames {
  const rgId = resourceGroupId(spec.subscriptionId, spec.resourceGroup);
  const gallery = `jg_${spec.name.replace(/-/g, "_")}_${stackHash(spec)}`;
  const galleryId = `${rgId}/providers/Microsoft.Compute/galleries/${gallery}`;
  const imageDefinition = "jumpgate-node";
  return { gallery, galleryId, imageDefinition, imageDefinitionId: `${galleryId}/images/${imageDefinition}` };
}

/** The ARM id of one image version of the stack's node image. */
export function nodeImageVersionId(
  spec: Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup">,
  version: string,
) {
  return `${nodeImageNames(spec).imageDefinitionId}/versions/${version}`;
}

/**
 * The builder VM of one image version (its NIC and OS disk are named after it): one per version, so
 * two builds of different versions never share a machine. Linux VM names go to 64 characters; the
 * stack name (at most 15) and a version's patch (at most 10 digits) leave room.
 */
export function imageBuilderNames(spec: NamingSpec, version: string): WebNodeNames {
  const patch = version.split(".").pop() ?? version;
  return vmNames(spec, `imgbuild-${patch}`);
}

/**
 * The builder a resource of the stack's resource group is named after (`<stack>-imgbuild-<patch>`,
 * its `-nic` or `-osdisk`), whatever the version; undefined for anything else. A teardown finds every
 * build's leftover this way, not only the current version's.
 */
export function imageBuilderOfName(spec: NamingSpec, resourceName: string): WebNodeNames | undefined {
  const m = /^(.+)-imgbuild-(\d{1,10})(?:-nic|-osdisk)?$/i.exec(resourceName);
  if (!m || m[1].toLowerCase() !== spec.name.toLowerCase()) return undefined;
  return imageBuilderNames(spec, m[2]);
}
