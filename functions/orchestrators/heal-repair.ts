// One repair of one node, for healStack (heal-stack.ts): unless a Resolved alert or a recovery
// cancelled it, drain the node (a destructive step), take the step once (a failed step is a failed
// attempt: the ladder climbs, never a second restart), let a fresh node join as every new node does
// (shared/node/join.ts), and verify: the agent healthy, the drain off, the load balancer probe up.
// The attempt goes into the repair ledger and the audit trail.
import type { HealPlan, NodeDecision } from "../../shared/heal/policy";
import { failedServiceUnits, verdictOf } from "../../shared/heal/policy";
import { routeSignals, signalsOf, signalText, type SignalRouting } from "../../shared/heal/signals";
import { STEP_DONE, VERIFY_MINUTES, type RepairAttempt, type RepairStep } from "../../shared/heal/types";
import { appUserOfPeers } from "../../shared/node/join";
import type { NodeObservation } from "../../shared/node/model";
import type { StackSpec } from "../../shared/spec/types";
import type { ActivityOutput } from "../workflow/activity-map";
import { drainNode, runAgent, succeeded, verifyHealthy } from "../workflow/node-steps";
import { surgeMayRun, surgeRace, type SurgeResult } from "./heal-surge";
import type { Worker } from "../workflow/worker";
import { failureMessage, type Step, type Workflow } from "../workflow/workflow";
import type { HealStatus } from "./heal-stack";

/** What one look at the fleet gave. */
export interface Assessment {
  take: Extract<ActivityOutput<"takeHealSignals">, { registered: true }>;
  observations: NodeObservation[];
  routing: SignalRouting;
  plan: HealPlan;
}

/** The round a repair belongs to. */
export interface HealRound {
  w: Worker<HealStatus>;
  round: number;
  pollMs: number;
  /** how long a repaired node may take to be healthy; default per step (VERIFY_MINUTES) */
  verifyMinutes?: number;
  /** healStackV2: a replacement comes up while the cheap step is tried (heal-surge.ts) */
  surge?: boolean;
  /** healStackV3: no look heal already holds is taken again (heal-stack.ts, HealVersion) */
  reuseLooks?: boolean;
  /** healStackV4: the surge race's look at the broken node goes with the replacement's last health look */
  raceAlongside?: boolean;
  /** healStackV5: a drain runs only when it protects something (drainProtects) */
  drainOnlyToProtect?: boolean;
}

/** Steps after which the node keeps its disk: what it has not shipped yet is still there at boot. */
const KEEPS_DISK: ReadonlySet<RepairStep> = new Set(["restart-services", "restart", "redeploy"]);

/**
 * Whether draining `node` before `step` protects anything. The drain turns the probe away so the load
 * balancer sends new sessions elsewhere, waits for live sessions to end, and (`drain on`) ships the
 * node's session recordings before its disk goes. Before a restart or redeploy the disk stays (the
 * uploader ships what is left at boot), so a node whose agent answered with no live session and
 * whose probe is already down has nothing the drain protects. An agent that did not answer, a live
 * session, a probe up or unknown, or a step that loses the disk: drained as before.
 */
export function drainProtects(step: RepairStep, seen: NodeObservation): boolean {
  if (!KEEPS_DISK.has(step)) return true;
  if (!seen.agent.answered || seen.agent.liveSessions !== 0) return true;
  return seen.probe.state !== "down";
}

const STEP_ACTIVITY = {
  start: "startWebNode",
  "restart-services": "restartWebNodeServices",
  restart: "restartWebNode",
  redeploy: "redeployWebNode",
  reimage: "reimageWebNode",
  replace: "replaceWebNode",
} as const satisfies Record<RepairStep, string>;

function observe(w: Workflow, spec: StackSpec, vmName: string): Step<NodeObservation> {
  return w.call("observeWebNode", { spec, vmName });
}

/** One repair of one node. `final`: its signals are done (healthy again, or the step cancelled). */
export function* repairNode(
  r: HealRound,
  a: Assessment,
  decision: NodeDecision,
  /** nothing ran on the nodes since the assessment's look (the round's first repair, under its claim) */
  lookIsFresh = false,
): Step<{ final: boolean; outcome: string }> {
  const { w } = r;
  const { status } = w;
  const { spec } = a.take;
  const stack = spec.name;
  const { step, destructive, attempt: rung } = decision.action!;
  const node = decision.node;

  // a Resolved alert that came meanwhile cancels a step not yet started; so does a recovery
  const latest = yield* w.call("takeHealSignals", { stack });
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
  // the look that corroborated the alert, when nothing ran since: a second health check would only
  // repeat it (v3); otherwise the node may have changed while another was repaired, so look again
  const seen = r.reuseLooks && lookIsFresh ? a.observations.find((o) => o.name === node) : undefined;
  const before = seen ?? (yield* observe(w, spec, node));
  const verdict = verdictOf(before);
  if (verdict.state !== "broken") {
    return { final: true, outcome: `${node}: no ${step}: ${verdict.why} when it was about to start` };
  }

  const attempt: RepairAttempt = {
    id: w.guid(`${w.instanceId}/${r.round}/${node}/${step}`),
    step,
    startedAt: w.now().toISOString(),
    outcome: "running",
  };
  yield* w.call("recordRepair", { stack, node, attempt });
  status.phase = "repairing";
  status.lastAction = { node, step, outcome: "running", at: attempt.startedAt };
  w.publish();

  let outcome: { ok: boolean; detail: string; node: string; surged?: boolean };
  try {
    const drain = !r.drainOnlyToProtect || drainProtects(step, before);
    if (destructive && before.agent.answered && drain) {
      // a courtesy to live sessions: a node whose agent can't drain is repaired all the same
      yield* drainNode(w, spec, node, {
        draining: before.agent.draining === true,
        required: false,
        sessions: () => before.agent.liveSessions ?? 0,
        look: function* () {
          const o = yield* observe(w, spec, node);
          return o.agent.answered ? (o.agent.liveSessions ?? 0) : 0;
        },
        timeoutMs: spec.policies.scale.drainTimeoutMinutes * 60_000,
        pollMs: r.pollMs,
        lastWait: "whole-polls",
      });
    }
    // a new disk loses what the old one held: recordings a silent agent could not ship are counted
    // lost, with the reason, never dropped silently (a stack without recordings adds no step)
    if ((step === "replace" || step === "reimage") && !before.agent.answered && spec.recordings?.enabled) {
      yield* w.audit(
        "recordings.lost",
        `${node}'s agent did not answer before its ${step}: session recordings still on its disk, if any, could not be shipped (the uploader ships each one as its session ends)`,
        { node, lost: [{ recording: "*", reason: "the node's agent did not answer before it was replaced" }] },
      );
    }
    // once: a failed step is a failed attempt (the ladder climbs), never a second restart
    const input = {
      spec,
      vmName: node,
      expectVmId: before.vmId,
      knownNodes: a.observations.map((o) => o.name),
      capacity: a.observations.length,
    };
    const done =
      step === "restart-services"
        ? yield* w.callOnce("restartWebNodeServices", { ...input, units: failedServiceUnits(before) ?? [] })
        : yield* w.callOnce(STEP_ACTIVITY[step], input);
    const fresh = step === "replace" || step === "reimage";
    const raced: SurgeResult = r.surge && surgeMayRun(a, fresh) ? yield* surgeRace(r, a, node) : { surged: false };
    if (raced.surged) {
      outcome = { ok: true, detail: `${done.detail}; ${raced.detail}`, node: raced.node, surged: true };
    } else {
      const minutes = r.verifyMinutes ?? VERIFY_MINUTES[step];
      const verified = yield* verify(r, spec, done.node, fresh, a, minutes, raced.seen);
      const note = raced.note ? `; ${raced.note}` : "";
      outcome = { ...verified, detail: `${done.detail}${note}; ${verified.detail}`, node: done.node };
    }
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
  const why = `${decision.verdict.why}; alerts: ${signalText(a.routing, node)}`;
  const details = {
    node,
    step,
    attempt: rung,
    detail: outcome.detail,
    ...(outcome.node !== node ? { replacement: outcome.node } : {}),
  };
  if (outcome.surged) {
    yield* w.audit(`node ${node} replaced by surge node ${outcome.node}`, why, details);
    return {
      final: true,
      outcome: `${node}: ${step} at ${attempt.startedAt}, replaced by surge node ${outcome.node}; capacity healthy again (${outcome.detail})`,
    };
  }
  if (outcome.ok) {
    yield* w.audit(`node ${node} ${STEP_DONE[step]}`, why, details);
    return {
      final: true,
      outcome: `${node}: ${STEP_DONE[step]} at ${attempt.startedAt}; healthy again (${outcome.detail})`,
    };
  }
  yield* w.audit(`${step} of node ${node} failed`, `${why}; ${outcome.detail}`, details);
  return { final: false, outcome: "" };
}

/**
 * Healthy again: the agent says healthy (a fresh node first joins: shared/node/join.ts), the drain
 * is off, and the load balancer probe is up.
 */
function* verify(
  r: HealRound,
  spec: StackSpec,
  node: string,
  fresh: boolean,
  a: Assessment,
  verifyMinutes: number,
  /** a look already taken (surge: the race's look), used as the first */
  first?: NodeObservation,
): Step<{ ok: boolean; detail: string }> {
  const { w } = r;
  const { status } = w;
  const { pollMs } = r;
  status.phase = "verifying";
  w.publish();
  if (fresh) {
    // a new disk: wait for its agent (cloud-init installs it), then it joins as every new node does
    const readyMinutes = a.take.nodeReadyTimeoutMinutes;
    const ready = yield* verifyHealthy(
      w,
      () => observe(w, spec, node),
      (o) => o.agent.answered && !o.agent.installing,
      {
        deadline: w.after(readyMinutes * 60_000),
        pollMs,
      },
    );
    if (!ready.ok) return { ok: false, detail: `the new node's agent did not answer within ${readyMinutes} minutes` };
    const peers = appUserOfPeers(a.observations.map((o) => o.agent));
    const prepared = yield* w.call("prepareWebNode", { spec, vmName: node, ...(peers ? { dbUserSlot: peers } : {}) });
    status.waitingFor = `${node}: ${prepared.steps.join(", ")}`;
    w.publish();
  }
  let undrained = false;
  let taken = first;
  const look = function* (): Step<NodeObservation> {
    const o = taken ?? (yield* observe(w, spec, node));
    taken = undefined;
    if (!(o.agent.healthy && o.agent.draining && !undrained)) return o;
    // healthy: it may take traffic again
    const off = yield* runAgent(w, spec, node, "drain", ["off"]);
    undrained = true;
    if (r.reuseLooks && succeeded(off) && (off.json as { draining?: unknown } | undefined)?.draining === false) {
      // the agent said healthy just now and undrained now: what is left to see is the load balancer's
      // probe, which ARM and Azure Monitor tell without a Run Command; a probe still down is looked
      // at again in full at the next poll
      const outside = yield* w.call("observeWebNode", { spec, vmName: node, skipAgent: true });
      return outside.power === "running" ? { ...outside, agent: { ...o.agent, draining: false } } : outside;
    }
    return yield* observe(w, spec, node);
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
