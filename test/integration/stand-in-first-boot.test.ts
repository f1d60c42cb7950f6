// The node stand-ins' first boot (dev/stand-in-agent.ts StandInFleet), through the app's own Run
// Command path (runAgentCommand, the SDK, the emulator) and the node model that reads the answers:
// a VM provisioned from the marketplace image boots from source, one from a gallery image version
// (made the way the image build makes it: a generalized builder captured into a version) boots from
// the image; each says it is still installing for NODE_FIRST_BOOT_MS at the latency scale, then
// answers like a booted node; a from-source boot logs the catalog's download URLs, an image boot
// none; scale 0 makes every node ready at once. The durations are checked against the profile's
// figures from the recorded end of first boot, never by waiting.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NODE_FIRST_BOOT_MS } from "../../emulator/arm/latency";
import { nodeArtifacts } from "../../shared/node/catalog";
import { customDataBase64, renderNodeCloudInit, type NodeBootMode } from "../../shared/node/cloud-init";
import { nodeHealth } from "../../shared/node/model";
import { runAgentCommand } from "../../shared/node/run-agent";
import { LOCATION, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";
import { createNodeImageVersion } from "../../dev/node-image-version";
import { StandInFleet } from "../../dev/stand-in-agent";
import type { BootImage } from "../../shared/graph/stack-graph";

const nodeDocument = (mode: NodeBootMode) =>
  customDataBase64(
    renderNodeCloudInit({
      mode,
      stackName: "lab",
      fleetMode: "availabilitySet",
      publicHostname: "jump.example.com",
      keyVaultUrl: "https://kv-lab.vault.azure.net/",
      dbHost: "lab-mysql.mysql.database.azure.com",
    }),
  );

const MARKETPLACE = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" };

describe("stand-in nodes: first boot from source or from the node image", () => {
  let az: AzureFixture;
  let fleet: StandInFleet;
  let subnet = "";
  let image: BootImage;

  async function vm(name: string, imageReference: object, customData?: string): Promise<number> {
    const nic = await az.factory
      .network(SUB)
      .networkInterfaces.beginCreateOrUpdateAndWait(
        RG,
        `${name}-nic`,
        { location: LOCATION, ipConfigurations: [{ name: "ipc", subnet: { id: subnet } }] },
        az.factory.lro(),
      );
    const before = Date.now();
    await az.factory.compute(SUB).virtualMachines.beginCreateOrUpdateAndWait(
      RG,
      name,
      {
        location: LOCATION,
        hardwareProfile: { vmSize: "Standard_B2s" },
        storageProfile: { imageReference, osDisk: { createOption: "FromImage", deleteOption: "Delete" } },
        osProfile: {
          computerName: name,
          adminUsername: "jumpgate",
          linuxConfiguration: {},
          ...(customData ? { customData } : {}),
        },
        networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Delete" }] },
      },
      az.factory.lro(),
    );
    return before;
  }

  /** first boots at Azure's durations (scale 1), ARM operations without latency (an empty profile) */
  const realBoots = () => {
    az.emulator.latency = { scale: 1, types: {} };
  };

  const health = async (name: string) =>
    nodeHealth(
      await runAgentCommand(az.factory, { subscriptionId: SUB, resourceGroup: RG, vmName: name, command: "health" }),
    );

  before(async () => {
    az = await startAzure({ lro: { mode: "instant" } });
    await az.factory.resources(SUB).resourceGroups.createOrUpdate(RG, { location: LOCATION }, az.factory.call());
    const vnet = await az.factory.network(SUB).virtualNetworks.beginCreateOrUpdateAndWait(
      RG,
      "vnet",
      {
        location: LOCATION,
        addressSpace: { addressPrefixes: ["10.41.0.0/16"] },
        subnets: [{ name: "web", addressPrefix: "10.41.1.0/24" }],
      },
      az.factory.lro(),
    );
    subnet = vnet.subnets![0].id!;
    fleet = new StandInFleet(az.emulator, { everyVm: true });
    image = await createNodeImageVersion(az.factory, {
      subscriptionId: SUB,
      resourceGroup: RG,
      location: LOCATION,
      subnetId: subnet,
      version: "1.6.7",
    });
  });
  after(() => az?.stop());

  test("a marketplace VM installs from source for the profile's time and logs the catalog's downloads", async () => {
    realBoots(); // Azure's real durations: the boot does not end during the test
    const logged = fleet.downloads.length;
    const t0 = await vm("src-1", MARKETPLACE);
    const t1 = Date.now();
    const h = await health("src-1");
    assert.equal(h.answered, true, "the agent is there (cloud-init wrote it) and answers");
    assert.equal(h.installing, true);
    assert.equal(h.healthy, false);
    const boot = fleet.firstBoot("src-1")!;
    assert.equal(boot.from, "source");
    assert.equal(boot.done, false);
    const ready = Date.parse(boot.readyAt!);
    assert.ok(ready >= t0 + NODE_FIRST_BOOT_MS.fromSource && ready <= t1 + NODE_FIRST_BOOT_MS.fromSource);
    // nothing else works yet: credentials can't go in while the installer runs
    const creds = await runAgentCommand(az.factory, {
      subscriptionId: SUB,
      resourceGroup: RG,
      vmName: "src-1",
      command: "db-credentials",
      args: ["--user", "a"],
    });
    assert.equal(creds.exitCode, 1);
    assert.match(creds.stderr ?? "", /still installing/);
    const urls = fleet.downloads.slice(logged).filter((d) => d.vm === "src-1");
    assert.deepEqual(
      urls.map((d) => d.url),
      Object.values(nodeArtifacts()).map((a) => a.urls[0]),
    );
    // outside Azure: the Apache and MySQL archives
    for (const d of urls) assert.match(d.url, /^https:\/\/(archive\.apache\.org|dev\.mysql\.com)\//);
  });

  test("a VM of the gallery image version boots from the image: shorter, and downloads nothing", async () => {
    realBoots();
    const logged = fleet.downloads.length;
    const t0 = await vm("img-1", { id: image.id });
    const t1 = Date.now();
    const h = await health("img-1");
    assert.equal(h.installing, true);
    const boot = fleet.firstBoot("img-1")!;
    assert.equal(boot.from, "image");
    const ready = Date.parse(boot.readyAt!);
    assert.ok(ready >= t0 + NODE_FIRST_BOOT_MS.fromImage && ready <= t1 + NODE_FIRST_BOOT_MS.fromImage);
    assert.ok(NODE_FIRST_BOOT_MS.fromImage < NODE_FIRST_BOOT_MS.fromSource);
    assert.deepEqual(fleet.downloads.slice(logged), [], "an image boot fetches nothing from outside Azure");
  });

  test("at latency scale 0 (the tests' default) a new node is ready at once, from source or image", async () => {
    az.emulator.latency = { scale: 0, types: {} };
    await vm("src-2", MARKETPLACE);
    await vm("img-2", { id: image.id });
    for (const name of ["src-2", "img-2"]) {
      const h = await health(name);
      assert.equal(h.installing, undefined, `${name} has finished its first boot`);
      assert.deepEqual(h.failing, ["database"], `${name}: up, waiting for its database credentials`);
      assert.equal(fleet.firstBoot(name)?.done, true);
    }
  });

  test("a reimage is a new first boot from the VM's image", async () => {
    realBoots();
    const logged = fleet.downloads.length;
    await az.factory.compute(SUB).virtualMachines.beginReimageAndWait(RG, "img-2", az.factory.lro());
    assert.equal((await health("img-2")).installing, true);
    assert.equal(fleet.firstBoot("img-2")?.from, "image");
    assert.deepEqual(fleet.downloads.slice(logged), []);
    await az.factory.compute(SUB).virtualMachines.beginReimageAndWait(RG, "src-2", az.factory.lro());
    assert.equal(fleet.downloads.slice(logged).length, Object.keys(nodeArtifacts()).length);
  });

  test("custom data and image must agree, as the installer insists", async () => {
    realBoots();
    // image-mode custom data on a stock VM: the installer refuses, the node never comes up
    await vm("mismatch-1", MARKETPLACE, nodeDocument("image"));
    const h = await health("mismatch-1");
    assert.equal(h.installing, true);
    assert.match(h.problems.join(" "), /first boot failed: custom data for a node image on a VM that did not boot one/);
    assert.equal(fleet.firstBoot("mismatch-1")?.done, false);
    assert.ok(fleet.firstBoot("mismatch-1")?.failed);
    az.emulator.latency = { scale: 0, types: {} };
    assert.equal((await health("mismatch-1")).installing, true, "not even at scale 0");
    // source-mode custom data on the image: it boots (and downloads) from source all the same
    realBoots();
    const logged = fleet.downloads.length;
    await vm("mismatch-2", { id: image.id }, nodeDocument("source"));
    assert.equal(fleet.firstBoot("mismatch-2")?.from, "source");
    assert.equal(fleet.downloads.slice(logged).length, Object.keys(nodeArtifacts()).length);
    // matching: image-mode custom data on the image
    const before = fleet.downloads.length;
    await vm("match-1", { id: image.id }, nodeDocument("image"));
    assert.equal(fleet.firstBoot("match-1")?.from, "image");
    assert.equal(fleet.downloads.length, before);
  });
});
