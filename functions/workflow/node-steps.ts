// What the workers do to a web node, as orchestration steps: run an agent command (Run Command,
// through the runNodeAgent activity), look at its health, wait until it is what the caller needs,
// drain it, and bring nodes into service (deploy and scale-out). Every wait is a durable timer,
// every look an activity; a node's health is parsed by the one node model (shared/node/model.ts),
// and what a joining node gets is decided by shared/node/join.ts.
import { joinSteps, type JoinPlan } from "../../shared/node/join";
import { nodeHealth, summarize, type NodeHealth, type NodeSummary, type WebNodeRef } from "../../shared/node/model";
import { lostRecordingsOf } from "../../shared/node/agent";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import type { Worker, WorkerStatus } from "./worker";
import type { Step, TypedTask, Workflow } from "./workflow";

// ------------------------------------------------------------------------------------ the agent

/** The runNodeAgent activity's input: one agent command on one web VM of the stack. */
function agentInput(spec: StackSpec, vmName: string, command: string, args: string[]) {
  return {
    subscriptionId: spec.subscriptionId,
    resourceGroup: spec.resourceGroup,
    vmName,
    command,
    args,
    // whose vault holds what an admin step gets handed (protected parameters)
    stack: spec.name,
  };
}

/** One node agent command, not yet awaited (for `all`). */
export function agentTask(
  wf: Workflow,
  spec: StackSpec,
  vmName: string,
  command: string,
  args: string[] = [],
): TypedTask<AgentCommandResult> {
  return wf.task("runNodeAgent", agentInput(spec, vmName, command, args));
}

/** One node agent command on one web VM of the stack. */
export function* runAgent(
  wf: Workflow,
  spec: StackSpec,
  vmName: string,
  command: string,
  args: string[] = [],
): Step<AgentCommandResult> {
  return yield* wf.call("runNodeAgent", agentInput(spec, vmName, command, args));
}

/** The command ran and exited 0. */
export function succeeded(r: AgentCommandResult): boolean {
  return r.reachable && r.exitCode === 0;
}

/** One line on why an agent command failed (its last stderr line, never a secret: the agent redacts). */
export function whyFailed(r: AgentCommandResult): string {
  if (!r.reachable) return r.error ?? "the VM agent did not answer";
  const last = (r.stderr ?? "").trim().split("\n").pop() ?? "";
  return (last || `exit ${r.exitCode ?? "?"}`).replace(/^jumpgate-node: (error: )?/, "").slice(0, 300);
}

/** Throws `<what> failed: <why>` unless the command succeeded. */
export function mustSucceed(r: AgentCommandResult, what: string): void {
  if (!succeeded(r)) throw new Error(`${what} failed: ${whyFailed(r)}`);
}

/** The JSON document a command printed, when it succeeded and printed one. */
export function jsonDocumentOf(r: AgentCommandResult): Record<string, unknown> | undefined {
  return succeeded(r) && isRecord(r.json) ? r.json : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The live sessions an agent's answer reports, when it reports them. */
export function liveSessionsOf(r: AgentCommandResult): number | undefined {
  const json = r.json as { liveSessions?: unknown } | undefined;
  return r.reachable && typeof json?.liveSessions === "number" ? json.liveSessions : undefined;
}

// ------------------------------------------------------------------------------------ looking

/** The node's health, as its agent reports it. */
export function* observeNode(wf: Workflow, spec: StackSpec, vmName: string): Step<NodeHealth> {
  return nodeHealth(yield* runAgent(wf, spec, vmName, "health"));
}

/** Every node's health, asked in parallel. */
export function* observeNodes(wf: Workflow, spec: StackSpec, nodes: readonly WebNodeRef[]): Step<NodeHealth[]> {
  const answers = yield* wf.all(nodes.map((n) => agentTask(wf, spec, n.name, "health")));
  return answers.map(nodeHealth);
}

/**
 * Looks until `done` says yes, or until the next look would come after the deadline: a look, then a
 * poll's wait (or, when `nextLookAt` names a time for what was seen, a wait until then). The answer
 * holds the last look either way.
 */
export function* verifyHealthy<T>(
  wf: Workflow,
  look: () => Step<T>,
  done: (seen: T) => boolean,
  timing: { deadline: Date; pollMs: number; nextLookAt?: (seen: T) => Date | undefined },
): Step<{ ok: boolean; seen: T }> {
  for (;;) {
    const seen = yield* look();
    if (done(seen)) return { ok: true, seen };
    const next = timing.nextLookAt?.(seen) ?? wf.after(timing.pollMs);
    if (next > timing.deadline) return { ok: false, seen };
    yield* wf.sleep(next);
  }
}

// ------------------------------------------------------------------------------------ draining

export interface DrainOptions {
  /** the node is drained already: no `drain on` */
  draining: boolean;
  /** a failed `drain on` ends the drain ("failed"); otherwise the caller goes on without it */
  required: boolean;
  /** how `drain on` runs (default: runAgent) */
  run?: (command: string, args: string[]) => Step<AgentCommandResult>;
  /** the live sessions known once drained (the answer of `drain on`, when there was one); undefined: look */
  sessions: (drainAnswer: AgentCommandResult | undefined) => number | undefined;
  /** live sessions on the node now (undefined: not known, so it waits on) */
  look: () => Step<number | undefined>;
  /** how long sessions may take to end, from the moment the node is drained */
  timeoutMs: number;
  pollMs: number;
  /**
   * "to-deadline": the last wait ends at the deadline and the node is looked at once more (scale-in:
   * the policy's timeout is the sessions' contract); "whole-polls": no wait that would pass it
   */
  lastWait: "to-deadline" | "whole-polls";
  /** wake on this event and stop draining when `abort` says so (a scale-out asked meanwhile) */
  wake?: { event: string; abort: () => Step<boolean> };
}

export type DrainOutcome =
  | { outcome: "drained" | "deadline" | "aborted"; sessions: number | undefined; deadline: Date }
  | { outcome: "failed"; detail: string };

/**
 * Takes the node out of service (`drain on`: the load balancer probe answers 503, no new session
 * comes) and waits for its live sessions to end, or for the deadline.
 */
export function* drainNode<S extends WorkerStatus>(
  w: Worker<S>,
  spec: StackSpec,
  vmName: string,
  options: DrainOptions,
): Step<DrainOutcome> {
  let answer: AgentCommandResult | undefined;
  if (!options.draining) {
    answer = yield* (options.run ?? ((command, args) => runAgent(w, spec, vmName, command, args)))("drain", ["on"]);
    if (!succeeded(answer) && options.required) return { outcome: "failed", detail: whyFailed(answer) };
    // the drain ships the node's session recordings first: what it could not is evidence lost, said
    // here with the reason (an answer without recordings, as in every older history, adds no step)
    const lost = succeeded(answer) ? lostRecordingsOf(answer.json) : [];
    if (lost.length > 0) {
      yield* w.audit(
        "recordings.lost",
        `${lost.length} session recording(s) of ${vmName} could not be shipped before it is replaced or removed: ${lost
          .map((l) => `${l.recording} (${l.reason})`)
          .join("; ")}`.slice(0, 1_000),
        { node: vmName, lost: lost.slice(0, 10) },
      );
    }
  }
  const deadline = w.after(options.timeoutMs);
  let sessions = options.sessions(answer) ?? (yield* options.look());
  for (;;) {
    if (sessions === 0) break;
    let next = w.after(options.pollMs);
    if (next > deadline) {
      if (options.lastWait === "whole-polls" || w.now() >= deadline) break;
      next = deadline;
    }
    const count = sessions === undefined ? "live sessions" : `${sessions} live session(s)`;
    w.waiting(w.status.phase, `${count} on ${vmName} to end (at most until ${deadline.toISOString()})`, deadline);
    if (options.wake) {
      const woke = yield* w.sleepOrWake(next, options.wake.event);
      if (woke.woken && (yield* options.wake.abort())) {
        w.clearWait();
        return { outcome: "aborted", sessions, deadline };
      }
    } else {
      yield* w.sleep(next);
    }
    sessions = yield* options.look();
  }
  w.clearWait();
  return { outcome: sessions === 0 ? "drained" : "deadline", sessions, deadline };
}

// ------------------------------------------------------------------------------------ bringing up

export interface BringUpOptions {
  spec: StackSpec;
  nodes: WebNodeRef[];
  /** when to give up waiting for the nodes */
  deadline: Date;
  /** the wait in minutes, for the failure message */
  timeoutMinutes: number;
  pollMs: number;
  /** what a joining node gets (shared/node/join.ts); with sign-in, the registry records each node as configured */
  join: JoinPlan;
  /**
   * the schema, the app users and guacadmin's password, once, through the first node (a deploy):
   * "bootstrap" always (idempotent), "check-first" only when `bootstrap-db --check` (read-only, as
   * the app users) finds a difference or cannot tell
   */
  database?: "bootstrap" | "check-first";
  /** what became of the database: bootstrapped (as the admin) or checked and left alone */
  onDatabase?: (outcome: { bootstrapped: boolean; differences?: string[] }) => void;
  onPhase?: (phase: "database" | "health") => void;
  /**
   * when the nodes' first boot can have ended (shared/node/first-boot.ts): a node still installing
   * is looked at again then, not a poll later (nor sooner); unset, or past: every poll
   */
  firstBootEndsAt?: Date;
  /**
   * one more look to take at the same time as each health look once the nodes have joined (heal's
   * race: the broken node, looked at while the replacement's health is; Run Commands on two VMs run
   * side by side); `onAnswer` gets each answer, so the caller holds the one taken with the look
   * that found the nodes healthy
   */
  alongside?: { task: () => TypedTask<unknown>; onAnswer: (answer: unknown) => void };
  report?: (nodes: { name: string; healthy: boolean; problems: string[] }[]) => void;
}

/**
 * Brings `nodes` into service: waits until every agent answers (cloud-init has installed it), sets
 * up the database once (deploy), joins each node (certificate, credentials), then waits until every
 * node is healthy. Throws with the nodes' problems when they are not, in time.
 */
export function* bringUp(wf: Workflow, options: BringUpOptions): Step<NodeSummary[]> {
  const { spec, nodes } = options;
  const timing = { deadline: options.deadline, pollMs: options.pollMs };
  const summaries = (health: NodeHealth[]) => health.map((h, i) => summarize(nodes[i].name, nodes[i].id, h, wf.now()));
  const look = function* (): Step<NodeHealth[]> {
    const health = yield* observeNodes(wf, spec, nodes);
    options.report?.(summaries(health).map((n) => ({ name: n.name, healthy: n.healthy, problems: n.problems })));
    return health;
  };
  const notInTime = (what: string, seen: NodeSummary[]) => {
    const problems = seen.filter((n) => !n.healthy).map((n) => `${n.name}: ${n.problems.join(", ")}`);
    return new Error(
      `nodes not ${what} after ${options.timeoutMinutes} minutes${problems.length ? `: ${problems.join("; ")}` : ""}`,
    );
  };

  // 1. every agent answers and its first-boot installer has finished (the agent is written before
  // the installer runs, so it answers `installed: null` meanwhile; credentials can't go in before)
  // the wait after a look that found a node installing ends when its first boot can have ended
  // (a timer where the poll's was: the history's shape is the same)
  const bootEnds = options.firstBootEndsAt;
  const untilBooted = () => (bootEnds && bootEnds > wf.now() && bootEnds <= options.deadline ? bootEnds : undefined);
  const reachable = yield* verifyHealthy(wf, look, (h) => h.every((n) => n.answered && !n.installing), {
    ...timing,
    nextLookAt: untilBooted,
  });
  if (!reachable.ok) throw notInTime("reachable", summaries(reachable.seen));

  // 2. the database, through one node; the admin password reaches that one command only
  if (options.database) {
    options.onPhase?.("database");
    let differences: string[] | undefined;
    if (options.database === "check-first") {
      const check = yield* runAgent(wf, spec, nodes[0].name, "bootstrap-db", ["--check"]);
      const found = (check.json as { differences?: unknown } | undefined)?.differences;
      // a check that did not answer says nothing: bootstrap then, which reports its own failure
      if (succeeded(check) && Array.isArray(found)) differences = found.map(String);
    }
    const bootstrapped = differences === undefined || differences.length > 0;
    if (bootstrapped) {
      mustSucceed(
        yield* runAgent(wf, spec, nodes[0].name, "bootstrap-db"),
        `database bootstrap through ${nodes[0].name}`,
      );
    }
    options.onDatabase?.({ bootstrapped, ...(differences ? { differences } : {}) });
  }

  // 3. each node joins: the certificate, the sign-in settings, then the credentials of the stack's app user
  for (let i = 0; i < nodes.length; i++) {
    for (const step of joinSteps(reachable.seen[i], options.join)) {
      mustSucceed(
        yield* runAgent(wf, spec, nodes[i].name, step.command, step.args),
        `${step.what} on ${nodes[i].name}`,
      );
    }
  }

  // 4. every node healthy
  options.onPhase?.("health");
  const { alongside } = options;
  const lookWithAlongside = alongside
    ? function* (): Step<NodeHealth[]> {
        const tasks: TypedTask<unknown>[] = nodes.map((n) => agentTask(wf, spec, n.name, "health"));
        const answers = yield* wf.all([...tasks, alongside.task()]);
        alongside.onAnswer(answers[nodes.length]);
        const health = (answers.slice(0, nodes.length) as AgentCommandResult[]).map(nodeHealth);
        options.report?.(summaries(health).map((n) => ({ name: n.name, healthy: n.healthy, problems: n.problems })));
        return health;
      }
    : look;
  const healthy = yield* verifyHealthy(wf, lookWithAlongside, (h) => h.every((n) => n.healthy), timing);
  if (!healthy.ok) throw notInTime("healthy", summaries(healthy.seen));

  // 5. the registry knows they have the stack's sign-in settings (the drift check's access plan reads it)
  const { signIn } = options.join;
  if (signIn) {
    const at = wf.now().toISOString();
    yield* wf.call("recordAccess", {
      stack: spec.name,
      nodes: nodes.map((n) => ({ name: n.name, id: n.id, digest: signIn.digest, at })),
    });
  }
  return summaries(healthy.seen);
}
