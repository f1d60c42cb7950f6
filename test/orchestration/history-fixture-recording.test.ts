// Recording an instance as a replay-gate fixture (emulator/durable/history-fixtures.ts) with
// `stubCustomData`: every `customData` string in the events' activity inputs and results becomes the
// stub, nothing else changes, and the fixture still replays.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import type * as df from "durable-functions";
import {
  DurableTestHost,
  loadHistoryFixture,
  orchestratorHandler,
  recordHistoryFixture,
  replayHistoryFixture,
} from "../../emulator/durable";

const CLOUD_INIT = Buffer.from(`#cloud-config\n${"x".repeat(4096)}\n`).toString("base64");

/** Writes a VM document with custom data through an activity, as the graph activities do. */
const writer = orchestratorHandler(function* (context: df.OrchestrationContext) {
  const written: unknown = yield context.df.callActivity("putVm", {
    vm: { name: "web-1", properties: { osProfile: { computerName: "web-1", customData: CLOUD_INIT } } },
    note: "customData",
  });
  return written;
});

void test("stubCustomData cuts every customData string to the stub, keeps the rest, and the fixture replays", async () => {
  const host = new DurableTestHost({
    orchestrators: { writeVm: writer },
    activities: { putVm: (input: unknown) => ({ echoed: input, customData: CLOUD_INIT }) },
  });
  const state = await host.run("writeVm", {}, { instanceId: "fixture-stub" });
  assert.equal(state.runtimeStatus, "Completed");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-fixtures-"));
  try {
    const full = recordHistoryFixture(host, "fixture-stub", { scenario: "full", dir });
    const stubbed = recordHistoryFixture(host, "fixture-stub", { scenario: "stubbed", dir, stubCustomData: true });
    assert.ok(fs.readFileSync(full, "utf8").includes(CLOUD_INIT), "without the option the custom data stays");
    const text = fs.readFileSync(stubbed, "utf8");
    assert.ok(!text.includes(CLOUD_INIT), "no custom data left");
    const fixture = loadHistoryFixture(stubbed);
    const scheduled = fixture.history.find((e) => e.Name === "putVm" && typeof e.Input === "string")!;
    assert.deepEqual(JSON.parse(scheduled.Input as string), {
      vm: { name: "web-1", properties: { osProfile: { computerName: "web-1", customData: "I2Nsb3VkLWNvbmZpZwo=" } } },
      note: "customData",
    });
    const completed = fixture.history.find((e) => typeof e.Result === "string" && e.Result.includes("echoed"))!;
    assert.equal((JSON.parse(completed.Result as string) as { customData: string }).customData, "I2Nsb3VkLWNvbmZpZwo=");
    const replay = await replayHistoryFixture(host, fixture);
    assert.equal(replay.failure, undefined, String(replay.failure));
    assert.deepEqual(replay.newWork, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
