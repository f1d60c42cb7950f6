// When a stack's certificate is renewed, and when not: pure functions of the time, the certificate
// in Key Vault, the CA's renewal information, what failed before and how many orders were placed
// this week. The certificate worker (functions/orchestrators/renew-certificate.ts) calls them with
// the orchestration's clock, so the same inputs always give the same decision.
//
// - Due at notBefore + 2/3 of the issued lifetime: 60 days into a 90-day certificate, 30 into a
//   45-day one, 4 into a 6-day one (a lifetime-relative rule keeps working as CAs shorten lifetimes;
//   a fixed "30 days before expiry" does not).
// - Earlier when the CA's ACME Renewal Information (RFC 9773) suggests a window that starts
//   earlier: a point inside the window chosen from the serial (stable across checks, spread across
//   certificates, as §4.2 asks for a random point); at once when the window has already ended.
// - At once when there is no certificate, it does not cover the hostname the spec asks for, it has
//   expired, or a person asked for a new one after it was issued.
// - After a failure, the next attempt waits a growing backoff (15 min, doubling, at most 12 h, and
//   tighter when expiry is near, never under 15 min): no tight loops, and at most four failed
//   authorizations per identifier per hour, under Let's Encrypt's five.
// - At most ORDER_LIMIT orders per identifier set in any 7 days, whatever happens (forced or
//   not): Let's Encrypt allows 5 certificates per exact set of names per week, so a stack can never
//   lock itself (or a person's manual issuance) out.

/** What the policy needs to know about the certificate now in Key Vault. */
export interface CurrentCertificate {
  serial: string;
  notBefore: string;
  notAfter: string;
  dnsNames: string[];
  /** when Jumpgate stored it */
  storedAt: string;
}

/** An ACME renewalInfo suggested window. */
export interface AriWindow {
  start: string;
  end: string;
}

export interface OrderRecord {
  at: string;
  identifiers: string[];
}

/** A person's request for a new certificate; honoured once (by id), whatever the clocks say. */
export interface ForceRequest {
  id: string;
  at: string;
  by: string;
}

/** Whether a request for a new certificate waits to be honoured. */
export function forcePending(input: Pick<RenewalInput, "force" | "forceHandled">): boolean {
  return !!input.force && input.force.id !== input.forceHandled;
}

export const RENEWAL_FRACTION = 2 / 3;
export const BACKOFF_BASE_MS = 15 * 60_000;
export const BACKOFF_CAP_MS = 12 * 3600_000;
/** Orders per identifier set in any 7 days (Let's Encrypt: 5 certificates per exact set per 7 days). */
export const ORDER_LIMIT = 4;
export const ORDER_WINDOW_MS = 7 * 24 * 3600_000;
/** The worker looks at every stack at least this often, even when nothing is due. */
export const CHECK_INTERVAL_MS = 12 * 3600_000;

export type RenewalBasis = "two-thirds" | "ari" | "ari-window-passed";

export interface RenewalTime {
  at: Date;
  basis: RenewalBasis;
  /** notBefore + 2/3 of the lifetime, whatever ARI says */
  twoThirds: Date;
}

/** When `cert` should be renewed: 2/3 of its lifetime, or earlier inside the CA's ARI window. */
export function renewalTime(
  cert: Pick<CurrentCertificate, "serial" | "notBefore" | "notAfter">,
  ari?: AriWindow,
): RenewalTime {
  const notBefore = Date.parse(cert.notBefore);
  const notAfter = Date.parse(cert.notAfter);
  const twoThirds = new Date(notBefore + Math.floor((notAfter - notBefore) * RENEWAL_FRACTION));
  const window = validWindow(ari);
  if (!window) return { at: twoThirds, basis: "two-thirds", twoThirds };
  const point = new Date(window.start + Math.floor((window.end - window.start) * unitFraction(cert.serial)));
  if (point >= twoThirds) return { at: twoThirds, basis: "two-thirds", twoThirds };
  return { at: point, basis: "ari", twoThirds };
}

function validWindow(ari?: AriWindow): { start: number; end: number } | undefined {
  if (!ari) return undefined;
  const start = Date.parse(ari.start);
  const end = Date.parse(ari.end);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) return undefined;
  return { start, end };
}

/** A stable number in [0, 1) from a string (FNV-1a): spreads certificates over a window or a jitter range. */
export function unitFraction(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x100000000;
}

/**
 * The wait before the next attempt after `failures` failed ones in a row: 15 min doubling up to 12 h,
 * but at most a quarter of the time left before `notAfter` (never under 15 min), so a certificate
 * close to expiry is retried more often.
 */
export function backoffMs(failures: number, now: Date, notAfter?: string): number {
  if (failures <= 0) return 0;
  let delay = Math.min(BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 20), BACKOFF_CAP_MS);
  if (notAfter) {
    const left = Date.parse(notAfter) - now.getTime();
    if (Number.isFinite(left)) delay = Math.min(delay, Math.max(BACKOFF_BASE_MS, Math.floor(left / 4)));
  }
  return delay;
}

/** The identifier set of an order, compared without order and case. */
export function identifierKey(identifiers: string[]): string {
  return [...new Set(identifiers.map((i) => i.toLowerCase()))].sort().join(",");
}

export interface OrderBudget {
  used: number;
  limit: number;
  /** when the oldest order in the window leaves it (only when the budget is used up) */
  nextFreeAt?: Date;
}

/** Orders for the same identifier set in the 7 days before `now`. */
export function orderBudget(orders: OrderRecord[], identifiers: string[], now: Date, limit = ORDER_LIMIT): OrderBudget {
  const key = identifierKey(identifiers);
  const since = now.getTime() - ORDER_WINDOW_MS;
  const inWindow = orders
    .filter((o) => identifierKey(o.identifiers) === key && Date.parse(o.at) > since)
    .map((o) => Date.parse(o.at))
    .sort((a, b) => a - b);
  if (inWindow.length < limit) return { used: inWindow.length, limit };
  return { used: inWindow.length, limit, nextFreeAt: new Date(inWindow[inWindow.length - limit] + ORDER_WINDOW_MS) };
}

export interface RenewalInput {
  now: Date;
  hostname: string;
  current?: CurrentCertificate;
  ari?: AriWindow;
  /** a person asked for a new certificate (POST .../rotate/certificate) */
  force?: ForceRequest;
  /** the id of the last request a new certificate answered */
  forceHandled?: string;
  /** failed attempts in a row, and when the next may start */
  failures: number;
  nextAttemptAt?: string;
  orders: OrderRecord[];
  /** nodes known not to serve the current certificate (a rollout that did not reach them) */
  nodesBehind: string[];
  /** the current certificate was never rolled out (stored, then the worker stopped) */
  rolloutPending: boolean;
  /** an order was begun and not finished (the worker stopped, or the attempt failed): it is resumed */
  pendingOrder?: { orderId: string; startedAt: string };
}

export type RenewalAction = "issue" | "rollout" | "none";

export interface RenewalDecision {
  action: RenewalAction;
  /** for people: why this action (or why nothing) */
  reason: string;
  /** the renewal time of the current certificate, if there is one */
  renewal?: RenewalTime;
  /** when the worker should look again (after acting, or instead of acting) */
  wakeAt: Date;
  /** an issue was due but is held back */
  held?: { kind: "backoff" | "order-limit"; until: Date };
  budget: OrderBudget;
}

/** Why a new certificate is due now, or undefined when it is not. */
export function issueReason(input: RenewalInput, renewal?: RenewalTime): string | undefined {
  const { current, now } = input;
  if (!current)
    return forcePending(input) ? `${input.force!.by} asked for a certificate` : "the stack has no certificate yet";
  const host = input.hostname.toLowerCase();
  if (!current.dnsNames.some((n) => n === host)) {
    return `the certificate is for ${current.dnsNames.join(", ")}, the spec asks for ${host}`;
  }
  if (Date.parse(current.notAfter) <= now.getTime()) return `the certificate expired at ${current.notAfter}`;
  if (forcePending(input)) return `${input.force!.by} asked for a new certificate at ${input.force!.at}`;
  if (renewal && renewal.at.getTime() <= now.getTime()) {
    if (renewal.basis === "ari")
      return `the CA's renewal window (RFC 9773) suggests renewing from ${renewal.at.toISOString()}`;
    return `2/3 of the certificate's lifetime passed at ${renewal.at.toISOString()}`;
  }
  return undefined;
}

export function decideRenewal(input: RenewalInput): RenewalDecision {
  const { now } = input;
  const renewal = input.current ? renewalTime(input.current, input.ari) : undefined;
  const budget = orderBudget(input.orders, [input.hostname], now);
  const nextCheck = new Date(now.getTime() + CHECK_INTERVAL_MS);
  const backoffUntil =
    input.failures > 0 && input.nextAttemptAt && Date.parse(input.nextAttemptAt) > now.getTime()
      ? new Date(input.nextAttemptAt)
      : undefined;
  const earliest = (...dates: (Date | undefined)[]) =>
    new Date(Math.min(...dates.filter((d): d is Date => d !== undefined).map((d) => d.getTime())));

  const due = issueReason(input, renewal);
  if (due) {
    const forced = forcePending(input);
    if (backoffUntil && !forced) {
      return {
        action: "none",
        reason: `${due}; waiting until ${backoffUntil.toISOString()} after ${input.failures} failed attempt(s)`,
        renewal,
        wakeAt: earliest(backoffUntil, nextCheck),
        held: { kind: "backoff", until: backoffUntil },
        budget,
      };
    }
    if (budget.nextFreeAt) {
      return {
        action: "none",
        reason: `${due}; but ${budget.used} orders for ${input.hostname} in the last 7 days reach the limit of ${budget.limit}: next order possible at ${budget.nextFreeAt.toISOString()}`,
        renewal,
        wakeAt: earliest(budget.nextFreeAt, nextCheck),
        held: { kind: "order-limit", until: budget.nextFreeAt },
        budget,
      };
    }
    return { action: "issue", reason: due, renewal, wakeAt: nextCheck, budget };
  }
  const behind = input.rolloutPending || input.nodesBehind.length > 0;
  if (behind) {
    const what =
      input.nodesBehind.length > 0
        ? `${input.nodesBehind.join(", ")} do not serve the current certificate`
        : "the current certificate was not rolled out yet";
    if (backoffUntil) {
      return {
        action: "none",
        reason: `${what}; waiting until ${backoffUntil.toISOString()} after ${input.failures} failed attempt(s)`,
        renewal,
        wakeAt: earliest(backoffUntil, renewal?.at, nextCheck),
        held: { kind: "backoff", until: backoffUntil },
        budget,
      };
    }
    return { action: "rollout", reason: what, renewal, wakeAt: nextCheck, budget };
  }
  return {
    action: "none",
    reason: `not due: renewal at ${renewal!.at.toISOString()} (${renewal!.basis === "ari" ? "inside the CA's renewal window" : "2/3 of the lifetime"})`,
    renewal,
    wakeAt: earliest(renewal!.at, nextCheck),
    budget,
  };
}
