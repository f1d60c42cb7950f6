// Surge, for healStackV2's repair of one node (heal-repair.ts): the cheap step (start, restart,
// redeploy) has run and the node is not healthy at the first look. When the fleet has room below
// `fleet.max`, a replacement comes up at once through the scale-out path (one member more in the
// stack graph, the engine, bringUp: it joins with the certificate, the sign-in settings and the
// stack's database user), while the broken node boots on Azure's side. Then the race is judged:
// the broken node healthy by now means the cheap step won, and the replacement is drained and
// removed; otherwise the replacement won, and the broken node is removed. Either way the fleet is
// back to its size. A replacement that does not come up is removed again and the cheap step's
// verification goes on as without surge.
import { webNodeGraphNodes } from "../../shared/graph/stack-graph";
import type { GraphNode, StackGraph } from "../../shared/graph/types";
import type { NodeObservation, WebNodeRef } from "../../shared/node/model";
import { membersOf, newMembers, ordinalOfVm, withOneFewer, withOneMore } from "../../shared/scale/fleet";
import type { StackSpec } from "../../shared/spec/types";
import { appUserOfPeers } from "../../shared/node/join";
import { bootSourceOf, FIRST_BOOT_ESTIMATE_MS, provisionsWebVm } from "../../shared/node/first-boot";
import { bringUp, drainNode, liveSessionsOf, runAgent } from "../workflow/node-steps";
import type { Worker } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";
import type { Assessment, HealRound } from "./heal-repair";
import type { HealStatus } from "./heal-stack";

export type SurgeResult =
  /** no surge (no room, or the cheap step won): verify the node as usual; `seen` is a first look, `note` what happened */
  | { surged: false; seen?: NodeObservation; note?: string }
  /** the replacement won: `node` serves in place of the broken node, which is gone (or `detail` says why not) */
  | { surged: true; node: string; detail: string };

/** Whether a surge may run at all for this step: the fleet, as heal saw it, is below `fleet.max`. */
export function surgeMayRun(a: Assessment, fresh: boolean): boolean {
  return !fresh && a.observations.length < a.take.spec.fleet.max;
}

export function* surgeRace(r: HealRound, a: Assessment, node: string): Step<SurgeResult> {
  const { w } = r;
  const { status } = w;
  const { spec } = a.take;
  const stack = spec.name;
  const seen = yield* w.call("observeWebNode", { spec, vmName: node });
  if (seen.agent.healthy) return { surged: false, seen };
  const view = yield* w.call("readHealFleet", { stack });
  if (!view.registered || !view.fleet || view.fleet.size >= spec.fleet.max) return { surged: false, seen };

  // ---- 1. the replacement, as a scale-out brings a node in
  const before = membersOf(view.fleet);
  const { members: next, ordinal } = withOneMore(before);
  status.phase = "surging";
  status.waitingFor = `a replacement for ${node} (fleet ${before.size} -> ${next.size} until one of them wins)`;
  w.publish();
  const graph = yield* w.call("buildStackGraph", { spec, members: next });
  const nodes = webNodeGraphNodes(graph, ordinal);
  const existing = yield* w.call("listWebNodes", { spec });
  // the new member counts from here on: a teardown or drift check in a crash window covers it
  yield* w.call("recordFleet", { stack, members: next });
  let added: WebNodeRef[] = [];
  let observed;
  let raceLook: NodeObservation | undefined;
  try {
    // the new VM's first boot starts when its write ends: bring-up looks again when it can have ended
    let firstBootEndsAt: Date | undefined;
    for (const n of nodes) {
      yield* w.call("applyResource", { node: n });
      if (provisionsWebVm(n)) firstBootEndsAt = w.after(FIRST_BOOT_ESTIMATE_MS[bootSourceOf(nodes) ?? "source"]);
    }
    added = newMembers(yield* w.call("listWebNodes", { spec }), existing, spec, ordinal);
    if (added.length === 0) throw new Error("no new web VM appeared after the fleet was enlarged");
    const certificate = yield* w.call("fleetCertificate", { spec });
    const readyMinutes = view.nodeReadyTimeoutMinutes ?? a.take.nodeReadyTimeoutMinutes;
    observed = yield* bringUp(w, {
      spec,
      nodes: added,
      deadline: w.after(readyMinutes * 60_000),
      timeoutMinutes: readyMinutes,
      pollMs: r.pollMs,
      firstBootEndsAt,
      // v4: the race's look at the broken node goes with the replacement's health look
      ...(r.raceAlongside
        ? {
            alongside: {
              task: () => w.task("observeWebNode", { spec, vmName: node }),
              onAnswer: (answer: unknown) => (raceLook = answer as NodeObservation),
            },
          }
        : {}),
      join: {
        appUser: view.dbUserSlot ?? appUserOfPeers(a.observations.map((o) => o.agent)) ?? "a",
        ...(certificate ? { certificate: { secret: certificate } } : {}),
        ...(view.signIn ? { signIn: view.signIn } : {}),
      },
    });
  } catch (error) {
    const failure = failureMessage(error);
    if (added.length === 0 && spec.fleet.mode === "scaleSet") {
      added = newMembers(yield* w.call("listWebNodes", { spec }), existing, spec, undefined);
    }
    const removed = yield* removeMember(w, spec, graph, added, nodes, ordinal);
    if (removed === undefined) yield* w.call("recordFleet", { stack, members: before });
    const note = `surge replacement did not come up (${failure}); ${removed ?? "removed again"}`;
    yield* w.audit(`surge replacement for ${node} failed`, note, { node });
    status.phase = "verifying";
    w.clearWait();
    w.publish();
    return { surged: false, note };
  }
  const surgeNode = added[0].name;

  // ---- 2. the race: the broken node healthy by now (v4: at the look that found the replacement
  // healthy) means the cheap step won
  const again = raceLook ?? (yield* w.call("observeWebNode", { spec, vmName: node }));
  if (again.agent.healthy) {
    yield* drainNode(w, spec, surgeNode, {
      draining: false,
      required: false,
      sessions: (answer) => (answer ? liveSessionsOf(answer) : undefined),
      look: function* () {
        return liveSessionsOf(yield* runAgent(w, spec, surgeNode, "health"));
      },
      timeoutMs: spec.policies.scale.drainTimeoutMinutes * 60_000,
      pollMs: r.pollMs,
      lastWait: "whole-polls",
    });
    const removed = yield* removeMember(w, spec, graph, added, nodes, ordinal);
    if (removed === undefined) yield* w.call("recordFleet", { stack, members: before });
    status.phase = "verifying";
    w.clearWait();
    w.publish();
    return {
      surged: false,
      seen: again,
      note: `the cheap step won the race: surge node ${surgeNode} ${removed ?? "drained and removed"}`,
    };
  }

  // ---- 3. the replacement won: the broken node goes (it was drained before its step if it answered)
  const brokenOrdinal = ordinalOfVm(spec, node);
  const brokenRef = [{ name: node, id: "" }];
  const removed = yield* removeMember(w, spec, graph, brokenRef, undefined, brokenOrdinal);
  if (removed === undefined) {
    yield* w.call("recordFleet", { stack, members: withOneFewer(next, brokenOrdinal) });
    yield* w.call("recordScaleObserved", { stack, add: observed, remove: node });
  } else {
    yield* w.call("recordScaleObserved", { stack, add: observed });
  }
  w.clearWait();
  w.publish();
  return {
    surged: true,
    node: surgeNode,
    detail: `surge node ${surgeNode} healthy first; ${node} ${removed ?? "removed"}`,
  };
}

/**
 * Removes one member: availability set, its graph nodes in teardown order (role assignments, VM,
 * NIC); scale set, the instance. Undefined when removed; else why not (the member stays in the
 * fleet state, so the drift check and teardown still cover it).
 */
function* removeMember(
  w: Worker<HealStatus>,
  spec: StackSpec,
  graph: StackGraph,
  refs: WebNodeRef[],
  /** the member's graph nodes (availability set); undefined: those of `ordinal` in `graph` */
  nodes: GraphNode[] | undefined,
  ordinal: number | undefined,
): Step<string | undefined> {
  try {
    if (spec.fleet.mode === "availabilitySet") {
      if (ordinal === undefined) throw new Error("no node number");
      for (const n of [...(nodes ?? webNodeGraphNodes(graph, ordinal))].reverse()) {
        const removed = yield* w.call("removeResource", { node: n, tag: graph.tag });
        if (removed.action === "refused") {
          throw new Error(`${n.key}: refused (${removed.reason ?? "not tagged for this stack"})`);
        }
      }
    } else {
      for (const ref of refs) yield* w.call("removeScaleSetInstance", { spec, vmName: ref.name });
    }
    return undefined;
  } catch (error) {
    return `not removed (${failureMessage(error)}); it stays a member until someone looks`;
  }
}
