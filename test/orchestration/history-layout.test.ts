import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatHistory, historyLayout, HistoryEventType } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("sequence ids and scheduled events follow the host's episode layout", async () => {
  const host = sampleHost();
  const status = await host.run(SampleNames.FanOut, { count: 2 }, { instanceId: "layout-1" });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual(historyLayout(status.history), [
    // episode 1: start, first activity scheduled with sequence id 0
    "OrchestratorStarted",
    "ExecutionStarted(SampleFanOut)",
    "TaskScheduled#0(SampleGetItems)",
    "OrchestratorCompleted",
    // episode 2: its result, then the fan-out gets ids 1 and 2 in yield order
    "OrchestratorStarted",
    "TaskCompleted->0",
    "TaskScheduled#1(SampleProcessItem)",
    "TaskScheduled#2(SampleProcessItem)",
    "OrchestratorCompleted",
    // episode 3: both results (all due messages in one episode), then the next activity
    "OrchestratorStarted",
    "TaskCompleted->1",
    "TaskCompleted->2",
    "TaskScheduled#3(SampleNotify)",
    "OrchestratorCompleted",
    "OrchestratorStarted",
    "TaskCompleted->3",
    "OrchestratorCompleted",
    "ExecutionCompleted(Completed)",
  ]);
  const scheduled = status.history.filter((e) => e.EventType === HistoryEventType.TaskScheduled);
  assert.deepEqual(
    scheduled.map((e) => e.Input),
    ['{"count":2}', '"item-1"', '"item-2"', '"ITEM-1,ITEM-2"'],
    "TaskScheduled.Input holds the activity input as JSON text, string inputs encoded once",
  );
  assert.ok(
    status.history.filter((e) => e.EventType !== HistoryEventType.TaskScheduled).every((e) => e.EventId === -1),
    "only scheduled events carry a sequence id",
  );
  assert.deepEqual(status.output, {
    items: ["item-1", "item-2"],
    upper: ["ITEM-1", "ITEM-2"],
    receipt: "sent:ITEM-1,ITEM-2",
  });
});
