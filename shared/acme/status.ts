// What the certificate ledger says, as registry conditions and as the `certificate` block of
// GET /api/stacks/{name}. Pure: names, serials, dates and reasons only.
import type { StackConditionInput } from "../store/registry";
import { orderBudget, type RenewalInput } from "./renewal-policy";
import type { CertificateState } from "./types";

export const CERTIFICATE_CONDITIONS = { ready: "CertificateReady", renewal: "CertificateRenewal" } as const;

/** Nodes known not to serve the current certificate. */
export function nodesBehind(state: CertificateState, existing?: string[]): string[] {
  const alive = existing ? new Set(existing.map((n) => n.toLowerCase())) : undefined;
  return state.nodes.filter((n) => !n.current && (!alive || alive.has(n.node.toLowerCase()))).map((n) => n.node);
}

export function certificateConditions(state: CertificateState, now: Date): StackConditionInput[] {
  const { current } = state;
  let ready: StackConditionInput;
  if (!current) {
    ready = {
      type: CERTIFICATE_CONDITIONS.ready,
      status: "False",
      reason: "NoCertificate",
      message: "no certificate issued yet: the nodes serve their self-signed bootstrap certificate",
    };
  } else if (Date.parse(current.notAfter) <= now.getTime()) {
    ready = {
      type: CERTIFICATE_CONDITIONS.ready,
      status: "False",
      reason: "Expired",
      message: `certificate ${current.serial} expired at ${current.notAfter}`,
    };
  } else {
    const behind = state.nodes.filter((n) => !n.current);
    ready =
      behind.length > 0
        ? {
            type: CERTIFICATE_CONDITIONS.ready,
            status: "False",
            reason: "NodesBehind",
            message: `${behind.map((n) => `${n.node} serves ${n.serial ?? "nothing readable"}${n.detail ? ` (${n.detail})` : ""}`).join("; ")}; the current certificate is ${current.serial}`,
          }
        : state.nodes.length === 0
          ? {
              type: CERTIFICATE_CONDITIONS.ready,
              status: "Unknown",
              reason: "NotVerified",
              message: `certificate ${current.serial} (valid until ${current.notAfter}) is stored; no node has been checked yet`,
            }
          : {
              type: CERTIFICATE_CONDITIONS.ready,
              status: "True",
              reason: "AllNodesCurrent",
              message: `every node serves ${current.serial}, valid until ${current.notAfter}`,
            };
  }
  const renewal: StackConditionInput =
    state.failures > 0 && state.lastFailure
      ? {
          type: CERTIFICATE_CONDITIONS.renewal,
          status: "False",
          reason: state.lastFailure.phase === "issue" ? "IssuanceFailing" : "RolloutFailing",
          message: `${state.failures} failed attempt(s) in a row; last at ${state.lastFailure.at}: ${state.lastFailure.message}${state.nextAttemptAt ? `; next attempt at ${state.nextAttemptAt}` : ""}`,
        }
      : {
          type: CERTIFICATE_CONDITIONS.renewal,
          status: "True",
          reason: "Scheduled",
          message: state.nextRenewalAt ? `next renewal at ${state.nextRenewalAt}` : "renewal not scheduled yet",
        };
  return [ready, renewal];
}

/** The `certificate` block of the stack status. */
export function certificateStatus(state: CertificateState, hostname: string, now: Date) {
  const budget = orderBudget(state.orders, [hostname], now);
  return {
    hostname,
    current: state.current
      ? {
          serial: state.current.serial,
          notBefore: state.current.notBefore,
          notAfter: state.current.notAfter,
          issuer: state.current.issuer,
          keyVaultVersion: state.current.version,
          storedAt: state.current.storedAt,
        }
      : null,
    nodes: state.nodes.map((n) => ({
      name: n.node,
      serial: n.serial ?? null,
      notAfter: n.notAfter ?? null,
      current: n.current,
      checkedAt: n.checkedAt,
      ...(n.detail ? { detail: n.detail } : {}),
    })),
    nextRenewalAt: state.nextRenewalAt ?? null,
    nextCheckAt: state.nextCheckAt ?? null,
    renewalInfo: state.ari ? { start: state.ari.start, end: state.ari.end, checkedAt: state.ari.checkedAt } : null,
    decision: state.decision ?? null,
    failures: state.failures,
    nextAttemptAt: state.failures > 0 ? (state.nextAttemptAt ?? null) : null,
    lastFailure: state.lastFailure ?? null,
    ordersLast7Days: { used: budget.used, limit: budget.limit },
    lastRenewedAt: state.lastRenewedAt ?? null,
  };
}

/** The policy's input from the ledger as it is now, the stack's hostname and its web nodes. */
export function renewalInput(
  state: CertificateState,
  stack: { hostname: string; nodes: readonly string[] },
  now: Date,
): RenewalInput {
  return {
    now,
    hostname: stack.hostname,
    ...(state.current ? { current: state.current } : {}),
    ...(state.ari ? { ari: state.ari } : {}),
    ...(state.force ? { force: state.force } : {}),
    ...(state.forceHandled ? { forceHandled: state.forceHandled } : {}),
    failures: state.failures,
    ...(state.nextAttemptAt ? { nextAttemptAt: state.nextAttemptAt } : {}),
    orders: state.orders,
    nodesBehind: nodesBehind(state, [...stack.nodes]),
    rolloutPending: !!state.current && state.rolledOutVersion !== state.current.version,
    ...(state.pending ? { pendingOrder: state.pending } : {}),
  };
}
