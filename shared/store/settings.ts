// Typed options of Jumpgate's table store, bound from app settings (or given directly by tests).
// Two ways into the Function App's storage account, as the Functions host reads AzureWebJobsStorage:
// a connection string (shared key; Azurite locally), or identity-based (`AzureWebJobsStorage__*`:
// a Microsoft Entra token of the app's managed identity, no secret in the settings).
import { ConfigError, readIntSetting, readSetting, SETTINGS, type Env } from "../config";
import { isLoopback } from "../azure/settings";

/** Shared-key access by connection string. */
export interface StoreConnectionStringAccess {
  /** a storage account connection string; `UseDevelopmentStorage=true` means the local Azurite */
  connectionString: string;
  tableEndpoint?: never;
  credential?: never;
  clientId?: never;
}

/** Identity-based access: Microsoft Entra bearer tokens, no secret. */
export interface StoreIdentityAccess {
  connectionString?: never;
  /** the Table service URL, e.g. `https://<account>.table.core.windows.net` (no trailing slash) */
  tableEndpoint: string;
  /**
   * `managedidentity`: ManagedIdentityCredential (the user-assigned identity `clientId`, else the
   * system-assigned one); `default`: DefaultAzureCredential (in Azure it picks `AZURE_CLIENT_ID`)
   */
  credential: StoreCredentialKind;
  /** client id (GUID) of a user-assigned managed identity; only with `credential: "managedidentity"` */
  clientId?: string;
}

export type StoreCredentialKind = "managedidentity" | "default";

export type StoreAccess = StoreConnectionStringAccess | StoreIdentityAccess;

export type StoreSettings = StoreAccess & {
  /** prepended to every table name, so several apps can share one account */
  tablePrefix: string;
  /** deadline of one HTTP attempt to Table Storage, in milliseconds */
  requestTimeoutMs: number;
  retry: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
};

/** The longest table suffix Jumpgate uses ("stacks", "events"); table names are at most 63 characters. */
const LONGEST_TABLE_SUFFIX = "repairs".length; // the longest of TABLE_SUFFIXES (tables.ts)

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Azure storage account names: 3-24 lowercase letters and digits. */
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

const STORAGE = SETTINGS.storage.name;
const ACCOUNT = SETTINGS.storageAccountName.name;
const SERVICE_URI = SETTINGS.storageTableServiceUri.name;
const CREDENTIAL = SETTINGS.storageCredential.name;
const CLIENT_ID = SETTINGS.storageClientId.name;

export function usesConnectionString(s: StoreAccess): s is StoreConnectionStringAccess {
  return typeof s.connectionString === "string";
}

/** `env` defaults to the process environment inside shared/config.ts. */
export function storeSettingsFromEnv(env?: Env): StoreSettings {
  return validateStoreSettings({
    ...storeAccessFromEnv(env),
    tablePrefix: readSetting("tablePrefix", env) ?? "jumpgate",
    requestTimeoutMs: readIntSetting("requestTimeoutMs", env, 1),
    retry: {
      maxRetries: readIntSetting("retryMax", env),
      retryDelayInMs: readIntSetting("retryDelayMs", env),
      maxRetryDelayInMs: readIntSetting("retryMaxDelayMs", env),
    },
  });
}

/**
 * A connection string in AzureWebJobsStorage wins (the `__` settings are then ignored, as the
 * Functions host ignores them); otherwise the identity-based settings name the account.
 */
export function storeAccessFromEnv(env?: Env): StoreAccess {
  const connectionString = readSetting("storage", env);
  if (connectionString) return { connectionString };
  const accountName = readSetting("storageAccountName", env);
  const serviceUri = readSetting("storageTableServiceUri", env);
  if (!accountName && !serviceUri) {
    throw new ConfigError(
      `Jumpgate keeps its stack registry in the Function App's storage account, and no storage is configured: ` +
        `set ${STORAGE} to a connection string (UseDevelopmentStorage=true for Azurite), or, identity-based, ` +
        `${ACCOUNT}=<account> (or ${SERVICE_URI}=https://<account>.table.core.windows.net) with ${CREDENTIAL}=managedidentity`,
    );
  }
  if (accountName && !ACCOUNT_NAME.test(accountName)) {
    throw new ConfigError(
      `${ACCOUNT} must be a storage account name (3-24 lowercase letters and digits), got '${accountName}'`,
    );
  }
  const rawCredential = readSetting("storageCredential", env);
  let credential: StoreCredentialKind;
  if (rawCredential === undefined) credential = "default";
  else if (rawCredential.toLowerCase() === "managedidentity") credential = "managedidentity";
  else {
    throw new ConfigError(
      `${CREDENTIAL} must be 'managedidentity' (the Function App's managed identity), or unset for DefaultAzureCredential; got '${rawCredential}'`,
    );
  }
  const clientId = readSetting("storageClientId", env);
  return {
    tableEndpoint: serviceUri ?? `https://${accountName}.table.core.windows.net`,
    credential,
    ...(clientId !== undefined ? { clientId } : {}),
  };
}

/** Refuses a table prefix Azure would reject, plain http anywhere but loopback, and malformed identity settings. */
export function validateStoreSettings(s: StoreSettings): StoreSettings {
  const maxPrefix = 63 - LONGEST_TABLE_SUFFIX;
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(s.tablePrefix) || s.tablePrefix.length > maxPrefix) {
    throw new ConfigError(
      `JUMPGATE_TABLE_PREFIX must be 1-${maxPrefix} letters and digits starting with a letter, got '${s.tablePrefix}'`,
    );
  }
  if (usesConnectionString(s)) {
    const endpoint = tableEndpointOf(s.connectionString);
    if (endpoint?.startsWith("http:") && !isLoopback(endpoint)) {
      throw new ConfigError(`${STORAGE}: plain http is accepted only on loopback (Azurite), got ${endpoint}`);
    }
    return s;
  }
  return { ...s, tableEndpoint: validTableEndpoint(s.tableEndpoint), ...validIdentity(s) };
}

function validTableEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ConfigError(`${SERVICE_URI} is not a URL: '${endpoint}'`);
  }
  if (url.protocol === "http:") {
    // the Azure SDK sends bearer tokens over https only, and so does Azurite accept them
    throw new ConfigError(
      isLoopback(endpoint)
        ? `${SERVICE_URI}: identity-based storage needs https even on loopback (bearer tokens are never sent over http; start Azurite with --oauth basic --cert --key), got ${endpoint}`
        : `${SERVICE_URI} must use https, got ${endpoint}`,
    );
  }
  if (url.protocol !== "https:") throw new ConfigError(`${SERVICE_URI} must use https, got ${endpoint}`);
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(`${SERVICE_URI} must be a plain service URL (no user, query or fragment), got ${endpoint}`);
  }
  return endpoint.replace(/\/+$/, "");
}

function validIdentity(s: StoreIdentityAccess): Pick<StoreIdentityAccess, "credential" | "clientId"> {
  if (s.credential !== "managedidentity" && s.credential !== "default") {
    throw new ConfigError(`${CREDENTIAL} must be 'managedidentity', or unset for DefaultAzureCredential`);
  }
  if (s.clientId === undefined) return { credential: s.credential };
  if (!GUID.test(s.clientId)) {
    throw new ConfigError(
      `${CLIENT_ID} must be the client id (a GUID) of the user-assigned managed identity, got '${s.clientId}'`,
    );
  }
  if (s.credential !== "managedidentity") {
    throw new ConfigError(
      `${CLIENT_ID} is used only with ${CREDENTIAL}=managedidentity: set that too (or drop ${CLIENT_ID} and set AZURE_CLIENT_ID for DefaultAzureCredential)`,
    );
  }
  return { credential: s.credential, clientId: s.clientId };
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
