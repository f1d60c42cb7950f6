// The determinism gate: every committed history under test/fixtures/histories/<orchestrator>/ is
// replayed against the orchestrator code as it is now, with the host's non-determinism check. A
// failure means instances in flight when this code is deployed would fail on Azure with the same
// "Non-Deterministic workflow detected" error: keep the old orchestrator under its name and add the
// new behaviour under a new one (e.g. FooV2) instead. Record fixtures with
// test/support/durable-record-fixtures.ts (or recordHistoryFixture() from a test run).
import "../../emulator/durable/install";
import "../support/durable-sample-app";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import {
  discoverHistoryFixtures,
  DurableTestHost,
  findRepoRoot,
  formatHistory,
  fromRegistry,
  loadHistoryFixture,
  replayHistoryFixture,
} from "../../emulator/durable";

const fixtures = discoverHistoryFixtures();

// Fixtures of the real app need the app's registrations: load its compiled entry point only then.
const registered = (): Set<string> => new Set(Object.keys(fromRegistry().orchestrators));
if (fixtures.some((f) => !registered().has(f.orchestrator))) {
  const entry = path.join(findRepoRoot(), "dist", "functions", "index.js");
  if (fs.existsSync(entry)) createRequire(__filename)(entry);
}

void test("history fixtures exist", () => {
  assert.ok(fixtures.length > 0, "expected committed fixtures under test/fixtures/histories/");
});

for (const file of fixtures) {
  void test(`history fixture ${file.orchestrator}/${file.scenario} replays against the current code`, async () => {
    const fixture = loadHistoryFixture(file.path);
    assert.ok(
      registered().has(fixture.orchestrator),
      `${file.path}: no orchestrator '${fixture.orchestrator}' is registered (renamed or removed?)`,
    );
    const result = await replayHistoryFixture(new DurableTestHost(fromRegistry()), fixture);
    if (result.failure) {
      assert.fail(`${file.path}\n${result.failure.message}\n\nrecorded history:\n${formatHistory(fixture.history)}`);
    }
  });
}

void test("the gate fails, with the host's message, when recorded and current code disagree", async () => {
  const file = fixtures.find((f) => f.orchestrator === "SampleVersioned");
  assert.ok(file);
  const fixture = loadHistoryFixture(file.path);
  // As if the released code had called an activity that the current code no longer calls.
  const scheduled = fixture.history.find((e) => e.EventId === 0);
  assert.ok(scheduled);
  scheduled.Name = "SampleNotifyV0";
  const result = await replayHistoryFixture(new DurableTestHost(fromRegistry()), fixture);
  assert.match(
    result.failure?.message ?? "",
    /^Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task with sequence number 0 named 'SampleNotifyV0', but the current orchestration replay instead scheduled an activity task named 'SampleNotify'/,
  );
});
