// Every app setting Jumpgate reads, in one place: name, meaning and default. Code reads settings only
// through `readSettings()`; a test checks that local.settings.sample.json lists exactly these.

export interface SettingSpec {
  name: string;
  description: string;
  /** the value used when the setting is absent (undefined: optional, no value) */
  default?: string;
  /** the sample value for local.settings.sample.json when it differs from the default */
  sample?: string;
}

export const SETTINGS = {
  storage: {
    // read by the Functions host too; Jumpgate keeps its stack registry and audit trail in this account
    name: "AzureWebJobsStorage",
    description:
      "Storage for the Functions host, Durable task hub and Jumpgate's tables: a connection string (Azurite locally); unset in Azure for identity-based access (AzureWebJobsStorage__*).",
    sample: "UseDevelopmentStorage=true",
  },
  // identity-based AzureWebJobsStorage (the Functions convention `<connection>__<property>`), used when
  // AzureWebJobsStorage itself is unset; the Functions host and the Durable extension read them too
  storageAccountName: {
    name: "AzureWebJobsStorage__accountName",
    description:
      "Identity-based storage, used when AzureWebJobsStorage is unset: the storage account name (Jumpgate's tables are at https://<account>.table.core.windows.net).",
  },
  storageTableServiceUri: {
    name: "AzureWebJobsStorage__tableServiceUri",
    description:
      "Identity-based storage: the Table service URL, e.g. https://<account>.table.core.windows.net; overrides the one derived from AzureWebJobsStorage__accountName (https only: bearer tokens never go over http).",
  },
  storageCredential: {
    name: "AzureWebJobsStorage__credential",
    description:
      "Identity-based storage: `managedidentity` (the Function App's managed identity; the only value accepted). Unset: DefaultAzureCredential, which picks a user-assigned identity by AZURE_CLIENT_ID.",
  },
  storageClientId: {
    name: "AzureWebJobsStorage__clientId",
    description:
      "Identity-based storage with AzureWebJobsStorage__credential=managedidentity: client id (a GUID) of the user-assigned identity; unset: the system-assigned identity.",
  },
  armEndpoint: {
    name: "JUMPGATE_ARM_ENDPOINT",
    description: "Azure Resource Manager endpoint. Point it at the emulator for local runs.",
    default: "https://management.azure.com",
  },
  metricsEndpoint: {
    name: "JUMPGATE_METRICS_ENDPOINT",
    description: "Azure Monitor metrics data-plane endpoint; `{location}` is replaced by the stack's region.",
    default: "https://{location}.metrics.monitor.azure.com",
  },
  credential: {
    name: "JUMPGATE_AZURE_CREDENTIAL",
    description:
      "`default` (DefaultAzureCredential: the Function App's managed identity) or `emulator` (a fixed token, accepted only with loopback endpoints).",
    default: "default",
  },
  caFile: {
    name: "JUMPGATE_AZURE_CA_FILE",
    description: "Optional PEM file of an extra CA to trust for Azure calls (the emulator's test CA).",
  },
  keyVaultChallengeVerification: {
    name: "JUMPGATE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE",
    description:
      "`true` checks that Key Vault's bearer challenge names a vault.azure.net resource matching the vault host; `false` only for the loopback emulator.",
    default: "true",
  },
  requestTimeoutMs: {
    name: "JUMPGATE_HTTP_TIMEOUT_MS",
    description: "Timeout of every single HTTP request to Azure, in milliseconds (each retry gets its own).",
    default: "30000",
  },
  lroPollIntervalMs: {
    name: "JUMPGATE_LRO_POLL_INTERVAL_MS",
    description:
      "Poll interval of long-running ARM operations, in milliseconds (a Retry-After from Azure takes precedence).",
    default: "2000",
  },
  lroTimeoutMs: {
    name: "JUMPGATE_LRO_TIMEOUT_MS",
    description:
      "Longest wait for one long-running ARM operation, in milliseconds (MySQL creation takes about 10 minutes).",
    default: "2700000",
  },
  retryMax: {
    name: "JUMPGATE_HTTP_MAX_RETRIES",
    description:
      "Retries of throttled (429/503 with Retry-After), transient (5xx, 408) and network failures per request.",
    default: "3",
  },
  retryDelayMs: {
    name: "JUMPGATE_HTTP_RETRY_DELAY_MS",
    description: "Base delay of the exponential retry backoff, in milliseconds.",
    default: "800",
  },
  retryMaxDelayMs: {
    name: "JUMPGATE_HTTP_RETRY_MAX_DELAY_MS",
    description: "Upper bound of one retry delay, in milliseconds.",
    default: "60000",
  },
  armReadBudget: {
    name: "JUMPGATE_ARM_READ_BUDGET",
    description:
      "ARM's read bucket per subscription and principal, `capacity/perSecond` (Azure: 250 tokens refilled at 25 per second): every ARM read of the app takes a token first, so the app paces itself instead of being throttled.",
    default: "250/25",
  },
  armWriteBudget: {
    name: "JUMPGATE_ARM_WRITE_BUDGET",
    description:
      "ARM's write bucket per subscription and principal, `capacity/perSecond` (Azure: 200 at 10 per second); deletes get a bucket of the same size.",
    default: "200/10",
  },
  armBackgroundReservePercent: {
    name: "JUMPGATE_ARM_BACKGROUND_RESERVE_PERCENT",
    description:
      "Share of each ARM bucket (percent) that timer work (drift, rotation checks, renewal nudges) leaves to heal, scale and deploy: timers wait when the bucket is below it.",
    default: "50",
  },
  resourceGraphLagSeconds: {
    name: "JUMPGATE_RESOURCE_GRAPH_LAG_SECONDS",
    description:
      "How far Azure Resource Graph may lag ARM: the drift check confirms through ARM every resource ARM says changed within this many seconds, whatever Resource Graph shows.",
    default: "300",
  },
  driftFullCheckHours: {
    name: "JUMPGATE_DRIFT_FULL_CHECK_HOURS",
    description:
      "Every this many hours each stack's drift check reads all its resources through ARM, including those Resource Graph does not index (Key Vault secrets, role assignments, MySQL databases and parameters); spread over the period by stack.",
    default: "24",
  },
  tenantId: {
    name: "JUMPGATE_TENANT_ID",
    description:
      "Microsoft Entra tenant of the stacks' Key Vaults (the tenant of the Function App's managed identity).",
  },
  functionPrincipalId: {
    name: "JUMPGATE_FUNCTION_PRINCIPAL_ID",
    description:
      "Object id of the Function App's managed identity; when set, each stack's Key Vault grants it Key Vault Secrets Officer (it writes the generated secrets).",
  },
  recordingWriterRoleId: {
    name: "JUMPGATE_RECORDING_WRITER_ROLE_ID",
    description:
      "GUID of the recording writer role (infra creates it): the right the web nodes of a stack with recordings get on its recordings container (read and create blobs, never overwrite or delete).",
  },
  alertActionGroupId: {
    name: "JUMPGATE_ALERT_ACTION_GROUP_ID",
    description:
      "ARM id of the action group that posts Azure Monitor alerts to /api/alerts (infra creates it); when set, every stack gets the alert rules that feed healing and scaling.",
  },
  alertsTokenAudiences: {
    name: "JUMPGATE_ALERTS_TOKEN_AUDIENCES",
    description:
      "Token mode of the alert intake (POST /api/alerts/entra, Azure Monitor's secure webhook): the accepted token audiences, comma-separated (the alerts Entra application's identifier URI and client id). Unset: token mode is off and that route answers 404.",
  },
  alertsTokenAppId: {
    name: "JUMPGATE_ALERTS_TOKEN_APP_ID",
    description:
      "Token mode: the app id a token must have been issued to (appid/azp): Azure Monitor's action groups (AzNS AAD Webhook).",
    default: "461e8683-5575-4561-ac7f-899cc907d62a",
  },
  alertsTokenObjectId: {
    name: "JUMPGATE_ALERTS_TOKEN_OBJECT_ID",
    description:
      "Token mode: when set, the object id (oid) the caller's service principal must have in the tenant (Azure Monitor's action groups there).",
  },
  alertsTokenRole: {
    name: "JUMPGATE_ALERTS_TOKEN_ROLE",
    description:
      "Token mode: when set, an app role the token must carry (roles), which the alerts application grants to Azure Monitor's action groups.",
  },
  entraAuthority: {
    name: "JUMPGATE_ENTRA_AUTHORITY",
    description:
      "Microsoft Entra authority whose keys sign alert tokens ({authority}/{tenant}/discovery/v2.0/keys) and whose v2 issuer is accepted, and whose tenant endpoints the web nodes' sign-in settings name (stacks with `access`); https, or http on loopback only (tests).",
    default: "https://login.microsoftonline.com",
  },
  nodeReadyTimeoutMinutes: {
    name: "JUMPGATE_NODE_READY_TIMEOUT_MINUTES",
    description: "How long a deploy waits for every web node's agent to report healthy (cloud-init builds guacd).",
    default: "40",
  },
  acmeCaFile: {
    name: "JUMPGATE_ACME_CA_FILE",
    description:
      "Optional PEM file of an extra CA to trust for the ACME directory in stack specs, on top of the public ones (a test CA such as Pebble's).",
  },
  acmePollMs: {
    name: "JUMPGATE_ACME_POLL_MS",
    description:
      "First wait between polls of a pending ACME challenge or order, in milliseconds; it doubles up to 8 times this (at most 30 s), 15 polls at most.",
    default: "2000",
  },
  acmeDnsWaitSeconds: {
    name: "JUMPGATE_ACME_DNS_WAIT_SECONDS",
    description:
      "Seconds to wait after writing a DNS-01 TXT record to Azure DNS before asking the CA to check it (propagation to Azure's name servers).",
    default: "15",
  },
  alertRetentionDays: {
    name: "JUMPGATE_ALERT_RETENTION_DAYS",
    description:
      "Days the alert inbox keeps a stack's signals (consumed or not; a signal older than this is no reason to act); a daily timer deletes older ones.",
    default: "30",
  },
  ignoredAlertRetentionDays: {
    name: "JUMPGATE_IGNORED_ALERT_RETENTION_DAYS",
    description:
      "Days the alert inbox keeps alerts that named nothing Jumpgate manages (its ignored partition); a daily timer deletes older ones.",
    default: "7",
  },
  auditRetentionDays: {
    name: "JUMPGATE_AUDIT_RETENTION_DAYS",
    description:
      "Days the audit trail keeps an event, for every stack including torn-down ones; a daily timer deletes older ones.",
    default: "365",
  },
  tablePrefix: {
    name: "JUMPGATE_TABLE_PREFIX",
    description:
      "Prefix of Jumpgate's table names in the storage account (`{prefix}stacks`, `{prefix}events`, `{prefix}alerts`, ...): letters and digits, starting with a letter.",
    default: "jumpgate",
  },
  taskHub: {
    name: "TASKHUB_NAME",
    description:
      "Durable Functions task hub name (host.json reads it): 3-45 letters and digits, starting with a letter.",
    default: "jumpgate",
  },
} satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;

/** Settings the Functions host reads itself (listed in the sample, never read by our code). */
export const HOST_SETTINGS: SettingSpec[] = [
  { name: "FUNCTIONS_WORKER_RUNTIME", description: "Language worker of the Function App.", sample: "node" },
];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export type Env = Record<string, string | undefined>;

export function readSetting(key: SettingKey, env: Env = process.env): string | undefined {
  const spec: SettingSpec = SETTINGS[key];
  const v = env[spec.name];
  return v === undefined || v === "" ? spec.default : v;
}

export function readIntSetting(key: SettingKey, env: Env = process.env, min = 0): number {
  const raw = readSetting(key, env);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError(`${SETTINGS[key].name} must be a whole number >= ${min}, got '${raw}'`);
  return n;
}

export function readBoolSetting(key: SettingKey, env: Env = process.env): boolean {
  const raw = (readSetting(key, env) ?? "").toLowerCase();
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${SETTINGS[key].name} must be true or false, got '${raw}'`);
}
