// reconcileStack: the hourly drift check. Plan; if Azure drifted from the spec, record what drifted
// and apply the spec again (a deploy writes only what differs). Level-triggered: it compares desired
// with observed every time instead of trusting what it did last. A resource the plan finds is not the
// stack's (`conflict`) sets `ResourcesOwned=False`; the apply still repairs every branch that does not
// need it (an SSH rule added out of band is closed), and fails naming it.
//
// Started by the drift check after it screened the stack through Resource Graph (shared/drift/):
// `only` names the suspects to confirm through ARM (the rest looked in sync), absent on the stack's
// full check. When drift is confirmed, Resource Graph's change history names who changed what in the
// audit event. Instances started before screening existed carry neither field and run as before.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { ownershipCondition, type ForeignResource } from "../../shared/arm/ownership";
import type { StackSpec } from "../../shared/spec/types";
import type { DriftSuspect } from "../../shared/drift/screen";
import type { ResourceChange } from "../../shared/drift/history";
import { Names } from "../names";
import { workflow } from "../workflow/workflow";
import type { DeployInput } from "./deploy-stack";
import type { PlanOutput } from "./plan-stack";
import { syncAccess, type AccessOutcome } from "./access-sync";

export interface ReconcileInput {
  spec: StackSpec;
  generation: number;
  nodeReadyTimeoutMinutes: number;
  dbUserSlot?: "a" | "b";
  /** the stack's current certificate, for nodes the apply creates (see DeployInput) */
  certificate?: DeployInput["certificate"];
  /** what the drift check's screening found; absent on instances started before it existed */
  screening?: {
    /** ISO 8601 */
    at: string;
    /** every node is read through ARM (the stack's periodic full check) */
    full: boolean;
    suspects: DriftSuspect[];
  };
  /**
   * Also keep sign-in with Entra ID as the spec says (DeployInput.access): a repair's deploy does it,
   * and a stack in sync gets the access step alone (a registry read when nothing is due). Instances
   * started before it existed replay without it.
   */
  access?: true;
}

export interface ReconcileOutput {
  drifted: boolean;
  changes: PlanOutput["changes"];
  /** what the access step changed on a stack otherwise in sync */
  access?: string[];
}

export const reconcileStack: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ReconcileInput>();
  const wf = workflow(context);
  const stack = input.spec.name;
  const operation = { kind: "reconcile" as const, instanceId: context.df.instanceId };
  try {
    context.df.setCustomStatus({ operation: "reconcile", stack, phase: "plan" });
    const screening = input.screening;
    const only = screening && !screening.full ? screening.suspects.map((s) => s.key) : undefined;
    const plan = yield* wf.subOrchestration<PlanOutput>(
      Names.orchestrators.planStack,
      screening
        ? { spec: input.spec, generation: input.generation, only, background: true }
        : { spec: input.spec, generation: input.generation },
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
      let access: AccessOutcome | undefined;
      if (input.access) {
        access = yield* syncAccess(wf, {
          spec: input.spec,
          nodeReadyTimeoutMinutes: input.nodeReadyTimeoutMinutes,
          operation,
          report: (progress) =>
            context.df.setCustomStatus({ operation: "reconcile", stack, phase: "access", access: progress }),
        });
        if (!access.nothing) context.df.setCustomStatus({ operation: "reconcile", stack, phase: "in sync", access });
      }
      const output: ReconcileOutput = {
        drifted: false,
        changes: [],
        ...(access && !access.nothing ? { access: access.changes } : {}),
      };
      return output;
    }
    let changedBy: ResourceChange[] = [];
    if (screening) {
      // who changed them, as far as Resource Graph's change history knows yet (best effort)
      const since = new Date(context.df.currentUtcDateTime.getTime() - 24 * 3_600_000).toISOString();
      changedBy = yield* wf.callOnce("driftChangeHistory", {
        subscriptionId: input.spec.subscriptionId,
        ids: plan.changes.map((c) => c.id).slice(0, 20),
        since,
      });
    }
    yield* wf.call("appendAudit", {
      stack,
      what: "drift detected",
      why: `${plan.changes.length} resource(s) differ from the spec; applying it again`,
      operation,
      details: {
        changes: drift,
        ...(screening
          ? {
              screening: { full: screening.full, suspects: screening.suspects.length, at: screening.at },
              changedBy: changedBy.map((c) => ({
                id: c.id.split("/").pop(),
                by: c.changedBy,
                client: c.clientType,
                operation: c.operation,
                at: c.timestamp,
              })),
            }
          : {}),
      },
    });
    context.df.setCustomStatus({ operation: "reconcile", stack, phase: "apply", changes: drift });
    const deploy: DeployInput = {
      spec: input.spec,
      generation: input.generation,
      nodeReadyTimeoutMinutes: input.nodeReadyTimeoutMinutes,
      dbUserSlot: input.dbUserSlot,
      ...(input.certificate ? { certificate: input.certificate } : {}),
      checkFirst: true,
      ...(input.access ? { access: true as const } : {}),
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
