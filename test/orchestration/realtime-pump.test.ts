import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { formatHistory, HistoryEventType, startDurableRpcServer } from "../../emulator/durable";
import { SampleNames } from "../support/durable-sample-app";

void test("real-time pump: an orchestration with a short timer completes in wall-clock time", async (t) => {
  const host = sampleHost({ startTime: new Date() });
  host.startPump();
  t.after(() => host.stopPump());
  const begin = performance.now();
  const status = await host.run(SampleNames.Timer, { delayMs: 150 }, { timeoutMs: 2000 });
  const elapsed = performance.now() - begin;
  assert.equal(status.runtimeStatus, "Completed", formatHistory(status.history));
  assert.ok(elapsed >= 140 && elapsed < 1500, `took ${elapsed.toFixed(0)} ms`);
  const { startedAt, firedAt } = status.output as { startedAt: string; firedAt: string };
  assert.ok(Date.parse(firedAt) - Date.parse(startedAt) >= 150, `${startedAt} -> ${firedAt}`);
  assert.deepEqual(host.pumpErrors, []);
});

void test("real-time pump: timeScale speeds timers up; events and real activities flow through it", async (t) => {
  const host = sampleHost();
  host.startPump({ timeScale: 600 }); // one host minute per 100 ms
  t.after(() => host.stopPump());

  const begin = performance.now();
  const timer = await host.run(SampleNames.Timer, { delayMs: 60_000 }, { timeoutMs: 2000 });
  assert.equal(timer.runtimeStatus, "Completed");
  assert.ok(performance.now() - begin < 2000, "a one-minute timer took about 100 ms, not a minute");

  const id = host.startNew(SampleNames.Approval, { input: { timeoutMs: 10 * 60_000 } });
  await host.waitForStatus(id, (s) => s.customStatus === "awaiting-approval", 1000);
  host.raiseEvent(id, "Approval", "erin");
  const approved = await host.waitForStatus(id, undefined, 1000);
  assert.equal((approved.output as { by: string }).by, "erin");

  await host.waitForIdle({ timeoutMs: 1000 });
  assert.deepEqual(host.pumpErrors, []);
});

void test("real-time pump: concurrent instances with slow activities; no message is delivered twice", async (t) => {
  const host = sampleHost({
    overrides: {
      activities: {
        [SampleNames.ProcessItem]: async (input) => {
          await sleep((String(input).length * 7) % 20);
          return String(input).toUpperCase();
        },
      },
    },
  });
  host.startPump();
  t.after(() => host.stopPump());
  const ids = Array.from({ length: 8 }, (_, i) => host.startNew(SampleNames.FanOut, { input: { count: i + 1 } }));
  await host.waitForIdle({ timeoutMs: 3000 });
  for (const [i, id] of ids.entries()) {
    const status = host.getStatus(id);
    assert.equal(status?.runtimeStatus, "Completed", formatHistory(status?.history ?? []));
    assert.equal((status?.output as { upper: string[] }).upper.length, i + 1);
    const completions = (status?.history ?? [])
      .filter((e) => e.EventType === HistoryEventType.TaskCompleted)
      .map((e) => e.TaskScheduledId);
    assert.equal(new Set(completions).size, completions.length, "each task completed exactly once");
  }
  assert.deepEqual(host.pumpErrors, []);
});

void test("stopping the pump hands control back to the virtual clock", async () => {
  const host = sampleHost();
  host.startPump({ timeScale: 1000 });
  const id = host.startNew(SampleNames.Timer, { input: { delayMs: 24 * 60 * 60 * 1000 } });
  await host.waitForStatus(id, (s) => s.runtimeStatus === "Running", 1000);
  await host.stopPump();
  assert.equal(host.getStatus(id)?.runtimeStatus, "Running");
  await host.runUntilIdle(); // the rest of the day passes instantly on the virtual clock
  assert.equal(host.getStatus(id)?.runtimeStatus, "Completed");
});

void test("with timers sped up, the RPC routes show an instance's times in wall-clock time, not host time", async (t) => {
  const host = sampleHost({ startTime: new Date() });
  host.startPump({ timeScale: 600 });
  const server = await startDurableRpcServer(host);
  t.after(async () => {
    await server.close();
    await host.stopPump();
  });
  const id = host.startNew(SampleNames.Timer, { input: { delayMs: 10 * 60_000 } });
  const done = await host.waitForStatus(id, undefined, 2000);
  // ten host minutes went by, so host time runs far ahead of the wall clock ...
  assert.ok(done.lastUpdatedTime.getTime() - done.createdTime.getTime() >= 10 * 60_000);
  const res = await fetch(`${server.rpcBaseUrl}instances/${id}`);
  const status = (await res.json()) as { createdTime: string; lastUpdatedTime: string };
  // ... but the status shows when things happened by the wall clock (the extension's whole seconds)
  const second = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;
  assert.equal(status.createdTime, second(host.wallTime(done.createdTime)));
  assert.equal(status.lastUpdatedTime, second(host.wallTime(done.lastUpdatedTime)));
  assert.ok(Date.parse(status.lastUpdatedTime) <= Date.now(), `${status.lastUpdatedTime} is not in the future`);
  assert.ok(done.lastUpdatedTime.getTime() > Date.now(), "while the host's own clock is ahead");
  // a client's createdTimeFrom is a wall-clock time too
  const from = encodeURIComponent(new Date(Date.parse(status.createdTime) - 1000).toISOString());
  const list = await fetch(`${server.rpcBaseUrl}instances/?createdTimeFrom=${from}`);
  assert.deepEqual(
    ((await list.json()) as { instanceId: string }[]).map((i) => i.instanceId),
    [id],
  );
});
