// Starts an in-process emulator and builds the app's real client factory pointed at it.
import * as https from "node:https";
import type { VirtualMachine } from "@azure/arm-compute";
import { Emulator, type EmulatorOptions } from "../emulator/arm/emulator";
import { AzureClientFactory } from "../shared/azure/clients";
import type { AzureClientSettings } from "../shared/azure/settings";

export const SUB = "00000000-0000-0000-0000-00000000a001";
export const RG = "rg-jumpgate-test";
export const LOCATION = "westeurope";

export interface AzureFixture {
  emulator: Emulator;
  factory: AzureClientFactory;
  settings: AzureClientSettings;
  stop(): Promise<void>;
}

export async function startAzure(
  options: EmulatorOptions = {},
  overrides: Partial<AzureClientSettings> = {},
): Promise<AzureFixture> {
  const emulator = new Emulator(options);
  await emulator.start();
  const settings = emulatorClientSettings(emulator, overrides);
  const factory = new AzureClientFactory(settings);
  return { emulator, factory, settings, stop: () => emulator.stop() };
}

/** The app's client settings pointed at a started emulator: fixed token, its CA, fast polls. */
export function emulatorClientSettings(
  emulator: Emulator,
  overrides: Partial<AzureClientSettings> = {},
): AzureClientSettings {
  return {
    armEndpoint: emulator.url,
    metricsEndpoint: emulator.url,
    credential: "emulator",
    caPem: emulator.caPem,
    verifyKeyVaultChallengeResource: false,
    requestTimeoutMs: 5_000,
    lroPollIntervalMs: 5,
    lroTimeoutMs: 30_000,
    retry: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 50 },
    ...overrides,
  };
}

/**
 * The resource group, a VNet with a `web` subnet, and per name a NIC in it and an Ubuntu VM on that
 * NIC: what the Run Command and node agent tests run their commands on. `extra` goes into each VM's
 * document (an identity, say).
 */
export async function createTestVms(
  az: AzureFixture,
  names: readonly string[],
  extra: Partial<VirtualMachine> = {},
): Promise<VirtualMachine[]> {
  const lro = () => az.factory.lro();
  await az.factory.resources(SUB).resourceGroups.createOrUpdate(RG, { location: LOCATION }, az.factory.call());
  const net = az.factory.network(SUB);
  const vnet = await net.virtualNetworks.beginCreateOrUpdateAndWait(
    RG,
    "vnet",
    {
      location: LOCATION,
      addressSpace: { addressPrefixes: ["10.40.0.0/16"] },
      subnets: [{ name: "web", addressPrefix: "10.40.1.0/24" }],
    },
    lro(),
  );
  const vms: VirtualMachine[] = [];
  for (const name of names) {
    const nic = await net.networkInterfaces.beginCreateOrUpdateAndWait(
      RG,
      `${name}-nic`,
      { location: LOCATION, ipConfigurations: [{ name: "ipc", subnet: { id: vnet.subnets![0].id } }] },
      lro(),
    );
    const vm = await az.factory.compute(SUB).virtualMachines.beginCreateOrUpdateAndWait(
      RG,
      name,
      {
        location: LOCATION,
        hardwareProfile: { vmSize: "Standard_B2s" },
        storageProfile: {
          imageReference: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
          osDisk: { createOption: "FromImage" },
        },
        osProfile: { computerName: name, adminUsername: "jumpgate" },
        networkProfile: { networkInterfaces: [{ id: nic.id, primary: true }] },
        ...extra,
      },
      lro(),
    );
    vms.push(vm);
  }
  return vms;
}

export function rgId(rg = RG, sub = SUB): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}`;
}

/**
 * The exact bytes ARM (the emulator) answers a GET of `id` with, or undefined on 404: what a test
 * compares to prove a resource was not touched at all, not even a tag or a property it does not read.
 */
export function armGetRaw(emulator: Emulator, id: string, apiVersion: string): Promise<string | undefined> {
  const url = new URL(`${emulator.url}${id}?api-version=${apiVersion}`);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method: "GET", ca: emulator.caPem, headers: { authorization: "Bearer test" }, timeout: 5_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode === 404) resolve(undefined);
          else if (res.statusCode === 200) resolve(body);
          else reject(new Error(`GET ${id}: ${res.statusCode} ${body.slice(0, 300)}`));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${id} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
