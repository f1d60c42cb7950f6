// Typed options of Jumpgate's table store, bound from app settings (or given directly by tests).
import { ConfigError, readIntSetting, readSetting, type Env } from "../config";
import { isLoopback } from "../azure/settings";

export interface StoreSettings {
  /** a storage account connection string; `UseDevelopmentStorage=true` means the local Azurite */
  connectionString: string;
  /** prepended to every table name, so several apps can share one account */
  tablePrefix: string;
  /** deadline of one HTTP attempt to Table Storage, in milliseconds */
  requestTimeoutMs: number;
  retry: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
}

/** The longest table suffix Jumpgate uses ("stacks", "events"); table names are at most 63 characters. */
const LONGEST_TABLE_SUFFIX = "repairs".length; // the longest of TABLE_SUFFIXES (tables.ts)

/** `env` defaults to the process environment inside shared/config.ts. */
export function storeSettingsFromEnv(env?: Env): StoreSettings {
  const connectionString = readSetting("storage", env);
  if (!connectionString) {
    throw new ConfigError(
      "AzureWebJobsStorage is not set: Jumpgate keeps its stack registry in the Function App's storage account (UseDevelopmentStorage=true for Azurite)",
    );
  }
  return validateStoreSettings({
    connectionString,
    tablePrefix: readSetting("tablePrefix", env) ?? "jumpgate",
    requestTimeoutMs: readIntSetting("requestTimeoutMs", env, 1),
    retry: {
      maxRetries: readIntSetting("retryMax", env),
      retryDelayInMs: readIntSetting("retryDelayMs", env),
      maxRetryDelayInMs: readIntSetting("retryMaxDelayMs", env),
    },
  });
}

/** Refuses a table prefix Azure would reject, and plain http anywhere but loopback. */
export function validateStoreSettings(s: StoreSettings): StoreSettings {
  const maxPrefix = 63 - LONGEST_TABLE_SUFFIX;
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(s.tablePrefix) || s.tablePrefix.length > maxPrefix) {
    throw new ConfigError(
      `JUMPGATE_TABLE_PREFIX must be 1-${maxPrefix} letters and digits starting with a letter, got '${s.tablePrefix}'`,
    );
  }
  const endpoint = tableEndpointOf(s.connectionString);
  if (endpoint?.startsWith("http:") && !isLoopback(endpoint)) {
    throw new ConfigError(`AzureWebJobsStorage: plain http is accepted only on loopback (Azurite), got ${endpoint}`);
  }
  return s;
}

/**
 * The table endpoint a connection string names, or undefined when it leaves it to the SDK
 * (`UseDevelopmentStorage=true`, or an account name with the public endpoint suffix).
 */
export function tableEndpointOf(connectionString: string): string | undefined {
  const parts = new Map<string, string>();
  for (const pair of connectionString.split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0) parts.set(pair.slice(0, eq).trim().toLowerCase(), pair.slice(eq + 1).trim());
  }
  if (parts.get("usedevelopmentstorage")?.toLowerCase() === "true") return undefined;
  const explicit = parts.get("tableendpoint");
  if (explicit) return explicit;
  const protocol = parts.get("defaultendpointsprotocol");
  const account = parts.get("accountname");
  if (protocol && account) return `${protocol}://${account}.table.${parts.get("endpointsuffix") ?? "core.windows.net"}`;
  return undefined;
}

/** The SDK needs `allowInsecureConnection` for http; only loopback gets it (validated above). */
export function needsInsecureConnection(connectionString: string): boolean {
  const endpoint = tableEndpointOf(connectionString);
  return endpoint !== undefined && endpoint.startsWith("http:") && isLoopback(endpoint);
}
