// The alert inbox: every signal an alert gave a stack, once, however often Azure Monitor delivered
// it (action groups retry up to 5 times). The heal and scale orchestrations read it level-triggered:
// they take what is pending, act, and mark it consumed, so a wake-up event that got lost or arrived
// twice changes nothing. Alerts that named nothing Jumpgate manages are kept too, as ignored.
//
// Entity layout (table `{prefix}alerts`):
//   PartitionKey  the stack name, or IGNORED_PARTITION for alerts that matched no stack
//   RowKey        the signal id (a hash of the alert id, its condition and Fired/Resolved)
//   Layout, ReceivedAt, Intent, Signal (JSON), Consumed (boolean), ConsumedAt, Outcome
// Signals are written with createEntity only, which fails on an existing RowKey: a duplicate
// delivery can neither add a second signal nor reset the outcome of the first. Retention (`prune`)
// deletes rows received before a cutoff, one cutoff for the stacks' signals (pending ones too: an
// alert that old is no reason to act) and one for the ignored partition.
import type { TableClient } from "@azure/data-tables";
import { odata } from "./odata";
import type { IgnoredAlert, SignalIntent, StackSignal } from "../alerts/signal";
import { mapWithConcurrency } from "../concurrency";
import { StoreCorruptionError, statusOf } from "./errors";
import { asciiJson, assertEntityFits } from "./json-columns";
import { assertStackName } from "./keys";
import type { StoreSettings } from "./settings";
import { StoreTables, type StoreCallOptions } from "./tables";

/** Partition of ignored alerts; `~` sorts after every stack name and no stack name starts with it. */
export const IGNORED_PARTITION = "~ignored";
const LAYOUT_VERSION = 1;
/** Longest outcome kept (it is shown to users). */
const OUTCOME_CHARS = 1000;

export interface InboxEntry extends StackSignal {
  consumed: boolean;
  consumedAt?: string;
  outcome?: string;
}

export interface PendingOptions extends StoreCallOptions {
  intents?: SignalIntent[];
}

export interface InboxPruneOptions extends StoreCallOptions {
  /** delete at most this many rows per partition kind and call (default 5000); the rest go next time */
  max?: number;
  /** deletes in flight at once (default 8) */
  concurrency?: number;
}

export interface RecentOptions extends StoreCallOptions {
  /** at most this many (default 100) */
  limit?: number;
}

export class AlertInbox {
  private readonly tables: StoreTables;
  private readonly clock: () => Date;

  constructor(store: StoreTables | StoreSettings, options: { clock?: () => Date } = {}) {
    this.tables = store instanceof StoreTables ? store : new StoreTables(store);
    this.clock = options.clock ?? (() => new Date());
  }

  /** Keeps a signal; `recorded: false` means the same signal was already there (a duplicate delivery). */
  async record(signal: StackSignal, options: StoreCallOptions = {}): Promise<{ recorded: boolean }> {
    assertStackName(signal.stack);
    assertKey(signal.id);
    const entity = {
      partitionKey: signal.stack,
      rowKey: signal.id,
      Layout: LAYOUT_VERSION,
      ReceivedAt: signal.receivedAt,
      Intent: signal.intent,
      Signal: asciiJson(JSON.stringify(signal)),
      Consumed: false,
    };
    return this.create(entity, `alert signal for stack '${signal.stack}'`, options);
  }

  /** Keeps an alert that matched nothing Jumpgate manages; `recorded: false` for a duplicate. */
  async recordIgnored(alert: IgnoredAlert, options: StoreCallOptions = {}): Promise<{ recorded: boolean }> {
    assertKey(alert.id);
    const entity = {
      partitionKey: IGNORED_PARTITION,
      rowKey: alert.id,
      Layout: LAYOUT_VERSION,
      ReceivedAt: alert.receivedAt,
      Alert: asciiJson(JSON.stringify(alert)),
    };
    return this.create(entity, "ignored alert", options);
  }

  /** Signals of a stack not consumed yet, oldest first. */
  async pending(stack: string, options: PendingOptions = {}): Promise<StackSignal[]> {
    const entries = await this.entries(stack, Number.POSITIVE_INFINITY, options, true);
    const wanted = options.intents ? new Set<string>(options.intents) : undefined;
    return entries
      .filter((e) => !wanted || wanted.has(e.intent))
      .map(({ consumed: _c, consumedAt: _a, outcome: _o, ...signal }) => signal);
  }

  /**
   * Marks signals handled, with what came of them. Idempotent: consuming again keeps the first
   * outcome; ids that are not in the inbox are skipped.
   */
  async consume(stack: string, ids: string[], outcome: string, options: StoreCallOptions = {}): Promise<number> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("alerts", { abortSignal });
    const consumedAt = this.clock().toISOString();
    let changed = 0;
    for (const id of new Set(ids)) {
      assertKey(id);
      let current: Record<string, unknown>;
      try {
        current = await table.getEntity<Record<string, unknown>>(stack, id, { abortSignal });
      } catch (e) {
        if (statusOf(e) === 404) continue;
        throw e;
      }
      if (current.Consumed === true) continue;
      try {
        await table.updateEntity(
          {
            partitionKey: stack,
            rowKey: id,
            Consumed: true,
            ConsumedAt: consumedAt,
            Outcome: outcome.slice(0, OUTCOME_CHARS),
          },
          "Merge",
          { etag: current.etag as string, abortSignal },
        );
        changed++;
      } catch (e) {
        // someone else consumed it in between: their outcome stands
        if (statusOf(e) === 412 || statusOf(e) === 404) continue;
        throw e;
      }
    }
    return changed;
  }

  /** A stack's signals, consumed or not, newest first. */
  async recent(stack: string, options: RecentOptions = {}): Promise<InboxEntry[]> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 1000);
    const all = await this.entries(stack, Number.POSITIVE_INFINITY, options, false);
    return all.reverse().slice(0, limit);
  }

  /** Alerts that matched no stack, newest first. */
  async ignored(options: RecentOptions = {}): Promise<IgnoredAlert[]> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 1000);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("alerts", { abortSignal });
    const found: IgnoredAlert[] = [];
    const query = table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${IGNORED_PARTITION}` },
      abortSignal,
    });
    for await (const entity of query) found.push(parseJson<IgnoredAlert>(entity.Alert, "ignored alert"));
    return found.sort((a, b) => b.receivedAt.localeCompare(a.receivedAt)).slice(0, limit);
  }

  /**
   * Retention: deletes the stacks' signals received before `signalsBefore` and the ignored alerts
   * received before `ignoredBefore`. Returns how many of each went.
   */
  async prune(
    cutoffs: { signalsBefore: Date; ignoredBefore: Date },
    options: InboxPruneOptions = {},
  ): Promise<{ signals: number; ignored: number }> {
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("alerts", { abortSignal });
    const max = options.max ?? 5000;
    const sweep = async (filter: string): Promise<number> => {
      const doomed: { partitionKey: string; rowKey: string }[] = [];
      const query = table.listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ["PartitionKey", "RowKey"] },
        abortSignal,
      });
      for await (const entity of query) {
        doomed.push({ partitionKey: String(entity.partitionKey), rowKey: String(entity.rowKey) });
        if (doomed.length >= max) break;
      }
      await mapWithConcurrency(doomed, options.concurrency ?? 8, async (e) => {
        try {
          await table.deleteEntity(e.partitionKey, e.rowKey, { abortSignal });
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
        }
      });
      return doomed.length;
    };
    // every stack name sorts before IGNORED_PARTITION; ReceivedAt is ISO 8601 UTC, which sorts by time
    const signals = await sweep(
      odata`PartitionKey lt ${IGNORED_PARTITION} and ReceivedAt lt ${cutoffs.signalsBefore.toISOString()}`,
    );
    const ignored = await sweep(
      odata`PartitionKey eq ${IGNORED_PARTITION} and ReceivedAt lt ${cutoffs.ignoredBefore.toISOString()}`,
    );
    return { signals, ignored };
  }

  private async entries(
    stack: string,
    limit: number,
    options: StoreCallOptions,
    pendingOnly: boolean,
  ): Promise<InboxEntry[]> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("alerts", { abortSignal });
    const filter = pendingOnly
      ? odata`PartitionKey eq ${stack} and Consumed eq false`
      : odata`PartitionKey eq ${stack}`;
    const found: InboxEntry[] = [];
    for await (const entity of table.listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal })) {
      const signal = parseJson<StackSignal>(entity.Signal, `alert signal ${String(entity.rowKey)} of '${stack}'`);
      found.push({
        ...signal,
        consumed: entity.Consumed === true,
        ...(typeof entity.ConsumedAt === "string" ? { consumedAt: entity.ConsumedAt } : {}),
        ...(typeof entity.Outcome === "string" ? { outcome: entity.Outcome } : {}),
      });
      if (found.length >= limit) break;
    }
    // oldest first; ties keep the id order so the result is stable
    return found.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id));
  }

  private async create(
    entity: Record<string, unknown> & { partitionKey: string; rowKey: string },
    describe: string,
    options: StoreCallOptions,
  ): Promise<{ recorded: boolean }> {
    assertEntityFits(entity, describe);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table: TableClient = await this.tables.table("alerts", { abortSignal });
    try {
      await table.createEntity(entity, { abortSignal });
      return { recorded: true };
    } catch (e) {
      if (statusOf(e) === 409) return { recorded: false };
      throw e;
    }
  }
}

function assertKey(id: string): void {
  if (typeof id !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
    throw new RangeError(`an alert signal id must be 1-128 letters, digits, '-' or '_', got '${String(id)}'`);
  }
}

function parseJson<T>(value: unknown, describe: string): T {
  if (typeof value !== "string") throw new StoreCorruptionError(`${describe}: stored JSON is missing`);
  try {
    return JSON.parse(value) as T;
  } catch {
    throw new StoreCorruptionError(`${describe}: stored JSON does not parse`);
  }
}
