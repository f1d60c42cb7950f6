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
//
// Surge (healStackV2 on): when the cheap step (start, restart-services, restart, redeploy) did not make the node healthy at
// the first look and the fleet has room below `fleet.max`, a replacement comes up at once through the
// scale-out path while the broken node boots; whichever is healthy first stays and the other is
// drained and removed, so the fleet returns to its size (heal-surge.ts).
//
// No look twice (healStackV3): heal waits for Azure, never for a deadline it set itself when the node
// is fine. The first repair of a round starts on the look the round just took (the claim held, nothing
// ran on the node since), and a node whose drain-off answer says it is undrained right after a health
// check said healthy is verified by its load balancer probe alone: each saves a Run Command (~30 s).
//
// Race judged alongside (healStackV4): the surge race's look at the broken node is taken with the
// replacement's health look (two VMs' Run Commands side by side) instead of after it: one Run
// Command (~30 s) less between the replacement being healthy and the fleet back at its size.
//
// Drain only what it protects (healStackV5): before a restart or redeploy (the disk stays), a node
// whose corroborating look answered with no live session and whose probe is already down is not
// drained: `drain on` would turn away traffic the load balancer already sends elsewhere and wait for
// no session, and `drain off` would undo it: two Run Commands (~60 s) that protect nothing.
//
// Services before the machine (healStackV6): a node whose agent answered and whose only failing
// checks are its own services (NGINX, Tomcat, guacd, with the units the agent named) first gets
// `restart-services`: the agent restarts those units and waits for their checks; a node still broken
// after it (or again soon after) climbs to the VM restart and on as before.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { healConditions } from "../../shared/heal/conditions";
import { describeDecision, planHeal } from "../../shared/heal/policy";
import { routeSignals, signalOutcomes, signalText, suspectsOf } from "../../shared/heal/signals";
import type { RepairStep } from "../../shared/heal/types";
import { SIGNAL_EVENT } from "../workflow/events";
import { Names } from "../names";
import type { WorkerClaim } from "../stack-claim";
import { claimAndWait, waitWhileHeld } from "../workflow/claim";
import { pauseAfterFailure } from "../workflow/pause";
import { heldByOther, worker, type WorkerStatus } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";
import { repairNode, type Assessment, type HealRound } from "./heal-repair";

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
  | "reading"
  | "debounce"
  | "waiting-for-stack"
  | "observing"
  | "repairing"
  | "surging"
  | "verifying"
  | "waiting"
  | "done";

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
 * What differs between the versions of heal an instance may run: each is kept for the instances
 * started on it (continueAsNew keeps the version), because each adds or drops activities.
 */
interface HealVersion {
  /** a confirmed-broken node gets a surge replacement while its cheap step is tried (v2) */
  surge: boolean;
  /**
   * no look heal already has is taken again (v3): the first repair of a round starts on the round's
   * own look, and a node found healthy and undrained by its drain-off answer is verified by the probe
   * alone
   */
  reuseLooks: boolean;
  /**
   * the surge race's look at the broken node is taken with the replacement's health look, side by
   * side, not after it (v4)
   */
  raceAlongside: boolean;
  /**
   * a restart or redeploy of a node that answered with no live session and a probe already down
   * runs without `drain on` / `drain off` (v5)
   */
  drainOnlyToProtect: boolean;
  /** a node failing only its own services gets `restart-services` before a VM restart (v6) */
  restartServices: boolean;
}

/**
 * Heal as new instances run it: surge, no health check heal already holds is run twice, the surge
 * race is judged at the look that finds the replacement healthy, a drain runs only when it protects
 * something, and a node failing only its own services has those restarted before the VM.
 */
export const healStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runHeal(context, {
    surge: true,
    reuseLooks: true,
    raceAlongside: true,
    drainOnlyToProtect: true,
    restartServices: true,
  });
};

/**
 * Restarts the VM of a node whose Tomcat died: instances started before healStackV6 finish (and
 * continue as new) on it, because v6 decides another first step (another activity) for such a node.
 */
export const healStackV5: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runHeal(context, {
    surge: true,
    reuseLooks: true,
    raceAlongside: true,
    drainOnlyToProtect: true,
    restartServices: false,
  });
};

/**
 * Drains before every destructive step: instances started before healStackV5 finish (and continue as
 * new) on it, because v5 drops the drain's activities where they protect nothing.
 */
export const healStackV4: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runHeal(context, {
    surge: true,
    reuseLooks: true,
    raceAlongside: true,
    drainOnlyToProtect: false,
    restartServices: false,
  });
};

/**
 * Judges the surge race by a look after the replacement is healthy: instances started before
 * healStackV4 finish (and continue as new) on it, because v4 schedules that look with another.
 */
export const healStackV3: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runHeal(context, {
    surge: true,
    reuseLooks: true,
    raceAlongside: false,
    drainOnlyToProtect: false,
    restartServices: false,
  });
};

/**
 * Surge, but every step looks again before it starts and after the drain is off: instances started
 * before healStackV3 finish (and continue as new) on it, because v3 drops activities their histories have.
 */
export const healStackV2: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runHeal(context, {
    surge: true,
    reuseLooks: false,
    raceAlongside: false,
    drainOnlyToProtect: false,
    restartServices: false,
  });
};

/**
 * The first version, without surge: instances started before healStackV2 finish (and continue as new)
 * on it, because a surge adds activities their histories never had.
 */
export const healStackV1: OrchestrationHandler = function* (context: OrchestrationContext) {
  return yield* runHeal(context, {
    surge: false,
    reuseLooks: false,
    raceAlongside: false,
    drainOnlyToProtect: false,
    restartServices: false,
  });
};

function* runHeal(context: OrchestrationContext, version: HealVersion): Step<HealOutput | void> {
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
  const repairs: HealRound = {
    w,
    round,
    pollMs,
    verifyMinutes: input.verifyMinutes,
    surge: version.surge,
    reuseLooks: version.reuseLooks,
    raceAlongside: version.raceAlongside,
    drainOnlyToProtect: version.drainOnlyToProtect,
  };
  const { restartServices } = version;
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
      // v3: what the round just read is current unless it waited for another operation
      assessment = yield* assess(version.reuseLooks && !free.waited ? take : undefined);
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

    // ---- 4. one node at a time; the first starts on the look just taken (nothing ran on the nodes since)
    let lookIsFresh = true;
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
      const result = yield* repairNode(repairs, assessment, decision, lookIsFresh);
      lookIsFresh = false;
      if (result.final) outcomes.set(decision.node, result.outcome);
      else deferredUntil.push(w.now().toISOString());
    }
  } finally {
    if (holding) yield* w.call("releaseOperation", { stack, instanceId: w.instanceId });
  }

  // ---- 5. consume what reached an outcome (signals about every node once no node waits)
  const { routing, plan } = assessment;
  const summary = plan.decisions.map((d) => outcomes.get(d.node) ?? describeDecision(d)).join("; ");
  const done = signalOutcomes(routing, outcomes, deferredUntil.length > 0 ? undefined : { summary });
  for (const [outcome, ids] of done) yield* w.call("consumeHealSignals", { stack, ids, outcome });
  yield* w.call("setHealConditions", { stack, conditions: healConditions(assessment.take.ledger, w.now()) });

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

  /** Reads the inbox and the ledger (unless `read` is current), observes every node, routes the signals and decides. */
  function* assess(read?: typeof take): Step<Assessment> {
    status.phase = "observing";
    w.publish();
    const current = read ?? (yield* w.call("takeHealSignals", { stack }));
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
      ...(restartServices ? { restartServices } : {}),
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
        yield* w.audit(`repairs of ${d.node} suspended`, d.hold.reason, {
          node: d.node,
          signals: signalText(a.routing, d.node),
        });
      }
    }
    const { brake } = a.plan;
    if (brake.change === "engaged") {
      yield* w.call("setHealBrake", {
        stack,
        brake: { reason: brake.reason!, message: brake.message!, since: at },
        at,
      });
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
}

df.app.orchestration(Names.orchestrators.healStack, healStack);
df.app.orchestration(Names.orchestrators.healStackV5, healStackV5);
df.app.orchestration(Names.orchestrators.healStackV4, healStackV4);
df.app.orchestration(Names.orchestrators.healStackV3, healStackV3);
df.app.orchestration(Names.orchestrators.healStackV2, healStackV2);
df.app.orchestration(Names.orchestrators.healStackV1, healStackV1);
