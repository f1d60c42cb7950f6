// Connections from the Azure inventory: desired (the sources' tagged VMs, as Resource Graph lists
// them) against observed (Guacamole's tables, read by the node agent), level-triggered. Run inside
// a deploy (after sign-in, whose user groups the connections are given to) and as its own singleton
// orchestration `connections-<stack>` (the timer every 5 minutes, POST .../connections/sync).
// Deterministic: every read and write is an activity; when the desired set is what was last
// applied and no look is due, the plan is the only step (no Run Command, no SQL), and when only the
// listing changed (a power state, a skipped VM) the ledger is the only write.
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";
import type { PlanConnectionSyncOutput, RecordConnectionsInput } from "../activities/connections";
import { connectionsResultOf } from "../../shared/node/agent";
import type { WebNodeRef } from "../../shared/node/model";
import type { StackSpec } from "../../shared/spec/types";
import type { AuditOperationKind } from "../../shared/store";
import { Names } from "../names";
import { jsonDocumentOf } from "../workflow/node-steps";
import { workflow, type Step, type Workflow } from "../workflow/workflow";

export interface ConnectionSyncOptions {
  spec: StackSpec;
  nodes?: WebNodeRef[];
  operation: { kind: AuditOperationKind; instanceId: string };
  trigger: string;
  force?: boolean;
}

export interface ConnectionSyncOutcome {
  outcome: "nothing" | "recorded" | "applied" | "failed";
  due?: string;
  created: number;
  updated: number;
  removed: number;
  statements: number;
  skipped: number;
  connections: number;
  failure?: string;
}

export function* syncConnections(wf: Workflow, options: ConnectionSyncOptions): Step<ConnectionSyncOutcome> {
  const { spec, operation } = options;
  const at = () => wf.now().toISOString();
  const record = (data: Omit<RecordConnectionsInput, "stack">) =>
    wf.call("recordConnections", { stack: spec.name, ...data });
  const audit = (what: string, why: string, details: Record<string, unknown>) =>
    wf.call("appendAudit", { stack: spec.name, what, why, operation, details });
  const none = { created: 0, updated: 0, removed: 0, statements: 0 };
  let plan: PlanConnectionSyncOutput | undefined;
  try {
    plan = yield* wf.call("planConnectionSync", {
      spec,
      at: at(),
      ...(options.force ? { force: true } : {}),
      ...(options.nodes ? { nodes: options.nodes } : {}),
    });
    const counts = { skipped: plan.skipped.length, connections: plan.connections.length };
    const listing = {
      listingDigest: plan.listingDigest,
      at: at(),
      instanceId: wf.instanceId,
      trigger: options.trigger,
      skipped: plan.skipped,
      requests: { resourceGraph: plan.requests.resourceGraph, keyVault: plan.requests.keyVault, runCommand: 0 },
      failure: null,
    };
    if (!plan.due) {
      if (!plan.stale) return { outcome: "nothing", ...none, ...counts };
      yield* record({
        summary: { ...listing, counts: { ...counts, created: 0, updated: 0, removed: 0 } },
        connections: plan.connections,
      });
      return { outcome: "recorded", ...none, ...counts };
    }
    if (!plan.node) throw new Error("the stack has no web node to run the sync on");
    const result = yield* wf.call("applyConnections", {
      spec,
      vmName: plan.node.name,
      desired: plan.desired,
      credentials: plan.credentials,
    });
    const document = jsonDocumentOf(result);
    if (!document)
      throw new Error(
        `connections on ${plan.node.name} failed: ${result.error ?? result.stderr ?? `exit ${result.exitCode}`}`,
      );
    const answer = connectionsResultOf(document);
    yield* record({
      summary: {
        ...listing,
        digest: plan.digest,
        appliedAt: at(),
        counts: { ...counts, created: answer.created, updated: answer.updated, removed: answer.removed },
        conflicts: answer.conflicts,
        missingGroups: answer.missingGroups,
        ...(answer.changes > 0 ? { lastChanges: answer.changed } : {}),
        requests: { ...listing.requests, runCommand: 1 },
        statements: answer.statements,
      },
      connections: plan.connections,
    });
    if (answer.changes > 0 || answer.conflicts.length > 0 || answer.missingGroups.length > 0)
      yield* audit(
        answer.changes > 0 ? "connections synced" : "connections checked",
        `${plan.due}: ${answer.created} created, ${answer.updated} updated, ${answer.removed} removed in ${answer.statements} statement(s)` +
          (answer.conflicts.length > 0
            ? `; ${answer.conflicts.length} name(s) taken by connections not made by Jumpgate were left alone`
            : "") +
          (plan.skipped.length > 0 ? `; ${plan.skipped.length} target(s) skipped` : ""),
        {
          changes: answer.changed.slice(0, 40),
          conflicts: answer.conflicts.slice(0, 20),
          missingGroups: answer.missingGroups,
          skipped: plan.skipped.slice(0, 20),
          statements: answer.statements,
          node: plan.node.name,
        },
      );
    return {
      outcome: "applied",
      due: plan.due,
      created: answer.created,
      updated: answer.updated,
      removed: answer.removed,
      statements: answer.statements,
      ...counts,
    };
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
    yield* record({ summary: { failure: { at: at(), message } } });
    yield* audit("connection sync failed", message, { trigger: options.trigger });
    return {
      outcome: "failed",
      ...none,
      skipped: plan?.skipped.length ?? 0,
      connections: plan?.connections.length ?? 0,
      failure: message,
    };
  }
}

export interface ConnectionSyncInput {
  stack: string;
  trigger: "timer" | "request";
  force?: boolean;
}

/** The singleton `connections-<stack>`: the stack's spec as registered now, then one sync. */
export const syncConnectionsOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ConnectionSyncInput>();
  const wf = workflow(context);
  const target = yield* wf.call("loadAccessTarget", { stack: input.stack });
  if (!target.spec?.connections) return { outcome: "nothing", reason: "the stack has no connections section" };
  return yield* syncConnections(wf, {
    spec: target.spec,
    operation: { kind: "connections", instanceId: context.df.instanceId },
    trigger: input.trigger,
    ...(input.force ? { force: true } : {}),
  });
};

df.app.orchestration(Names.orchestrators.syncConnections, syncConnectionsOrchestrator);
