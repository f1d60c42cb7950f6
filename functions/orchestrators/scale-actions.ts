// What a scale request comes to, for scaleStack (scale-stack.ts): a scale-out (one node more through
// the engine, brought up as every new node joins; a node that does not come up is removed again),
// a scale-in (drain the chosen node until its sessions end or the drain deadline, then remove it; a
// scale-out asked meanwhile aborts it), or a skip; each ends with its signals consumed, an audit
// event, the ScalingLimited condition and the fleet state.
import type { StackSignal } from "../../shared/alerts/signal";
import { webNodeNames } from "../../shared/graph/names";
import { webNodeGraphNodes } from "../../shared/graph/stack-graph";
import type { GraphNode, StackGraph } from "../../shared/graph/types";
import type { WebNodeRef } from "../../shared/node/model";
import { membersOf, newMembers, withOneFewer, withOneMore } from "../../shared/scale/fleet";
import {
  requestText,
  rulesOf,
  settleSignals,
  type ScaleDecision,
  type ScaleDirection,
  type ScaleSkip,
} from "../../shared/scale/policy";
import type { StackSpec } from "../../shared/spec/types";
import type { FleetChange } from "../../shared/store";
import type { ScaleView } from "../activities/scale";
import { SIGNAL_EVENT } from "../workflow/events";
import { bootSourceOf, FIRST_BOOT_ESTIMATE_MS, provisionsWebVm } from "../../shared/node/first-boot";
import { bringUp, drainNode, liveSessionsOf, runAgent, type DrainOutcome } from "../workflow/node-steps";
import type { Worker } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";
import type { ScaleAction, ScaleStatus } from "./scale-stack";

/** One scale worker's run: what it did so far, and how often it looks at a draining node. */
export interface ScaleRun {
  w: Worker<ScaleStatus>;
  actions: ScaleAction[];
  pollMs: number;
  /** what the measurement said of the scale-out being decided, for its audit event */
  corroboration?: string;
}

const CONDITION = "ScalingLimited";

export function* consume(run: ScaleRun, signals: readonly StackSignal[] | string[], outcome: string): Step<void> {
  const { w } = run;
  const { stack } = w;
  const ids = signals.map((s) => (typeof s === "string" ? s : s.id));
  if (ids.length > 0) yield* w.call("consumeScaleSignals", { stack, ids, outcome });
}

function* condition(run: ScaleRun, limited: boolean, reason: string, message: string): Step<void> {
  const { w } = run;
  const { stack } = w;
  yield* w.call("setScaleCondition", {
    stack,
    condition: { type: CONDITION, status: limited ? "True" : "False", reason, message },
  });
}

/** What came of a request: its signals consumed, audited, the condition set, the action kept. */
export function* settle(
  run: ScaleRun,
  active: readonly StackSignal[],
  action: ScaleAction,
  record: { outcome: string; what: string; why: string; details: Record<string, unknown>; reason: string },
): Step<void> {
  const { w } = run;
  yield* consume(run, active, record.outcome);
  yield* w.audit(record.what, record.why, record.details);
  yield* condition(run, action.outcome !== "scaled", record.reason, record.outcome);
  run.actions.push(action);
  w.status.lastOutcome = record.outcome;
}

/** A request not taken for a lasting reason: consumed, audited, shown as a condition. */
export function* recordSkip(
  run: ScaleRun,
  direction: ScaleDirection,
  active: readonly StackSignal[],
  skip: ScaleSkip,
): Step<void> {
  const { w } = run;
  const { status } = w;
  const outcome = `skipped (${skip.reason}): ${skip.message}`;
  yield* consume(run, active, outcome);
  yield* w.audit(`scale-${direction} skipped`, requestText(active, skip.message), {
    reason: skip.reason,
    rules: rulesOf(active),
    signals: active.length,
  });
  yield* condition(run, true, skip.reason, `scale-${direction} skipped: ${skip.message}`);
  run.actions.push({ direction, outcome: "skipped", reason: skip.reason });
  status.lastOutcome = outcome;
  w.publish();
}

// ------------------------------------------------------------------------------------ scale-out

export function* scaleOut(
  run: ScaleRun,
  view: ScaleView,
  decision: Extract<ScaleDecision, { action: "out" }>,
  active: readonly StackSignal[],
): Step<void> {
  const { w } = run;
  const { status } = w;
  const { stack } = w;
  const spec = view.spec!;
  const before = membersOf(view.fleet!);
  const { members: next, ordinal } = withOneMore(before);
  status.phase = "scaling-out";
  status.node = ordinal !== undefined ? webNodeNames(spec, ordinal).vm : undefined;
  w.publish();
  const graph = yield* w.call("buildStackGraph", { spec, members: next });
  const nodes = webNodeGraphNodes(graph, ordinal);
  const existing = yield* w.call("listWebNodes", { spec });
  // the new member counts from here on: a teardown or drift check in a crash window covers it
  yield* w.call("recordFleet", { stack, members: next });
  let added: WebNodeRef[] = [];
  try {
    // the new VM's first boot starts when its write ends: bring-up looks again when it can have ended
    let firstBootEndsAt: Date | undefined;
    for (const node of nodes) {
      yield* w.call("applyResource", { node });
      if (provisionsWebVm(node)) firstBootEndsAt = w.after(FIRST_BOOT_ESTIMATE_MS[bootSourceOf(nodes) ?? "source"]);
    }
    added = newMembers(yield* w.call("listWebNodes", { spec }), existing, spec, ordinal);
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
      pollMs: run.pollMs,
      firstBootEndsAt,
      // a scale-out joins on the user the fleet uses now, never a stale default
      join: {
        appUser: view.dbUserSlot ?? "a",
        ...(certificate ? { certificate: { secret: certificate } } : {}),
        // a view recorded before sign-in joined with the node has none: that instance replays without it
        ...(view.signIn ? { signIn: view.signIn } : {}),
      },
    });
    const change: FleetChange = {
      id: `out-${w.guid(w.instanceId)}`,
      direction: "out",
      at: w.now().toISOString(),
      from: before.size,
      to: next.size,
      node: status.node,
      reason: requestText(active, decision.message),
      instanceId: w.instanceId,
    };
    yield* w.call("recordFleet", { stack, members: next, change });
    yield* w.call("recordScaleObserved", { stack, add: observed });
    yield* settle(
      run,
      active,
      { direction: "out", outcome: "scaled", node: status.node, from: before.size, to: next.size },
      {
        outcome: `scaled out: ${status.node} added and healthy, ${before.size} -> ${next.size} node(s)`,
        what: "scale-out succeeded",
        why: requestText(active, decision.message),
        details: {
          node: status.node,
          from: before.size,
          to: next.size,
          rules: rulesOf(active),
          ...(certificate ? { certificate } : {}),
          ...(run.corroboration ? { corroboration: run.corroboration } : {}),
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
        yield* removeNodes(run, [...nodes].reverse(), graph.tag);
      } else {
        const listed = yield* w.call("listWebNodes", { spec });
        for (const n of added.length > 0 ? added : newMembers(listed, existing, spec, undefined)) {
          yield* w.call("removeScaleSetInstance", { spec, vmName: n.name });
        }
      }
      yield* w.call("recordFleet", { stack, members: before });
    } catch (e) {
      // the member stays in the fleet state, so the drift check and teardown still cover it
      rollback = `not removed (${failureMessage(e)}); it stays a member until someone looks`;
    }
    yield* settle(
      run,
      active,
      { direction: "out", outcome: "failed", reason: failure, node: status.node },
      {
        outcome: `failed: the new node did not come up (${failure}); ${rollback}`,
        what: "scale-out failed",
        why: `${requestText(active, decision.message)}; ${failure}`,
        details: { node: status.node ?? null, rollback, rules: rulesOf(active) },
        reason: "ScaleOutFailed",
      },
    );
  }
}

// ------------------------------------------------------------------------------------ scale-in

export function* scaleIn(
  run: ScaleRun,
  view: ScaleView,
  decision: Extract<ScaleDecision, { action: "in" }>,
  active: readonly StackSignal[],
): Step<void> {
  const { w } = run;
  const { status } = w;
  const { stack } = w;
  const spec = view.spec!;
  const before = membersOf(view.fleet!);
  const vmName = decision.node;
  const failed = (failure: string, outcome: string, cause = failure) =>
    settle(
      run,
      active,
      { direction: "in", outcome: "failed", reason: failure, node: vmName },
      {
        outcome,
        what: "scale-in failed",
        why: `${requestText(active, decision.message)}; ${cause}`,
        details: { node: vmName },
        reason: "ScaleInFailed",
      },
    );
  status.phase = "draining";
  status.node = vmName;
  status.liveSessions = decision.liveSessions;
  w.publish();

  const next = withOneFewer(before, decision.ordinal);
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
      pollMs: run.pollMs,
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
      yield* undrain(run, spec, vmName);
      const outcome = `aborted: a scale-out was asked while ${vmName} drained; it serves again`;
      yield* consume(run, active, outcome);
      yield* w.audit("scale-in aborted", requestText(active, outcome), { node: vmName, liveSessions: known ?? null });
      run.actions.push({ direction: "in", outcome: "aborted", node: vmName });
      status.lastOutcome = outcome;
      return;
    }
    status.phase = "removing";
    w.publish();
    if (spec.fleet.mode === "availabilitySet") {
      if (decision.ordinal === undefined) throw new Error(`${vmName} has no node number`);
      const graph = yield* w.call("buildStackGraph", { spec, members: before });
      // teardown order: the role assignment, the VM (its OS disk goes with it), then its NIC
      yield* removeNodes(run, [...webNodeGraphNodes(graph, decision.ordinal)].reverse(), graph.tag);
    } else {
      yield* w.call("removeScaleSetInstance", { spec, vmName });
    }
  } catch (error) {
    const failure = failureMessage(error);
    // the node was not removed: let it serve again rather than sit drained
    w.clearWait();
    yield* undrain(run, spec, vmName);
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
    reason: requestText(active, decision.message),
    instanceId: w.instanceId,
    sessionsCut: cut,
  };
  yield* w.call("recordFleet", { stack, members: next, change });
  yield* w.call("recordScaleObserved", { stack, remove: vmName });
  yield* settle(
    run,
    active,
    { direction: "in", outcome: "scaled", node: vmName, from: before.size, to: next.size, sessionsCut: cut },
    {
      outcome: `scaled in: ${vmName} drained and removed (${drainedText}), ${before.size} -> ${next.size} node(s)`,
      what: "scale-in succeeded",
      why: requestText(active, decision.message),
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
function* undrain(run: ScaleRun, spec: StackSpec, vmName: string): Step<void> {
  const { w } = run;
  try {
    yield* runAgent(w, spec, vmName, "drain", ["off"]);
  } catch {
    w.status.lastOutcome = `${vmName}: drain off failed; the node may still answer the probe with 503`;
  }
}

function* removeNodes(run: ScaleRun, nodes: GraphNode[], tag: StackGraph["tag"]): Step<void> {
  const { w } = run;
  for (const node of nodes) {
    const removed = yield* w.call("removeResource", { node, tag });
    if (removed.action === "refused") {
      throw new Error(`${node.key}: refused (${removed.reason ?? "not tagged for this stack"})`);
    }
  }
}
