// The repair ledger against a real Azurite: attempts are recorded once per id and updated in place,
// a final outcome is never undone by a replayed "running", relapses, suspensions and resumes stick,
// the brake keeps its first `since` while it holds, concurrent writers lose nothing, and nothing is
// written when nothing changed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RepairAttempt } from "../../shared/heal/types";
import { MAX_ATTEMPTS, RepairLedger, StoreTables } from "../../shared/store";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";

let azurite: AzuriteServer;
let tables: StoreTables;

before(async () => {
  azurite = await startAzurite();
  tables = new StoreTables({
    connectionString: azurite.connectionString,
    tablePrefix: "ledgertest",
    requestTimeoutMs: 5_000,
    retry: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 100 },
  });
});
after(async () => {
  await azurite?.stop();
});

const attempt = (id: string, extra: Partial<RepairAttempt> = {}): RepairAttempt => ({
  id,
  step: "restart",
  startedAt: "2026-11-21T10:00:00.000Z",
  outcome: "running",
  ...extra,
});

/** The row's ETag, to see whether a call wrote anything. */
async function etagOf(stack: string, row: string): Promise<string | undefined> {
  const table = await tables.table("repairs");
  try {
    return (await table.getEntity(stack, row)).etag;
  } catch {
    return undefined;
  }
}

describe("repair ledger", () => {
  test("a stack it never saw is empty", async () => {
    assert.deepEqual(await new RepairLedger(tables).get("never"), { nodes: {} });
  });

  test("attempts: recorded once per id, updated in place, a final outcome stays final", async () => {
    const ledger = new RepairLedger(tables);
    const stack = "led1";
    await ledger.recordAttempt(stack, "led1-web-1", attempt("a1"));
    await ledger.recordAttempt(stack, "led1-web-1", attempt("a1"));
    const done = attempt("a1", { outcome: "succeeded", finishedAt: "2026-11-21T10:05:00.000Z", detail: "healthy" });
    await ledger.recordAttempt(stack, "led1-web-1", done);
    const before = await etagOf(stack, "node:led1-web-1");
    // a replayed start of the same attempt, and the same end again: nothing written
    await ledger.recordAttempt(stack, "led1-web-1", attempt("a1"));
    await ledger.recordAttempt(stack, "led1-web-1", done);
    assert.equal(await etagOf(stack, "node:led1-web-1"), before);
    await ledger.recordAttempt(stack, "led1-web-2", attempt("b1", { step: "replace" }));
    const state = await ledger.get(stack);
    assert.deepEqual(state.nodes["led1-web-1"].attempts, [done]);
    assert.deepEqual(
      state.nodes["led1-web-2"].attempts.map((a) => [a.id, a.step]),
      [["b1", "replace"]],
    );
  });

  test("relapse, suspension (first reason kept) and resume", async () => {
    const ledger = new RepairLedger(tables);
    const stack = "led2";
    const node = "led2-web-1";
    await ledger.recordAttempt(stack, node, attempt("a1", { outcome: "succeeded" }));
    await ledger.markRelapsed(stack, node, "a1");
    await ledger.suspend(stack, node, { reason: "3 repairs in a row", at: "2026-11-21T11:00:00.000Z" });
    await ledger.suspend(stack, node, { reason: "another", at: "2026-11-21T11:05:00.000Z" });
    let n = (await ledger.get(stack)).nodes[node];
    assert.equal(n.attempts[0].relapsed, true);
    assert.deepEqual(n.suspended, { reason: "3 repairs in a row", at: "2026-11-21T11:00:00.000Z" });
    // a later record of the same attempt does not undo the relapse
    await ledger.recordAttempt(stack, node, attempt("a1", { outcome: "succeeded" }));
    await ledger.resume(stack, node, "2026-11-21T12:00:00.000Z");
    n = (await ledger.get(stack)).nodes[node];
    assert.equal(n.suspended, undefined);
    assert.equal(n.resumedAt, "2026-11-21T12:00:00.000Z");
    assert.equal(n.attempts[0].relapsed, true);
  });

  test("only the most recent attempts are kept", async () => {
    const ledger = new RepairLedger(tables);
    for (let i = 0; i < MAX_ATTEMPTS + 5; i++) {
      await ledger.recordAttempt("led3", "led3-web-1", attempt(`a${i}`, { outcome: "failed" }));
    }
    const kept = (await ledger.get("led3")).nodes["led3-web-1"].attempts;
    assert.equal(kept.length, MAX_ATTEMPTS);
    assert.equal(kept[0].id, "a5");
    assert.equal(kept.at(-1)!.id, `a${MAX_ATTEMPTS + 4}`);
  });

  test("the brake: engaged, updated with its first since, released once", async () => {
    const ledger = new RepairLedger(tables);
    const stack = "led4";
    const share = { reason: "unhealthy-share", message: "2 of 2", since: "2026-11-21T10:00:00.000Z" };
    assert.equal(await ledger.setBrake(stack, share), true);
    assert.equal(await ledger.setBrake(stack, share), false, "the same brake again writes nothing");
    assert.equal(
      await ledger.setBrake(stack, { ...share, message: "3 of 3", since: "2026-11-21T10:30:00.000Z" }),
      true,
    );
    assert.deepEqual((await ledger.get(stack)).brake, { ...share, message: "3 of 3" });
    assert.equal(await ledger.setBrake(stack, null, { at: "2026-11-21T11:00:00.000Z", releasedBy: "all-clear" }), true);
    assert.equal(await ledger.setBrake(stack, null), false);
    assert.equal((await ledger.get(stack)).brake, undefined);
  });

  test("concurrent writers of one node lose nothing", async () => {
    const ledger = new RepairLedger(tables);
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => ledger.recordAttempt("led5", "led5-web-1", attempt(`c${i}`))),
    );
    const ids = (await ledger.get("led5")).nodes["led5-web-1"].attempts.map((a) => a.id).sort();
    assert.equal(ids.length, 8);
  });

  test("forget removes a stack's rows; bad node names are refused before any call", async () => {
    const ledger = new RepairLedger(tables);
    await ledger.recordAttempt("led6", "led6-web-1", attempt("x"));
    await ledger.setBrake("led6", { reason: "r", message: "m", since: "2026-11-21T10:00:00.000Z" });
    await ledger.forget("led6");
    assert.deepEqual(await ledger.get("led6"), { nodes: {} });
    await assert.rejects(ledger.recordAttempt("led6", "bad/name", attempt("y")), RangeError);
  });
});
