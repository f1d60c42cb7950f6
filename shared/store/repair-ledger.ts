// The repair ledger: what healing did to each node of a stack and what it decided about the stack,
// so the budget, the backoff, the escalation ladder, suspensions and the fleet brake survive
// restarts of the heal orchestration (which keeps history short with continueAsNew).
//
// Entity layout (table `{prefix}repairs`, PartitionKey = the stack name):
//   RowKey "node:<vm name>"  Layout, Node, Attempts (JSON, oldest first, the last MAX_ATTEMPTS),
//                            Suspended (JSON {reason, at}) when suspended, ResumedAt
//   RowKey "stack"           Layout, Brake (JSON {reason, message, since}) while the brake holds,
//                            BrakeReleasedAt, BrakeReleasedBy, BrakeOverride (JSON {by, at, until})
// Every write is read-compare-write under the ETag read: a write that changes nothing is not sent,
// and a writer that lost a race reads again. Times come from the caller (the orchestration's clock).
import { setTimeout as delay } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import type { TableClient } from "@azure/data-tables";
import { odata } from "./odata";
import type { BrakeOverride, BrakeState, LedgerState, NodeLedger, NodeSuspension, RepairAttempt } from "../heal/types";
import { StoreContentionError, StoreCorruptionError, statusOf } from "./errors";
import { asciiJson, assertEntityFits } from "./json-columns";
import { assertStackName } from "./keys";
import type { StoreSettings } from "./settings";
import { StoreTables, type StoreCallOptions } from "./tables";

const LAYOUT_VERSION = 1;
/** Attempts kept per node: enough for the 24-hour streak and the hourly budget. */
export const MAX_ATTEMPTS = 30;
const DETAIL_CHARS = 500;
const STACK_ROW = "stack";
const NODE_PREFIX = "node:";
const MAX_WRITE_ATTEMPTS = 8;

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

export class RepairLedger {
  private readonly tables: StoreTables;

  constructor(store: StoreTables | StoreSettings) {
    this.tables = store instanceof StoreTables ? store : new StoreTables(store);
  }

  /** Everything the ledger holds about a stack (empty for a stack it never saw). */
  async get(stack: string, options: StoreCallOptions = {}): Promise<LedgerState> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("repairs", { abortSignal });
    const state: LedgerState = { nodes: {} };
    const query = table.listEntities<Record<string, unknown>>({
      queryOptions: { filter: odata`PartitionKey eq ${stack}` },
      abortSignal,
    });
    for await (const entity of query) {
      const row = String(entity.rowKey);
      if (row === STACK_ROW) {
        const brake = parse<BrakeState>(entity.Brake, `brake of '${stack}'`);
        if (brake) state.brake = brake;
        const override = parse<BrakeOverride>(entity.BrakeOverride, `brake override of '${stack}'`);
        if (override) state.brakeOverride = override;
      } else if (row.startsWith(NODE_PREFIX)) {
        const node = toNode(entity, stack);
        state.nodes[node.node] = node;
      }
    }
    return state;
  }

  /**
   * Adds an attempt, or updates the one with the same id (its outcome, end and detail). Recording
   * the same thing again writes nothing; a final outcome is never turned back into "running".
   */
  async recordAttempt(
    stack: string,
    node: string,
    attempt: RepairAttempt,
    options: StoreCallOptions = {},
  ): Promise<NodeLedger> {
    const clean: RepairAttempt = {
      ...attempt,
      ...(attempt.detail ? { detail: attempt.detail.slice(0, DETAIL_CHARS) } : {}),
    };
    return this.mutateNode(stack, node, options, (current) => {
      const attempts = [...current.attempts];
      const i = attempts.findIndex((a) => a.id === clean.id);
      if (i < 0) attempts.push(clean);
      else if (attempts[i].outcome !== "running" && clean.outcome === "running") return current;
      else attempts[i] = { ...attempts[i], ...clean, relapsed: attempts[i].relapsed || clean.relapsed };
      return { ...current, attempts: stripUndefined(attempts).slice(-MAX_ATTEMPTS) };
    });
  }

  /** Marks a repair that made the node healthy, after which it broke again soon: it did not work. */
  async markRelapsed(stack: string, node: string, attemptId: string, options: StoreCallOptions = {}) {
    return this.mutateNode(stack, node, options, (current) => ({
      ...current,
      attempts: current.attempts.map((a) => (a.id === attemptId ? { ...a, relapsed: true } : a)),
    }));
  }

  /** Suspends repairs of a node; an already suspended node keeps its first reason. */
  async suspend(stack: string, node: string, suspension: NodeSuspension, options: StoreCallOptions = {}) {
    return this.mutateNode(stack, node, options, (current) =>
      current.suspended ? current : { ...current, suspended: suspension },
    );
  }

  /** A person lifts a suspension: repairs before `at` no longer count against the node. */
  async resume(stack: string, node: string, at: string, options: StoreCallOptions = {}) {
    return this.mutateNode(stack, node, options, (current) => {
      const { suspended: _s, ...rest } = current;
      return { ...rest, resumedAt: at };
    });
  }

  /**
   * Engages (or updates) the fleet brake; `null` releases it. An engaged brake keeps its `since`
   * while it holds. Returns whether anything changed.
   */
  async setBrake(
    stack: string,
    brake: BrakeState | null,
    options: StoreCallOptions & { releasedBy?: string; at?: string } = {},
  ): Promise<boolean> {
    let changed = false;
    await this.mutate(stack, STACK_ROW, options, (current) => {
      const held = parse<BrakeState>(current?.Brake, `brake of '${stack}'`);
      if (brake === null) {
        if (!held) return undefined;
        changed = true;
        const { Brake: _b, ...rest } = current!;
        return {
          ...rest,
          Layout: LAYOUT_VERSION,
          ...(options.at ? { BrakeReleasedAt: options.at } : {}),
          ...(options.releasedBy ? { BrakeReleasedBy: options.releasedBy } : {}),
        };
      }
      const next: BrakeState = held && held.reason === brake.reason ? { ...brake, since: held.since } : brake;
      if (held && isDeepStrictEqual(held, next)) return undefined;
      changed = true;
      return {
        ...(current ?? { partitionKey: stack, rowKey: STACK_ROW }),
        Layout: LAYOUT_VERSION,
        Brake: asciiJson(JSON.stringify(next)),
      };
    });
    return changed;
  }

  /** A person releases the brake: it is lifted now and does not engage again before `override.until`. */
  async overrideBrake(stack: string, override: BrakeOverride, options: StoreCallOptions = {}): Promise<void> {
    await this.mutate(stack, STACK_ROW, options, (current) => {
      const { Brake: _b, ...rest } = current ?? { partitionKey: stack, rowKey: STACK_ROW };
      return {
        ...rest,
        partitionKey: stack,
        rowKey: STACK_ROW,
        Layout: LAYOUT_VERSION,
        BrakeOverride: asciiJson(JSON.stringify(override)),
        ...(current?.Brake ? { BrakeReleasedAt: override.at, BrakeReleasedBy: override.by } : {}),
      };
    });
  }

  /** Forgets a stack (after its teardown). */
  async forget(stack: string, options: StoreCallOptions = {}): Promise<void> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("repairs", { abortSignal });
    const query = table.listEntities({ queryOptions: { filter: odata`PartitionKey eq ${stack}` }, abortSignal });
    for await (const e of query) {
      try {
        await table.deleteEntity(stack, String(e.rowKey), { abortSignal });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
  }

  // -------------------------------------------------------------------------------------------

  private async mutateNode(
    stack: string,
    node: string,
    options: StoreCallOptions,
    change: (current: NodeLedger) => NodeLedger,
  ): Promise<NodeLedger> {
    assertNodeName(node);
    let result: NodeLedger | undefined;
    await this.mutate(stack, NODE_PREFIX + node, options, (entity) => {
      const current = entity ? toNode(entity, stack) : { node, attempts: [] };
      const next = change(current);
      result = next;
      if (isDeepStrictEqual(next, current)) return undefined;
      return {
        partitionKey: stack,
        rowKey: NODE_PREFIX + node,
        Layout: LAYOUT_VERSION,
        Node: node,
        Attempts: asciiJson(JSON.stringify(next.attempts)),
        ...(next.suspended ? { Suspended: asciiJson(JSON.stringify(next.suspended)) } : {}),
        ...(next.resumedAt ? { ResumedAt: next.resumedAt } : {}),
      };
    });
    return result!;
  }

  /** Read, let `change` decide (undefined: nothing to write), write under the ETag read; retry on a lost race. */
  private async mutate(
    stack: string,
    rowKey: string,
    options: StoreCallOptions,
    change: (current: (Entity & { etag?: string }) | undefined) => Entity | undefined,
  ): Promise<void> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table: TableClient = await this.tables.table("repairs", { abortSignal });
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      let current: (Entity & { etag: string }) | undefined;
      try {
        current = await table.getEntity<Entity & { etag: string }>(stack, rowKey, { abortSignal });
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
      const next = change(current);
      if (!next) return;
      const entity: Entity = { ...stripSystem(next), partitionKey: stack, rowKey };
      assertEntityFits(entity, `repair ledger '${stack}' ${rowKey}`);
      try {
        if (current) await table.updateEntity(entity, "Replace", { etag: current.etag, abortSignal });
        else await table.createEntity(entity, { abortSignal });
        return;
      } catch (e) {
        const status = statusOf(e);
        const lostRace = (current && (status === 412 || status === 404)) || (!current && status === 409);
        if (!lostRace) throw e;
        await delay(Math.random() * 10 * attempt, undefined, { signal: abortSignal });
      }
    }
    throw new StoreContentionError(`repair ledger '${stack}' ${rowKey} changed under ${MAX_WRITE_ATTEMPTS} writes`);
  }
}

function toNode(entity: Record<string, unknown>, stack: string): NodeLedger {
  const node = typeof entity.Node === "string" ? entity.Node : String(entity.rowKey).slice(NODE_PREFIX.length);
  const what = `repair ledger of '${stack}' node '${node}'`;
  const attempts = parse<RepairAttempt[]>(entity.Attempts, what) ?? [];
  if (!Array.isArray(attempts)) throw new StoreCorruptionError(`${what}: attempts are not a list`);
  const suspended = parse<NodeSuspension>(entity.Suspended, what);
  return {
    node,
    attempts,
    ...(suspended ? { suspended } : {}),
    ...(typeof entity.ResumedAt === "string" ? { resumedAt: entity.ResumedAt } : {}),
  };
}

function parse<T>(value: unknown, describe: string): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new StoreCorruptionError(`${describe}: stored JSON is not text`);
  try {
    return JSON.parse(value) as T;
  } catch {
    throw new StoreCorruptionError(`${describe}: stored JSON does not parse`);
  }
}

/** Table Storage's own fields are not ours to send back. */
function stripSystem(entity: Record<string, unknown>): Record<string, unknown> {
  const { etag: _e, timestamp: _t, "odata.metadata": _m, ...rest } = entity;
  return rest;
}

/** JSON drops undefined members; compare and store what will read back. */
function stripUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function assertNodeName(node: string): void {
  if (typeof node !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/.test(node)) {
    throw new RangeError(`a node name must be a VM name (letters, digits, '-', '_', '.'), got '${String(node)}'`);
  }
}
