import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatHistory, historyLayout } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("Task.all fan-out/fan-in completes with every result in order", async () => {
  const status = await sampleHost().run(SampleNames.FanOut, { count: 5 });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual((status.output as { upper: string[] }).upper, ["ITEM-1", "ITEM-2", "ITEM-3", "ITEM-4", "ITEM-5"]);
});

void test("maxEventsPerEpisode: 1 replays partial fan-ins, one completion per episode", async () => {
  const host = sampleHost({
    maxEventsPerEpisode: 1,
    // later items finish first, so completions arrive out of order
    activityLatencyMs: (name, input) =>
      name === SampleNames.ProcessItem ? 1000 * (4 - Number(String(input).slice(5))) : 0,
  });
  const status = await host.run(SampleNames.FanOut, { count: 3 });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual((status.output as { upper: string[] }).upper, ["ITEM-1", "ITEM-2", "ITEM-3"]);
  const layout = historyLayout(status.history);
  assert.deepEqual(
    layout.filter((e) => e.startsWith("TaskCompleted")),
    ["TaskCompleted->0", "TaskCompleted->3", "TaskCompleted->2", "TaskCompleted->1", "TaskCompleted->4"],
  );
  assert.equal(status.episodes, 6, "start + GetItems + three single completions + Notify");
  assert.equal(host.now.toISOString(), "2024-01-01T00:00:03.000Z", "the slowest item took 3 s of virtual time");
});

void test("Task.any completes with the first task to finish; the host does not wait for the loser", async () => {
  const host = sampleHost({ activityLatencyMs: (_name, input) => (input === "slow" ? 60_000 : 1_000) });
  const status = await host.run(SampleNames.Race);
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual(status.output, { winner: "sent:fast", at: "2024-01-01T00:00:01.000Z" });
  assert.equal(status.lastUpdatedTime.toISOString(), "2024-01-01T00:00:01.000Z");
});
