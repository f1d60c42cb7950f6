// deployStack: make Azure match the spec, then make the nodes work. Resources go in dependency order
// with as much parallelism as the graph allows; then the database schema is bootstrapped once through
// one node, every node gets working database credentials, and the deploy waits until every node's
// agent says healthy. Progress is in the custom status; the stack is released at the end whatever
// happens, and the outcome is recorded in the registry and the audit trail. A resource at one of the
// stack's ids that is not the stack's fails its node (nothing behind it starts); the failure names it
// as a 409 problem in the custom status and sets the stack's `ResourcesOwned` condition.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { foreignResourceProblem, foreignResources, ownershipCondition } from "../../shared/arm/ownership";
import type { StackGraph } from "../../shared/graph/types";
import type { Problem } from "../../shared/http/problem";
import type { AppUserSlot } from "../../shared/node/constants";
import type { NodeSummary } from "../../shared/node/model";
import type { StackSpec } from "../../shared/spec/types";
import { stackNames } from "../../shared/graph/names";
import type { DatabaseObserved, ObservedResource } from "../../shared/stack-status";
import { nodeOrDatabaseWrites } from "../../shared/graph/stack-graph";
import { bootImageOf, type NodeImageResolution } from "../../shared/node/image-resolution";
import type { RecordObservedInput } from "../activities/registry";
import { nodeImageEnabled } from "../../shared/graph/image-graph";
import { Names } from "../names";
import { describeFailure, runGraph, type GraphProgress } from "../workflow/graph-runner";
import { bringUp } from "../workflow/node-steps";
import { failureMessage, workflow, type Step, type Workflow } from "../workflow/workflow";
import { syncAccess, type AccessOutcome, type AccessProgress } from "./access-sync";
import { syncConnections, type ConnectionSyncOutcome } from "./connection-sync";

export interface DeployInput {
  spec: StackSpec;
  generation: number;
  /** how long to wait for nodes to come up (cloud-init builds guacd on first boot) */
  nodeReadyTimeoutMinutes: number;
  /** app user the nodes use (shared/node/join.ts appUserForNewNode); "a" on a new stack */
  dbUserSlot?: AppUserSlot;
  /** seconds between node health polls */
  pollSeconds?: number;
  /** how often running resource operations are checked (default 2 s; tests and the bench shorten it) */
  tickMs?: number;
  /**
   * When the deploy was asked for, by the wall clock (the HTTP request); the status and the stack's
   * last operation show it. Absent (a reconcile's deploy, instances started before this field):
   * the orchestration's own time.
   */
  startedAt?: string;
  /**
   * The stack's current certificate (from the certificate ledger when the deploy was asked for):
   * nodes that do not serve it install it before they get database credentials, so a node this
   * deploy creates never takes traffic with its self-signed bootstrap certificate. Absent on a new
   * stack (and in instances started before this field existed, whose histories stay valid).
   */
  certificate?: { secret: string; serial: string };
  /**
   * Look before acting (instances started before this field existed do not, so their histories
   * replay): leave the web nodes alone when they are the ones already in service
   * (checkNodesInService: no Run Command, no admin password), and otherwise bootstrap the database
   * only when a read-only check finds it differs. Set by every new deploy and drift repair.
   */
  checkFirst?: boolean;
  /**
   * Apply the spec's access section (sign-in with Entra ID: the nodes' settings, Guacamole's user
   * groups, guacadmin) once the nodes are up; with nothing changed since the last apply, that is one
   * registry read. Set by every new deploy and drift repair; instances started before it existed
   * replay without it.
   */
  access?: true;
}

export interface DeployStatus {
  operation: "deploy";
  stack: string;
  generation: number;
  phase: "graph" | "resources" | "nodes" | "database" | "health" | "access" | "connections" | "succeeded" | "failed";
  resources?: GraphProgress;
  nodes?: { name: string; healthy: boolean; problems: string[] }[];
  /** why the nodes were left alone, when they were (checkFirst) */
  inService?: string;
  /** the sign-in step (access) */
  access?: AccessProgress;
  startedAt: string;
  failure?: string;
  /** a failure that has a problem type: resources at the stack's ids that are not the stack's (409) */
  problem?: Problem;
}

export interface DeployOutput {
  outcome: "succeeded";
  resources: ObservedResource[];
  nodes: NodeSummary[];
}

export const deployStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<DeployInput>();
  const { spec } = input;
  const wf = workflow(context);
  const startedAt = input.startedAt ?? context.df.currentUtcDateTime.toISOString();
  const status: DeployStatus = {
    operation: "deploy",
    stack: spec.name,
    generation: input.generation,
    phase: "graph",
    startedAt,
  };
  const publish = () => context.df.setCustomStatus(status);
  publish();
  let graph: StackGraph | undefined;

  try {
    // a stack with a node image: its version for this release and node digest, when built, is what
    // new nodes boot from; otherwise they boot from source and the build starts once the network is
    // there (a stack without it schedules nothing here: older instances replay unchanged)
    const image = nodeImageEnabled(spec) ? yield* wf.call("resolveNodeImage", { spec }) : undefined;
    const bootImage = image ? bootImageOf(image) : undefined;
    graph = yield* wf.call("buildStackGraph", { spec, ...(bootImage ? { bootImage } : {}) });

    status.phase = "resources";
    const run = yield* runGraph(context, graph, {
      direction: "forward",
      schedule: (node) => wf.task("applyResource", { node }),
      tickMs: input.tickMs,
      report: (progress) => {
        status.resources = progress;
        publish();
      },
    });
    const { failed } = run.progress;
    if (failed.length > 0) {
      // every failed resource is named up front: the status keeps only the first 500 characters
      throw new Error(
        `${failed.length} resource(s) failed (${failed.map((f) => f.key).join(", ")}): ` +
          failed.map(describeFailure).join("; "),
      );
    }
    const resources: ObservedResource[] = graph.nodes.map((n) => ({
      key: n.key,
      kind: n.kind,
      id: n.id,
      lastAction: run.results[n.key]?.action,
    }));

    if (image) yield* startImageBuildIfDue(wf, spec, image);

    const written = resources.filter((r) => r.lastAction && r.lastAction !== "unchanged").map((r) => r.key);
    const serverMade = ["created", "replaced"].includes(run.results.mysql?.action ?? "");
    const { nodes, database } = yield* bringUpNodes(wf, input, status, publish, written, serverMade);
    let access: AccessOutcome | undefined;
    if (input.access) {
      status.phase = "access";
      publish();
      access = yield* syncAccess(wf, {
        spec,
        nodes: nodes.map((n) => ({ name: n.name, id: n.id })),
        pollSeconds: input.pollSeconds,
        nodeReadyTimeoutMinutes: input.nodeReadyTimeoutMinutes,
        operation: { kind: "deploy", instanceId: wf.instanceId },
        report: (progress) => {
          status.access = progress;
          publish();
        },
      });
    }

    // connections from the inventory, given to the groups sign-in just made (a stack without the
    // section schedules nothing, so instances started before it existed replay unchanged); a failed
    // sync is recorded and audited, and does not fail the deploy
    let connections: ConnectionSyncOutcome | undefined;
    if (input.access && spec.connections) {
      status.phase = "connections";
      publish();
      connections = yield* syncConnections(wf, {
        spec,
        nodes: nodes.map((n) => ({ name: n.name, id: n.id })),
        operation: { kind: "deploy", instanceId: context.df.instanceId },
        trigger: "deploy",
      });
    }

    status.phase = "succeeded";
    publish();
    // finishedAt: the activity's wall clock (a replayed orchestration's time is the host's)
    const observed: RecordObservedInput["observed"] = {
      generation: input.generation,
      resources,
      nodes,
      ...(database ? { database } : {}),
      lastOperation: {
        kind: "deploy",
        instanceId: context.df.instanceId,
        outcome: "succeeded",
        startedAt,
        failures: [],
      },
    };
    yield* wf.call("recordObserved", { stack: spec.name, observed, conditions: [ownershipCondition([])] });
    const adopted = resources.filter((r) => r.lastAction === "adopted").map((r) => r.id);
    yield* wf.call("appendAudit", {
      stack: spec.name,
      what: "deploy succeeded",
      why: `generation ${input.generation} applied`,
      operation: { kind: "deploy", instanceId: context.df.instanceId },
      details: {
        created: resources.filter((r) => r.lastAction === "created").length,
        updated: resources.filter((r) => r.lastAction === "updated" || r.lastAction === "replaced").length,
        unchanged: resources.filter((r) => r.lastAction === "unchanged").length,
        nodes: nodes.length,
        // taken over as the spec's adopt asked: who changed hands is part of the record
        ...(adopted.length > 0 ? { adopted: adopted.slice(0, 20) } : {}),
        ...(status.inService ? { nodesLeftAlone: status.inService } : {}),
        ...(database ? { database: database.outcome } : {}),
        ...(access && !access.nothing ? { access: access.changes.slice(0, 20) } : {}),
        ...(connections && connections.outcome !== "nothing"
          ? {
              connections: {
                outcome: connections.outcome,
                created: connections.created,
                updated: connections.updated,
                removed: connections.removed,
                skipped: connections.skipped,
              },
            }
          : {}),
      },
    });
    const output: DeployOutput = { outcome: "succeeded", resources, nodes };
    return output;
  } catch (error) {
    status.phase = "failed";
    status.failure = failureMessage(error);
    const nodes = graph?.nodes ?? [];
    const foreign = foreignResources(status.resources?.failed ?? [], (key) => nodes.find((n) => n.key === key)?.id);
    if (foreign.length > 0) status.problem = foreignResourceProblem(spec.name, foreign);
    publish();
    yield* wf.call("recordObserved", {
      stack: spec.name,
      observed: {
        generation: input.generation,
        lastOperation: {
          kind: "deploy",
          instanceId: context.df.instanceId,
          outcome: "failed",
          startedAt,
          failures: status.resources?.failed.length ? status.resources.failed.map(describeFailure) : [status.failure],
        },
      },
      ...(foreign.length > 0 ? { conditions: [ownershipCondition(foreign)] } : {}),
    });
    yield* wf.call("appendAudit", {
      stack: spec.name,
      what: "deploy failed",
      why: status.failure,
      operation: { kind: "deploy", instanceId: context.df.instanceId },
    });
    throw error;
  } finally {
    yield* wf.call("releaseOperation", { stack: spec.name, instanceId: context.df.instanceId });
  }
};

/**
 * Records where new nodes boot from and, when the image version is missing (or being captured by a
 * build that may have stopped), starts its build without waiting for it: the build is its own
 * singleton orchestration (image-<stack>-<version>), and the fleet boots from source meanwhile.
 */
function* startImageBuildIfDue(wf: Workflow, spec: StackSpec, image: NodeImageResolution): Step<void> {
  if (!image.enabled) return;
  const { choice } = image;
  yield* wf.call("recordNodeImage", {
    stack: spec.name,
    resolved: {
      at: wf.now().toISOString(),
      version: choice.version,
      action: choice.action,
      ...(choice.action === "conflict" ? { reason: choice.reason } : {}),
    },
  });
  if (choice.action === "build" || choice.action === "wait") {
    yield* wf.call("startNodeImageBuild", { spec, version: choice.version, trigger: "deploy" });
  }
}

/**
 * Finds the web nodes; leaves them alone when they are in service already (checkFirst), else waits
 * for their agents, bootstraps the database once (checkFirst: only if it differs), gives nodes
 * credentials, waits for health.
 */
function* bringUpNodes(
  wf: Workflow,
  input: DeployInput,
  status: DeployStatus,
  publish: () => void,
  written: string[],
  /** this deploy made the MySQL server: its database needs bootstrapping, no check can say otherwise */
  serverMade: boolean,
): Step<{ nodes: NodeSummary[]; database?: DatabaseObserved }> {
  const { spec } = input;
  const deadline = wf.after(input.nodeReadyTimeoutMinutes * 60_000);
  status.phase = "nodes";
  publish();
  const webNodes = yield* wf.call("listWebNodes", { spec });
  if (webNodes.length === 0) throw new Error("the stack has no web nodes");
  // a deploy that wrote to the nodes or the database brings them up; otherwise look first
  if (input.checkFirst && nodeOrDatabaseWrites(written).length === 0) {
    const check = yield* wf.call("checkNodesInService", {
      spec,
      nodes: webNodes,
      written,
      ...(input.certificate ? { certificateSerial: input.certificate.serial } : {}),
      at: wf.now().toISOString(),
    });
    if (check.inService) {
      status.inService = check.why;
      status.nodes = check.nodes.map((n) => ({ name: n.name, healthy: n.healthy, problems: n.problems }));
      publish();
      return { nodes: check.nodes };
    }
  }
  let database: DatabaseObserved | undefined;
  const nodes = yield* bringUp(wf, {
    spec,
    nodes: webNodes,
    deadline,
    timeoutMinutes: input.nodeReadyTimeoutMinutes,
    pollMs: (input.pollSeconds ?? 30) * 1000,
    join: { appUser: input.dbUserSlot ?? "a", ...(input.certificate ? { certificate: input.certificate } : {}) },
    database: input.checkFirst && !serverMade ? "check-first" : "bootstrap",
    onDatabase: ({ bootstrapped }) => {
      database = {
        server: stackNames(spec).mysqlServerId.toLowerCase(),
        schema: spec.guacamole.version,
        outcome: bootstrapped ? "bootstrapped" : "checked",
        at: wf.now().toISOString(),
        instanceId: wf.instanceId,
      };
    },
    onPhase: (phase) => {
      status.phase = phase;
      publish();
    },
    report: (nodes) => {
      status.nodes = nodes;
      publish();
    },
  });
  return { nodes, ...(database ? { database } : {}) };
}

df.app.orchestration(Names.orchestrators.deployStack, deployStack);
