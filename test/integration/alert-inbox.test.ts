// The alert inbox against a real Azurite: a signal is kept once however often it is delivered,
// pending signals come oldest first, consuming is idempotent and keeps the first outcome, and
// ignored alerts are kept apart from every stack.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { StackSignal } from "../../shared/alerts/signal";
import { AlertInbox, StoreTables } from "../../shared/store";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";

let azurite: AzuriteServer;
let tables: StoreTables;

before(async () => {
  azurite = await startAzurite();
  tables = new StoreTables({
    connectionString: azurite.connectionString,
    tablePrefix: "inboxtest",
    requestTimeoutMs: 5_000,
    retry: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 100 },
  });
});
after(async () => {
  await azurite?.stop();
});

function signal(id: string, extra: Partial<StackSignal> = {}): StackSignal {
  return {
    id,
    stack: "inbox1",
    intent: "heal",
    condition: "Fired",
    node: "inbox1-web-1",
    rule: "probe-health",
    signalType: "Metric",
    summary: "DipAvailability 0 < 100 for 10.0.1.4 — ünïcode rule",
    alertId: `/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/${id}`,
    at: "2026-11-21T10:00:00.000Z",
    receivedAt: "2026-11-21T10:00:01.000Z",
    ...extra,
  };
}

describe("alert inbox", () => {
  test("100 concurrent deliveries of one signal keep exactly one", async () => {
    const inbox = new AlertInbox(tables);
    const results = await Promise.all(Array.from({ length: 100 }, () => inbox.record(signal("dup1"))));
    assert.equal(results.filter((r) => r.recorded).length, 1);
    const pending = await inbox.pending("inbox1");
    assert.deepEqual(
      pending.map((s) => s.id),
      ["dup1"],
    );
    assert.equal(pending[0].summary, signal("dup1").summary);
  });

  test("pending is oldest first, filters by intent, and consume is idempotent", async () => {
    const inbox = new AlertInbox(tables);
    const stack = "inbox2";
    await inbox.record(signal("b", { stack, receivedAt: "2026-11-21T10:00:03.000Z" }));
    await inbox.record(signal("a", { stack, receivedAt: "2026-11-21T10:00:02.000Z" }));
    await inbox.record(signal("s", { stack, intent: "scale-out", receivedAt: "2026-11-21T10:00:04.000Z" }));
    assert.deepEqual(
      (await inbox.pending(stack)).map((s) => s.id),
      ["a", "b", "s"],
    );
    assert.deepEqual(
      (await inbox.pending(stack, { intents: ["heal"] })).map((s) => s.id),
      ["a", "b"],
    );
    assert.equal(await inbox.consume(stack, ["a", "b", "missing"], "node restarted"), 2);
    assert.equal(await inbox.consume(stack, ["a"], "a second outcome"), 0);
    assert.deepEqual(
      (await inbox.pending(stack)).map((s) => s.id),
      ["s"],
    );
    const recent = await inbox.recent(stack);
    assert.deepEqual(
      recent.map((e) => [e.id, e.consumed, e.outcome]),
      [
        ["s", false, undefined],
        ["b", true, "node restarted"],
        ["a", true, "node restarted"],
      ],
    );
    // a redelivery after consumption does not bring the signal back
    assert.deepEqual(await inbox.record(signal("a", { stack })), { recorded: false });
    assert.deepEqual(
      (await inbox.pending(stack)).map((s) => s.id),
      ["s"],
    );
  });

  test("ignored alerts are kept apart, once each", async () => {
    const inbox = new AlertInbox(tables);
    const alert = {
      id: "ign1",
      alertId: "x",
      rule: "someone-elses-rule",
      reason: "no registered stack manages the alert's targets",
      targets: ["/subscriptions/s/resourceGroups/other/providers/Microsoft.Compute/virtualMachines/vm1"],
      receivedAt: "2026-11-21T10:00:00.000Z",
    };
    assert.deepEqual(await inbox.recordIgnored(alert), { recorded: true });
    assert.deepEqual(await inbox.recordIgnored(alert), { recorded: false });
    assert.deepEqual(await inbox.ignored(), [alert]);
  });

  test("ids that Table Storage would refuse are rejected before any call", async () => {
    const inbox = new AlertInbox(tables);
    await assert.rejects(inbox.record(signal("a/b")), RangeError);
    await assert.rejects(inbox.consume("inbox1", ["a#b"], "x"), RangeError);
  });
});
