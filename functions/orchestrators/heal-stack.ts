// healStack: one per stack (instance id `heal-<stack>`), started or woken by the alert intake. It is
// level-triggered: every round reads the stack's pending heal signals from the inbox, acts, and
// consumes them with an outcome; it completes when a round finds nothing pending. A wake-up event
// ("signal") only shortens a wait between rounds; duplicates and lost events change nothing.
//
// A round: debounce new signals (a plain timer: wake-ups do not cut it short) -> wait while another
// operation holds the stack -> observe every node (the brake needs the fleet) -> decide (pure policy,
// shared/heal/policy.ts) -> if a node needs a step: claim the stack (kind "heal"; wait while someone
// else holds it, then look again) -> one node at a time: drain, step, join a new node, verify ->
// release -> consume, record conditions and audit -> continueAsNew (bounded history) or wait for the
// earliest backoff / budget time.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { StackSignal } from "../../shared/alerts/signal";
import { describeDecision, planHeal, verdictOf, type HealPlan, type NodeDecision } from "../../shared/heal/policy";
import { routeSignals, suspectsOf, type SignalRouting } from "../../shared/heal/signals";
import type { LedgerState, RepairAttempt, RepairStep } from "../../shared/heal/types";
import { appUserOfPeers } from "../../shared/node/join";
import type { NodeObservation } from "../../shared/node/model";
import type { StackSpec } from "../../shared/spec/types";
import type { StackConditionInput } from "../../shared/store";
import type { WorkerClaim } from "../stack-claim";
import { SIGNAL_EVENT } from "../alert-wake";
import { Names } from "../names";
import type { ActivityOutput } from "../workflow/activity-map";
import { claimAndWait, waitWhileHeld } from "../workflow/claim";
import { drainNode, runAgent, verifyHealthy } from "../workflow/node-steps";
import { pauseAfterFailure } from "../workflow/pause";
import { heldByOther, worker, type WorkerStatus } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";

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

export interface HealStatus extends WorkerStatus<"heal", HealPhase> {
  round: number;
  suspects: string[];
  /** one line per suspect node: the step taken, or why none */
  decisions: string[];
  brake?: { reason: string; message: string };
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
 */
const VERIFY_MINUTES: Record<RepairStep, number> = { start: 10, restart: 6, redeploy: 12, reimage: 15, replace: 15 };

const STEP_ACTIVITY = {
  start: "startWebNode",
  restart: "restartWebNode",
  redeploy: "redeployWebNode",
  reimage: "reimageWebNode",
  replace: "replaceWebNode",
} as const satisfies Record<RepairStep, string>;
const PAST: Record<RepairStep, string> = {
  start: "started",
  restart: "restarted",
  redeploy: "redeployed",
  reimage: "reimaged",
  replace: "replaced",
};

type Registered = Extract<ActivityOutput<"takeHealSignals">, { registered: true }>;

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
  const w = worker<HealStatus>(context, {
    operation: "heal",
    stack,
    round,
    phase: "reading",
    suspects: [],
    decisions: [],
    ...(input.lastAction ? { lastAction: input.lastAction } : {}),
  });
  const { status } = w;
  const pollMs = (input.pollSeconds ?? 30) * 1000;
  const claimWaits = { maxWaits: CLAIM_WAITS_PER_ROUND, retryMs: (input.claimRetrySeconds ?? 60) * 1000, who: "heal" };
  const observe = (spec: StackSpec, vmName: string) => w.call("observeWebNode", { spec, vmName });
  const next = (extra: Partial<HealInput> = {}) => {
    context.df.continueAsNew({
      ...input,
      round,
      debounced: [...debounced],
      ...(status.lastAction ? { lastAction: status.lastAction } : {}),
      ...extra,
    } satisfies HealInput);
  };
  w.publish();

  // ---- 1. what is pending; new signals wait out the debounce window once
  let take = yield* w.call("takeHealSignals", { stack });
  if (!take.registered) return yield* gone();
  if (take.ledger.brake) status.brake = { reason: take.ledger.brake.reason, message: take.ledger.brake.message };
  if (take.signals.length === 0) return finish("idle");
  const debounce = take.spec.policies.repair.debounceSeconds;
  if (take.signals.some((s) => !debounced.has(s.id)) && debounce > 0) {
    const until = w.after(debounce * 1000);
    w.waiting("debounce", `${debounce} s of debounce: a node that recovers meanwhile is left alone`, until);
    yield* w.sleep(until);
    take = yield* w.call("takeHealSignals", { stack });
    if (!take.registered || take.signals.length === 0) return next();
  }
  // everything pending now has waited (signals that came during the window a little less)
  for (const s of take.signals) debounced.add(s.id);
  w.clearWait();

  // ---- 2. nobody else changes the stack while heal looks at it
  const free = yield* waitWhileHeld(w, lookAtStack, { holder: take.operation, ...claimWaits });
  if (free.outcome === "gone") return yield* gone();
  if (free.outcome === "busy") return next();

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
        const claimed = yield* claimAndWait(w, "claimForHeal", { holder: assessment.take.operation, ...claimWaits });
        if (claimed.outcome === "gone") return yield* gone();
        if (claimed.outcome === "busy") return next();
        holding = true;
        if (claimed.waited) assessment = yield* assess();
      }
    } catch (error) {
      return yield* failedRound(error);
    }
    yield* recordDecisions(assessment);

    // ---- 4. one node at a time
    for (const decision of assessment.plan.decisions) {
      if (!decision.action) {
        if (assessment.observations.some((o) => o.name === decision.node && o.agent.busy === true)) {
          // someone else's Run Command kept the node from answering: look again soon
          deferredUntil.push(w.after(BUSY_PAUSE_MS * 4).toISOString());
        } else if (decision.hold && "until" in decision.hold) {
          deferredUntil.push(decision.hold.until);
          if (decision.hold.kind === "budget") {
            yield* w.audit(`repair of ${decision.node} deferred`, decision.hold.reason, { until: decision.hold.until });
          }
        } else {
          outcomes.set(decision.node, describeDecision(decision));
        }
        continue;
      }
      const result = yield* repair(assessment, decision);
      if (result.final) outcomes.set(decision.node, result.outcome);
      else deferredUntil.push(w.now().toISOString());
    }
  } finally {
    if (holding) yield* w.call("releaseOperation", { stack, instanceId: w.instanceId });
  }

  // ---- 5. consume what reached an outcome
  yield* consumeRound(assessment, outcomes, deferredUntil.length > 0);
  yield* w.call("setHealConditions", { stack, conditions: conditionsOf(assessment.take.ledger) });

  // ---- 6. the next round: at once if a step was taken, else after the earliest deferral
  if (deferredUntil.length > 0) {
    const until = new Date(deferredUntil.sort()[0]);
    if (until > w.now()) {
      w.waiting("waiting", "a backoff or the repair budget (a new alert wakes heal earlier)", until);
      yield* w.sleepOrWake(until, SIGNAL_EVENT);
    }
  }
  return next({ failedRounds: 0 });

  // ============================================================================== helpers

  function finish(outcome: HealOutput["outcome"]): HealOutput {
    status.phase = "done";
    w.clearWait();
    w.publish();
    return { outcome, rounds: round };
  }

  /** The stack was torn down: its pending signals are done with. */
  function* gone(): Step<HealOutput> {
    yield* consumeAll("the stack is not registered (torn down?): nothing to heal");
    return finish("stack-gone");
  }

  function* consumeAll(outcome: string): Step<void> {
    const pending = yield* w.call("takeHealSignals", { stack });
    yield* w.call("consumeHealSignals", { stack, ids: pending.signals.map((s) => s.id), outcome });
  }

  /** Who holds the stack now, for the wait before looking (heal's own claim does not count). */
  function* lookAtStack(): Step<WorkerClaim> {
    const again = yield* w.call("takeHealSignals", { stack });
    if (!again.registered) return { ok: false, gone: true };
    const holder = heldByOther(again.operation, w.instanceId);
    return holder ? { ok: false, running: holder } : { ok: true };
  }

  /** Reads the inbox and the ledger, observes every node, routes the signals and decides. */
  function* assess(): Step<Assessment> {
    status.phase = "observing";
    w.publish();
    const current = yield* w.call("takeHealSignals", { stack });
    if (!current.registered) throw new Error("the stack was torn down meanwhile");
    const { spec } = current;
    const nodes = yield* w.call("listWebNodes", { spec });
    let observations = yield* w.all(nodes.map((n) => w.task("observeWebNode", { spec, vmName: n.name })));
    for (let i = 0; i < BUSY_RETRIES && observations.some((o) => o.agent.busy); i++) {
      yield* w.sleep(w.after(BUSY_PAUSE_MS));
      const busy = observations.filter((o) => o.agent.busy);
      const again = yield* w.all(busy.map((o) => w.task("observeWebNode", { spec, vmName: o.name })));
      observations = observations.map((o) => again.find((a) => a.name === o.name) ?? o);
    }
    const routing = routeSignals(current.signals, observations);
    const suspects = suspectsOf(routing, observations);
    const plan = planHeal({
      now: w.now(),
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
    w.publish();
    return { take: current, observations, routing, plan };
  }

  /** Relapses, suspensions, the brake and disabled repairs go into the ledger and the audit trail. */
  function* recordDecisions(a: Assessment): Step<void> {
    const at = w.now().toISOString();
    for (const d of a.plan.decisions) {
      if (d.relapsed) yield* w.call("markRelapsed", { stack, node: d.node, attemptId: d.relapsed });
      if (d.hold?.kind === "suspend") {
        yield* w.call("suspendNode", { stack, node: d.node, suspension: { reason: d.hold.reason, at } });
        a.take.ledger.nodes[d.node] = {
          ...(a.take.ledger.nodes[d.node] ?? { node: d.node, attempts: [] }),
          suspended: { reason: d.hold.reason, at },
        };
        yield* w.audit(`repairs of ${d.node} suspended`, d.hold.reason, { node: d.node, signals: signalText(a, d.node) });
      }
    }
    const { brake } = a.plan;
    if (brake.change === "engaged") {
      yield* w.call("setHealBrake", { stack, brake: { reason: brake.reason!, message: brake.message!, since: at }, at });
      a.take.ledger.brake = { reason: brake.reason!, message: brake.message!, since: at };
      yield* w.audit("fleet brake engaged: no repairs", brake.message!, {
        reason: brake.reason,
        held: a.plan.decisions.filter((d) => d.hold?.kind === "brake").map((d) => d.node),
      });
    } else if (brake.change === "released") {
      yield* w.call("setHealBrake", { stack, brake: null, at, releasedBy: "all-clear" });
      delete a.take.ledger.brake;
      yield* w.audit("fleet brake released", "every node is healthy again (all-clear)");
    }
    const disabled = a.plan.decisions.filter((d) => d.hold?.kind === "disabled");
    if (disabled.length > 0) {
      yield* w.audit(
        "no repair: repairs are disabled",
        `policies.repair.enabled is false; ${disabled.map((d) => `${d.node}: ${d.verdict.why}`).join("; ")}`,
      );
    }
  }

  /** One repair of one node. `final`: its signals are done (healthy again, or the step cancelled). */
  function* repair(a: Assessment, decision: NodeDecision): Step<{ final: boolean; outcome: string }> {
    const { spec } = a.take;
    const { step, destructive, attempt: rung } = decision.action!;
    const node = decision.node;

    // a Resolved alert that came meanwhile cancels a step not yet started; so does a recovery
    const latest = yield* w.call("takeHealSignals", { stack });
    if (latest.registered) {
      const routing = routeSignals(latest.signals, a.observations);
      const cancelled = routing.cancelled.filter((c) => signalsOf(a.routing, node).some((s) => s.id === c.signal.id));
      if (cancelled.length > 0 && !routing.byNode.has(node) && routing.everyNode.length === 0) {
        return { final: true, outcome: `${node}: ${step} cancelled: resolved by ${cancelled[0].by.rule} before it started` };
      }
    }
    const before = yield* observe(spec, node);
    const verdict = verdictOf(before);
    if (verdict.state !== "broken") {
      return { final: true, outcome: `${node}: no ${step}: ${verdict.why} when it was about to start` };
    }

    const attempt: RepairAttempt = {
      id: w.guid(`${w.instanceId}/${round}/${node}/${step}`),
      step,
      startedAt: w.now().toISOString(),
      outcome: "running",
    };
    yield* w.call("recordRepair", { stack, node, attempt });
    status.phase = "repairing";
    status.lastAction = { node, step, outcome: "running", at: attempt.startedAt };
    w.publish();

    let outcome: { ok: boolean; detail: string; node: string };
    try {
      if (destructive && before.agent.answered) {
        // a courtesy to live sessions: a node whose agent can't drain is repaired all the same
        yield* drainNode(w, spec, node, {
          draining: before.agent.draining === true,
          required: false,
          sessions: () => before.agent.liveSessions ?? 0,
          look: function* () {
            const o = yield* observe(spec, node);
            return o.agent.answered ? (o.agent.liveSessions ?? 0) : 0;
          },
          timeoutMs: spec.policies.scale.drainTimeoutMinutes * 60_000,
          pollMs,
          lastWait: "whole-polls",
        });
      }
      // once: a failed step is a failed attempt (the ladder climbs), never a second restart
      const done = yield* w.callOnce(STEP_ACTIVITY[step], {
        spec,
        vmName: node,
        expectVmId: before.vmId,
        knownNodes: a.observations.map((o) => o.name),
        capacity: a.observations.length,
      });
      const fresh = step === "replace" || step === "reimage";
      const verified = yield* verify(spec, done.node, fresh, a, input.verifyMinutes ?? VERIFY_MINUTES[step]);
      outcome = { ...verified, detail: `${done.detail}; ${verified.detail}`, node: done.node };
    } catch (error) {
      outcome = { ok: false, detail: failureMessage(error), node };
    }
    const finishedAt = w.now().toISOString();
    const result = outcome.ok ? "succeeded" : "failed";
    yield* w.call("recordRepair", {
      stack,
      node,
      attempt: { ...attempt, outcome: result, finishedAt, detail: outcome.detail },
    });
    status.lastAction = { node, step, outcome: result, at: finishedAt, detail: outcome.detail };
    w.publish();
    const why = `${decision.verdict.why}; alerts: ${signalText(a, node)}`;
    const details = {
      node,
      step,
      attempt: rung,
      detail: outcome.detail,
      ...(outcome.node !== node ? { replacement: outcome.node } : {}),
    };
    if (outcome.ok) {
      yield* w.audit(`node ${node} ${PAST[step]}`, why, details);
      return { final: true, outcome: `${node}: ${PAST[step]} at ${attempt.startedAt}; healthy again (${outcome.detail})` };
    }
    yield* w.audit(`${step} of node ${node} failed`, `${why}; ${outcome.detail}`, details);
    return { final: false, outcome: "" };
  }

  /**
   * Healthy again: the agent says healthy (a fresh node first joins: shared/node/join.ts), the drain
   * is off, and the load balancer probe is up.
   */
  function* verify(
    spec: StackSpec,
    node: string,
    fresh: boolean,
    a: Assessment,
    verifyMinutes: number,
  ): Step<{ ok: boolean; detail: string }> {
    status.phase = "verifying";
    w.publish();
    if (fresh) {
      // a new disk: wait for its agent (cloud-init installs it), then it joins as every new node does
      const readyMinutes = a.take.nodeReadyTimeoutMinutes;
      const ready = yield* verifyHealthy(w, () => observe(spec, node), (o) => o.agent.answered && !o.agent.installing, {
        deadline: w.after(readyMinutes * 60_000),
        pollMs,
      });
      if (!ready.ok) return { ok: false, detail: `the new node's agent did not answer within ${readyMinutes} minutes` };
      const peers = appUserOfPeers(a.observations.map((o) => o.agent));
      const prepared = yield* w.call("prepareWebNode", { spec, vmName: node, ...(peers ? { dbUserSlot: peers } : {}) });
      status.waitingFor = `${node}: ${prepared.steps.join(", ")}`;
      w.publish();
    }
    let undrained = false;
    const look = function* (): Step<NodeObservation> {
      const o = yield* observe(spec, node);
      if (!(o.agent.healthy && o.agent.draining && !undrained)) return o;
      // healthy: it may take traffic again
      yield* runAgent(w, spec, node, "drain", ["off"]);
      undrained = true;
      return yield* observe(spec, node);
    };
    const healthy = yield* verifyHealthy(w, look, (o) => o.agent.healthy && o.probe.state === "up", {
      deadline: w.after(verifyMinutes * 60_000),
      pollMs,
    });
    const o = healthy.seen;
    if (healthy.ok) {
      w.clearWait();
      return { ok: true, detail: `agent healthy, probe ${o.probe.value ?? "up"} %` };
    }
    const probe = o.probe.state !== "up" ? `, probe ${o.probe.state}` : "";
    return { ok: false, detail: `not healthy within ${verifyMinutes} minutes: ${verdictOf(o).why}${probe}` };
  }

  /** Consumes every signal that reached an outcome; those of nodes still waiting stay pending. */
  function* consumeRound(a: Assessment, outcomes: Map<string, string>, anyDeferred: boolean): Step<void> {
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
    for (const [outcome, ids] of groups) yield* w.call("consumeHealSignals", { stack, ids, outcome });
  }

  /** HealBrake and NodeSuspended on the registry record, for GET /api/stacks/{name}. */
  function conditionsOf(ledger: LedgerState): StackConditionInput[] {
    const suspended = Object.values(ledger.nodes).filter((n) => n.suspended);
    const override = ledger.brakeOverride && Date.parse(ledger.brakeOverride.until) > w.now().getTime();
    return [
      ledger.brake
        ? {
            type: "HealBrake",
            status: "True",
            reason: ledger.brake.reason.startsWith("common-dependency") ? "CommonDependency" : "UnhealthyShare",
            message: `no repairs since ${ledger.brake.since}: ${ledger.brake.message}`,
          }
        : override
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
        : { type: "NodeSuspended", status: "False", reason: "NoneSuspended", message: "no node's repairs are suspended" },
    ];
  }

  /** Observing failed (Azure or storage trouble): try again later, give up after a few rounds. */
  function* failedRound(error: unknown): Step<HealOutput | undefined> {
    const failedRounds = (input.failedRounds ?? 0) + 1;
    const message = failureMessage(error);
    const paused = yield* pauseAfterFailure(w, {
      message,
      failures: failedRounds,
      giveUpAfter: MAX_FAILED_ROUNDS,
      pauseMs: FAILED_ROUND_PAUSE_MS,
      phase: "waiting",
    });
    if (paused === "paused") {
      next({ failedRounds });
      return undefined;
    }
    yield* consumeAll(`heal could not observe the stack ${failedRounds} times in a row: ${message}`);
    yield* w.audit("heal gave up", `could not observe the stack ${failedRounds} times in a row: ${message}`);
    return finish("gave-up");
  }
};

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

df.app.orchestration(Names.orchestrators.healStack, healStack);
