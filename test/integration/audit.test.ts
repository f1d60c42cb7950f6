// The audit trail against a real Azurite: newest first, concurrent appends all kept, limits, and
// no way to overwrite an event.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AUDIT_LIMITS,
  AuditLog,
  StoreContentionError,
  StoreLimitError,
  StoreTables,
  type AuditEventInput,
} from "../../shared/store";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";

let azurite: AzuriteServer;
let tables: StoreTables;

before(async () => {
  azurite = await startAzurite();
  tables = new StoreTables({
    connectionString: azurite.connectionString,
    tablePrefix: "audittest",
    requestTimeoutMs: 5_000,
    retry: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 100 },
  });
});
after(async () => {
  await azurite?.stop();
});

function event(stack: string, what: string, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return { stack, what, why: "test", actor: "test:audit", ...extra };
}

describe("audit trail", () => {
  test("events come back newest first, with every field", async () => {
    const log = new AuditLog(tables);
    const appended = [];
    for (const what of ["deploy started", "network created", "nodes created", "deploy finished"]) {
      appended.push(
        await log.append(
          event("order-1", what, {
            operation: { kind: "deploy", instanceId: "orch-1" },
            details: { step: what, nodes: ["vm-1", "vm-2"] },
          }),
        ),
      );
    }
    const all = await log.all("order-1");
    assert.deepEqual(
      all.map((e) => e.what),
      ["deploy finished", "nodes created", "network created", "deploy started"],
    );
    assert.deepEqual(all[0], appended[3], "read back exactly as appended");
    assert.deepEqual(all[0]?.operation, { kind: "deploy", instanceId: "orch-1" });
    assert.deepEqual(all[0]?.details, { step: "deploy finished", nodes: ["vm-1", "vm-2"] });
    assert.equal(all[0]?.actor, "test:audit");
    assert.ok(!Number.isNaN(Date.parse(all[0]?.time ?? "")));
  });

  test("order holds within one millisecond and when the clock steps back", async () => {
    const times = [5, 5, 5, 4, 5].map((s) => new Date(Date.UTC(2030, 0, 1, 0, 0, s)));
    let i = 0;
    const log = new AuditLog(tables, { clock: () => times[i++] ?? new Date() });
    for (const what of ["a", "b", "c", "d", "e"]) await log.append(event("order-2", what));
    assert.deepEqual(
      (await log.all("order-2")).map((e) => e.what),
      ["e", "d", "c", "b", "a"],
    );
  });

  test("50 concurrent appends are all kept", async () => {
    const log = new AuditLog(tables);
    const whats = Array.from({ length: 50 }, (_, i) => `event ${i}`);
    const appended = await Promise.all(whats.map((what) => log.append(event("burst-1", what))));
    assert.equal(new Set(appended.map((e) => e.id)).size, 50, "50 distinct ids");
    const stored = await log.all("burst-1");
    assert.equal(stored.length, 50);
    assert.deepEqual(stored.map((e) => e.what).sort(), [...whats].sort());
  });

  test("recent: the newest `limit` events, across pages", async () => {
    const log = new AuditLog(tables);
    for (let i = 0; i < 12; i++) await log.append(event("limit-1", `event ${i}`));
    assert.deepEqual(
      (await log.recent("limit-1", { limit: 3 })).map((e) => e.what),
      ["event 11", "event 10", "event 9"],
    );
    assert.equal((await log.recent("limit-1", { limit: 100 })).length, 12);
    assert.equal((await log.recent("limit-1")).length, 12, "default limit is 50");
    assert.deepEqual(await log.recent("limit-empty", { limit: 5 }), []);
  });

  test("stacks do not see each other's events", async () => {
    const log = new AuditLog(tables);
    await log.append(event("iso-a", "only a"));
    await log.append(event("iso-b", "only b"));
    assert.deepEqual(
      (await log.all("iso-a")).map((e) => e.what),
      ["only a"],
    );
  });

  test("an event cannot be overwritten: a taken id fails the append and leaves the first event", async () => {
    const log = new AuditLog(tables, { newEventId: () => "0000000000000000-fixed" });
    const first = await log.append(event("nooverwrite-1", "first", { why: "original" }));
    await assert.rejects(
      log.append(event("nooverwrite-1", "second", { why: "would overwrite" })),
      StoreContentionError,
    );
    assert.deepEqual(await log.all("nooverwrite-1"), [first]);

    // and the table itself refuses a second entity with that RowKey
    await assert.rejects(
      tables.clientOf("events").createEntity({ partitionKey: "nooverwrite-1", rowKey: first.id, What: "forged" }),
      (e: { statusCode?: number }) => e.statusCode === 409,
    );
    assert.equal((await log.all("nooverwrite-1"))[0]?.what, "first");
  });

  test("long text is cut and marked; large details are refused; bad stack names fail early", async () => {
    const log = new AuditLog(tables);
    const long = await log.append(event("limits-1", "failed", { why: "E".repeat(10_000) }));
    assert.equal(long.why.length, AUDIT_LIMITS.why);
    assert.match(long.why, /… \[cut\]$/);
    assert.equal((await log.recent("limits-1", { limit: 1 }))[0]?.why, long.why);

    await assert.rejects(
      log.append(event("limits-1", "too much", { details: { blob: "z".repeat(9_000) } })),
      (e: Error) => e instanceof StoreLimitError && /keep details small/.test(e.message),
    );
    assert.equal((await log.all("limits-1")).length, 1, "the refused event was not written");
    await assert.rejects(log.append(event("bad/name", "x")), RangeError);
  });

  test("a call honours the caller's abort signal", async () => {
    const log = new AuditLog(tables);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(log.append(event("abort-1", "x"), { abortSignal: controller.signal }), /abort/i);
    assert.deepEqual(await log.all("abort-1"), []);
  });
});
