import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatHistory, HistoryEventType } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("sub-orchestrations run as their own instances, with explicit and default instance ids", async () => {
  const host = sampleHost();
  const status = await host.run(SampleNames.Parent, { items: ["a", "b"] }, { instanceId: "parent-1" });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));

  const created = status.history.filter((e) => e.EventType === HistoryEventType.SubOrchestrationInstanceCreated);
  assert.deepEqual(
    created.map((e) => [e.EventId, e.Name]),
    [
      [0, SampleNames.Child],
      [1, SampleNames.Child],
    ],
  );
  assert.equal(created[0]?.InstanceId, "parent-1-child", "explicit id");
  // Without an id DTFx uses "<parent execution id>:<sequence id>".
  assert.equal(created[1]?.InstanceId, `${status.executionId}:1`, "default id");

  const named = host.getStatus("parent-1-child");
  assert.equal(named?.runtimeStatus, "Completed");
  assert.equal(named?.parentInstanceId, "parent-1");
  assert.deepEqual(status.output, {
    named: { parent: "parent-1", sent: ["sent:a", "sent:b"] },
    unnamed: { parent: "parent-1", sent: ["sent:extra"] },
  });
});

void test("a failing sub-orchestration surfaces as an exception in the parent", async () => {
  const host = sampleHost();
  const status = await host.run(SampleNames.Parent, { items: ["a"], failChild: true }, { instanceId: "parent-2" });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.equal(host.getStatus("parent-2-child")?.runtimeStatus, "Failed");
  const { childError } = status.output as { childError: string };
  assert.match(childError, /^Orchestrator function 'SampleChild' failed: child refused after 1 notifications/);
  assert.ok(
    status.history.some((e) => e.EventType === HistoryEventType.SubOrchestrationInstanceFailed),
    "the parent received SubOrchestrationInstanceFailed",
  );
});
