import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { HttpResponse } from "@azure/functions";
import { capturedFunction, fromRegistry } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("every app.* / df.app.* registration is captured with its metadata and handler", () => {
  const registry = fromRegistry();

  assert.ok(registry.orchestrators[SampleNames.FanOut], "orchestrators come from df.app.orchestration");
  assert.ok(registry.orchestrators[SampleNames.Child]);
  assert.deepEqual(
    Object.keys(registry.activities).sort(),
    [
      SampleNames.AlwaysFails,
      SampleNames.Flaky,
      SampleNames.GetItems,
      SampleNames.Notify,
      SampleNames.ProcessItem,
    ].sort(),
  );
  const trigger = Object.values(capturedFunction(SampleNames.FanOut)?.metadata.bindings ?? {});
  assert.deepEqual(
    trigger.map((b) => [b.type, b.direction]),
    [["orchestrationTrigger", "in"]],
  );

  const start = registry.http[SampleNames.HttpStart];
  assert.ok(start, "df.app.client.http is kept as an HTTP function");
  assert.equal(start.route, "samples/{orchestratorName}");
  assert.deepEqual(start.methods, ["POST"]);
  assert.equal(start.usesDurableClient, true);
  assert.deepEqual(
    start.extraInputs.map((b) => b.type),
    ["durableClient"],
  );

  const ping = registry.http[SampleNames.Ping];
  assert.ok(ping);
  assert.equal(ping.route, "samples/ping");
  assert.deepEqual(ping.methods, ["GET"]);
  assert.equal(ping.authLevel, "anonymous");
  assert.equal(ping.usesDurableClient, false);

  const nightly = registry.timers[SampleNames.Nightly];
  assert.ok(nightly, "df.app.client.timer is kept as a timer function");
  assert.equal(nightly.schedule, "0 0 2 * * *");
  assert.equal(nightly.usesDurableClient, true);

  assert.deepEqual(registry.entities, {});
  assert.deepEqual(registry.other, {});
});

void test("captured handlers are the ones the worker would call", async () => {
  const registry = fromRegistry();
  const ping = registry.http[SampleNames.Ping];
  assert.ok(ping);
  const response = (await ping.handler()) as HttpResponse;
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { pong: true });

  // The captured orchestrator handler is the library's replay engine: the host can run it.
  const status = await sampleHost().run(SampleNames.Timer, { delayMs: 1000 });
  assert.equal(status.runtimeStatus, "Completed");
});
