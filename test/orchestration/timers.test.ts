import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatHistory, HistoryEventType } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

const DAY = 24 * 60 * 60 * 1000;

void test("a durable timer fires at its due time on the virtual clock", async () => {
  const host = sampleHost();
  const status = await host.run(SampleNames.Timer, { delayMs: 5 * 60 * 1000 });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual(status.output, { startedAt: "2024-01-01T00:00:00.000Z", firedAt: "2024-01-01T00:05:00.000Z" });
  assert.equal(host.now.toISOString(), "2024-01-01T00:05:00.000Z");
});

void test("a 10-day timer is split into 3-day timers (6 days is the longest single timer)", async () => {
  const status = await sampleHost().run(SampleNames.Timer, { delayMs: 10 * DAY });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  const created = status.history.filter((e) => e.EventType === HistoryEventType.TimerCreated);
  const fired = status.history.filter((e) => e.EventType === HistoryEventType.TimerFired);
  assert.deepEqual(
    created.map((e) => [e.EventId, e.FireAt]),
    [
      [0, "2024-01-04T00:00:00.000Z"],
      [1, "2024-01-07T00:00:00.000Z"],
      [2, "2024-01-10T00:00:00.000Z"],
      [3, "2024-01-11T00:00:00.000Z"],
    ],
  );
  assert.deepEqual(
    fired.map((e) => e.TimerId),
    [0, 1, 2, 3],
  );
  assert.deepEqual(status.output, { startedAt: "2024-01-01T00:00:00.000Z", firedAt: "2024-01-11T00:00:00.000Z" });
});
