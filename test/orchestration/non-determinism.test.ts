import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatHistory, fromRegistry, historyLayout, type HistoryEventJson } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

const EXPECTED =
  "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task " +
  "with sequence number 0 named 'SampleNotify', but the current orchestration replay instead scheduled an " +
  "activity task named 'SampleProcessItem' with this sequence number.  Was a change made to the orchestrator " +
  "code after this instance had already started running?";

/** An in-flight SampleVersioned instance: first Notify done, second one scheduled. */
async function recordInFlight(): Promise<{ history: HistoryEventJson[]; host: ReturnType<typeof sampleHost> }> {
  const host = sampleHost({ maxEventsPerEpisode: 1 });
  const id = host.startNew(SampleNames.Versioned, { instanceId: "nd-1" });
  await host.runUntilIdle({ until: () => host.getStatus(id)?.episodes === 2 });
  const history = structuredClone(host.getStatus(id)?.history ?? []);
  assert.deepEqual(historyLayout(history), [
    "OrchestratorStarted",
    "ExecutionStarted(SampleVersioned)",
    "TaskScheduled#0(SampleNotify)",
    "OrchestratorCompleted",
    "OrchestratorStarted",
    "TaskCompleted->0",
    "TaskScheduled#1(SampleNotify)",
    "OrchestratorCompleted",
  ]);
  return { history, host };
}

void test("replaying a recorded history against a renamed activity fails with the host's message", async () => {
  const { history, host } = await recordInFlight();
  const renamed = fromRegistry().orchestrators[SampleNames.VersionedRenamed];

  const same = await host.replayHistory(SampleNames.Versioned, history);
  assert.equal(same.failure, undefined, "the unchanged code replays cleanly");

  const changed = await host.replayHistory(SampleNames.Versioned, history, { orchestrator: renamed });
  assert.equal(changed.failure?.message, EXPECTED);
  // The JS library on its own does not notice: it pairs TaskCompleted(0) with whatever task got id 0.
  assert.equal(changed.state.error, undefined);
  assert.equal(changed.state.isDone, false);
});

void test("deploying the renamed code while an instance is in flight fails that instance", async () => {
  const { host } = await recordInFlight();
  const renamed = fromRegistry().orchestrators[SampleNames.VersionedRenamed];
  assert.ok(renamed);
  host.setOrchestrator(SampleNames.Versioned, renamed);
  await host.runUntilIdle();
  const status = host.getStatus("nd-1");
  assert.equal(status?.runtimeStatus, "Failed", formatHistory(status?.history ?? []));
  assert.equal(status?.output, EXPECTED);
});

void test("a timer where the history has an activity is detected too", async () => {
  const { history, host } = await recordInFlight();
  const result = await host.replayHistory(SampleNames.Versioned, history, {
    orchestrator: fromRegistry().orchestrators[SampleNames.Timer],
    input: { delayMs: 1000 },
  });
  assert.match(
    result.failure?.message ?? "",
    /^Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task with sequence number 0 named 'SampleNotify', but the current orchestration replay instead produced a CreateTimerOrchestratorAction action/,
  );
});
