// healStack: one per stack (instance id `heal-<stack>`), started or woken by the alert intake. It is
// level-triggered: every round reads the stack's pending heal signals from the inbox, acts, and
// consumes them with an outcome; it completes when a round finds nothing pending. A wake-up event
// ("signal") only shortens a wait between rounds; duplicates and lost events change nothing.
//
// A round: debounce new signals (a plain timer: wake-ups do not cut it short) -> wait while another
// operation holds the stack -> observe every node (the brake needs the fleet) -> decide (pure policy,
// shared/heal/policy.ts) -> if a node needs a step: claim the stack (kind "heal"; wait while someone
// else holds it, then look again) -> one node at a time: drain, step, prepare a new node, verify ->
// release -> consume, record conditions and audit -> continueAsNew (bounded history) or wait for the
// earliest backoff / budget time.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import type { StackSignal } from "../../shared/alerts/signal";
import { describeDecision, planHeal, verdictOf, type HealPlan, type NodeDecision } from "../../shared/heal/policy";
import { routeSignals, suspectsOf, type SignalRouting } from "../../shared/heal/signals";
import type { LedgerState, NodeObservation, RepairAttempt, RepairStep } from "../../shared/heal/types";
import { APP_USERS } from "../../shared/node/constants";
import type { StackSpec } from "../../shared/spec/types";
import type { StackConditionInput } from "../../shared/store";
import type { ClaimForHealOutput, RepairStepOutput, TakeHealSignalsOutput } from "../activities/heal";
import type { WebNodeRef } from "../activities/nodes";
import { Names } from "../names";
import { failureMessage } from "./graph-runner";
import { orchestrationCalls } from "./activity-retry";

export interface HealInput {
  stack: string;
  /** signals already debounced (carried over continueAsNew) */
  debounced?: string[];
  /** rounds so far, over every continueAsNew */
  round?: number;
  /** rounds in a row that failed to observe the stack */
  failedRounds?: number;
  /** seconds between health polls while verifying a repair (default 30) */
  pollSeconds?: number;
  /** how long a repaired node may take to be healthy; default per step (VERIFY_MINUTES) */
  verifyMinutes?: number;
  /** seconds between looks at a stack another operation holds (default 60) */
  claimRetrySeconds?: number;
  /** the last repair step so far (carried over continueAsNew, so the final status still says it) */
  lastAction?: HealStatus["lastAction"];
}

export type HealPhase =
  "reading" | "debounce" | "waiting-for-stack" | "observing" | "repairing" | "verifying" | "waiting" | "done";

export interface HealStatus {
  operation: "heal";
  stack: string;
  round: number;
  phase: HealPhase;
  suspects: string[];
  /** one line per suspect node: the step taken, or why none */
  decisions: string[];
  brake?: { reason: string; message: string };
  waitingFor?: string;
  waitingUntil?: string;
  lastAction?: { node: string; step: RepairStep; outcome: string; at: string; detail?: string };
}

export interface HealOutput {
  outcome: "idle" | "stack-gone" | "gave-up";
  rounds: number;
}

/** Claim attempts per round before the round ends and the next one tries again. */
const CLAIM_WAITS_PER_ROUND = 30;
/** Rounds in a row that can't observe the stack before heal gives up on the pending signals. */
const MAX_FAILED_ROUNDS = 5;
const FAILED_ROUND_PAUSE_MS = 5 * 60_000;
/** Re-looks at a node whose Run Command was busy with someone else's command. */
const BUSY_RETRIES = 3;
const BUSY_PAUSE_MS = 15_000;
/**
 * How long each step's node may take to be healthy before the step counts as failed and the ladder
 * climbs. A restart boots in a few minutes; a redeploy moves to another host first; a reimaged or
 * replaced node has already waited for its agent (nodeReadyTimeoutMinutes) before this starts.
 * Shorter than one fixed deadline: a hung node reached replace after 2 x 15 minutes of waiting.
 */
const VERIFY_MINUTES: Record<RepairStep, number> = { start: 10, restart: 6, redeploy: 12, reimage: 15, replace: 15 };

const STEP_ACTIVITY: Record<RepairStep, string> = {
  start: Names.activities.startWebNode,
  restart: Names.activities.restartWebNode,
  redeploy: Names.activities.redeployWebNode,
  reimage: Names.activities.reimageWebNode,
  replace: Names.activities.replaceWebNode,
};
const PAST: Record<RepairStep, string> = {
  start: "started",
  restart: "restarted",
  redeploy: "redeployed",
  reimage: "reimaged",
  replace: "replaced",
};

type Registered = Extract<TakeHealSignalsOutput, { registered: true }>;

/** What one look at the fleet gave. */
interface Assessment {
  take: Registered;
  observations: NodeObservation[];
  routing: SignalRouting;
  plan: HealPlan;
}

export const healStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<HealInput>();
  const { stack } = input;
  const round = (input.round ?? 0) + 1;
  const debounced = new Set(input.debounced ?? []);
  const instanceId = context.df.instanceId;
  const now = () => context.df.currentUtcDateTime;
  const status: HealStatus = {
    operation: "heal",
    stack,
    round,
    phase: "reading",
    suspects: [],
    decisions: [],
    ...(input.lastAction ? { lastAction: input.lastAction } : {}),
  };
  const publish = () => context.df.setCustomStatus(status);
  const { call, audit } = orchestrationCalls(context, stack, { kind: "heal", instanceId });
  const next = (extra: Partial<HealInput> = {}) => {
    context.df.continueAsNew({
      ...input,
      round,
      debounced: [...debounced],
      ...(status.lastAction ? { lastAction: status.lastAction } : {}),
      ...extra,
    } satisfies HealInput);
  };
  publish();

  // ---- 1. what is pending; new signals wait out the debounce window once
  let take = (yield call(Names.activities.takeHealSignals, { stack })) as TakeHealSignalsOutput;
  if (!take.registered) return yield* gone();
  if (take.ledger.brake) status.brake = { reason: take.ledger.brake.reason, message: take.ledger.brake.message };
  if (take.signals.length === 0) return finish("idle");
  const fresh = take.signals.filter((s) => !debounced.has(s.id));
  const debounce = take.spec.policies.repair.debounceSeconds;
  if (fresh.length > 0 && debounce > 0) {
    status.phase = "debounce";
    status.waitingUntil = new Date(now().getTime() + debounce * 1000).toISOString();
    status.waitingFor = `${debounce} s of debounce: a node that recovers meanwhile is left alone`;
    publish();
    yield context.df.createTimer(new Date(status.waitingUntil));
    take = (yield call(Names.activities.takeHealSignals, { stack })) as TakeHealSignalsOutput;
    if (!take.registered || take.signals.length === 0) {
      next();
      return undefined;
    }
  }
  // everything pending now has waited (signals that came during the window a little less)
  for (const s of take.signals) debounced.add(s.id);
  clearWait();

  // ---- 2. nobody else changes the stack while heal looks at it
  const free = yield* waitForStack(take, false);
  if (free === "gone") return yield* gone();
  if (free === "busy") {
    next();
    return undefined;
  }

  // ---- 3. look, decide; claim and look again if anything is to be done
  let holding = false;
  let assessment: Assessment;
  /** node -> what came of it this round; nodes still to be repaired later have none */
  const outcomes = new Map<string, string>();
  const deferredUntil: string[] = [];
  try {
    try {
      assessment = yield* assess();
      if (assessment.plan.decisions.some((d) => d.action)) {
        const claimed = yield* waitForStack(assessment.take, true);
        if (claimed === "gone") return yield* gone();
        if (claimed === "busy") {
          next();
          return undefined;
        }
        holding = true;
        if (claimed === "after-wait") assessment = yield* assess();
      }
    } catch (error) {
      return yield* failedRound(error);
    }
    yield* recordDecisions(assessment);

    // ---- 4. one node at a time
    for (const decision of assessment.plan.decisions) {
      if (!decision.action) {
        const busy = busyNode(assessment, decision.node);
        if (busy) {
          // someone else's Run Command kept the node from answering: look again soon
          deferredUntil.push(new Date(now().getTime() + BUSY_PAUSE_MS * 4).toISOString());
        } else if (decision.hold && "until" in decision.hold) {
          deferredUntil.push(decision.hold.until);
          if (decision.hold.kind === "budget") {
            yield audit(`repair of ${decision.node} deferred`, decision.hold.reason, { until: decision.hold.until });
          }
        } else {
          outcomes.set(decision.node, describeDecision(decision));
        }
        continue;
      }
      const result = yield* repair(assessment, decision);
      if (result.final) outcomes.set(decision.node, result.outcome);
      else deferredUntil.push(now().toISOString());
    }
  } finally {
    if (holding) yield call(Names.activities.releaseOperation, { stack, instanceId });
  }

  // ---- 5. consume what reached an outcome
  yield* consumeRound(assessment, outcomes, deferredUntil.length > 0);
  yield* publishConditions();

  // ---- 6. the next round: at once if a step was taken, else after the earliest deferral
  if (deferredUntil.length > 0) {
    const until = deferredUntil.sort()[0];
    if (new Date(until) > now()) {
      status.phase = "waiting";
      status.waitingUntil = until;
      status.waitingFor = "a backoff or the repair budget (a new alert wakes heal earlier)";
      publish();
      yield* waitOrWake(new Date(until));
    }
  }
  next({ failedRounds: 0 });
  return undefined;

  // ============================================================================== helpers

  function finish(outcome: HealOutput["outcome"]): HealOutput {
    status.phase = "done";
    clearWait();
    publish();
    return { outcome, rounds: round };
  }

  /** The stack was torn down: its pending signals are done with. */
  function* gone(): Generator<Task, HealOutput, unknown> {
    const pending = (yield call(Names.activities.takeHealSignals, { stack })) as TakeHealSignalsOutput;
    yield call(Names.activities.consumeHealSignals, {
      stack,
      ids: pending.signals.map((s) => s.id),
      outcome: "the stack is not registered (torn down?): nothing to heal",
    });
    return finish("stack-gone");
  }

  function clearWait() {
    delete status.waitingFor;
    delete status.waitingUntil;
  }

  /** Waits until `until`, or until a wake-up event comes (then a new round looks at what it brought). */
  function* waitOrWake(until: Date): Generator<Task, void, unknown> {
    const timer = context.df.createTimer(until);
    const wake = context.df.waitForExternalEvent("signal");
    const winner = (yield context.df.Task.any([timer, wake])) as Task;
    if (winner !== timer) timer.cancel();
  }

  /**
   * Waits while another operation holds the stack; with `claim`, also claims it for heal.
   * "at-once" / "after-wait": free (and claimed); "busy": still held after a round's worth of waits.
   */
  function* waitForStack(
    first: Registered,
    claim: boolean,
  ): Generator<Task, "at-once" | "after-wait" | "gone" | "busy", unknown> {
    let holder = first.operation && first.operation.instanceId !== instanceId ? first.operation : undefined;
    for (let waits = 0; ; waits++) {
      if (claim && (!holder || waits > 0)) {
        const claimed = (yield call(Names.activities.claimForHeal, {
          stack,
          instanceId,
          at: now().toISOString(),
        })) as ClaimForHealOutput;
        if (claimed.ok) return waits === 0 ? "at-once" : "after-wait";
        if ("gone" in claimed) return "gone";
        holder = claimed.running;
      } else if (waits > 0) {
        const again = (yield call(Names.activities.takeHealSignals, { stack })) as TakeHealSignalsOutput;
        if (!again.registered) return "gone";
        holder = again.operation && again.operation.instanceId !== instanceId ? again.operation : undefined;
      }
      if (!holder) {
        if (waits > 0) {
          clearWait();
          publish();
        }
        return waits === 0 ? "at-once" : "after-wait";
      }
      if (waits >= CLAIM_WAITS_PER_ROUND) return "busy";
      const retryMs = (input.claimRetrySeconds ?? 60) * 1000;
      status.phase = "waiting-for-stack";
      status.waitingFor = `${holder.kind} ${holder.instanceId} holds the stack; heal waits for it to finish`;
      status.waitingUntil = new Date(now().getTime() + retryMs).toISOString();
      publish();
      yield context.df.createTimer(new Date(status.waitingUntil));
    }
  }

  /** Reads the inbox and the ledger, observes every node, routes the signals and decides. */
  function* assess(): Generator<Task, Assessment, unknown> {
    status.phase = "observing";
    publish();
    const current = (yield call(Names.activities.takeHealSignals, { stack })) as TakeHealSignalsOutput;
    if (!current.registered) throw new Error("the stack was torn down meanwhile");
    const { spec } = current;
    const nodes = (yield call(Names.activities.listWebNodes, { spec })) as WebNodeRef[];
    let observations = (yield context.df.Task.all(
      nodes.map((n) => call(Names.activities.observeWebNode, { spec, vmName: n.name })),
    )) as NodeObservation[];
    for (let i = 0; i < BUSY_RETRIES && observations.some((o) => o.agent.busy); i++) {
      yield context.df.createTimer(new Date(now().getTime() + BUSY_PAUSE_MS));
      const busy = observations.filter((o) => o.agent.busy);
      const again = (yield context.df.Task.all(
        busy.map((o) => call(Names.activities.observeWebNode, { spec, vmName: o.name })),
      )) as NodeObservation[];
      observations = observations.map((o) => again.find((a) => a.name === o.name) ?? o);
    }
    const routing = routeSignals(current.signals, observations);
    const suspects = suspectsOf(routing, observations);
    const plan = planHeal({
      now: now(),
      policy: spec.policies.repair,
      mode: spec.fleet.mode,
      observations,
      suspects,
      ledger: current.ledger,
    });
    status.suspects = suspects;
    status.decisions = plan.decisions.map(describeDecision);
    if (plan.brake.holds) status.brake = { reason: plan.brake.reason!, message: plan.brake.message! };
    else delete status.brake;
    publish();
    return { take: current, observations, routing, plan };
  }

  /** Relapses, suspensions, the brake and disabled repairs go into the ledger and the audit trail. */
  function* recordDecisions(a: Assessment): Generator<Task, void, unknown> {
    const at = now().toISOString();
    for (const d of a.plan.decisions) {
      if (d.relapsed) yield call(Names.activities.markRelapsed, { stack, node: d.node, attemptId: d.relapsed });
      if (d.hold?.kind === "suspend") {
        yield call(Names.activities.suspendNode, { stack, node: d.node, suspension: { reason: d.hold.reason, at } });
        a.take.ledger.nodes[d.node] = {
          ...(a.take.ledger.nodes[d.node] ?? { node: d.node, attempts: [] }),
          suspended: { reason: d.hold.reason, at },
        };
        yield audit(`repairs of ${d.node} suspended`, d.hold.reason, { node: d.node, signals: signalText(a, d.node) });
      }
    }
    const { brake } = a.plan;
    if (brake.change === "engaged") {
      yield call(Names.activities.setHealBrake, {
        stack,
        brake: { reason: brake.reason, message: brake.message, since: at },
        at,
      });
      a.take.ledger.brake = { reason: brake.reason!, message: brake.message!, since: at };
      yield audit("fleet brake engaged: no repairs", brake.message!, {
        reason: brake.reason,
        held: a.plan.decisions.filter((d) => d.hold?.kind === "brake").map((d) => d.node),
      });
    } else if (brake.change === "released") {
      yield call(Names.activities.setHealBrake, { stack, brake: null, at, releasedBy: "all-clear" });
      delete a.take.ledger.brake;
      yield audit("fleet brake released", "every node is healthy again (all-clear)");
    }
    const disabled = a.plan.decisions.filter((d) => d.hold?.kind === "disabled");
    if (disabled.length > 0) {
      yield audit(
        "no repair: repairs are disabled",
        `policies.repair.enabled is false; ${disabled.map((d) => `${d.node}: ${d.verdict.why}`).join("; ")}`,
      );
    }
  }

  /** One repair of one node. `final`: its signals are done (healthy again, or the step cancelled). */
  function* repair(
    a: Assessment,
    decision: NodeDecision,
  ): Generator<Task, { final: boolean; outcome: string }, unknown> {
    const { spec } = a.take;
    const step = decision.action!.step;
    const node = decision.node;

    // a Resolved alert that came meanwhile cancels a step not yet started; so does a recovery
    const latest = (yield call(Names.activities.takeHealSignals, { stack })) as TakeHealSignalsOutput;
    if (latest.registered) {
      const routing = routeSignals(latest.signals, a.observations);
      const cancelled = routing.cancelled.filter((c) => signalsOf(a.routing, node).some((s) => s.id === c.signal.id));
      if (cancelled.length > 0 && !routing.byNode.has(node) && routing.everyNode.length === 0) {
        return {
          final: true,
          outcome: `${node}: ${step} cancelled: resolved by ${cancelled[0].by.rule} before it started`,
        };
      }
    }
    const before = (yield call(Names.activities.observeWebNode, { spec, vmName: node })) as NodeObservation;
    const verdict = verdictOf(before);
    if (verdict.state !== "broken") {
      return { final: true, outcome: `${node}: no ${step}: ${verdict.why} when it was about to start` };
    }

    const attempt: RepairAttempt = {
      id: context.df.newGuid(`${instanceId}/${round}/${node}/${step}`),
      step,
      startedAt: now().toISOString(),
      outcome: "running",
    };
    yield call(Names.activities.recordRepair, { stack, node, attempt });
    status.phase = "repairing";
    status.lastAction = { node, step, outcome: "running", at: attempt.startedAt };
    publish();

    let outcome: { ok: boolean; detail: string; node: string };
    try {
      if (decision.action!.destructive && before.agent.answered) yield* drain(spec, node, before);
      const done = (yield context.df.callActivity(STEP_ACTIVITY[step], {
        spec,
        vmName: node,
        expectVmId: before.vmId,
        knownNodes: a.observations.map((o) => o.name),
        capacity: a.observations.length,
      })) as RepairStepOutput;
      const fresh = step === "replace" || step === "reimage";
      const verifyMinutes = input.verifyMinutes ?? VERIFY_MINUTES[step];
      outcome = {
        ...(yield* verify(spec, done.node, fresh, a, a.take.nodeReadyTimeoutMinutes, verifyMinutes)),
        node: done.node,
      };
      outcome.detail = `${done.detail}; ${outcome.detail}`;
    } catch (error) {
      outcome = { ok: false, detail: failureMessage(error), node };
    }
    const finishedAt = now().toISOString();
    yield call(Names.activities.recordRepair, {
      stack,
      node,
      attempt: { ...attempt, outcome: outcome.ok ? "succeeded" : "failed", finishedAt, detail: outcome.detail },
    });
    status.lastAction = {
      node,
      step,
      outcome: outcome.ok ? "succeeded" : "failed",
      at: finishedAt,
      detail: outcome.detail,
    };
    publish();
    const why = `${decision.verdict.why}; alerts: ${signalText(a, node)}`;
    const details = {
      node,
      step,
      attempt: decision.action!.attempt,
      detail: outcome.detail,
      ...(outcome.node !== node ? { replacement: outcome.node } : {}),
    };
    if (outcome.ok) {
      yield audit(`node ${node} ${PAST[step]}`, why, details);
      return {
        final: true,
        outcome: `${node}: ${PAST[step]} at ${attempt.startedAt}; healthy again (${outcome.detail})`,
      };
    }
    yield audit(`${step} of node ${node} failed`, `${why}; ${outcome.detail}`, details);
    return { final: false, outcome: "" };
  }

  /** Drain before a destructive step: the probe answers 503, live sessions may end (bounded). */
  function* drain(spec: StackSpec, node: string, before: NodeObservation): Generator<Task, void, unknown> {
    const target = { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup, vmName: node };
    if (!before.agent.draining) {
      yield call(Names.activities.runNodeAgent, { ...target, command: "drain", args: ["on"] });
    }
    const deadline = now().getTime() + spec.policies.scale.drainTimeoutMinutes * 60_000;
    let sessions = before.agent.liveSessions ?? 0;
    while (sessions > 0 && now().getTime() + pollMs() <= deadline) {
      status.waitingFor = `${sessions} live session(s) on ${node} to end (at most until ${new Date(deadline).toISOString()})`;
      publish();
      yield context.df.createTimer(new Date(now().getTime() + pollMs()));
      const o = (yield call(Names.activities.observeWebNode, { spec, vmName: node })) as NodeObservation;
      sessions = o.agent.answered ? (o.agent.liveSessions ?? 0) : 0;
    }
    clearWait();
  }

  /**
   * Healthy again: the agent says healthy (a fresh node first gets the stack's credentials and
   * certificate), the drain is off, and the load balancer probe is up.
   */
  function* verify(
    spec: StackSpec,
    node: string,
    fresh: boolean,
    a: Assessment,
    readyMinutes: number,
    verifyMinutes: number,
  ): Generator<Task, { ok: boolean; detail: string }, unknown> {
    status.phase = "verifying";
    publish();
    const target = { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup, vmName: node };
    const observe = () => call(Names.activities.observeWebNode, { spec, vmName: node });
    let o: NodeObservation;
    if (fresh) {
      // a new disk: wait for its agent (cloud-init installs it), then give it what the stack uses now
      const ready = now().getTime() + readyMinutes * 60_000;
      for (;;) {
        o = (yield observe()) as NodeObservation;
        if (o.agent.answered && !o.agent.installing) break;
        if (now().getTime() + pollMs() > ready) {
          return { ok: false, detail: `the new node's agent did not answer within ${readyMinutes} minutes` };
        }
        yield context.df.createTimer(new Date(now().getTime() + pollMs()));
      }
      const prepared = (yield call(Names.activities.prepareWebNode, {
        spec,
        vmName: node,
        dbUserSlot: dbUserSlotOf(a.observations),
      })) as { steps: string[] };
      status.waitingFor = `${node}: ${prepared.steps.join(", ")}`;
      publish();
    }
    const deadline = now().getTime() + verifyMinutes * 60_000;
    let undrained = false;
    for (;;) {
      o = (yield observe()) as NodeObservation;
      if (o.agent.healthy && o.agent.draining && !undrained) {
        // healthy: it may take traffic again
        yield call(Names.activities.runNodeAgent, { ...target, command: "drain", args: ["off"] });
        undrained = true;
        continue;
      }
      if (o.agent.healthy && o.probe.state === "up") {
        clearWait();
        return { ok: true, detail: `agent healthy, probe ${o.probe.value ?? "up"} %` };
      }
      if (now().getTime() + pollMs() > deadline) {
        const v = verdictOf(o);
        return {
          ok: false,
          detail: `not healthy within ${verifyMinutes} minutes: ${v.why}${o.probe.state !== "up" ? `, probe ${o.probe.state}` : ""}`,
        };
      }
      yield context.df.createTimer(new Date(now().getTime() + pollMs()));
    }
  }

  function pollMs(): number {
    return (input.pollSeconds ?? 30) * 1000;
  }

  /** Consumes every signal that reached an outcome; those of nodes still waiting stay pending. */
  function* consumeRound(
    a: Assessment,
    outcomes: Map<string, string>,
    anyDeferred: boolean,
  ): Generator<Task, void, unknown> {
    const groups = new Map<string, string[]>();
    const add = (outcome: string, id: string) => groups.set(outcome, [...(groups.get(outcome) ?? []), id]);
    for (const s of a.routing.unknown) add("names no web node of the stack: nothing to do", s.id);
    for (const c of a.routing.cancelled)
      add(`cancelled: resolved by ${c.by.rule} at ${c.by.at} before any action`, c.signal.id);
    for (const s of a.routing.resolved) add("resolved", s.id);
    for (const [node, signals] of a.routing.byNode) {
      const outcome = outcomes.get(node);
      if (outcome !== undefined) for (const s of signals) add(outcome, s.id);
    }
    if (a.routing.everyNode.length > 0 && !anyDeferred) {
      const summary = a.plan.decisions.map((d) => outcomes.get(d.node) ?? describeDecision(d)).join("; ");
      for (const s of a.routing.everyNode) add(summary || "the stack has no web nodes", s.id);
    }
    for (const [outcome, ids] of groups) {
      yield call(Names.activities.consumeHealSignals, { stack, ids, outcome });
    }
  }

  function overrideActive(ledger: LedgerState): boolean {
    return !!ledger.brakeOverride && Date.parse(ledger.brakeOverride.until) > now().getTime();
  }

  /** HealBrake and NodeSuspended on the registry record, for GET /api/stacks/{name}. */
  function* publishConditions(): Generator<Task, void, unknown> {
    const ledger: LedgerState = assessment.take.ledger;
    const suspended = Object.values(ledger.nodes).filter((n) => n.suspended);
    const conditions: StackConditionInput[] = [
      ledger.brake
        ? {
            type: "HealBrake",
            status: "True",
            reason: ledger.brake.reason.startsWith("common-dependency") ? "CommonDependency" : "UnhealthyShare",
            message: `no repairs since ${ledger.brake.since}: ${ledger.brake.message}`,
          }
        : overrideActive(ledger)
          ? {
              type: "HealBrake",
              status: "False",
              reason: "Overridden",
              message: `released by ${ledger.brakeOverride!.by} at ${ledger.brakeOverride!.at}: repairs run despite the brake until ${ledger.brakeOverride!.until} (budget and suspensions still hold)`,
            }
          : { type: "HealBrake", status: "False", reason: "NotHeld", message: "repairs may run" },
      suspended.length > 0
        ? {
            type: "NodeSuspended",
            status: "True",
            reason: "RepairsFailed",
            message: suspended.map((n) => `${n.node}: ${n.suspended!.reason}`).join("; "),
          }
        : {
            type: "NodeSuspended",
            status: "False",
            reason: "NoneSuspended",
            message: "no node's repairs are suspended",
          },
    ];
    yield call(Names.activities.setHealConditions, { stack, conditions });
  }

  /** Observing failed (Azure or storage trouble): try again later, give up after a few rounds. */
  function* failedRound(error: unknown): Generator<Task, HealOutput | undefined, unknown> {
    const failedRounds = (input.failedRounds ?? 0) + 1;
    const message = failureMessage(error);
    if (failedRounds >= MAX_FAILED_ROUNDS) {
      const pending = (yield call(Names.activities.takeHealSignals, { stack })) as TakeHealSignalsOutput;
      yield call(Names.activities.consumeHealSignals, {
        stack,
        ids: pending.signals.map((s) => s.id),
        outcome: `heal could not observe the stack ${failedRounds} times in a row: ${message}`,
      });
      yield audit("heal gave up", `could not observe the stack ${failedRounds} times in a row: ${message}`);
      return finish("gave-up");
    }
    status.phase = "waiting";
    status.waitingFor = `another look after a failed one (${failedRounds}/${MAX_FAILED_ROUNDS}): ${message}`;
    status.waitingUntil = new Date(now().getTime() + FAILED_ROUND_PAUSE_MS).toISOString();
    publish();
    yield context.df.createTimer(new Date(status.waitingUntil));
    next({ failedRounds });
    return undefined;
  }
};

/** The node's agent did not answer because another Run Command was running on it. */
function busyNode(a: Assessment, node: string): boolean {
  return a.observations.some((o) => o.name === node && o.agent.busy === true);
}

/** The signals that point at a node (its own, and those about every node). */
function signalsOf(routing: SignalRouting, node: string): StackSignal[] {
  return [...(routing.byNode.get(node) ?? []), ...routing.everyNode];
}

function signalText(a: Assessment, node: string): string {
  const signals = signalsOf(a.routing, node);
  if (signals.length === 0) return "none";
  return (
    signals
      .slice(0, 3)
      .map((s) => `${s.rule}: ${s.summary}`)
      .join("; ") + (signals.length > 3 ? ` (and ${signals.length - 3} more)` : "")
  );
}

/** The app user the healthy nodes log in as now (rotation alternates it); "a" when none says. */
export function dbUserSlotOf(observations: readonly NodeObservation[]): "a" | "b" {
  for (const o of observations) {
    if (!o.agent.healthy) continue;
    if (o.agent.databaseUser === APP_USERS.b) return "b";
    if (o.agent.databaseUser === APP_USERS.a) return "a";
  }
  return "a";
}

df.app.orchestration(Names.orchestrators.healStack, healStack);
