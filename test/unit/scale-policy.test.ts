// The pure scaling decisions: bounds, cooldown, heal-first on scale-out, the choice of the node to
// drain, the flapping check, Resolved signals cancelling Fired ones; and the fleet's members (what
// the graph is built from) with their reset to the spec when the user changes fleet.size.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StackSignal } from "../../shared/alerts/signal";
import { buildStackGraph } from "../../shared/graph/stack-graph";
import {
  effectiveFleet,
  lowestFreeOrdinal,
  ordinalOfVm,
  resizeOrdinals,
  type FleetMembers,
} from "../../shared/scale/fleet";
import {
  claimedMetrics,
  CORROBORATION_SHARE,
  corroborateScaleOut,
  type LoadReading,
} from "../../shared/scale/corroborate";
import {
  checkLimits,
  decideScale,
  fleetLoad,
  SCALE_THRESHOLDS,
  settleSignals,
  type ScaleDecisionInput,
  type FleetMember,
} from "../../shared/scale/policy";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";

const NOW = new Date("2026-11-21T12:00:00.000Z");
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000).toISOString();

function node(n: number, extra: Partial<FleetMember> = {}): FleetMember {
  return { name: `web1-web-${n}`, ordinal: n, answered: true, healthy: true, liveSessions: 0, ...extra };
}

function input(extra: Partial<ScaleDecisionInput> = {}): ScaleDecisionInput {
  return {
    direction: "in",
    fleet: { size: 3, min: 2, max: 4 },
    cooldownMinutes: 10,
    now: NOW,
    metric: "sessions",
    nodes: [node(1, { liveSessions: 3 }), node(2, { liveSessions: 1 }), node(3, { liveSessions: 2 })],
    ...extra,
  };
}

function spec(fleet: Record<string, unknown> = {}): StackSpec {
  const result = validateStackSpec({
    name: "web1",
    subscriptionId: "00000000-0000-0000-0000-00000000a001",
    resourceGroup: "rg-web1",
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 2, min: 2, max: 5, ...fleet },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.spec;
}

let seq = 0;
function signal(extra: Partial<StackSignal> = {}): StackSignal {
  seq++;
  return {
    id: `sig-${seq}`,
    stack: "web1",
    intent: "scale-out",
    condition: "Fired",
    rule: "web1-scale-out",
    signalType: "Metric",
    summary: "Percentage CPU 90 > 75",
    alertId: "alert-1",
    at: ago(60 - seq),
    receivedAt: ago(60 - seq),
    ...extra,
  };
}

describe("scale policy: bounds and cooldown", () => {
  test("scale-out stops at max, scale-in at min", () => {
    const atMax = checkLimits({ ...input(), direction: "out", fleet: { size: 4, min: 2, max: 4 } });
    assert.equal(atMax?.reason, "AtMax");
    assert.match(atMax.message, /fleet\.max 4/);
    assert.equal(atMax?.retryAt, undefined, "at max is final, not deferred");
    const atMin = checkLimits({ ...input(), direction: "in", fleet: { size: 2, min: 2, max: 4 } });
    assert.equal(atMin?.reason, "AtMin");
    assert.equal(checkLimits({ ...input(), direction: "out", fleet: { size: 3, min: 2, max: 4 } }), undefined);
    assert.equal(decideScale({ ...input(), direction: "in", fleet: { size: 2, min: 2, max: 4 } }).action, "skip");
  });

  test("a cooldown follows every scale action, in both directions, and defers until it ends", () => {
    for (const last of ["out", "in"] as const) {
      for (const direction of ["out", "in"] as const) {
        const skip = checkLimits({ ...input(), direction, lastScale: { direction: last, at: ago(4) } });
        assert.equal(skip?.reason, "Cooldown", `${last} then ${direction}`);
        assert.equal(skip?.retryAt, "2026-11-21T12:06:00.000Z");
      }
    }
    assert.equal(
      checkLimits({ ...input(), direction: "out", lastScale: { direction: "out", at: ago(10) } }),
      undefined,
    );
    // bounds come first: at max there is nothing to wait for
    const atMax = checkLimits({
      ...input(),
      direction: "out",
      fleet: { size: 4, min: 2, max: 4 },
      lastScale: { direction: "out", at: ago(1) },
    });
    assert.equal(atMax?.reason, "AtMax");
  });
});

describe("scale policy: scale-out", () => {
  test("adds one node within max", () => {
    const d = decideScale({ ...input(), direction: "out" });
    assert.equal(d.action, "out");
    assert.deepEqual(d.action === "out" && [d.from, d.to], [3, 4]);
  });

  test("heal first: no scale-out while a node is unhealthy", () => {
    const d = decideScale({
      ...input(),
      direction: "out",
      nodes: [node(1), node(2, { healthy: false }), node(3, { answered: false, healthy: false })],
    });
    assert.equal(d.action, "skip");
    assert.equal(d.action === "skip" && d.reason, "UnhealthyNodes");
    assert.match(d.message, /2 of 3 node\(s\) are unhealthy \(web1-web-2, web1-web-3\)/);
  });
});

describe("scale policy: scale-in", () => {
  test("drains the node with the fewest live sessions", () => {
    const d = decideScale(input());
    assert.equal(d.action, "in");
    if (d.action !== "in") return;
    assert.equal(d.node, "web1-web-2");
    assert.equal(d.ordinal, 2);
    assert.equal(d.liveSessions, 1);
    assert.deepEqual([d.from, d.to], [3, 2]);
    assert.equal(d.projected, 3, "6 sessions over 2 nodes");
  });

  test("ties go to the highest node number (the newest node)", () => {
    const d = decideScale(input({ nodes: [node(1), node(4), node(3)] }));
    assert.equal(d.action === "in" && d.node, "web1-web-4");
    const vmss = decideScale(
      input({
        nodes: [
          { name: "web1-vmss_0a1b", answered: true, healthy: true, liveSessions: 0 },
          { name: "web1-vmss_ff00", answered: true, healthy: true, liveSessions: 0 },
        ],
        fleet: { size: 2, min: 1, max: 4 },
      }),
    );
    assert.equal(vmss.action === "in" && vmss.node, "web1-vmss_ff00");
  });

  test("never the only healthy node, never one whose agent does not answer", () => {
    const d = decideScale(
      input({
        nodes: [
          node(1, { liveSessions: 0 }),
          node(2, { healthy: false, liveSessions: 2 }),
          node(3, { answered: false, healthy: false, liveSessions: undefined }),
        ],
      }),
    );
    assert.equal(d.action === "in" && d.node, "web1-web-2", "the unhealthy node that answered goes, web-1 stays");
    const none = decideScale(
      input({
        fleet: { size: 2, min: 1, max: 4 },
        nodes: [node(1, { liveSessions: 0 }), node(2, { answered: false, healthy: false, liveSessions: undefined })],
      }),
    );
    assert.equal(none.action === "skip" && none.reason, "NoCandidate");
  });

  test("flapping: skipped when the remaining nodes would carry more than the scale-out threshold", () => {
    // CPU: 2 nodes at 60 % -> 1 node at 120 %, above 75
    const cpu = decideScale(
      input({
        metric: "cpu",
        fleet: { size: 2, min: 1, max: 4 },
        nodes: [node(1, { cpu: 60 }), node(2, { cpu: 60 })],
      }),
    );
    assert.equal(cpu.action === "skip" && cpu.reason, "Flapping");
    assert.match(cpu.message, /1 node\(s\) at 120 % CPU each \(now 60\), above the scale-out threshold 75/);
    // CPU: 3 nodes at 20 % -> 2 at 30 %: fine
    const fine = decideScale(
      input({ metric: "cpu", nodes: [node(1, { cpu: 20 }), node(2, { cpu: 20 }), node(3, { cpu: 20 })] }),
    );
    assert.equal(fine.action, "in");
    // sessions: 3 nodes with 45 sessions -> 2 nodes with 22.5 each, above 20
    const sessions = decideScale(
      input({
        nodes: [node(1, { liveSessions: 15 }), node(2, { liveSessions: 15 }), node(3, { liveSessions: 15 })],
      }),
    );
    assert.equal(sessions.action === "skip" && sessions.reason, "Flapping");
    assert.equal(SCALE_THRESHOLDS.sessions.out, 20);
  });

  test("no scale-in on missing metrics; nodes without a reading count at the fleet's average", () => {
    const missing = decideScale(input({ metric: "cpu" }));
    assert.equal(missing.action === "skip" && missing.reason, "MetricsUnavailable");
    assert.deepEqual(fleetLoad("cpu", [node(1, { cpu: 30 }), node(2), node(3, { cpu: 10 })]), {
      average: 20,
      known: 2,
    });
    const partial = decideScale(input({ metric: "cpu", nodes: [node(1, { cpu: 30 }), node(2), node(3, { cpu: 10 })] }));
    assert.equal(partial.action === "in" && partial.projected, 30);
  });
});

describe("scale signals", () => {
  test("a Resolved signal cancels the Fired ones of its alert and node received before it", () => {
    const fired = signal({ alertId: "a", node: "web1-web-1" });
    const otherNode = signal({ alertId: "a", node: "web1-web-2" });
    const resolved = signal({ alertId: "a", node: "web1-web-1", condition: "Resolved" });
    const refired = signal({ alertId: "a", node: "web1-web-1" });
    const s = settleSignals([fired, otherNode, resolved, refired]);
    assert.equal(s.direction, "out");
    assert.deepEqual(
      s.active.map((x) => x.id),
      [otherNode.id, refired.id],
    );
    assert.deepEqual(
      s.done.map((d) => d.ids),
      [[fired.id], [resolved.id]],
    );
    assert.match(s.done[0].outcome, /^cancelled: the alert resolved/);
  });

  test("a Resolved signal with nothing to cancel is consumed; nothing left means no direction", () => {
    const resolved = signal({ condition: "Resolved" });
    const s = settleSignals([resolved]);
    assert.equal(s.direction, undefined);
    assert.deepEqual(s.active, []);
    assert.match(s.done[0].outcome, /nothing to cancel/);
  });

  test("both directions pending: scale-out wins, scale-ins are superseded; heal signals are not scale's", () => {
    const out = signal({ alertId: "o" });
    const inn = signal({ alertId: "i", intent: "scale-in", rule: "web1-scale-in" });
    const heal = signal({ alertId: "h", intent: "heal" });
    const s = settleSignals([inn, out, heal]);
    assert.equal(s.direction, "out");
    assert.deepEqual(
      s.active.map((x) => x.id),
      [out.id],
    );
    assert.deepEqual(s.done, [
      { ids: [inn.id], outcome: "superseded: a scale-out was asked at the same time, and scale-out wins" },
    ]);
    assert.equal(settleSignals([inn]).direction, "in");
  });
});

describe("fleet members", () => {
  const kept = (extra: Partial<FleetMembers> = {}): FleetMembers => ({
    mode: "availabilitySet",
    specSize: 2,
    size: 3,
    ordinals: [1, 2, 4],
    ...extra,
  });

  test("the spec's size until scaling changed it, then the scaled members", () => {
    assert.deepEqual(effectiveFleet(spec(), undefined), {
      mode: "availabilitySet",
      specSize: 2,
      size: 2,
      ordinals: [1, 2],
      source: "spec",
    });
    const scaled = effectiveFleet(spec(), kept());
    assert.equal(scaled.source, "scaled");
    assert.deepEqual(scaled.ordinals, [1, 2, 4]);
    assert.equal(scaled.size, 3);
  });

  test("user intent wins: another fleet.size, mode or bounds reset to the spec, keeping existing node numbers", () => {
    const bigger = effectiveFleet(spec({ size: 4 }), kept());
    assert.equal(bigger.source, "reset");
    assert.match(bigger.resetReason!, /fleet\.size changed from 2 to 4/);
    assert.deepEqual(bigger.ordinals, [1, 2, 3, 4]);
    const three = effectiveFleet(spec({ size: 3 }), kept());
    assert.deepEqual(three.ordinals, [1, 2, 4], "web-4 exists: it is kept, no web-3 is made");
    const bounds = effectiveFleet(spec({ max: 2 }), kept());
    assert.equal(bounds.source, "reset");
    assert.deepEqual(bounds.ordinals, [1, 2]);
    const mode = effectiveFleet(spec({ mode: "scaleSet" }), kept());
    assert.equal(mode.source, "reset");
    assert.deepEqual([mode.size, mode.ordinals], [2, []]);
    const vmss = effectiveFleet(spec({ mode: "scaleSet" }), kept({ mode: "scaleSet", ordinals: [] }));
    assert.deepEqual([vmss.source, vmss.size], ["scaled", 3]);
  });

  test("node numbers: lowest free, resize, from VM names", () => {
    assert.equal(lowestFreeOrdinal([1, 2, 4]), 3);
    assert.equal(lowestFreeOrdinal([2, 3]), 1);
    assert.deepEqual(resizeOrdinals([4, 1, 2], 2), [1, 2]);
    assert.deepEqual(resizeOrdinals([4, 1], 4), [1, 2, 3, 4]);
    assert.equal(ordinalOfVm(spec(), "web1-web-12"), 12);
    assert.equal(ordinalOfVm(spec(), "web1-web-0"), undefined);
    assert.equal(ordinalOfVm(spec(), "other-web-1"), undefined);
  });

  test("the graph is built from the members: node numbers, or the scale set's capacity", () => {
    const ctx = { tenantId: "t", renderCustomData: () => "" };
    const keys = (ordinals?: number[]) =>
      buildStackGraph(spec(), { ...ctx, ...(ordinals ? { webNodeOrdinals: ordinals } : {}) })
        .nodes.map((n) => n.key)
        .filter((k) => /web-\d/.test(k));
    const own = (n: number) => [
      `nic:web-${n}`,
      `vm:web-${n}`,
      `ra:vm:web-${n}:db-app-a-password`,
      `ra:vm:web-${n}:db-app-b-password`,
    ];
    assert.deepEqual(keys(), [...own(1), ...own(2)]);
    assert.deepEqual(keys([1, 3]), [...own(1), ...own(3)]);
    const vmss = buildStackGraph(spec({ mode: "scaleSet" }), { ...ctx, scaleSetCapacity: 4 });
    assert.equal((vmss.nodes.find((n) => n.key === "vmss")!.body.sku as { capacity: number }).capacity, 4);
  });
});

describe("scale-out corroboration", () => {
  const claim = (extra: Partial<StackSignal> = {}): StackSignal => ({
    id: "s1",
    stack: "web1",
    intent: "scale-out",
    condition: "Fired",
    rule: "web1-scale-out",
    signalType: "Metric",
    summary: "Percentage CPU 97 > 75 on web1-web-1",
    alertId: "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a1",
    at: ago(1),
    receivedAt: ago(1),
    ...extra,
  });
  const cpu = (perNode: Record<string, number>): LoadReading => ({ metric: "cpu", perNode, windowMinutes: 15 });

  test("the node the alert names must measure at least the threshold less a tenth", () => {
    const signals = [claim({ node: "web1-web-1", metric: "cpu" })];
    const idle = corroborateScaleOut({ signals, policyMetric: "sessions", readings: [cpu({ "web1-web-1": 12 })] });
    assert.ok(!("corroborated" in idle));
    assert.equal(idle.reason, "NotCorroborated");
    assert.match(idle.message, /Percentage CPU on web1-web-1 measured 12 % over the last 15 minutes, below 67.5 %/);
    const edge = corroborateScaleOut({ signals, policyMetric: "sessions", readings: [cpu({ "web1-web-1": 67.5 })] });
    assert.ok("corroborated" in edge, JSON.stringify(edge));
    const below = corroborateScaleOut({ signals, policyMetric: "sessions", readings: [cpu({ "web1-web-1": 67.4 })] });
    assert.ok(!("corroborated" in below));
    // another busy node does not vouch for the one the alert names
    const other = corroborateScaleOut({
      signals,
      policyMetric: "cpu",
      readings: [cpu({ "web1-web-1": 10, "web1-web-2": 99 })],
    });
    assert.ok(!("corroborated" in other));
  });

  test("an alert on the whole fleet goes by the fleet's average; any borne-out signal is enough", () => {
    const fleetWide = claim({ summary: "Percentage CPU 88 > 75 on fleet-vmss" });
    const readings = [cpu({ a: 90, b: 60 })];
    assert.ok("corroborated" in corroborateScaleOut({ signals: [fleetWide], policyMetric: "cpu", readings }));
    const low = corroborateScaleOut({ signals: [fleetWide], policyMetric: "cpu", readings: [cpu({ a: 70, b: 40 })] });
    assert.ok(!("corroborated" in low));
    const mixed = corroborateScaleOut({
      signals: [claim({ node: "a" }), claim({ id: "s2", node: "b" })],
      policyMetric: "cpu",
      readings: [cpu({ a: 10, b: 80 })],
    });
    assert.ok("corroborated" in mixed);
  });

  test("sessions claims use their own threshold; a claim nobody can measure is not acted on", () => {
    const sessions: LoadReading = { metric: "sessions", perNode: { "web1-web-1": 19 }, windowMinutes: 15 };
    const signal = claim({ node: "web1-web-1", summary: "liveSessions 40 > 20 on web1-web-1" });
    // no metric on the signal (recorded before signals said): the policy's metric is meant
    assert.deepEqual(claimedMetrics([signal], "sessions"), ["sessions"]);
    assert.ok(
      "corroborated" in corroborateScaleOut({ signals: [signal], policyMetric: "sessions", readings: [sessions] }),
    );
    const none = corroborateScaleOut({
      signals: [signal],
      policyMetric: "sessions",
      readings: [{ metric: "sessions", perNode: {}, windowMinutes: 15, error: "metrics query failed: 503" }],
    });
    assert.ok(!("corroborated" in none));
    assert.equal(none.reason, "MetricsUnavailable");
    assert.match(none.message, /no data in the last 15 minutes \(metrics query failed: 503\)/);
    assert.equal(SCALE_THRESHOLDS.sessions.out * CORROBORATION_SHARE, 18);
  });
});
