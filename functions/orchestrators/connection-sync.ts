// Connections from the Azure inventory: desired (the sources' tagged VMs, as Resource Graph lists
// them) against observed (Guacamole's tables, read by the node agent), level-triggered. Run inside
// a deploy (after sign-in, whose user groups the connections are given to) and as its own singleton
// orchestration `connections-<stack>` (the timer every 5 minutes, POST .../connections/sync).
// Deterministic: every read and write is an activity; when the desired set is what was last
// applied and no look is due, the plan is the only step (no Run Command, no SQL), and when only the
// listing changed (a power state, a skipped VM) the ledger is the only write.
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import * as df from "durable-functions";
import type {
  ApplyConnectionsInput,
  PlanConnectionSyncOutput,
  RecordConnectionsInput,
} from "../activities/connections";
import type { WebNodeRef } from "../activities/nodes";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import { Names } from "../names";
import { activityRetry } from "./activity-retry";

export interface ConnectionSyncOptions {
  spec: StackSpec;
  nodes?: WebNodeRef[];
  retry: df.RetryOptions;
  operation: { kind: string; instanceId: string };
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

/** What the agent answered (`connections`): counts and lines, never a parameter value. */
interface AgentConnectionsAnswer {
  changed: string[];
  changes: number;
  conflicts: string[];
  missingGroups: string[];
  created: number;
  updated: number;
  removed: number;
  statements: number;
  applied: boolean;
}

export function* syncConnections(
  context: OrchestrationContext,
  options: ConnectionSyncOptions,
): Generator<Task, ConnectionSyncOutcome, unknown> {
  const { spec, retry, operation } = options;
  const at = () => context.df.currentUtcDateTime.toISOString();
  const record = (data: Omit<RecordConnectionsInput, "stack">) =>
    context.df.callActivityWithRetry(Names.activities.recordConnections, retry, { stack: spec.name, ...data });
  const audit = (what: string, why: string, details: Record<string, unknown>) =>
    context.df.callActivityWithRetry(Names.activities.appendAudit, retry, {
      stack: spec.name,
      what,
      why,
      operation,
      details,
    });
  const none = { created: 0, updated: 0, removed: 0, statements: 0 };
  let plan: PlanConnectionSyncOutput | undefined;
  try {
    plan = (yield context.df.callActivityWithRetry(Names.activities.planConnectionSync, retry, {
      spec,
      at: at(),
      ...(options.force ? { force: true } : {}),
      ...(options.nodes ? { nodes: options.nodes } : {}),
    })) as PlanConnectionSyncOutput;
    const counts = { skipped: plan.skipped.length, connections: plan.connections.length };
    const listing = {
      listingDigest: plan.listingDigest,
      at: at(),
      instanceId: context.df.instanceId,
      trigger: options.trigger,
      skipped: plan.skipped,
      requests: { resourceGraph: plan.requests.resourceGraph, keyVault: plan.requests.keyVault, runCommand: 0 },
      failure: null,
    };
    if (!plan.due) {
      if (!plan.stale) return { outcome: "nothing", ...none, ...counts };
      yield record({
        summary: { ...listing, counts: { ...counts, created: 0, updated: 0, removed: 0 } },
        connections: plan.connections,
      });
      return { outcome: "recorded", ...none, ...counts };
    }
    if (!plan.node) throw new Error("the stack has no web node to run the sync on");
    const apply: ApplyConnectionsInput = {
      spec,
      vmName: plan.node.name,
      desired: plan.desired,
      credentials: plan.credentials,
    };
    const result = (yield context.df.callActivityWithRetry(
      Names.activities.applyConnections,
      retry,
      apply,
    )) as AgentCommandResult;
    if (!result.reachable || result.exitCode !== 0 || typeof result.json !== "object" || result.json === null)
      throw new Error(
        `connections on ${plan.node.name} failed: ${result.error ?? result.stderr ?? `exit ${result.exitCode}`}`,
      );
    const answer = result.json as AgentConnectionsAnswer;
    yield record({
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
      yield audit(
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
    yield record({ summary: { failure: { at: at(), message } } });
    yield audit("connection sync failed", message, { trigger: options.trigger });
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
  const target = (yield context.df.callActivityWithRetry(Names.activities.loadAccessTarget, activityRetry(), {
    stack: input.stack,
  })) as { spec?: StackSpec };
  if (!target.spec?.connections) return { outcome: "nothing", reason: "the stack has no connections section" };
  return yield* syncConnections(context, {
    spec: target.spec,
    retry: activityRetry(),
    operation: { kind: "connections", instanceId: context.df.instanceId },
    trigger: input.trigger,
    ...(input.force ? { force: true } : {}),
  });
};

df.app.orchestration(Names.orchestrators.syncConnections, syncConnectionsOrchestrator);
