// A node image version in the emulator's Azure Compute Gallery, made the way a real one is made
// (a builder VM from the marketplace image, deallocated, generalized, captured into an image version
// of a Generalized V2 definition, the builder deleted), through the app's own SDK clients. For tests
// and the bench, which need a gallery image version to boot web nodes from without running the
// image-build orchestration; nothing is baked here (the node stand-ins model what booting it does).
import type { AzureClientFactory } from "../shared/azure/clients";
import type { BootImage } from "../shared/graph/stack-graph";

export interface NodeImageVersionOptions {
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  /** a subnet for the builder's NIC (the stack's web subnet will do) */
  subnetId: string;
  gallery?: string;
  definition?: string;
  /** MAJOR.MINOR.PATCH (default 1.6.1) */
  version?: string;
  tags?: Record<string, string>;
}

const MARKETPLACE = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" };

/** Creates gallery, definition and version (each idempotent); returns the version as a stack's bootImage. */
export async function createNodeImageVersion(
  factory: AzureClientFactory,
  o: NodeImageVersionOptions,
): Promise<BootImage> {
  const compute = factory.compute(o.subscriptionId);
  const lro = () => factory.lro();
  const call = () => factory.call();
  const gallery = o.gallery ?? "gal_nodes";
  const definition = o.definition ?? "jumpgate-node";
  const version = o.version ?? "1.6.1";
  await compute.galleries.createOrUpdate(o.resourceGroup, gallery, { location: o.location }, lro());
  await compute.galleryImages.createOrUpdate(
    o.resourceGroup,
    gallery,
    definition,
    {
      location: o.location,
      osType: "Linux",
      osState: "Generalized",
      hyperVGeneration: "V2",
      identifier: { publisher: "Jumpgate", offer: "jumpgate-node", sku: "ubuntu-24_04" },
      features: [{ name: "SecurityType", value: "TrustedLaunch" }],
    },
    lro(),
  );
  const builder = `${definition}-builder`.slice(0, 60);
  const nic = await factory
    .network(o.subscriptionId)
    .networkInterfaces.beginCreateOrUpdateAndWait(
      o.resourceGroup,
      `${builder}-nic`,
      { location: o.location, ipConfigurations: [{ name: "ipc", subnet: { id: o.subnetId } }] },
      lro(),
    );
  const vm = await compute.virtualMachines.beginCreateOrUpdateAndWait(
    o.resourceGroup,
    builder,
    {
      location: o.location,
      hardwareProfile: { vmSize: "Standard_B2s" },
      storageProfile: { imageReference: MARKETPLACE, osDisk: { createOption: "FromImage", deleteOption: "Delete" } },
      osProfile: {
        computerName: builder,
        adminUsername: "jumpgate",
        linuxConfiguration: { disablePasswordAuthentication: true },
      },
      networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Delete" }] },
    },
    lro(),
  );
  await compute.virtualMachines.beginDeallocateAndWait(o.resourceGroup, builder, lro());
  await compute.virtualMachines.generalize(o.resourceGroup, builder, call());
  const made = await compute.galleryImageVersions.beginCreateOrUpdateAndWait(
    o.resourceGroup,
    gallery,
    definition,
    version,
    {
      location: o.location,
      ...(o.tags ? { tags: o.tags } : {}),
      publishingProfile: { targetRegions: [{ name: o.location, regionalReplicaCount: 1 }] },
      storageProfile: { source: { virtualMachineId: vm.id } },
    },
    lro(),
  );
  await compute.virtualMachines.beginDeleteAndWait(o.resourceGroup, builder, lro());
  return { id: made.id!, version };
}
