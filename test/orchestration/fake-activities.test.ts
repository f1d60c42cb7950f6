import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { DurableTestHost, formatHistory, fromRegistry, HarnessError } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("any activity can be replaced by a fake for one test (overrides)", async () => {
  const seen: unknown[] = [];
  const host = sampleHost({
    overrides: {
      activities: {
        [SampleNames.Notify]: (input) => {
          seen.push(input);
          return "fake receipt";
        },
      },
    },
  });
  const status = await host.run(SampleNames.FanOut, { count: 2 });
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.deepEqual(seen, ["ITEM-1,ITEM-2"], "the fake gets the input as it arrives over the wire");
  assert.equal((status.output as { receipt: string }).receipt, "fake receipt");
});

void test("or by spreading the registry; fakes may fail like real activities", async () => {
  const registry = fromRegistry();
  const host = new DurableTestHost({
    ...registry,
    activities: {
      ...registry.activities,
      [SampleNames.ProcessItem]: async (input) => {
        if (input === "item-2") throw new Error("cannot process item-2");
        return "ok";
      },
    },
  });
  const status = await host.run(SampleNames.FanOut, { count: 3 });
  assert.equal(status.runtimeStatus, "Failed");
  assert.match(String(status.output), /Activity function 'SampleProcessItem' failed: cannot process item-2/);
});

void test("overriding an activity that does not exist is an error, not a silent no-op", () => {
  assert.throws(() => sampleHost({ overrides: { activities: { SampleNotfy: () => "typo" } } }), HarnessError);
});
