// Bringing web nodes into service, inside an orchestrator: wait until every node's agent answers
// (cloud-init has installed it), bootstrap the database once through the first node (deploy only),
// give nodes whose database check fails the current app user's credentials, install the stack's
// certificate (scale-out of a stack that has one), then wait until every node is healthy. Used by
// the deploy for the whole fleet and by scale-out for the node it adds. Deterministic: time comes
// from the orchestration, and every call goes through an activity.
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import type { ObservedNode } from "../../shared/stack-status";
import type { WebNodeRef } from "../activities/nodes";
import { normalizeSerial } from "../../shared/acme/certificate";
import { Names } from "../names";
import { agentAnswered, databaseCheckFails, isHealthy, observedNode } from "./node-health";

export type BringUpPhase = "database" | "certificate" | "health";

export interface BringUpOptions {
  spec: StackSpec;
  nodes: WebNodeRef[];
  /** how long to wait for the nodes (cloud-init builds guacd on first boot) */
  nodeReadyTimeoutMinutes: number;
  /** when to give up (default: nodeReadyTimeoutMinutes from now) */
  deadline?: Date;
  /** seconds between health polls (default 30) */
  pollSeconds?: number;
  /** app user the nodes use (rotation alternates it); default "a" */
  dbUserSlot?: "a" | "b";
  /**
   * bootstrap the schema and app users through the first node (a deploy; idempotent); "check-first":
   * only when `bootstrap-db --check` (read-only, as the app users, no admin password) finds a
   * difference, or cannot tell
   */
  bootstrapDatabase: boolean | "check-first";
  /** what became of the database: bootstrapped (as the admin) or checked and left alone */
  database?: (outcome: { bootstrapped: boolean; differences?: string[] }) => void;
  /** Key Vault secret of the stack's TLS bundle, installed on every node before the health wait */
  certificateSecret?: string;
  /**
   * The stack's current certificate (a deploy): nodes that do not serve this serial install it
   * before they get database credentials, i.e. before they can be healthy and take traffic
   */
  certificate?: { secret: string; serial: string };
  retry: df.RetryOptions;
  phase?: (phase: BringUpPhase) => void;
  report?: (nodes: { name: string; healthy: boolean; problems: string[] }[]) => void;
}

/** Brings `nodes` into service; throws with the nodes' problems when they are not healthy in time. */
export function* bringUpWebNodes(
  context: OrchestrationContext,
  options: BringUpOptions,
): Generator<Task, ObservedNode[], unknown> {
  const { spec, nodes, retry } = options;
  const pollMs = (options.pollSeconds ?? 30) * 1000;
  const deadline =
    options.deadline ?? new Date(context.df.currentUtcDateTime.getTime() + options.nodeReadyTimeoutMinutes * 60_000);
  const target = { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup, stack: spec.name };
  let seen: { name: string; healthy: boolean; problems: string[] }[] = [];

  const agent = (vmName: string, command: string, args?: string[]) =>
    context.df.callActivityWithRetry(Names.activities.runNodeAgent, retry, {
      ...target,
      vmName,
      command,
      ...(args ? { args } : {}),
    });
  const health = function* (): Generator<Task, AgentCommandResult[], unknown> {
    return (yield context.df.Task.all(nodes.map((n) => agent(n.name, "health")))) as AgentCommandResult[];
  };
  const report = (results: AgentCommandResult[]) => {
    const at = context.df.currentUtcDateTime;
    seen = results.map((r, i) => {
      const o = observedNode(nodes[i].name, nodes[i].id, r, at);
      return { name: o.name, healthy: o.healthy, problems: o.problems };
    });
    options.report?.(seen);
  };
  const waitOrGiveUp = function* (what: string): Generator<Task, void, unknown> {
    const next = new Date(context.df.currentUtcDateTime.getTime() + pollMs);
    if (next > deadline) {
      const problems = seen.filter((n) => !n.healthy).map((n) => `${n.name}: ${n.problems.join(", ")}`);
      throw new Error(
        `nodes not ${what} after ${options.nodeReadyTimeoutMinutes} minutes${problems.length ? `: ${problems.join("; ")}` : ""}`,
      );
    }
    yield context.df.createTimer(next);
  };
  const mustSucceed = (result: AgentCommandResult, what: string) => {
    if (!result.reachable || result.exitCode !== 0) {
      throw new Error(`${what} failed: ${result.error ?? result.stderr ?? `exit ${result.exitCode}`}`);
    }
  };

  // 1. every agent answers (cloud-init has installed and configured it)
  let results = yield* health();
  report(results);
  while (!results.every(agentAnswered)) {
    yield* waitOrGiveUp("reachable");
    results = yield* health();
    report(results);
  }

  // 2. the schema, the app users and guacadmin's password, once, through one node (idempotent); the
  // admin password reaches that one command only (protected parameters), and with "check-first" only
  // when a read-only check as the app users found something to change
  if (options.bootstrapDatabase) {
    options.phase?.("database");
    let differences: string[] | undefined;
    if (options.bootstrapDatabase === "check-first") {
      const check = (yield agent(nodes[0].name, "bootstrap-db", ["--check"])) as AgentCommandResult;
      const found = (check.json as { differences?: unknown } | undefined)?.differences;
      // a check that did not answer says nothing: bootstrap then, which reports its own failure
      if (check.reachable && check.exitCode === 0 && Array.isArray(found)) differences = found.map(String);
    }
    const bootstrapped = differences === undefined || differences.length > 0;
    if (bootstrapped) {
      const bootstrap = (yield agent(nodes[0].name, "bootstrap-db")) as AgentCommandResult;
      mustSucceed(bootstrap, `database bootstrap through ${nodes[0].name}`);
    }
    options.database?.({ bootstrapped, ...(differences ? { differences } : {}) });
  }

  // 2b. a deploy of a stack with a certificate: nodes that do not serve it install it first
  if (options.certificate) {
    const want = normalizeSerial(options.certificate.serial);
    for (let i = 0; i < nodes.length; i++) {
      const served = (results[i].json as { certificate?: { serial?: unknown } | null } | undefined)?.certificate
        ?.serial;
      if (typeof served === "string" && normalizeSerial(served) === want) continue;
      const installed = (yield agent(nodes[i].name, "install-cert", [
        "--secret",
        options.certificate.secret,
      ])) as AgentCommandResult;
      mustSucceed(installed, `certificate install on ${nodes[i].name}`);
    }
  }

  // 3. nodes whose database check fails get the current app user's credentials
  const slot = options.dbUserSlot ?? "a";
  for (let i = 0; i < nodes.length; i++) {
    if (!databaseCheckFails(results[i])) continue;
    const switched = (yield agent(nodes[i].name, "db-credentials", ["--user", slot])) as AgentCommandResult;
    mustSucceed(switched, `database credentials on ${nodes[i].name}`);
  }

  // 4. the stack's certificate, when it has one (the agent fetches it from Key Vault itself)
  if (options.certificateSecret) {
    options.phase?.("certificate");
    for (const n of nodes) {
      const installed = (yield agent(n.name, "install-cert", [
        "--secret",
        options.certificateSecret,
      ])) as AgentCommandResult;
      mustSucceed(installed, `certificate install on ${n.name}`);
    }
  }

  // 5. every node healthy
  options.phase?.("health");
  results = yield* health();
  report(results);
  while (!results.every(isHealthy)) {
    yield* waitOrGiveUp("healthy");
    results = yield* health();
    report(results);
  }
  const at = context.df.currentUtcDateTime;
  return results.map((r, i) => observedNode(nodes[i].name, nodes[i].id, r, at));
}
