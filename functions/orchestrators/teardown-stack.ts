// teardownStack: delete the stack's resources in reverse dependency order (as parallel as the graph
// allows). The engine refuses anything not tagged for this stack, so a teardown can never delete a
// resource someone else put at one of our names; such a resource is kept, and so is the resource
// group while it holds anything that is not the stack's. Kept resources do not fail the teardown: it
// finishes, says what it kept and why (output, audit), and unregisters the stack. Only a resource of
// the stack that could not be deleted fails it (the stack stays registered, to be torn down again).
// An image build's builder (VM, NIC, OS disk) goes too, before the network it sits in: the DELETE
// terminated the build, whose own clean-up then never runs (functions/image-build-stop.ts).
// The Key Vault is soft-deleted with purge protection: its name stays reserved for the retention
// period, and a new deploy of the stack recovers it.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { StackSpec } from "../../shared/spec/types";
import { Names } from "../names";
import { runGraph, type GraphProgress } from "../workflow/graph-runner";
import { failureMessage, workflow } from "../workflow/workflow";

export interface TeardownInput {
  spec: StackSpec;
}

export interface TeardownOutput {
  outcome: "succeeded";
  deleted: string[];
  absent: string[];
  /**
   * resources left in place because they are not the stack's (or hold what is not), or because the
   * stack keeps them (recordings under retention), and why
   */
  kept?: { key: string; id: string; reason: string }[];
}

export const teardownStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { spec } = context.df.getInput<TeardownInput>();
  const wf = workflow(context);
  const status: { operation: "teardown"; stack: string; phase: string; resources?: GraphProgress; failure?: string } = {
    operation: "teardown",
    stack: spec.name,
    phase: "graph",
  };
  const publish = () => context.df.setCustomStatus(status);
  publish();
  try {
    // the stack's graph and the leftovers of its image builds (the DELETE stopped any running one)
    const graph = yield* wf.call("buildStackGraph", { spec, teardown: true });
    status.phase = "resources";
    const run = yield* runGraph(context, graph, {
      direction: "reverse",
      schedule: (node) => wf.task("removeResource", { node, tag: graph.tag }),
      report: (progress) => {
        status.resources = progress;
        publish();
      },
    });
    const problems = run.progress.failed.map((f) => `${f.key}: ${f.message}`);
    if (problems.length > 0) throw new Error(`teardown incomplete: ${problems.join("; ")}`);
    const kept = Object.values(run.results)
      .filter((r) => r.action === "refused" || r.action === "kept")
      .map((r) => ({
        key: r.key,
        id: graph.nodes.find((n) => n.key === r.key)?.id ?? "",
        reason: r.reason ?? "not tagged for this stack",
      }));

    const retained = Object.values(run.results).filter((r) => r.action === "kept").length;
    yield* wf.call("appendAudit", {
      stack: spec.name,
      what: "teardown succeeded",
      why:
        kept.length === 0
          ? "DELETE requested"
          : `DELETE requested; kept ${kept.length} resource(s) that are not the stack's or hold what is not${
              retained > 0 ? ` (${retained} of them the stack's recordings under retention, kept as evidence)` : ""
            }: ${kept.map((k) => k.id).join(", ")}`.slice(0, 1_000),
      operation: { kind: "teardown", instanceId: context.df.instanceId },
      // audit details stay small (8 KiB): the first ten, each reason cut
      ...(kept.length > 0
        ? { details: { kept: kept.slice(0, 10).map((k) => ({ ...k, reason: k.reason.slice(0, 300) })) } }
        : {}),
    });
    yield* wf.call("forgetStack", { stack: spec.name });
    status.phase = "succeeded";
    publish();
    const results = Object.values(run.results);
    const output: TeardownOutput = {
      outcome: "succeeded",
      deleted: results.filter((r) => r.action === "deleted").map((r) => r.key),
      absent: results.filter((r) => r.action === "absent").map((r) => r.key),
      ...(kept.length > 0 ? { kept } : {}),
    };
    return output;
  } catch (error) {
    status.phase = "failed";
    status.failure = failureMessage(error);
    publish();
    yield* wf.call("appendAudit", {
      stack: spec.name,
      what: "teardown failed",
      why: status.failure,
      operation: { kind: "teardown", instanceId: context.df.instanceId },
    });
    yield* wf.call("releaseOperation", { stack: spec.name, instanceId: context.df.instanceId });
    throw error;
  }
};

df.app.orchestration(Names.orchestrators.teardownStack, teardownStack);
