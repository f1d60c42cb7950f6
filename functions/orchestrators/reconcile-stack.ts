// reconcileStack: the hourly drift check. Plan; if Azure drifted from the spec, record what drifted
// and apply the spec again (a deploy writes only what differs). Level-triggered: it compares desired
// with observed every time instead of trusting what it did last. A resource the plan finds is not the
// stack's (`conflict`) sets `ResourcesOwned=False`; the apply still repairs every branch that does not
// need it (an SSH rule added out of band is closed), and fails naming it.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { ownershipCondition, type ForeignResource } from "../../shared/arm/ownership";
import type { StackSpec } from "../../shared/spec/types";
import { Names } from "../names";
import { workflow } from "../workflow/workflow";
import type { DeployInput } from "./deploy-stack";
import type { PlanOutput } from "./plan-stack";

export interface ReconcileInput {
  spec: StackSpec;
  generation: number;
  nodeReadyTimeoutMinutes: number;
  dbUserSlot?: "a" | "b";
  /** the stack's current certificate, for nodes the apply creates (see DeployInput) */
  certificate?: DeployInput["certificate"];
}

export interface ReconcileOutput {
  drifted: boolean;
  changes: PlanOutput["changes"];
}

export const reconcileStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ReconcileInput>();
  const wf = workflow(context);
  const stack = input.spec.name;
  const operation = { kind: "reconcile" as const, instanceId: context.df.instanceId };
  try {
    context.df.setCustomStatus({ operation: "reconcile", stack, phase: "plan" });
    const plan = yield* wf.subOrchestration<PlanOutput>(
      Names.orchestrators.planStack,
      { spec: input.spec, generation: input.generation },
      `${context.df.instanceId}-plan`,
    );
    const at = context.df.currentUtcDateTime.toISOString();
    const drift = plan.changes.map((c) => ({ key: c.key, action: c.action, paths: c.changes.map((x) => x.path) }));
    const foreign: ForeignResource[] = plan.changes
      .filter((c) => c.action === "conflict")
      .map((c) => ({ key: c.key, id: c.id, reason: c.reason ?? "not the stack's" }));
    yield* wf.call("recordObserved", {
      stack,
      observed: { generation: input.generation, drift: { at, changes: drift } },
      conditions: [ownershipCondition(foreign)],
    });
    if (plan.changes.length === 0) {
      context.df.setCustomStatus({ operation: "reconcile", stack, phase: "in sync" });
      const output: ReconcileOutput = { drifted: false, changes: [] };
      return output;
    }
    yield* wf.call("appendAudit", {
      stack,
      what: "drift detected",
      why: `${plan.changes.length} resource(s) differ from the spec; applying it again`,
      operation,
      details: { changes: drift },
    });
    context.df.setCustomStatus({ operation: "reconcile", stack, phase: "apply", changes: drift });
    const deploy: DeployInput = {
      spec: input.spec,
      generation: input.generation,
      nodeReadyTimeoutMinutes: input.nodeReadyTimeoutMinutes,
      dbUserSlot: input.dbUserSlot,
      ...(input.certificate ? { certificate: input.certificate } : {}),
      checkFirst: true,
    };
    yield context.df.callSubOrchestrator(Names.orchestrators.deployStack, deploy, `${context.df.instanceId}-apply`);
    context.df.setCustomStatus({ operation: "reconcile", stack, phase: "repaired", changes: drift });
    const output: ReconcileOutput = { drifted: true, changes: plan.changes };
    return output;
  } finally {
    yield* wf.call("releaseOperation", { stack, instanceId: context.df.instanceId });
  }
};

df.app.orchestration(Names.orchestrators.reconcileStack, reconcileStack);
