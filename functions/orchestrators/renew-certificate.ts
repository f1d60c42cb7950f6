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
// it; while it holds it, PUT and DELETE get 409. A restarted worker finds the order it had begun
// (the ledger's pending order id) or the certificate it had stored but not rolled out, and continues:
// never a second certificate for one renewal.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import { normalizeSerial } from "../../shared/acme/certificate";
import { decideRenewal, renewalTime, BACKOFF_BASE_MS, type RenewalDecision } from "../../shared/acme/renewal-policy";
import { nodesBehind } from "../../shared/acme/status";
import type { ServedCertificate, StoredCertificate } from "../../shared/acme/types";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import type {
  CertificateView,
  ClaimForCertificateOutput,
  IssueCertificateOutput,
  RecordCertificateRolloutOutput,
} from "../activities/certificates";
import type { WebNodeRef } from "../activities/nodes";
import { Names } from "../names";
import { failureMessage } from "./graph-runner";
import { orchestrationCalls } from "./activity-retry";

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

export interface CertificateWorkerStatus {
  operation: "rotate-certificate";
  stack: string;
  round: number;
  phase: CertificatePhaseName;
  decision?: string;
  waitingFor?: string;
  waitingUntil?: string;
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
/** What every node serves is read again at least this often, even when nothing is due. */
const VERIFY_INTERVAL_MS = 24 * 3600_000;

export const renewCertificate: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<CertificateWorkerInput>();
  const { stack } = input;
  const round = (input.round ?? 0) + 1;
  const instanceId = context.df.instanceId;
  const now = () => context.df.currentUtcDateTime;
  const status: CertificateWorkerStatus = {
    operation: "rotate-certificate",
    stack,
    round,
    phase: "reading",
    ...input.last,
  };
  const publish = () => context.df.setCustomStatus(status);
  const { call, audit } = orchestrationCalls(context, stack, { kind: "rotate-certificate", instanceId });
  publish();

  // ---- 0. the sweep spreads stacks over a window
  if (input.wake?.jitterSeconds && input.wake.jitterSeconds > 0) {
    status.phase = "jitter";
    status.waitingUntil = new Date(now().getTime() + input.wake.jitterSeconds * 1000).toISOString();
    status.waitingFor = "the renewal sweep's jitter";
    publish();
    yield context.df.createTimer(new Date(status.waitingUntil));
    clearWait();
  }

  // ---- 1. what is known, and what the policy says
  let view: CertificateView;
  try {
    view = (yield call(Names.activities.readCertificateState, { stack, at: now().toISOString() })) as CertificateView;
  } catch (error) {
    return yield* pauseAfter(`reading the certificate state failed: ${failureMessage(error)}`, FAILED_ROUND_PAUSE_MS, {
      failedRounds: (input.failedRounds ?? 0) + 1,
    });
  }
  if (!view.registered) return finish();
  if (view.operation?.instanceId === instanceId) {
    // a claim this worker left behind (its release was lost, or an earlier execution was stopped):
    // the worker is always running, so nobody else would ever see that claim as stale
    yield call(Names.activities.releaseOperation, { stack, instanceId });
    delete view.operation;
  }
  if (!view.ready) {
    yield* recordCheck(view.why ?? "not ready", new Date(now().getTime() + NOT_READY_PAUSE_MS));
    return yield* sleep(new Date(now().getTime() + NOT_READY_PAUSE_MS));
  }
  let decision = decide(view);
  status.decision = decision.reason;
  if (view.state.current) status.current = { serial: view.state.current.serial, notAfter: view.state.current.notAfter };
  publish();

  if (decision.action === "none") {
    if (view.state.current && verificationDue(view)) {
      // nothing to change, but what do the nodes serve? (a node heal or scale brought in, or a day passed)
      const behind = yield* verify(view.spec, view.state.current, view.nodes);
      if (behind.length > 0) {
        context.df.continueAsNew({ ...base(), round, busyRounds: (input.busyRounds ?? 0) + 1 });
        return undefined;
      }
    }
    yield* recordCheck(decision.reason, decision.wakeAt, decision.renewal?.at);
    return yield* sleep(decision.wakeAt);
  }
  if ((input.busyRounds ?? 0) >= MAX_BUSY_ROUNDS) {
    // acted several rounds in a row without the state settling: never a tight loop
    const until = new Date(now().getTime() + BACKOFF_BASE_MS);
    yield* recordCheck(`${decision.reason}; pausing after ${MAX_BUSY_ROUNDS} busy rounds`, until, decision.renewal?.at);
    return yield* sleep(until);
  }

  // ---- 2. one writer per stack: wait for whoever holds it, then claim it
  const claimed = yield* claim(view);
  if (claimed === "gone") return finish();
  if (claimed === "busy") {
    const until = new Date(now().getTime() + claimRetryMs());
    yield* recordCheck(`${decision.reason}; the stack stayed busy, trying again later`, until, decision.renewal?.at);
    return yield* sleep(until);
  }

  let trouble: string | undefined;
  try {
    // the stack may have changed while we waited: look again under the claim
    view = (yield call(Names.activities.readCertificateState, { stack, at: now().toISOString() })) as CertificateView;
    if (!view.registered) return finish();
    decision = decide(view);
    status.decision = decision.reason;
    publish();
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
    yield call(Names.activities.releaseOperation, { stack, instanceId });
  }
  if (trouble !== undefined) {
    const phase = status.phase === "issuing" ? "issue" : "rollout";
    const failed = (yield call(Names.activities.recordCertificateFailure, {
      stack,
      at: now().toISOString(),
      phase,
      message: trouble,
    })) as { failures: number; nextAttemptAt: string };
    status.lastFailure = { phase, message: trouble, at: now().toISOString() };
    publish();
    yield audit(`certificate ${phase} failed`, `${decision.reason}; ${trouble}`, {
      failures: failed.failures,
      nextAttemptAt: failed.nextAttemptAt,
    });
  }

  // ---- 3. record, and look again at once (the next round decides whether to sleep)
  yield* recordCheck(decision.reason, now());
  context.df.continueAsNew({
    ...base(),
    round,
    busyRounds: (input.busyRounds ?? 0) + 1,
  } satisfies CertificateWorkerInput);
  return undefined;

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

  function claimRetryMs(): number {
    return (input.claimRetrySeconds ?? 60) * 1000;
  }

  function clearWait() {
    delete status.waitingFor;
    delete status.waitingUntil;
  }

  function finish(): CertificateWorkerOutput {
    status.phase = "done";
    clearWait();
    publish();
    return { outcome: "stack-gone", rounds: round };
  }

  function decide(v: Extract<CertificateView, { registered: true }>): RenewalDecision {
    const { state } = v;
    return decideRenewal({
      now: now(),
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
  function verificationDue(v: Extract<CertificateView, { registered: true }>): boolean {
    const known = v.state.nodes;
    if (known.length === 0) return v.nodes.length > 0;
    const names = (list: string[]) =>
      [...list]
        .map((n) => n.toLowerCase())
        .sort()
        .join(",");
    if (names(known.map((n) => n.node)) !== names(v.nodes.map((n) => n.name))) return true;
    const oldest = Math.min(...known.map((n) => Date.parse(n.checkedAt)));
    return !(oldest + VERIFY_INTERVAL_MS > now().getTime());
  }

  /** Reads what every node serves (no claim: nothing changes); returns the nodes behind. */
  function* verify(spec: StackSpec, cert: StoredCertificate, nodes: WebNodeRef[]): Generator<Task, string[], unknown> {
    status.phase = "verifying";
    publish();
    const target = { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup };
    const results = (yield context.df.Task.all(
      nodes.map((n) => call(Names.activities.runNodeAgent, { ...target, vmName: n.name, command: "health" })),
    )) as AgentCommandResult[];
    const at = now().toISOString();
    const report = nodes.map((n, i) => servedReport(n.name, results[i], cert.serial, at));
    return (yield call(Names.activities.recordCertificateVerification, {
      stack,
      at,
      nodes: report,
    })) as string[];
  }

  /** Sleeps until `until` or a wake event, then the next round. */
  function* sleep(until: Date): Generator<Task, undefined, unknown> {
    status.phase = "sleeping";
    status.waitingUntil = until.toISOString();
    status.waitingFor = "the next renewal check (a timer sweep or POST .../rotate/certificate wakes it earlier)";
    publish();
    let wake: CertificateWake | undefined;
    if (until > now()) {
      const timer = context.df.createTimer(until);
      const event = context.df.waitForExternalEvent(CERTIFICATE_WAKE_EVENT);
      const winner = (yield context.df.Task.any([timer, event])) as Task;
      if (winner !== timer) {
        timer.cancel();
        wake = wakeOf(event.result);
      }
    }
    context.df.continueAsNew({ ...base(), round, ...(wake ? { wake } : {}) } satisfies CertificateWorkerInput);
    return undefined;
  }

  function* pauseAfter(
    why: string,
    ms: number,
    extra: Partial<CertificateWorkerInput>,
  ): Generator<Task, undefined, unknown> {
    status.phase = "sleeping";
    status.decision = why;
    status.waitingUntil = new Date(now().getTime() + ms).toISOString();
    status.waitingFor = "another look after a failed one";
    publish();
    yield context.df.createTimer(new Date(status.waitingUntil));
    context.df.continueAsNew({ ...base(), round, ...extra } satisfies CertificateWorkerInput);
    return undefined;
  }

  function* recordCheck(decisionText: string, nextCheckAt: Date, nextRenewalAt?: Date): Generator<Task, void, unknown> {
    yield call(Names.activities.recordCertificateCheck, {
      stack,
      at: now().toISOString(),
      decision: decisionText,
      nextCheckAt: nextCheckAt.toISOString(),
      ...(nextRenewalAt ? { nextRenewalAt: nextRenewalAt.toISOString() } : {}),
    });
  }

  /** Waits while another operation holds the stack, then claims it; "busy" after a round's worth of waits. */
  function* claim(v: Extract<CertificateView, { registered: true }>): Generator<Task, "ok" | "gone" | "busy", unknown> {
    let holder = v.operation && v.operation.instanceId !== instanceId ? v.operation : undefined;
    for (let waits = 0; ; waits++) {
      if (!holder || waits > 0) {
        const claimed = (yield call(Names.activities.claimForCertificate, {
          stack,
          instanceId,
          at: now().toISOString(),
        })) as ClaimForCertificateOutput;
        if (claimed.ok) {
          clearWait();
          return "ok";
        }
        if ("gone" in claimed) return "gone";
        holder = claimed.running;
      }
      if (waits >= CLAIM_WAITS_PER_ROUND) return "busy";
      status.phase = "waiting-for-stack";
      status.waitingFor = `${holder.kind} ${holder.instanceId} holds the stack; the certificate waits for it to finish`;
      status.waitingUntil = new Date(now().getTime() + claimRetryMs()).toISOString();
      publish();
      yield context.df.createTimer(new Date(status.waitingUntil));
    }
  }

  /** Orders and stores a certificate; undefined (failure recorded) when it did not work. */
  function* issue(
    v: Extract<CertificateView, { registered: true }>,
    d: RenewalDecision,
  ): Generator<Task, StoredCertificate | undefined, unknown> {
    status.phase = "issuing";
    publish();
    // a person's request is answered by this attempt (recorded with the order, so a restarted worker
    // does not order again for it): a failure is reported, and retries follow the backoff
    const force = v.state.force && v.state.force.id !== v.state.forceHandled ? v.state.force : undefined;
    const orderId = (yield call(Names.activities.beginCertificateOrder, {
      stack,
      orderId: context.df.newGuid(`${instanceId}/${round}/order`),
      reason: d.reason,
      at: now().toISOString(),
      ...(force ? { forceId: force.id } : {}),
    })) as string;
    try {
      // no retries here: a failed attempt is recorded and retried after the policy's backoff
      const issued = (yield context.df.callActivity(Names.activities.issueCertificate, {
        spec: v.spec,
        orderId,
        at: now().toISOString(),
      })) as IssueCertificateOutput;
      const c = issued.certificate;
      status.lastIssue = {
        serial: c.serial,
        notAfter: c.notAfter,
        orderId,
        resumed: issued.resumed,
        at: now().toISOString(),
      };
      status.current = { serial: c.serial, notAfter: c.notAfter };
      publish();
      const renewal = renewalTime(c);
      yield audit(issued.resumed === "stored" ? "certificate issuance resumed" : "certificate issued", d.reason, {
        serial: c.serial,
        notBefore: c.notBefore,
        notAfter: c.notAfter,
        hostname: v.hostname,
        keyVaultVersion: c.version,
        orderId,
        challenge: v.spec.tls.acme.challenge,
        renewAt: renewal.at.toISOString(),
        ...(issued.resumed !== "new" ? { resumed: issued.resumed } : {}),
      });
      return c;
    } catch (error) {
      const message = failureMessage(error);
      const failed = (yield call(Names.activities.recordCertificateFailure, {
        stack,
        at: now().toISOString(),
        phase: "issue",
        message,
      })) as { failures: number; nextAttemptAt: string };
      status.lastFailure = { phase: "issue", message, at: now().toISOString() };
      publish();
      yield audit("certificate issuance failed", `${d.reason}; ${message}`, {
        hostname: v.hostname,
        orderId,
        failures: failed.failures,
        nextAttemptAt: failed.nextAttemptAt,
      });
      return undefined;
    }
  }

  /**
   * Pushes `cert` to every node that does not serve it, one node at a time, then reads back what
   * every node serves. A node whose install fails keeps its previous certificate (the agent rolls
   * back) and is named; the others keep the new one (both are valid for the hostname).
   */
  function* rollout(spec: StackSpec, cert: StoredCertificate): Generator<Task, void, unknown> {
    status.phase = "rollout";
    publish();
    const target = { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup };
    const nodes = (yield call(Names.activities.listWebNodes, { spec })) as WebNodeRef[];
    const served = (nodeList: WebNodeRef[]) =>
      context.df.Task.all(
        nodeList.map((n) => call(Names.activities.runNodeAgent, { ...target, vmName: n.name, command: "health" })),
      );
    const before = (yield served(nodes)) as AgentCommandResult[];
    const installFailures = new Map<string, string>();
    for (let i = 0; i < nodes.length; i++) {
      if (servedOf(before[i]).serial === cert.serial) continue;
      const installed = (yield call(Names.activities.runNodeAgent, {
        ...target,
        vmName: nodes[i].name,
        command: "install-cert",
        args: ["--secret", SECRET_NAMES.tlsBundle, "--version", cert.version],
      })) as AgentCommandResult;
      if (!installed.reachable || installed.exitCode !== 0) {
        installFailures.set(
          nodes[i].name,
          `install-cert failed: ${installed.error ?? lastLine(installed.stderr) ?? `exit ${installed.exitCode}`}`,
        );
      }
    }

    // what every node actually serves now, read from its own NGINX
    status.phase = "verifying";
    publish();
    const after = (yield served(nodes)) as AgentCommandResult[];
    const at = now().toISOString();
    const report: ServedCertificate[] = nodes.map((n, i) =>
      servedReport(n.name, after[i], cert.serial, at, installFailures.get(n.name)),
    );
    const recorded = (yield call(Names.activities.recordCertificateRollout, {
      stack,
      at,
      version: cert.version,
      serial: cert.serial,
      nodes: report,
    })) as RecordCertificateRolloutOutput;
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
    publish();
    const details = {
      serial: cert.serial,
      notAfter: cert.notAfter,
      keyVaultVersion: cert.version,
      nodes: report.map((r) => ({ node: r.node, serial: r.serial ?? null, current: r.current })),
    };
    if (recorded.behind.length === 0) {
      yield audit("certificate rolled out", `every node serves ${cert.serial}`, details);
    } else {
      const why = report
        .filter((r) => !r.current)
        .map((r) => `${r.node}: ${r.detail}`)
        .join("; ");
      status.lastFailure = { phase: "rollout", message: why, at };
      publish();
      yield audit(
        "certificate rollout incomplete",
        `${why}; those nodes keep their previous certificate, the others serve ${cert.serial}`,
        { ...details, failures: recorded.failures, nextAttemptAt: recorded.nextAttemptAt },
      );
    }
  }
};

/** One node's line of a rollout or verification report. */
function servedReport(
  node: string,
  result: AgentCommandResult | undefined,
  serial: string,
  at: string,
  installFailure?: string,
): ServedCertificate {
  const s = servedOf(result);
  const current = s.serial === serial;
  const detail = current
    ? undefined
    : (installFailure ?? (s.problem ? s.problem : `serves ${s.serial ?? "nothing readable"}, not ${serial}`));
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
function servedOf(result: AgentCommandResult | undefined): { serial?: string; notAfter?: string; problem?: string } {
  if (!result) return { problem: "no answer" };
  if (!result.reachable) return { problem: `unreachable: ${result.error ?? "the VM agent did not answer"}` };
  const json = result.json as { certificate?: { serial?: unknown; notAfter?: unknown } | null } | undefined;
  const c = json?.certificate;
  if (!c || typeof c.serial !== "string") {
    return { problem: `the agent read no certificate (exit ${result.exitCode ?? "?"})` };
  }
  const notAfter = typeof c.notAfter === "string" ? Date.parse(c.notAfter) : NaN;
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

function lastLine(text?: string): string | undefined {
  const line = text?.trim().split("\n").pop();
  return line ? line.slice(0, 200) : undefined;
}

df.app.orchestration(Names.orchestrators.renewCertificate, renewCertificate);
