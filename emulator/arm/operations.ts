// The long-running-operation engine. An operation completes when its work has settled, its
// latency has passed and a poller has seen it running `pollsBeforeDone` times; an operation
// nobody polls still completes on its own (as in Azure) once its latency plus a grace period
// has passed. In `manual` mode only the test completes it.
import { randomUUID } from "node:crypto";
import type { ActionOutcome, Json } from "./types";

export type LroMode = "instant" | "async" | "manual";
export type OperationStatus = "InProgress" | "Succeeded" | "Failed" | "Canceled";

export interface OperationError {
  code: string;
  message: string;
}

export interface Operation {
  id: string;
  subscription: string;
  namespace: string;
  /** type key of the resource the request addressed (e.g. microsoft.network/virtualnetworks/subnets) */
  typeKey: string;
  /** the request's verb: put, patch, delete or the action's name (an inline child's DELETE is a write of its parent) */
  requestVerb: string;
  /** api-version of the request that started it, echoed on the polling URLs */
  apiVersion: string;
  location: string;
  verb: "put" | "patch" | "delete" | "action";
  resourceId: string;
  /** name of the action (`restart`, `runCommand`) for POSTs */
  action?: string;
  status: OperationStatus;
  startTime: string;
  endTime?: string;
  error?: OperationError;
  outcome?: ActionOutcome;
  manual: boolean;
  polls: number;
  /** running answers given so far (each gets the next recorded Retry-After) */
  runningAnswers: number;
  readyAt: number;
  /** set by a fault rule: the operation ends like this instead of succeeding */
  forcedEnd?: { status: "Failed" | "Canceled"; error: OperationError };
  /** the work settled (undefined while still running) */
  settled?: { ok: true; outcome: ActionOutcome } | { ok: false; error: OperationError };
  onSucceeded(outcome: ActionOutcome): void;
  onFailed(status: "Failed" | "Canceled", error: OperationError): void;
}

export interface LroSettings {
  mode: LroMode;
  /** running answers a poller sees before the operation may complete */
  pollsBeforeDone: number;
  /** Retry-After seconds on every answer of a running operation (wins over `recordedRetryAfter`) */
  retryAfterSeconds?: number;
  /**
   * Send the Retry-After values Azure was recorded sending for each operation and step
   * (retry-after.ts). Off by default: a poller honours them, and tests do not wait 10-50 s per poll.
   */
  recordedRetryAfter?: boolean;
  /** an operation nobody polls completes this long after its latency */
  unpolledGraceMs: number;
}

export class OperationEngine {
  private readonly ops = new Map<string, Operation>();
  private readonly timers = new Set<NodeJS.Timeout>();
  settings: LroSettings = { mode: "instant", pollsBeforeDone: 1, unpolledGraceMs: 250 };

  create(
    init: Pick<
      Operation,
      | "subscription"
      | "namespace"
      | "typeKey"
      | "requestVerb"
      | "apiVersion"
      | "verb"
      | "resourceId"
      | "action"
      | "onSucceeded"
      | "onFailed"
    > & {
      location?: string;
      latencyMs: number;
      work?: Promise<ActionOutcome>;
      forcedEnd?: Operation["forcedEnd"];
    },
  ): Operation {
    const op: Operation = {
      id: randomUUID(),
      subscription: init.subscription,
      namespace: init.namespace,
      typeKey: init.typeKey,
      requestVerb: init.requestVerb,
      apiVersion: init.apiVersion,
      location: (init.location ?? "westeurope").replace(/\s+/g, "").toLowerCase(),
      verb: init.verb,
      resourceId: init.resourceId,
      action: init.action,
      status: "InProgress",
      startTime: new Date().toISOString(),
      manual: this.settings.mode === "manual",
      polls: 0,
      runningAnswers: 0,
      readyAt: Date.now() + init.latencyMs,
      forcedEnd: init.forcedEnd,
      onSucceeded: init.onSucceeded,
      onFailed: init.onFailed,
    };
    this.ops.set(op.id, op);
    const work = init.work ?? Promise.resolve({});
    work.then(
      (outcome) => {
        op.settled = { ok: true, outcome };
      },
      (e: unknown) => {
        op.settled = { ok: false, error: toOperationError(e) };
      },
    );
    if (!op.manual) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        void this.completeWhenSettled(op);
      }, init.latencyMs + this.settings.unpolledGraceMs);
      t.unref();
      this.timers.add(t);
    }
    return op;
  }

  get(id: string): Operation | undefined {
    return this.ops.get(id);
  }

  list(): Operation[] {
    return [...this.ops.values()];
  }

  /** A poller asks: advance the operation if it may complete, then report it. */
  poll(op: Operation): Operation {
    op.polls++;
    if (op.status === "InProgress" && !op.manual && op.settled && op.polls > this.settings.pollsBeforeDone) {
      if (Date.now() >= op.readyAt) this.finish(op);
    }
    return op;
  }

  /** Test control for `manual` mode (and for forcing any running operation to an end). */
  complete(id: string, end: { status?: "Succeeded" | "Failed" | "Canceled"; error?: OperationError } = {}): Operation {
    const op = this.ops.get(id);
    if (!op) throw new Error(`no operation ${id}`);
    if (op.status !== "InProgress") return op;
    const status = end.status ?? "Succeeded";
    if (status !== "Succeeded") {
      op.forcedEnd = {
        status,
        error: end.error ?? { code: "OperationFailed", message: `Operation ${status.toLowerCase()} by test` },
      };
    }
    op.manual = false;
    this.finish(op);
    return op;
  }

  /** Wait for the work, then end the operation (used by the unpolled-completion timer and instant mode). */
  async completeWhenSettled(op: Operation): Promise<void> {
    while (!op.settled) await new Promise((r) => setImmediate(r));
    if (op.status === "InProgress" && !op.manual) this.finish(op);
  }

  private finish(op: Operation): void {
    op.endTime = new Date().toISOString();
    const settled = op.settled;
    if (op.forcedEnd) {
      op.status = op.forcedEnd.status;
      op.error = op.forcedEnd.error;
    } else if (settled && !settled.ok) {
      op.status = "Failed";
      op.error = settled.error;
    } else {
      try {
        op.outcome = settled?.ok ? settled.outcome : {};
        op.onSucceeded(op.outcome);
        op.status = "Succeeded";
        return;
      } catch (e) {
        op.status = "Failed";
        op.error = toOperationError(e);
      }
    }
    op.onFailed(op.status, op.error);
  }

  /** The Azure-AsyncOperation status document. */
  statusDocument(op: Operation): Json {
    const doc: Json = { name: op.id, status: op.status, startTime: op.startTime };
    if (op.endTime) doc.endTime = op.endTime;
    if (op.error) doc.error = op.error;
    return doc;
  }

  reset(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.ops.clear();
  }
}

function toOperationError(e: unknown): OperationError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    return { code: String((e as Json).code), message: String((e as Json).message) };
  }
  return { code: "InternalOperationError", message: e instanceof Error ? e.message : String(e) };
}
