// Builds the TableClients of Jumpgate's tables in the Function App's own storage account, creating
// each table once per process, and gives every store call its deadline.
import { TableClient, type TableServiceClientOptions } from "@azure/data-tables";
import { requestTimeoutPolicy } from "../azure/request-timeout";
import { needsInsecureConnection, storeSettingsFromEnv, validateStoreSettings, type StoreSettings } from "./settings";
import type { Env } from "../config";

/** Jumpgate's tables; the stored name is `{prefix}{suffix}`, e.g. `jumpgatestacks`. */
export const TABLE_SUFFIXES = {
  stacks: "stacks",
  events: "events",
  alerts: "alerts",
  repairs: "repairs",
  fleet: "fleet",
  certificates: "certs",
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

export class StoreTables {
  readonly settings: StoreSettings;
  private readonly clients = new Map<TableKind, TableClient>();

  constructor(settings: StoreSettings) {
    this.settings = validateStoreSettings(settings);
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
        ...(needsInsecureConnection(this.settings.connectionString) ? { allowInsecureConnection: true } : {}),
      };
      client = TableClient.fromConnectionString(this.settings.connectionString, this.tableName(kind), options);
      this.clients.set(kind, client);
    }
    return client;
  }
}
