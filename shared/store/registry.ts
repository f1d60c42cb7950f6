// The stack registry: one Table Storage entity per stack holding its desired spec, what Jumpgate
// last observed, the operation running on it, and its conditions, in the style of a Kubernetes
// controller (generation / observedGeneration, conditions with transition times).
//
// Entity layout (table `{prefix}stacks`, PartitionKey "stack", RowKey = stack name):
//   Layout              1 (the version of this layout)
//   Generation          bumped when the spec changes, not when an identical spec is put again
//   ObservedGeneration  the generation the observed state was produced from (0: never observed)
//   CreatedAt, UpdatedAt, ObservedAt   ISO 8601 strings
//   Spec, Spec_1.., SpecParts          JSON, split across columns (see json-columns.ts)
//   Observed, Observed_1.., ObservedParts
//   Operation           JSON {kind, instanceId, startedAt}; absent when none runs
//   Conditions          JSON array
// Every write replaces the whole entity under the ETag it was computed from, so concurrent writers
// never lose each other's changes: a writer that loses the race reads again and re-decides. A request
// that changes the stack (`claim`) stores its spec and its operation claim in that one write: a
// request refused because another operation holds the stack has stored nothing.
import { setTimeout as delay } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import type { TableClient, TransactionAction } from "@azure/data-tables";
import { odata } from "./odata";
import {
  INDEX_MARKER_ROW,
  INDEX_ROW_PREFIX,
  ROUTE_LAYOUT_VERSION,
  ROUTE_ROW_PREFIX,
  routeGroupPrefix,
  routeOf,
  routeRowKey,
  type AlertRoute,
} from "./alert-routes";
import { StackNotFoundError, StoreContentionError, statusOf } from "./errors";
import { assertEntityFits, fromJsonColumns, toJsonColumns } from "./json-columns";
import { assertStackName } from "./keys";
import type { StoreSettings } from "./settings";
import { StoreTables, type StoreCallOptions } from "./tables";

export const OPERATION_KINDS = [
  "deploy",
  "teardown",
  "reconcile",
  "heal",
  "scale",
  "rotate-certificate",
  "rotate-database",
  "break-glass",
  "upgrade",
] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** The one operation allowed to change a stack at a time, by the orchestration instance running it. */
export interface StackOperation {
  kind: OperationKind;
  instanceId: string;
  /** ISO 8601 */
  startedAt: string;
  /**
   * Written by a request or a timer before it starts the orchestration named here: until that
   * instance exists, the claim is live for a grace period (functions/stack-claim.ts). Absent on
   * claims an orchestration makes for itself.
   */
  starting?: true;
  /**
   * A `starting` claim of a singleton instance id (`rotate-db-<stack>`): the createdTime of the
   * finished run with that id when the claim was written, which is not this claim's run.
   */
  previousRun?: string;
}

export type ConditionStatus = "True" | "False" | "Unknown";

export interface StackConditionInput {
  /** e.g. "Ready", "Healthy", "CertificateValid" */
  type: string;
  status: ConditionStatus;
  /** a CamelCase word, e.g. "AllNodesHealthy" */
  reason: string;
  /** for people; never a secret value */
  message: string;
}

export interface StackCondition extends StackConditionInput {
  /** ISO 8601; changes only when `status` changes */
  lastTransitionTime: string;
}

export interface StackRecord<TSpec = unknown, TObserved = unknown> {
  name: string;
  /** this version's ETag: pass it as `ifMatch` to write only if nobody changed the stack since */
  etag: string;
  spec: TSpec;
  generation: number;
  observed: TObserved | undefined;
  observedGeneration: number;
  observedAt: string | undefined;
  operation: StackOperation | undefined;
  conditions: StackCondition[];
  createdAt: string;
  updatedAt: string;
}

export interface StackRegistryOptions<TSpec, TObserved> {
  /** the clock of createdAt, updatedAt, observedAt and lastTransitionTime */
  clock?: () => Date;
  /** checks a stored spec on read (e.g. against the spec schema); default: trusted as is */
  parseSpec?: (json: unknown) => TSpec;
  parseObserved?: (json: unknown) => TObserved;
}

export interface PutDesiredOptions extends StoreCallOptions {
  /** write only if the stack still has this ETag (it must exist then) */
  ifMatch?: string;
}
export interface PutObservedOptions extends StoreCallOptions {
  /** the spec generation the observed state was produced from */
  generation: number;
}
export interface SetOperationOptions extends StoreCallOptions {
  /** claim or clear only if the stack still has this ETag; clearing with it forces out any holder */
  ifMatch?: string;
  /** when clearing: the instance id of the holder; someone else's operation is left alone */
  heldBy?: string;
}
export interface DeleteStackOptions extends StoreCallOptions {
  ifMatch?: string;
}
export interface ListStacksOptions extends StoreCallOptions {
  /** entities per request (the service returns at most 1000) */
  pageSize?: number;
}

export interface ListPageOptions extends StoreCallOptions {
  /** stacks per page (1-1000) */
  pageSize: number;
  /** the last stack of the previous page: this page starts after it */
  after?: string;
}

export interface StackPage<TSpec, TObserved> {
  stacks: StackRecord<TSpec, TObserved>[];
  /** more stacks follow the last one of this page */
  more: boolean;
}

/** The ETag given as `ifMatch` is not the stack's current one (or the stack does not exist). */
export interface EtagMismatch<TSpec, TObserved> {
  ok: false;
  reason: "etag-mismatch";
  stack: StackRecord<TSpec, TObserved> | undefined;
}

export type PutDesiredResult<TSpec, TObserved> =
  | { ok: true; change: "created" | "updated" | "unchanged"; stack: StackRecord<TSpec, TObserved> }
  | EtagMismatch<TSpec, TObserved>;

export type PutObservedResult<TSpec, TObserved> =
  | { ok: true; stack: StackRecord<TSpec, TObserved> }
  /** a newer generation was already observed; this (late) observation was dropped */
  | { ok: false; reason: "stale-generation"; stack: StackRecord<TSpec, TObserved> };

export type SetOperationResult<TSpec, TObserved> =
  /** `unchanged`: the claim was already held by the same instance, or there was nothing to clear */
  | { ok: true; unchanged: boolean; stack: StackRecord<TSpec, TObserved> }
  | { ok: false; reason: "operation-running"; running: StackOperation; stack: StackRecord<TSpec, TObserved> }
  | EtagMismatch<TSpec, TObserved>;

export interface ClaimOptions<TSpec, TObserved, R> extends StoreCallOptions {
  /** the desired spec stored with the claim (a PUT); the generation moves only when it differs */
  spec?: TSpec;
  /** the claim the caller found and judged stale (its instance ended): only it may be replaced */
  replacing?: StackOperation;
  /** a reason to refuse the claim, decided on the stored stack the write would replace */
  refuse?: (current: StackRecord<TSpec, TObserved>) => R | undefined;
}

export type ClaimResult<TSpec, TObserved, R> =
  | { ok: true; change: "created" | "updated" | "unchanged"; stack: StackRecord<TSpec, TObserved> }
  | { ok: false; reason: "operation-running"; running: StackOperation; stack: StackRecord<TSpec, TObserved> }
  | { ok: false; reason: "refused"; refusal: R; stack: StackRecord<TSpec, TObserved> }
  /** no such stack, and no spec to create it with */
  | { ok: false; reason: "not-found" };

export type DeleteStackResult = { ok: true; deleted: boolean } | { ok: false; reason: "etag-mismatch" };

const PARTITION = "stack";
const LAYOUT_VERSION = 1;
/** Budgets per document, in UTF-16 code units: spec and observed state together stay under 1 MiB. */
export const STACK_DOCUMENT_LIMITS = { spec: 192 * 1024, observed: 192 * 1024, conditions: 30_000, operation: 2_000 };
/** Read-decide-write rounds before giving up on a hot entity. */
const MAX_WRITE_ATTEMPTS = 8;

/** What a read-decide-write round does: stop with a result, or write this state. */
type Decision<R, TSpec, TObserved> =
  { done: R } | { write: StackState<TSpec, TObserved>; then: (stack: StackRecord<TSpec, TObserved>) => R };

/** A stack's stored fields, without its ETag. */
type StackState<TSpec, TObserved> = Omit<StackRecord<TSpec, TObserved>, "etag">;

type StoredEntity = Record<string, unknown> & { etag: string };

export class StackRegistry<TSpec = unknown, TObserved = unknown> {
  private readonly clock: () => Date;
  private readonly parseSpec: (json: unknown) => TSpec;
  private readonly parseObserved: (json: unknown) => TObserved;

  private readonly tables: StoreTables;

  /** `store`: the process's StoreTables, or settings to build one from. */
  constructor(store: StoreTables | StoreSettings, options: StackRegistryOptions<TSpec, TObserved> = {}) {
    this.tables = store instanceof StoreTables ? store : new StoreTables(store);
    this.clock = options.clock ?? (() => new Date());
    this.parseSpec = options.parseSpec ?? ((json) => json as TSpec);
    this.parseObserved = options.parseObserved ?? ((json) => json as TObserved);
  }

  async get(name: string, options: StoreCallOptions = {}): Promise<StackRecord<TSpec, TObserved> | undefined> {
    assertStackName(name);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("stacks", { abortSignal });
    return this.read(table, name, abortSignal);
  }

  /** Every registered stack, fetched page by page. */
  async list(options: ListStacksOptions = {}): Promise<StackRecord<TSpec, TObserved>[]> {
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("stacks", { abortSignal });
    const pages = table
      .listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${PARTITION} and RowKey lt ${INDEX_ROW_PREFIX}` },
        abortSignal,
      })
      .byPage({ maxPageSize: Math.min(Math.max(options.pageSize ?? 1000, 1), 1000) });
    const stacks: StackRecord<TSpec, TObserved>[] = [];
    for await (const page of pages) for (const entity of page) stacks.push(this.toRecord(entity));
    return stacks;
  }

  /**
   * One page of stacks in name order, after `after`: a RowKey range of the stacks' partition, read
   * until it holds one stack more than the page (that one only says whether more follow). The Table
   * service may end a response early with a continuation (at most 1,000 entities, 5 seconds, a
   * partition range boundary), even with no entity at all, so its continuation is followed rather
   * than taken for "more": a page is never cut short, and `more` is never true for an empty rest.
   */
  async listPage(options: ListPageOptions): Promise<StackPage<TSpec, TObserved>> {
    if (options.after !== undefined) assertStackName(options.after);
    const pageSize = Math.min(Math.max(Math.floor(options.pageSize), 1), 1000);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("stacks", { abortSignal });
    const filter =
      options.after === undefined
        ? odata`PartitionKey eq ${PARTITION} and RowKey lt ${INDEX_ROW_PREFIX}`
        : odata`PartitionKey eq ${PARTITION} and RowKey gt ${options.after} and RowKey lt ${INDEX_ROW_PREFIX}`;
    const entities: Record<string, unknown>[] = [];
    let continuationToken: string | undefined;
    do {
      const iterator = table
        .listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal })
        .byPage({ maxPageSize: Math.min(pageSize + 1 - entities.length, 1000), continuationToken });
      const next = await iterator.next();
      if (next.done) break;
      entities.push(...next.value);
      continuationToken = next.value.continuationToken;
    } while (continuationToken && entities.length <= pageSize);
    return {
      stacks: entities.slice(0, pageSize).map((entity) => this.toRecord(entity)),
      more: entities.length > pageSize,
    };
  }

  /**
   * The stacks registered in a resource group, from the alert routing index (shared/store/alert-routes.ts):
   * one query of one partition's RowKey range, whatever the number of stacks. `complete` is false
   * while the index was never backfilled (stacks registered before it may be missing).
   */
  async routes(subscriptionId: string, resourceGroup: string, options: StoreCallOptions = {}): Promise<AlertRoute[]> {
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("stacks", { abortSignal });
    const prefix = routeGroupPrefix(subscriptionId, resourceGroup);
    const routes: AlertRoute[] = [];
    const pages = table
      .listEntities<Record<string, unknown>>({
        queryOptions: {
          filter: odata`PartitionKey eq ${PARTITION} and RowKey ge ${prefix} and RowKey lt ${`${prefix}~`}`,
        },
        abortSignal,
      })
      .byPage({ maxPageSize: 100 });
    for await (const page of pages) {
      for (const e of page) {
        const route = typeof e.Route === "string" ? (JSON.parse(e.Route) as AlertRoute | null) : null;
        if (route) routes.push(route);
      }
    }
    return routes;
  }

  /** Whether every registered stack is known to have its index row (the backfill's marker). */
  async routesComplete(options: StoreCallOptions = {}): Promise<boolean> {
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("stacks", { abortSignal });
    try {
      const marker = await table.getEntity<Record<string, unknown>>(PARTITION, INDEX_MARKER_ROW, { abortSignal });
      return Number(marker.Version) >= ROUTE_LAYOUT_VERSION;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw e;
    }
  }

  /**
   * Writes the index rows these stacks lack or whose facts are stale, and removes rows of stacks that
   * are gone; then marks the index complete. Idempotent: a current index costs one query and no write.
   */
  async backfillRoutes(
    stacks: StackRecord<TSpec, TObserved>[],
    options: StoreCallOptions = {},
  ): Promise<{ written: number; removed: number }> {
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("stacks", { abortSignal });
    const existing = new Map<string, string>();
    const rows = table.listEntities<Record<string, unknown>>({
      queryOptions: {
        filter: odata`PartitionKey eq ${PARTITION} and RowKey ge ${ROUTE_ROW_PREFIX} and RowKey lt ${`${ROUTE_ROW_PREFIX}~`}`,
      },
      abortSignal,
    });
    for await (const e of rows) existing.set(String(e.rowKey), String(e.Route));
    let written = 0;
    const wanted = new Set<string>();
    for (const stack of stacks) {
      const row = routeEntity(stack.name, stack.spec, stack.operation);
      if (!row) continue;
      wanted.add(row.rowKey);
      if (existing.get(row.rowKey) === row.Route) continue;
      await table.upsertEntity(row, "Replace", { abortSignal });
      written++;
    }
    let removed = 0;
    const names = new Set(stacks.map((s) => s.name));
    for (const key of existing.keys()) {
      const stack = key.split(":").pop() ?? "";
      if (wanted.has(key) || names.has(stack)) continue;
      // a row of a stack no longer registered (unregistered without its index row's transaction)
      await table.deleteEntity(PARTITION, key, { abortSignal }).catch((e: unknown) => {
        if (statusOf(e) !== 404) throw e;
      });
      removed++;
    }
    await table.upsertEntity(
      {
        partitionKey: PARTITION,
        rowKey: INDEX_MARKER_ROW,
        Version: ROUTE_LAYOUT_VERSION,
        At: this.clock().toISOString(),
      },
      "Replace",
      { abortSignal },
    );
    return { written, removed };
  }

  /** Creates the stack or updates its spec; the generation moves only when the spec changes. */
  async putDesired(
    name: string,
    spec: TSpec,
    options: PutDesiredOptions = {},
  ): Promise<PutDesiredResult<TSpec, TObserved>> {
    assertStackName(name);
    // compared as stored: key order and undefined members do not make a new generation
    const normalized = asStored(spec);
    return this.mutate<PutDesiredResult<TSpec, TObserved>>(name, options, (current) => {
      if (options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
        return { done: { ok: false, reason: "etag-mismatch", stack: current } };
      }
      const now = this.clock().toISOString();
      if (!current) {
        const created: StackState<TSpec, TObserved> = {
          name,
          spec,
          generation: 1,
          observed: undefined,
          observedGeneration: 0,
          observedAt: undefined,
          operation: undefined,
          conditions: [],
          createdAt: now,
          updatedAt: now,
        };
        return { write: created, then: (stack) => ({ ok: true, change: "created", stack }) };
      }
      if (isDeepStrictEqual(normalized, asStored(current.spec))) {
        return { done: { ok: true, change: "unchanged", stack: current } };
      }
      const updated = { ...current, spec, generation: current.generation + 1, updatedAt: now };
      return { write: updated, then: (stack) => ({ ok: true, change: "updated", stack }) };
    });
  }

  /**
   * Claims the stack for an operation and, with `spec`, stores that spec as the desired state, in
   * one ETag-guarded write (optimistic concurrency): either both are stored or neither is. Refused
   * (`operation-running`) while an operation other than `options.replacing` holds the stack, and
   * when `options.refuse` finds a reason on the stored stack. Creates the stack when it is absent
   * and a spec is given. `operation` gets the generation the stack will have.
   */
  async claim<R = never>(
    name: string,
    operation: (generation: number) => StackOperation,
    options: ClaimOptions<TSpec, TObserved, R> = {},
  ): Promise<ClaimResult<TSpec, TObserved, R>> {
    assertStackName(name);
    const { spec } = options;
    const normalized = spec === undefined ? undefined : asStored(spec);
    return this.mutate<ClaimResult<TSpec, TObserved, R>>(name, options, (current) => {
      const now = this.clock().toISOString();
      if (!current) {
        if (spec === undefined) return { done: { ok: false, reason: "not-found" } };
        const op = operation(1);
        assertOperation(op);
        const created: StackState<TSpec, TObserved> = {
          name,
          spec,
          generation: 1,
          observed: undefined,
          observedGeneration: 0,
          observedAt: undefined,
          operation: op,
          conditions: [],
          createdAt: now,
          updatedAt: now,
        };
        return { write: created, then: (stack) => ({ ok: true, change: "created", stack }) };
      }
      const refusal = options.refuse?.(current);
      if (refusal !== undefined) return { done: { ok: false, reason: "refused", refusal, stack: current } };
      const running = current.operation;
      if (running && !isDeepStrictEqual(asStored(running), asStored(options.replacing))) {
        return { done: { ok: false, reason: "operation-running", running, stack: current } };
      }
      const changed = spec !== undefined && !isDeepStrictEqual(normalized, asStored(current.spec));
      const generation = changed ? current.generation + 1 : current.generation;
      const op = operation(generation);
      assertOperation(op);
      const updated = { ...current, spec: changed ? spec : current.spec, generation, operation: op, updatedAt: now };
      const change = changed ? "updated" : "unchanged";
      return { write: updated, then: (stack) => ({ ok: true, change, stack }) };
    });
  }

  /** Records what a reconcile of spec generation `generation` found; a late, older one is dropped. */
  async putObserved(
    name: string,
    observed: TObserved,
    options: PutObservedOptions,
  ): Promise<PutObservedResult<TSpec, TObserved>> {
    assertStackName(name);
    if (!Number.isInteger(options.generation) || options.generation < 1) {
      throw new RangeError(`observed generation must be a whole number >= 1, got ${options.generation}`);
    }
    return this.mutate<PutObservedResult<TSpec, TObserved>>(name, options, (current) => {
      if (!current) throw new StackNotFoundError(name);
      if (options.generation > current.generation) {
        throw new RangeError(
          `stack '${name}' is at generation ${current.generation}; generation ${options.generation} cannot have been observed`,
        );
      }
      if (options.generation < current.observedGeneration) {
        return { done: { ok: false, reason: "stale-generation", stack: current } };
      }
      const now = this.clock().toISOString();
      const updated = { ...current, observed, observedGeneration: options.generation, observedAt: now, updatedAt: now };
      return { write: updated, then: (stack) => ({ ok: true, stack }) };
    });
  }

  /**
   * Changes part of what was observed, read-modify-write under the ETag it read: `change` gets the
   * observed state as stored now (again after a lost race), so fields another writer changed
   * meanwhile are kept; for a stack never observed yet it gets undefined. The observed generation
   * stays. Throws StackNotFoundError when the stack is gone.
   */
  async updateObserved(
    name: string,
    change: (observed: TObserved | undefined) => TObserved,
    options: StoreCallOptions = {},
  ): Promise<boolean> {
    assertStackName(name);
    return this.mutate<boolean>(name, options, (current) => {
      if (!current) throw new StackNotFoundError(name);
      const now = this.clock().toISOString();
      const updated = { ...current, observed: change(current.observed), observedAt: now, updatedAt: now };
      return { write: updated, then: () => true };
    });
  }

  /**
   * Claims the stack for an operation (`op`), or clears the claim (`null`).
   *
   * A claim succeeds when no operation runs, and again when the same instance already holds it for
   * the same kind: unchanged when it is the very same claim (a retried activity), rewritten when it
   * differs (the orchestration takes over the claim a request made for it, or a new run of a
   * singleton id takes its own dead run's claim, so anyone who judged that claim stale fails its
   * ETag-guarded write). Otherwise the result names the running operation.
   * Clearing needs `heldBy` (the holder clears its own claim; clearing an already cleared claim is
   * fine) or `ifMatch` (an operator forces out a stuck holder they have seen).
   */
  async setOperation(
    name: string,
    op: StackOperation | null,
    options: SetOperationOptions = {},
  ): Promise<SetOperationResult<TSpec, TObserved>> {
    assertStackName(name);
    if (op) assertOperation(op);
    else if (options.heldBy === undefined && options.ifMatch === undefined) {
      throw new TypeError("clearing a stack's operation needs heldBy (the holder's instance id) or ifMatch");
    }
    return this.mutate<SetOperationResult<TSpec, TObserved>>(name, options, (current) => {
      if (!current) throw new StackNotFoundError(name);
      const running = current.operation;
      if (op) {
        const mine = running?.instanceId === op.instanceId && running.kind === op.kind;
        if (mine && isDeepStrictEqual(asStored(running), asStored(op))) {
          return { done: { ok: true, unchanged: true, stack: current } };
        }
        if (running && !mine) return { done: { ok: false, reason: "operation-running", running, stack: current } };
      } else {
        if (!running) return { done: { ok: true, unchanged: true, stack: current } };
        if (options.heldBy !== undefined && running.instanceId !== options.heldBy) {
          return { done: { ok: false, reason: "operation-running", running, stack: current } };
        }
      }
      if (options.ifMatch !== undefined && current.etag !== options.ifMatch) {
        return { done: { ok: false, reason: "etag-mismatch", stack: current } };
      }
      const updated = { ...current, operation: op ?? undefined, updatedAt: this.clock().toISOString() };
      return { write: updated, then: (stack) => ({ ok: true, unchanged: false, stack }) };
    });
  }

  /**
   * Sets conditions by type (other types stay). `lastTransitionTime` moves only when a condition's
   * status changes; nothing is written when nothing changed.
   */
  async setConditions(
    name: string,
    conditions: StackConditionInput[],
    options: StoreCallOptions = {},
  ): Promise<StackRecord<TSpec, TObserved>> {
    assertStackName(name);
    conditions.forEach(assertCondition);
    return this.mutate<StackRecord<TSpec, TObserved>>(name, options, (current) => {
      if (!current) throw new StackNotFoundError(name);
      const now = this.clock().toISOString();
      const merged = [...current.conditions];
      for (const input of conditions) {
        const i = merged.findIndex((c) => c.type === input.type);
        const previous = i >= 0 ? merged[i] : undefined;
        const next: StackCondition = {
          type: input.type,
          status: input.status,
          reason: input.reason,
          message: input.message,
          lastTransitionTime: previous && previous.status === input.status ? previous.lastTransitionTime : now,
        };
        if (i >= 0) merged[i] = next;
        else merged.push(next);
      }
      if (isDeepStrictEqual(merged, current.conditions)) return { done: current };
      const updated = { ...current, conditions: merged, updatedAt: now };
      return { write: updated, then: (stack) => stack };
    });
  }

  async delete(name: string, options: DeleteStackOptions = {}): Promise<DeleteStackResult> {
    assertStackName(name);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("stacks", { abortSignal });
    try {
      // the stack and its index row go together (one partition, one transaction); a stack registered
      // before the index has no row to delete, and goes alone
      const stored = await this.read(table, name, abortSignal);
      const route = stored ? routeEntity(name, stored.spec, stored.operation) : undefined;
      const etag = options.ifMatch ?? "*";
      if (route && options.ifMatch === undefined) {
        try {
          await table.submitTransaction(
            [
              ["delete", { partitionKey: PARTITION, rowKey: name }],
              ["delete", { partitionKey: PARTITION, rowKey: route.rowKey }],
            ],
            { abortSignal },
          );
          return { ok: true, deleted: true };
        } catch (e) {
          if (statusOf(e) !== 404) throw e;
        }
      }
      // a transaction's delete takes no ETag: an ETag-guarded unregister deletes the stack first and
      // its index row right after (a row left by a crash in between names a stack the registry no
      // longer has: an alert it routes reaches a heal or scale worker that finds no stack and ends)
      await table.deleteEntity(PARTITION, name, { etag, abortSignal });
      if (route) {
        await table.deleteEntity(PARTITION, route.rowKey, { abortSignal }).catch((e: unknown) => {
          if (statusOf(e) !== 404) throw e;
        });
      }
      return { ok: true, deleted: true };
    } catch (e) {
      if (statusOf(e) === 404) {
        return options.ifMatch === undefined ? { ok: true, deleted: false } : { ok: false, reason: "etag-mismatch" };
      }
      if (statusOf(e) === 412) return { ok: false, reason: "etag-mismatch" };
      throw e;
    }
  }

  /**
   * Reads the stack, lets `decide` choose, writes under the read ETag; when another writer got
   * there first (409 on create, 412 on replace), reads again and lets `decide` choose again.
   */
  private async mutate<R>(
    name: string,
    options: StoreCallOptions,
    decide: (current: StackRecord<TSpec, TObserved> | undefined) => Decision<R, TSpec, TObserved>,
  ): Promise<R> {
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("stacks", { abortSignal });
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await this.read(table, name, abortSignal);
      const decision = decide(current);
      if ("done" in decision) return decision.done;
      const entity = this.toEntity(decision.write);
      try {
        const etag = await this.writeWithRoute(table, current, decision.write, entity, abortSignal);
        return decision.then({ ...decision.write, etag });
      } catch (e) {
        const status = statusOf(e);
        // 412/409: another writer got there first; 404: deleted meanwhile. Decide again on what is there now.
        const lostRace = (current && (status === 412 || status === 404)) || (!current && status === 409);
        if (!lostRace) throw e;
        // a short random pause, so writers racing on one stack stop colliding in lockstep
        await delay(Math.random() * 10 * attempt, undefined, { signal: abortSignal });
      }
    }
    throw new StoreContentionError(
      `stack '${name}' changed under ${MAX_WRITE_ATTEMPTS} consecutive writes; nothing was overwritten, try again`,
    );
  }

  /**
   * Writes the stack's entity under the ETag it was read with; when what the alert matcher needs of
   * the stack changes, its index row goes in the same entity-group transaction (one partition).
   */
  private async writeWithRoute(
    table: TableClient,
    current: StackRecord<TSpec, TObserved> | undefined,
    next: StackState<TSpec, TObserved>,
    entity: Record<string, unknown> & { partitionKey: string; rowKey: string },
    abortSignal: AbortSignal,
  ): Promise<string> {
    const before = current ? routeEntity(current.name, current.spec, current.operation) : undefined;
    const after = routeEntity(next.name, next.spec, next.operation);
    const routeChanged = before?.rowKey !== after?.rowKey || before?.Route !== after?.Route;
    if (!routeChanged) {
      const response = current
        ? await table.updateEntity(entity, "Replace", { etag: current.etag, abortSignal })
        : await table.createEntity(entity, { abortSignal });
      if (!response.etag) throw new Error(`Table Storage returned no ETag for stack '${next.name}'`);
      return response.etag;
    }
    const actions: TransactionAction[] = [
      current ? ["update", entity, "Replace", { etag: current.etag }] : ["create", entity],
    ];
    if (after) actions.push(["upsert", after, "Replace"]);
    if (before && before.rowKey !== after?.rowKey) actions.push(["upsert", { ...before, Route: "null" }, "Replace"]);
    const response = await table.submitTransaction(actions, { abortSignal });
    const etag = response.getResponseForEntity(entity.rowKey)?.etag;
    if (etag) return etag;
    // some service versions answer a batch without per-entity ETags: read the stack's own
    const reread = await table.getEntity(PARTITION, entity.rowKey, { abortSignal });
    return reread.etag;
  }

  private async read(
    table: TableClient,
    name: string,
    abortSignal: AbortSignal,
  ): Promise<StackRecord<TSpec, TObserved> | undefined> {
    try {
      const entity = await table.getEntity<Record<string, unknown>>(PARTITION, name, { abortSignal });
      return this.toRecord(entity);
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  private toEntity(state: StackState<TSpec, TObserved>): Record<string, unknown> & {
    partitionKey: string;
    rowKey: string;
  } {
    const what = `stack '${state.name}'`;
    const entity = {
      partitionKey: PARTITION,
      rowKey: state.name,
      Layout: LAYOUT_VERSION,
      Generation: state.generation,
      ObservedGeneration: state.observedGeneration,
      CreatedAt: state.createdAt,
      UpdatedAt: state.updatedAt,
      ...(state.observedAt ? { ObservedAt: state.observedAt } : {}),
      ...toJsonColumns("Spec", state.spec, STACK_DOCUMENT_LIMITS.spec, `${what}: spec`),
      ...(state.observed !== undefined
        ? toJsonColumns("Observed", state.observed, STACK_DOCUMENT_LIMITS.observed, `${what}: observed state`)
        : {}),
      ...(state.operation
        ? toJsonColumns("Operation", state.operation, STACK_DOCUMENT_LIMITS.operation, `${what}: operation`)
        : {}),
      ...toJsonColumns("Conditions", state.conditions, STACK_DOCUMENT_LIMITS.conditions, `${what}: conditions`),
    };
    assertEntityFits(entity, what);
    return entity;
  }

  private toRecord(entity: Record<string, unknown>): StackRecord<TSpec, TObserved> {
    const stored = entity as StoredEntity;
    const name = String(stored.rowKey);
    const what = `stack '${name}'`;
    const observed = fromJsonColumns(stored, "Observed", `${what}: observed state`);
    return {
      name,
      etag: stored.etag,
      spec: this.parseSpec(fromJsonColumns(stored, "Spec", `${what}: spec`)),
      generation: Number(stored.Generation),
      observed: observed === undefined ? undefined : this.parseObserved(observed),
      observedGeneration: Number(stored.ObservedGeneration ?? 0),
      observedAt: typeof stored.ObservedAt === "string" ? stored.ObservedAt : undefined,
      operation: fromJsonColumns(stored, "Operation", `${what}: operation`) as StackOperation | undefined,
      conditions: (fromJsonColumns(stored, "Conditions", `${what}: conditions`) as StackCondition[] | undefined) ?? [],
      createdAt: String(stored.CreatedAt),
      updatedAt: String(stored.UpdatedAt),
    };
  }
}

/** A stack's alert routing index row (undefined when its spec names no placement). */
function routeEntity(
  name: string,
  spec: unknown,
  operation: StackOperation | undefined,
): { partitionKey: string; rowKey: string; Layout: number; Route: string } | undefined {
  const route = routeOf(name, spec, operation);
  if (!route) return undefined;
  return {
    partitionKey: PARTITION,
    rowKey: routeRowKey(route.spec.subscriptionId, route.spec.resourceGroup, name),
    Layout: ROUTE_LAYOUT_VERSION,
    Route: JSON.stringify(route),
  };
}

/** A value as it reads back from its JSON column. */
function asStored(value: unknown): unknown {
  const json = JSON.stringify(value) as string | undefined;
  return json === undefined ? undefined : (JSON.parse(json) as unknown);
}

function assertOperation(op: StackOperation): void {
  if (!(OPERATION_KINDS as readonly string[]).includes(op.kind)) {
    throw new RangeError(`operation kind must be one of ${OPERATION_KINDS.join(", ")}, got '${op.kind}'`);
  }
  if (typeof op.instanceId !== "string" || op.instanceId.length === 0) {
    throw new RangeError("an operation needs the instance id of the orchestration running it");
  }
  if (typeof op.startedAt !== "string" || Number.isNaN(Date.parse(op.startedAt))) {
    throw new RangeError(`operation startedAt must be an ISO 8601 time, got '${op.startedAt}'`);
  }
  if (op.starting !== undefined && op.starting !== true)
    throw new RangeError("operation starting must be true or absent");
  if (op.previousRun !== undefined && (!op.starting || Number.isNaN(Date.parse(op.previousRun)))) {
    throw new RangeError(`operation previousRun must be an ISO 8601 time on a starting claim, got '${op.previousRun}'`);
  }
}

function assertCondition(c: StackConditionInput): void {
  if (typeof c.type !== "string" || !/^[A-Za-z][A-Za-z0-9]*$/.test(c.type)) {
    throw new RangeError(`condition type must be a CamelCase word, got '${c.type}'`);
  }
  if (c.status !== "True" && c.status !== "False" && c.status !== "Unknown") {
    throw new RangeError(`condition '${c.type}': status must be True, False or Unknown, got '${String(c.status)}'`);
  }
}
