// The stack as ARM documents: one pure function from a validated spec to the resource graph the
// engine deploys, plans, reconciles and tears down. No I/O, no randomness, no clock: the same spec
// and context always give the same graph (deep-equal), so a replayed orchestration sees the same
// nodes. Dependencies are the references ARM checks (plus one-operation-at-a-time on a MySQL
// server) and nothing more, because an edge ARM does not need can only lengthen the deploy.
import { createHash } from "node:crypto";
import { ALERT_METRICS } from "../azure/metrics";
import { DB_ADMIN_LOGIN, NODE_HTTP_PORT, NODE_HTTPS_PORT, NODE_PROBE } from "../node/constants";
import { SECRET_NAMES, type SecretName } from "../secret-names";
import type { StackSpec } from "../spec/types";
import {
  INLINE_NAMES,
  ROLE_DEFINITIONS,
  roleAssignmentId,
  roleAssignmentName,
  roleDefinitionId,
  stackNames,
  stackTags,
  VM_ADMIN_USERNAME,
  VM_SSH_PUBLIC_KEY_SECRET,
  webNodeNames,
  type StackNames,
} from "./names";
import { transitiveReduction } from "./order";
import { withOwnership } from "./ownership";
import { SCALE_THRESHOLDS } from "../scale/policy";
import type { DesiredJson, GraphNode, StackGraph, ValueRef } from "./types";
import {
  RECORDING_KEYS,
  RECORDING_READER_KEY,
  recordingStorageIds,
  recordingStorageNodes,
  recordingWriterKey,
  STORAGE_API_VERSION,
  STORAGE_SERVICE_ENDPOINT,
} from "./recordings-graph";
import { nodeImageNodes } from "./image-graph";

/**
 * The ARM api-version of each node kind. Resource groups go through the SDK's `resourceGroups`
 * operations, which always send @azure/arm-resources' own version (2025-04-01 in 7.0.0); the node
 * says so instead of naming a version that is never sent.
 */
export const API_VERSIONS = {
  resources: "2025-04-01",
  network: "2024-05-01",
  privateDns: "2024-06-01",
  keyVault: "2024-11-01",
  authorization: "2022-04-01",
  mysql: "2023-12-30",
  compute: "2024-07-01",
  managedIdentity: "2023-01-31",
  metricAlerts: "2018-03-01",
  activityLogAlerts: "2020-10-01",
} as const;

export interface StackGraphContext {
  /** tenant of the Key Vault (the Function App's tenant) */
  tenantId: string;
  /**
   * base64 cloud-init for a web node; for a scale set, called once with the scale set's name and
   * index 0. `boot`: "image" when the node boots from `bootImage` (configuration only), else "source".
   */
  renderCustomData(vm: { name: string; index: number; boot: "source" | "image" }): string;
  /**
   * The gallery image VERSION new web nodes boot from (its ARM id): every new VM, and the scale set's
   * model, get `imageReference: { id }` and image-mode custom data. Unset: the spec's marketplace
   * image and custom data that builds the node from source.
   */
  bootImage?: BootImage;
  /** the Function App's managed identity: gets "Key Vault Secrets Officer" on the vault to create secrets */
  functionPrincipalId?: string;
  /**
   * ARM id of the action group that calls Jumpgate's `/api/alerts` (created with the Function App);
   * when set, the stack gets the alert rules that feed healing and scaling
   */
  alertActionGroupId?: string;
  /**
   * availability set: the web nodes' numbers (web-1, web-3, ...) when scaling changed the fleet
   * (shared/scale/fleet.ts); default 1..spec.fleet.size
   */
  webNodeOrdinals?: readonly number[];
  /** scale set: the capacity when scaling changed it; default spec.fleet.size */
  scaleSetCapacity?: number;
  /**
   * The stack's vault holds its TLS bundle (the certificate worker stored one): the web nodes' identities
   * get read access to that secret. A role assignment needs its scope to exist, so before the first
   * certificate there is no such grant (the worker makes it right after storing the bundle).
   */
  tlsBundle?: boolean;
  /**
   * GUID of the "Jumpgate recording writer" custom role (infra/app/recording-writer-role.bicep,
   * app setting JUMPGATE_RECORDING_WRITER_ROLE_ID): the web nodes' right on the recordings container.
   * Needed when the spec has `recordings`.
   */
  recordingWriterRoleId?: string;
}

/** A gallery image version to boot web nodes from: `id` its ARM id, `version` its name (e.g. 1.6.123). */
export interface BootImage {
  id: string;
  version: string;
}

const GALLERY_IMAGE_VERSION_ID =
  /^\/subscriptions\/([0-9a-f-]{36})\/resourceGroups\/([-\w.()]{1,90})\/providers\/Microsoft\.Compute\/galleries\/[\w.]{1,80}\/images\/[-\w.]{1,80}\/versions\/(\d+\.\d+\.\d+)$/i;

/**
 * A boot image is a gallery image version in the stack's own resource group (where the stack's
 * gallery lives), named as its id says: nothing else's image ever boots a stack's nodes.
 */
function checkBootImage(spec: StackSpec, image: BootImage): void {
  const m = GALLERY_IMAGE_VERSION_ID.exec(image.id);
  if (!m) throw new Error(`bootImage ${image.id} is not the ARM id of a gallery image version`);
  if (
    m[1].toLowerCase() !== spec.subscriptionId.toLowerCase() ||
    m[2].toLowerCase() !== spec.resourceGroup.toLowerCase()
  ) {
    throw new Error(`bootImage ${image.id} is not in the stack's resource group ${spec.resourceGroup}`);
  }
  if (m[3] !== image.version) throw new Error(`bootImage ${image.id} is not version ${image.version}`);
}

/** Generated secrets: MySQL admin, the two alternating app users, Guacamole's admin; 32 characters. */
const GENERATED_PASSWORDS: SecretName[] = [
  SECRET_NAMES.dbAdminPassword,
  SECRET_NAMES.dbAppPasswordA,
  SECRET_NAMES.dbAppPasswordB,
  SECRET_NAMES.guacadminPassword,
];
const PASSWORD_LENGTH = 32;

/** MySQL server parameters Jumpgate pins: clients must use TLS 1.2 or newer. */
export const MYSQL_PARAMETERS: Record<string, string> = {
  require_secure_transport: "ON",
  tls_version: "TLSv1.2,TLSv1.3",
};

/** Where the admin key's public half goes inside an osProfile. */
const SSH_KEY_PATH = (osProfile: string) => `${osProfile}.linuxConfiguration.ssh.publicKeys.0.keyData`;

const IMAGE_OS_DISK_TYPE = "StandardSSD_LRS"; // every VM size supports it (Premium needs an "s" size)

export function buildStackGraph(spec: StackSpec, ctx: StackGraphContext): StackGraph {
  const names = stackNames(spec);
  if (ctx.bootImage) checkBootImage(spec, ctx.bootImage);
  const b = new GraphBuilder(spec, names, ctx);
  b.network();
  b.nodes.push(...recordingStorageNodes(spec, names, stackTags(spec)));
  b.nodes.push(...nodeImageNodes(spec, stackTags(spec)));
  b.keyVault();
  b.recordingReader();
  b.database();
  if (spec.fleet.mode === "availabilitySet") b.availabilitySetFleet();
  else b.scaleSetFleet();
  if (ctx.alertActionGroupId) b.alertRules(ctx.alertActionGroupId);
  // nodes list everything they reference; edges implied by others are dropped (same schedule, clearer plans)
  const nodes = withOwnership(transitiveReduction(b.nodes), names.tag, spec.adopt);
  return { stack: spec.name, tag: names.tag, nodes };
}

/** The availability set's web node numbers: the context's members, else 1..fleet.size. */
export function webNodeOrdinals(spec: StackSpec, ctx: Pick<StackGraphContext, "webNodeOrdinals">): number[] {
  if (!ctx.webNodeOrdinals) return Array.from({ length: spec.fleet.size }, (_, i) => i + 1);
  const ordinals = [...new Set(ctx.webNodeOrdinals)].sort((a, b) => a - b);
  for (const n of ordinals) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`web node numbers must be whole numbers >= 1, got ${n}`);
  }
  return ordinals;
}

/**
 * The secrets a web node's identity may read, each by a Key Vault Secrets User assignment on that
 * secret alone: both app users' passwords (a rotation switches a node to the idle user, so the node
 * reads it then: granting it just in time would wait on RBAC propagation in the middle of a
 * rotation, for a password that gives no more than the one the node already has) and the TLS
 * bundle once there is one. Never the MySQL admin password, guacadmin's, the ACME account key or a
 * pending order's key: the admin steps get what they need through managed Run Command's protected
 * parameters (shared/node/run-agent.ts).
 */
export function nodeReadableSecrets(ctx: Pick<StackGraphContext, "tlsBundle">): SecretName[] {
  return [SECRET_NAMES.dbAppPasswordA, SECRET_NAMES.dbAppPasswordB, ...(ctx.tlsBundle ? [SECRET_NAMES.tlsBundle] : [])];
}

/** The graph key of a web node's (`vm:web-1`, `vmss`) read access to one secret. */
export function secretReaderKey(holderKey: string, secret: SecretName): string {
  return `ra:${holderKey}:${secret}`;
}

/** The stack's web nodes publish `jumpgate/liveSessions` and get rules on it: it scales on live sessions. */
export function scalesOnSessions(spec: StackSpec): boolean {
  return spec.policies.scale.enabled && spec.policies.scale.metric === "sessions";
}

/**
 * The keys of one availability-set web node's own graph nodes (`node` is e.g. "web-3"), in apply
 * order: its NIC, VM, role assignments and, when the stack scales on sessions, its alert rules. Scale
 * and heal add, remove and replace a node with exactly these.
 */
export function webNodeGraphKeys(graph: StackGraph, node: string): string[] {
  const own = [
    `nic:${node}`,
    `vm:${node}`,
    // the vault-wide grant of graphs built before grants were per secret (replayed histories hold them)
    `ra:vm:${node}`,
    ...Object.values(SECRET_NAMES).map((secret) => secretReaderKey(`vm:${node}`, secret)),
    `ra:metrics:vm:${node}`,
    recordingWriterKey(`vm:${node}`),
    `alert:scale-out:vm:${node}`,
    `alert:scale-in:vm:${node}`,
  ];
  return own.filter((key) => graph.nodes.some((n) => n.key === key));
}

/**
 * The graph nodes of one availability-set web node (`webNodeGraphKeys` of web-<ordinal>), or the
 * scale set's (no ordinal): what a scale action adds or removes.
 */
export function webNodeGraphNodes(graph: StackGraph, ordinal: number | undefined): GraphNode[] {
  const keys = ordinal !== undefined ? webNodeGraphKeys(graph, `web-${ordinal}`) : ["vmss"];
  if (ordinal !== undefined && !keys.includes(`vm:web-${ordinal}`)) {
    throw new Error(`the stack graph has no node vm:web-${ordinal}`);
  }
  return keys.map((key) => {
    const node = graph.nodes.find((n) => n.key === key);
    if (!node) throw new Error(`the stack graph has no node ${key}`);
    return node;
  });
}

/** Graph keys whose change means the web nodes or the database may need bringing up again. */
const NODE_OR_DATABASE = /^(vm:|nic:|vmss$|identity:web$|mysql)/;

/** The keys among those a deploy wrote that touch the web nodes or the database. */
export function nodeOrDatabaseWrites(written: readonly string[]): string[] {
  return written.filter((k) => NODE_OR_DATABASE.test(k));
}

function scaleSetCapacity(spec: StackSpec, ctx: StackGraphContext): number {
  const capacity = ctx.scaleSetCapacity ?? spec.fleet.size;
  if (!Number.isInteger(capacity) || capacity < 0)
    throw new RangeError(`scale set capacity must be >= 0, got ${capacity}`);
  return capacity;
}

/**
 * The scale set's tag that carries the digest of its model's custom data: what the engine diffs in
 * place of the write-only value, and what says which release's custom data the model holds.
 */
export const CUSTOM_DATA_TAG_NAME = "jumpgate-custom-data-sha256";

/** sha256 (hex) of the base64 custom data as sent. */
export function customDataDigest(customData: string): string {
  return createHash("sha256").update(customData).digest("hex");
}

/** A ValueRef that carries its target's id and api-version, so one node is enough to apply it. */
function refTo(target: GraphNode, path: string): ValueRef {
  return { $ref: { node: target.key, path, id: target.id, apiVersion: target.apiVersion } };
}

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  private readonly tags: Record<string, string>;
  private readonly sub: string;

  constructor(
    private readonly spec: StackSpec,
    private readonly names: StackNames,
    private readonly ctx: StackGraphContext,
  ) {
    this.tags = stackTags(spec);
    this.sub = spec.subscriptionId;
  }

  private add(node: GraphNode): GraphNode {
    this.nodes.push(node);
    return node;
  }

  private tracked(extra: { [k: string]: DesiredJson } = {}): { [k: string]: DesiredJson } {
    return { location: this.spec.location, tags: { ...this.tags }, ...extra };
  }

  network(): void {
    const { spec, names } = this;
    const { network } = spec;
    this.add({
      key: "rg",
      kind: "resourceGroup",
      id: names.resourceGroupId,
      apiVersion: API_VERSIONS.resources,
      body: this.tracked(),
      dependsOn: [],
      // a group's region is fixed at creation (an adopted group may be elsewhere; its resources are not)
      createOnly: ["location"],
      latencyClass: "fast",
    });
    this.add({
      key: "nsg:web",
      kind: "networkSecurityGroup",
      id: names.webNsgId,
      apiVersion: API_VERSIONS.network,
      body: this.tracked({ properties: { securityRules: webSecurityRules(spec) } }),
      dependsOn: ["rg"],
      latencyClass: "fast",
    });
    this.add({
      key: "nsg:db",
      kind: "networkSecurityGroup",
      id: names.dbNsgId,
      apiVersion: API_VERSIONS.network,
      body: this.tracked({ properties: { securityRules: dbSecurityRules(spec) } }),
      dependsOn: ["rg"],
      latencyClass: "fast",
    });
    this.add({
      key: "vnet",
      kind: "virtualNetwork",
      id: names.vnetId,
      apiVersion: API_VERSIONS.network,
      body: this.tracked({
        properties: {
          addressSpace: { addressPrefixes: [network.addressSpace] },
          subnets: [
            {
              name: INLINE_NAMES.webSubnet,
              properties: {
                addressPrefix: network.webSubnet,
                networkSecurityGroup: { id: names.webNsgId },
                // no implicit Internet egress: the load balancer's outbound rule is the only way out
                defaultOutboundAccess: false,
                // the recordings' storage account admits this subnet alone, through this endpoint
                ...(spec.recordings ? { serviceEndpoints: [STORAGE_SERVICE_ENDPOINT] } : {}),
              },
            },
            {
              name: INLINE_NAMES.dbSubnet,
              properties: {
                addressPrefix: network.databaseSubnet,
                networkSecurityGroup: { id: names.dbNsgId },
                defaultOutboundAccess: false,
                delegations: [
                  {
                    name: INLINE_NAMES.dbSubnetDelegation,
                    properties: { serviceName: "Microsoft.DBforMySQL/flexibleServers" },
                  },
                ],
              },
            },
          ],
        },
      }),
      dependsOn: ["rg", "nsg:web", "nsg:db"],
      latencyClass: "fast",
    });
    this.add({
      key: "pip",
      kind: "publicIpAddress",
      id: names.publicIpId,
      apiVersion: API_VERSIONS.network,
      body: this.tracked({
        sku: { name: "Standard", tier: "Regional" },
        properties: {
          publicIPAllocationMethod: "Static",
          publicIPAddressVersion: "IPv4",
          idleTimeoutInMinutes: 4,
          dnsSettings: { domainNameLabel: names.dnsLabel },
        },
      }),
      dependsOn: ["rg"],
      latencyClass: "fast",
    });
    this.add({
      key: "lb",
      kind: "loadBalancer",
      id: names.loadBalancerId,
      apiVersion: API_VERSIONS.network,
      body: this.tracked({ sku: { name: "Standard", tier: "Regional" }, properties: loadBalancerProperties(names) }),
      dependsOn: ["rg", "pip"],
      latencyClass: "fast",
    });
    this.add({
      key: "dns:mysql",
      kind: "privateDnsZone",
      id: names.privateDnsZoneId,
      apiVersion: API_VERSIONS.privateDns,
      body: { location: "global", tags: { ...this.tags }, properties: {} },
      dependsOn: ["rg"],
      latencyClass: "medium",
    });
    this.add({
      key: "dns:mysql-link",
      kind: "privateDnsZoneLink",
      id: names.privateDnsZoneLinkId,
      apiVersion: API_VERSIONS.privateDns,
      body: {
        location: "global",
        tags: { ...this.tags },
        properties: { virtualNetwork: { id: names.vnetId }, registrationEnabled: false },
      },
      dependsOn: ["dns:mysql", "vnet"],
      latencyClass: "medium",
    });
  }

  keyVault(): void {
    const { names, ctx } = this;
    const vault = this.add({
      key: "kv",
      kind: "keyVault",
      id: names.keyVaultId,
      apiVersion: API_VERSIONS.keyVault,
      body: this.tracked({
        properties: {
          tenantId: ctx.tenantId,
          sku: { family: "A", name: "standard" },
          enableRbacAuthorization: true,
          enableSoftDelete: true,
          softDeleteRetentionInDays: 90,
          enablePurgeProtection: true,
          accessPolicies: [],
        },
      }),
      dependsOn: ["rg"],
      // the retention period is fixed when a vault is created
      createOnly: ["properties.softDeleteRetentionInDays"],
      latencyClass: "medium",
    });
    const secretDeps = ["kv"];
    if (ctx.functionPrincipalId) {
      this.add(
        this.roleAssignment({
          key: "ra:function",
          holder: "jumpgate-function",
          role: ROLE_DEFINITIONS.keyVaultSecretsOfficer,
          principalId: ctx.functionPrincipalId,
          dependsOn: ["kv"],
        }),
      );
      // data-plane writes need the role first
      secretDeps.push("ra:function");
    }
    const secret = (name: SecretName, generate: GraphNode["generate"], contentType: string) =>
      this.add({
        key: `secret:${name}`,
        kind: "keyVaultSecret",
        id: `${vault.id}/secrets/${name}`,
        // the vault's api-version: the engine reads the vault's URI through ARM before the data plane
        apiVersion: vault.apiVersion,
        body: { contentType, tags: { ...this.tags } },
        dependsOn: [...secretDeps],
        tagOwner: { id: vault.id, apiVersion: vault.apiVersion },
        generate,
        latencyClass: "fast",
      });
    for (const name of GENERATED_PASSWORDS) secret(name, { kind: "password", length: PASSWORD_LENGTH }, "password");
    secret(VM_SSH_PUBLIC_KEY_SECRET, { kind: "sshPublicKey" }, "ssh-public-key");
  }

  database(): void {
    const { spec, names } = this;
    const db = spec.database;
    this.add({
      key: "mysql",
      kind: "mysqlServer",
      id: names.mysqlServerId,
      apiVersion: API_VERSIONS.mysql,
      body: this.tracked({
        sku: { name: db.skuName, tier: db.tier },
        properties: {
          administratorLogin: DB_ADMIN_LOGIN,
          version: mysqlServerVersion(db.version),
          storage: { storageSizeGB: db.storageGb, autoGrow: "Enabled" },
          backup: {
            backupRetentionDays: db.backupRetentionDays,
            geoRedundantBackup: db.geoRedundantBackup ? "Enabled" : "Disabled",
          },
          highAvailability: { mode: db.highAvailability },
          // private access only: no public endpoint, so no firewall rules exist to get wrong
          network: {
            delegatedSubnetResourceId: names.dbSubnetId,
            privateDnsZoneResourceId: names.privateDnsZoneId,
            publicNetworkAccess: "Disabled",
          },
        },
      }),
      // the link too: the server must resolve in the VNet it lives in (ARM templates wait for it)
      dependsOn: ["rg", "vnet", "dns:mysql", "dns:mysql-link", `secret:${SECRET_NAMES.dbAdminPassword}`],
      writeOnly: ["properties.administratorLoginPassword"],
      // fixed at creation: login, major version, networking mode, backup redundancy
      createOnly: [
        "properties.administratorLogin",
        "properties.version",
        "properties.network",
        "properties.backup.geoRedundantBackup",
      ],
      secretValues: { "properties.administratorLoginPassword": SECRET_NAMES.dbAdminPassword },
      secretVault: this.vault(),
      latencyClass: "slow",
    });
    // a flexible server runs one management operation at a time ("ServerBusy"), so its children
    // form a chain instead of racing each other
    let previous = "mysql";
    this.add({
      key: "mysql:db",
      kind: "mysqlDatabase",
      id: names.mysqlDatabaseId,
      apiVersion: API_VERSIONS.mysql,
      body: { properties: { charset: "utf8mb4", collation: "utf8mb4_0900_ai_ci" } },
      dependsOn: [previous],
      tagOwner: this.mysqlServer(),
      latencyClass: "medium",
    });
    previous = "mysql:db";
    for (const [parameter, value] of Object.entries(MYSQL_PARAMETERS)) {
      const key = `mysql:config:${parameter}`;
      this.add({
        key,
        kind: "mysqlConfiguration",
        id: `${names.mysqlServerId}/configurations/${parameter}`,
        apiVersion: API_VERSIONS.mysql,
        body: { properties: { value } },
        dependsOn: [previous],
        tagOwner: this.mysqlServer(),
        latencyClass: "medium",
      });
      previous = key;
    }
  }

  availabilitySetFleet(): void {
    const { spec, names, ctx } = this;
    this.add({
      key: "avset",
      kind: "availabilitySet",
      id: names.availabilitySetId,
      apiVersion: API_VERSIONS.compute,
      body: this.tracked({
        sku: { name: "Aligned" },
        properties: { platformFaultDomainCount: 2, platformUpdateDomainCount: 5 },
      }),
      dependsOn: ["rg"],
      createOnly: ["properties.platformFaultDomainCount", "properties.platformUpdateDomainCount"],
      latencyClass: "fast",
    });
    for (const index of webNodeOrdinals(spec, ctx)) {
      const n = webNodeNames(spec, index);
      const nicKey = `nic:${n.node}`;
      const vmKey = `vm:${n.node}`;
      this.add({
        key: nicKey,
        kind: "networkInterface",
        id: n.nicId,
        apiVersion: API_VERSIONS.network,
        body: this.tracked({
          properties: {
            ipConfigurations: [
              {
                name: INLINE_NAMES.nicIpConfiguration,
                properties: {
                  primary: true,
                  privateIPAllocationMethod: "Dynamic",
                  subnet: { id: names.webSubnetId },
                  loadBalancerBackendAddressPools: [{ id: names.lbBackendPoolId }],
                },
              },
            ],
            enableAcceleratedNetworking: false,
            enableIPForwarding: false,
          },
        }),
        dependsOn: ["rg", "vnet", "lb"],
        latencyClass: "fast",
      });
      const vm = this.add({
        key: vmKey,
        kind: "virtualMachine",
        id: n.vmId,
        apiVersion: API_VERSIONS.compute,
        body: this.tracked({
          identity: { type: "SystemAssigned" },
          properties: {
            hardwareProfile: { vmSize: spec.fleet.vmSize },
            availabilitySet: { id: names.availabilitySetId },
            storageProfile: {
              imageReference: this.imageReference(),
              osDisk: {
                name: n.osDisk,
                createOption: "FromImage",
                caching: "ReadWrite",
                managedDisk: { storageAccountType: IMAGE_OS_DISK_TYPE },
                deleteOption: "Delete",
              },
            },
            osProfile: {
              computerName: n.computerName,
              adminUsername: VM_ADMIN_USERNAME,
              customData: ctx.renderCustomData({ name: n.vm, index, boot: this.boot() }),
              linuxConfiguration: linuxConfiguration(),
            },
            securityProfile: trustedLaunch(),
            // Detach: a replaced VM finds its NIC (and private IP, pool membership) waiting
            networkProfile: {
              networkInterfaces: [{ id: n.nicId, properties: { primary: true, deleteOption: "Detach" } }],
            },
            diagnosticsProfile: { bootDiagnostics: { enabled: true } },
          },
        }),
        dependsOn: ["rg", nicKey, "avset", `secret:${VM_SSH_PUBLIC_KEY_SECRET}`],
        writeOnly: ["properties.osProfile.customData"],
        createOnly: [
          "properties.osProfile",
          "properties.storageProfile.imageReference",
          "properties.storageProfile.osDisk.name",
          "properties.storageProfile.osDisk.createOption",
        ],
        secretValues: { [SSH_KEY_PATH("properties.osProfile")]: VM_SSH_PUBLIC_KEY_SECRET },
        secretVault: this.vault(),
        latencyClass: "slow",
      });
      this.secretReaders(vmKey, n.vm, refTo(vm, "identity.principalId"), [vmKey]);
      // the node agent publishes its live sessions about this VM, and only this VM
      if (scalesOnSessions(spec)) {
        this.add(
          this.roleAssignment({
            key: `ra:metrics:${vmKey}`,
            holder: n.vm,
            role: ROLE_DEFINITIONS.monitoringMetricsPublisher,
            principalId: refTo(vm, "identity.principalId"),
            dependsOn: [vmKey],
            scope: { id: n.vmId, apiVersion: API_VERSIONS.compute },
          }),
        );
      }
    }
  }

  scaleSetFleet(): void {
    const { spec, names, ctx } = this;
    const zones = [...spec.fleet.zones];
    // A Flexible scale set takes user-assigned identities only (ARM refuses SystemAssigned with
    // "Allowed values are: UserAssigned, None"): its instances share this one, which holds the roles.
    const identity = this.add({
      key: "identity:web",
      kind: "userAssignedIdentity",
      id: names.webIdentityId,
      apiVersion: API_VERSIONS.managedIdentity,
      body: this.tracked(),
      dependsOn: ["rg"],
      latencyClass: "fast",
    });
    const customData = ctx.renderCustomData({ name: names.scaleSet, index: 0, boot: this.boot() });
    this.add({
      key: "vmss",
      kind: "virtualMachineScaleSet",
      id: names.scaleSetId,
      apiVersion: API_VERSIONS.compute,
      body: this.tracked({
        // custom data is write-only (ARM never returns it): its digest, kept as a tag, is what the
        // engine can compare, so a new release's custom data reaches the model (README "Upgrading")
        tags: { ...this.tags, [CUSTOM_DATA_TAG_NAME]: customDataDigest(customData) },
        ...(zones.length > 0 ? { zones } : {}),
        sku: { name: spec.fleet.vmSize, tier: "Standard", capacity: scaleSetCapacity(spec, ctx) },
        // ARM fills each entry with the identity's principalId and clientId; the diff compares our keys only
        identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id]: {} } },
        properties: {
          orchestrationMode: "Flexible",
          // zonal: spread across zones, one fault domain each; regional: two fault domains
          platformFaultDomainCount: zones.length > 0 ? 1 : 2,
          singlePlacementGroup: false,
          virtualMachineProfile: {
            storageProfile: {
              imageReference: this.imageReference(),
              osDisk: {
                createOption: "FromImage",
                caching: "ReadWrite",
                managedDisk: { storageAccountType: IMAGE_OS_DISK_TYPE },
                deleteOption: "Delete",
              },
            },
            osProfile: {
              computerNamePrefix: names.computerNamePrefix,
              adminUsername: VM_ADMIN_USERNAME,
              customData,
              linuxConfiguration: linuxConfiguration(),
            },
            securityProfile: trustedLaunch(),
            networkProfile: {
              networkApiVersion: "2020-11-01",
              networkInterfaceConfigurations: [
                {
                  name: INLINE_NAMES.scaleSetNicConfiguration,
                  properties: {
                    primary: true,
                    enableAcceleratedNetworking: false,
                    deleteOption: "Delete",
                    ipConfigurations: [
                      {
                        name: INLINE_NAMES.nicIpConfiguration,
                        properties: {
                          primary: true,
                          subnet: { id: names.webSubnetId },
                          loadBalancerBackendAddressPools: [{ id: names.lbBackendPoolId }],
                        },
                      },
                    ],
                  },
                },
              ],
            },
            diagnosticsProfile: { bootDiagnostics: { enabled: true } },
          },
        },
      }),
      dependsOn: ["rg", "vnet", "lb", "identity:web", `secret:${VM_SSH_PUBLIC_KEY_SECRET}`],
      writeOnly: ["properties.virtualMachineProfile.osProfile.customData"],
      // the model's image and release can change (instances made later boot the new ones): its custom
      // data follows either
      resendWriteOnlyOn: {
        "properties.virtualMachineProfile.osProfile.customData": [
          "properties.virtualMachineProfile.storageProfile.imageReference",
          `tags.${CUSTOM_DATA_TAG_NAME}`,
        ],
      },
      createOnly: [
        "zones",
        "properties.orchestrationMode",
        "properties.platformFaultDomainCount",
        "properties.virtualMachineProfile.osProfile",
      ],
      secretValues: { [SSH_KEY_PATH("properties.virtualMachineProfile.osProfile")]: VM_SSH_PUBLIC_KEY_SECRET },
      secretVault: this.vault(),
      latencyClass: "slow",
    });
    // The roles go to the identity, so they need it and not the scale set: instances that boot
    // while the scale set is still being written can read their secrets. The holder stays the scale
    // set (whose instances use the identity), so the assignments keep their names.
    this.secretReaders("vmss", names.scaleSet, refTo(identity, "properties.principalId"), ["identity:web"]);
    // instances publish their live sessions about the scale set (its identity is theirs), nothing else
    if (scalesOnSessions(spec)) {
      this.add(
        this.roleAssignment({
          key: "ra:metrics:vmss",
          holder: names.scaleSet,
          role: ROLE_DEFINITIONS.monitoringMetricsPublisher,
          principalId: refTo(identity, "properties.principalId"),
          // the scope is the scale set, so it exists first (and the assignment goes before it on teardown)
          dependsOn: ["identity:web", "vmss"],
          scope: { id: names.scaleSetId, apiVersion: API_VERSIONS.compute },
        }),
      );
    }
  }

  /**
   * A gallery image version is named by its ARM id alone (Compute REST API, ImageReference: `id`,
   * "Resource Id"; publisher/offer/sku/version name a marketplace image instead and go with no id).
   */
  private imageReference(): { [k: string]: DesiredJson } {
    const image = this.ctx.bootImage;
    if (image) return { id: image.id };
    const { publisher, offer, sku, version } = this.spec.fleet.image;
    return { publisher, offer, sku, version };
  }

  private boot(): "source" | "image" {
    return this.ctx.bootImage ? "image" : "source";
  }

  /**
   * Key Vault Secrets User for one web node holder (a VM, or the scale set's identity) on each secret
   * it may read (`nodeReadableSecrets`), each assignment scoped to that one secret, which exists
   * first. The first of them supersedes the vault-wide assignment earlier versions made.
   */
  private secretReaders(holderKey: string, holder: string, principalId: ValueRef, holderDeps: string[]): void {
    const vault = this.vault();
    const legacy = roleAssignmentId(
      vault.id,
      roleAssignmentName(vault.id, holder, ROLE_DEFINITIONS.keyVaultSecretsUser),
    );
    nodeReadableSecrets(this.ctx).forEach((secret, i) => {
      const generated = secret !== SECRET_NAMES.tlsBundle;
      const node = this.roleAssignment({
        key: secretReaderKey(holderKey, secret),
        holder,
        role: ROLE_DEFINITIONS.keyVaultSecretsUser,
        principalId,
        // a graph secret is made by the deploy; the TLS bundle exists once the context says so
        dependsOn: [...holderDeps, generated ? `secret:${secret}` : "kv"],
        scope: { id: `${vault.id}/secrets/${secret}`, apiVersion: vault.apiVersion },
      });
      // the vault's tag vouches for an assignment on one of its secrets
      node.tagOwner = vault;
      if (i === 0) node.supersedes = [{ id: legacy, apiVersion: API_VERSIONS.authorization }];
      this.add(node);
    });
    this.recordingWriter(holderKey, holder, principalId, holderDeps);
  }

  /**
   * The Function App's right to list and read recordings (GET /api/stacks/{name}/recordings), on the
   * container alone: Storage Blob Data Reader, which neither writes nor deletes.
   */
  recordingReader(): void {
    if (!this.spec.recordings || !this.ctx.functionPrincipalId) return;
    const ids = recordingStorageIds(this.spec, this.names);
    const node = this.roleAssignment({
      key: RECORDING_READER_KEY,
      holder: "jumpgate-function",
      role: ROLE_DEFINITIONS.storageBlobDataReader,
      principalId: this.ctx.functionPrincipalId,
      dependsOn: [RECORDING_KEYS.container],
      scope: { id: ids.containerId, apiVersion: STORAGE_API_VERSION },
    });
    node.tagOwner = { id: ids.accountId, apiVersion: STORAGE_API_VERSION };
    this.add(node);
  }

  /** The holder's right to add (never change or delete) recordings, on the container alone. */
  private recordingWriter(holderKey: string, holder: string, principalId: ValueRef, holderDeps: string[]): void {
    if (!this.spec.recordings) return;
    const role = this.ctx.recordingWriterRoleId;
    if (!role)
      throw new Error(
        "the stack records sessions but Jumpgate knows no recording writer role: set JUMPGATE_RECORDING_WRITER_ROLE_ID (infra/main.bicep's output of the same name)",
      );
    const container = { id: recordingStorageIds(this.spec, this.names).containerId, apiVersion: STORAGE_API_VERSION };
    const node = this.roleAssignment({
      key: recordingWriterKey(holderKey),
      holder,
      role,
      principalId,
      dependsOn: [...holderDeps, RECORDING_KEYS.container],
      scope: container,
    });
    // the account's tag vouches for an assignment on its container
    node.tagOwner = { id: recordingStorageIds(this.spec, this.names).accountId, apiVersion: STORAGE_API_VERSION };
    this.add(node);
  }

  /**
   * A role for one holder (VM, scale set or the Function App) on one resource: the stack's vault
   * unless `scope` says otherwise (which also proves the assignment is the stack's: it is tagged).
   */
  private roleAssignment(a: {
    key: string;
    holder: string;
    role: string;
    principalId: string | ValueRef;
    dependsOn: string[];
    scope?: { id: string; apiVersion: string };
  }): GraphNode {
    const owner = a.scope ?? this.vault();
    const scope = owner.id;
    return {
      key: a.key,
      kind: "roleAssignment",
      id: roleAssignmentId(scope, roleAssignmentName(scope, a.holder, a.role)),
      apiVersion: API_VERSIONS.authorization,
      body: {
        properties: {
          roleDefinitionId: roleDefinitionId(this.sub, a.role),
          principalId: a.principalId,
          // set, so ARM does not look up a just-created identity that has not replicated yet
          principalType: "ServicePrincipal",
        },
      },
      dependsOn: a.dependsOn,
      tagOwner: owner,
      latencyClass: "fast",
    };
  }

  /**
   * The alert rules that wake healing and scaling (see shared/alerts for how each maps to a signal):
   * the LB probe per backend, VM availability and Resource Health of every VM in the resource group
   * (so replacements and scale-outs are covered without a new rule), and the scale-out/scale-in
   * pair when the stack scales: on CPU, or on the live sessions its node agents publish. Azure
   * Monitor only hints: the heal and scale orchestrations corroborate before acting.
   */
  alertRules(actionGroupId: string): void {
    const { spec, names } = this;
    const rgId = names.resourceGroupId;
    const vmType = "Microsoft.Compute/virtualMachines";
    const actions: DesiredJson = [{ actionGroupId, webHookProperties: {} }];
    const metricAlert = (
      suffix: string,
      description: string,
      severity: number,
      target: { scope: string; type?: string; dependsOn: string; node?: { node: string; vm: string } },
      frequency: { every: string; window: string },
      criterion: { [k: string]: DesiredJson },
    ): void => {
      const multi = target.type !== undefined;
      // a rule of one web node: key alert:<suffix>:vm:web-N, named after its VM
      const own = target.node;
      this.add({
        key: own ? `alert:${suffix}:vm:${own.node}` : `alert:${suffix}`,
        kind: "metricAlert",
        id: `${rgId}/providers/Microsoft.Insights/metricAlerts/${own ? own.vm : spec.name}-${suffix}`,
        apiVersion: API_VERSIONS.metricAlerts,
        body: {
          location: "global",
          tags: { ...this.tags },
          properties: {
            description,
            severity,
            enabled: true,
            scopes: [target.scope],
            evaluationFrequency: frequency.every,
            windowSize: frequency.window,
            ...(multi ? { targetResourceType: target.type ?? "", targetResourceRegion: spec.location } : {}),
            criteria: {
              "odata.type": multi
                ? "Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria"
                : "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
              allOf: [{ criterionType: "StaticThresholdCriterion", name: suffix, ...criterion }],
            },
            autoMitigate: true,
            actions,
          },
        },
        dependsOn: [target.dependsOn],
        latencyClass: "fast",
      });
    };

    metricAlert(
      "probe-down",
      "Jumpgate: a web node fails the load balancer's health probe (per backend address).",
      1,
      { scope: names.loadBalancerId, dependsOn: "lb" },
      { every: "PT1M", window: "PT5M" },
      {
        metricName: "DipAvailability",
        metricNamespace: "Microsoft.Network/loadBalancers",
        operator: "LessThan",
        threshold: 50,
        timeAggregation: "Average",
        dimensions: [{ name: "BackendIPAddress", operator: "Include", values: ["*"] }],
        skipMetricValidation: true,
      },
    );
    metricAlert(
      "vm-unavailable",
      "Jumpgate: a web VM is not running (platform VM availability).",
      1,
      { scope: rgId, type: vmType, dependsOn: "rg" },
      { every: "PT1M", window: "PT5M" },
      {
        metricName: "VmAvailabilityMetric",
        metricNamespace: vmType,
        operator: "LessThan",
        threshold: 1,
        timeAggregation: "Average",
        skipMetricValidation: true,
      },
    );
    this.add({
      key: "alert:resource-health",
      kind: "activityLogAlert",
      id: `${rgId}/providers/Microsoft.Insights/activityLogAlerts/${spec.name}-resource-health`,
      apiVersion: API_VERSIONS.activityLogAlerts,
      body: {
        location: "Global",
        tags: { ...this.tags },
        properties: {
          description: "Jumpgate: Resource Health reports a web VM degraded or unavailable.",
          enabled: true,
          scopes: [rgId],
          condition: {
            allOf: [
              { field: "category", equals: "ResourceHealth" },
              { field: "resourceType", equals: vmType },
            ],
          },
          actions: { actionGroups: [{ actionGroupId, webhookProperties: {} }] },
        },
      },
      dependsOn: ["rg"],
      latencyClass: "fast",
    });

    const scale = spec.policies.scale;
    if (!scale.enabled) return;
    // the thresholds are the policy's (per node, on the average), so rules and decisions agree
    const thresholds = SCALE_THRESHOLDS[scale.metric];
    const scaleRules = (
      target: { scope: string; type?: string; dependsOn: string; node?: { node: string; vm: string } },
      metric: { [k: string]: DesiredJson },
    ): void => {
      // scale-out soon after load builds up; scale-in only after an idle hour
      metricAlert(
        "scale-out",
        "Jumpgate: web nodes are busy; add a node (within the fleet's max).",
        3,
        target,
        { every: "PT5M", window: "PT15M" },
        { ...metric, operator: "GreaterThan", threshold: thresholds.out },
      );
      metricAlert(
        "scale-in",
        "Jumpgate: web nodes are idle; remove a drained node (within the fleet's min).",
        3,
        target,
        { every: "PT15M", window: "PT1H" },
        { ...metric, operator: "LessThan", threshold: thresholds.in },
      );
    };
    if (scale.metric === "cpu") {
      // scale sets aggregate over their instances; an availability set's VMs are watched one by one
      // (50 points between the thresholds: Azure autoscale's guidance is at least 40 against flapping)
      const fleetTarget =
        spec.fleet.mode === "scaleSet"
          ? { scope: names.scaleSetId, dependsOn: "vmss" }
          : { scope: rgId, type: vmType, dependsOn: "rg" };
      scaleRules(fleetTarget, { metricName: "Percentage CPU", metricNamespace: vmType, timeAggregation: "Average" });
      return;
    }
    // The custom metric the node agents publish (`health --publish-metrics`). Azure Monitor takes
    // multi-resource rules for platform metrics only, so an availability set gets one pair of rules
    // per VM; a scale set's instances publish about the scale set, whose one pair watches their
    // average. The metric exists only once a node has published: skip ARM's metric validation.
    const sessions = {
      metricName: ALERT_METRICS.liveSessions.name,
      metricNamespace: ALERT_METRICS.liveSessions.namespace,
      timeAggregation: "Average",
      skipMetricValidation: true,
    };
    if (spec.fleet.mode === "scaleSet") {
      scaleRules({ scope: names.scaleSetId, dependsOn: "vmss" }, sessions);
      return;
    }
    for (const index of webNodeOrdinals(spec, this.ctx)) {
      const n = webNodeNames(spec, index);
      scaleRules({ scope: n.vmId, dependsOn: `vm:${n.node}`, node: n }, sessions);
    }
  }

  private vault(): { id: string; apiVersion: string } {
    return { id: this.names.keyVaultId, apiVersion: API_VERSIONS.keyVault };
  }

  private mysqlServer(): { id: string; apiVersion: string } {
    return { id: this.names.mysqlServerId, apiVersion: API_VERSIONS.mysql };
  }
}

function linuxConfiguration(): { [k: string]: DesiredJson } {
  return {
    disablePasswordAuthentication: true,
    provisionVMAgent: true, // Run Command needs the agent
    ssh: { publicKeys: [{ path: `/home/${VM_ADMIN_USERNAME}/.ssh/authorized_keys` }] },
  };
}

function trustedLaunch(): { [k: string]: DesiredJson } {
  return { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } };
}

function mysqlServerVersion(major: StackSpec["database"]["version"]): string {
  return { "8.0": "8.0.21" }[major];
}

type Rule = { [k: string]: DesiredJson };

function rule(
  name: string,
  priority: number,
  p: { access?: "Allow" | "Deny"; protocol?: string; port?: string; from: string | string[]; to: string },
): Rule {
  const source: Rule = Array.isArray(p.from) ? { sourceAddressPrefixes: p.from } : { sourceAddressPrefix: p.from };
  return {
    name,
    properties: {
      priority,
      direction: "Inbound",
      access: p.access ?? "Allow",
      protocol: p.protocol ?? "Tcp",
      sourcePortRange: "*",
      destinationPortRange: p.port ?? "*",
      ...source,
      destinationAddressPrefix: p.to,
    },
  };
}

/** Inbound to the web nodes: HTTPS and HTTP from clients, the LB probe, and nothing else. */
export function webSecurityRules(spec: StackSpec): Rule[] {
  const { webSubnet, adminSourceRanges } = spec.network;
  const restricted = adminSourceRanges.length > 0;
  const clients: string | string[] = restricted ? [...adminSourceRanges] : "Internet";
  // HTTP-01 challenges come from the CA anywhere on the Internet; with DNS-01, 80 only redirects
  const httpFrom = restricted && spec.tls.acme.challenge === "dns-01" ? clients : "Internet";
  return [
    rule("allow-https", 100, { port: String(NODE_HTTPS_PORT), from: clients, to: webSubnet }),
    rule("allow-http", 110, { port: String(NODE_HTTP_PORT), from: httpFrom, to: webSubnet }),
    rule("allow-lb-probe", 120, { port: String(NODE_PROBE.port), from: "AzureLoadBalancer", to: webSubnet }),
    // ahead of Azure's default AllowVnetInBound (65000): no SSH, no VNet access to Tomcat or guacd
    rule("deny-all-inbound", 4000, { access: "Deny", protocol: "*", from: "*", to: "*" }),
  ];
}

/** Inbound to the MySQL subnet: 3306 from the web nodes only. */
export function dbSecurityRules(spec: StackSpec): Rule[] {
  const { webSubnet, databaseSubnet } = spec.network;
  return [
    rule("allow-mysql-from-web", 100, { port: "3306", from: webSubnet, to: databaseSubnet }),
    // the server and its HA standby share the delegated subnet and replicate inside it
    rule("allow-mysql-subnet", 110, { protocol: "*", from: databaseSubnet, to: databaseSubnet }),
    rule("deny-all-inbound", 4000, { access: "Deny", protocol: "*", from: "*", to: "*" }),
  ];
}

function loadBalancerProperties(names: StackNames): { [k: string]: DesiredJson } {
  const frontend = { id: names.lbFrontendId };
  const pool = { id: names.lbBackendPoolId };
  const lbRule = (name: string, port: number) => ({
    name,
    properties: {
      frontendIPConfiguration: frontend,
      backendAddressPool: pool,
      probe: { id: names.lbProbeId },
      protocol: "Tcp",
      frontendPort: port,
      backendPort: port,
      // Guacamole keeps sessions in each node's memory: one client (both ports) stays on one node
      loadDistribution: "SourceIP",
      enableFloatingIP: false,
      enableTcpReset: true,
      idleTimeoutInMinutes: 15,
      // egress goes through the outbound rule, which Azure requires once SNAT is explicit
      disableOutboundSnat: true,
    },
  });
  return {
    frontendIPConfigurations: [
      { name: INLINE_NAMES.lbFrontend, properties: { publicIPAddress: { id: names.publicIpId } } },
    ],
    backendAddressPools: [{ name: INLINE_NAMES.lbBackendPool }],
    probes: [
      {
        name: INLINE_NAMES.lbProbe,
        properties: {
          protocol: "Http",
          port: NODE_PROBE.port,
          requestPath: NODE_PROBE.path,
          intervalInSeconds: NODE_PROBE.intervalSeconds,
          probeThreshold: NODE_PROBE.probeThreshold,
        },
      },
    ],
    loadBalancingRules: [
      lbRule(INLINE_NAMES.lbRuleHttps, NODE_HTTPS_PORT),
      lbRule(INLINE_NAMES.lbRuleHttp, NODE_HTTP_PORT),
    ],
    outboundRules: [
      {
        name: INLINE_NAMES.lbOutboundRule,
        properties: {
          frontendIPConfigurations: [frontend],
          backendAddressPool: pool,
          protocol: "All",
          enableTcpReset: true,
          idleTimeoutInMinutes: 4,
          // fixed ports per node (1024 x 50 nodes fit in one IP's 64k) instead of "automatic"
          allocatedOutboundPorts: 1024,
        },
      },
    ],
  };
}
