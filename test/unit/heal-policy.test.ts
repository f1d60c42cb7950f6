// The pure healing decisions: verdicts from corroborated observations, the fleet brake (share and
// common dependency, sticky until an all-clear), the escalation ladder with relapses, backoff, the
// hourly budget and suspension; and how signals route to nodes, Resolved ones cancelling Fired ones.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StackSignal } from "../../shared/alerts/signal";
import {
  backoffMs,
  brakeFromObservations,
  budgetUse,
  failedServiceUnits,
  decideBrake,
  describeDecision,
  HEAL_TIMING,
  planHeal,
  verdictOf,
  type PlanInput,
} from "../../shared/heal/policy";
import { routeSignals, suspectsOf } from "../../shared/heal/signals";
import type { LedgerState, RepairAttempt, RepairPolicy } from "../../shared/heal/types";
import type { NodeObservation } from "../../shared/node/model";

const NOW = new Date("2026-11-21T12:00:00.000Z");
const POLICY: RepairPolicy = {
  enabled: true,
  maxUnhealthyPercent: 50,
  maxRepairsPerHour: 3,
  debounceSeconds: 60,
  suspendAfterFailedRepairs: 3,
};
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000).toISOString();

function node(name: string, extra: Partial<NodeObservation> = {}, agent: Partial<NodeObservation["agent"]> = {}) {
  const o: NodeObservation = {
    name,
    exists: true,
    id: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/${name}`,
    vmId: `${name}-vmid`,
    power: "running",
    provisioning: "succeeded",
    privateIp: `10.0.1.${name.slice(-1)}`,
    probe: { state: "up", value: 100 },
    agent: { reachable: true, answered: true, healthy: true, failing: [], problems: [], ...agent },
    at: NOW.toISOString(),
    ...extra,
  };
  return o;
}
const tomcatDown = (name: string) =>
  node(
    name,
    { probe: { state: "down", value: 0 } },
    { healthy: false, failing: ["tomcat"], problems: ["tomcat: 503"] },
  );
const hung = (name: string) =>
  node(name, { probe: { state: "down", value: 0 } }, { reachable: false, answered: false, healthy: false });
const dbDown = (name: string) =>
  node(
    name,
    { probe: { state: "down", value: 0 } },
    { healthy: false, failing: ["database"], problems: ["database: login failed"] },
  );

function attempt(step: RepairAttempt["step"], minutesAgo: number, outcome: RepairAttempt["outcome"], extra = {}) {
  return {
    id: `${step}-${minutesAgo}`,
    step,
    startedAt: ago(minutesAgo),
    finishedAt: ago(minutesAgo - 1),
    outcome,
    ...extra,
  } satisfies RepairAttempt;
}

function plan(observations: NodeObservation[], suspects: string[], extra: Partial<PlanInput> = {}) {
  return planHeal({
    now: NOW,
    policy: POLICY,
    mode: "availabilitySet",
    observations,
    suspects,
    ledger: { nodes: {} },
    ...extra,
  });
}

describe("verdicts: corroborate before calling a node broken", () => {
  test("healthy, unconfirmed and broken nodes", () => {
    assert.equal(verdictOf(node("w1")).state, "healthy");
    assert.equal(verdictOf(tomcatDown("w1")).state, "broken");
    assert.deepEqual(verdictOf(hung("w1")), {
      state: "broken",
      cause: "hung",
      why: "Run Command can't reach the VM and probe down (0 %)",
    });
    // one signal alone is not enough: the agent can't be reached, but the probe is up
    const agentOnly = node("w1", {}, { reachable: false, answered: false, healthy: false });
    assert.equal(verdictOf(agentOnly).state, "unconfirmed");
    // ...and the probe is down, but the agent says healthy and is not draining
    assert.equal(verdictOf(node("w1", { probe: { state: "down", value: 0 } })).state, "unconfirmed");
    // a draining node answers 503 to the probe on purpose
    assert.equal(verdictOf(node("w1", { probe: { state: "down", value: 0 } }, { draining: true })).state, "healthy");
    assert.equal(verdictOf(node("w1", {}, { installing: true, healthy: false })).state, "unconfirmed");
    assert.equal(verdictOf(node("w1", { provisioning: "updating" })).state, "unconfirmed");
    assert.deepEqual(verdictOf(node("w1", { power: "deallocated" })), {
      state: "broken",
      cause: "stopped",
      why: "the VM is deallocated",
    });
    assert.equal(verdictOf(node("w1", { provisioning: "failed" })).state, "broken");
  });

  test("a node failing only outside dependencies names the dependency", () => {
    const v = verdictOf(dbDown("w1"));
    assert.equal(v.state === "broken" && v.dependency, "database");
    const local = verdictOf(
      node("w1", {}, { healthy: false, failing: ["database", "tomcat"], problems: ["database: x", "tomcat: y"] }),
    );
    assert.equal(local.state === "broken" && local.dependency, undefined);
  });
});

describe("the fleet brake", () => {
  const verdicts = (...nodes: NodeObservation[]) => new Map(nodes.map((n) => [n.name, verdictOf(n)]));

  test("holds above the unhealthy share, not at it", () => {
    assert.equal(brakeFromObservations(verdicts(hung("w1"), node("w2")), POLICY).holds, false, "50 % is allowed");
    const all = brakeFromObservations(verdicts(hung("w1"), hung("w2")), POLICY);
    assert.equal(all.reason, "unhealthy-share");
    assert.match(all.message!, /2 of 2 nodes unhealthy \(100 %\), more than the policy's 50 %/);
  });

  test("holds when two or more broken nodes fail the same dependency, before the share", () => {
    const same = brakeFromObservations(verdicts(dbDown("w1"), dbDown("w2"), node("w3"), node("w4")), POLICY);
    assert.equal(same.reason, "common-dependency:database");
    const all = brakeFromObservations(verdicts(dbDown("w1"), dbDown("w2")), POLICY);
    assert.equal(all.reason, "common-dependency:database", "the more specific reason wins");
    // one node failing the database while others reach it is that node's problem
    assert.equal(brakeFromObservations(verdicts(dbDown("w1"), node("w2"), node("w3")), POLICY).holds, false);
    // different causes are no common dependency
    assert.equal(
      brakeFromObservations(verdicts(dbDown("w1"), tomcatDown("w2"), node("w3"), node("w4")), POLICY).holds,
      false,
    );
  });

  test("is sticky until every node is healthy", () => {
    const held = { reason: "unhealthy-share", message: "2 of 2", since: ago(30) };
    const partial = decideBrake({ holds: false }, held, verdicts(hung("w1"), node("w2")));
    assert.equal(partial.holds, true);
    assert.match(partial.message!, /held since .* until every node is healthy or a person releases it/);
    assert.equal(decideBrake({ holds: false }, held, verdicts(node("w1"), node("w2"))).change, "released");
    const engaged = decideBrake({ holds: true, reason: "unhealthy-share", message: "m" }, undefined, new Map());
    assert.equal(engaged.change, "engaged");
  });

  test("a person's override lifts the brake until it expires; then the fleet's state decides again", () => {
    const fresh = { holds: true, reason: "unhealthy-share", message: "2 of 2" };
    const all = verdicts(hung("w1"), hung("w2"));
    const until = new Date(NOW.getTime() + 60 * 60_000).toISOString();
    const overridden = decideBrake(fresh, undefined, all, { until, now: NOW });
    assert.equal(overridden.holds, false);
    assert.equal(overridden.overriddenUntil, until);
    const later = new Date(NOW.getTime() + 61 * 60_000);
    assert.equal(decideBrake(fresh, undefined, all, { until, now: later }).holds, true);
  });

  test("a held brake stops every step, a start included", () => {
    const p = plan([hung("w1"), node("w2", { power: "deallocated" })], ["w1", "w2"]);
    assert.equal(p.brake.holds, true);
    assert.deepEqual(
      p.decisions.map((d) => [d.node, d.action?.step, d.hold?.kind]),
      [
        ["w1", undefined, "brake"],
        ["w2", undefined, "brake"],
      ],
    );
  });
});

describe("the ladder, backoff, budget and suspension", () => {
  test("a dead service gets a restart; a healthy suspect gets nothing", () => {
    const p = plan([tomcatDown("w1"), node("w2")], ["w1", "w2"]);
    assert.deepEqual(
      p.decisions.map((d) => [d.node, d.action?.step ?? d.hold?.kind]),
      [
        ["w1", "restart"],
        ["w2", "healthy"],
      ],
    );
    assert.match(describeDecision(p.decisions[0]), /w1: restart \(failing: tomcat: 503\)/);
  });

  test("failed repairs climb the ladder, after a backoff that doubles", () => {
    const ledger = (attempts: RepairAttempt[]): LedgerState => ({ nodes: { w1: { node: "w1", attempts } } });
    const step = (attempts: RepairAttempt[], mode: PlanInput["mode"] = "availabilitySet") =>
      plan([hung("w1"), node("w2")], ["w1"], { ledger: ledger(attempts), mode }).decisions[0];
    assert.equal(step([]).action?.step, "restart");
    assert.equal(step([attempt("restart", 30, "failed")]).action?.step, "redeploy");
    assert.equal(step([attempt("restart", 60, "failed"), attempt("redeploy", 30, "failed")]).action?.step, "replace");
    assert.equal(
      step([attempt("restart", 60, "failed"), attempt("redeploy", 30, "failed")], "scaleSet").action?.step,
      "reimage",
    );
    // a success that held breaks the streak: back to the first rung
    assert.equal(
      step([attempt("restart", 300, "failed"), attempt("redeploy", 200, "succeeded")]).action?.step,
      "restart",
    );
    // right after a failure: back off 5 minutes, then 10
    const early = step([attempt("restart", 3, "failed")]);
    assert.equal(early.hold?.kind, "backoff");
    assert.equal(
      early.hold?.kind === "backoff" && early.hold.until,
      new Date(NOW.getTime() + 3 * 60_000).toISOString(),
    );
    const second = step([attempt("restart", 30, "failed"), attempt("redeploy", 8, "failed")]);
    assert.equal(second.hold?.kind, "backoff", "10 minutes after the second failure");
    assert.deepEqual(
      [1, 2, 3, 20].map(backoffMs),
      [5, 10, 20, 240].map((m) => m * 60_000),
    );
  });

  test("a repair after which the node broke again soon counts as failed", () => {
    const ledger: LedgerState = { nodes: { w1: { node: "w1", attempts: [attempt("restart", 20, "succeeded")] } } };
    const d = plan([tomcatDown("w1"), node("w2")], ["w1"], { ledger }).decisions[0];
    assert.equal(d.action?.step, "redeploy");
    assert.equal(d.relapsed, "restart-20");
    // long after, a new break is a new problem
    const old: LedgerState = { nodes: { w1: { node: "w1", attempts: [attempt("restart", 120, "succeeded")] } } };
    const fresh = plan([tomcatDown("w1"), node("w2")], ["w1"], { ledger: old }).decisions[0];
    assert.equal(fresh.action?.step, "restart");
    assert.equal(fresh.relapsed, undefined);
  });

  test("the streak reaching the policy's limit suspends the node; a resume starts over", () => {
    const attempts = [
      attempt("restart", 50, "succeeded", { relapsed: true }),
      attempt("redeploy", 40, "succeeded", { relapsed: true }),
      attempt("replace", 20, "succeeded"),
    ];
    const d = plan([tomcatDown("w1"), node("w2")], ["w1"], { ledger: { nodes: { w1: { node: "w1", attempts } } } })
      .decisions[0];
    assert.equal(d.hold?.kind, "suspend");
    assert.match(d.hold.reason, /3 repairs in a row did not fix w1 \(last: replace at .*, broke again soon after\)/);
    const suspended = plan([tomcatDown("w1"), node("w2")], ["w1"], {
      ledger: { nodes: { w1: { node: "w1", attempts, suspended: { reason: "r", at: ago(5) } } } },
    }).decisions[0];
    assert.equal(suspended.hold?.kind, "suspended");
    const resumed = plan([tomcatDown("w1"), node("w2")], ["w1"], {
      ledger: { nodes: { w1: { node: "w1", attempts, resumedAt: ago(10) } } },
      policy: { ...POLICY, maxRepairsPerHour: 10 },
    }).decisions[0];
    assert.equal(resumed.action?.step, "restart");
  });

  test("the hourly budget caps destructive repairs across the stack; a start is not counted", () => {
    const ledger: LedgerState = {
      nodes: {
        w3: {
          node: "w3",
          attempts: [
            attempt("restart", 200, "succeeded"),
            attempt("restart", 50, "succeeded"),
            attempt("redeploy", 40, "succeeded"),
          ],
        },
      },
    };
    const observations = [tomcatDown("w1"), node("w2", { power: "stopped" }), node("w3"), node("w4"), node("w5")];
    const p = plan(observations, ["w1", "w2"], { ledger, policy: { ...POLICY, maxRepairsPerHour: 2 } });
    assert.equal(p.budgetLeft, 0);
    const [w1, w2] = p.decisions;
    assert.equal(w1.hold?.kind, "budget");
    assert.equal(w1.hold?.kind === "budget" && w1.hold.until, new Date(NOW.getTime() + 10 * 60_000).toISOString());
    assert.equal(w2.action?.step, "start");
    assert.equal(w2.action?.destructive, false);
    const two = plan([tomcatDown("w1"), tomcatDown("w2"), node("w3"), node("w4"), node("w5")], ["w1", "w2"], {
      policy: { ...POLICY, maxRepairsPerHour: 1 },
    });
    assert.deepEqual(
      two.decisions.map((d) => d.action?.step ?? d.hold?.kind),
      ["restart", "budget"],
      "the budget counts this round's own repairs",
    );
  });

  test("repairs disabled by policy: nothing, and the reason says so", () => {
    const d = plan([tomcatDown("w1"), node("w2")], ["w1"], { policy: { ...POLICY, enabled: false } }).decisions[0];
    assert.equal(d.hold?.kind, "disabled");
    assert.match(d.hold.reason, /disabled by the stack's policy/);
  });

  test("an abandoned running attempt counts as failed after a while", () => {
    const running: RepairAttempt = {
      id: "r",
      step: "restart",
      startedAt: ago(HEAL_TIMING.abandonedAfterMs / 60_000 + 10),
      outcome: "running",
    };
    const d = plan([hung("w1"), node("w2")], ["w1"], { ledger: { nodes: { w1: { node: "w1", attempts: [running] } } } })
      .decisions[0];
    assert.equal(d.action?.step, "redeploy");
  });
});

describe("restart-services: the failed services before the machine (healStackV6)", () => {
  const serviceDown = (name: string, failing = ["tomcat"], units = ["tomcat.service"]) =>
    node(
      name,
      { probe: { state: "down", value: 0 } },
      {
        healthy: false,
        failing,
        problems: failing.map((c) => `${c}: down`),
        ...(units.length > 0 ? { failingUnits: units } : {}),
      },
    );
  const v6 = { restartServices: true };

  test("a node failing only its own services, with the units named, gets restart-services first (destructive)", () => {
    const p = plan([serviceDown("w1"), node("w2")], ["w1"], v6);
    assert.deepEqual(p.decisions[0].action, { step: "restart-services", destructive: true, attempt: 1 });
    assert.deepEqual(failedServiceUnits(serviceDown("w1")), ["tomcat.service"]);
    const two = serviceDown("w1", ["guacd", "tomcat"], ["guacd.service", "tomcat.service"]);
    assert.equal(plan([two, node("w2")], ["w1"], v6).decisions[0].action?.step, "restart-services");
    assert.equal(describeDecision(p.decisions[0]), "w1: restart-services (failing: tomcat: down)");
  });

  test("without it (healStackV5 and older) the same node gets the VM restart, as before", () => {
    assert.equal(plan([serviceDown("w1"), node("w2")], ["w1"]).decisions[0].action?.step, "restart");
  });

  test("never for a dependency, a mix with a dependency, no unit named, a hung, stopped or failed VM, or an agent with no answer", () => {
    const cases: [string, NodeObservation, string][] = [
      ["database", dbDown("w1"), "restart"],
      ["certificate and nginx", serviceDown("w1", ["certificate", "nginx"], ["nginx.service"]), "restart"],
      ["tomcat and database", serviceDown("w1", ["database", "tomcat"], ["tomcat.service"]), "restart"],
      ["no unit", serviceDown("w1", ["tomcat"], []), "restart"],
      ["hung", hung("w1"), "restart"],
      ["stopped", node("w1", { power: "stopped" }), "start"],
      ["provisioning failed", node("w1", { provisioning: "failed" }), "replace"],
      [
        "no health answer",
        node(
          "w1",
          { probe: { state: "down", value: 0 } },
          { healthy: false, answered: false, failing: ["agent"], problems: ["agent: no health answer"] },
        ),
        "restart",
      ],
    ];
    for (const [what, o, step] of cases) {
      const p = plan([o, node("w2"), node("w3")], ["w1"], v6);
      assert.equal(p.decisions[0].action?.step, step, what);
    }
    // two nodes failing the database: the brake, not a service restart
    const both = plan([dbDown("w1"), dbDown("w2"), node("w3")], ["w1", "w2"], v6);
    assert.ok(both.decisions.every((d) => d.hold?.kind === "brake"));
  });

  test("a failed or relapsed service restart climbs to the VM restart, and the ladder goes on from there", () => {
    const failed = { nodes: { w1: { node: "w1", attempts: [attempt("restart-services", 20, "failed")] } } };
    assert.deepEqual(plan([serviceDown("w1"), node("w2")], ["w1"], { ...v6, ledger: failed }).decisions[0].action, {
      step: "restart",
      destructive: true,
      attempt: 2,
    });
    const relapsed = { nodes: { w1: { node: "w1", attempts: [attempt("restart-services", 10, "succeeded")] } } };
    const r = plan([serviceDown("w1"), node("w2")], ["w1"], { ...v6, ledger: relapsed });
    assert.equal(r.decisions[0].action?.step, "restart");
    assert.equal(r.decisions[0].relapsed, "restart-services-10");
    const then = {
      nodes: {
        w1: {
          node: "w1",
          attempts: [attempt("restart-services", 60, "failed"), attempt("restart", 30, "failed")],
        },
      },
    };
    assert.equal(
      plan([serviceDown("w1"), node("w2")], ["w1"], { ...v6, ledger: then }).decisions[0].action?.step,
      "redeploy",
    );
    // a service restart that worked yesterday does not count: the next break starts at the services again
    const old = { nodes: { w1: { node: "w1", attempts: [attempt("restart-services", 26 * 60, "succeeded")] } } };
    assert.equal(
      plan([serviceDown("w1"), node("w2")], ["w1"], { ...v6, ledger: old }).decisions[0].action?.step,
      "restart-services",
    );
  });

  test("it counts in the hourly budget like any destructive repair", () => {
    const spent = {
      nodes: {
        w2: {
          node: "w2",
          attempts: [
            attempt("restart-services", 50, "succeeded"),
            attempt("restart-services", 40, "succeeded"),
            attempt("restart", 30, "succeeded"),
          ],
        },
      },
    };
    assert.equal(budgetUse(spent, NOW).used, 3);
    const p = plan([serviceDown("w1"), node("w2"), node("w3")], ["w1"], { ...v6, ledger: spent });
    assert.equal(p.decisions[0].hold?.kind, "budget");
  });
});

describe("signal routing", () => {
  const sig = (id: string, extra: Partial<StackSignal> = {}): StackSignal => ({
    id,
    stack: "s",
    intent: "heal",
    condition: "Fired",
    rule: "probe",
    signalType: "Metric",
    summary: "",
    alertId: `alert-${id}`,
    at: ago(5),
    receivedAt: ago(5),
    ...extra,
  });
  const nodes = [node("s-web-1"), node("s-web-2")];

  test("by VM name, by backend IP, or every node", () => {
    const r = routeSignals(
      [sig("a", { node: "S-WEB-1" }), sig("b", { backendIp: "10.0.1.2" }), sig("c", { node: "nope" })],
      nodes,
    );
    assert.deepEqual([...r.byNode.keys()], ["s-web-1", "s-web-2"]);
    assert.deepEqual(
      r.unknown.map((s) => s.id),
      ["c"],
    );
    assert.deepEqual(suspectsOf(r, nodes), ["s-web-1", "s-web-2"]);
    const all = routeSignals([sig("d")], nodes);
    assert.deepEqual(suspectsOf(all, nodes), ["s-web-1", "s-web-2"]);
  });

  test("a Resolved signal cancels the Fired ones of its node up to its time, and of its alert", () => {
    const r = routeSignals(
      [
        sig("f1", { node: "s-web-1", at: ago(5) }),
        sig("r1", { node: "s-web-1", condition: "Resolved", at: ago(3), alertId: "alert-f1" }),
        sig("f2", { node: "s-web-1", at: ago(1), alertId: "later" }),
        sig("f3", { backendIp: "10.0.1.2", at: ago(5) }),
        sig("f4", { at: ago(5), alertId: "stackwide" }),
        sig("r4", { condition: "Resolved", at: ago(2), alertId: "stackwide" }),
      ],
      nodes,
    );
    assert.deepEqual(
      r.cancelled.map((c) => `${c.signal.id}<-${c.by.id}`),
      ["f1<-r1", "f4<-r4"],
    );
    assert.deepEqual(
      r.byNode.get("s-web-1")?.map((s) => s.id),
      ["f2"],
      "a later Fired signal stands",
    );
    assert.deepEqual(
      r.byNode.get("s-web-2")?.map((s) => s.id),
      ["f3"],
    );
    assert.deepEqual(
      r.resolved.map((s) => s.id),
      ["r1", "r4"],
    );
  });
});
