// planStack: what a deploy would change, resource by resource, without writing anything.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { NodePlan } from "../../shared/graph/types";
import type { StackSpec } from "../../shared/spec/types";
import { Names } from "../names";
import { workflow } from "../workflow/workflow";

export interface PlanInput {
  spec: StackSpec;
  generation: number;
  /** plan only these graph nodes (the drift check's suspects); absent: every node */
  only?: string[];
  /** timer work: its reads wait for ARM budget behind heal and deploy */
  background?: true;
}

export interface PlanOutput {
  stack: string;
  generation: number;
  summary: Record<NodePlan["action"], number>;
  /** only the resources that would change */
  changes: NodePlan[];
  unchanged: number;
}

export function summarize(plans: NodePlan[]): PlanOutput["summary"] {
  const summary = { create: 0, update: 0, replace: 0, none: 0, delete: 0, conflict: 0, adopt: 0 };
  for (const p of plans) summary[p.action] += 1;
  return summary;
}

export const planStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<PlanInput>();
  const wf = workflow(context);
  context.df.setCustomStatus({ operation: "plan", stack: input.spec.name, phase: "graph" });
  const graph = yield* wf.call("buildStackGraph", { spec: input.spec });
  context.df.setCustomStatus({
    operation: "plan",
    stack: input.spec.name,
    phase: "reading",
    total: graph.nodes.length,
  });
  const only = input.only ? new Set(input.only) : undefined;
  const nodes = only ? graph.nodes.filter((n) => only.has(n.key)) : graph.nodes;
  const plans = yield* wf.all(
    nodes.map((node) => wf.task("planResource", { node, ...(input.background ? { background: true as const } : {}) })),
  );
  const output: PlanOutput = {
    stack: input.spec.name,
    generation: input.generation,
    summary: summarize(plans),
    changes: plans.filter((p) => p.action !== "none"),
    unchanged: plans.filter((p) => p.action === "none").length + (graph.nodes.length - nodes.length),
  };
  context.df.setCustomStatus({ operation: "plan", stack: input.spec.name, phase: "done" });
  return output;
};

df.app.orchestration(Names.orchestrators.planStack, planStack);
