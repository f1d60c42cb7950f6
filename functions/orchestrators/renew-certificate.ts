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
import { normalizeSerial } from "../../shared/acme/certificate";
import { decideRenewal, renewalTime, BACKOFF_BASE_MS, type RenewalDecision } from "../../shared/acme/renewal-policy";
import { nodesBehind } from "../../shared/acme/status";
import type { ServedCertificate, StoredCertificate } from "../../shared/acme/types";
import { nodeHealth, type WebNodeRef } from "../../shared/node/model";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import { Names } from "../names";
import type { ActivityOutput } from "../workflow/activity-map";
import { claimAndWait } from "../workflow/claim";
import { agentTask, runAgent, succeeded, whyFailed } from "../workflow/node-steps";
import { pauseAfterFailure } from "../workflow/pause";
import { worker, type WorkerStatus } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";

/** The external event that wakes a sleeping worker; its data is a CertificateWake. */
export const CERTIFICATE_WAKE_EVENT = "wake";

export interface CertificateWake {
  /** "timer" (the twice-daily sweep), "request" (POST .../rotate/certificate), ... */
  reason: string;
  /** the sweep spreads stacks: wait this long before looking */
  jitterSeconds?: number;
}

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

type Known = Extract<ActivityOutput<"readCertificateState">, { registered: true }>;

/** Looks at a stack someone else holds before this round gives up and sleeps. */
const CLAIM_WAITS_PER_ROUND = 30;
/** Rounds in a row that act without sleeping before a pause is forced. */
const MAX_BUSY_ROUNDS = 3;
const FAILED_ROUND_PAUSE_MS = 5 * 60_000;
const NOT_READY_PAUSE_MS = 60 * 60_000;
/** What every node serves is read again at least this often, even when nothing is due. */
const VERIFY_INTERVAL_MS = 24 * 3600_000;

export const renewCertificate: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<CertificateWorkerInput>();
  const { stack } = input;
  const round = (input.round ?? 0) + 1;
  const status: CertificateWorkerStatus = { operation: "rotate-certificate", stack, round, phase: "reading", ...input.last };
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
    yield* pauseAfterFailure(w, { message: status.decision, failures, pauseMs: FAILED_ROUND_PAUSE_MS, phase: "sleeping" });
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
    if (view.state.current && verificationDue(view)) {
      // nothing to change, but what do the nodes serve? (a node heal or scale brought in, or a day passed)
      const behind = yield* verify(view.spec, view.state.current, view.nodes);
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
      if (decision.action === "issue") certificate = yield* issue(view, decision);
      if (certificate) yield* rollout(view.spec, certificate);
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
    yield* recordFailure(phase, `certificate ${phase} failed`, trouble, decision.reason);
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
    const { state } = v;
    return decideRenewal({
      now: w.now(),
      hostname: v.hostname,
      ...(state.current ? { current: state.current } : {}),
      ...(state.ari ? { ari: state.ari } : {}),
      ...(state.force ? { force: state.force } : {}),
      ...(state.forceHandled ? { forceHandled: state.forceHandled } : {}),
      failures: state.failures,
      ...(state.nextAttemptAt ? { nextAttemptAt: state.nextAttemptAt } : {}),
      orders: state.orders,
      nodesBehind: nodesBehind(
        state,
        v.nodes.map((n) => n.name),
      ),
      rolloutPending: !!state.current && state.rolledOutVersion !== state.current.version,
      ...(state.pending ? { pendingOrder: state.pending } : {}),
    });
  }

  /** What the nodes serve was last read more than a day ago, or the nodes changed since. */
  function verificationDue(v: Known): boolean {
    const known = v.state.nodes;
    if (known.length === 0) return v.nodes.length > 0;
    const names = (list: string[]) =>
      [...list]
        .map((n) => n.toLowerCase())
        .sort()
        .join(",");
    if (names(known.map((n) => n.node)) !== names(v.nodes.map((n) => n.name))) return true;
    const oldest = Math.min(...known.map((n) => Date.parse(n.checkedAt)));
    return !(oldest + VERIFY_INTERVAL_MS > w.now().getTime());
  }

  /** What every node's own NGINX serves, read through its agent. */
  function* served(spec: StackSpec, nodes: WebNodeRef[], serial: string, failures = new Map<string, string>()) {
    const answers = yield* w.all(nodes.map((n) => agentTask(w, spec, n.name, "health")));
    const at = w.now().toISOString();
    return { at, report: nodes.map((n, i) => servedReport(n.name, answers[i], serial, at, failures.get(n.name))) };
  }

  /** Reads what every node serves (no claim: nothing changes); returns the nodes behind. */
  function* verify(spec: StackSpec, cert: StoredCertificate, nodes: WebNodeRef[]): Step<string[]> {
    status.phase = "verifying";
    w.publish();
    const { at, report } = yield* served(spec, nodes, cert.serial);
    return yield* w.call("recordCertificateVerification", { stack, at, nodes: report });
  }

  /** Sleeps until `until` or a wake event, then the next round. */
  function* sleep(until: Date): Step<undefined> {
    w.waiting("sleeping", "the next renewal check (a timer sweep or POST .../rotate/certificate wakes it earlier)", until);
    let wake: CertificateWake | undefined;
    if (until > w.now()) {
      const woke = yield* w.sleepOrWake(until, CERTIFICATE_WAKE_EVENT);
      if (woke.woken) wake = wakeOf(woke.data);
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

  /** A failed attempt: the ledger's failure count (and backoff) grows; the status and audit say why. */
  function* recordFailure(
    phase: "issue" | "rollout",
    what: string,
    message: string,
    why: string,
    details: Record<string, unknown> = {},
  ): Step<void> {
    const failed = yield* w.call("recordCertificateFailure", { stack, at: w.now().toISOString(), phase, message });
    status.lastFailure = { phase, message, at: w.now().toISOString() };
    w.publish();
    yield* w.audit(what, `${why}; ${message}`, { ...details, failures: failed.failures, nextAttemptAt: failed.nextAttemptAt });
  }

  /** Orders and stores a certificate; undefined (failure recorded) when it did not work. */
  function* issue(v: Known, d: RenewalDecision): Step<StoredCertificate | undefined> {
    status.phase = "issuing";
    w.publish();
    // a person's request is answered by this attempt (recorded with the order, so a restarted worker
    // does not order again for it): a failure is reported, and retries follow the backoff
    const force = v.state.force && v.state.force.id !== v.state.forceHandled ? v.state.force : undefined;
    const orderId = yield* w.call("beginCertificateOrder", {
      stack,
      orderId: w.guid(`${w.instanceId}/${round}/order`),
      reason: d.reason,
      at: w.now().toISOString(),
      ...(force ? { forceId: force.id } : {}),
    });
    try {
      // once: a failed attempt is recorded and retried after the policy's backoff
      const issued = yield* w.callOnce("issueCertificate", { spec: v.spec, orderId, at: w.now().toISOString() });
      const c = issued.certificate;
      status.lastIssue = { serial: c.serial, notAfter: c.notAfter, orderId, resumed: issued.resumed, at: w.now().toISOString() };
      status.current = { serial: c.serial, notAfter: c.notAfter };
      w.publish();
      yield* w.audit(issued.resumed === "stored" ? "certificate issuance resumed" : "certificate issued", d.reason, {
        serial: c.serial,
        notBefore: c.notBefore,
        notAfter: c.notAfter,
        hostname: v.hostname,
        keyVaultVersion: c.version,
        orderId,
        challenge: v.spec.tls.acme.challenge,
        renewAt: renewalTime(c).at.toISOString(),
        ...(issued.resumed !== "new" ? { resumed: issued.resumed } : {}),
      });
      return c;
    } catch (error) {
      const details = { hostname: v.hostname, orderId };
      yield* recordFailure("issue", "certificate issuance failed", failureMessage(error), d.reason, details);
      return undefined;
    }
  }

  /**
   * Pushes `cert` to every node that does not serve it, one node at a time, then reads back what
   * every node serves. A node whose install fails keeps its previous certificate (the agent rolls
   * back) and is named; the others keep the new one (both are valid for the hostname).
   */
  function* rollout(spec: StackSpec, cert: StoredCertificate): Step<void> {
    status.phase = "rollout";
    w.publish();
    const nodes = yield* w.call("listWebNodes", { spec });
    const before = yield* served(spec, nodes, cert.serial);
    const installFailures = new Map<string, string>();
    for (const [i, n] of nodes.entries()) {
      if (before.report[i].serial === cert.serial) continue;
      const args = ["--secret", SECRET_NAMES.tlsBundle, "--version", cert.version];
      const installed = yield* runAgent(w, spec, n.name, "install-cert", args);
      if (!succeeded(installed)) installFailures.set(n.name, `install-cert failed: ${whyFailed(installed)}`);
    }

    // what every node actually serves now, read from its own NGINX
    status.phase = "verifying";
    w.publish();
    const { at, report } = yield* served(spec, nodes, cert.serial, installFailures);
    const recorded = yield* w.call("recordCertificateRollout", {
      stack,
      at,
      version: cert.version,
      serial: cert.serial,
      nodes: report,
    });
    status.lastRollout = {
      serial: cert.serial,
      at,
      nodes: report.map((r) => ({
        node: r.node,
        ...(r.serial ? { serial: r.serial } : {}),
        current: r.current,
        ...(r.detail ? { detail: r.detail } : {}),
      })),
    };
    w.publish();
    const details = {
      serial: cert.serial,
      notAfter: cert.notAfter,
      keyVaultVersion: cert.version,
      nodes: report.map((r) => ({ node: r.node, serial: r.serial ?? null, current: r.current })),
    };
    if (recorded.behind.length === 0) {
      yield* w.audit("certificate rolled out", `every node serves ${cert.serial}`, details);
      return;
    }
    const why = report
      .filter((r) => !r.current)
      .map((r) => `${r.node}: ${r.detail}`)
      .join("; ");
    status.lastFailure = { phase: "rollout", message: why, at };
    w.publish();
    yield* w.audit(
      "certificate rollout incomplete",
      `${why}; those nodes keep their previous certificate, the others serve ${cert.serial}`,
      { ...details, failures: recorded.failures, nextAttemptAt: recorded.nextAttemptAt },
    );
  }
};

/** One node's line of a rollout or verification report. */
function servedReport(
  node: string,
  answer: AgentCommandResult,
  serial: string,
  at: string,
  installFailure?: string,
): ServedCertificate {
  const s = servedBy(answer);
  const current = s.serial === serial;
  const detail = current
    ? undefined
    : (installFailure ?? s.problem ?? `serves ${s.serial ?? "nothing readable"}, not ${serial}`);
  return {
    node,
    ...(s.serial ? { serial: s.serial } : {}),
    ...(s.notAfter ? { notAfter: s.notAfter } : {}),
    current,
    checkedAt: at,
    ...(detail ? { detail } : {}),
  };
}

/** The certificate a node's agent reads from its own NGINX (health), serial normalized. */
function servedBy(answer: AgentCommandResult): { serial?: string; notAfter?: string; problem?: string } {
  const health = nodeHealth(answer);
  if (!health.reachable) return { problem: health.problems[0] };
  const c = health.certificate;
  if (!c?.serial) return { problem: `the agent read no certificate (exit ${answer.exitCode ?? "?"})` };
  const notAfter = c.notAfter !== undefined ? Date.parse(c.notAfter) : NaN;
  return {
    serial: normalizeSerial(c.serial),
    ...(Number.isFinite(notAfter) ? { notAfter: new Date(notAfter).toISOString() } : {}),
  };
}

function wakeOf(data: unknown): CertificateWake | undefined {
  if (!data || typeof data !== "object") return { reason: "wake" };
  const d = data as { reason?: unknown; jitterSeconds?: unknown };
  return {
    reason: typeof d.reason === "string" ? d.reason.slice(0, 100) : "wake",
    ...(typeof d.jitterSeconds === "number" && d.jitterSeconds > 0
      ? { jitterSeconds: Math.min(Math.floor(d.jitterSeconds), 3600) }
      : {}),
  };
}

df.app.orchestration(Names.orchestrators.renewCertificate, renewCertificate);
