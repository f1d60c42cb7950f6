// The node image's Azure resources as graph nodes, so plan, drift and teardown cover them like the
// rest of the stack: one Azure Compute Gallery per stack and one image definition in it (Linux,
// generalized, Gen2, Trusted Launch supported), in the stack's own resource group. The image
// versions are not graph nodes: the image-build orchestration makes them (one per image key,
// shared/node/image-identity.ts), and teardown removes the stack's versions before the definition.
// Also the builder VM and its NIC, the machine an image version is captured from: graph nodes too,
// so the engine's ownership check and secret handling apply, but never part of the stack graph (the
// build applies and removes them; a teardown adds the leftovers of any build to the graph it removes,
// `imageBuilderRemovalNodes`). Pure, like stack-graph.ts, which calls `nodeImageNodes`.
import type { StackSpec } from "../spec/types";
import {
  imageBuilderNames,
  INLINE_NAMES,
  nodeImageNames,
  resourceGroupId,
  VM_ADMIN_USERNAME,
  VM_SSH_PUBLIC_KEY_SECRET,
  type StackNames,
  type WebNodeNames,
} from "./names";
import type { DesiredJson, GraphNode } from "./types";

/**
 * The galleries' api-version: the one @azure/arm-compute 24.1.0 sends for gallery operations, so the
 * engine's generic reads and the SDK's version calls see the same documents (the emulator speaks it).
 */
export const GALLERY_API_VERSION = "2025-03-03";

/** Graph keys of the node image's resources. */
export const IMAGE_KEYS = {
  gallery: "gallery",
  definition: "gallery:image",
} as const;

/** The image definition's identifier (publisher, offer, sku are one definition per gallery). */
export const NODE_IMAGE_IDENTIFIER = { publisher: "Jumpgate", offer: "jumpgate-node", sku: "ubuntu-24_04" } as const;

/** Whether the stack keeps a node image (the spec's opt-in). */
export function nodeImageEnabled(spec: Pick<StackSpec, "nodeImage">): boolean {
  return spec.nodeImage?.enabled === true;
}

/** The gallery and the image definition, or none when the spec does not opt in. */
export function nodeImageNodes(spec: StackSpec, tags: Record<string, string>): GraphNode[] {
  if (!nodeImageEnabled(spec)) return [];
  const ids = nodeImageNames(spec);
  const gallery: GraphNode = {
    key: IMAGE_KEYS.gallery,
    kind: "gallery",
    id: ids.galleryId,
    apiVersion: GALLERY_API_VERSION,
    body: {
      location: spec.location,
      tags: { ...tags },
      properties: { description: `Jumpgate node images of stack ${spec.name}` },
    },
    dependsOn: ["rg"],
    latencyClass: "fast",
  };
  const definition: GraphNode = {
    key: IMAGE_KEYS.definition,
    kind: "galleryImage",
    id: ids.imageDefinitionId,
    apiVersion: GALLERY_API_VERSION,
    body: {
      location: spec.location,
      tags: { ...tags },
      properties: {
        osType: "Linux",
        osState: "Generalized",
        // the web nodes are Gen2 Trusted Launch VMs, and so is the builder the versions are captured from
        hyperVGeneration: "V2",
        architecture: "x64",
        features: [{ name: "SecurityType", value: "TrustedLaunchSupported" }],
        identifier: { ...NODE_IMAGE_IDENTIFIER },
        description: `Jumpgate web node (Guacamole, Tomcat, NGINX) baked from ${spec.fleet.image.offer}`,
      },
    },
    dependsOn: [IMAGE_KEYS.gallery],
    // ARM refuses a change of these after creation
    createOnly: [
      "properties.osType",
      "properties.osState",
      "properties.hyperVGeneration",
      "properties.identifier",
      "properties.features",
    ],
    latencyClass: "fast",
  };
  return [gallery, definition];
}

/** @azure/arm-network and @azure/arm-compute api-versions the builder's NIC and VM are written with. */
const BUILDER_API = { network: "2024-05-01", compute: "2024-07-01" } as const;

/**
 * The builder of one image version: a NIC in the stack's web subnet, without a public IP, and a VM
 * from the spec's marketplace image with the bake custom data. The NIC joins the load balancer's
 * backend pool only for egress: the web subnet has no default outbound access, and the pool's
 * outbound rule is the stack's way out to the package mirrors and release archives. It never
 * receives users' traffic, because it never answers the health probe (a bake starts nothing).
 */
export function imageBuilderNodes(
  spec: StackSpec,
  names: Pick<StackNames, "webSubnetId" | "lbBackendPoolId" | "keyVaultId">,
  tags: Record<string, string>,
  version: string,
  customData: string,
): { nic: GraphNode; vm: GraphNode } {
  const n = imageBuilderNames(spec, version);
  const nic: GraphNode = {
    key: `nic:${n.node}`,
    kind: "networkInterface",
    id: n.nicId,
    apiVersion: BUILDER_API.network,
    body: {
      location: spec.location,
      tags: { ...tags },
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
      },
    },
    dependsOn: [],
    latencyClass: "fast",
  };
  const { publisher, offer, sku, version: imageVersion } = spec.fleet.image;
  const image: { [k: string]: DesiredJson } = { publisher, offer, sku, version: imageVersion };
  const vm: GraphNode = {
    key: `vm:${n.node}`,
    kind: "virtualMachine",
    id: n.vmId,
    apiVersion: BUILDER_API.compute,
    body: {
      location: spec.location,
      tags: { ...tags },
      properties: {
        hardwareProfile: { vmSize: spec.fleet.vmSize },
        storageProfile: {
          imageReference: image,
          osDisk: {
            name: n.osDisk,
            createOption: "FromImage",
            caching: "ReadWrite",
            managedDisk: { storageAccountType: "StandardSSD_LRS" },
            // the disk goes with the VM; the build deletes it itself too when a VM went without it
            deleteOption: "Delete",
          },
        },
        osProfile: {
          computerName: n.computerName,
          adminUsername: VM_ADMIN_USERNAME,
          customData,
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            provisionVMAgent: true, // Run Command needs the agent
            ssh: { publicKeys: [{ path: `/home/${VM_ADMIN_USERNAME}/.ssh/authorized_keys` }] },
          },
        },
        securityProfile: {
          securityType: "TrustedLaunch",
          uefiSettings: { secureBootEnabled: true, vTpmEnabled: true },
        },
        networkProfile: {
          networkInterfaces: [{ id: n.nicId, properties: { primary: true, deleteOption: "Delete" } }],
        },
        diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      },
    },
    dependsOn: [nic.key],
    writeOnly: ["properties.osProfile.customData"],
    createOnly: ["properties.osProfile", "properties.storageProfile"],
    secretValues: {
      "properties.osProfile.linuxConfiguration.ssh.publicKeys.0.keyData": VM_SSH_PUBLIC_KEY_SECRET,
    },
    secretVault: { id: names.keyVaultId, apiVersion: "2024-11-01" },
    latencyClass: "slow",
  };
  return { nic, vm };
}

/** The managed disks' api-version (@azure/arm-compute 24.1.0's for disks; the emulator speaks it). */
const DISK_API_VERSION = "2025-01-02";

/**
 * What a teardown removes of a builder an image build may have left (the build removes its own, but
 * a teardown can stop a build before it does): the VM, then its NIC and OS disk, and the NIC before
 * the network and the load balancer it sits in (Azure refuses to delete a subnet with a NIC in it,
 * InUseSubnetCannotBeDeleted, and a load balancer whose pool a NIC is in). For removal only: the
 * bodies are what the engine's ownership check reads, the tags; `graphKeys` are the stack graph's
 * keys of the resource group, the network and the load balancer.
 */
export function imageBuilderRemovalNodes(
  spec: Pick<StackSpec, "subscriptionId" | "resourceGroup" | "location">,
  builder: WebNodeNames,
  tags: Record<string, string>,
  graphKeys: { rg: string; vnet: string; lb: string },
): GraphNode[] {
  const body = { location: spec.location, tags: { ...tags } };
  const nic: GraphNode = {
    key: `nic:${builder.node}`,
    kind: "networkInterface",
    id: builder.nicId,
    apiVersion: BUILDER_API.network,
    body,
    dependsOn: [graphKeys.vnet, graphKeys.lb],
    latencyClass: "fast",
  };
  const disk: GraphNode = {
    key: `disk:${builder.node}`,
    kind: "disk",
    id: `${resourceGroupId(spec.subscriptionId, spec.resourceGroup)}/providers/Microsoft.Compute/disks/${builder.osDisk}`,
    apiVersion: DISK_API_VERSION,
    body,
    dependsOn: [graphKeys.rg],
    latencyClass: "fast",
  };
  const vm: GraphNode = {
    key: `vm:${builder.node}`,
    kind: "virtualMachine",
    id: builder.vmId,
    apiVersion: BUILDER_API.compute,
    body,
    // removed before both: a VM's NIC and attached OS disk cannot be deleted while it exists
    dependsOn: [nic.key, disk.key],
    latencyClass: "slow",
  };
  return [nic, disk, vm];
}
