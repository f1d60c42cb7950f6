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
import { webNodeNames } from "../../shared/graph/names";
import { webNodeGraphKeys } from "../../shared/graph/stack-graph";
import type { GraphNode, StackGraph } from "../../shared/graph/types";
import type { WebNodeRef } from "../../shared/node/model";
import { lowestFreeOrdinal, type EffectiveFleet } from "../../shared/scale/fleet";
import { claimedMetrics, CORROBORATION_WINDOW_MINUTES, corroborateScaleOut } from "../../shared/scale/corroborate";
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
import type { FleetChange, FleetMembersInput } from "../../shared/store";
import type { ScaleView } from "../activities/scale";
import { SIGNAL_EVENT, type StackWorkerInput } from "../alert-wake";
import { Names } from "../names";
import { bringUp, drainNode, liveSessionsOf, runAgent, type DrainOutcome } from "../workflow/node-steps";
import { worker, type WorkerStatus } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";

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
const CONDITION = "ScalingLimited";
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
  let busySince = input.busySince ? new Date(input.busySince) : undefined;
  /** the cooldown end last audited, so waking up inside one cooldown records it once */
  let deferralAudited: string | undefined;
  /** what the measurement said of the scale-out being decided, for its audit event */
  let corroboration: string | undefined;

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
      yield* consume(taken.signals, taken.registered ? "ignored: the stack is being torn down" : NOT_REGISTERED);
      continue;
    }
    if (!taken.spec.policies.scale.enabled) {
      yield* consume(taken.signals, SCALING_OFF);
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
    const { direction, active } = settled;
    status.direction = direction;

    // bounds and cooldown need no claim
    const limited = checkLimits(limitsOf(taken, direction));
    if (limited) {
      yield* limited.retryAt ? deferUntil(direction, active, limited) : recordSkip(direction, active, limited);
      continue;
    }

    // an alert is a claim: measure it before anything is claimed or written
    corroboration = undefined;
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
        yield* recordSkip(direction, active, verdict);
        continue;
      }
      corroboration = verdict.message;
      status.decision = corroboration;
      w.publish();
    }

    // one writer per stack: claimed once per round; while another operation holds the stack, the
    // request is decided again after a sleep (a Resolved alert or a new signal may change it)
    const claim = yield* w.call("claimForScale", { stack, instanceId: w.instanceId, at: w.now().toISOString() });
    if (!claim.ok) {
      if (claim.gone) {
        yield* consume(active, NOT_REGISTERED);
        continue;
      }
      busySince ??= w.now();
      if (w.now().getTime() - busySince.getTime() >= claimWaitMs) {
        const message = `the stack stayed busy with ${claim.running.kind} ${claim.running.instanceId} for ${Math.round(claimWaitMs / 60_000)} minutes`;
        yield* recordSkip(direction, active, { action: "skip", reason: "Busy", message });
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
        yield* consume(active, SCALING_OFF);
        continue;
      }
      const again = checkLimits(limitsOf(claim, direction));
      // a cooldown found under the claim: the next round defers it, without the claim
      if (again?.retryAt) continue;
      if (again) yield* recordSkip(direction, active, again);
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
          else yield* recordSkip(direction, active, decision);
        } else if (decision.action === "out") {
          yield* scaleOut(claim, decision, active);
        } else {
          yield* scaleIn(claim, decision, active);
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

  // ============================================================================== records

  function* consume(signals: readonly StackSignal[] | string[], outcome: string): Step<void> {
    const ids = signals.map((s) => (typeof s === "string" ? s : s.id));
    if (ids.length > 0) yield* w.call("consumeScaleSignals", { stack, ids, outcome });
  }

  function* condition(limited: boolean, reason: string, message: string): Step<void> {
    yield* w.call("setScaleCondition", {
      stack,
      condition: { type: CONDITION, status: limited ? "True" : "False", reason, message },
    });
  }

  /** What came of a request: its signals consumed, audited, the condition set, the action kept. */
  function* settle(
    active: readonly StackSignal[],
    action: ScaleAction,
    record: { outcome: string; what: string; why: string; details: Record<string, unknown>; reason: string },
  ): Step<void> {
    yield* consume(active, record.outcome);
    yield* w.audit(record.what, record.why, record.details);
    yield* condition(action.outcome !== "scaled", record.reason, record.outcome);
    actions.push(action);
    status.lastOutcome = record.outcome;
  }

  function limitsOf(view: ScaleView, direction: ScaleDirection): ScaleLimitsInput {
    return {
      direction,
      fleet: { size: view.fleet!.size, min: view.spec!.fleet.min, max: view.spec!.fleet.max },
      cooldownMinutes: view.spec!.policies.scale.cooldownMinutes,
      ...(view.lastScale && view.lastScale.direction !== "reset"
        ? { lastScale: { direction: view.lastScale.direction, at: view.lastScale.at } }
        : {}),
      now: w.now(),
    };
  }

  function why(active: readonly StackSignal[], message: string): string {
    return `alert ${rulesOf(active).join(", ")} (${active.length} signal(s)): ${message}`;
  }

  /** A request not taken for a lasting reason: consumed, audited, shown as a condition. */
  function* recordSkip(direction: ScaleDirection, active: readonly StackSignal[], skip: ScaleSkip): Step<void> {
    const outcome = `skipped (${skip.reason}): ${skip.message}`;
    yield* consume(active, outcome);
    yield* w.audit(`scale-${direction} skipped`, why(active, skip.message), {
      reason: skip.reason,
      rules: rulesOf(active),
      signals: active.length,
    });
    yield* condition(true, skip.reason, `scale-${direction} skipped: ${skip.message}`);
    actions.push({ direction, outcome: "skipped", reason: skip.reason });
    status.lastOutcome = outcome;
    w.publish();
  }

  /** Cooldown: the request waits for its end (a Resolved signal meanwhile cancels it). */
  function* deferUntil(direction: ScaleDirection, active: readonly StackSignal[], skip: ScaleSkip): Step<void> {
    status.direction = direction;
    w.waiting("cooldown", skip.message, new Date(skip.retryAt!));
    if (deferralAudited !== skip.retryAt) {
      deferralAudited = skip.retryAt;
      yield* w.audit(`scale-${direction} deferred`, why(active, skip.message), {
        reason: skip.reason,
        until: skip.retryAt,
        rules: rulesOf(active),
      });
    }
    yield* w.sleepOrWake(new Date(skip.retryAt!), SIGNAL_EVENT);
  }

  // ============================================================================== scale-out

  function* scaleOut(
    view: ScaleView,
    decision: Extract<ScaleDecision, { action: "out" }>,
    active: readonly StackSignal[],
  ): Step<void> {
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
    w.publish();
    const graph = yield* w.call("buildStackGraph", { spec, members: next });
    const nodes = fleetNodes(graph, spec, ordinal);
    const existing = yield* w.call("listWebNodes", { spec });
    // the new member counts from here on: a teardown or drift check in a crash window covers it
    yield* w.call("recordFleet", { stack, members: next });
    let added: WebNodeRef[] = [];
    try {
      for (const node of nodes) yield* w.call("applyResource", { node });
      added = newNodes(yield* w.call("listWebNodes", { spec }), existing, spec, ordinal);
      if (added.length === 0) throw new Error("no new web VM appeared after the fleet was enlarged");
      status.node = added.map((n) => n.name).join(", ");
      const certificate = yield* w.call("fleetCertificate", { spec });
      status.phase = "bringing-up";
      w.publish();
      const readyMinutes = view.nodeReadyTimeoutMinutes ?? 30;
      const observed = yield* bringUp(w, {
        spec,
        nodes: added,
        deadline: w.after(readyMinutes * 60_000),
        timeoutMinutes: readyMinutes,
        pollMs,
        // a scale-out joins on the user the fleet uses now, never a stale default
        join: { appUser: view.dbUserSlot ?? "a", ...(certificate ? { certificate: { secret: certificate } } : {}) },
      });
      const change: FleetChange = {
        id: `out-${w.guid(w.instanceId)}`,
        direction: "out",
        at: w.now().toISOString(),
        from: before.size,
        to: next.size,
        node: status.node,
        reason: why(active, decision.message),
        instanceId: w.instanceId,
      };
      yield* w.call("recordFleet", { stack, members: next, change });
      yield* w.call("recordScaleObserved", { stack, add: observed });
      yield* settle(
        active,
        { direction: "out", outcome: "scaled", node: status.node, from: before.size, to: next.size },
        {
          outcome: `scaled out: ${status.node} added and healthy, ${before.size} -> ${next.size} node(s)`,
          what: "scale-out succeeded",
          why: why(active, decision.message),
          details: {
            node: status.node,
            from: before.size,
            to: next.size,
            rules: rulesOf(active),
            ...(certificate ? { certificate } : {}),
            ...(corroboration ? { corroboration } : {}),
          },
          reason: "ScaledOut",
        },
      );
    } catch (error) {
      const failure = failureMessage(error);
      status.phase = "rolling-back";
      w.publish();
      // only a healthy node counts: the one that did not come up goes, and the fleet is what it was
      let rollback = "removed again";
      try {
        if (spec.fleet.mode === "availabilitySet") {
          yield* removeNodes([...nodes].reverse(), graph.tag);
        } else {
          const listed = yield* w.call("listWebNodes", { spec });
          for (const n of added.length > 0 ? added : newNodes(listed, existing, spec, undefined)) {
            yield* w.call("removeScaleSetInstance", { spec, vmName: n.name });
          }
        }
        yield* w.call("recordFleet", { stack, members: before });
      } catch (e) {
        // the member stays in the fleet state, so the drift check and teardown still cover it
        rollback = `not removed (${failureMessage(e)}); it stays a member until someone looks`;
      }
      yield* settle(
        active,
        { direction: "out", outcome: "failed", reason: failure, node: status.node },
        {
          outcome: `failed: the new node did not come up (${failure}); ${rollback}`,
          what: "scale-out failed",
          why: `${why(active, decision.message)}; ${failure}`,
          details: { node: status.node ?? null, rollback, rules: rulesOf(active) },
          reason: "ScaleOutFailed",
        },
      );
    }
  }

  // ============================================================================== scale-in

  function* scaleIn(
    view: ScaleView,
    decision: Extract<ScaleDecision, { action: "in" }>,
    active: readonly StackSignal[],
  ): Step<void> {
    const spec = view.spec!;
    const before = members(view.fleet!);
    const vmName = decision.node;
    const failed = (failure: string, outcome: string, cause = failure) =>
      settle(
        active,
        { direction: "in", outcome: "failed", reason: failure, node: vmName },
        {
          outcome,
          what: "scale-in failed",
          why: `${why(active, decision.message)}; ${cause}`,
          details: { node: vmName },
          reason: "ScaleInFailed",
        },
      );
    status.phase = "draining";
    status.node = vmName;
    status.liveSessions = decision.liveSessions;
    w.publish();

    const next: FleetMembersInput = {
      ...before,
      size: before.size - 1,
      ordinals: before.ordinals.filter((n) => n !== decision.ordinal),
    };
    let known = decision.liveSessions;
    let drained: DrainOutcome;
    try {
      // the node's sessions end, or the policy's deadline passes: the user's contract
      drained = yield* drainNode(w, spec, vmName, {
        draining: false,
        required: true,
        // the answer of `drain on` is a first reading, but the node is looked at right away
        sessions: (answer) => {
          known = (answer && liveSessionsOf(answer)) ?? known;
          return undefined;
        },
        look: function* () {
          known = liveSessionsOf(yield* runAgent(w, spec, vmName, "health")) ?? known;
          status.liveSessions = known;
          return known;
        },
        timeoutMs: spec.policies.scale.drainTimeoutMinutes * 60_000,
        pollMs,
        lastWait: "to-deadline",
        wake: {
          event: SIGNAL_EVENT,
          // a new signal: a scale-out asked meanwhile wins over this scale-in, and the node comes back
          abort: function* () {
            const peek = yield* w.call("takeScaleSignals", { stack });
            return settleSignals(peek.signals).direction === "out";
          },
        },
      });
      if (drained.outcome === "failed") {
        const outcome = `failed: ${vmName} could not be drained (${drained.detail}); nothing was removed`;
        return yield* failed(drained.detail, outcome, `drain failed: ${drained.detail}`);
      }
      status.drainDeadline = drained.deadline.toISOString();
      if (drained.outcome === "aborted") {
        yield* undrain(spec, vmName);
        const outcome = `aborted: a scale-out was asked while ${vmName} drained; it serves again`;
        yield* consume(active, outcome);
        yield* w.audit("scale-in aborted", why(active, outcome), { node: vmName, liveSessions: known ?? null });
        actions.push({ direction: "in", outcome: "aborted", node: vmName });
        status.lastOutcome = outcome;
        return;
      }
      status.phase = "removing";
      w.publish();
      if (spec.fleet.mode === "availabilitySet") {
        if (decision.ordinal === undefined) throw new Error(`${vmName} has no node number`);
        const graph = yield* w.call("buildStackGraph", { spec, members: before });
        // teardown order: the role assignment, the VM (its OS disk goes with it), then its NIC
        yield* removeNodes([...fleetNodes(graph, spec, decision.ordinal)].reverse(), graph.tag);
      } else {
        yield* w.call("removeScaleSetInstance", { spec, vmName });
      }
    } catch (error) {
      const failure = failureMessage(error);
      // the node was not removed: let it serve again rather than sit drained
      w.clearWait();
      yield* undrain(spec, vmName);
      return yield* failed(failure, `failed: ${vmName} was drained but not removed (${failure}); it serves again`);
    }
    const cut = drained.sessions ?? 0;
    const drainMinutes = spec.policies.scale.drainTimeoutMinutes;
    const drainedText =
      cut > 0
        ? `the drain deadline (${drainMinutes} min) passed with ${cut} live session(s), which were cut`
        : "its sessions had ended";
    const change: FleetChange = {
      id: `in-${w.guid(w.instanceId)}`,
      direction: "in",
      at: w.now().toISOString(),
      from: before.size,
      to: next.size,
      node: vmName,
      reason: why(active, decision.message),
      instanceId: w.instanceId,
      sessionsCut: cut,
    };
    yield* w.call("recordFleet", { stack, members: next, change });
    yield* w.call("recordScaleObserved", { stack, remove: vmName });
    yield* settle(
      active,
      { direction: "in", outcome: "scaled", node: vmName, from: before.size, to: next.size, sessionsCut: cut },
      {
        outcome: `scaled in: ${vmName} drained and removed (${drainedText}), ${before.size} -> ${next.size} node(s)`,
        what: "scale-in succeeded",
        why: why(active, decision.message),
        details: {
          node: vmName,
          from: before.size,
          to: next.size,
          sessionsCut: cut,
          drainDeadline: status.drainDeadline,
          rules: rulesOf(active),
        },
        reason: "ScaledIn",
      },
    );
  }

  /** Drain off; a node that can't be reached (or is gone) is left as it is. */
  function* undrain(spec: StackSpec, vmName: string): Step<void> {
    try {
      yield* runAgent(w, spec, vmName, "drain", ["off"]);
    } catch {
      status.lastOutcome = `${vmName}: drain off failed; the node may still answer the probe with 503`;
    }
  }

  function* removeNodes(nodes: GraphNode[], tag: StackGraph["tag"]): Step<void> {
    for (const node of nodes) {
      const removed = yield* w.call("removeResource", { node, tag });
      if (removed.action === "refused") {
        throw new Error(`${node.key}: refused (${removed.reason ?? "not tagged for this stack"})`);
      }
    }
  }
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

df.app.orchestration(Names.orchestrators.scaleStack, scaleStack);
df.app.orchestration(Names.orchestrators.scaleStackV1, scaleStackV1);
