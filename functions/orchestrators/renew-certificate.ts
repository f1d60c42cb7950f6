// renewCertificate: the certificate worker of one stack (instance id `cert-<stack>`). It never stops
// while the stack exists: each round reads what is known (Key Vault's current certificate, the
// ledger, the CA's renewal window), decides with the pure renewal policy, and acts:
//
//   issue    claim the stack -> record the order id -> issueCertificate (resumable by that id) ->
//            rollout -> release
//   rollout  claim -> push the current certificate to every node that does not serve it, one node
//            at a time (the agent validates, swaps atomically, runs nginx -t, reloads gracefully and
//            rolls back on failure) -> read back what every node serves -> release
//   none     (not due, backing off, order limit) record why
//
// then sleeps until the next renewal time, the end of a backoff or 12 hours, whichever comes first;
// the twice-daily timer or POST .../rotate/certificate wake it earlier ("wake" event). Each round
// ends in continueAsNew, so history stays short.
//
// One writer per stack: the worker claims the stack (kind "rotate-certificate") only while it issues
// or rolls out, and waits (durable timers) while a deploy, teardown, reconcile, heal or scale holds
// it. A restarted worker finds the order it had begun (the ledger's pending order id) or the
// certificate it had stored but not rolled out, and continues: never a second certificate for one
// renewal.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { decideRenewal, BACKOFF_BASE_MS, type RenewalDecision } from "../../shared/acme/renewal-policy";
import { verificationDue } from "../../shared/acme/served";
import { renewalInput } from "../../shared/acme/status";
import type { StoredCertificate } from "../../shared/acme/types";
import { Names } from "../names";
import type { ActivityOutput } from "../workflow/activity-map";
import { claimAndWait } from "../workflow/claim";
import { CERTIFICATE_WAKE_EVENT, certificateWakeOf, type CertificateWake } from "../workflow/events";
import { pauseAfterFailure } from "../workflow/pause";
import { worker, type WorkerStatus } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";
import { issue, recordFailure, rollout, verify, type Known } from "./certificate-actions";

export interface CertificateWorkerInput {
  stack: string;
  wake?: CertificateWake;
  /** rounds so far, over every continueAsNew */
  round?: number;
  /** rounds in a row that acted without sleeping (a guard against tight loops) */
  busyRounds?: number;
  /** rounds in a row whose reading failed (storage or Azure trouble) */
  failedRounds?: number;
  /** seconds between looks at a stack another operation holds (default 60) */
  claimRetrySeconds?: number;
  /** what the last issue, rollout and failure were (shown in the custom status) */
  last?: Pick<CertificateWorkerStatus, "lastIssue" | "lastRollout" | "lastFailure">;
}

export type CertificatePhaseName =
  "jitter" | "reading" | "waiting-for-stack" | "issuing" | "rollout" | "verifying" | "sleeping" | "done";

export interface CertificateWorkerStatus extends WorkerStatus<"rotate-certificate", CertificatePhaseName> {
  round: number;
  decision?: string;
  current?: { serial: string; notAfter: string };
  lastIssue?: { serial: string; notAfter: string; orderId: string; resumed: string; at: string };
  lastRollout?: {
    serial: string;
    at: string;
    nodes: { node: string; serial?: string; current: boolean; detail?: string }[];
  };
  lastFailure?: { phase: string; message: string; at: string };
}

export interface CertificateWorkerOutput {
  outcome: "stack-gone";
  rounds: number;
}

/** Looks at a stack someone else holds before this round gives up and sleeps. */
const CLAIM_WAITS_PER_ROUND = 30;
/** Rounds in a row that act without sleeping before a pause is forced. */
const MAX_BUSY_ROUNDS = 3;
const FAILED_ROUND_PAUSE_MS = 5 * 60_000;
const NOT_READY_PAUSE_MS = 60 * 60_000;
export const renewCertificate: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<CertificateWorkerInput>();
  const { stack } = input;
  const round = (input.round ?? 0) + 1;
  const status: CertificateWorkerStatus = {
    operation: "rotate-certificate",
    stack,
    round,
    phase: "reading",
    ...input.last,
  };
  const w = worker(context, status);
  const claimRetryMs = (input.claimRetrySeconds ?? 60) * 1000;
  const again = (extra: Partial<CertificateWorkerInput>) => {
    context.df.continueAsNew({ ...base(), round, ...extra } satisfies CertificateWorkerInput);
    return undefined;
  };
  w.publish();

  // ---- 0. the sweep spreads stacks over a window
  if (input.wake?.jitterSeconds && input.wake.jitterSeconds > 0) {
    const until = w.after(input.wake.jitterSeconds * 1000);
    w.waiting("jitter", "the renewal sweep's jitter", until);
    yield* w.sleep(until);
    w.clearWait();
  }

  // ---- 1. what is known, and what the policy says
  let view: ActivityOutput<"readCertificateState">;
  try {
    view = yield* w.call("readCertificateState", { stack, at: w.now().toISOString() });
  } catch (error) {
    status.decision = `reading the certificate state failed: ${failureMessage(error)}`;
    const failures = (input.failedRounds ?? 0) + 1;
    yield* pauseAfterFailure(w, {
      message: status.decision,
      failures,
      pauseMs: FAILED_ROUND_PAUSE_MS,
      phase: "sleeping",
    });
    return again({ failedRounds: failures });
  }
  if (!view.registered) return finish();
  if (view.operation?.instanceId === w.instanceId) {
    // a claim this worker left behind (its release was lost, or an earlier execution was stopped):
    // the worker is always running, so nobody else would ever see that claim as stale
    yield* w.call("releaseOperation", { stack, instanceId: w.instanceId });
    delete view.operation;
  }
  if (!view.ready) {
    const until = w.after(NOT_READY_PAUSE_MS);
    yield* recordCheck(view.why ?? "not ready", until);
    return yield* sleep(until);
  }
  let decision = decide(view);
  status.decision = decision.reason;
  if (view.state.current) status.current = { serial: view.state.current.serial, notAfter: view.state.current.notAfter };
  w.publish();

  if (decision.action === "none") {
    if (
      view.state.current &&
      verificationDue(
        view.state,
        view.nodes.map((n) => n.name),
        w.now(),
      )
    ) {
      // nothing to change, but what do the nodes serve? (a node heal or scale brought in, or a day passed)
      const behind = yield* verify(w, view.spec, view.state.current, view.nodes);
      if (behind.length > 0) return again({ busyRounds: (input.busyRounds ?? 0) + 1 });
    }
    yield* recordCheck(decision.reason, decision.wakeAt, decision.renewal?.at);
    return yield* sleep(decision.wakeAt);
  }
  if ((input.busyRounds ?? 0) >= MAX_BUSY_ROUNDS) {
    // acted several rounds in a row without the state settling: never a tight loop
    const until = w.after(BACKOFF_BASE_MS);
    yield* recordCheck(`${decision.reason}; pausing after ${MAX_BUSY_ROUNDS} busy rounds`, until, decision.renewal?.at);
    return yield* sleep(until);
  }

  // ---- 2. one writer per stack: wait for whoever holds it, then claim it
  const claimed = yield* claimAndWait(w, "claimForCertificate", {
    holder: view.operation,
    maxWaits: CLAIM_WAITS_PER_ROUND,
    retryMs: claimRetryMs,
    who: "the certificate",
  });
  if (claimed.outcome === "gone") return finish();
  if (claimed.outcome === "busy") {
    const until = w.after(claimRetryMs);
    yield* recordCheck(`${decision.reason}; the stack stayed busy, trying again later`, until, decision.renewal?.at);
    return yield* sleep(until);
  }

  let trouble: string | undefined;
  try {
    // the stack may have changed while we waited: look again under the claim
    view = yield* w.call("readCertificateState", { stack, at: w.now().toISOString() });
    if (!view.registered) return finish();
    decision = decide(view);
    status.decision = decision.reason;
    w.publish();
    if (view.ready && decision.action !== "none") {
      let certificate: StoredCertificate | undefined = view.state.current;
      if (decision.action === "issue") certificate = yield* issue(w, view, decision, round);
      if (certificate) yield* rollout(w, view.spec, certificate);
    }
  } catch (error) {
    // Azure or storage trouble after retries (issuance failures are handled inside): the worker
    // records it, backs off like any failure, and lives on
    trouble = failureMessage(error);
  } finally {
    yield* w.call("releaseOperation", { stack, instanceId: w.instanceId });
  }
  if (trouble !== undefined) {
    const phase = status.phase === "issuing" ? "issue" : "rollout";
    yield* recordFailure(w, phase, `certificate ${phase} failed`, trouble, decision.reason);
  }

  // ---- 3. record, and look again at once (the next round decides whether to sleep)
  yield* recordCheck(decision.reason, w.now());
  return again({ busyRounds: (input.busyRounds ?? 0) + 1 });

  // ============================================================================== helpers

  function base(): CertificateWorkerInput {
    const last = {
      ...(status.lastIssue ? { lastIssue: status.lastIssue } : {}),
      ...(status.lastRollout ? { lastRollout: status.lastRollout } : {}),
      ...(status.lastFailure ? { lastFailure: status.lastFailure } : {}),
    };
    return {
      stack,
      ...(input.claimRetrySeconds ? { claimRetrySeconds: input.claimRetrySeconds } : {}),
      ...(Object.keys(last).length > 0 ? { last } : {}),
    };
  }

  function finish(): CertificateWorkerOutput {
    status.phase = "done";
    w.clearWait();
    w.publish();
    return { outcome: "stack-gone", rounds: round };
  }

  function decide(v: Known): RenewalDecision {
    return decideRenewal(renewalInput(v.state, { hostname: v.hostname, nodes: v.nodes.map((n) => n.name) }, w.now()));
  }

  /** Sleeps until `until` or a wake event, then the next round. */
  function* sleep(until: Date): Step<undefined> {
    w.waiting(
      "sleeping",
      "the next renewal check (a timer sweep or POST .../rotate/certificate wakes it earlier)",
      until,
    );
    let wake: CertificateWake | undefined;
    if (until > w.now()) {
      const woke = yield* w.sleepOrWake(until, CERTIFICATE_WAKE_EVENT);
      if (woke.woken) wake = certificateWakeOf(woke.data);
    }
    return again(wake ? { wake } : {});
  }

  function* recordCheck(decisionText: string, nextCheckAt: Date, nextRenewalAt?: Date): Step<void> {
    yield* w.call("recordCertificateCheck", {
      stack,
      at: w.now().toISOString(),
      decision: decisionText,
      nextCheckAt: nextCheckAt.toISOString(),
      ...(nextRenewalAt ? { nextRenewalAt: nextRenewalAt.toISOString() } : {}),
    });
  }
};

df.app.orchestration(Names.orchestrators.renewCertificate, renewCertificate);
