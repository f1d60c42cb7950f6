import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import {
  DurableTestHost,
  formatHistory,
  fromRegistry,
  historyLayout,
  HistoryEventType,
  orchestratorHandler,
  type HistoryEventJson,
} from "../../emulator/durable";
import { flakyAttemptCount, SampleNames, type RetryInput } from "../support/durable-sample-app";

const timerFireTimes = (history: HistoryEventJson[]): unknown[] =>
  history.filter((e) => e.EventType === HistoryEventType.TimerCreated).map((e) => e.FireAt);

void test("callActivityWithRetry retries with backoff on the virtual clock until an attempt succeeds", async () => {
  const host = sampleHost();
  const input: RetryInput = { key: "retry-succeeds", failTimes: 2, maxAttempts: 4, firstRetryMs: 1000, backoff: 2 };
  const status = await host.run(SampleNames.Retry, input);
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.equal(status.output, "ok after 3 attempts");
  assert.equal(flakyAttemptCount("retry-succeeds"), 3);
  // 1 s after the first failure, then 1 s * 2^1 after the second: the host's RetryInterceptor timers.
  assert.deepEqual(timerFireTimes(status.history), ["2024-01-01T00:00:01.000Z", "2024-01-01T00:00:03.000Z"]);
  assert.deepEqual(
    historyLayout(status.history).filter((e) => !e.startsWith("Orchestrator")),
    [
      "ExecutionStarted(SampleRetry)",
      "TaskScheduled#0(SampleFlaky)",
      "TaskFailed->0",
      "TimerCreated#1(2024-01-01T00:00:01.000Z)",
      "TimerFired->1",
      "TaskScheduled#2(SampleFlaky)",
      "TaskFailed->2",
      "TimerCreated#3(2024-01-01T00:00:03.000Z)",
      "TimerFired->3",
      "TaskScheduled#4(SampleFlaky)",
      "TaskCompleted->4",
      "ExecutionCompleted(Completed)",
    ],
  );
  assert.equal(host.now.toISOString(), "2024-01-01T00:00:03.000Z");
});

void test("the retry delay is capped by maxRetryIntervalInMilliseconds", async () => {
  const input: RetryInput = {
    key: "retry-capped",
    failTimes: 3,
    maxAttempts: 4,
    firstRetryMs: 1000,
    backoff: 10,
    maxRetryMs: 5000,
  };
  const status = await sampleHost().run(SampleNames.Retry, input);
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual(timerFireTimes(status.history), [
    "2024-01-01T00:00:01.000Z",
    "2024-01-01T00:00:06.000Z",
    "2024-01-01T00:00:11.000Z",
  ]);
});

void test("after the last attempt the host adds its back-compat timer, then the orchestrator fails", async () => {
  const host = sampleHost();
  const input: RetryInput = { key: "retry-exhausted", failTimes: 10, maxAttempts: 3, firstRetryMs: 500, backoff: 2 };
  const status = await host.run(SampleNames.Retry, input);
  assert.equal(status.runtimeStatus, "Failed", formatHistory(status.history));
  assert.equal(flakyAttemptCount("retry-exhausted"), 3);
  assert.match(
    String(status.output),
    /^Orchestrator function 'SampleRetry' failed: Activity function 'SampleFlaky' failed: transient failure #3 for retry-exhausted/,
  );
  // 0.5 s, then 1 s more, then the immediate "Dummy timer for back-compat" after attempt 3.
  assert.deepEqual(timerFireTimes(status.history), [
    "2024-01-01T00:00:00.500Z",
    "2024-01-01T00:00:01.500Z",
    "2024-01-01T00:00:01.500Z",
  ]);
  assert.equal(status.lastUpdatedTime.toISOString(), "2024-01-01T00:00:01.500Z");
});

void test("documents Azure/azure-functions-durable-js#629: an expired retryTimeoutInMilliseconds hangs the instance", async () => {
  // Not sample-app code on purpose: the project never uses retryTimeoutInMilliseconds (DESIGN.md).
  const registry = fromRegistry();
  const host = new DurableTestHost({
    ...registry,
    orchestrators: {
      ...registry.orchestrators,
      RetryWithTimeout: orchestratorHandler(function* (context: OrchestrationContext) {
        const options = new df.RetryOptions(1000, 5);
        options.retryTimeoutInMilliseconds = 1500;
        try {
          yield context.df.callActivityWithRetry(SampleNames.AlwaysFails, options);
        } catch {
          return "caught";
        }
        return "unreachable";
      }),
    },
  });
  const status = await host.run("RetryWithTimeout");
  // Attempts at 0 s, 1 s and 2 s; at 2 s the timeout has expired, so the host's RetryInterceptor
  // gives up WITHOUT a timer, while the JS RetryableTask waits for one: nothing left to deliver.
  assert.equal(status.runtimeStatus, "Running", formatHistory(status.history));
  assert.equal(status.history.filter((e) => e.EventType === HistoryEventType.TaskScheduled).length, 3);
  assert.equal(host.listInstances({ runtimeStatus: ["Running"] }).length, 1);
});
