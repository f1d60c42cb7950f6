// scaleStack: the stack's one scale worker (instance `scale-<stack>`), started or woken by the alert
// intake. Level-triggered: each round reads the pending scale signals from the alert inbox, lets
// Resolved ones cancel what they reported, decides with the pure policy (shared/scale/policy.ts),
// acts, and consumes the signals with what came of them; it completes when nothing is pending.
//
//   - bounds and cooldown are checked first; a request in cooldown waits for its end (or a new
//     signal) and is decided again then, so a Resolved alert in between cancels it
//   - a scale-out is corroborated next (shared/scale/corroborate.ts): the metric the alert claims is
//     read from Azure Monitor, and a claim the measurement does not bear out is skipped and
//     recorded, before any claim, Run Command or ARM write (a forged alert changes nothing)
//   - one writer per stack: the stack is claimed (kind "scale") once per round, before anything
//     changes; while another operation holds it the worker sleeps (or wakes on a new signal) and
//     decides the request again, and under the claim it reads the spec and members again
//   - scale-out adds one node (availability set: the lowest free node number; scale set: capacity
//     + 1) through the engine, then brings it up as every new node joins (node-steps.ts bringUp);
//     only a healthy node counts, a node that does not come up is removed
//   - scale-in drains the node with the fewest live sessions until they end or the policy's drain
//     deadline, and only then removes it; a scale-out asked while it drains aborts the scale-in
//   - the fleet state keeps the new members, so drift checks and redeploys keep the scaled size
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { StackSignal } from "../../shared/alerts/signal";
import { claimedMetrics, CORROBORATION_WINDOW_MINUTES, corroborateScaleOut } from "../../shared/scale/corroborate";
import {
  checkLimits,
  decideScale,
  limitsFor,
  requestText,
  rulesOf,
  settleSignals,
  type ScaleDirection,
  type ScaleSkip,
} from "../../shared/scale/policy";
import type { ScaleView } from "../activities/scale";
import type { StackWorkerInput } from "../alert-wake";
import { SIGNAL_EVENT } from "../workflow/events";
import { Names } from "../names";
import { worker, type WorkerStatus } from "../workflow/worker";
import type { Step } from "../workflow/workflow";
import { consume, recordSkip, scaleIn, scaleOut, type ScaleRun } from "./scale-actions";

export interface ScaleInput extends StackWorkerInput {
  /** seconds between polls of a draining node and of a stack another operation holds (default 30) */
  pollSeconds?: number;
  /** stop waiting for another operation's claim after this many minutes (default 120) */
  claimWaitMinutes?: number;
  /** minutes of Percentage CPU the observation averages (default 10) */
  cpuMinutes?: number;
  /** carried across continueAsNew: since when the stack has been busy with another operation */
  busySince?: string;
}

export type ScalePhase =
  | "reading"
  | "cooldown"
  | "waiting"
  | "observing"
  | "scaling-out"
  | "bringing-up"
  | "rolling-back"
  | "draining"
  | "removing"
  | "idle";

export interface ScaleStatus extends WorkerStatus<"scale", ScalePhase> {
  direction?: ScaleDirection;
  /** the node being added or drained */
  node?: string;
  liveSessions?: number;
  drainDeadline?: string;
  decision?: string;
  rounds: number;
  /** what came of the last request */
  lastOutcome?: string;
}

export interface ScaleAction {
  direction: ScaleDirection;
  outcome: "scaled" | "skipped" | "failed" | "aborted" | "cancelled";
  reason?: string;
  node?: string;
  from?: number;
  to?: number;
  sessionsCut?: number;
}

export interface ScaleOutput {
  stack: string;
  rounds: number;
  actions: ScaleAction[];
}

/** Rounds per execution before continueAsNew keeps the history short. */
const MAX_ROUNDS = 20;
const SCALING_OFF = "ignored: scaling is off for this stack (policies.scale.enabled is false)";
const NOT_REGISTERED = "ignored: the stack is not registered (torn down?)";

/** The scale worker: a scale-out is measured first (corroborate.ts), before anything is claimed. */
export const scaleStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runScale(context, { corroborate: true });
};

/**
 * The scale worker as first released, without corroboration: instances in flight when it came finish
 * on it (their histories never called readScaleLoad); new instances start as `scaleStackV2`.
 */
export const scaleStackV1: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runScale(context, { corroborate: false });
};

function* runScale(context: OrchestrationContext, version: { corroborate: boolean }): Step<ScaleOutput | undefined> {
  const input = context.df.getInput<ScaleInput>();
  const { stack } = input;
  const w = worker<ScaleStatus>(context, { operation: "scale", stack, phase: "reading", rounds: 0 });
  const { status } = w;
  const pollMs = (input.pollSeconds ?? 30) * 1000;
  const claimWaitMs = (input.claimWaitMinutes ?? 120) * 60_000;
  const actions: ScaleAction[] = [];
  const run: ScaleRun = { w, actions, pollMs };
  let busySince = input.busySince ? new Date(input.busySince) : undefined;
  /** the cooldown end last audited, so waking up inside one cooldown records it once */
  let deferralAudited: string | undefined;

  for (let round = 1; ; round++) {
    if (round > MAX_ROUNDS) {
      context.df.continueAsNew({ ...input, ...(busySince ? { busySince: busySince.toISOString() } : {}) });
      return undefined;
    }
    status.rounds = round;
    status.phase = "reading";
    w.clearWait();
    for (const key of ["node", "liveSessions", "drainDeadline", "decision"] as const) delete status[key];
    w.publish();
    const taken = yield* w.call("takeScaleSignals", { stack });
    if (taken.signals.length === 0) break;
    if (!taken.registered || !taken.spec || taken.tearingDown) {
      yield* consume(run, taken.signals, taken.registered ? "ignored: the stack is being torn down" : NOT_REGISTERED);
      continue;
    }
    if (!taken.spec.policies.scale.enabled) {
      yield* consume(run, taken.signals, SCALING_OFF);
      continue;
    }
    const settled = settleSignals(taken.signals);
    for (const done of settled.done) yield* consume(run, done.ids, done.outcome);
    for (const done of settled.done.filter((d) => d.outcome.startsWith("cancelled"))) {
      const intent = taken.signals.find((s) => s.id === done.ids[0])?.intent;
      actions.push({ direction: intent === "scale-in" ? "in" : "out", outcome: "cancelled" });
      status.lastOutcome = done.outcome;
    }
    if (!settled.direction) continue;
    const { direction, active } = settled;
    status.direction = direction;

    // bounds and cooldown need no claim
    const limited = checkLimits(limitsOf(taken, direction));
    if (limited) {
      yield* limited.retryAt ? deferUntil(direction, active, limited) : recordSkip(run, direction, active, limited);
      continue;
    }

    // an alert is a claim: measure it before anything is claimed or written
    delete run.corroboration;
    if (version.corroborate && direction === "out") {
      status.phase = "observing";
      w.publish();
      const spec = taken.spec;
      const readings = yield* w.call("readScaleLoad", {
        spec,
        ordinals: taken.fleet!.ordinals,
        metrics: claimedMetrics(active, spec.policies.scale.metric),
        windowMinutes: CORROBORATION_WINDOW_MINUTES,
      });
      const verdict = corroborateScaleOut({ signals: active, policyMetric: spec.policies.scale.metric, readings });
      if (!("corroborated" in verdict)) {
        yield* recordSkip(run, direction, active, verdict);
        continue;
      }
      run.corroboration = verdict.message;
      status.decision = verdict.message;
      w.publish();
    }

    // one writer per stack: claimed once per round; while another operation holds the stack, the
    // request is decided again after a sleep (a Resolved alert or a new signal may change it)
    const claim = yield* w.call("claimForScale", { stack, instanceId: w.instanceId, at: w.now().toISOString() });
    if (!claim.ok) {
      if (claim.gone) {
        yield* consume(run, active, NOT_REGISTERED);
        continue;
      }
      busySince ??= w.now();
      if (w.now().getTime() - busySince.getTime() >= claimWaitMs) {
        const message = `the stack stayed busy with ${claim.running.kind} ${claim.running.instanceId} for ${Math.round(claimWaitMs / 60_000)} minutes`;
        yield* recordSkip(run, direction, active, { action: "skip", reason: "Busy", message });
        busySince = undefined;
        continue;
      }
      const what = `the stack is busy: ${claim.running.kind} ${claim.running.instanceId} holds it`;
      w.waiting("waiting", what, undefined, claim.running);
      yield* w.sleepOrWake(w.after(pollMs), SIGNAL_EVENT);
      continue;
    }
    busySince = undefined;

    let cooldown: ScaleSkip | undefined;
    try {
      // under the claim, with the spec and members as they are now
      const spec = claim.spec;
      if (!claim.registered || !spec) continue;
      if (!spec.policies.scale.enabled) {
        yield* consume(run, active, SCALING_OFF);
        continue;
      }
      const again = checkLimits(limitsOf(claim, direction));
      // a cooldown found under the claim: the next round defers it, without the claim
      if (again?.retryAt) continue;
      if (again) yield* recordSkip(run, direction, active, again);
      else {
        status.phase = "observing";
        w.publish();
        const nodes = yield* w.call("observeScaleFleet", {
          spec,
          ordinals: claim.fleet!.ordinals,
          cpuMinutes: spec.policies.scale.metric === "cpu" ? (input.cpuMinutes ?? 10) : 0,
        });
        const decision = decideScale({ ...limitsOf(claim, direction), metric: spec.policies.scale.metric, nodes });
        status.decision = decision.message;
        w.publish();
        if (decision.action === "skip") {
          if (decision.retryAt) cooldown = decision;
          else yield* recordSkip(run, direction, active, decision);
        } else if (decision.action === "out") {
          yield* scaleOut(run, claim, decision, active);
        } else {
          yield* scaleIn(run, claim, decision, active);
        }
      }
    } finally {
      yield* w.call("releaseOperation", { stack, instanceId: w.instanceId });
    }
    if (cooldown) yield* deferUntil(direction, active, cooldown);
  }

  status.phase = "idle";
  w.clearWait();
  w.publish();
  return { stack, rounds: status.rounds, actions };

  function limitsOf(view: ScaleView, direction: ScaleDirection) {
    return limitsFor({ spec: view.spec!, fleet: view.fleet!, lastScale: view.lastScale }, direction, w.now());
  }

  /** Cooldown: the request waits for its end (a Resolved signal meanwhile cancels it). */
  function* deferUntil(direction: ScaleDirection, active: readonly StackSignal[], skip: ScaleSkip): Step<void> {
    status.direction = direction;
    w.waiting("cooldown", skip.message, new Date(skip.retryAt!));
    if (deferralAudited !== skip.retryAt) {
      deferralAudited = skip.retryAt;
      yield* w.audit(`scale-${direction} deferred`, requestText(active, skip.message), {
        reason: skip.reason,
        until: skip.retryAt,
        rules: rulesOf(active),
      });
    }
    yield* w.sleepOrWake(new Date(skip.retryAt!), SIGNAL_EVENT);
  }
}

df.app.orchestration(Names.orchestrators.scaleStack, scaleStack);
df.app.orchestration(Names.orchestrators.scaleStackV1, scaleStackV1);
