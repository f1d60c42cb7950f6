// deployStack: make Azure match the spec, then make the nodes work. Resources go in dependency order
// with as much parallelism as the graph allows; then the database schema is bootstrapped once through
// one node, every node gets working database credentials, and the deploy waits until every node's
// agent says healthy. Progress is in the custom status; the stack is released at the end whatever
// happens, and the outcome is recorded in the registry and the audit trail.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import { normalizeSerial } from "../../shared/acme/certificate";
import type { StackGraph } from "../../shared/graph/types";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import type { ObservedNode, ObservedResource, StackObserved } from "../../shared/stack-status";
import type { WebNodeRef } from "../activities/nodes";
import { Names } from "../names";
import { describeFailure, failureMessage, runGraph, type GraphProgress } from "./graph-runner";
import { agentAnswered, databaseCheckFails, isHealthy, observedNode } from "./node-health";

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
}

export interface DeployOutput {
  outcome: "succeeded";
  resources: ObservedResource[];
  nodes: ObservedNode[];
}

const activityRetry = () => {
  const r = new df.RetryOptions(5_000, 4);
  r.backoffCoefficient = 2;
  r.maxRetryIntervalInMilliseconds = 60_000;
  return r;
};

export const deployStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<DeployInput>();
  const { spec } = input;
  const startedAt = context.df.currentUtcDateTime.toISOString();
  const status: DeployStatus = {
    operation: "deploy",
    stack: spec.name,
    generation: input.generation,
    phase: "graph",
    startedAt,
  };
  const publish = () => context.df.setCustomStatus(status);
  publish();

  try {
    const graph = (yield context.df.callActivityWithRetry(Names.activities.buildStackGraph, activityRetry(), {
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
    const observed: StackObserved = {
      generation: input.generation,
      resources,
      nodes,
      lastOperation: {
        kind: "deploy",
        instanceId: context.df.instanceId,
        outcome: "succeeded",
        startedAt,
        finishedAt: context.df.currentUtcDateTime.toISOString(),
        failures: [],
      },
    };
    yield context.df.callActivityWithRetry(Names.activities.recordObserved, activityRetry(), {
      stack: spec.name,
      observed,
    });
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
      },
    });
    const output: DeployOutput = { outcome: "succeeded", resources, nodes };
    return output;
  } catch (error) {
    status.phase = "failed";
    status.failure = failureMessage(error);
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
          finishedAt: context.df.currentUtcDateTime.toISOString(),
          failures: status.resources?.failed.length ? status.resources.failed.map(describeFailure) : [status.failure],
        },
      },
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

/** Waits for every node's agent, bootstraps the database once, gives nodes credentials, waits for health. */
function* bringUpNodes(
  context: OrchestrationContext,
  input: DeployInput,
  status: DeployStatus,
  publish: () => void,
): Generator<Task, ObservedNode[], unknown> {
  const { spec } = input;
  const pollMs = (input.pollSeconds ?? 30) * 1000;
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + input.nodeReadyTimeoutMinutes * 60_000);
  const target = { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup };

  status.phase = "nodes";
  publish();
  const webNodes = (yield context.df.callActivityWithRetry(Names.activities.listWebNodes, activityRetry(), {
    spec,
  })) as WebNodeRef[];
  if (webNodes.length === 0) throw new Error("the stack has no web nodes");

  const health = function* (): Generator<Task, AgentCommandResult[], unknown> {
    const tasks = webNodes.map((n) =>
      context.df.callActivityWithRetry(Names.activities.runNodeAgent, activityRetry(), {
        ...target,
        vmName: n.name,
        command: "health",
      }),
    );
    return (yield context.df.Task.all(tasks)) as AgentCommandResult[];
  };
  const report = (results: AgentCommandResult[]) => {
    const at = context.df.currentUtcDateTime;
    status.nodes = results.map((r, i) => {
      const o = observedNode(webNodes[i].name, webNodes[i].id, r, at);
      return { name: o.name, healthy: o.healthy, problems: o.problems };
    });
    publish();
  };
  const waitOrGiveUp = function* (what: string): Generator<Task, void, unknown> {
    const next = new Date(context.df.currentUtcDateTime.getTime() + pollMs);
    if (next > deadline) {
      const problems = (status.nodes ?? []).filter((n) => !n.healthy).map((n) => `${n.name}: ${n.problems.join(", ")}`);
      throw new Error(
        `nodes not ${what} after ${input.nodeReadyTimeoutMinutes} minutes${problems.length ? `: ${problems.join("; ")}` : ""}`,
      );
    }
    yield context.df.createTimer(next);
  };

  // 1. every agent answers (cloud-init has installed and configured it)
  let results = yield* health();
  report(results);
  while (!results.every(agentAnswered)) {
    yield* waitOrGiveUp("reachable");
    results = yield* health();
    report(results);
  }

  // 2. the schema, the app users and guacadmin's password, once, through one node (idempotent)
  status.phase = "database";
  publish();
  const bootstrap = (yield context.df.callActivityWithRetry(Names.activities.runNodeAgent, activityRetry(), {
    ...target,
    vmName: webNodes[0].name,
    command: "bootstrap-db",
  })) as AgentCommandResult;
  if (!bootstrap.reachable || bootstrap.exitCode !== 0) {
    throw new Error(
      `database bootstrap through ${webNodes[0].name} failed: ${bootstrap.error ?? bootstrap.stderr ?? `exit ${bootstrap.exitCode}`}`,
    );
  }

  // 3. a stack with a certificate: nodes that do not serve it install it (latest Key Vault version)
  //    before they get credentials, i.e. before they can be healthy and take traffic
  if (input.certificate) {
    const want = normalizeSerial(input.certificate.serial);
    for (let i = 0; i < webNodes.length; i++) {
      const served = (results[i].json as { certificate?: { serial?: unknown } | null } | undefined)?.certificate
        ?.serial;
      if (typeof served === "string" && normalizeSerial(served) === want) continue;
      const installed = (yield context.df.callActivityWithRetry(Names.activities.runNodeAgent, activityRetry(), {
        ...target,
        vmName: webNodes[i].name,
        command: "install-cert",
        args: ["--secret", input.certificate.secret],
      })) as AgentCommandResult;
      if (!installed.reachable || installed.exitCode !== 0) {
        throw new Error(
          `certificate install on ${webNodes[i].name} failed: ${installed.error ?? installed.stderr ?? `exit ${installed.exitCode}`}`,
        );
      }
    }
  }

  // 4. nodes whose database check fails get the current app user's credentials
  const slot = input.dbUserSlot ?? "a";
  for (let i = 0; i < webNodes.length; i++) {
    if (!databaseCheckFails(results[i])) continue;
    const switched = (yield context.df.callActivityWithRetry(Names.activities.runNodeAgent, activityRetry(), {
      ...target,
      vmName: webNodes[i].name,
      command: "db-credentials",
      args: ["--user", slot],
    })) as AgentCommandResult;
    if (!switched.reachable || switched.exitCode !== 0) {
      throw new Error(
        `database credentials on ${webNodes[i].name} failed: ${switched.error ?? switched.stderr ?? `exit ${switched.exitCode}`}`,
      );
    }
  }

  // 5. every node healthy
  status.phase = "health";
  results = yield* health();
  report(results);
  while (!results.every(isHealthy)) {
    yield* waitOrGiveUp("healthy");
    results = yield* health();
    report(results);
  }
  const at = context.df.currentUtcDateTime;
  return results.map((r, i) => observedNode(webNodes[i].name, webNodes[i].id, r, at));
}

df.app.orchestration(Names.orchestrators.deployStack, deployStack);
