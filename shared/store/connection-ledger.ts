// The connection ledger: what the last connection syncs of a stack found and did, for
// GET /api/stacks/{name}/connections, kept out of the registry row because a stack may have
// thousands of connections (one Table entity holds at most 1 MiB).
//
// Entity layout (table `{prefix}conns`, PartitionKey = the stack name):
//   RowKey "sync"        Layout, Sync (JSON ConnectionSyncSummary: digests, times, counts, skipped)
//   RowKey "c:<hash>"    Layout, Connection (JSON ConnectionRow), one per managed connection; the
//                        hash is SHA-256 of the VM id (ids hold characters RowKey does not allow)
// A record writes only rows that differ (entity-group transactions of at most 100 operations) and
// the summary under the ETag it read (optimistic concurrency: a writer that lost a race reads again).
// Names, addresses, group ids, secret names and versions only: never a secret value.
import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import type { TransactionAction } from "@azure/data-tables";
import { odata } from "./odata";
import { StoreContentionError, StoreCorruptionError, statusOf } from "./errors";
import { asciiJson, MAX_PROPERTY_CHARS } from "./json-columns";
import { assertStackName } from "./keys";
import type { StoreSettings } from "./settings";
import { StoreTables, type StoreCallOptions } from "./tables";

const LAYOUT_VERSION = 1;
const SYNC_ROW = "sync";
const ROW_PREFIX = "c:";
const MAX_WRITE_ATTEMPTS = 8;
/** Azure Table Storage's limit of operations in one entity-group transaction. */
const BATCH = 100;

export interface ConnectionRow {
  /** the VM's ARM id (lower case) */
  key: string;
  name: string;
  /** subscription id / resource group */
  group: string;
  protocol: string;
  host: string;
  port: number;
  vm: { id: string; powerState: string };
  /** Entra group object ids with READ */
  permissions: string[];
  /** `<secret>/<version>` whose values the connection holds, when its source names one */
  credential: string | null;
  source: number;
}

export interface ConnectionSyncSummary {
  /** digest of what the agent was last given and applied */
  digest: string | null;
  /** digest of the listing below (connections, skipped): a change of it alone is only recorded */
  listingDigest: string | null;
  /** when the agent last applied or verified the set */
  appliedAt: string | null;
  /** when the inventory was last read and recorded */
  at: string | null;
  instanceId: string | null;
  trigger: string | null;
  counts: { connections: number; skipped: number; created: number; updated: number; removed: number };
  skipped: { vm: string; name: string; reason: string }[];
  conflicts: string[];
  missingGroups: string[];
  lastChanges: string[];
  requests: { resourceGraph: number; keyVault: number; runCommand: number };
  statements: number;
  failure: { at: string; message: string } | null;
}

export function emptySummary(): ConnectionSyncSummary {
  return {
    digest: null,
    listingDigest: null,
    appliedAt: null,
    at: null,
    instanceId: null,
    trigger: null,
    counts: { connections: 0, skipped: 0, created: 0, updated: 0, removed: 0 },
    skipped: [],
    conflicts: [],
    missingGroups: [],
    lastChanges: [],
    requests: { resourceGraph: 0, keyVault: 0, runCommand: 0 },
    statements: 0,
    failure: null,
  };
}

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

export function connectionRowKey(key: string): string {
  return ROW_PREFIX + createHash("sha256").update(key.toLowerCase(), "utf8").digest("hex").slice(0, 40);
}

export class ConnectionLedger {
  private readonly tables: StoreTables;

  constructor(store: StoreTables | StoreSettings) {
    this.tables = store instanceof StoreTables ? store : new StoreTables(store);
  }

  /** The summary and every connection row (one paged query of the stack's partition). */
  async get(
    stack: string,
    options: StoreCallOptions = {},
  ): Promise<{ summary: ConnectionSyncSummary; connections: ConnectionRow[] }> {
    const { summary, rows } = await this.read(stack, options);
    const connections = [...rows.values()]
      .map((r) => r.row)
      .sort((a, b) => a.group.localeCompare(b.group) || a.name.localeCompare(b.name));
    return { summary: summary?.value ?? emptySummary(), connections };
  }

  /** Only the summary (one point read). */
  async summary(stack: string, options: StoreCallOptions = {}): Promise<ConnectionSyncSummary> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("connections", { abortSignal });
    try {
      const e = await table.getEntity<Record<string, unknown>>(stack, SYNC_ROW, { abortSignal });
      return parse<ConnectionSyncSummary>(e.Sync, `connection sync of '${stack}'`);
    } catch (e) {
      if (statusOf(e) === 404) return emptySummary();
      throw e;
    }
  }

  /**
   * Records a sync: `change` gets the stored summary and returns the next; `connections`, when
   * given, replaces the rows (only differing rows are written). Returns the operations it sent.
   */
  async record(
    stack: string,
    change: (current: ConnectionSyncSummary) => ConnectionSyncSummary,
    connections?: ConnectionRow[],
    options: StoreCallOptions = {},
  ): Promise<{ writes: number }> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("connections", { abortSignal });
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const { summary, rows } = await this.read(stack, options);
      const current = summary?.value ?? emptySummary();
      const next = change(structuredClone(current));
      const actions: Entity[] = [];
      const deletes: string[] = [];
      if (connections) {
        const wanted = new Map(connections.map((c) => [connectionRowKey(c.key), c]));
        for (const [rowKey, c] of wanted) {
          if (!isDeepStrictEqual(rows.get(rowKey)?.row, c))
            actions.push({ partitionKey: stack, rowKey, Layout: LAYOUT_VERSION, Connection: json(c, stack) });
        }
        for (const rowKey of rows.keys()) if (!wanted.has(rowKey)) deletes.push(rowKey);
      }
      let writes = 0;
      const operations: TransactionAction[] = [
        ...actions.map((e): TransactionAction => ["upsert", e, "Replace"]),
        ...deletes.map((rowKey): TransactionAction => ["delete", { partitionKey: stack, rowKey }]),
      ];
      for (let i = 0; i < operations.length; i += BATCH) {
        await table.submitTransaction(operations.slice(i, i + BATCH), { abortSignal });
        writes++;
      }
      if (isDeepStrictEqual(next, current) && summary) return { writes };
      const row: Entity = { partitionKey: stack, rowKey: SYNC_ROW, Layout: LAYOUT_VERSION, Sync: json(next, stack) };
      try {
        if (summary) await table.updateEntity(row, "Replace", { etag: summary.etag, abortSignal });
        else await table.createEntity(row, { abortSignal });
        return { writes: writes + 1 };
      } catch (e) {
        const status = statusOf(e);
        const lostRace = (summary && (status === 412 || status === 404)) || (!summary && status === 409);
        if (!lostRace) throw e;
        await delay(Math.random() * 10 * attempt, undefined, { signal: abortSignal });
      }
    }
    throw new StoreContentionError(`connection ledger '${stack}' changed under ${MAX_WRITE_ATTEMPTS} writes`);
  }

  /** Forgets a stack (after its teardown). */
  async forget(stack: string, options: StoreCallOptions = {}): Promise<void> {
    const { summary, rows } = await this.read(stack, options);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("connections", { abortSignal });
    const keys = [...rows.keys(), ...(summary ? [SYNC_ROW] : [])];
    for (let i = 0; i < keys.length; i += BATCH)
      await table.submitTransaction(
        keys.slice(i, i + BATCH).map((rowKey): TransactionAction => ["delete", { partitionKey: stack, rowKey }]),
        { abortSignal },
      );
  }

  private async read(stack: string, options: StoreCallOptions) {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("connections", { abortSignal });
    let summary: { value: ConnectionSyncSummary; etag: string } | undefined;
    const rows = new Map<string, { row: ConnectionRow }>();
    for await (const e of table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${stack}` },
      abortSignal,
    })) {
      const rowKey = String(e.rowKey);
      if (rowKey === SYNC_ROW)
        summary = {
          value: { ...emptySummary(), ...parse<ConnectionSyncSummary>(e.Sync, `connection sync of '${stack}'`) },
          etag: String(e.etag),
        };
      else if (rowKey.startsWith(ROW_PREFIX))
        rows.set(rowKey, { row: parse<ConnectionRow>(e.Connection, `connection ${rowKey} of '${stack}'`) });
    }
    return { summary, rows };
  }
}

function json(value: unknown, stack: string): string {
  const text = asciiJson(JSON.stringify(value));
  if (text.length > MAX_PROPERTY_CHARS)
    throw new RangeError(
      `a connection ledger entry of '${stack}' is ${text.length} characters, over ${MAX_PROPERTY_CHARS}`,
    );
  return text;
}

function parse<T>(value: unknown, what: string): T {
  if (typeof value !== "string") throw new StoreCorruptionError(`${what}: stored JSON is not text`);
  try {
    const parsed: unknown = JSON.parse(value);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as T;
  } catch {
    throw new StoreCorruptionError(`${what}: stored JSON does not parse`);
  }
}
