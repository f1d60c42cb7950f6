// Typed options of the Azure client factory, bound from app settings (or given directly by tests).
import * as fs from "node:fs";
import {
  ConfigError,
  readBoolSetting,
  readIntSetting,
  readSetting,
  SETTINGS,
  type Env,
  type SettingKey,
} from "../config";
import { AZURE_ARM_LIMITS, type ArmBudgetSettings, type BucketSettings } from "./arm-budget";

export interface AzureClientSettings {
  armEndpoint: string;
  /** `{location}` is replaced with the region */
  metricsEndpoint: string;
  credential: "default" | "emulator";
  /** extra CA (PEM) to trust, for the emulator */
  caPem?: string;
  verifyKeyVaultChallengeResource: boolean;
  requestTimeoutMs: number;
  lroPollIntervalMs: number;
  lroTimeoutMs: number;
  retry: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
  /** ARM's token buckets the app paces itself by (shared/azure/arm-budget.ts); absent: no pacing, 429 pauses only */
  budget?: ArmBudgetSettings;
}

export function azureSettingsFromEnv(env: Env = process.env): AzureClientSettings {
  const caFile = readSetting("caFile", env);
  let caPem: string | undefined;
  if (caFile) {
    try {
      caPem = fs.readFileSync(caFile, "utf8");
    } catch (e) {
      throw new ConfigError(`JUMPGATE_AZURE_CA_FILE: cannot read '${caFile}': ${(e as Error).message}`);
    }
  }
  const credential = readSetting("credential", env);
  if (credential !== "default" && credential !== "emulator") {
    throw new ConfigError(`JUMPGATE_AZURE_CREDENTIAL must be 'default' or 'emulator', got '${credential}'`);
  }
  return validateAzureSettings({
    armEndpoint: readSetting("armEndpoint", env)!,
    metricsEndpoint: readSetting("metricsEndpoint", env)!,
    credential,
    caPem,
    verifyKeyVaultChallengeResource: readBoolSetting("keyVaultChallengeVerification", env),
    requestTimeoutMs: readIntSetting("requestTimeoutMs", env, 1),
    lroPollIntervalMs: readIntSetting("lroPollIntervalMs", env, 1),
    lroTimeoutMs: readIntSetting("lroTimeoutMs", env, 1),
    retry: {
      maxRetries: readIntSetting("retryMax", env),
      retryDelayInMs: readIntSetting("retryDelayMs", env),
      maxRetryDelayInMs: readIntSetting("retryMaxDelayMs", env),
    },
    budget: armBudgetFromEnv(env),
  });
}

/** The ARM budget settings: `capacity/perSecond` buckets and the background reserve. */
export function armBudgetFromEnv(env: Env = process.env): ArmBudgetSettings {
  const reserve = readIntSetting("armBackgroundReservePercent", env);
  if (reserve > 90) throw new ConfigError(`${SETTINGS.armBackgroundReservePercent.name} must be 0-90, got ${reserve}`);
  const writes = bucketSetting("armWriteBudget", env);
  return {
    reads: bucketSetting("armReadBudget", env),
    writes,
    deletes: { ...writes },
    resourceGraph: AZURE_ARM_LIMITS.resourceGraph,
    backgroundReserve: reserve / 100,
  };
}

function bucketSetting(key: SettingKey, env: Env): BucketSettings {
  const raw = readSetting(key, env) ?? "";
  const m = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(raw);
  const capacity = m ? Number(m[1]) : Number.NaN;
  const perSecond = m ? Number(m[2]) : Number.NaN;
  if (!(capacity >= 1 && perSecond > 0)) {
    throw new ConfigError(`${SETTINGS[key].name} must be 'capacity/perSecond' (e.g. 250/25), got '${raw}'`);
  }
  return { capacity, perSecond };
}

/** Refuses combinations that would weaken security outside the loopback emulator. */
export function validateAzureSettings(s: AzureClientSettings): AzureClientSettings {
  for (const [name, url] of [
    ["JUMPGATE_ARM_ENDPOINT", s.armEndpoint],
    ["JUMPGATE_METRICS_ENDPOINT", s.metricsEndpoint.replace("{location}", "westeurope")],
  ] as const) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(`${name} is not a URL: '${url}'`);
    }
    if (parsed.protocol !== "https:") throw new ConfigError(`${name} must use https: '${url}'`);
  }
  const loopback = isLoopback(s.armEndpoint);
  if (s.credential === "emulator" && !loopback) {
    throw new ConfigError("JUMPGATE_AZURE_CREDENTIAL=emulator is accepted only with a loopback JUMPGATE_ARM_ENDPOINT");
  }
  if (!s.verifyKeyVaultChallengeResource && !loopback) {
    throw new ConfigError("Key Vault challenge verification can be turned off only against a loopback emulator");
  }
  return s;
}

export function isLoopback(url: string): boolean {
  try {
    const h = new URL(url).hostname;
    return h === "127.0.0.1" || h === "localhost" || h === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(h);
  } catch {
    return false;
  }
}
