// Azure Compute Gallery through the pinned @azure/arm-compute 24.1.0 client against the emulator, in
// `instant` and `async` LRO mode: what a node-image build needs (gallery, image definition, a builder
// VM deallocated and generalized, an image version captured from it and tagged with its catalog
// digest, the builder deleted) and what a fleet then does with it (VMs and scale set instances boot
// from the version or from the definition's latest, and the emulator records which image each booted
// from, so tests and node stand-ins tell image-based boots from marketplace ones).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ComputeManagementClient, VirtualMachine } from "@azure/arm-compute";
import { bootImageOf, MARKETPLACE_LATEST_VERSION } from "../../emulator/arm/providers/compute";
import { LOCATION, RG, rgId, startAzure, SUB, type AzureFixture } from "../../dev/azure";

type RestError = { statusCode?: number; code?: string; message?: string };
const IMAGE = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" };
const DIGEST = "sha256:5f1e0c2a9d4b7e3f";

function rejectsWith(status: number, code: string, message?: RegExp) {
  return (e: RestError) => {
    assert.equal(e.code, code, e.message);
    assert.equal(e.statusCode, status, e.message);
    if (message) assert.match(e.message ?? "", message);
    return true;
  };
}

for (const mode of ["instant", "async"] as const) {
  describe(`Azure Compute Gallery conformance (${mode} LRO mode)`, () => {
    let az: AzureFixture;
    let compute: ComputeManagementClient;
    const lro = () => az.factory.lro();
    const call = () => az.factory.call();
    let subnet = "";
    let builderId = "";
    let versionId = "";

    /** A NIC in the web subnet, then a VM on it. */
    async function vm(name: string, imageReference: object, location = LOCATION): Promise<VirtualMachine> {
      const nic = await az.factory
        .network(SUB)
        .networkInterfaces.beginCreateOrUpdateAndWait(
          RG,
          `${name}-nic`,
          { location, ipConfigurations: [{ name: "ipc", subnet: { id: subnet } }] },
          lro(),
        );
      return compute.virtualMachines.createOrUpdate(
        RG,
        name,
        {
          location,
          hardwareProfile: { vmSize: "Standard_B2s" },
          storageProfile: { imageReference, osDisk: { createOption: "FromImage", deleteOption: "Delete" } },
          osProfile: {
            computerName: name,
            adminUsername: "jumpgate",
            linuxConfiguration: { disablePasswordAuthentication: true },
          },
          networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Delete" }] },
        },
        lro(),
      );
    }

    before(async () => {
      az = await startAzure({ lro: { mode, pollsBeforeDone: 2 } });
      compute = az.factory.compute(SUB);
      await az.factory.resources(SUB).resourceGroups.createOrUpdate(RG, { location: LOCATION }, call());
      const vnet = await az.factory.network(SUB).virtualNetworks.beginCreateOrUpdateAndWait(
        RG,
        "vnet",
        {
          location: LOCATION,
          addressSpace: { addressPrefixes: ["10.40.0.0/16"] },
          subnets: [{ name: "web", addressPrefix: "10.40.1.0/24" }],
        },
        lro(),
      );
      subnet = vnet.subnets![0].id!;
    });
    after(() => az?.stop());

    test("gallery and image definition: created through capsOperations, defaults and fixed properties as Azure has them", async () => {
      az.emulator.journal.clear();
      const gallery = await compute.galleries.createOrUpdate(
        RG,
        "jggallery",
        { location: LOCATION, description: "node images" },
        lro(),
      );
      assert.equal(gallery.provisioningState, "Succeeded");
      assert.equal(gallery.identifier?.uniqueName, `${SUB}-JGGALLERY`);
      const definition = await compute.galleryImages.createOrUpdate(
        RG,
        "jggallery",
        "guacamole-node",
        {
          location: LOCATION,
          osType: "Linux",
          osState: "Generalized",
          hyperVGeneration: "V2",
          identifier: { publisher: "jumpgate", offer: "guacamole-node", sku: "ubuntu-24_04" },
          features: [{ name: "SecurityType", value: "TrustedLaunch" }],
        },
        lro(),
      );
      assert.equal(definition.provisioningState, "Succeeded");
      assert.equal(definition.architecture, "x64");
      if (mode === "async") {
        const puts = az.emulator.journal.list({ method: "PUT", type: "Microsoft.Compute/galleries/images" });
        assert.equal(puts.at(-1)?.status, 201);
      }
      // the identifier names one definition; osState, generation and identifier never change
      await assert.rejects(
        compute.galleryImages.createOrUpdate(
          RG,
          "jggallery",
          "copy",
          {
            location: LOCATION,
            osType: "Linux",
            identifier: { publisher: "jumpgate", offer: "guacamole-node", sku: "ubuntu-24_04" },
          },
          lro(),
        ),
        rejectsWith(409, "GalleryImageAlreadyExists"),
      );
      await assert.rejects(
        compute.galleryImages.createOrUpdate(
          RG,
          "jggallery",
          "guacamole-node",
          { ...definition, osState: "Specialized" },
          lro(),
        ),
        rejectsWith(409, "PropertyChangeNotAllowed"),
      );
      // a definition without a generation is Gen1 (as recorded)
      const gen1 = await compute.galleryImages.createOrUpdate(
        RG,
        "jggallery",
        "gen1",
        { location: LOCATION, osType: "Linux", identifier: { publisher: "jumpgate", offer: "gen1", sku: "x" } },
        lro(),
      );
      assert.deepEqual([gen1.hyperVGeneration, gen1.osState], ["V1", "Generalized"]);
    });

    test("builder VM: captured only once deallocated and generalized; a generalized VM never starts again", async () => {
      const builder = await vm("builder", IMAGE);
      builderId = builder.id!;
      assert.deepEqual(bootImageOf(az.emulator, builderId), { kind: "marketplace", ...IMAGE });
      assert.equal(builder.storageProfile?.imageReference?.exactVersion, MARKETPLACE_LATEST_VERSION);
      const capture = () =>
        compute.galleryImageVersions.createOrUpdate(
          RG,
          "jggallery",
          "guacamole-node",
          "1.6.0",
          { location: LOCATION, storageProfile: { source: { virtualMachineId: builderId } } },
          lro(),
        );
      await assert.rejects(capture(), rejectsWith(400, "BadRequest", /different OS state \['Specialized'\]/));
      await assert.rejects(
        compute.virtualMachines.generalize(RG, "builder", call()),
        rejectsWith(409, "OperationNotAllowed", /running/),
      );
      await compute.virtualMachines.deallocate(RG, "builder", lro());
      await compute.virtualMachines.generalize(RG, "builder", call());
      const view = await compute.virtualMachines.instanceView(RG, "builder", call());
      assert.ok(view.statuses?.some((s) => s.code === "OSState/generalized"));
      assert.equal(view.hyperVGeneration, "V2");
      await assert.rejects(
        compute.virtualMachines.start(RG, "builder", lro()),
        rejectsWith(409, "OperationNotAllowed", /generalized/),
      );
      // a Gen2 builder does not fit a Gen1 definition: the version's operation fails, as Azure's does
      await assert.rejects(
        compute.galleryImageVersions.createOrUpdate(
          RG,
          "jggallery",
          "gen1",
          "1.0.0",
          { location: LOCATION, storageProfile: { source: { virtualMachineId: builderId } } },
          lro(),
        ),
        // (a failed operation reaches the caller as the poller's error: the code is in its message)
        (e: RestError) =>
          /Conflict/.test(`${e.code} ${e.message}`) && /different Hypervisor generation \['V2'\]/.test(e.message ?? ""),
      );
    });

    test("image version: captured from the builder, replicated, tagged with the catalog digest; the builder can go", async () => {
      az.emulator.journal.clear();
      const version = await compute.galleryImageVersions.createOrUpdate(
        RG,
        "jggallery",
        "guacamole-node",
        "1.6.0",
        {
          location: LOCATION,
          tags: { "jumpgate-catalog-digest": DIGEST },
          publishingProfile: {
            targetRegions: [{ name: LOCATION, regionalReplicaCount: 2 }],
            replicaCount: 1,
            excludeFromLatest: false,
          },
          storageProfile: { source: { virtualMachineId: builderId } },
        },
        lro(),
      );
      versionId = version.id!;
      assert.equal(version.provisioningState, "Succeeded");
      assert.equal(version.tags?.["jumpgate-catalog-digest"], DIGEST);
      assert.deepEqual(
        version.publishingProfile?.targetRegions?.map((r) => [r.name, r.regionalReplicaCount, r.storageAccountType]),
        [["West Europe", 2, "Standard_LRS"]],
      );
      assert.ok(version.publishingProfile?.publishedDate instanceof Date);
      assert.equal(version.storageProfile?.osDiskImage?.sizeInGB, 30);
      assert.equal(version.storageProfile?.source?.virtualMachineId, builderId);
      const expanded = await compute.galleryImageVersions.get(RG, "jggallery", "guacamole-node", "1.6.0", {
        ...call(),
        expand: "ReplicationStatus",
      });
      assert.equal(expanded.replicationStatus?.aggregatedState, "Completed");
      if (mode === "async") {
        const put = az.emulator.journal
          .list({ method: "PUT", type: "Microsoft.Compute/galleries/images/versions" })
          .at(-1);
        assert.equal(put?.status, 201);
      }
      await assert.rejects(
        compute.galleryImageVersions.createOrUpdate(
          RG,
          "jggallery",
          "guacamole-node",
          "v2",
          { location: LOCATION, storageProfile: { source: { virtualMachineId: builderId } } },
          lro(),
        ),
        rejectsWith(400, "InvalidParameter"),
      );
      await compute.virtualMachines.delete(RG, "builder", lro());
      assert.equal(
        (await compute.galleryImageVersions.get(RG, "jggallery", "guacamole-node", "1.6.0", call())).provisioningState,
        "Succeeded",
      );
    });

    test("a node boots from the version, or from the definition's latest version not excluded from latest", async () => {
      const byVersion = await vm("web-1", { id: versionId });
      assert.equal(byVersion.storageProfile?.imageReference?.exactVersion, "1.6.0");
      assert.deepEqual(bootImageOf(az.emulator, byVersion.id!), {
        kind: "gallery",
        imageVersionId: versionId,
        imageDefinitionId: versionId.replace(/\/versions\/1\.6\.0$/, ""),
        version: "1.6.0",
        requested: versionId,
      });
      // a newer version marked excludeFromLatest is not what `latest` boots
      const managed = await compute.images
        .createOrUpdate(RG, "unused", { location: LOCATION, sourceVirtualMachine: { id: byVersion.id } }, lro())
        .catch((e: RestError) => e);
      assert.equal(
        (managed as RestError).code,
        "OperationNotAllowed",
        "a running VM is not captured into a managed image",
      );
      const canary = await vm("canary-builder", IMAGE);
      await compute.virtualMachines.deallocate(RG, "canary-builder", lro());
      await compute.virtualMachines.generalize(RG, "canary-builder", call());
      await compute.galleryImageVersions.createOrUpdate(
        RG,
        "jggallery",
        "guacamole-node",
        "1.7.0",
        {
          location: LOCATION,
          publishingProfile: { excludeFromLatest: true },
          storageProfile: { source: { virtualMachineId: canary.id } },
        },
        lro(),
      );
      const definitionId = `${rgId()}/providers/Microsoft.Compute/galleries/jggallery/images/guacamole-node`;
      const byLatest = await vm("web-2", { id: definitionId });
      assert.equal(byLatest.storageProfile?.imageReference?.exactVersion, "1.6.0");
      assert.equal((bootImageOf(az.emulator, byLatest.id!) as { requested: string }).requested, definitionId);
      // not replicated to northeurope: Azure's GalleryImageNotFound
      await assert.rejects(
        vm("web-ne", { id: versionId }, "northeurope"),
        rejectsWith(404, "GalleryImageNotFound", /not available in northeurope/),
      );
      await assert.rejects(
        vm("web-missing", { id: `${definitionId}/versions/9.9.9` }),
        rejectsWith(404, "GalleryImageNotFound"),
      );
    });

    test("a scale set's instances boot from the gallery image its profile names", async () => {
      const definitionId = `${rgId()}/providers/Microsoft.Compute/galleries/jggallery/images/guacamole-node`;
      const set = await compute.virtualMachineScaleSets.createOrUpdate(
        RG,
        "web",
        {
          location: LOCATION,
          sku: { name: "Standard_B2s", capacity: 2 },
          orchestrationMode: "Flexible",
          platformFaultDomainCount: 1,
          virtualMachineProfile: {
            storageProfile: { imageReference: { id: definitionId } },
            osProfile: { computerNamePrefix: "web", adminUsername: "jumpgate" },
            networkProfile: {
              networkApiVersion: "2022-11-01",
              networkInterfaceConfigurations: [
                { name: "nic", primary: true, ipConfigurations: [{ name: "ipc", subnet: { id: subnet } }] },
              ],
            },
          },
        },
        lro(),
      );
      const instances = [];
      for await (const v of compute.virtualMachines.list(RG, call())) {
        if (v.virtualMachineScaleSet?.id?.toLowerCase() === set.id!.toLowerCase()) instances.push(v);
      }
      assert.equal(instances.length, 2);
      for (const i of instances) {
        assert.equal(bootImageOf(az.emulator, i.id!)?.kind, "gallery");
        assert.equal(i.storageProfile?.imageReference?.exactVersion, "1.6.0");
      }
      // the profile itself keeps what was asked for
      assert.equal(set.virtualMachineProfile?.storageProfile?.imageReference?.exactVersion, undefined);
      await assert.rejects(
        compute.virtualMachineScaleSets.createOrUpdate(
          RG,
          "web-ne",
          {
            location: "northeurope",
            sku: { name: "Standard_B2s", capacity: 0 },
            orchestrationMode: "Flexible",
            platformFaultDomainCount: 1,
            virtualMachineProfile: { storageProfile: { imageReference: { id: versionId } } },
          },
          lro(),
        ),
        rejectsWith(404, "GalleryImageNotFound"),
      );
    });

    test("managed images, and nested resources deleted before what holds them", async () => {
      const source = await vm("capture", IMAGE);
      await compute.virtualMachines.deallocate(RG, "capture", lro());
      await compute.virtualMachines.generalize(RG, "capture", call());
      const image = await compute.images.createOrUpdate(
        RG,
        "node-image",
        { location: LOCATION, sourceVirtualMachine: { id: source.id } },
        lro(),
      );
      assert.equal(image.provisioningState, "Succeeded");
      const fromImage = await vm("web-3", { id: image.id });
      assert.deepEqual(bootImageOf(az.emulator, fromImage.id!), { kind: "managedImage", imageId: image.id });
      await compute.galleryImageVersions.createOrUpdate(
        RG,
        "jggallery",
        "guacamole-node",
        "1.6.1",
        { location: LOCATION, storageProfile: { source: { id: image.id } } },
        lro(),
      );

      await assert.rejects(compute.galleries.delete(RG, "jggallery", lro()), rejectsWith(409, "CannotDeleteResource"));
      await assert.rejects(
        compute.galleryImages.delete(RG, "jggallery", "guacamole-node", lro()),
        rejectsWith(409, "CannotDeleteResource"),
      );
      for (const d of ["guacamole-node", "gen1"]) {
        // (the Gen1 definition keeps its failed version in async mode, as Azure keeps one)
        for await (const v of compute.galleryImageVersions.listByGalleryImage(RG, "jggallery", d, call())) {
          await compute.galleryImageVersions.delete(RG, "jggallery", d, v.name!, lro());
        }
      }
      for (const d of ["guacamole-node", "gen1"]) await compute.galleryImages.delete(RG, "jggallery", d, lro());
      await compute.galleries.delete(RG, "jggallery", lro());
      await assert.rejects(compute.galleries.get(RG, "jggallery", call()), (e: RestError) => e.statusCode === 404);
    });
  });
}
