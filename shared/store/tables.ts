// Builds the TableClients of Jumpgate's tables in the Function App's own storage account, creating
// each table once per process, and gives every store call its deadline.
import type { TokenCredential } from "@azure/core-auth";
import type { TableClient, TableServiceClientOptions } from "@azure/data-tables";
import type * as Identity from "@azure/identity";
import { onFirstUse } from "../load-on-use";
import { dataTables } from "./odata";
import { requestTimeoutPolicy } from "../azure/request-timeout";
import {
  needsInsecureConnection,
  storeSettingsFromEnv,
  usesConnectionString,
  validateStoreSettings,
  type StoreIdentityAccess,
  type StoreSettings,
} from "./settings";
import type { Env } from "../config";

/** loaded when a store first builds a credential (see load-on-use.ts) */
const identity = onFirstUse<typeof Identity>("@azure/identity");

/** Jumpgate's tables; the stored name is `{prefix}{suffix}`, e.g. `jumpgatestacks`. */
export const TABLE_SUFFIXES = {
  stacks: "stacks",
  events: "events",
  alerts: "alerts",
  repairs: "repairs",
  fleet: "fleet",
  certificates: "certs",
  connections: "conns",
} as const;
export type TableKind = keyof typeof TABLE_SUFFIXES;

/** Options every store call takes (Azure SDK style). */
export interface StoreCallOptions {
  /** cancels the call; the store also puts its own deadline on every call */
  abortSignal?: AbortSignal;
}

/**
 * Tables already created (or being created) in this process, by account URL and table name.
 * Module-wide rather than per instance: activities build a store per invocation, and one
 * `createTable` round trip per process is enough.
 */
const ensuredTables = new Map<string, Promise<void>>();

export interface StoreTablesOptions {
  /**
   * The token credential of identity-based settings, instead of the one `settings.credential` names
   * (tests); refused with connection-string settings, which sign with the account key.
   */
  credential?: TokenCredential;
  /** an extra CA (PEM) to trust for the table endpoint (tests: an HTTPS Azurite with a test CA) */
  caPem?: string;
}

export class StoreTables {
  readonly settings: StoreSettings;
  /** the credential of identity-based settings; undefined with a connection string */
  readonly credential: TokenCredential | undefined;
  private readonly caPem: string | undefined;
  private readonly clients = new Map<TableKind, TableClient>();

  constructor(settings: StoreSettings, options: StoreTablesOptions = {}) {
    this.settings = validateStoreSettings(settings);
    if (usesConnectionString(this.settings)) {
      if (options.credential) throw new TypeError("a token credential needs identity-based store settings");
      this.credential = undefined;
    } else {
      this.credential = options.credential ?? storeCredential(this.settings);
    }
    this.caPem = options.caPem;
  }

  static fromEnv(env?: Env): StoreTables {
    return new StoreTables(storeSettingsFromEnv(env));
  }

  tableName(kind: TableKind): string {
    return `${this.settings.tablePrefix}${TABLE_SUFFIXES[kind]}`;
  }

  /** The client of one table, after making sure the table exists. */
  async table(kind: TableKind, options: StoreCallOptions = {}): Promise<TableClient> {
    const client = this.clientOf(kind);
    const key = `${client.url}|${client.tableName}`;
    let ensured = ensuredTables.get(key);
    if (!ensured) {
      // createTable treats "already exists" as success, so concurrent processes are fine. It runs
      // under the store's deadline only: other callers share it, and one caller's abort is not theirs.
      ensured = client.createTable({ abortSignal: this.deadline() });
      ensuredTables.set(key, ensured);
      // a failed attempt must not stick: the next call tries again
      void ensured.catch(() => ensuredTables.delete(key));
    }
    options.abortSignal?.throwIfAborted();
    await ensured;
    options.abortSignal?.throwIfAborted();
    return client;
  }

  /**
   * The abort signal of one store call, joined with the caller's: every attempt may use its full
   * deadline plus the longest retry wait (the same budget as the Azure client factory's calls).
   */
  deadline(signal?: AbortSignal): AbortSignal {
    const { maxRetries, maxRetryDelayInMs } = this.settings.retry;
    const timeout = AbortSignal.timeout((this.settings.requestTimeoutMs + maxRetryDelayInMs) * (maxRetries + 1));
    return signal ? AbortSignal.any([timeout, signal]) : timeout;
  }

  /** The client of one table, without making sure it exists (use `table` for that). */
  clientOf(kind: TableKind): TableClient {
    let client = this.clients.get(kind);
    if (!client) {
      const options: TableServiceClientOptions = {
        retryOptions: { ...this.settings.retry },
        additionalPolicies: [
          { policy: requestTimeoutPolicy(this.settings.requestTimeoutMs), position: "perRetry" as const },
        ],
        userAgentOptions: { userAgentPrefix: "jumpgate" },
        ...(this.caPem ? { tlsOptions: { ca: this.caPem } } : {}),
      };
      if (usesConnectionString(this.settings)) {
        const { connectionString } = this.settings;
        if (needsInsecureConnection(connectionString)) options.allowInsecureConnection = true;
        client = dataTables().TableClient.fromConnectionString(connectionString, this.tableName(kind), options);
      } else {
        // identity-based endpoints are https only (validateStoreSettings): bearer tokens never go over http
        const credential = this.credential ?? storeCredential(this.settings);
        client = new (dataTables().TableClient)(this.settings.tableEndpoint, this.tableName(kind), credential, options);
      }
      this.clients.set(kind, client);
    }
    return client;
  }
}

/**
 * The credential identity-based settings name, after the Functions convention for AzureWebJobsStorage__*:
 * `managedidentity` is the app's managed identity (user-assigned by client id, else system-assigned),
 * anything else DefaultAzureCredential (which in Azure picks the identity `AZURE_CLIENT_ID` names).
 */
export function storeCredential(settings: StoreIdentityAccess): TokenCredential {
  if (settings.credential === "managedidentity") {
    return settings.clientId
      ? new (identity().ManagedIdentityCredential)({ clientId: settings.clientId })
      : new (identity().ManagedIdentityCredential)();
  }
  return new (identity().DefaultAzureCredential)();
}
