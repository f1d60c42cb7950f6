// upgradeStack: the stack's rolling upgrade of the Guacamole release (instance `upgrade-<stack>`),
// started by a PUT that changes guacamole.version of a deployed stack (and nothing else), under that
// PUT's claim: one writer, so a second PUT meanwhile gets 409.
//
//   1. prepare: where the new release's nodes boot from (prepareBootSource), refused before anything
//      happens when the catalog lacks it. With nodeImage enabled, the target release's image version:
//      reused when the gallery has it, else its build (`image-<stack>-<version>`, trigger "upgrade")
//      is started and waited for on durable timers (after the fleet check, with the Upgrading
//      condition saying WaitingForNodeImage), the gallery looked at again each time, at most
//      IMAGE_WAIT; a failed or refused build or the end of the wait means from source, said in the
//      status and the audit trail (README "Node images": the fallback), never a stalled upgrade
//   2. backup: an on-demand backup of the flexible server, recorded as the stack's last backup
//   3. one node at a time: a new node of the target release comes up through the scale-out path
//      (one member more in the stack graph, the engine, bringUp with the join plan) when fleet.max
//      leaves room (surge), else the old node goes first, which only happens when the others
//      serving stay at fleet.min or more. The first new node joins drained: Guacamole's upgrade
//      scripts run through it, once (`jumpgate-node schema-upgrade`, guarded by a marker row), and
//      only then does it take traffic. The old node is drained (its sessions end or the drain
//      deadline passes) and removed.
//   4. done: the status (observed.upgrade), the conditions and the audit trail say so.
//
// A scale set fleet takes the same steps: the scale-out writes the scale set's model with the target
// release (its custom data goes again because its digest tag changed, and with node images its
// imageReference is the target's image version), so the instance the scale set makes runs the
// target; an old instance is removed by deleting it.
//
// A failed step stops the upgrade: the node being brought up is removed again; when the failure
// comes after it was up (schema, drain, removal of the old node), it is drained and removed too and
// the old node serves again, so the pair in progress ends as it began. Pairs finished before stay
// (their new nodes passed the same checks). The old release's remaining nodes keep serving; the
// UpgradeFailed condition and the audit event say which step failed and why. A scale set's model,
// once written with the target, is put back to the old release (restoreModel) while old nodes are
// left, and the audit event says what it holds. A PUT of the same
// version resumes; a PUT of the old one rolls back through the same path.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { webNodeGraphNodes } from "../../shared/graph/stack-graph";
import type { BootImage } from "../../shared/graph/stack-graph";
import type { GraphNode, StackGraph } from "../../shared/graph/types";
import type { NodeSummary, WebNodeRef } from "../../shared/node/model";
import {
  membersOf,
  newMembers,
  ordinalOfVm,
  withOneFewer,
  withOneMore,
  type FleetMembers,
} from "../../shared/scale/fleet";
import type { StackSpec } from "../../shared/spec/types";
import type { BackupObserved, UpgradeObserved } from "../../shared/stack-status";
import { nodesToReplace, serving, upgradeRoom } from "../../shared/upgrade/policy";
import type { ScaleView } from "../activities/scale";
import type { BootSource } from "../activities/upgrade";
import { Names } from "../names";
import { bringUp, drainNode, liveSessionsOf, runAgent, succeeded, whyFailed } from "../workflow/node-steps";
import { worker, type Worker, type WorkerStatus } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";

export interface UpgradeInput {
  stack: string;
  /** the oldest release the fleet ran when the PUT came (the schema is assumed at it when it carries no marker) */
  from: string;
  /** the spec's release */
  to: string;
  /** seconds between looks at a node coming up or draining (default 30) */
  pollSeconds?: number;
}

export type UpgradeStep = "prepare" | "backup" | "bring-up" | "schema" | "drain" | "remove" | "record";

export type UpgradePhase =
  | "preparing"
  | "backing-up"
  | "bringing-up"
  | "upgrading-schema"
  | "draining"
  | "removing"
  | "rolling-back"
  | "succeeded"
  | "failed";

export interface UpgradeStatus extends WorkerStatus<"upgrade", UpgradePhase> {
  from: string;
  to: string;
  step: UpgradeStep;
  /** the node being brought up, drained or removed */
  node?: string;
  replaced: { old: string; new: string }[];
  backup?: string;
  message?: string;
}

export interface UpgradeOutput {
  stack: string;
  from: string;
  to: string;
  outcome: "succeeded" | "failed";
  step: UpgradeStep;
  message?: string;
  replaced: { old: string; new: string }[];
  backup?: string;
  schema?: UpgradeObserved["schema"];
}

/** A step that failed, and what it left behind. */
class StepFailure extends Error {
  constructor(
    readonly step: UpgradeStep,
    message: string,
  ) {
    super(message);
  }
}

const PHASE_OF: Record<UpgradeStep, UpgradePhase> = {
  prepare: "preparing",
  backup: "backing-up",
  "bring-up": "bringing-up",
  schema: "upgrading-schema",
  drain: "draining",
  remove: "removing",
  record: "succeeded",
};

/** One run: the worker, the stack as read at the start, the members as they change. */
interface Run {
  w: Worker<UpgradeStatus>;
  spec: StackSpec;
  view: ScaleView;
  members: FleetMembers;
  record: UpgradeObserved;
  pollMs: number;
  /** the stack graph as last built (its members' graph nodes are what removing one takes) */
  graph?: StackGraph;
  /** the target release's image version the new nodes boot from, when there is one */
  bootImage?: BootImage;
  /** scale set: the model was written with the target release (a failure puts it back) */
  modelWritten?: boolean;
}

/**
 * How long the upgrade waits for the target release's image: the build's own bake bound
 * (build-node-image.ts BAKE_WAIT, 90 minutes) plus 30 for creating the builder, sealing,
 * generalizing and capturing (a gallery version takes minutes to replicate); a look each minute.
 */
export const IMAGE_WAIT = { pollSeconds: 60, maxMinutes: 120 } as const;

/** A new node, up and joined: what removing it again takes. */
interface NewNode {
  ref: WebNodeRef;
  ordinal: number | undefined;
  graph: StackGraph;
  graphNodes: GraphNode[];
  summary: NodeSummary;
  /** the members before it came */
  before: FleetMembers;
}

export const upgradeStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<UpgradeInput>();
  const { stack, from, to } = input;
  const w = worker<UpgradeStatus>(
    context,
    { operation: "upgrade", stack, phase: "preparing", from, to, step: "prepare", replaced: [] },
    { from, to },
  );
  const { status } = w;
  const record: UpgradeObserved = {
    from,
    to,
    instanceId: w.instanceId,
    startedAt: w.now().toISOString(),
    state: "running",
    step: "prepare",
    replaced: [],
  };
  w.publish();
  let run: Run | undefined;
  try {
    const view = yield* w.call("readHealFleet", { stack });
    if (!view.registered || !view.spec || !view.fleet) throw new StepFailure("prepare", "the stack is not registered");
    const spec = view.spec;
    if (spec.guacamole.version !== to) {
      throw new StepFailure("prepare", `the spec asks for Guacamole ${spec.guacamole.version} now, not ${to}`);
    }
    run = { w, spec, view, members: membersOf(view.fleet), record, pollMs: (input.pollSeconds ?? 30) * 1000 };
    yield* upgrade(run);
    return output("succeeded");
  } catch (error) {
    const step = error instanceof StepFailure ? error.step : status.step;
    const message = failureMessage(error);
    status.phase = "failed";
    status.step = step;
    status.message = message;
    w.clearWait();
    w.publish();
    record.state = "failed";
    record.step = step;
    record.message = message;
    let left = "";
    try {
      if (run) left = describeFleet(yield* observe(run), to);
    } catch (e) {
      left = `the fleet could not be looked at (${failureMessage(e)})`;
    }
    // a scale set's model written with the target goes back, so that its next instance is not of a
    // release the fleet does not run
    if (run?.modelWritten) left = `${left}; ${yield* restoreModel(run)}`;
    yield* w.call("recordUpgrade", {
      stack,
      upgrade: record,
      conditions: [
        { type: "Upgrading", status: "False", reason: "UpgradeFailed", message: `stopped at step ${step}` },
        { type: "UpgradeFailed", status: "True", reason: reasonOf(step), message: `${from} -> ${to}: ${message}` },
      ],
    });
    yield* w.audit("upgrade failed", `step ${step}: ${message}${left ? `; ${left}` : ""}`, {
      step,
      replaced: record.replaced,
    });
    return output("failed");
  } finally {
    yield* w.call("releaseOperation", { stack, instanceId: w.instanceId });
  }

  function output(outcome: UpgradeOutput["outcome"]): UpgradeOutput {
    return {
      stack,
      from,
      to,
      outcome,
      step: status.step,
      ...(status.message ? { message: status.message } : {}),
      replaced: record.replaced,
      ...(status.backup ? { backup: status.backup } : {}),
      ...(record.schema ? { schema: record.schema } : {}),
    };
  }
};

function reasonOf(step: UpgradeStep): string {
  const words: Record<UpgradeStep, string> = {
    prepare: "PrepareFailed",
    backup: "BackupFailed",
    "bring-up": "NewNodeFailed",
    schema: "SchemaUpgradeFailed",
    drain: "DrainFailed",
    remove: "RemoveFailed",
    record: "RecordFailed",
  };
  return words[step];
}

function* upgrade(run: Run): Step<void> {
  const { w, spec, record } = run;
  const { status, stack } = w;
  const { from, to } = record;

  // 1. where the new nodes boot from: the target release's image, once it is there
  enter(run, "prepare");
  let boot = yield* w.call("prepareBootSource", { spec, version: to });
  // a fleet that cannot lose a node and has no room for one more is refused before anything is done
  // (and before any wait for an image)
  const first = yield* observe(run);
  const candidate = nodesToReplace(first, to)[0];
  const room = candidate ? upgradeRoom(spec.fleet, run.members.size, first, candidate.name) : undefined;
  if (room?.mode === "blocked") throw new StepFailure("prepare", room.reason);
  if (boot.awaiting) {
    // the wait can take long: the stack says what it waits for meanwhile
    if (boot.imageVersion) record.bootImage = boot.imageVersion;
    record.bootReason = `waiting for the node image: ${boot.reason}`;
    yield* w.call("recordUpgrade", {
      stack,
      upgrade: record,
      conditions: [{ type: "Upgrading", status: "True", reason: "WaitingForNodeImage", message: record.bootReason }],
    });
    boot = yield* awaitImage(run, boot);
  }
  record.bootSource = boot.source;
  if (boot.imageVersion) record.bootImage = boot.imageVersion;
  if (spec.nodeImage?.enabled) record.bootReason = boot.reason;
  if (boot.source === "image" && boot.imageId && boot.imageVersion) {
    run.bootImage = { id: boot.imageId, version: boot.imageVersion };
  }
  yield* w.call("recordUpgrade", {
    stack,
    upgrade: record,
    conditions: [
      { type: "Upgrading", status: "True", reason: "UpgradeRunning", message: `Guacamole ${from} -> ${to}` },
      { type: "UpgradeFailed", status: "False", reason: "UpgradeRunning", message: `Guacamole ${from} -> ${to}` },
    ],
  });
  yield* w.audit("upgrade started", `guacamole.version ${from} -> ${to}`, {
    bootSource: boot.source,
    ...(boot.imageVersion ? { imageVersion: boot.imageVersion } : {}),
    why: boot.reason,
  });

  // 2. the backup, before anything changes
  enter(run, "backup");
  let backup: BackupObserved;
  try {
    backup = yield* w.call("backupDatabase", {
      spec,
      purpose: `pre-upgrade-${to.replace(/\./g, "-")}`,
      reason: `before upgrading Guacamole ${from} -> ${to}`,
      instanceId: w.instanceId,
    });
  } catch (error) {
    throw new StepFailure("backup", `the on-demand backup failed: ${failureMessage(error)}; nothing was changed`);
  }
  status.backup = backup.name;
  yield* w.audit("database backed up", `before upgrading Guacamole ${from} -> ${to}`, {
    backup: backup.name,
    ...(backup.completedTime ? { completedTime: backup.completedTime } : {}),
  });

  // 3. one node at a time
  let schemaDone = false;
  for (;;) {
    const nodes = yield* observe(run);
    const next = nodesToReplace(nodes, to)[0];
    if (!next) break;
    const room = upgradeRoom(spec.fleet, run.members.size, nodes, next.name);
    if (room.mode === "blocked") throw new StepFailure("bring-up", room.reason);
    status.node = next.name;
    let added: NewNode;
    if (room.mode === "surge") {
      added = yield* addNode(run, !schemaDone);
      try {
        if (!schemaDone) {
          yield* upgradeSchema(run, added.ref.name);
          schemaDone = true;
          yield* undrain(run, added.ref.name, "schema");
        }
        yield* retire(run, next);
      } catch (error) {
        // the pair ends as it began: the new node goes again, the old one serves
        yield* rollBackPair(run, added, next.name);
        throw error;
      }
    } else {
      yield* retire(run, next);
      added = yield* addNode(run, !schemaDone);
      if (!schemaDone) {
        try {
          yield* upgradeSchema(run, added.ref.name);
        } catch (error) {
          yield* removeNew(run, added);
          throw error;
        }
        schemaDone = true;
        yield* undrain(run, added.ref.name, "schema");
      }
    }
    record.replaced.push({ old: next.name, new: added.ref.name });
    status.replaced = record.replaced;
    yield* w.call("recordUpgrade", { stack, upgrade: record });
    yield* w.audit(
      "node upgraded",
      `${next.name} (Guacamole ${next.guacamoleVersion ?? "?"}) replaced by ${added.ref.name} (${to})`,
      {
        old: next.name,
        new: added.ref.name,
        mode: room.mode,
      },
    );
  }

  // every node runs the target: a schema not upgraded by now (every node was new already) is, through one of them
  if (!schemaDone) {
    const nodes = yield* observe(run);
    const through = nodes.find((n) => serving(n) && n.guacamoleVersion === to);
    if (!through) throw new StepFailure("schema", `no serving node runs ${to} to upgrade the schema through`);
    yield* upgradeSchema(run, through.name);
  }

  // 4. done
  enter(run, "record");
  record.state = "succeeded";
  status.phase = "succeeded";
  delete status.node;
  w.publish();
  yield* w.call("recordUpgrade", {
    stack,
    upgrade: record,
    conditions: [
      { type: "Upgrading", status: "False", reason: "UpgradeSucceeded", message: `every node runs Guacamole ${to}` },
      { type: "UpgradeFailed", status: "False", reason: "UpgradeSucceeded", message: `Guacamole ${from} -> ${to}` },
    ],
  });
  yield* w.audit("upgrade succeeded", `guacamole.version ${from} -> ${to}: every node runs ${to}`, {
    replaced: record.replaced,
    backup: status.backup,
    schema: record.schema ?? null,
  });
}

/**
 * The target release's image is not there yet: its build is started (a running one is the answer)
 * and the gallery and the build looked at until the version is there, the build ends without one,
 * or IMAGE_WAIT passes. Never fails the upgrade: a missing image means from source, and why.
 */
function* awaitImage(run: Run, first: BootSource): Step<BootSource> {
  const { w, spec, record } = run;
  const version = first.imageVersion ?? "";
  const started = yield* w.call("startNodeImageBuild", { spec, version, trigger: "upgrade" });
  yield* w.audit(
    "upgrade waits for node image",
    `${first.reason}: ${started.started ? "its build was started" : "its build runs"} (${started.instanceId})`,
    { imageVersion: version, build: started.instanceId },
  );
  const deadline = w.after(IMAGE_WAIT.maxMinutes * 60_000);
  let boot: BootSource;
  for (let looks = 1; ; looks++) {
    w.waiting("preparing", `node image ${version} of Guacamole ${record.to} (look ${looks})`, deadline);
    yield* w.sleep(w.after(IMAGE_WAIT.pollSeconds * 1000));
    boot = yield* w.call("lookAtUpgradeImage", { spec, version: record.to, buildInstanceId: started.instanceId });
    if (!boot.awaiting) break;
    if (w.now().getTime() >= deadline.getTime()) {
      boot = {
        source: "source",
        imageVersion: version,
        reason: `image version ${version} was not there after ${IMAGE_WAIT.maxMinutes} minutes (${boot.reason}): new nodes install the release at first boot`,
      };
      break;
    }
  }
  w.clearWait();
  w.publish();
  if (boot.source === "source") {
    yield* w.audit("upgrade goes on from source", boot.reason, { imageVersion: version, build: started.instanceId });
  }
  return boot;
}

function enter(run: Run, step: UpgradeStep): void {
  const { w, record } = run;
  w.status.step = step;
  w.status.phase = PHASE_OF[step];
  record.step = step;
  w.clearWait();
  w.publish();
}

/** The members as they are now, each with its health and release. */
function* observe(run: Run): Step<NodeSummary[]> {
  return yield* run.w.call("observeScaleFleet", { spec: run.spec, ordinals: run.members.ordinals, cpuMinutes: 0 });
}

function describeFleet(nodes: NodeSummary[], to: string): string {
  const text = nodes.map((n) => `${n.name} ${n.guacamoleVersion ?? "?"}${serving(n) ? "" : " (not serving)"}`);
  const old = nodes.filter((n) => serving(n) && n.guacamoleVersion !== to).length;
  return `serving on ${old} node(s) of the old release; fleet: ${text.join(", ")}`;
}

/** One node of the target release through the scale-out path; removed again when it does not come up. */
function* addNode(run: Run, drained: boolean): Step<NewNode> {
  const { w, spec, view } = run;
  const { stack } = w;
  enter(run, "bring-up");
  const before = run.members;
  const { members: next, ordinal } = withOneMore(before);
  // the target's spec and, when it is there, its image: the new node boots that release
  const graph = yield* w.call("buildStackGraph", {
    spec,
    members: next,
    ...(run.bootImage ? { bootImage: run.bootImage } : {}),
  });
  run.graph = graph;
  const graphNodes = webNodeGraphNodes(graph, ordinal);
  const existing = yield* w.call("listWebNodes", { spec });
  // a scale set's instance comes from its model: the write below moves the model to the target
  if (spec.fleet.mode === "scaleSet") run.modelWritten = true;
  // the new member counts from here on: a teardown or drift check in a crash window covers it
  yield* w.call("recordFleet", { stack, members: next });
  run.members = next;
  let added: WebNodeRef[] = [];
  try {
    for (const node of graphNodes) yield* w.call("applyResource", { node });
    added = newMembers(yield* w.call("listWebNodes", { spec }), existing, spec, ordinal);
    if (added.length === 0) throw new Error("no new web VM appeared after the fleet was enlarged");
    w.status.node = added[0].name;
    w.publish();
    const certificate = yield* w.call("fleetCertificate", { spec });
    const readyMinutes = view.nodeReadyTimeoutMinutes ?? 30;
    const observed = yield* bringUp(w, {
      spec,
      nodes: added,
      deadline: w.after(readyMinutes * 60_000),
      timeoutMinutes: readyMinutes,
      pollMs: run.pollMs,
      join: {
        appUser: view.dbUserSlot ?? "a",
        ...(certificate ? { certificate: { secret: certificate } } : {}),
        ...(view.signIn ? { signIn: view.signIn } : {}),
        // the first new node takes no client before the schema is upgraded through it
        ...(drained ? { drained: true } : {}),
      },
    });
    const summary = observed[0];
    if (summary.guacamoleVersion !== undefined && summary.guacamoleVersion !== run.record.to) {
      throw new Error(`${summary.name} came up with Guacamole ${summary.guacamoleVersion}, not ${run.record.to}`);
    }
    yield* w.call("recordScaleObserved", { stack, add: observed });
    return { ref: added[0], ordinal, graph, graphNodes, summary, before };
  } catch (error) {
    const failure = failureMessage(error);
    const left = yield* removeMember(run, added, graph, graphNodes, ordinal);
    if (left === undefined) {
      yield* w.call("recordFleet", { stack, members: before });
      run.members = before;
    }
    throw new StepFailure("bring-up", `the new node did not come up (${failure}); ${left ?? "it was removed again"}`);
  }
}

/**
 * After a failure, the scale set's model goes back to the release the old nodes run (its custom
 * data, and with node images that release's image, as a deploy of it would resolve), through the
 * engine at the members there are now; it stays at the target when no node of another release is
 * left. Never throws: says what the model holds.
 */
function* restoreModel(run: Run): Step<string> {
  const { w, spec, record } = run;
  try {
    const nodes = yield* observe(run);
    if (!nodes.some((n) => n.exists !== false && n.guacamoleVersion !== record.to)) {
      return `the scale set's model stays at ${record.to}: every node runs it`;
    }
    const old = { ...spec, guacamole: { ...spec.guacamole, version: record.from } };
    const graph = yield* w.call("buildStackGraph", { spec: old, members: run.members });
    for (const node of webNodeGraphNodes(graph, undefined)) yield* w.call("applyResource", { node });
    run.modelWritten = false;
    return `the scale set's model is back at ${record.from}`;
  } catch (error) {
    return `the scale set's model could not be put back (${failureMessage(error)}): it holds ${record.to}, so an instance it makes now runs ${record.to}`;
  }
}

/** Guacamole's upgrade scripts, once, through one node of the target release. */
function* upgradeSchema(run: Run, node: string): Step<void> {
  const { w, spec, record } = run;
  enter(run, "schema");
  w.status.node = node;
  w.publish();
  const answer = yield* runAgent(w, spec, node, "schema-upgrade", ["--from", record.from, "--to", record.to]);
  if (!succeeded(answer)) {
    throw new StepFailure("schema", `the schema upgrade through ${node} failed: ${whyFailed(answer)}`);
  }
  const json = (answer.json ?? {}) as { upgraded?: unknown; applied?: unknown; version?: unknown };
  record.schema = {
    upgraded: json.upgraded === true,
    applied: Array.isArray(json.applied) ? json.applied.map(String).slice(0, 50) : [],
    through: node,
    version: typeof json.version === "string" ? json.version : record.to,
  };
  yield* w.call("recordUpgrade", { stack: w.stack, upgrade: record });
  yield* w.audit(
    record.schema.upgraded ? "schema upgraded" : "schema already upgraded",
    record.schema.upgraded
      ? `Guacamole's upgrade scripts ${record.from} -> ${record.to} ran through ${node}: ${record.schema.applied.join(", ") || "none needed"}`
      : `the schema is at ${record.schema.version} already: nothing ran`,
    { node, applied: record.schema.applied, version: record.schema.version },
  );
}

/**
 * An old node goes: never while that would leave fewer than fleet.min serving; drained (its
 * sessions end, or the drain deadline passes), then removed. A failure lets it serve again.
 */
function* retire(run: Run, old: NodeSummary): Step<void> {
  const { w, spec } = run;
  const { stack } = w;
  enter(run, "drain");
  w.status.node = old.name;
  w.publish();
  const nodes = yield* observe(run);
  const others = nodes.filter((n) => n.name !== old.name && serving(n)).length;
  if (others < spec.fleet.min) {
    throw new StepFailure(
      "drain",
      `draining ${old.name} would leave ${others} serving node(s), fewer than fleet.min (${spec.fleet.min})`,
    );
  }
  const drained = yield* drainNode(w, spec, old.name, {
    draining: false,
    required: true,
    sessions: () => undefined,
    look: function* () {
      return liveSessionsOf(yield* runAgent(w, spec, old.name, "health"));
    },
    timeoutMs: spec.policies.scale.drainTimeoutMinutes * 60_000,
    pollMs: run.pollMs,
    lastWait: "to-deadline",
  });
  if (drained.outcome === "failed") {
    yield* undrain(run, old.name, "drain");
    throw new StepFailure("drain", `${old.name} could not be drained (${drained.detail})`);
  }
  enter(run, "remove");
  w.status.node = old.name;
  w.publish();
  const ordinal = ordinalOfVm(spec, old.name);
  // the graph the last new node was built with holds the old node too; else (remove-first) build it
  const cached = run.graph;
  const graph =
    cached && ordinal !== undefined && cached.nodes.some((n) => n.key === `vm:web-${ordinal}`)
      ? cached
      : yield* w.call("buildStackGraph", { spec, members: run.members });
  const graphNodes =
    spec.fleet.mode === "availabilitySet" && ordinal !== undefined ? webNodeGraphNodes(graph, ordinal) : [];
  const left = yield* removeMember(run, [{ name: old.name, id: old.id }], graph, graphNodes, ordinal);
  if (left !== undefined) {
    yield* undrain(run, old.name, "remove");
    throw new StepFailure("remove", `${old.name} was drained but ${left}; it serves again`);
  }
  run.members = withOneFewer(run.members, ordinal);
  yield* w.call("recordFleet", { stack, members: run.members });
  yield* w.call("recordScaleObserved", { stack, remove: old.name });
}

/** After a failure once the new node was up: it is drained and removed, the old node serves again. */
function* rollBackPair(run: Run, added: NewNode, old: string): Step<void> {
  const { w } = run;
  w.status.phase = "rolling-back";
  w.publish();
  yield* undrain(run, old, w.status.step);
  yield* removeNew(run, added);
}

function* removeNew(run: Run, added: NewNode): Step<void> {
  const { w, spec } = run;
  const { stack } = w;
  yield* drainNode(w, spec, added.ref.name, {
    draining: false,
    required: false,
    sessions: (answer) => (answer ? liveSessionsOf(answer) : undefined),
    look: function* () {
      return liveSessionsOf(yield* runAgent(w, spec, added.ref.name, "health"));
    },
    timeoutMs: spec.policies.scale.drainTimeoutMinutes * 60_000,
    pollMs: run.pollMs,
    lastWait: "whole-polls",
  });
  const left = yield* removeMember(run, [added.ref], added.graph, added.graphNodes, added.ordinal);
  if (left === undefined) {
    run.members = withOneFewer(run.members, added.ordinal);
    yield* w.call("recordFleet", { stack, members: run.members });
    yield* w.call("recordScaleObserved", { stack, remove: added.ref.name });
  } else {
    // it stays a member, drained: the fleet state still covers it for the drift check and teardown
    yield* w.audit("upgrade rollback incomplete", `new node ${added.ref.name} was drained but ${left}`, {
      node: added.ref.name,
    });
  }
}

/** Drain off; a node that can't be reached is said in the audit trail, not fatal. */
function* undrain(run: Run, vmName: string, step: string): Step<void> {
  const { w, spec } = run;
  const answer = yield* runAgent(w, spec, vmName, "drain", ["off"]);
  if (succeeded(answer)) return;
  if (step === "schema") {
    throw new StepFailure("schema", `${vmName} could not take traffic after the schema upgrade: ${whyFailed(answer)}`);
  }
  yield* w.audit("drain off failed", `${vmName} may still answer the probe with 503: ${whyFailed(answer)}`, {
    node: vmName,
  });
}

/**
 * Removes one member: availability set, its graph nodes in teardown order (role assignments, VM,
 * NIC); scale set, the instance. Undefined when removed; else why not.
 */
function* removeMember(
  run: Run,
  refs: WebNodeRef[],
  graph: StackGraph,
  graphNodes: GraphNode[],
  ordinal: number | undefined,
): Step<string | undefined> {
  const { w, spec } = run;
  try {
    if (spec.fleet.mode === "availabilitySet") {
      if (ordinal === undefined) throw new Error("no node number");
      for (const n of [...graphNodes].reverse()) {
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
    return `was not removed (${failureMessage(error)}); it stays a member until someone looks`;
  }
}

df.app.orchestration(Names.orchestrators.upgradeStack, upgradeStack);
