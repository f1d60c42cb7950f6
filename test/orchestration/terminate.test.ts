import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatHistory, historyLayout } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("terminate ends a running instance with the reason as output, without running user code", async () => {
  const host = sampleHost();
  const id = host.startNew(SampleNames.Approval, { input: { timeoutMs: 24 * 60 * 60 * 1000 } });
  await host.runUntilIdle({ until: () => host.getStatus(id)?.runtimeStatus === "Running" });
  const episodes = host.getStatus(id)?.episodes;
  assert.equal(host.terminate(id, "operator said so"), true);
  await host.runUntilIdle();
  const status = host.getStatus(id);
  assert.equal(status?.runtimeStatus, "Terminated", formatHistory(status?.history ?? []));
  assert.equal(status?.output, "operator said so");
  assert.deepEqual(historyLayout(status?.history ?? []).slice(-3), [
    "OrchestratorStarted",
    "ExecutionTerminated",
    "ExecutionCompleted(Terminated)",
  ]);
  assert.equal(status?.episodes, (episodes ?? 0) + 1);
  assert.equal(host.now.toISOString(), "2024-01-01T00:00:00.000Z", "its pending timer is never delivered");
  assert.equal(host.terminate(id, "again"), false, "a finished instance cannot be terminated");
});

void test("terminating a sub-orchestration fails the parent's task", async () => {
  const host = sampleHost({ activityLatencyMs: 1000 });
  host.startNew(SampleNames.Parent, { input: { items: ["a", "b"] }, instanceId: "parent-t" });
  await host.runUntilIdle({ until: () => host.getStatus("parent-t-child")?.runtimeStatus === "Running" });
  host.terminate("parent-t-child", "stop the child");
  await host.runUntilIdle();
  assert.equal(host.getStatus("parent-t-child")?.runtimeStatus, "Terminated");
  const { childError } = host.getStatus("parent-t")?.output as { childError: string };
  assert.match(childError, /^stop the child/);
});
