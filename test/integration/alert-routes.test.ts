// The alert routing index (shared/store/alert-routes.ts) under the real alert route, over Azurite
// behind an HTTP gate that sees every Table request: an alert costs the same few Table operations
// with 1 stack registered and with hundreds (one index range, never the registry), the index follows
// an accepted change of resource group in the same transaction as the stack, and stale rows (the
// tombstone a move leaves, a row whose stack is gone) route nothing that acts.
import "../../emulator/durable/install";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type * as df from "durable-functions";
import { orchestratorHandler } from "../../emulator/durable";
import { SIGNAL_EVENT } from "../../functions/alert-wake";
import { takeHealSignalsActivity } from "../../functions/activities/heal";
import { Names } from "../../functions/names";
import { routeRowKey } from "../../shared/store/alert-routes";
import type { StoreTables } from "../../shared/store/tables";
import { validateStackSpec } from "../../shared/spec";
import type { StackSpec } from "../../shared/spec/types";
import { probeAlert } from "../../dev/alert-payloads";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

const SUB = "00000000-0000-0000-0000-0000000a1e75";
const MORE = 300;
type Json = Record<string, unknown>;

function spec(name: string, resourceGroup = `rg-${name}`): StackSpec {
  const result = validateStackSpec({ name, subscriptionId: SUB, resourceGroup, location: "westeurope" });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.spec;
}

/** Stand-in heal worker: runs until stopped, counting its wake-ups (the real one acts through ARM). */
const countingWorker = orchestratorHandler(function* (context: df.OrchestrationContext) {
  const input = context.df.getInput<{ stack: string }>();
  const events: unknown[] = [];
  context.df.setCustomStatus({ stack: input.stack, events });
  for (;;) {
    events.push(yield context.df.waitForExternalEvent(SIGNAL_EVENT));
    context.df.setCustomStatus({ stack: input.stack, events });
  }
});

describe("alert routing index", () => {
  let env: JumpgateEnv;
  let n = 0;

  /** Posts a fresh probe alert for `target` (a spec naming its resource group); the Table requests it made. */
  async function postProbe(
    target: StackSpec,
  ): Promise<{ status: number; json: Json; table: { method: string; path: string }[] }> {
    const before = env.gates!.tables.exchanges.length;
    const body = probeAlert(target, "10.40.1.4", {
      alertGuid: `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
    });
    const res = await fetch(`${env.api}/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Json;
    const table = env.gates!.tables.exchanges.slice(before).map(({ method, path }) => ({ method, path }));
    return { status: res.status, json, table };
  }
  const signalled = (a: { json: Json }) => ((a.json.signals as { stack: string }[]) ?? []).map((s) => s.stack);
  const stacksTable = () => (env.registry as unknown as { tables: StoreTables }).tables.table("stacks");

  before(async () => {
    env = await startJumpgateEnv({ http: true, gates: true, realTime: { timeScale: 50 } });
    env.host.setOrchestrator(Names.orchestrators.healStack, countingWorker);
    await env.registry.putDesired("alpha", spec("alpha"));
    await env.registry.backfillRoutes(await env.registry.list()); // the index is complete: no fallback
    await postProbe(spec("alpha")); // warm-up: tables created, connections open
  });

  after(async () => {
    await env?.stop();
  });

  test("an alert costs the same Table operations (at most 3) with 1 stack and with hundreds, none over the registry", async () => {
    const one = await postProbe(spec("alpha"));
    assert.equal(one.status, 202, JSON.stringify(one.json));
    assert.deepEqual(signalled(one), ["alpha"]);
    for (let i = 0; i < MORE; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, k) => `m${String(i + k).padStart(4, "0")}`).map((name) =>
          env.registry.putDesired(name, spec(name)),
        ),
      );
    }
    const many = await postProbe(spec("alpha"));
    assert.equal(many.status, 202);
    assert.deepEqual(signalled(many), ["alpha"]);
    assert.ok(one.table.length <= 3, `with 1 stack: ${JSON.stringify(one.table)}`);
    assert.equal(many.table.length, one.table.length, `with ${MORE + 1} stacks: ${JSON.stringify(many.table)}`);
    // the one read of the stacks table is the index range of the alert's resource group
    const reads = many.table.filter((r) => r.method === "GET" && /jumpgatestacks\(/i.test(r.path));
    assert.equal(reads.length, 1, JSON.stringify(many.table));
    const filter = decodeURIComponent(new URL(reads[0].path, "http://x").searchParams.get("$filter") ?? "");
    assert.match(filter, /RowKey ge '~rg:[^']*:rg-alpha:'/i);
  });

  test("the index follows an accepted change of resource group; the old group routes nothing", async () => {
    const moved = spec("bravo", "rg-bravo-new");
    await env.registry.putDesired("bravo", spec("bravo", "rg-bravo-old"));
    assert.deepEqual(signalled(await postProbe(spec("bravo", "rg-bravo-old"))), ["bravo"]);
    await env.registry.putDesired("bravo", moved);
    assert.deepEqual(
      (await env.registry.routes(SUB, "rg-bravo-old")).map((r) => r.name),
      [],
    );
    assert.deepEqual(
      (await env.registry.routes(SUB, "rg-bravo-new")).map((r) => [r.name, r.spec.resourceGroup]),
      [["bravo", "rg-bravo-new"]],
    );
    assert.deepEqual(signalled(await postProbe(moved)), ["bravo"]);
    const old = await postProbe(spec("bravo", "rg-bravo-old"));
    assert.equal(old.status, 202);
    assert.deepEqual(signalled(old), []);
    assert.ok(typeof old.json.ignored === "string", JSON.stringify(old.json));
    // the old group's row is a tombstone in the table, not a route
    const table = await stacksTable();
    const tombstone = await table.getEntity<Json>("stack", routeRowKey(SUB, "rg-bravo-old", "bravo"));
    assert.equal(tombstone.Route, "null");
  });

  test("a change the registry refuses (a stale ETag) leaves the index where it was", async () => {
    const record = await env.registry.get("alpha");
    assert.ok(record);
    await env.registry.putDesired("alpha", { ...spec("alpha"), location: "northeurope" }); // accepted: a new ETag
    const refused = await env.registry.putDesired("alpha", spec("alpha", "rg-elsewhere"), { ifMatch: record.etag });
    assert.equal(refused.ok, false);
    assert.deepEqual(
      (await env.registry.routes(SUB, "rg-elsewhere")).map((r) => r.name),
      [],
    );
    assert.deepEqual(
      (await env.registry.routes(SUB, "rg-alpha")).map((r) => r.name),
      ["alpha"],
    );
  });

  test("a row whose stack is gone (a crash between two deletes) routes a signal that nothing acts on", async () => {
    await env.registry.putDesired("gone", spec("gone"));
    const table = await stacksTable();
    await table.deleteEntity("stack", "gone"); // the stack's own row only: its index row stays behind
    env.emulator.journal.clear();
    const res = await postProbe(spec("gone"));
    assert.equal(res.status, 202, "acknowledged, not a 5xx");
    const taken = await takeHealSignalsActivity({ stack: "gone" });
    assert.equal(taken.registered, false, "the heal worker finds no stack, and ends with nothing to heal");
    assert.deepEqual(env.emulator.journal.list(), [], "no ARM request at all");
  });
});
