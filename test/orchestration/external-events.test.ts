import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatHistory, historyLayout } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("events raised before the orchestrator waits are buffered and delivered in order", async () => {
  const host = sampleHost();
  const id = host.startNew(SampleNames.CollectEvents, { input: { count: 3 } });
  host.raiseEvent(id, "Item", "first");
  host.raiseEvent(id, "Item", { second: true });
  host.raiseEvent(id, "Item", 3, { delayMs: 60_000 });
  await host.runUntilIdle();
  const status = host.getStatus(id);
  assert.equal(status?.runtimeStatus, "Completed", formatHistory(status?.history ?? []));
  assert.deepEqual(status?.output, ["first", { second: true }, 3]);
  assert.deepEqual(historyLayout(status?.history ?? []).slice(0, 6), [
    "OrchestratorStarted",
    "ExecutionStarted(SampleCollectEvents)",
    "EventRaised(Item)",
    "EventRaised(Item)",
    "TaskScheduled#0(SampleNotify)",
    "OrchestratorCompleted",
  ]);
});

void test("an event that beats the timeout wins the Task.any; the cancelled timer never fires", async () => {
  const host = sampleHost();
  const id = host.startNew(SampleNames.Approval, { input: { timeoutMs: 24 * 60 * 60 * 1000 } });
  await host.runUntilIdle({ until: () => host.getStatus(id)?.customStatus === "awaiting-approval" });
  assert.equal(host.getStatus(id)?.runtimeStatus, "Running");
  assert.equal(host.raiseEvent(id, "Approval", "alice", { delayMs: 90_000 }), true);
  await host.runUntilIdle();
  const status = host.getStatus(id);
  assert.equal(status?.runtimeStatus, "Completed", formatHistory(status?.history ?? []));
  assert.deepEqual(status?.output, { approved: true, by: "alice", at: "2024-01-01T00:01:30.000Z" });
  assert.equal(host.now.toISOString(), "2024-01-01T00:01:30.000Z", "the 24 h timer was withdrawn");
  assert.deepEqual(status?.customStatusLog, ["awaiting-approval", "approved"]);
  assert.equal(host.raiseEvent(id, "Approval", "too late"), false, "finished instances do not take events");
});

void test("without the event the timeout timer wins the Task.any", async () => {
  const host = sampleHost();
  const status = await host.run(SampleNames.Approval, { timeoutMs: 60 * 60 * 1000 });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual(status.output, { approved: false, reason: "timed out", at: "2024-01-01T01:00:00.000Z" });
});

void test("external event names match case-insensitively, as in the extension", async () => {
  const host = sampleHost();
  const id = host.startNew(SampleNames.Approval, { input: { timeoutMs: 60_000 } });
  await host.runUntilIdle({ until: () => host.getStatus(id)?.runtimeStatus === "Running" });
  host.raiseEvent(id, "approval", "bob");
  await host.runUntilIdle();
  // The host hands "approval" to the "Approval" waiter, but the JS library matches names exactly,
  // so the orchestrator never sees it and the timeout wins.
  assert.deepEqual(host.getStatus(id)?.output, {
    approved: false,
    reason: "timed out",
    at: "2024-01-01T00:01:00.000Z",
  });
});
