// The one place that knows Azure Resource Manager's request budget. ARM throttles each principal
// per subscription with token buckets, one per operation type ("Azure Resource Manager request
// limits and throttling": reads 250 tokens refilled at 25 per second, writes and deletes 200 at 10
// per second; since the 2024 migration the buckets are kept per region of the ARM front door rather
// than per instance, with a global limit of 15 times these across all principals). One Function App
// runs every stack of a subscription under one identity, so its heal, deploy and timer work share
// those buckets. This module models them client-side, per subscription and operation type:
//   - every ARM request takes a token before it is sent (a pipeline policy in the client factory);
//   - work marked background (timers: drift, rotation checks, renewal nudges) may take a token only
//     while the bucket holds more than its reserve, so heal, scale and deploy always find tokens
//     ("heal goes first") and the timers slow down instead;
//   - a 429 from ARM pauses that bucket for every caller of the process until its Retry-After has
//     passed (throttling is the subscription's state, not one call's), background callers a little
//     longer than the others;
//   - ARM's `x-ms-ratelimit-remaining-subscription-*` answers bring the model down to what ARM
//     counts (other instances of the app spend the same budget).
// Resource Graph has its own quota (15 queries per 5 seconds per principal, "Guidance for
// throttled requests"), kept as a bucket of its own. `status()` says what waits, for status pages.
import { AsyncLocalStorage } from "node:async_hooks";
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from "@azure/core-rest-pipeline";

export type ArmOperationKind = "read" | "write" | "delete" | "resourceGraph";
/** `interactive`: heal, scale, deploy, requests; `background`: timer work that can wait */
export type ArmPriority = "interactive" | "background";

export interface BucketSettings {
  /** tokens the bucket holds when full */
  capacity: number;
  /** tokens added per second */
  perSecond: number;
}

export interface ArmBudgetSettings {
  reads: BucketSettings;
  writes: BucketSettings;
  deletes: BucketSettings;
  resourceGraph: BucketSettings;
  /** share of each bucket (0-1) background work leaves to heal and deploy */
  backgroundReserve: number;
}

/** ARM's documented limits per subscription and principal, and Resource Graph's query quota. */
export const AZURE_ARM_LIMITS: ArmBudgetSettings = {
  reads: { capacity: 250, perSecond: 25 },
  writes: { capacity: 200, perSecond: 10 },
  deletes: { capacity: 200, perSecond: 10 },
  resourceGraph: { capacity: 15, perSecond: 3 },
  backgroundReserve: 0.5,
};

/** After a 429 pause, background work waits this much longer than interactive work. */
const BACKGROUND_LAG_AFTER_PAUSE_MS = 1_000;
const DEFAULT_RETRY_AFTER_MS = 10_000;

const priorityContext = new AsyncLocalStorage<ArmPriority>();

/** Runs `work` with its ARM requests marked as background (timer) work. */
export function asBackgroundWork<T>(work: () => Promise<T>): Promise<T> {
  return priorityContext.run("background", work);
}

export function currentArmPriority(): ArmPriority {
  return priorityContext.getStore() ?? "interactive";
}

export interface BucketStatus {
  available: number;
  capacity: number;
  perSecond: number;
  /** ISO 8601: throttled by ARM (429) until then */
  pausedUntil?: string;
  /** requests waiting for a token now, by priority */
  waiting: Record<ArmPriority, number>;
  /** ISO 8601: the oldest request waiting now started waiting then */
  waitingSince?: string;
}

export interface ArmBudgetStatus {
  subscription: string;
  read: BucketStatus;
  write: BucketStatus;
  delete: BucketStatus;
  /** the last 429 ARM answered for this subscription, if any */
  lastThrottled?: { at: string; kind: ArmOperationKind; retryAfterMs: number };
  /** requests that had to wait for a token since the process started, and how long in all */
  waited: { requests: number; ms: number };
}

class Bucket {
  level: number;
  private refilledAt: number;
  pausedUntil = 0;
  readonly waiting: Record<ArmPriority, number> = { interactive: 0, background: 0 };
  readonly waitStarts = new Set<number>();

  constructor(
    readonly settings: BucketSettings | undefined,
    now: number,
  ) {
    this.level = settings?.capacity ?? Number.POSITIVE_INFINITY;
    this.refilledAt = now;
  }

  refill(now: number): void {
    if (!this.settings) return;
    const elapsed = Math.max(0, now - this.refilledAt) / 1000;
    this.level = Math.min(this.settings.capacity, this.level + elapsed * this.settings.perSecond);
    this.refilledAt = now;
  }
}

/** What an SDK pipeline request carries as its abort signal. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export interface ArmBudgetOptions {
  clock?: () => number;
  sleep?: (ms: number, signal?: AbortSignalLike) => Promise<void>;
}

export class ArmBudget {
  private readonly subscriptions = new Map<
    string,
    {
      buckets: Record<ArmOperationKind, Bucket>;
      lastThrottled?: ArmBudgetStatus["lastThrottled"];
      waited: { requests: number; ms: number };
    }
  >();
  private readonly clock: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignalLike) => Promise<void>;

  /** `settings` undefined: no client-side pacing, only the 429 pauses. */
  constructor(
    readonly settings: ArmBudgetSettings | undefined,
    options: ArmBudgetOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? abortableSleep;
  }

  private of(subscription: string) {
    const key = subscription.toLowerCase();
    let entry = this.subscriptions.get(key);
    if (!entry) {
      const now = this.clock();
      const s = this.settings;
      entry = {
        buckets: {
          read: new Bucket(s?.reads, now),
          write: new Bucket(s?.writes, now),
          delete: new Bucket(s?.deletes, now),
          resourceGraph: new Bucket(s?.resourceGraph, now),
        },
        waited: { requests: 0, ms: 0 },
      };
      this.subscriptions.set(key, entry);
    }
    return entry;
  }

  /** Waits until a request of this kind may be sent, then takes its token. */
  async acquire(
    subscription: string,
    kind: ArmOperationKind,
    priority: ArmPriority = currentArmPriority(),
    signal?: AbortSignalLike,
  ): Promise<void> {
    const entry = this.of(subscription);
    const bucket = entry.buckets[kind];
    const started = this.clock();
    let waited = false;
    try {
      for (;;) {
        if (signal?.aborted) throw new Error("the request was aborted while it waited for ARM budget");
        const now = this.clock();
        const pausedFor =
          bucket.pausedUntil +
          (priority === "background" && bucket.pausedUntil > 0 ? BACKGROUND_LAG_AFTER_PAUSE_MS : 0) -
          now;
        let waitMs = 0;
        if (pausedFor > 0) waitMs = pausedFor;
        else {
          bucket.refill(now);
          const reserve =
            priority === "background" && bucket.settings
              ? bucket.settings.capacity * (this.settings?.backgroundReserve ?? 0)
              : 0;
          if (bucket.level - 1 >= reserve) {
            bucket.level -= 1;
            return;
          }
          const perSecond = bucket.settings?.perSecond ?? 1;
          waitMs = Math.ceil(((reserve + 1 - bucket.level) / perSecond) * 1000);
        }
        if (!waited) {
          waited = true;
          bucket.waiting[priority] += 1;
          bucket.waitStarts.add(started);
        }
        await this.sleep(Math.max(1, waitMs), signal);
      }
    } finally {
      if (waited) {
        bucket.waiting[priority] -= 1;
        bucket.waitStarts.delete(started);
        entry.waited.requests += 1;
        entry.waited.ms += this.clock() - started;
      }
    }
  }

  /** ARM answered 429: nobody in this process sends this kind of request to the subscription until it passes. */
  throttled(subscription: string, kind: ArmOperationKind, retryAfterMs: number | undefined): void {
    const entry = this.of(subscription);
    const ms = retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
    const now = this.clock();
    const bucket = entry.buckets[kind];
    bucket.pausedUntil = Math.max(bucket.pausedUntil, now + ms);
    // ARM's bucket is empty; a bucket the app does not pace (no settings) only pauses, or it would
    // never refill
    if (bucket.settings) bucket.level = Math.min(bucket.level, 0);
    entry.lastThrottled = { at: new Date(now).toISOString(), kind, retryAfterMs: ms };
  }

  /** ARM's own count of what is left (x-ms-ratelimit-remaining-subscription-*): the model never believes in more. */
  remaining(subscription: string, kind: ArmOperationKind, remaining: number): void {
    const bucket = this.of(subscription).buckets[kind];
    bucket.refill(this.clock());
    if (remaining < bucket.level) bucket.level = remaining;
  }

  status(subscription: string): ArmBudgetStatus {
    const entry = this.of(subscription);
    const now = this.clock();
    const one = (b: Bucket): BucketStatus => {
      b.refill(now);
      const since = b.waitStarts.size > 0 ? Math.min(...b.waitStarts) : undefined;
      return {
        available: Number.isFinite(b.level) ? Math.floor(b.level) : -1,
        capacity: b.settings?.capacity ?? -1,
        perSecond: b.settings?.perSecond ?? -1,
        ...(b.pausedUntil > now ? { pausedUntil: new Date(b.pausedUntil).toISOString() } : {}),
        waiting: { ...b.waiting },
        ...(since !== undefined ? { waitingSince: new Date(since).toISOString() } : {}),
      };
    };
    return {
      subscription,
      read: one(entry.buckets.read),
      write: one(entry.buckets.write),
      delete: one(entry.buckets.delete),
      ...(entry.lastThrottled ? { lastThrottled: entry.lastThrottled } : {}),
      waited: { ...entry.waited },
    };
  }
}

/** What a request costs: its subscription (Resource Graph: the tenant-wide quota) and operation type. */
export function classifyArmRequest(method: string, url: string): { subscription: string; kind: ArmOperationKind } {
  const path = new URL(url).pathname;
  if (/^\/providers\/microsoft\.resourcegraph\//i.test(path))
    return { subscription: "(tenant)", kind: "resourceGraph" };
  const subscription = /^\/subscriptions\/([^/]+)/i.exec(path)?.[1] ?? "(tenant)";
  const m = method.toUpperCase();
  const kind: ArmOperationKind = m === "GET" || m === "HEAD" ? "read" : m === "DELETE" ? "delete" : "write";
  return { subscription, kind };
}

const REMAINING_HEADERS: Partial<Record<ArmOperationKind, string>> = {
  read: "x-ms-ratelimit-remaining-subscription-reads",
  write: "x-ms-ratelimit-remaining-subscription-writes",
  delete: "x-ms-ratelimit-remaining-subscription-deletes",
};

/** The pipeline policy every ARM client of the factory carries (per retry: each attempt pays). */
export function armBudgetPolicy(budget: ArmBudget): PipelinePolicy {
  return {
    name: "jumpgateArmBudget",
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      const { subscription, kind } = classifyArmRequest(request.method, request.url);
      await budget.acquire(subscription, kind, currentArmPriority(), request.abortSignal);
      const response = await next(request);
      if (response.status === 429) {
        budget.throttled(subscription, kind, retryAfterMs(response));
      } else {
        const header = REMAINING_HEADERS[kind];
        const remaining = header ? Number(response.headers.get(header)) : Number.NaN;
        if (Number.isFinite(remaining)) budget.remaining(subscription, kind, remaining);
      }
      return response;
    },
  };
}

/** Retry-After (seconds or an HTTP date) or retry-after-ms / x-ms-retry-after-ms, in milliseconds. */
export function retryAfterMs(response: PipelineResponse): number | undefined {
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const v = Number(response.headers.get(name));
    if (response.headers.get(name) !== undefined && Number.isFinite(v) && v >= 0) return v;
  }
  const raw = response.headers.get("retry-after");
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function abortableSleep(ms: number, signal?: AbortSignalLike): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => new Error("the request was aborted while it waited for ARM budget");
    if (signal?.aborted) return reject(aborted());
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
