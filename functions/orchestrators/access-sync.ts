// Sign-in with Entra ID inside an orchestrator (a deploy, the drift check): make the nodes'
// settings, Guacamole's user groups and guacadmin match the spec's access section. Deterministic:
// time from the orchestration, every side effect an activity. What to do comes from
// planAccessSync (desired vs what the registry says was applied): when nothing differs and nothing
// is due for a look, this schedules that one read and returns.
//
// Order: with sign-in on, the groups first (administrators exist before anyone depends on them),
// then the nodes, then guacadmin is disabled; turning it off, the nodes first (the local sign-in
// page is back), then guacadmin is enabled, then the groups lose their permissions. A node whose
// settings differ is drained first (a Tomcat restart drops its sessions), one node at a time, as a
// credential roll does; a node that already has them (`sign-in --check`) is not touched.
import type { OrchestrationContext, Task } from "durable-functions";
import type * as df from "durable-functions";
import { accessGroupsResultOf, guacadminResultOf, signInResultOf } from "../../shared/node/agent";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import type { PlanAccessSyncOutput, RecordAccessInput } from "../activities/access";
import type { WebNodeRef } from "../activities/nodes";
import { Names } from "../names";
import { isHealthy } from "./node-health";

export interface AccessSyncOptions {
  spec: StackSpec;
  /** the web nodes, when the caller has them (else the plan lists them if it needs them) */
  nodes?: WebNodeRef[];
  retry: df.RetryOptions;
  /** seconds between polls of a draining or restarting node (default 30) */
  pollSeconds?: number;
  /** how long a node may take to be healthy again after its settings changed */
  nodeReadyTimeoutMinutes: number;
  operation: { kind: string; instanceId: string };
  report?: (progress: AccessProgress) => void;
}

export interface AccessProgress {
  step: "plan" | "groups" | "nodes" | "guacadmin" | "done";
  node?: string;
  state?: "checking" | "draining" | "applying" | "verifying";
}

export interface AccessOutcome {
  /** nothing was due: only the plan ran */
  nothing: boolean;
  signIn: "on" | "off";
  /** what changed, one line each (for the audit trail and the operation's output) */
  changes: string[];
}

export function* syncAccess(
  context: OrchestrationContext,
  options: AccessSyncOptions,
): Generator<Task, AccessOutcome, unknown> {
  const { spec, retry, operation } = options;
  const now = () => context.df.currentUtcDateTime;
  const pollMs = (options.pollSeconds ?? 30) * 1000;
  const report = (p: AccessProgress) => options.report?.(p);
  report({ step: "plan" });
  const planned = (yield context.df.callActivityWithRetry(Names.activities.planAccessSync, retry, {
    spec,
    ...(options.nodes ? { nodes: options.nodes } : {}),
    at: now().toISOString(),
  })) as PlanAccessSyncOutput;
  if (planned.plan.nothing) return { nothing: true, signIn: planned.signIn, changes: [] };
  if (planned.fleet.length === 0) throw new Error("sign-in: the stack has no web nodes");

  const target = { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup, stack: spec.name };
  const agent = function* (vmName: string, command: string, args: string[]): Generator<Task, AgentCommandResult> {
    return (yield context.df.callActivityWithRetry(Names.activities.runNodeAgent, retry, {
      ...target,
      vmName,
      command,
      args,
    })) as AgentCommandResult;
  };
  const answer = (result: AgentCommandResult, what: string): Record<string, unknown> => {
    if (!result.reachable || result.exitCode !== 0 || typeof result.json !== "object" || result.json === null) {
      throw new Error(`${what} failed: ${result.error ?? result.stderr ?? `exit ${result.exitCode}`}`);
    }
    return result.json as Record<string, unknown>;
  };
  const record = (data: Omit<RecordAccessInput, "stack">) =>
    context.df.callActivityWithRetry(Names.activities.recordAccess, retry, { stack: spec.name, ...data });
  const audit = (what: string, why: string, details: Record<string, unknown>) =>
    context.df.callActivityWithRetry(Names.activities.appendAudit, retry, {
      stack: spec.name,
      what,
      why,
      operation,
      details,
    });
  const changes: string[] = [];
  const first = planned.fleet[0].name;

  const groups = function* (): Generator<Task, void> {
    if (!planned.plan.groups) return;
    report({ step: "groups" });
    const result = accessGroupsResultOf(
      answer(yield* agent(first, "access-groups", planned.groupArgs), `the group sync through ${first}`),
    );
    yield record({
      groups: {
        digest: planned.groupsDigest,
        mapped: planned.groups.map((g) => ({ id: g.id, role: g.role, permissions: g.permissions })),
        conflicts: result.conflicts,
        lastChanges: result.changed,
        at: now().toISOString(),
        instanceId: context.df.instanceId,
      },
    });
    changes.push(...result.changed);
    if (result.changed.length > 0 || result.conflicts.length > 0)
      yield audit(
        result.changed.length > 0 ? "access groups synced" : "access groups checked",
        `${planned.plan.groups}: ${result.changed.length} change(s) in ${result.statements} statement(s)${result.conflicts.length > 0 ? `; ${result.conflicts.length} group(s) of a mapped id were not made by Jumpgate and were left alone` : ""}`,
        { changes: result.changed.slice(0, 40), conflicts: result.conflicts, statements: result.statements },
      );
  };

  /** Polls the node's health until `done` says so or the deadline passes; the last answer. */
  const pollHealth = function* (
    node: string,
    done: (h: AgentCommandResult) => boolean,
    deadline: number,
  ): Generator<Task, AgentCommandResult> {
    let health = yield* agent(node, "health", []);
    while (!done(health) && now().getTime() + pollMs <= deadline) {
      yield context.df.createTimer(new Date(now().getTime() + pollMs));
      health = yield* agent(node, "health", []);
    }
    return health;
  };
  const liveSessions = (h: AgentCommandResult) => {
    const live = (h.json as { liveSessions?: unknown } | undefined)?.liveSessions;
    return typeof live === "number" ? live : 0;
  };

  const nodes = function* (): Generator<Task, void> {
    for (const node of planned.plan.nodes) {
      report({ step: "nodes", node: node.name, state: "checking" });
      const check = signInResultOf(
        answer(
          yield* agent(node.name, "sign-in", [...planned.signInArgs, "--check"]),
          `sign-in --check on ${node.name}`,
        ),
      );
      if (check.changed) {
        report({ step: "nodes", node: node.name, state: "draining" });
        answer(yield* agent(node.name, "drain", ["on"]), `drain on ${node.name}`);
        const drainDeadline = now().getTime() + spec.policies.scale.drainTimeoutMinutes * 60_000;
        const drained = yield* pollHealth(node.name, (h) => liveSessions(h) === 0, drainDeadline);
        report({ step: "nodes", node: node.name, state: "applying" });
        const applied = signInResultOf(
          answer(yield* agent(node.name, "sign-in", planned.signInArgs), `sign-in on ${node.name}`),
        );
        report({ step: "nodes", node: node.name, state: "verifying" });
        const readyDeadline = now().getTime() + options.nodeReadyTimeoutMinutes * 60_000;
        const health = yield* pollHealth(node.name, isHealthy, readyDeadline);
        answer(yield* agent(node.name, "drain", ["off"]), `drain off ${node.name}`);
        if (!isHealthy(health)) throw new Error(`${node.name} is not healthy after its sign-in settings changed`);
        const line = `${node.name}: sign-in ${applied.signIn} (Tomcat restarted)`;
        changes.push(line);
        yield audit(`sign-in settings applied`, `${node.name}: ${node.why}`, {
          node: node.name,
          signIn: applied.signIn,
          digest: applied.digest,
          ...(liveSessions(drained) > 0 ? { sessionsCut: liveSessions(drained) } : {}),
        });
      }
      yield record({
        nodes: [{ name: node.name, id: node.id, digest: planned.digest, at: now().toISOString() }],
        fleet: planned.fleet.map((n) => n.name),
      });
    }
    yield record({ signIn: planned.signIn, digest: planned.digest, fleet: planned.fleet.map((n) => n.name) });
  };

  const guacadmin = function* (): Generator<Task, void> {
    const step = planned.plan.guacadmin;
    if (!step) return;
    report({ step: "guacadmin" });
    const result = guacadminResultOf(
      answer(yield* agent(first, "guacadmin", [step.action]), `guacadmin ${step.action}`),
    );
    yield record({
      guacadmin: { disabled: result.disabled, ...(result.changed ? { since: now().toISOString() } : {}) },
    });
    if (result.changed) {
      changes.push(`guacadmin ${step.action}d`);
      yield audit(`guacadmin ${step.action}d`, step.why, { user: result.user });
    }
  };

  if (planned.signIn === "on") {
    yield* groups();
    yield* nodes();
    yield* guacadmin();
  } else {
    yield* nodes();
    yield* guacadmin();
    yield* groups();
  }
  report({ step: "done" });
  return { nothing: false, signIn: planned.signIn, changes };
}
