import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatHistory, historyLayout } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("continueAsNew starts a fresh execution with the new input and an empty history", async () => {
  const host = sampleHost();
  const status = await host.run(SampleNames.Counter, { n: 0, until: 2 }, { instanceId: "counter-1" });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.equal(status.generation, 3);
  assert.deepEqual(status.input, { n: 2, until: 2 });
  // A returned Date crosses the wire as a string.
  assert.deepEqual(status.output, { n: 2, finishedAt: "2024-01-01T00:03:00.000Z" });
  // Only the last execution's history is kept, and it starts like any other.
  assert.deepEqual(historyLayout(status.history).slice(0, 3), [
    "OrchestratorStarted",
    "ExecutionStarted(SampleCounter)",
    "TimerCreated#0(2024-01-01T00:03:00.000Z)",
  ]);
  assert.equal(status.history[1]?.Input, '{"n":2,"until":2}');
  assert.deepEqual(status.customStatusLog, [{ n: 0 }, { n: 0 }, { n: 1 }, { n: 1 }, { n: 2 }, { n: 2 }]);
});

void test("an eternal orchestration can be run up to a point in virtual time", async () => {
  const host = sampleHost();
  const id = host.startNew(SampleNames.Counter, { input: { n: 0, until: 1_000_000 } });
  await host.runUntilIdle({ upTo: new Date("2024-01-01T01:00:30.000Z") });
  assert.equal(host.getStatus(id)?.runtimeStatus, "Running");
  assert.equal(host.getStatus(id)?.generation, 61, "one generation per minute, plus the first");
  assert.equal(host.now.toISOString(), "2024-01-01T01:00:30.000Z");
});
