// The certificate ledger: what the certificate worker knows about each stack's TLS certificate, so
// the renewal schedule, the backoff, the weekly order count, an order in progress and what each node
// serves survive restarts of the worker (which keeps its history short with continueAsNew) and can
// be shown by GET /api/stacks/{name}.
//
// Entity layout (table `{prefix}certs`, PartitionKey = the stack name, RowKey "state"):
//   Layout, State (JSON CertificateState: serials, dates, version ids, node names, reasons; never a
//   key or a certificate body)
// Every write is read-change-write under the ETag read; a change that changes nothing is not sent.
import { setTimeout as delay } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import type { TableClient } from "@azure/data-tables";
import { emptyCertificateState, type CertificateState } from "../acme/types";
import { ORDER_WINDOW_MS } from "../acme/renewal-policy";
import { StoreContentionError, StoreCorruptionError, statusOf } from "./errors";
import { asciiJson, assertEntityFits, MAX_PROPERTY_CHARS } from "./json-columns";
import { assertStackName } from "./keys";
import type { StoreSettings } from "./settings";
import { StoreTables, type StoreCallOptions } from "./tables";

const LAYOUT_VERSION = 1;
const ROW = "state";
const MAX_WRITE_ATTEMPTS = 8;
const TEXT_CHARS = 500;

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

export class CertificateLedger {
  private readonly tables: StoreTables;

  constructor(store: StoreTables | StoreSettings) {
    this.tables = store instanceof StoreTables ? store : new StoreTables(store);
  }

  /** The stack's certificate state (empty for a stack the worker never saw). */
  async get(stack: string, options: StoreCallOptions = {}): Promise<CertificateState> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("certificates", { abortSignal });
    try {
      const entity = await table.getEntity<Record<string, unknown>>(stack, ROW, { abortSignal });
      return parseState(entity.State, stack);
    } catch (e) {
      if (statusOf(e) === 404) return emptyCertificateState();
      throw e;
    }
  }

  /**
   * Changes the state: `change` gets the current state (a copy) and returns the next one. Orders
   * older than the counting window and over-long texts are trimmed; nothing is written when nothing
   * changed. Returns the state as stored.
   */
  async update(
    stack: string,
    change: (current: CertificateState) => CertificateState,
    options: StoreCallOptions & { now?: Date } = {},
  ): Promise<CertificateState> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table: TableClient = await this.tables.table("certificates", { abortSignal });
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      let entity: (Record<string, unknown> & { etag: string }) | undefined;
      try {
        entity = await table.getEntity<Record<string, unknown> & { etag: string }>(stack, ROW, { abortSignal });
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
      const current = entity ? parseState(entity.State, stack) : emptyCertificateState();
      const next = tidy(change(structuredClone(current)), options.now ?? new Date());
      if (isDeepStrictEqual(next, current)) return current;
      const json = asciiJson(JSON.stringify(next));
      if (json.length > MAX_PROPERTY_CHARS) {
        throw new RangeError(
          `certificate state of '${stack}' is ${json.length} characters, over ${MAX_PROPERTY_CHARS}`,
        );
      }
      const row: Entity = { partitionKey: stack, rowKey: ROW, Layout: LAYOUT_VERSION, State: json };
      assertEntityFits(row, `certificate ledger '${stack}'`);
      try {
        if (entity) await table.updateEntity(row, "Replace", { etag: entity.etag, abortSignal });
        else await table.createEntity(row, { abortSignal });
        return next;
      } catch (e) {
        const status = statusOf(e);
        const lostRace = (entity && (status === 412 || status === 404)) || (!entity && status === 409);
        if (!lostRace) throw e;
        await delay(Math.random() * 10 * attempt, undefined, { signal: abortSignal });
      }
    }
    throw new StoreContentionError(`certificate ledger '${stack}' changed under ${MAX_WRITE_ATTEMPTS} writes`);
  }

  /** Forgets a stack (after its teardown). */
  async forget(stack: string, options: StoreCallOptions = {}): Promise<void> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("certificates", { abortSignal });
    try {
      await table.deleteEntity(stack, ROW, { abortSignal });
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }
}

function parseState(value: unknown, stack: string): CertificateState {
  const what = `certificate ledger of '${stack}'`;
  if (typeof value !== "string") throw new StoreCorruptionError(`${what}: stored JSON is not text`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new StoreCorruptionError(`${what}: stored JSON does not parse`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new StoreCorruptionError(`${what}: stored state is not an object`);
  }
  return { ...emptyCertificateState(), ...(parsed as CertificateState) };
}

/** Keeps the stored state small and JSON-exact: old orders dropped, long texts cut, undefined gone. */
function tidy(state: CertificateState, now: Date): CertificateState {
  const since = now.getTime() - ORDER_WINDOW_MS;
  const cut = (s: string) => (s.length > TEXT_CHARS ? `${s.slice(0, TEXT_CHARS - 1)}…` : s);
  const next: CertificateState = {
    ...state,
    orders: state.orders.filter((o) => Date.parse(o.at) > since),
    nodes: state.nodes.map((n) => (n.detail ? { ...n, detail: cut(n.detail) } : n)),
    ...(state.lastFailure ? { lastFailure: { ...state.lastFailure, message: cut(state.lastFailure.message) } } : {}),
    ...(state.decision ? { decision: cut(state.decision) } : {}),
  };
  return JSON.parse(JSON.stringify(next)) as CertificateState;
}
