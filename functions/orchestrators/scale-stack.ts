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
//   - one writer per stack: the stack is claimed (kind "scale") before anything changes; while a
//     deploy, heal, rotation or teardown holds it, the worker waits with durable timers and says
//     what for in its custom status, and under the claim it reads the spec and members again
//   - scale-out adds one node (availability set: the lowest free node number; scale set: capacity
//     + 1) through the engine, then brings it up like a deploy does (agent, database credentials,
//     certificate, health); only a healthy node counts, a node that does not come up is removed
//   - scale-in drains the node with the fewest live sessions (the LB probe answers 503), waits for
//     its sessions to end or the policy's drain deadline, and only then removes it (availability set:
//     role assignment, VM, NIC; scale set: deleteInstances); a scale-out asked while it drains
//     aborts the scale-in and the node is undrained
//   - the fleet state keeps the new members, so drift checks and redeploys keep the scaled size
// Deterministic: time from context.df.currentUtcDateTime, every side effect an activity.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import type { StackSignal } from "../../shared/alerts/signal";
import { webNodeNames } from "../../shared/graph/names";
import { webNodeGraphKeys } from "../../shared/graph/stack-graph";
import type { GraphNode, StackGraph } from "../../shared/graph/types";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import { lowestFreeOrdinal, type EffectiveFleet } from "../../shared/scale/fleet";
import {
  claimedMetrics,
  CORROBORATION_WINDOW_MINUTES,
  corroborateScaleOut,
  type LoadReading,
} from "../../shared/scale/corroborate";
import {
  checkLimits,
  decideScale,
  rulesOf,
  settleSignals,
  type ScaleDecision,
  type ScaleDirection,
  type ScaleLimitsInput,
  type ScaleSkip,
} from "../../shared/scale/policy";
import type { StackSpec } from "../../shared/spec/types";
import type { FleetChange, FleetMembersInput, StackOperation } from "../../shared/store";
import type { WebNodeRef } from "../activities/nodes";
import type { RemoveResult } from "../../shared/arm/engine";
import type { ClaimForScaleOutput, ObservedScaleNode, ScaleView, TakeScaleSignalsOutput } from "../activities/scale";
import { SIGNAL_EVENT, type StackWorkerInput } from "../alert-wake";
import { Names } from "../names";
import { failureMessage } from "./graph-runner";
import { bringUpWebNodes } from "./node-bring-up";
import { activityRetry } from "./activity-retry";

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

export interface ScaleStatus {
  operation: "scale";
  stack: string;
  phase: ScalePhase;
  direction?: ScaleDirection;
  /** what the worker waits for, in words, with the operation holding the stack or the time it waits until */
  waitingFor?: { what: string; operation?: StackOperation; until?: string };
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
const CONDITION = "ScalingLimited";

/** The scale worker: a scale-out is measured first (corroborate.ts), before anything is claimed. */
export const scaleStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runScale(context, { corroborate: true });
};

/**
 * The scale worker as first released, without corroboration: instances in flight when it came finish
 * on it (their histories never called readScaleLoad); new instances start as `scaleStack`.
 */
export const scaleStackV1: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runScale(context, { corroborate: false });
};

function* runScale(
  context: OrchestrationContext,
  version: { corroborate: boolean },
): Generator<Task, ScaleOutput | undefined, unknown> {
  const input = context.df.getInput<ScaleInput>();
  const { stack } = input;
  const instanceId = context.df.instanceId;
  const retry = activityRetry();
  const pollMs = (input.pollSeconds ?? 30) * 1000;
  const claimWaitMs = (input.claimWaitMinutes ?? 120) * 60_000;
  const status: ScaleStatus = { operation: "scale", stack, phase: "reading", rounds: 0 };
  const publish = () => context.df.setCustomStatus(status);
  const now = () => context.df.currentUtcDateTime;
  const call = (name: string, data: unknown) => context.df.callActivityWithRetry(name, retry, data);
  const actions: ScaleAction[] = [];
  let busySince = input.busySince ? new Date(input.busySince) : undefined;
  /** the cooldown end last audited, so waking up inside one cooldown records it once */
  let deferralAudited: string | undefined;
  /** what the measurement said of the scale-out being decided, for its audit event */
  let corroboration: string | undefined;

  const consume = function* (signals: readonly StackSignal[] | string[], outcome: string): Generator<Task, void> {
    const ids = signals.map((s) => (typeof s === "string" ? s : s.id));
    if (ids.length > 0) yield call(Names.activities.consumeScaleSignals, { stack, ids, outcome });
  };
  const audit = function* (what: string, why: string, details?: Record<string, unknown>): Generator<Task, void> {
    yield call(Names.activities.appendAudit, {
      stack,
      what,
      why,
      operation: { kind: "scale", instanceId },
      ...(details ? { details } : {}),
    });
  };
  const condition = function* (limited: boolean, reason: string, message: string): Generator<Task, void> {
    yield call(Names.activities.setScaleCondition, {
      stack,
      condition: { type: CONDITION, status: limited ? "True" : "False", reason, message },
    });
  };
  /** Sleeps until `until` or a new signal, whichever comes first; true when a signal woke it. */
  const sleep = function* (until: Date): Generator<Task, boolean> {
    // never cancelled: a cancelled timer completes at once on replay and would reorder what the
    // host schedules next (see graph-runner.ts); one that fires later wakes nobody
    const timer = context.df.createTimer(until);
    const event = context.df.waitForExternalEvent(SIGNAL_EVENT);
    const winner = (yield context.df.Task.any([timer, event])) as Task;
    return winner === event;
  };
  const limitsOf = (view: ScaleView, direction: ScaleDirection): ScaleLimitsInput => ({
    direction,
    fleet: { size: view.fleet!.size, min: view.spec!.fleet.min, max: view.spec!.fleet.max },
    cooldownMinutes: view.spec!.policies.scale.cooldownMinutes,
    ...(view.lastScale && view.lastScale.direction !== "reset"
      ? { lastScale: { direction: view.lastScale.direction, at: view.lastScale.at } }
      : {}),
    now: now(),
  });
  const why = (active: readonly StackSignal[], message: string) =>
    `alert ${rulesOf(active).join(", ")} (${active.length} signal(s)): ${message}`;

  /** A request not taken for a lasting reason: consumed, audited, shown as a condition. */
  const recordSkip = function* (
    direction: ScaleDirection,
    active: readonly StackSignal[],
    skip: ScaleSkip,
  ): Generator<Task, void> {
    const outcome = `skipped (${skip.reason}): ${skip.message}`;
    yield* consume(active, outcome);
    yield* audit(`scale-${direction} skipped`, why(active, skip.message), {
      reason: skip.reason,
      rules: rulesOf(active),
      signals: active.length,
    });
    yield* condition(true, skip.reason, `scale-${direction} skipped: ${skip.message}`);
    actions.push({ direction, outcome: "skipped", reason: skip.reason });
    status.lastOutcome = outcome;
    publish();
  };

  /** Cooldown: the request waits for its end (a Resolved signal meanwhile cancels it). */
  const deferUntil = function* (
    direction: ScaleDirection,
    active: readonly StackSignal[],
    skip: ScaleSkip,
  ): Generator<Task, void> {
    const until = new Date(skip.retryAt!);
    status.phase = "cooldown";
    status.direction = direction;
    status.waitingFor = { what: skip.message, until: skip.retryAt };
    publish();
    if (deferralAudited !== skip.retryAt) {
      deferralAudited = skip.retryAt;
      yield* audit(`scale-${direction} deferred`, why(active, skip.message), {
        reason: skip.reason,
        until: skip.retryAt,
        rules: rulesOf(active),
      });
    }
    yield* sleep(until);
  };

  // ------------------------------------------------------------------------------ scale-out

  const scaleOut = function* (
    view: ScaleView,
    decision: Extract<ScaleDecision, { action: "out" }>,
    active: readonly StackSignal[],
  ): Generator<Task, void> {
    const spec = view.spec!;
    const before = members(view.fleet!);
    const ordinal = spec.fleet.mode === "availabilitySet" ? lowestFreeOrdinal(before.ordinals) : undefined;
    const next: FleetMembersInput = {
      ...before,
      size: before.size + 1,
      ordinals: ordinal !== undefined ? [...before.ordinals, ordinal].sort((a, b) => a - b) : [],
    };
    status.phase = "scaling-out";
    status.node = ordinal !== undefined ? webNodeNames(spec, ordinal).vm : undefined;
    publish();
    const graph = (yield call(Names.activities.buildStackGraph, { spec, members: next })) as StackGraph;
    const nodes = fleetNodes(graph, spec, ordinal);
    const existing = (yield call(Names.activities.listWebNodes, { spec })) as WebNodeRef[];
    // the new member counts from here on: a teardown or drift check in a crash window covers it
    yield call(Names.activities.recordFleet, { stack, members: next });
    let added: WebNodeRef[] = [];
    try {
      for (const node of nodes) yield call(Names.activities.applyResource, { node });
      const listed = (yield call(Names.activities.listWebNodes, { spec })) as WebNodeRef[];
      added = newNodes(listed, existing, spec, ordinal);
      if (added.length === 0) throw new Error("no new web VM appeared after the fleet was enlarged");
      status.node = added.map((n) => n.name).join(", ");
      const certificate = (yield call(Names.activities.fleetCertificate, { spec })) as string | null;
      status.phase = "bringing-up";
      publish();
      const observed = yield* bringUpWebNodes(context, {
        spec,
        nodes: added,
        nodeReadyTimeoutMinutes: view.nodeReadyTimeoutMinutes ?? 30,
        pollSeconds: input.pollSeconds,
        bootstrapDatabase: false,
        // a scale-out joins on the user the fleet uses now, never a stale default
        ...(view.dbUserSlot ? { dbUserSlot: view.dbUserSlot } : {}),
        ...(certificate ? { certificateSecret: certificate } : {}),
        retry,
      });
      const change: FleetChange = {
        id: `out-${context.df.newGuid(instanceId)}`,
        direction: "out",
        at: now().toISOString(),
        from: before.size,
        to: next.size,
        node: status.node,
        reason: why(active, decision.message),
        instanceId,
      };
      yield call(Names.activities.recordFleet, { stack, members: next, change });
      yield call(Names.activities.recordScaleObserved, { stack, add: observed });
      const outcome = `scaled out: ${status.node} added and healthy, ${before.size} -> ${next.size} node(s)`;
      yield* consume(active, outcome);
      yield* audit("scale-out succeeded", why(active, decision.message), {
        node: status.node,
        from: before.size,
        to: next.size,
        rules: rulesOf(active),
        ...(certificate ? { certificate } : {}),
        ...(corroboration ? { corroboration } : {}),
      });
      yield* condition(false, "ScaledOut", outcome);
      actions.push({ direction: "out", outcome: "scaled", node: status.node, from: before.size, to: next.size });
      status.lastOutcome = outcome;
    } catch (error) {
      const failure = failureMessage(error);
      status.phase = "rolling-back";
      publish();
      // only a healthy node counts: the one that did not come up goes, and the fleet is what it was
      let rollback = "removed again";
      try {
        if (spec.fleet.mode === "availabilitySet") {
          yield* removeNodes([...nodes].reverse(), graph.tag);
        } else {
          const listed = (yield call(Names.activities.listWebNodes, { spec })) as WebNodeRef[];
          for (const n of added.length > 0 ? added : newNodes(listed, existing, spec, undefined)) {
            yield call(Names.activities.removeScaleSetInstance, { spec, vmName: n.name });
          }
        }
        yield call(Names.activities.recordFleet, { stack, members: before });
      } catch (e) {
        // the member stays in the fleet state, so the drift check and teardown still cover it
        rollback = `not removed (${failureMessage(e)}); it stays a member until someone looks`;
      }
      const outcome = `failed: the new node did not come up (${failure}); ${rollback}`;
      yield* consume(active, outcome);
      yield* audit("scale-out failed", `${why(active, decision.message)}; ${failure}`, {
        node: status.node ?? null,
        rollback,
        rules: rulesOf(active),
      });
      yield* condition(true, "ScaleOutFailed", outcome);
      actions.push({ direction: "out", outcome: "failed", reason: failure, node: status.node });
      status.lastOutcome = outcome;
    }
  };

  // ------------------------------------------------------------------------------ scale-in

  const scaleIn = function* (
    view: ScaleView,
    decision: Extract<ScaleDecision, { action: "in" }>,
    active: readonly StackSignal[],
  ): Generator<Task, void> {
    const spec = view.spec!;
    const before = members(view.fleet!);
    const vmName = decision.node;
    const target = { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup, vmName };
    const agent = (command: string, args?: string[]) =>
      call(Names.activities.runNodeAgent, { ...target, command, ...(args ? { args } : {}) });
    status.phase = "draining";
    status.node = vmName;
    status.liveSessions = decision.liveSessions;
    publish();

    const drain = (yield agent("drain", ["on"])) as AgentCommandResult;
    if (!drain.reachable || drain.exitCode !== 0) {
      const failure = drain.error ?? drain.stderr ?? `exit ${drain.exitCode}`;
      const outcome = `failed: ${vmName} could not be drained (${failure}); nothing was removed`;
      yield* consume(active, outcome);
      yield* audit("scale-in failed", `${why(active, decision.message)}; drain failed: ${failure}`, { node: vmName });
      yield* condition(true, "ScaleInFailed", outcome);
      actions.push({ direction: "in", outcome: "failed", reason: failure, node: vmName });
      status.lastOutcome = outcome;
      return;
    }

    // wait for the node's sessions to end, or the policy's deadline: the user's contract
    const drainMinutes = spec.policies.scale.drainTimeoutMinutes;
    const deadline = new Date(now().getTime() + drainMinutes * 60_000);
    status.drainDeadline = deadline.toISOString();
    let sessions: number | undefined = liveSessionsOf(drain) ?? decision.liveSessions;
    const next: FleetMembersInput = {
      ...before,
      size: before.size - 1,
      ordinals: before.ordinals.filter((n) => n !== decision.ordinal),
    };
    try {
      for (;;) {
        const health = (yield agent("health")) as AgentCommandResult;
        sessions = liveSessionsOf(health) ?? sessions;
        status.liveSessions = sessions;
        status.waitingFor = { what: `live sessions on ${vmName} to end`, until: status.drainDeadline };
        publish();
        if (sessions === 0 || now().getTime() >= deadline.getTime()) break;
        const wake = new Date(Math.min(now().getTime() + pollMs, deadline.getTime()));
        const signalled = yield* sleep(wake);
        if (!signalled) continue;
        // a new signal: a scale-out asked meanwhile wins over this scale-in, and the node comes back
        const peek = (yield call(Names.activities.takeScaleSignals, { stack })) as TakeScaleSignalsOutput;
        if (settleSignals(peek.signals).direction === "out") {
          yield* undrain(vmName, agent);
          const outcome = `aborted: a scale-out was asked while ${vmName} drained; it serves again`;
          yield* consume(active, outcome);
          yield* audit("scale-in aborted", why(active, outcome), { node: vmName, liveSessions: sessions ?? null });
          actions.push({ direction: "in", outcome: "aborted", node: vmName });
          status.lastOutcome = outcome;
          delete status.waitingFor;
          return;
        }
      }
      delete status.waitingFor;
      status.phase = "removing";
      publish();
      if (spec.fleet.mode === "availabilitySet") {
        if (decision.ordinal === undefined) throw new Error(`${vmName} has no node number`);
        const graph = (yield call(Names.activities.buildStackGraph, { spec, members: before })) as StackGraph;
        // teardown order: the role assignment, the VM (its OS disk goes with it), then its NIC
        yield* removeNodes([...fleetNodes(graph, spec, decision.ordinal)].reverse(), graph.tag);
      } else {
        yield call(Names.activities.removeScaleSetInstance, { spec, vmName });
      }
    } catch (error) {
      const failure = failureMessage(error);
      // the node was not removed: let it serve again rather than sit drained
      delete status.waitingFor;
      yield* undrain(vmName, agent);
      const outcome = `failed: ${vmName} was drained but not removed (${failure}); it serves again`;
      yield* consume(active, outcome);
      yield* audit("scale-in failed", `${why(active, decision.message)}; ${failure}`, { node: vmName });
      yield* condition(true, "ScaleInFailed", outcome);
      actions.push({ direction: "in", outcome: "failed", reason: failure, node: vmName });
      status.lastOutcome = outcome;
      return;
    }
    const cut = sessions ?? 0;
    const drainedText =
      cut > 0
        ? `the drain deadline (${drainMinutes} min) passed with ${cut} live session(s), which were cut`
        : "its sessions had ended";
    const change: FleetChange = {
      id: `in-${context.df.newGuid(instanceId)}`,
      direction: "in",
      at: now().toISOString(),
      from: before.size,
      to: next.size,
      node: vmName,
      reason: why(active, decision.message),
      instanceId,
      sessionsCut: cut,
    };
    yield call(Names.activities.recordFleet, { stack, members: next, change });
    yield call(Names.activities.recordScaleObserved, { stack, remove: vmName });
    const outcome = `scaled in: ${vmName} drained and removed (${drainedText}), ${before.size} -> ${next.size} node(s)`;
    yield* consume(active, outcome);
    yield* audit("scale-in succeeded", why(active, decision.message), {
      node: vmName,
      from: before.size,
      to: next.size,
      sessionsCut: cut,
      drainDeadline: status.drainDeadline,
      rules: rulesOf(active),
    });
    yield* condition(false, "ScaledIn", outcome);
    actions.push({
      direction: "in",
      outcome: "scaled",
      node: vmName,
      from: before.size,
      to: next.size,
      sessionsCut: cut,
    });
    status.lastOutcome = outcome;
  };

  /** Drain off; a node that can't be reached (or is gone) is left as it is. */
  const undrain = function* (vmName: string, agent: (command: string, args?: string[]) => Task): Generator<Task, void> {
    try {
      yield agent("drain", ["off"]);
    } catch {
      status.lastOutcome = `${vmName}: drain off failed; the node may still answer the probe with 503`;
    }
  };

  const removeNodes = function* (nodes: GraphNode[], tag: StackGraph["tag"]): Generator<Task, void> {
    for (const node of nodes) {
      const removed = (yield call(Names.activities.removeResource, { node, tag })) as RemoveResult;
      if (removed.action === "refused") {
        throw new Error(`${node.key}: refused (${removed.reason ?? "not tagged for this stack"})`);
      }
    }
  };

  // ------------------------------------------------------------------------------ rounds

  for (let round = 1; ; round++) {
    if (round > MAX_ROUNDS) {
      context.df.continueAsNew({ ...input, ...(busySince ? { busySince: busySince.toISOString() } : {}) });
      return undefined;
    }
    status.rounds = round;
    status.phase = "reading";
    delete status.waitingFor;
    delete status.node;
    delete status.liveSessions;
    delete status.drainDeadline;
    delete status.decision;
    publish();
    const taken = (yield call(Names.activities.takeScaleSignals, { stack })) as TakeScaleSignalsOutput;
    if (taken.signals.length === 0) break;
    if (!taken.registered || !taken.spec || taken.tearingDown) {
      const outcome = taken.registered
        ? "ignored: the stack is being torn down"
        : "ignored: the stack is not registered (torn down?)";
      yield* consume(taken.signals, outcome);
      continue;
    }
    if (!taken.spec.policies.scale.enabled) {
      yield* consume(taken.signals, "ignored: scaling is off for this stack (policies.scale.enabled is false)");
      continue;
    }
    const settled = settleSignals(taken.signals);
    for (const done of settled.done) yield* consume(done.ids, done.outcome);
    for (const done of settled.done.filter((d) => d.outcome.startsWith("cancelled"))) {
      const intent = taken.signals.find((s) => s.id === done.ids[0])?.intent;
      actions.push({ direction: intent === "scale-in" ? "in" : "out", outcome: "cancelled" });
      status.lastOutcome = done.outcome;
    }
    if (!settled.direction) continue;
    const direction = settled.direction;
    const active = settled.active;
    status.direction = direction;

    // bounds and cooldown need no claim
    const limited = checkLimits(limitsOf(taken, direction));
    if (limited?.retryAt) {
      yield* deferUntil(direction, active, limited);
      continue;
    }
    if (limited) {
      yield* recordSkip(direction, active, limited);
      continue;
    }

    // an alert is a claim: measure it before anything is claimed or written
    corroboration = undefined;
    if (version.corroborate && direction === "out") {
      status.phase = "observing";
      publish();
      const spec = taken.spec;
      const readings = (yield call(Names.activities.readScaleLoad, {
        spec,
        ordinals: taken.fleet!.ordinals,
        metrics: claimedMetrics(active, spec.policies.scale.metric),
        windowMinutes: CORROBORATION_WINDOW_MINUTES,
      })) as LoadReading[];
      const verdict = corroborateScaleOut({ signals: active, policyMetric: spec.policies.scale.metric, readings });
      if (!("corroborated" in verdict)) {
        yield* recordSkip(direction, active, verdict);
        continue;
      }
      corroboration = verdict.message;
      status.decision = corroboration;
      publish();
    }

    // one writer per stack
    const claim = (yield call(Names.activities.claimForScale, {
      stack,
      instanceId,
      at: now().toISOString(),
    })) as ClaimForScaleOutput;
    if (!claim.ok) {
      if (claim.gone) {
        yield* consume(active, "ignored: the stack is not registered (torn down?)");
        continue;
      }
      busySince ??= now();
      if (now().getTime() - busySince.getTime() >= claimWaitMs) {
        const message = `the stack stayed busy with ${claim.running.kind} ${claim.running.instanceId} for ${Math.round(claimWaitMs / 60_000)} minutes`;
        yield* recordSkip(direction, active, { action: "skip", reason: "Busy", message });
        busySince = undefined;
        continue;
      }
      status.phase = "waiting";
      status.waitingFor = {
        what: `the stack is busy: ${claim.running.kind} ${claim.running.instanceId} holds it`,
        operation: claim.running,
      };
      publish();
      yield* sleep(new Date(now().getTime() + pollMs));
      continue;
    }
    busySince = undefined;

    let cooldown: { skip: ScaleSkip } | undefined;
    try {
      // under the claim, with the spec and members as they are now
      const spec = claim.spec;
      if (!claim.registered || !spec) continue;
      if (!spec.policies.scale.enabled) {
        yield* consume(active, "ignored: scaling is off for this stack (policies.scale.enabled is false)");
        continue;
      }
      const again = checkLimits(limitsOf(claim, direction));
      if (again?.retryAt) {
        cooldown = { skip: again };
        continue;
      }
      if (again) {
        yield* recordSkip(direction, active, again);
        continue;
      }
      status.phase = "observing";
      publish();
      const nodes = (yield call(Names.activities.observeScaleFleet, {
        spec,
        ordinals: claim.fleet!.ordinals,
        cpuMinutes: spec.policies.scale.metric === "cpu" ? (input.cpuMinutes ?? 10) : 0,
      })) as ObservedScaleNode[];
      const decision = decideScale({ ...limitsOf(claim, direction), metric: spec.policies.scale.metric, nodes });
      status.decision = decision.message;
      publish();
      if (decision.action === "skip") {
        if (decision.retryAt) cooldown = { skip: decision };
        else yield* recordSkip(direction, active, decision);
      } else if (decision.action === "out") {
        yield* scaleOut(claim, decision, active);
      } else {
        yield* scaleIn(claim, decision, active);
      }
    } finally {
      yield call(Names.activities.releaseOperation, { stack, instanceId });
    }
    if (cooldown) yield* deferUntil(direction, active, cooldown.skip);
  }

  status.phase = "idle";
  delete status.waitingFor;
  publish();
  const output: ScaleOutput = { stack, rounds: status.rounds, actions };
  return output;
}

/** The fleet state's fields of effective members. */
function members(fleet: EffectiveFleet): FleetMembersInput {
  return { mode: fleet.mode, specSize: fleet.specSize, size: fleet.size, ordinals: [...fleet.ordinals] };
}

/**
 * The graph nodes of one availability-set web node (NIC, VM, role assignments, its own alert rules
 * when the stack scales on sessions), or the scale set.
 */
function fleetNodes(graph: StackGraph, spec: StackSpec, ordinal: number | undefined): GraphNode[] {
  const keys =
    ordinal !== undefined ? webNodeGraphKeys(graph, `web-${ordinal}`) : spec.fleet.mode === "scaleSet" ? ["vmss"] : [];
  if (ordinal !== undefined && !keys.includes(`vm:web-${ordinal}`)) {
    throw new Error(`the stack graph has no node vm:web-${ordinal}`);
  }
  return keys.map((key) => {
    const node = graph.nodes.find((n) => n.key === key);
    if (!node) throw new Error(`the stack graph has no node ${key}`);
    return node;
  });
}

/** VMs listed now that were not there before (availability set: the new node's VM). */
function newNodes(
  listed: WebNodeRef[],
  before: WebNodeRef[],
  spec: StackSpec,
  ordinal: number | undefined,
): WebNodeRef[] {
  if (ordinal !== undefined) {
    const vm = webNodeNames(spec, ordinal).vm.toLowerCase();
    return listed.filter((n) => n.name.toLowerCase() === vm);
  }
  const known = new Set(before.map((n) => n.name.toLowerCase()));
  return listed.filter((n) => !known.has(n.name.toLowerCase()));
}

function liveSessionsOf(result: AgentCommandResult): number | undefined {
  const json = result.json as { liveSessions?: unknown } | undefined;
  return result.reachable && typeof json?.liveSessions === "number" ? json.liveSessions : undefined;
}

df.app.orchestration(Names.orchestrators.scaleStack, scaleStack);
df.app.orchestration(Names.orchestrators.scaleStackV1, scaleStackV1);
