import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import {
  DurableTestHost,
  formatHistory,
  fromRegistry,
  HarnessError,
  HistoryEventType,
  orchestratorHandler,
} from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("an activity failure becomes an exception the orchestrator can catch", async () => {
  const status = await sampleHost().run(SampleNames.CatchFailure);
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual(status.output, {
    caught: "Activity function 'SampleAlwaysFails' failed: boom: downstream unavailable",
    type: "Error",
  });
  const failed = status.history.find((e) => e.EventType === HistoryEventType.TaskFailed);
  assert.equal(failed?.Reason, "Activity function 'SampleAlwaysFails' failed: boom: downstream unavailable");
  assert.equal(typeof failed?.Details, "string");
});

void test('with failureFormat "failureDetails" the orchestrator gets a TaskFailedError', async () => {
  const status = await sampleHost({ failureFormat: "failureDetails" }).run(SampleNames.CatchFailure);
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.equal((status.output as { type: string }).type, "TaskFailedError");
  const failed = status.history.find((e) => e.EventType === HistoryEventType.TaskFailed);
  assert.deepEqual(
    (failed?.FailureDetails as { ErrorType: string; ErrorMessage: string }).ErrorMessage,
    "boom: downstream unavailable",
  );
});

void test("an uncaught failure fails the instance with the host's message", async () => {
  const status = await sampleHost().run(SampleNames.UncaughtFailure);
  assert.equal(status.runtimeStatus, "Failed", formatHistory(status.history));
  assert.match(
    String(status.output),
    /^Orchestrator function 'SampleUncaughtFailure' failed: Activity function 'SampleAlwaysFails' failed: boom: downstream unavailable/,
  );
  assert.equal(status.history.at(-1)?.OrchestrationStatus, "Failed");
});

void test("Task.all fails fast in JS, but the instance only finishes once every task has (host Task.WhenAll)", async () => {
  const host = sampleHost({ activityLatencyMs: (name) => (name === SampleNames.Notify ? 60_000 : 0) });
  const status = await host.run(SampleNames.FanOutCatch);
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual(status.output, { caughtAt: "2024-01-01T00:00:00.000Z" }, "the orchestrator caught it at once");
  assert.equal(status.lastUpdatedTime.toISOString(), "2024-01-01T00:01:00.000Z", "...but completed a minute later");
});

void test("calling an unknown activity fails the instance like ThrowIfFunctionDoesNotExist", async () => {
  const status = await sampleHost().run(SampleNames.UnknownActivity);
  assert.equal(status.runtimeStatus, "Failed");
  assert.equal(
    status.output,
    "The function 'SampleDoesNotExist' doesn't exist, is disabled, or is not an activity function. " +
      "Additional info: The following are the known activity functions: " +
      "'SampleGetItems', 'SampleProcessItem', 'SampleFlaky', 'SampleAlwaysFails', 'SampleNotify'.",
  );
  assert.ok(!status.history.some((e) => e.EventType === HistoryEventType.TaskScheduled), "nothing was scheduled");
});

void test('with invalidCalls: "hang" an unknown activity leaves the instance Running with nothing to do', async () => {
  const host = sampleHost({ invalidCalls: "hang" });
  const status = await host.run(SampleNames.UnknownActivity);
  assert.equal(status.runtimeStatus, "Running");
  assert.ok(!status.history.some((e) => e.EventType === HistoryEventType.TaskScheduled));
});

void test("entities and callHttp are not emulated: the host fails loudly with a HarnessError", async () => {
  const registry = fromRegistry();
  const host = new DurableTestHost({
    ...registry,
    orchestrators: {
      ...registry.orchestrators,
      UsesEntity: orchestratorHandler(function* (context: OrchestrationContext) {
        return (yield context.df.callEntity(new df.EntityId("Counter", "k"), "add", 1)) as unknown;
      }),
      UsesHttp: orchestratorHandler(function* (context: OrchestrationContext) {
        return (yield context.df.callHttp({ method: "GET", url: "https://example.invalid/" })) as unknown;
      }),
    },
  });
  await assert.rejects(host.run("UsesEntity", undefined, { instanceId: "entity-user" }), (err: unknown) => {
    assert.ok(err instanceof HarnessError);
    assert.match(err.message, /entities .* are not emulated/);
    return true;
  });
  assert.equal(host.getStatus("entity-user")?.runtimeStatus, "Failed");
  await assert.rejects(host.run("UsesHttp"), /callHttp is not emulated/);
});
