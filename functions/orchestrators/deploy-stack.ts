// deployStack: make Azure match the spec, then make the nodes work. Resources go in dependency order
// with as much parallelism as the graph allows; then the database schema is bootstrapped once through
// one node, every node gets working database credentials, and the deploy waits until every node's
// agent says healthy. Progress is in the custom status; the stack is released at the end whatever
// happens, and the outcome is recorded in the registry and the audit trail. A resource at one of the
// stack's ids that is not the stack's fails its node (nothing behind it starts); the failure names it
// as a 409 problem in the custom status and sets the stack's `ResourcesOwned` condition.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import { foreignResourceProblem, foreignResources, ownershipCondition } from "../../shared/arm/ownership";
import type { StackGraph } from "../../shared/graph/types";
import type { Problem } from "../../shared/http/problem";
import type { StackSpec } from "../../shared/spec/types";
import type { ObservedNode, ObservedResource } from "../../shared/stack-status";
import type { WebNodeRef } from "../activities/nodes";
import type { RecordObservedInput } from "../activities/registry";
import { Names } from "../names";
import { describeFailure, failureMessage, runGraph, type GraphProgress } from "./graph-runner";
import { bringUpWebNodes } from "./node-bring-up";
import { activityRetry } from "./activity-retry";

export interface DeployInput {
  spec: StackSpec;
  generation: number;
  /** how long to wait for nodes to come up (cloud-init builds guacd on first boot) */
  nodeReadyTimeoutMinutes: number;
  /** app user the nodes use (rotation alternates it); "a" on a new stack */
  dbUserSlot?: "a" | "b";
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
}

export interface DeployStatus {
  operation: "deploy";
  stack: string;
  generation: number;
  phase: "graph" | "resources" | "nodes" | "database" | "health" | "succeeded" | "failed";
  resources?: GraphProgress;
  nodes?: { name: string; healthy: boolean; problems: string[] }[];
  startedAt: string;
  failure?: string;
  /** a failure that has a problem type: resources at the stack's ids that are not the stack's (409) */
  problem?: Problem;
}

export interface DeployOutput {
  outcome: "succeeded";
  resources: ObservedResource[];
  nodes: ObservedNode[];
}

export const deployStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<DeployInput>();
  const { spec } = input;
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
    graph = (yield context.df.callActivityWithRetry(Names.activities.buildStackGraph, activityRetry(), {
      spec,
    })) as StackGraph;

    status.phase = "resources";
    const run = yield* runGraph<{ action?: string }>(context, graph, {
      direction: "forward",
      activity: Names.activities.applyResource,
      input: (node) => ({ node }),
      retry: activityRetry(),
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

    const nodes = yield* bringUpNodes(context, input, status, publish);

    status.phase = "succeeded";
    publish();
    // finishedAt: the activity's wall clock (a replayed orchestration's time is the host's)
    const observed: RecordObservedInput["observed"] = {
      generation: input.generation,
      resources,
      nodes,
      lastOperation: {
        kind: "deploy",
        instanceId: context.df.instanceId,
        outcome: "succeeded",
        startedAt,
        failures: [],
      },
    };
    yield context.df.callActivityWithRetry(Names.activities.recordObserved, activityRetry(), {
      stack: spec.name,
      observed,
      conditions: [ownershipCondition([])],
    });
    const adopted = resources.filter((r) => r.lastAction === "adopted").map((r) => r.id);
    yield context.df.callActivityWithRetry(Names.activities.appendAudit, activityRetry(), {
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
    yield context.df.callActivityWithRetry(Names.activities.recordObserved, activityRetry(), {
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
    yield context.df.callActivityWithRetry(Names.activities.appendAudit, activityRetry(), {
      stack: spec.name,
      what: "deploy failed",
      why: status.failure,
      operation: { kind: "deploy", instanceId: context.df.instanceId },
    });
    throw error;
  } finally {
    yield context.df.callActivityWithRetry(Names.activities.releaseOperation, activityRetry(), {
      stack: spec.name,
      instanceId: context.df.instanceId,
    });
  }
};

/** Finds the web nodes, then waits for their agents, bootstraps the database once, gives nodes credentials, waits for health. */
function* bringUpNodes(
  context: OrchestrationContext,
  input: DeployInput,
  status: DeployStatus,
  publish: () => void,
): Generator<Task, ObservedNode[], unknown> {
  const { spec } = input;
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + input.nodeReadyTimeoutMinutes * 60_000);
  status.phase = "nodes";
  publish();
  const webNodes = (yield context.df.callActivityWithRetry(Names.activities.listWebNodes, activityRetry(), {
    spec,
  })) as WebNodeRef[];
  if (webNodes.length === 0) throw new Error("the stack has no web nodes");
  return yield* bringUpWebNodes(context, {
    spec,
    nodes: webNodes,
    nodeReadyTimeoutMinutes: input.nodeReadyTimeoutMinutes,
    deadline,
    pollSeconds: input.pollSeconds,
    dbUserSlot: input.dbUserSlot,
    bootstrapDatabase: true,
    ...(input.certificate ? { certificate: input.certificate } : {}),
    retry: activityRetry(),
    phase: (phase) => {
      if (phase === "certificate") return;
      status.phase = phase;
      publish();
    },
    report: (nodes) => {
      status.nodes = nodes;
      publish();
    },
  });
}

df.app.orchestration(Names.orchestrators.deployStack, deployStack);
