// The audit trail: an append-only list of events (who did what to which stack, and why), newest first.
//
// Entity layout (table `{prefix}events`, PartitionKey = stack name, RowKey = event id):
//   RowKey    16 digits of inverted time (13 for milliseconds, 3 for order within one millisecond)
//             + "-" + 12 random hex digits. Table Storage returns a partition in RowKey order, so
//             the newest event comes first; the random part keeps concurrent writers from colliding.
//   Layout, Time (ISO 8601), What, Why, Actor, OperationKind, OperationInstanceId, Details (JSON)
// Events are written with createEntity only, which fails on an existing RowKey: nothing can be
// overwritten, and this module has no update. The only delete is retention (`prune`): events older
// than the retention period go, oldest first, found by RowKey range (inverted time) without a scan
// of their contents.
//
// Everything in an event is shown to users (status pages, the HTTP API), so control characters are
// stripped from every field and from details (shared/text.ts: an alert's rule name must not forge a
// line). Callers never pass secret values (passwords, keys, tokens, connection strings,
// certificates) in any field; name the secret instead (e.g. its Key Vault secret name). The test
// suite's secret scan checks what tests produce.
import { randomBytes } from "node:crypto";
import { odata } from "./odata";
import { mapWithConcurrency } from "../concurrency";
import { stripControlCharacters, stripControlCharactersDeep } from "../text";
import { StoreContentionError, StoreLimitError, statusOf } from "./errors";
import { assertEntityFits } from "./json-columns";
import { assertStackName } from "./keys";
import type { OperationKind } from "./registry";

/** What an audit event can name as its operation: a claim's kind, or a sync that claims nothing. */
export type AuditOperationKind = OperationKind | "connections" | "node-image" | "restore-drill";
import type { StoreSettings } from "./settings";
import { StoreTables, type StoreCallOptions } from "./tables";

export interface AuditEventInput {
  stack: string;
  /** what happened, short: "deploy started", "node vm-2 reimaged" */
  what: string;
  /** why it happened: the request, alert or rule behind it, or the error that stopped it */
  why: string;
  /** the operation this happened in, if any */
  operation?: { kind: AuditOperationKind; instanceId: string };
  /** who: e.g. "api:<caller>", "alert:<rule>", "timer:<name>" */
  actor: string;
  /** small JSON facts (at most 8 KiB as JSON), shown to users: never secret values */
  details?: Record<string, unknown>;
}

export interface AuditEvent extends AuditEventInput {
  /** the RowKey: unique within the stack, sorts newest first */
  id: string;
  /** ISO 8601 */
  time: string;
}

export interface AuditLogOptions {
  clock?: () => Date;
  /** where event ids come from; tests replace it to provoke collisions */
  newEventId?: (time: Date) => string;
}

export interface RecentEventsOptions extends StoreCallOptions {
  /** at most this many events (default 50, at most 1000) */
  limit?: number;
  /**
   * only events whose actor starts with this ("alert:" for the alert intake's receipts), or only
   * those whose actor does not; the storage service filters, so a flood of one kind does not push
   * the other out of a page
   */
  actorPrefix?: { only: string } | { except: string };
}

export interface PruneOptions extends StoreCallOptions {
  /** delete at most this many events per call (default 5000); the rest go on the next call */
  max?: number;
  /** deletes in flight at once (default 8) */
  concurrency?: number;
}

/** Caps of the text fields (longer text is cut and marked) and of `details` (refused when longer). */
export const AUDIT_LIMITS = { what: 500, why: 4000, actor: 256, detailsJson: 8 * 1024 };
/** Attempts with fresh ids when an id is taken (only ever by a broken id source). */
const MAX_APPEND_ATTEMPTS = 3;
const LAYOUT_VERSION = 1;
/** Inverted times count down from here: the largest 13-digit millisecond time (year 2286). */
const MAX_TIME_MS = 9_999_999_999_999;

export class AuditLog {
  private readonly clock: () => Date;
  private readonly newEventId: (time: Date) => string;

  private readonly tables: StoreTables;

  /** `store`: the process's StoreTables, or settings to build one from. */
  constructor(store: StoreTables | StoreSettings, options: AuditLogOptions = {}) {
    this.tables = store instanceof StoreTables ? store : new StoreTables(store);
    this.clock = options.clock ?? (() => new Date());
    this.newEventId = options.newEventId ?? newEventId;
  }

  async append(input: AuditEventInput, options: StoreCallOptions = {}): Promise<AuditEvent> {
    assertStackName(input.stack);
    const detailsJson =
      input.details === undefined ? undefined : JSON.stringify(stripControlCharactersDeep(input.details));
    if (detailsJson !== undefined && detailsJson.length > AUDIT_LIMITS.detailsJson) {
      throw new StoreLimitError(
        `audit event details for stack '${input.stack}' are ${detailsJson.length} characters as JSON, over the ${AUDIT_LIMITS.detailsJson} limit: keep details small`,
      );
    }
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("events", { abortSignal });
    const time = this.clock();
    const event: Omit<AuditEvent, "id"> = {
      stack: input.stack,
      time: time.toISOString(),
      what: cut(stripControlCharacters(input.what), AUDIT_LIMITS.what),
      why: cut(stripControlCharacters(input.why), AUDIT_LIMITS.why),
      actor: cut(stripControlCharacters(input.actor), AUDIT_LIMITS.actor),
      ...(input.operation ? { operation: { kind: input.operation.kind, instanceId: input.operation.instanceId } } : {}),
      ...(detailsJson !== undefined ? { details: JSON.parse(detailsJson) as Record<string, unknown> } : {}),
    };
    for (let attempt = 1; attempt <= MAX_APPEND_ATTEMPTS; attempt++) {
      const id = this.newEventId(time);
      const entity = {
        partitionKey: event.stack,
        rowKey: id,
        Layout: LAYOUT_VERSION,
        Time: event.time,
        What: event.what,
        Why: event.why,
        Actor: event.actor,
        ...(event.operation
          ? { OperationKind: event.operation.kind, OperationInstanceId: event.operation.instanceId }
          : {}),
        ...(detailsJson !== undefined ? { Details: detailsJson } : {}),
      };
      assertEntityFits(entity, `audit event for stack '${event.stack}'`);
      try {
        await table.createEntity(entity, { abortSignal });
        return { id, ...event };
      } catch (e) {
        if (statusOf(e) === 409) continue;
        throw e;
      }
    }
    throw new StoreContentionError(
      `audit event for stack '${input.stack}': ${MAX_APPEND_ATTEMPTS} event ids in a row were taken; nothing was overwritten`,
    );
  }

  /** The newest events of a stack, newest first. */
  async recent(stack: string, options: RecentEventsOptions = {}): Promise<AuditEvent[]> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), 1000);
    return this.query(stack, limit, options, actorFilter(options.actorPrefix));
  }

  /**
   * Retention: deletes events older than `before`, of every stack (a torn-down stack's trail too),
   * at most `max` per call. Returns how many went.
   */
  async prune(before: Date, options: PruneOptions = {}): Promise<number> {
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("events", { abortSignal });
    const max = options.max ?? 5000;
    // RowKeys start with the inverted time: an event older than `before` has a larger prefix than
    // any event at `before`; "~" sorts after every digit and "-"
    const older = `${String(MAX_TIME_MS - before.getTime()).padStart(13, "0")}~`;
    const doomed: { partitionKey: string; rowKey: string }[] = [];
    const query = table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`RowKey gt ${older}`, select: ["PartitionKey", "RowKey"] },
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
  }

  /** Every event of a stack, newest first. */
  async all(stack: string, options: StoreCallOptions = {}): Promise<AuditEvent[]> {
    return this.query(stack, Number.POSITIVE_INFINITY, options);
  }

  private async query(
    stack: string,
    limit: number,
    options: StoreCallOptions,
    extraFilter?: string,
  ): Promise<AuditEvent[]> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("events", { abortSignal });
    const partition = odata`PartitionKey eq ${stack}`;
    const filter = extraFilter ? `${partition} and ${extraFilter}` : partition;
    const pages = table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal })
      .byPage({ maxPageSize: Math.min(limit, 1000) });
    const events: AuditEvent[] = [];
    // a page may hold fewer entities than asked for, so keep paging until the limit
    for await (const page of pages) {
      for (const entity of page) {
        events.push(toEvent(entity));
        if (events.length >= limit) return events;
      }
    }
    return events;
  }
}

/** An OData filter on the actor's prefix: a range, since Table Storage has no startswith. */
function actorFilter(prefix: RecentEventsOptions["actorPrefix"]): string | undefined {
  if (!prefix) return undefined;
  const text = "only" in prefix ? prefix.only : prefix.except;
  if (text === "") return undefined;
  // the first string after every string that starts with `text`
  const end = text.slice(0, -1) + String.fromCharCode(text.charCodeAt(text.length - 1) + 1);
  return "only" in prefix
    ? odata`(Actor ge ${text} and Actor lt ${end})`
    : odata`(Actor lt ${text} or Actor ge ${end})`;
}

/**
 * Last (millisecond, sequence) handed out in this process: events appended in the same millisecond
 * still sort in append order, and a clock stepping back never reorders this process's events.
 */
let lastTick = { ms: 0, seq: 0 };

/** An event id for an event at `time`: sorts before every id this process made earlier. */
export function newEventId(time: Date): string {
  let ms = time.getTime();
  let seq = 0;
  if (ms <= lastTick.ms) {
    ms = lastTick.ms;
    seq = lastTick.seq + 1;
    if (seq > 999) {
      ms += 1;
      seq = 0;
    }
  }
  lastTick = { ms, seq };
  const inverted = String(MAX_TIME_MS - ms).padStart(13, "0") + String(999 - seq).padStart(3, "0");
  return `${inverted}-${randomBytes(6).toString("hex")}`;
}

function toEvent(entity: Record<string, unknown>): AuditEvent {
  const text = (key: string): string => {
    const value = entity[key];
    return typeof value === "string" ? value : "";
  };
  const event: AuditEvent = {
    id: String(entity.rowKey),
    stack: String(entity.partitionKey),
    time: text("Time"),
    what: text("What"),
    why: text("Why"),
    actor: text("Actor"),
  };
  if (typeof entity.OperationKind === "string" && typeof entity.OperationInstanceId === "string") {
    event.operation = { kind: entity.OperationKind as AuditOperationKind, instanceId: entity.OperationInstanceId };
  }
  if (typeof entity.Details === "string") event.details = JSON.parse(entity.Details) as Record<string, unknown>;
  return event;
}

/** Text over its cap is cut and marked, so an event about a long error is still recorded. */
function cut(text: string, max: number): string {
  const marker = " … [cut]";
  if (text.length <= max) return text;
  let end = max - marker.length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // never split a surrogate pair
  return text.slice(0, end) + marker;
}
