// teardownStack: delete the stack's resources in reverse dependency order (as parallel as the graph
// allows). The engine refuses anything not tagged for this stack, so a teardown can never delete a
// resource someone else put at one of our names. The Key Vault is soft-deleted with purge protection:
// its name stays reserved for the retention period, and a new deploy of the stack recovers it.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { StackGraph } from "../../shared/graph/types";
import type { StackSpec } from "../../shared/spec/types";
import { Names } from "../names";
import { failureMessage, runGraph, type GraphProgress } from "./graph-runner";

export interface TeardownInput {
  spec: StackSpec;
}

export interface RemoveResult {
  key: string;
  action: "deleted" | "absent" | "refused";
  reason?: string;
}

export interface TeardownOutput {
  outcome: "succeeded";
  deleted: string[];
  absent: string[];
}

export const teardownStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { spec } = context.df.getInput<TeardownInput>();
  const retry = new df.RetryOptions(5_000, 4);
  retry.backoffCoefficient = 2;
  const status: { operation: "teardown"; stack: string; phase: string; resources?: GraphProgress; failure?: string } = {
    operation: "teardown",
    stack: spec.name,
    phase: "graph",
  };
  const publish = () => context.df.setCustomStatus(status);
  publish();
  try {
    const graph = (yield context.df.callActivityWithRetry(Names.activities.buildStackGraph, retry, {
      spec,
    })) as StackGraph;
    status.phase = "resources";
    const run = yield* runGraph<RemoveResult>(context, graph, {
      direction: "reverse",
      activity: Names.activities.removeResource,
      input: (node) => ({ node, tag: graph.tag }),
      retry,
      report: (progress) => {
        status.resources = progress;
        publish();
      },
    });
    const refused = Object.values(run.results).filter((r) => r.action === "refused");
    const problems = [
      ...run.progress.failed.map((f) => `${f.key}: ${f.message}`),
      ...refused.map((r) => `${r.key}: refused (${r.reason ?? "not tagged for this stack"})`),
    ];
    if (problems.length > 0) throw new Error(`teardown incomplete: ${problems.join("; ")}`);

    yield context.df.callActivityWithRetry(Names.activities.appendAudit, retry, {
      stack: spec.name,
      what: "teardown succeeded",
      why: "DELETE requested",
      operation: { kind: "teardown", instanceId: context.df.instanceId },
    });
    yield context.df.callActivityWithRetry(Names.activities.forgetStack, retry, { stack: spec.name });
    status.phase = "succeeded";
    publish();
    const results = Object.values(run.results);
    const output: TeardownOutput = {
      outcome: "succeeded",
      deleted: results.filter((r) => r.action === "deleted").map((r) => r.key),
      absent: results.filter((r) => r.action === "absent").map((r) => r.key),
    };
    return output;
  } catch (error) {
    status.phase = "failed";
    status.failure = failureMessage(error);
    publish();
    yield context.df.callActivityWithRetry(Names.activities.appendAudit, retry, {
      stack: spec.name,
      what: "teardown failed",
      why: status.failure,
      operation: { kind: "teardown", instanceId: context.df.instanceId },
    });
    yield context.df.callActivityWithRetry(Names.activities.releaseOperation, retry, {
      stack: spec.name,
      instanceId: context.df.instanceId,
    });
    throw error;
  }
};

df.app.orchestration(Names.orchestrators.teardownStack, teardownStack);
