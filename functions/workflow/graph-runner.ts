// Runs a stack graph inside an orchestrator: every node starts as soon as the nodes it waits for are
// done, so the makespan is the graph's critical path and not the sum of its parts. Deterministic: the
// order of scheduling follows the graph's node order and completions come from history.
import type { OrchestrationContext, Task } from "durable-functions";
import type { GraphNode, StackGraph } from "../../shared/graph/types";
import { failureMessage, type TypedTask } from "./workflow";

export type GraphDirection = "forward" | "reverse";

export interface GraphProgress {
  total: number;
  done: number;
  running: string[];
  failed: { key: string; message: string }[];
  /** not started because something they wait for failed */
  skipped: string[];
}

export interface GraphRunResult<R> {
  results: Record<string, R>;
  progress: GraphProgress;
}

/** What each node is waiting for: its dependencies (forward) or its dependents (reverse). */
export function waitsFor(graph: StackGraph, direction: GraphDirection): Map<string, string[]> {
  const waits = new Map<string, string[]>(graph.nodes.map((n) => [n.key, [] as string[]]));
  for (const n of graph.nodes) {
    for (const dep of n.dependsOn) {
      if (direction === "forward") waits.get(n.key)!.push(dep);
      else waits.get(dep)?.push(n.key);
    }
  }
  return waits;
}

/**
 * A node's failure as the activity said it, without what the host wraps around it ("Activity
 * function 'X' failed: ", or the error type in failure-details format): the node's key says which.
 */
function nodeFailureMessage(error: unknown): string {
  const details = (error as { failureDetails?: { errorMessage?: unknown } } | undefined)?.failureDetails;
  const text =
    typeof details?.errorMessage === "string"
      ? details.errorMessage
      : error instanceof Error
        ? error.message
        : String(error);
  return failureMessage(text.replace(/^Activity function '[^']*' failed: /, ""));
}

/** "key: message", without saying the key twice (the engine's messages start with it). */
export function describeFailure(f: { key: string; message: string }): string {
  return f.message.startsWith(`${f.key}: `) ? f.message : `${f.key}: ${f.message}`;
}

/**
 * Runs one task per node (`schedule`: an activity with retries) in dependency order, as parallel as
 * the edges allow. A failed node does not stop independent branches; nodes behind it are skipped.
 * `report` is called after every change so the caller can publish progress in its custom status.
 */
export function* runGraph<R>(
  context: OrchestrationContext,
  graph: StackGraph,
  options: {
    direction: GraphDirection;
    schedule: (node: GraphNode) => TypedTask<R>;
    report?: (progress: GraphProgress) => void;
    /** how often tasks scheduled in earlier rounds are checked for completion (default 2 s) */
    tickMs?: number;
  },
): Generator<Task, GraphRunResult<R>, unknown> {
  const waits = waitsFor(graph, options.direction);
  const tickMs = options.tickMs ?? 2_000;
  const order = options.direction === "forward" ? graph.nodes : [...graph.nodes].reverse();
  const finished = new Set<string>();
  const failedOrSkipped = new Set<string>();
  const started = new Set<string>();
  const running: { key: string; task: TypedTask<R> }[] = [];
  const results: Record<string, R> = {};
  const progress: GraphProgress = { total: graph.nodes.length, done: 0, running: [], failed: [], skipped: [] };
  const publish = () => {
    progress.running = running.map((r) => r.key);
    options.report?.(progress);
  };

  for (;;) {
    const fresh: Task[] = [];
    for (const node of order) {
      if (started.has(node.key) || failedOrSkipped.has(node.key)) continue;
      const deps = waits.get(node.key) ?? [];
      if (deps.some((d) => failedOrSkipped.has(d))) {
        failedOrSkipped.add(node.key);
        progress.skipped.push(node.key);
        continue;
      }
      if (!deps.every((d) => finished.has(d))) continue;
      started.add(node.key);
      const task = options.schedule(node);
      running.push({ key: node.key, task });
      fresh.push(task);
    }
    publish();
    if (running.length === 0) break;

    // Wait for a fresh task or the next tick. A task goes into a compound task only once: the host
    // schedules every action of a compound it receives, so a running task yielded again would run
    // twice. Tasks from earlier rounds are seen complete on the next wake (a fresh one or a tick).
    // A tick that lost is NOT cancelled: on replay the host completes a Task.any holding a cancelled
    // timer at once and schedules the next round's actions before it applies the history, while the
    // JS library numbers a retry timer when it reads the failure. A node retried after such a round
    // then gets different sequence ids on the two sides (non-determinism). The stale tick fires
    // later into a task nobody waits for.
    if (!running.some((r) => r.task.isCompleted || r.task.isFaulted)) {
      const tick = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + tickMs));
      yield context.df.Task.any([...fresh, tick]);
    }
    for (let i = running.length - 1; i >= 0; i--) {
      const { key, task } = running[i];
      if (!task.isCompleted && !task.isFaulted) continue;
      running.splice(i, 1);
      if (task.isFaulted) {
        failedOrSkipped.add(key);
        progress.failed.push({ key, message: nodeFailureMessage(task.result) });
      } else {
        finished.add(key);
        results[key] = task.result!;
        progress.done += 1;
      }
    }
  }
  return { results, progress };
}
