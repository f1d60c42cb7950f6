// The graph runner (functions/orchestrators/graph-runner.ts) on the durable test host: dependency
// order, a failure that skips what waits for it, and a retried node while other rounds move on,
// checked by the host's non-determinism check on every episode.
import "../../emulator/durable/install";
import * as assert from "node:assert/strict";
import { test } from "node:test";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { DurableTestHost, formatHistory, orchestratorHandler } from "../../emulator/durable";
import { runGraph, type GraphRunResult } from "../../functions/workflow/graph-runner";
import type { TypedTask } from "../../functions/workflow/workflow";
import type { GraphNode, StackGraph } from "../../shared/graph/types";

function graphOf(edges: Record<string, string[]>): StackGraph {
  const nodes = Object.entries(edges).map(([key, dependsOn]): GraphNode => ({
    key,
    kind: "resourceGroup",
    id: `/subscriptions/s/resourceGroups/${key}`,
    apiVersion: "2024-03-01",
    body: {},
    dependsOn,
  }));
  return { stack: "graph", tag: { name: "jumpgate-stack", value: "graph" }, nodes };
}

/** A host running runGraph over `graph` with one activity whose behaviour the test decides per node. */
function hostFor(graph: StackGraph, apply: (key: string, attempt: number) => string) {
  const attempts = new Map<string, number>();
  const calls: string[] = [];
  const host = new DurableTestHost({
    orchestrators: {
      RunGraph: orchestratorHandler(function* (context: OrchestrationContext) {
        const retry = new df.RetryOptions(5_000, 3);
        const run: GraphRunResult<string> = yield* runGraph<string>(context, graph, {
          direction: "forward",
          // a test activity outside the app's map: its result is what the fake below returns
          schedule: (node) =>
            context.df.callActivityWithRetry("ApplyNode", retry, { key: node.key }) as TypedTask<string>,
        });
        return run;
      }),
    },
    activities: {
      ApplyNode: (input: unknown) => {
        const { key } = input as { key: string };
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        calls.push(`${key}#${attempt}`);
        return Promise.resolve(apply(key, attempt));
      },
    },
  });
  return { host, calls };
}

void test("nodes run in dependency order; a node whose dependency failed for good is skipped", async () => {
  const graph = graphOf({ a: [], b: ["a"], c: ["a"], d: ["b"], e: ["c"] });
  const { host, calls } = hostFor(graph, (key) => {
    if (key === "b") throw new Error("b is broken");
    return `${key} done`;
  });
  const status = await host.run("RunGraph");
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  const run = status.output as GraphRunResult<string>;
  assert.deepEqual(run.results, { a: "a done", c: "c done", e: "e done" });
  assert.deepEqual(run.progress.skipped, ["d"]);
  assert.deepEqual(
    run.progress.failed.map((f) => f.key),
    ["b"],
  );
  assert.deepEqual(
    calls.filter((c) => c.startsWith("b")),
    ["b#1", "b#2", "b#3"],
  );
});

void test("a node that fails once is retried while the round after it goes on (no non-determinism)", async () => {
  // b fails its first attempt in the same episode in which c completes; c's successor is scheduled
  // at once, and b's retry timer comes after it. The host and the JS library must agree on ids.
  const graph = graphOf({ a: [], b: ["a"], c: ["a"], d: ["c"], e: ["d"], f: ["b", "e"] });
  const { host, calls } = hostFor(graph, (key, attempt) => {
    if (key === "b" && attempt === 1) throw new Error("transient");
    return `${key} done`;
  });
  const status = await host.run("RunGraph");
  assert.equal(status.runtimeStatus, "Completed", `${String(status.output)}\n${formatHistory(status.history)}`);
  const run = status.output as GraphRunResult<string>;
  assert.deepEqual(run.progress.failed, []);
  assert.deepEqual(run.progress.skipped, []);
  assert.deepEqual(Object.keys(run.results).sort(), ["a", "b", "c", "d", "e", "f"]);
  assert.deepEqual(
    calls.filter((c) => c.startsWith("b")),
    ["b#1", "b#2"],
  );
  // every node ran exactly once more than its failures
  assert.equal(calls.length, 7);
});
