// The healing decisions, as pure functions of what was observed, what the ledger remembers, the
// stack's repair policy and the time: no I/O, no clock of their own, so the heal orchestration can
// call them (deterministic on replay) and unit tests can cover every case.
//
// 1. Verdict per node: healthy, unconfirmed (one signal says broken, the others do not agree, or the
//    node is busy or still installing: never act on one signal), or broken (and why).
// 2. Fleet brake: more than `maxUnhealthyPercent` of the nodes broken, or at least two broken nodes
//    that all fail the same outside dependency (database, certificate, DNS): replacing VMs cannot fix
//    an outage of what they depend on. The brake is sticky: it holds until a round where every node
//    is healthy again (the all-clear) or a person releases it (POST /api/stacks/{name}/heal/resume):
//    that release overrides the brake for a bounded time, while the hourly budget, backoff and
//    suspensions still hold, so an override cannot turn into a replace-everything loop.
// 3. Per broken suspect node: the next rung of its ladder, unless it is suspended, backing off, or the
//    stack's hourly budget of destructive repairs is spent.
//
// Ladder: a stopped or deallocated VM is started (nothing runs on it, so starting stops nothing);
// a VM whose provisioning failed is replaced; otherwise restart -> redeploy -> replace (availability
// set) or restart -> redeploy -> reimage -> replace (scale set), climbing one rung after each repair
// that failed or did not last (the node broke again within RELAPSE_WINDOW_MS). With service restarts
// on (healStackV6), a node whose agent answered and whose only failing checks are its own services
// (NGINX, Tomcat, guacd, with the units the agent named) first gets `restart-services`: those units
// restarted, no reboot; when that fails or does not last, the ladder goes on at the VM restart.
import type { NodeObservation } from "../node/model";
import {
  isDestructive,
  type LedgerState,
  type NodeLedger,
  type RepairAttempt,
  type RepairPolicy,
  type RepairStep,
} from "./types";

export const HEAL_TIMING = {
  /** a repair that made the node healthy, followed by a new break within this, did not work */
  relapseWindowMs: 60 * 60_000,
  /** failed repairs older than this no longer count toward the ladder or a suspension */
  streakWindowMs: 24 * 60 * 60_000,
  /** backoff after n failed repairs in a row: base * 2^(n-1), at most max */
  backoffBaseMs: 5 * 60_000,
  backoffMaxMs: 4 * 60 * 60_000,
  /** the budget counts destructive repairs started within this */
  budgetWindowMs: 60 * 60_000,
  /** an attempt still "running" after this was abandoned (its orchestration was terminated) */
  abandonedAfterMs: 2 * 60 * 60_000,
} as const;

/** Health checks that test something outside the node; all broken nodes failing one is an outage. */
export const DEPENDENCY_CHECKS: readonly string[] = ["database", "certificate", "dns"];

/** Health checks of the node's own services: a restart of their units may be all they need. */
export const SERVICE_CHECKS: readonly string[] = ["nginx", "tomcat", "guacd"];

/**
 * The units to restart first for a node that answered and fails only its own services' checks
 * (each with the unit the agent named); undefined for any other node (a dependency, a hung or
 * stopped VM, an agent that gave no answer, a node still installing).
 */
export function failedServiceUnits(o: NodeObservation): string[] | undefined {
  const { agent } = o;
  if (!agent.reachable || !agent.answered || agent.healthy || agent.installing || agent.busy) return undefined;
  if (agent.failing.length === 0 || !agent.failing.every((c) => SERVICE_CHECKS.includes(c))) return undefined;
  const units = agent.failingUnits ?? [];
  return units.length > 0 ? [...units] : undefined;
}

export const LADDERS: Record<"availabilitySet" | "scaleSet", readonly RepairStep[]> = {
  availabilitySet: ["restart", "redeploy", "replace"],
  scaleSet: ["restart", "redeploy", "reimage", "replace"],
};

export type BrokenCause = "stopped" | "provisioning-failed" | "hung" | "unhealthy";

export type Verdict =
  | { state: "healthy"; why: string }
  | { state: "unconfirmed"; why: string }
  | { state: "broken"; cause: BrokenCause; why: string; dependency?: string };

/** The verdict on one node from its observation alone. */
export function verdictOf(o: NodeObservation): Verdict {
  if (!o.exists) return { state: "unconfirmed", why: "the VM does not exist (drift check recreates it)" };
  if (o.provisioning === "failed") {
    return { state: "broken", cause: "provisioning-failed", why: "the VM's provisioning failed" };
  }
  if (o.provisioning !== "succeeded") {
    return { state: "unconfirmed", why: `an operation is changing the VM (provisioning ${o.provisioning})` };
  }
  if (o.power === "stopped" || o.power === "deallocated") {
    return { state: "broken", cause: "stopped", why: `the VM is ${o.power}` };
  }
  if (o.power !== "running") return { state: "unconfirmed", why: `the VM is ${o.power}` };
  const { agent, probe } = o;
  if (!agent.reachable) {
    if (probe.state === "up") {
      return { state: "unconfirmed", why: "Run Command can't reach the VM, but the load balancer probe is up" };
    }
    const probeText = probe.state === "down" ? `probe down (${probe.value ?? 0} %)` : "no probe data";
    return { state: "broken", cause: "hung", why: `Run Command can't reach the VM and ${probeText}` };
  }
  if (agent.busy) return { state: "unconfirmed", why: "another Run Command was running on the VM" };
  if (!agent.answered) {
    return { state: "broken", cause: "unhealthy", why: "the node agent gave no health answer" };
  }
  if (agent.installing) return { state: "unconfirmed", why: "the node is still installing" };
  if (agent.healthy) {
    if (probe.state === "down" && !agent.draining) {
      return { state: "unconfirmed", why: "the agent says healthy, but the probe is down" };
    }
    return { state: "healthy", why: agent.draining ? "healthy (draining)" : "healthy" };
  }
  const failing = [...agent.failing].sort();
  const outside = failing.length > 0 && failing.every((c) => DEPENDENCY_CHECKS.includes(c));
  return {
    state: "broken",
    cause: "unhealthy",
    why: `failing: ${agent.problems.length > 0 ? agent.problems.join("; ") : failing.join(", ")}`,
    ...(outside ? { dependency: failing[0] } : {}),
  };
}

// ----------------------------------------------------------------------------------------- brake

export interface BrakeCheck {
  holds: boolean;
  /** "unhealthy-share" | "common-dependency:<check>" */
  reason?: string;
  message?: string;
}

/** Whether the fleet as observed now calls for the brake (ignoring what the ledger remembers). */
export function brakeFromObservations(
  verdicts: ReadonlyMap<string, Verdict>,
  policy: Pick<RepairPolicy, "maxUnhealthyPercent">,
): BrakeCheck {
  const total = verdicts.size;
  const broken = [...verdicts.entries()].filter(([, v]) => v.state === "broken");
  if (total === 0 || broken.length === 0) return { holds: false };
  const dependencies = new Set(broken.map(([, v]) => (v.state === "broken" ? v.dependency : undefined)));
  if (broken.length >= 2 && dependencies.size === 1) {
    const [dependency] = dependencies;
    if (dependency) {
      return {
        holds: true,
        reason: `common-dependency:${dependency}`,
        message:
          `all ${broken.length} unhealthy nodes (${broken.map(([n]) => n).join(", ")}) fail the same ` +
          `dependency, ${dependency}: an outage of what the nodes depend on, which no VM repair fixes`,
      };
    }
  }
  const share = (broken.length / total) * 100;
  if (share > policy.maxUnhealthyPercent) {
    return {
      holds: true,
      reason: "unhealthy-share",
      message:
        `${broken.length} of ${total} nodes unhealthy (${Math.round(share)} %), more than the policy's ` +
        `${policy.maxUnhealthyPercent} %: ${broken.map(([n]) => n).join(", ")}`,
    };
  }
  return { holds: false };
}

export interface BrakeDecision {
  holds: boolean;
  reason?: string;
  message?: string;
  /** what changed in the ledger's brake state this round */
  change: "engaged" | "released" | "unchanged";
  /** the fleet calls for the brake, but a person overrode it until this time */
  overriddenUntil?: string;
}

/**
 * The brake for this round: it engages when the fleet calls for it, and once engaged holds until a
 * round finds every node healthy (a partial recovery may still be the same outage).
 */
export function decideBrake(
  fresh: BrakeCheck,
  remembered: LedgerState["brake"],
  verdicts: ReadonlyMap<string, Verdict>,
  override?: { until: string; now: Date },
): BrakeDecision {
  if (override && Date.parse(override.until) > override.now.getTime()) {
    return {
      holds: false,
      change: remembered ? "released" : "unchanged",
      ...(fresh.holds ? { overriddenUntil: override.until, reason: fresh.reason, message: fresh.message } : {}),
    };
  }
  if (fresh.holds) {
    const same = remembered?.reason === fresh.reason && remembered?.message === fresh.message;
    return { holds: true, reason: fresh.reason, message: fresh.message, change: same ? "unchanged" : "engaged" };
  }
  if (!remembered) return { holds: false, change: "unchanged" };
  const allClear = verdicts.size > 0 && [...verdicts.values()].every((v) => v.state === "healthy");
  if (allClear) return { holds: false, change: "released" };
  return {
    holds: true,
    reason: remembered.reason,
    message: `${remembered.message} (held since ${remembered.since} until every node is healthy or a person releases it)`,
    change: "unchanged",
  };
}

// ----------------------------------------------------------------------------------- per node

/** Attempts that count against the node now: after any resume, within the streak window. */
function countedAttempts(ledger: NodeLedger | undefined, now: Date): RepairAttempt[] {
  if (!ledger) return [];
  const since = Math.max(
    now.getTime() - HEAL_TIMING.streakWindowMs,
    ledger.resumedAt ? Date.parse(ledger.resumedAt) : Number.NEGATIVE_INFINITY,
  );
  return ledger.attempts.filter((a) => Date.parse(a.startedAt) >= since);
}

function attemptFailed(a: RepairAttempt, now: Date): boolean {
  if (a.outcome === "failed" || a.relapsed) return true;
  return a.outcome === "running" && now.getTime() - Date.parse(a.startedAt) > HEAL_TIMING.abandonedAfterMs;
}

/**
 * The last attempt when the node is broken again soon after it made the node healthy: that repair
 * did not last, and counts as failed from now on.
 */
export function relapsedAttempt(ledger: NodeLedger | undefined, now: Date): RepairAttempt | undefined {
  const last = countedAttempts(ledger, now).at(-1);
  if (!last || last.outcome !== "succeeded" || last.relapsed) return undefined;
  const finished = Date.parse(last.finishedAt ?? last.startedAt);
  return now.getTime() - finished <= HEAL_TIMING.relapseWindowMs ? last : undefined;
}

/** Failed (or relapsed) repairs in a row, newest first, up to the last one that worked. */
export function failureStreak(ledger: NodeLedger | undefined, now: Date, relapsed?: RepairAttempt): RepairAttempt[] {
  const streak: RepairAttempt[] = [];
  const attempts = countedAttempts(ledger, now);
  for (let i = attempts.length - 1; i >= 0; i--) {
    const a = attempts[i];
    if (attemptFailed(a, now) || a.id === relapsed?.id) streak.push(a);
    else if (a.outcome !== "running") break;
  }
  return streak;
}

export function backoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(HEAL_TIMING.backoffBaseMs * 2 ** (failures - 1), HEAL_TIMING.backoffMaxMs);
}

/**
 * The step after the failed streak: the rung above the last failed one, or the first rung. A node
 * whose failed services may be restarted (`servicesOnly`) starts with `restart-services`; a failed
 * (or relapsed) service restart climbs to the VM restart, the ladder's first rung.
 */
export function nextStep(
  cause: BrokenCause,
  streak: readonly RepairAttempt[],
  mode: "availabilitySet" | "scaleSet",
  servicesOnly = false,
): RepairStep {
  if (cause === "stopped") return "start";
  const ladder = LADDERS[mode];
  if (cause === "provisioning-failed") return ladder[ladder.length - 1];
  const lastRung = streak.find((a) => a.step !== "start");
  if (!lastRung) return servicesOnly && cause === "unhealthy" ? "restart-services" : ladder[0];
  // restart-services is below the ladder (index -1): the step above it is the ladder's first
  const i = ladder.indexOf(lastRung.step);
  return ladder[Math.min(i + 1, ladder.length - 1)];
}

export type Hold =
  | { kind: "healthy"; reason: string }
  | { kind: "unconfirmed"; reason: string }
  | { kind: "disabled"; reason: string }
  | { kind: "brake"; reason: string }
  | { kind: "suspended"; reason: string }
  /** suspend now: the streak reached the policy's limit */
  | { kind: "suspend"; reason: string }
  | { kind: "backoff"; reason: string; until: string }
  | { kind: "budget"; reason: string; until: string };

export interface NodeDecision {
  node: string;
  verdict: Verdict;
  /** the step to take now; `attempt` counts the failed repairs before it, plus one */
  action?: { step: RepairStep; destructive: boolean; attempt: number };
  /** id of the node's last repair, which made it healthy but did not last: record it as such */
  relapsed?: string;
  /** why nothing is done now */
  hold?: Hold;
}

export interface HealPlan {
  verdicts: Map<string, Verdict>;
  brake: BrakeDecision;
  decisions: NodeDecision[];
  /** destructive repairs left in the hourly budget before this round's actions */
  budgetLeft: number;
}

export interface PlanInput {
  now: Date;
  policy: RepairPolicy;
  mode: "availabilitySet" | "scaleSet";
  observations: readonly NodeObservation[];
  /** the nodes the signals point at */
  suspects: readonly string[];
  ledger: LedgerState;
  /** a node failing only its own services gets those restarted first (healStackV6) */
  restartServices?: boolean;
}

/** Destructive repairs started within the budget window, across the stack. */
export function budgetUse(ledger: LedgerState, now: Date): { used: number; oldest?: string } {
  const since = now.getTime() - HEAL_TIMING.budgetWindowMs;
  const started = Object.values(ledger.nodes)
    .flatMap((n) => n.attempts)
    .filter((a) => isDestructive(a.step) && Date.parse(a.startedAt) > since)
    .map((a) => a.startedAt)
    .sort();
  return { used: started.length, oldest: started[0] };
}

export function planHeal(input: PlanInput): HealPlan {
  const { now, policy, ledger } = input;
  const verdicts = new Map(input.observations.map((o) => [o.name, verdictOf(o)] as const));
  const override = ledger.brakeOverride ? { until: ledger.brakeOverride.until, now } : undefined;
  const brake = decideBrake(brakeFromObservations(verdicts, policy), ledger.brake, verdicts, override);
  const budget = budgetUse(ledger, now);
  let left = Math.max(policy.maxRepairsPerHour - budget.used, 0);
  const budgetLeft = left;
  const decisions: NodeDecision[] = [];
  for (const node of input.suspects) {
    const verdict = verdicts.get(node);
    if (!verdict) continue;
    const entry = ledger.nodes[node];
    // a broken node soon after a repair that made it healthy: that repair did not last
    const relapsed = verdict.state === "broken" ? relapsedAttempt(entry, now) : undefined;
    const decide = (d: Omit<NodeDecision, "node" | "verdict">) =>
      decisions.push({ node, verdict, ...d, ...(relapsed ? { relapsed: relapsed.id } : {}) });
    if (verdict.state === "healthy") {
      decide({ hold: { kind: "healthy", reason: `${verdict.why}: nothing to do` } });
      continue;
    }
    if (verdict.state === "unconfirmed") {
      decide({ hold: { kind: "unconfirmed", reason: `not corroborated: ${verdict.why}` } });
      continue;
    }
    if (!policy.enabled) {
      decide({ hold: { kind: "disabled", reason: `${verdict.why}; repairs are disabled by the stack's policy` } });
      continue;
    }
    if (brake.holds) {
      decide({ hold: { kind: "brake", reason: `${verdict.why}; the fleet brake holds: ${brake.message}` } });
      continue;
    }
    if (entry?.suspended) {
      decide({ hold: { kind: "suspended", reason: `${verdict.why}; repairs suspended: ${entry.suspended.reason}` } });
      continue;
    }
    const streak = failureStreak(entry, now, relapsed);
    if (streak.length >= policy.suspendAfterFailedRepairs) {
      const last = streak[0];
      decide({
        hold: {
          kind: "suspend",
          reason:
            `${streak.length} repairs in a row did not fix ${node} (last: ${last.step} at ${last.startedAt}` +
            `${last.relapsed || last.id === relapsed?.id ? ", broke again soon after" : last.detail ? `, ${last.detail}` : ""})`,
        },
      });
      continue;
    }
    if (streak.length > 0) {
      const last = streak[0];
      const until = Date.parse(last.finishedAt ?? last.startedAt) + backoffMs(streak.length);
      if (until > now.getTime()) {
        decide({
          hold: {
            kind: "backoff",
            reason: `${verdict.why}; backing off after ${streak.length} failed repair(s)`,
            until: new Date(until).toISOString(),
          },
        });
        continue;
      }
    }
    const observed = input.observations.find((o) => o.name === node);
    const servicesOnly =
      input.restartServices === true && !verdict.dependency && observed !== undefined && !!failedServiceUnits(observed);
    const step = nextStep(verdict.cause, streak, input.mode, servicesOnly);
    const destructive = isDestructive(step);
    if (destructive && left <= 0) {
      const until =
        budget.oldest !== undefined && policy.maxRepairsPerHour > 0
          ? new Date(Date.parse(budget.oldest) + HEAL_TIMING.budgetWindowMs).toISOString()
          : new Date(now.getTime() + HEAL_TIMING.budgetWindowMs).toISOString();
      decide({
        hold: {
          kind: "budget",
          reason:
            `${verdict.why}; the budget of ${policy.maxRepairsPerHour} destructive repair(s) per hour is spent` +
            (budget.oldest ? ` (oldest at ${budget.oldest})` : ""),
          until,
        },
      });
      continue;
    }
    if (destructive) left--;
    decide({ action: { step, destructive, attempt: streak.length + 1 } });
  }
  return { verdicts, brake, decisions, budgetLeft };
}

/** One line per decision, for the status and the audit trail. */
export function describeDecision(d: NodeDecision): string {
  if (d.action) return `${d.node}: ${d.action.step} (${d.verdict.why})`;
  const until = d.hold && "until" in d.hold ? ` until ${d.hold.until}` : "";
  return `${d.node}: ${d.hold?.kind ?? "?"}${until}: ${d.hold?.reason ?? ""}`;
}
