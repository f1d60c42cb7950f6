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
import { accessGroupsResultOf, guacadminResultOf, signInResultOf } from "../../shared/node/agent";
import { nodeHealth, type WebNodeRef } from "../../shared/node/model";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import type { OperationKind } from "../../shared/store";
import type { RecordAccessInput } from "../activities/access";
import { jsonDocumentOf, liveSessionsOf, runAgent, verifyHealthy } from "../workflow/node-steps";
import type { Step, Workflow } from "../workflow/workflow";

export interface AccessSyncOptions {
  spec: StackSpec;
  /** the web nodes, when the caller has them (else the plan lists them if it needs them) */
  nodes?: WebNodeRef[];
  /** seconds between polls of a draining or restarting node (default 30) */
  pollSeconds?: number;
  /** how long a node may take to be healthy again after its settings changed */
  nodeReadyTimeoutMinutes: number;
  operation: { kind: OperationKind; instanceId: string };
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

export function* syncAccess(wf: Workflow, options: AccessSyncOptions): Step<AccessOutcome> {
  const { spec, operation } = options;
  const now = () => wf.now();
  const pollMs = (options.pollSeconds ?? 30) * 1000;
  const report = (p: AccessProgress) => options.report?.(p);
  report({ step: "plan" });
  const planned = yield* wf.call("planAccessSync", {
    spec,
    ...(options.nodes ? { nodes: options.nodes } : {}),
    at: now().toISOString(),
  });
  if (planned.plan.nothing) return { nothing: true, signIn: planned.signIn, changes: [] };
  if (planned.fleet.length === 0) throw new Error("sign-in: the stack has no web nodes");

  const agent = (vmName: string, command: string, args: string[]) => runAgent(wf, spec, vmName, command, args);
  const answer = (result: AgentCommandResult, what: string): Record<string, unknown> => {
    const document = jsonDocumentOf(result);
    if (!document) throw new Error(`${what} failed: ${result.error ?? result.stderr ?? `exit ${result.exitCode}`}`);
    return document;
  };
  const record = (data: Omit<RecordAccessInput, "stack">) => wf.call("recordAccess", { stack: spec.name, ...data });
  const audit = (what: string, why: string, details: Record<string, unknown>) =>
    wf.call("appendAudit", { stack: spec.name, what, why, operation, details });
  const changes: string[] = [];
  const first = planned.fleet[0].name;

  const groups = function* (): Step<void> {
    if (!planned.plan.groups) return;
    report({ step: "groups" });
    const result = accessGroupsResultOf(
      answer(yield* agent(first, "access-groups", planned.groupArgs), `the group sync through ${first}`),
    );
    yield* record({
      groups: {
        digest: planned.groupsDigest,
        mapped: planned.groups.map((g) => ({ id: g.id, role: g.role, permissions: g.permissions })),
        conflicts: result.conflicts,
        lastChanges: result.changed,
        at: now().toISOString(),
        instanceId: wf.instanceId,
      },
    });
    changes.push(...result.changed);
    if (result.changed.length > 0 || result.conflicts.length > 0)
      yield* audit(
        result.changed.length > 0 ? "access groups synced" : "access groups checked",
        `${planned.plan.groups}: ${result.changed.length} change(s) in ${result.statements} statement(s)${result.conflicts.length > 0 ? `; ${result.conflicts.length} group(s) of a mapped id were not made by Jumpgate and were left alone` : ""}`,
        { changes: result.changed.slice(0, 40), conflicts: result.conflicts, statements: result.statements },
      );
  };

  /** Polls the node's health until `done` says so or the next poll would pass the deadline; the last answer. */
  const pollHealth = function* (
    node: string,
    done: (h: AgentCommandResult) => boolean,
    deadline: Date,
  ): Step<AgentCommandResult> {
    return (yield* verifyHealthy(wf, () => agent(node, "health", []), done, { deadline, pollMs })).seen;
  };
  const liveSessions = (h: AgentCommandResult) => liveSessionsOf(h) ?? 0;
  const isHealthy = (h: AgentCommandResult) => nodeHealth(h).healthy;

  const nodes = function* (): Step<void> {
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
        const drainDeadline = wf.after(spec.policies.scale.drainTimeoutMinutes * 60_000);
        const drained = yield* pollHealth(node.name, (h) => liveSessions(h) === 0, drainDeadline);
        report({ step: "nodes", node: node.name, state: "applying" });
        const applied = signInResultOf(
          answer(yield* agent(node.name, "sign-in", planned.signInArgs), `sign-in on ${node.name}`),
        );
        report({ step: "nodes", node: node.name, state: "verifying" });
        const readyDeadline = wf.after(options.nodeReadyTimeoutMinutes * 60_000);
        const health = yield* pollHealth(node.name, isHealthy, readyDeadline);
        answer(yield* agent(node.name, "drain", ["off"]), `drain off ${node.name}`);
        if (!isHealthy(health)) throw new Error(`${node.name} is not healthy after its sign-in settings changed`);
        const line = `${node.name}: sign-in ${applied.signIn} (Tomcat restarted)`;
        changes.push(line);
        yield* audit(`sign-in settings applied`, `${node.name}: ${node.why}`, {
          node: node.name,
          signIn: applied.signIn,
          digest: applied.digest,
          ...(liveSessions(drained) > 0 ? { sessionsCut: liveSessions(drained) } : {}),
        });
      }
      yield* record({
        nodes: [{ name: node.name, id: node.id, digest: planned.digest, at: now().toISOString() }],
        fleet: planned.fleet.map((n) => n.name),
      });
    }
    yield* record({ signIn: planned.signIn, digest: planned.digest, fleet: planned.fleet.map((n) => n.name) });
  };

  const guacadmin = function* (): Step<void> {
    const step = planned.plan.guacadmin;
    if (!step) return;
    report({ step: "guacadmin" });
    const result = guacadminResultOf(
      answer(yield* agent(first, "guacadmin", [step.action]), `guacadmin ${step.action}`),
    );
    yield* record({
      guacadmin: { disabled: result.disabled, ...(result.changed ? { since: now().toISOString() } : {}) },
    });
    if (result.changed) {
      changes.push(`guacadmin ${step.action}d`);
      yield* audit(`guacadmin ${step.action}d`, step.why, { user: result.user });
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
