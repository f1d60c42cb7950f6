// The fleet state: a stack's web nodes as scaling left them, so the hourly drift check and a
// redeploy keep a scaled fleet instead of putting it back to the spec's `fleet.size`. The graph is
// built from these members (shared/scale/fleet.ts decides when they still follow the spec), and
// every scale action is kept in a short history.
//
// Entity layout (table `{prefix}fleet`, PartitionKey "fleet", RowKey = stack name):
//   Layout, Mode, SpecSize, Size, Ordinals (JSON array), LastScale (JSON), History (JSON array,
//   newest last, at most HISTORY_LIMIT), UpdatedAt
// Writes replace the entity under the ETag it was read with; a writer that loses the race reads
// again and re-applies its change. Everything here is shown to users: no secret values.
import { StoreContentionError, StoreCorruptionError, statusOf } from "./errors";
import { assertEntityFits, fromJsonColumns, toJsonColumns } from "./json-columns";
import { assertStackName } from "./keys";
import type { StoreSettings } from "./settings";
import { StoreTables, type StoreCallOptions } from "./tables";

const PARTITION = "fleet";
const LAYOUT_VERSION = 1;
/** Scale actions kept per stack. */
export const FLEET_HISTORY_LIMIT = 20;
const MAX_WRITE_ATTEMPTS = 8;
const DOCUMENT_CHARS = 30_000;

export type FleetMode = "availabilitySet" | "scaleSet";

/** One scale action (or a reset to the spec), for status and audit. */
export interface FleetChange {
  /** unique per change: a retried write finds it already there and changes nothing */
  id: string;
  direction: "out" | "in" | "reset";
  /** ISO 8601: when the fleet reached its new size */
  at: string;
  from: number;
  to: number;
  /** the node added or removed (VM name) */
  node?: string;
  /** why, for people: the alert rule(s) and the decision */
  reason: string;
  /** the orchestration that made the change */
  instanceId?: string;
  /** scale-in: sessions still live when the drain deadline passed and the node was removed */
  sessionsCut?: number;
}

export interface FleetState {
  stack: string;
  mode: FleetMode;
  /** the spec's fleet.size these members started from (another size in the spec resets them) */
  specSize: number;
  size: number;
  /** availability set node numbers, ascending; [] for a scale set */
  ordinals: number[];
  /** the last scale action (out or in): the cooldown counts from it */
  lastScale?: FleetChange;
  history: FleetChange[];
  updatedAt: string;
}

export interface FleetMembersInput {
  mode: FleetMode;
  specSize: number;
  size: number;
  ordinals: number[];
}

export interface SetMembersOptions extends StoreCallOptions {
  /** recorded in the history (and as lastScale when its direction is out or in) */
  change?: FleetChange;
}

export class FleetStateStore {
  private readonly tables: StoreTables;
  private readonly clock: () => Date;

  constructor(store: StoreTables | StoreSettings, options: { clock?: () => Date } = {}) {
    this.tables = store instanceof StoreTables ? store : new StoreTables(store);
    this.clock = options.clock ?? (() => new Date());
  }

  async get(stack: string, options: StoreCallOptions = {}): Promise<FleetState | undefined> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("fleet", { abortSignal });
    try {
      const entity = await table.getEntity<Record<string, unknown>>(PARTITION, stack, { abortSignal });
      return toState(stack, entity);
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Sets the members, and records `change` if given. Idempotent: a change whose id is already in
   * the history leaves the state as it is (a retried activity after a lost answer).
   */
  async setMembers(stack: string, members: FleetMembersInput, options: SetMembersOptions = {}): Promise<FleetState> {
    assertStackName(stack);
    assertMembers(members);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("fleet", { abortSignal });
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      let current: { state: FleetState; etag: string } | undefined;
      try {
        const entity = await table.getEntity<Record<string, unknown>>(PARTITION, stack, { abortSignal });
        current = { state: toState(stack, entity), etag: String(entity.etag) };
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
      const change = options.change;
      if (change && current?.state.history.some((h) => h.id === change.id)) return current.state;
      const history = [...(current?.state.history ?? []), ...(change ? [change] : [])].slice(-FLEET_HISTORY_LIMIT);
      const lastScale = change && change.direction !== "reset" ? change : current?.state.lastScale;
      const next: FleetState = {
        stack,
        mode: members.mode,
        specSize: members.specSize,
        size: members.size,
        ordinals: members.mode === "availabilitySet" ? [...members.ordinals].sort((a, b) => a - b) : [],
        ...(lastScale ? { lastScale } : {}),
        history,
        updatedAt: this.clock().toISOString(),
      };
      const entity = toEntity(next);
      try {
        if (current) await table.updateEntity(entity, "Replace", { etag: current.etag, abortSignal });
        else await table.createEntity(entity, { abortSignal });
        return next;
      } catch (e) {
        const status = statusOf(e);
        const lostRace = (current && (status === 412 || status === 404)) || (!current && status === 409);
        if (!lostRace) throw e;
      }
    }
    throw new StoreContentionError(
      `the fleet state of '${stack}' changed under ${MAX_WRITE_ATTEMPTS} writes; try again`,
    );
  }

  /** Forgets a stack's fleet (after its teardown). */
  async delete(stack: string, options: StoreCallOptions = {}): Promise<boolean> {
    assertStackName(stack);
    const abortSignal = this.tables.deadline(options.abortSignal);
    const table = await this.tables.table("fleet", { abortSignal });
    try {
      await table.deleteEntity(PARTITION, stack, { abortSignal });
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw e;
    }
  }
}

function assertMembers(m: FleetMembersInput): void {
  if (m.mode !== "availabilitySet" && m.mode !== "scaleSet") {
    throw new RangeError(`fleet mode must be availabilitySet or scaleSet, got '${String(m.mode)}'`);
  }
  for (const [name, n] of [
    ["size", m.size],
    ["specSize", m.specSize],
  ] as const) {
    if (!Number.isInteger(n) || n < 0 || n > 1000) throw new RangeError(`fleet ${name} must be 0-1000, got ${n}`);
  }
  if (m.mode === "availabilitySet") {
    if (!Array.isArray(m.ordinals) || m.ordinals.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new RangeError("availability set node numbers must be whole numbers >= 1");
    }
    if (new Set(m.ordinals).size !== m.ordinals.length || m.ordinals.length !== m.size) {
      throw new RangeError(
        `availability set: ${m.size} distinct node numbers expected, got [${m.ordinals.join(", ")}]`,
      );
    }
  }
}

function toEntity(state: FleetState): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  const what = `fleet state of '${state.stack}'`;
  const entity = {
    partitionKey: PARTITION,
    rowKey: state.stack,
    Layout: LAYOUT_VERSION,
    Mode: state.mode,
    SpecSize: state.specSize,
    Size: state.size,
    UpdatedAt: state.updatedAt,
    ...toJsonColumns("Ordinals", state.ordinals, DOCUMENT_CHARS, `${what}: ordinals`),
    ...(state.lastScale ? toJsonColumns("LastScale", state.lastScale, DOCUMENT_CHARS, `${what}: last scale`) : {}),
    ...toJsonColumns("History", state.history, DOCUMENT_CHARS * 4, `${what}: history`),
  };
  assertEntityFits(entity, what);
  return entity;
}

function toState(stack: string, entity: Record<string, unknown>): FleetState {
  const what = `fleet state of '${stack}'`;
  const mode = entity.Mode;
  if (mode !== "availabilitySet" && mode !== "scaleSet") throw new StoreCorruptionError(`${what}: unknown mode`);
  const ordinals = fromJsonColumns(entity, "Ordinals", `${what}: ordinals`);
  const history = fromJsonColumns(entity, "History", `${what}: history`);
  if (!Array.isArray(ordinals) || !Array.isArray(history)) throw new StoreCorruptionError(`${what}: bad JSON`);
  const lastScale = fromJsonColumns(entity, "LastScale", `${what}: last scale`) as FleetChange | undefined;
  return {
    stack,
    mode,
    specSize: Number(entity.SpecSize),
    size: Number(entity.Size),
    ordinals: ordinals as number[],
    ...(lastScale ? { lastScale } : {}),
    history: history as FleetChange[],
    updatedAt: String(entity.UpdatedAt),
  };
}
