import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { SampleNames } from "../support/durable-sample-app";

void test("custom status is kept per episode, so progress can be asserted without racing", async () => {
  const host = sampleHost();
  const id = host.startNew(SampleNames.FanOut, { input: { count: 2 } });
  assert.equal(host.getStatus(id)?.runtimeStatus, "Pending");
  await host.runUntilIdle({ until: () => host.getStatus(id)?.customStatusLog.length === 2 });
  assert.deepEqual(host.getStatus(id)?.customStatus, { stage: "processing", total: 2 });
  assert.equal(host.getStatus(id)?.runtimeStatus, "Running");
  await host.runUntilIdle();
  const status = host.getStatus(id);
  assert.deepEqual(status?.customStatusLog, [
    { stage: "fetching" },
    { stage: "processing", total: 2 },
    { stage: "notifying" },
    { stage: "done" },
  ]);
  assert.deepEqual(status?.customStatus, { stage: "done" });
});
