// Retention and status filtering of Jumpgate's own tables against a real Azurite: the daily timer
// deletes alert signals, ignored alerts and audit events older than their settings and nothing
// newer, in every stack's partition (torn-down stacks too); the audit trail reads the alert
// intake's receipts apart from what Jumpgate did; audit fields lose their control characters.
import "../../emulator/durable/install";
import "../../functions";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { InvocationContext } from "@azure/functions";
import { fromRegistry } from "../../emulator/durable";
import { Names } from "../../functions/names";
import { useServices, type Services } from "../../functions/services";
import type { RetentionOutcome } from "../../functions/timers/store-retention";
import type { StackSignal } from "../../shared/alerts/signal";
import { AlertInbox, AuditLog, StoreTables } from "../../shared/store";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";

const DAY = 24 * 60 * 60_000;
let azurite: AzuriteServer;
let tables: StoreTables;

before(async () => {
  azurite = await startAzurite();
  tables = new StoreTables({
    connectionString: azurite.connectionString,
    tablePrefix: "retention",
    requestTimeoutMs: 5_000,
    retry: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 100 },
  });
});
after(async () => {
  useServices(undefined);
  await azurite?.stop();
});

const daysAgo = (n: number) => new Date(Date.now() - n * DAY);

/**
 * Event ids at a given time in the audit trail's RowKey format (inverted milliseconds, order, random
 * part), without the process-wide guard that keeps this process's ids in append order: these tests
 * back-date events in any order.
 */
let order = 0;
const idAt = (time: Date) =>
  `${String(9_999_999_999_999 - time.getTime()).padStart(13, "0")}${String(999 - (order++ % 1000)).padStart(3, "0")}-${randomBytes(6).toString("hex")}`;
const backdated = (at: Date) => new AuditLog(tables, { clock: () => at, newEventId: idAt });

function signal(stack: string, id: string, receivedAt: Date): StackSignal {
  return {
    id,
    stack,
    intent: "heal",
    condition: "Fired",
    node: `${stack}-web-1`,
    rule: `${stack}-probe`,
    signalType: "Metric",
    summary: "DipAvailability 0 < 100",
    alertId: `/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/${id}`,
    at: receivedAt.toISOString(),
    receivedAt: receivedAt.toISOString(),
  };
}

describe("retention", () => {
  test("the daily timer deletes what is older than each table's retention, in every partition, and nothing newer", async () => {
    const inbox = new AlertInbox(tables);
    for (const [stack, id, age] of [
      ["keep1", "old-a", 40],
      ["keep1", "new-a", 2],
      ["gone2", "old-b", 31],
      ["gone2", "new-b", 29],
    ] as const) {
      assert.ok((await inbox.record(signal(stack, id, daysAgo(age)))).recorded);
    }
    await inbox.consume("keep1", ["old-a"], "done");
    for (const [id, age] of [
      ["ignored-old", 8],
      ["ignored-new", 6],
    ] as const) {
      await inbox.recordIgnored({
        id,
        alertId: id,
        rule: "elsewhere",
        reason: "no registered stack",
        targets: [],
        receivedAt: daysAgo(age).toISOString(),
      });
    }
    for (const [stack, what, age] of [
      ["keep1", "deploy succeeded", 400],
      ["keep1", "scale-out succeeded", 364],
      ["gone2", "teardown succeeded", 366],
      ["gone2", "alert fired", 1],
    ] as const) {
      await backdated(daysAgo(age)).append({ stack, what, why: "test", actor: "jumpgate" });
    }

    useServices({
      inbox,
      audit: new AuditLog(tables),
      retention: { alertSignals: 30, ignoredAlerts: 7, auditEvents: 365 },
    } as unknown as Services);
    const registration = fromRegistry().timers[Names.timers.storeRetention];
    assert.ok(registration, "the retention timer is registered");
    assert.equal(registration.schedule, "0 53 3 * * *");
    const logs: string[] = [];
    const context = new InvocationContext({
      functionName: registration.name,
      logHandler: (_level, ...args) => logs.push(args.map(String).join(" ")),
    });
    const outcome = (await registration.handler({}, context)) as RetentionOutcome;
    assert.deepEqual(outcome, { signals: 2, ignored: 1, events: 2 });
    assert.match(logs.join("\n"), /deleted 2 alert signal\(s\) older than 30 day\(s\)/);

    assert.deepEqual(
      (await inbox.recent("keep1")).map((s) => s.id),
      ["new-a"],
    );
    assert.deepEqual(
      (await inbox.recent("gone2")).map((s) => s.id),
      ["new-b"],
    );
    assert.deepEqual(
      (await inbox.ignored()).map((i) => i.id),
      ["ignored-new"],
    );
    const audit = new AuditLog(tables);
    assert.deepEqual(
      (await audit.all("keep1")).map((e) => e.what),
      ["scale-out succeeded"],
    );
    assert.deepEqual(
      (await audit.all("gone2")).map((e) => e.what),
      ["alert fired"],
    );
    // a second run finds nothing more to do
    assert.deepEqual(await registration.handler({}, context), { signals: 0, ignored: 0, events: 0 });
  });

  test("a backlog larger than one call's batch goes over several calls", async () => {
    const log = backdated(daysAgo(500));
    for (let i = 0; i < 12; i++)
      await log.append({ stack: "backlog", what: `old ${i}`, why: "test", actor: "jumpgate" });
    const audit = new AuditLog(tables);
    assert.equal(await audit.prune(daysAgo(365), { max: 5 }), 5);
    assert.equal((await audit.all("backlog")).length, 7);
    assert.equal(await audit.prune(daysAgo(365), { max: 5 }), 5);
    assert.equal(await audit.prune(daysAgo(365), { max: 5 }), 2);
    assert.deepEqual(await audit.all("backlog"), []);
  });
});

describe("audit trail: alert receipts apart, no control characters", () => {
  test("a burst of alert receipts does not push what Jumpgate did out of a page", async () => {
    const audit = new AuditLog(tables);
    await audit.append({ stack: "busy", what: "deploy succeeded", why: "generation 1 applied", actor: "jumpgate" });
    await audit.append({ stack: "busy", what: "rotation", why: "asked", actor: "api:ops" });
    for (let i = 0; i < 30; i++) {
      await audit.append({
        stack: "busy",
        what: `alert fired: heal busy-web-${i}`,
        why: "probe",
        actor: `alert:rule-${i}`,
      });
    }
    const real = await audit.recent("busy", { limit: 20, actorPrefix: { except: "alert:" } });
    assert.deepEqual(
      real.map((e) => e.what),
      ["rotation", "deploy succeeded"],
    );
    const receipts = await audit.recent("busy", { limit: 10, actorPrefix: { only: "alert:" } });
    assert.equal(receipts.length, 10);
    assert.ok(receipts.every((e) => e.actor.startsWith("alert:")));
    assert.equal(receipts[0].what, "alert fired: heal busy-web-29", "newest first");
    assert.equal((await audit.recent("busy", { limit: 100 })).length, 32, "unfiltered, everything");
  });

  test("control characters are stripped from actor, what, why and details, keys included", async () => {
    const audit = new AuditLog(tables);
    const event = await audit.append({
      stack: "clean",
      what: "alert fired:\r\nheal",
      why: "title\u001b[2J\u202eevil",
      actor: "alert:rule\nFAKE: deploy succeeded",
      details: { "node\u0000": "web\u0007-1", list: ["a\u2028b"], nested: { deep: "x\u0085y" } },
    });
    const [stored] = await audit.all("clean");
    assert.deepEqual(stored, event);
    assert.equal(stored.actor, "alert:rule FAKE: deploy succeeded");
    assert.equal(stored.what, "alert fired: heal");
    assert.equal(stored.why, "title [2J evil");
    assert.deepEqual(stored.details, { "node ": "web -1", list: ["a b"], nested: { deep: "x y" } });
  });
});
