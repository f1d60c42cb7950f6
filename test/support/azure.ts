// Starts an in-process emulator and builds the app's real client factory pointed at it.
import { Emulator, type EmulatorOptions } from "../../emulator/arm/emulator";
import { AzureClientFactory } from "../../shared/azure/clients";
import type { AzureClientSettings } from "../../shared/azure/settings";

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
  const url = await emulator.start();
  const settings: AzureClientSettings = {
    armEndpoint: url,
    metricsEndpoint: url,
    credential: "emulator",
    caPem: emulator.caPem,
    verifyKeyVaultChallengeResource: false,
    requestTimeoutMs: 5_000,
    lroPollIntervalMs: 5,
    lroTimeoutMs: 30_000,
    retry: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 50 },
    ...overrides,
  };
  const factory = new AzureClientFactory(settings);
  return { emulator, factory, settings, stop: () => emulator.stop() };
}

export function rgId(rg = RG, sub = SUB): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}`;
}
