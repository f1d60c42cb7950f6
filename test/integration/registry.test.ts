// The stack registry against a real Azurite: generations, observed state, the operation claim,
// conditions, deletion, documents larger than one Table Storage property, and the store's settings.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TableServiceClient } from "@azure/data-tables";
import {
  StackNotFoundError,
  StackRegistry,
  StoreLimitError,
  StoreTables,
  storeSettingsFromEnv,
  type StackOperation,
  type StackRecord,
  type StoreSettings,
} from "../../shared/store";
import { ConfigError } from "../../shared/config";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";

interface Spec {
  location: string;
  nodes: number;
  tags?: Record<string, string>;
  blob?: string;
}
interface Observed {
  nodes: string[];
}

let azurite: AzuriteServer;
let tables: StoreTables;

/** A clock the test moves by hand, so times are exact. */
class TestClock {
  private ms = Date.parse("2030-01-01T00:00:00.000Z");
  now = (): Date => new Date(this.ms);
  advance(seconds: number): string {
    this.ms += seconds * 1000;
    return new Date(this.ms).toISOString();
  }
  iso(): string {
    return new Date(this.ms).toISOString();
  }
}

function settings(connectionString: string): StoreSettings {
  return {
    connectionString,
    tablePrefix: "regtest",
    requestTimeoutMs: 5_000,
    retry: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 100 },
  };
}

function registry(clock = new TestClock()): StackRegistry<Spec, Observed> {
  return new StackRegistry<Spec, Observed>(tables, { clock: clock.now });
}

function op(kind: StackOperation["kind"], instanceId: string): StackOperation {
  return { kind, instanceId, startedAt: "2030-01-01T00:00:00.000Z" };
}

async function created(reg: StackRegistry<Spec, Observed>, name: string): Promise<StackRecord<Spec, Observed>> {
  const result = await reg.putDesired(name, { location: "westeurope", nodes: 2 });
  assert.ok(result.ok);
  return result.stack;
}

before(async () => {
  azurite = await startAzurite();
  tables = new StoreTables(settings(azurite.connectionString));
});
after(async () => {
  await azurite?.stop();
});

describe("desired spec and generation", () => {
  test("create, get and list: generation 1, nothing observed yet", async () => {
    const clock = new TestClock();
    const reg = registry(clock);
    const result = await reg.putDesired("create-1", { location: "westeurope", nodes: 2 });
    assert.ok(result.ok);
    assert.equal(result.change, "created");
    assert.equal(result.stack.generation, 1);
    assert.equal(result.stack.observedGeneration, 0);
    assert.equal(result.stack.observed, undefined);
    assert.equal(result.stack.operation, undefined);
    assert.deepEqual(result.stack.conditions, []);
    assert.equal(result.stack.createdAt, clock.iso());

    const read = await reg.get("create-1");
    assert.ok(read);
    assert.deepEqual(read, result.stack, "get returns exactly what put returned, ETag included");
    assert.equal(await reg.get("never-created"), undefined);
  });

  test("list pages through every stack", async () => {
    const reg = registry();
    const names = ["list-a", "list-b", "list-c", "list-d", "list-e"];
    await Promise.all(names.map((n) => created(reg, n)));
    const listed = await reg.list({ pageSize: 2 });
    const listedNames = listed.map((s) => s.name);
    for (const n of names) assert.ok(listedNames.includes(n), `${n} is listed`);
    assert.equal(new Set(listedNames).size, listedNames.length, "no stack listed twice");
    assert.deepEqual(listed.find((s) => s.name === "list-c")?.spec, { location: "westeurope", nodes: 2 });
  });

  test("a changed spec bumps the generation and keeps createdAt; an identical one changes nothing", async () => {
    const clock = new TestClock();
    const reg = registry(clock);
    const first = await reg.putDesired("gen-1", { location: "westeurope", nodes: 2, tags: { a: "1", b: "2" } });
    assert.ok(first.ok);

    const updatedAt = clock.advance(60);
    const second = await reg.putDesired("gen-1", { location: "westeurope", nodes: 3, tags: { a: "1", b: "2" } });
    assert.ok(second.ok);
    assert.equal(second.change, "updated");
    assert.equal(second.stack.generation, 2);
    assert.equal(second.stack.createdAt, first.stack.createdAt);
    assert.equal(second.stack.updatedAt, updatedAt);
    assert.notEqual(second.stack.etag, first.stack.etag);

    clock.advance(60);
    // same content, other key order, and an undefined member JSON drops anyway
    const same = await reg.putDesired("gen-1", {
      tags: { b: "2", a: "1" },
      nodes: 3,
      location: "westeurope",
      blob: undefined,
    });
    assert.ok(same.ok);
    assert.equal(same.change, "unchanged");
    assert.equal(same.stack.generation, 2);
    assert.equal(same.stack.etag, second.stack.etag, "nothing was written");
    assert.equal(same.stack.updatedAt, updatedAt);
  });

  test("ifMatch: the write happens only on the version the caller read", async () => {
    const reg = registry();
    const v1 = await created(reg, "ifmatch-1");
    const v2 = await reg.putDesired("ifmatch-1", { location: "westeurope", nodes: 5 }, { ifMatch: v1.etag });
    assert.ok(v2.ok);
    assert.equal(v2.stack.generation, 2);

    const stale = await reg.putDesired("ifmatch-1", { location: "northeurope", nodes: 1 }, { ifMatch: v1.etag });
    assert.equal(stale.ok, false);
    assert.ok(!stale.ok && stale.reason === "etag-mismatch");
    assert.equal(stale.stack?.spec.nodes, 5, "the conflict shows the current version");
    assert.equal((await reg.get("ifmatch-1"))?.spec.location, "westeurope");

    const missing = await reg.putDesired("ifmatch-missing", { location: "x", nodes: 1 }, { ifMatch: v1.etag });
    assert.deepEqual(missing, { ok: false, reason: "etag-mismatch", stack: undefined });
    assert.equal(await reg.get("ifmatch-missing"), undefined);
  });
});

describe("observed state", () => {
  test("observedGeneration follows the reconciled generation; a late older observation is dropped", async () => {
    const clock = new TestClock();
    const reg = registry(clock);
    await created(reg, "obs-1");
    await reg.putDesired("obs-1", { location: "westeurope", nodes: 3 }); // generation 2

    const at = clock.advance(10);
    const first = await reg.putObserved("obs-1", { nodes: ["vm-1", "vm-2"] }, { generation: 1 });
    assert.ok(first.ok);
    assert.equal(first.stack.observedGeneration, 1);
    assert.equal(first.stack.generation, 2, "a reconcile of an older spec is still behind");
    assert.equal(first.stack.observedAt, at);

    const current = await reg.putObserved("obs-1", { nodes: ["vm-1", "vm-2", "vm-3"] }, { generation: 2 });
    assert.ok(current.ok);
    assert.equal(current.stack.observedGeneration, 2);

    const late = await reg.putObserved("obs-1", { nodes: ["vm-1"] }, { generation: 1 });
    assert.equal(late.ok, false);
    assert.ok(!late.ok && late.reason === "stale-generation");
    const stored = await reg.get("obs-1");
    assert.deepEqual(stored?.observed, { nodes: ["vm-1", "vm-2", "vm-3"] });
    assert.equal(stored?.spec.nodes, 3, "observing never touches the spec");

    await assert.rejects(reg.putObserved("obs-1", { nodes: [] }, { generation: 3 }), RangeError);
    await assert.rejects(reg.putObserved("obs-missing", { nodes: [] }, { generation: 1 }), StackNotFoundError);
  });
});

describe("operation claim", () => {
  test("concurrent claims: exactly one wins, every loser is told the winner's operation", async () => {
    const reg = registry();
    await created(reg, "claim-1");
    const claimants = Array.from({ length: 8 }, (_, i) => op(i % 2 ? "heal" : "deploy", `instance-${i}`));
    const results = await Promise.all(claimants.map((o) => reg.setOperation("claim-1", o)));

    const winners = results.filter((r) => r.ok);
    assert.equal(winners.length, 1, "exactly one claim wins");
    const winner = (await reg.get("claim-1"))?.operation;
    assert.ok(winner);
    for (const r of results.filter((x) => !x.ok)) {
      assert.ok(!r.ok && r.reason === "operation-running");
      assert.deepEqual(r.running, winner, "the loser learns who holds the stack");
    }
  });

  test("two claims with the same ETag: one wins, the other gets the winner's operation", async () => {
    const reg = registry();
    const read = await created(reg, "claim-2");
    const [a, b] = await Promise.all([
      reg.setOperation("claim-2", op("deploy", "api-a"), { ifMatch: read.etag }),
      reg.setOperation("claim-2", op("teardown", "api-b"), { ifMatch: read.etag }),
    ]);
    assert.equal([a, b].filter((r) => r.ok).length, 1);
    const loser = a.ok ? b : a;
    const winnerOp = a.ok ? op("deploy", "api-a") : op("teardown", "api-b");
    assert.ok(!loser.ok && loser.reason === "operation-running");
    assert.deepEqual(loser.running, winnerOp);
  });

  test("claiming again from the same instance is harmless; release only by the holder", async () => {
    const reg = registry();
    await created(reg, "claim-3");
    const deploy = op("deploy", "orch-1");
    const claimed = await reg.setOperation("claim-3", deploy);
    assert.ok(claimed.ok && !claimed.unchanged);
    const retried = await reg.setOperation("claim-3", deploy);
    assert.ok(retried.ok && retried.unchanged, "a retried activity gets its own claim back");
    assert.equal(retried.stack.etag, claimed.stack.etag);

    const sameInstanceOtherKind = await reg.setOperation("claim-3", op("heal", "orch-1"));
    assert.ok(!sameInstanceOtherKind.ok && sameInstanceOtherKind.reason === "operation-running");

    const notMine = await reg.setOperation("claim-3", null, { heldBy: "orch-2" });
    assert.ok(!notMine.ok && notMine.reason === "operation-running");
    assert.deepEqual(notMine.running, deploy);

    const released = await reg.setOperation("claim-3", null, { heldBy: "orch-1" });
    assert.ok(released.ok && !released.unchanged);
    assert.equal(released.stack.operation, undefined);
    assert.equal((await reg.get("claim-3"))?.operation, undefined);
    const again = await reg.setOperation("claim-3", null, { heldBy: "orch-1" });
    assert.ok(again.ok && again.unchanged, "releasing twice is fine");

    const next = await reg.setOperation("claim-3", op("scale", "orch-2"));
    assert.ok(next.ok, "a released stack can be claimed again");
  });

  test("ifMatch: a stale claim is refused; an operator clears a stuck claim with the ETag they saw", async () => {
    const reg = registry();
    const read = await created(reg, "claim-4");
    await reg.putDesired("claim-4", { location: "westeurope", nodes: 9 });
    const stale = await reg.setOperation("claim-4", op("deploy", "x"), { ifMatch: read.etag });
    assert.ok(!stale.ok && stale.reason === "etag-mismatch");
    assert.equal(stale.stack?.operation, undefined);

    const stuck = await reg.setOperation("claim-4", op("rotate-database", "crashed"));
    assert.ok(stuck.ok);
    const forced = await reg.setOperation("claim-4", null, { ifMatch: stuck.stack.etag });
    assert.ok(forced.ok && !forced.unchanged);
    assert.equal(forced.stack.operation, undefined);

    await assert.rejects(reg.setOperation("claim-4", null), TypeError, "clearing needs heldBy or ifMatch");
    await assert.rejects(
      reg.setOperation("claim-4", {
        kind: "dance" as StackOperation["kind"],
        instanceId: "x",
        startedAt: "2030-01-01",
      }),
      RangeError,
    );
    await assert.rejects(reg.setOperation("claim-missing", op("deploy", "x")), StackNotFoundError);
  });

  test("writers of different fields racing on one stack lose nothing", async () => {
    const reg = registry();
    await created(reg, "race-1");
    await Promise.all([
      reg.setOperation("race-1", op("reconcile", "orch-9")),
      reg.putObserved("race-1", { nodes: ["vm-1"] }, { generation: 1 }),
      reg.setConditions("race-1", [{ type: "Ready", status: "True", reason: "Deployed", message: "ok" }]),
      reg.putDesired("race-1", { location: "westeurope", nodes: 4 }),
    ]);
    const stack = await reg.get("race-1");
    assert.equal(stack?.operation?.instanceId, "orch-9");
    assert.deepEqual(stack?.observed, { nodes: ["vm-1"] });
    assert.equal(stack?.conditions[0]?.type, "Ready");
    assert.equal(stack?.spec.nodes, 4);
    assert.equal(stack?.generation, 2);
  });
});

describe("claim: spec and operation in one write", () => {
  const starting = (instanceId: string): StackOperation => ({ ...op("deploy", instanceId), starting: true });

  test("concurrent claims with different specs: one is stored with its claim, the others store nothing", async () => {
    const reg = registry();
    const specs = Array.from({ length: 6 }, (_, i) => ({ location: "westeurope", nodes: i + 1 }));
    const results = await Promise.all(
      specs.map((spec, i) => reg.claim("claim-new", (g) => starting(`deploy-${i}-g${g}`), { spec })),
    );
    const winners = results.filter((r) => r.ok);
    assert.equal(winners.length, 1);
    const won = winners[0];
    assert.ok(won.ok && won.change === "created");
    const record = await reg.get("claim-new");
    assert.equal(record?.generation, 1);
    assert.deepEqual(record?.operation, won.stack.operation);
    assert.deepEqual(record?.spec, specs[Number(/deploy-(\d)-/.exec(won.stack.operation!.instanceId)![1])]);
    for (const r of results.filter((x) => !x.ok)) {
      assert.ok(!r.ok && r.reason === "operation-running" && r.running.instanceId === won.stack.operation!.instanceId);
    }
  });

  test("a held stack refuses the claim and keeps its spec; only the exact stale claim can be replaced", async () => {
    const reg = registry();
    await created(reg, "claim-held");
    const held = await reg.setOperation("claim-held", op("heal", "heal-x"));
    assert.ok(held.ok);
    const refused = await reg.claim("claim-held", () => starting("deploy-a"), { spec: { location: "x", nodes: 9 } });
    assert.ok(!refused.ok && refused.reason === "operation-running");
    const after = await reg.get("claim-held");
    assert.deepEqual(
      [after?.spec, after?.generation, after?.etag],
      [{ location: "westeurope", nodes: 2 }, 1, held.stack.etag],
    );

    // the caller judged another claim stale: this one is not it
    const wrong = await reg.claim("claim-held", () => starting("deploy-b"), {
      spec: { location: "x", nodes: 9 },
      replacing: op("heal", "heal-older"),
    });
    assert.ok(!wrong.ok && wrong.reason === "operation-running");
    // the claim it judged stale, exactly: replaced, with the spec, generation + 1
    const taken = await reg.claim("claim-held", (g) => starting(`deploy-c-g${g}`), {
      spec: { location: "x", nodes: 9 },
      replacing: op("heal", "heal-x"),
    });
    assert.ok(taken.ok && taken.change === "updated");
    assert.equal(taken.stack.operation?.instanceId, "deploy-c-g2");
    assert.equal(taken.stack.generation, 2);
  });

  test("refuse decides on the stored stack; no spec claims without changing it; a missing stack is not-found", async () => {
    const reg = registry();
    await created(reg, "claim-refuse");
    const refused = await reg.claim("claim-refuse", () => starting("deploy-x"), {
      spec: { location: "northeurope", nodes: 2 },
      refuse: (current) =>
        current.spec.location !== "northeurope" ? `moves from ${current.spec.location}` : undefined,
    });
    assert.ok(!refused.ok && refused.reason === "refused" && refused.refusal === "moves from westeurope");
    assert.equal((await reg.get("claim-refuse"))?.operation, undefined, "nothing written");
    const same = await reg.claim("claim-refuse", (g) => starting(`teardown-g${g}`));
    assert.ok(same.ok && same.change === "unchanged" && same.stack.generation === 1);
    assert.equal(same.stack.operation?.instanceId, "teardown-g1");
    const missing = await reg.claim("claim-absent", () => starting("teardown-y"));
    assert.ok(!missing.ok && missing.reason === "not-found");
    assert.equal(await reg.get("claim-absent"), undefined);
  });

  test("a worker claiming its own instance id again rewrites a claim made at another time", async () => {
    const reg = registry();
    await created(reg, "claim-own");
    const request = await reg.setOperation("claim-own", { ...op("rotate-database", "rotate-db-own"), starting: true });
    assert.ok(request.ok);
    const worker = {
      kind: "rotate-database" as const,
      instanceId: "rotate-db-own",
      startedAt: "2030-01-01T00:05:00.000Z",
    };
    const taken = await reg.setOperation("claim-own", worker);
    assert.ok(taken.ok && !taken.unchanged, "the orchestration makes the request's claim its own");
    assert.notEqual(taken.stack.etag, request.stack.etag);
    assert.deepEqual(taken.stack.operation, worker);
    const retried = await reg.setOperation("claim-own", worker);
    assert.ok(retried.ok && retried.unchanged, "the same claim again writes nothing");
  });
});

describe("conditions", () => {
  test("lastTransitionTime moves only when the status changes; other types stay", async () => {
    const clock = new TestClock();
    const reg = registry(clock);
    await created(reg, "cond-1");

    const t1 = clock.advance(1);
    let stack = await reg.setConditions("cond-1", [
      { type: "Ready", status: "False", reason: "Deploying", message: "creating resources" },
    ]);
    assert.deepEqual(stack.conditions, [
      { type: "Ready", status: "False", reason: "Deploying", message: "creating resources", lastTransitionTime: t1 },
    ]);

    clock.advance(1);
    stack = await reg.setConditions("cond-1", [
      { type: "Ready", status: "False", reason: "WaitingForNodes", message: "1 of 2 nodes ready" },
    ]);
    assert.equal(stack.conditions[0]?.lastTransitionTime, t1, "same status: the transition time stays");
    assert.equal(stack.conditions[0]?.reason, "WaitingForNodes");

    const t3 = clock.advance(1);
    stack = await reg.setConditions("cond-1", [{ type: "Ready", status: "True", reason: "Deployed", message: "ok" }]);
    assert.equal(stack.conditions[0]?.lastTransitionTime, t3);

    const t4 = clock.advance(1);
    stack = await reg.setConditions("cond-1", [
      { type: "Healthy", status: "Unknown", reason: "NoMetricsYet", message: "waiting for metrics" },
    ]);
    assert.deepEqual(
      stack.conditions.map((c) => [c.type, c.status, c.lastTransitionTime]),
      [
        ["Ready", "True", t3],
        ["Healthy", "Unknown", t4],
      ],
    );

    clock.advance(1);
    const unchanged = await reg.setConditions("cond-1", [
      { type: "Ready", status: "True", reason: "Deployed", message: "ok" },
    ]);
    assert.equal(unchanged.etag, stack.etag, "nothing changed, nothing written");
    assert.deepEqual((await reg.get("cond-1"))?.conditions, stack.conditions);

    await assert.rejects(
      reg.setConditions("cond-1", [{ type: "Ready", status: "Maybe" as "True", reason: "x", message: "" }]),
      RangeError,
    );
  });
});

describe("delete", () => {
  test("delete removes the stack; deleting again reports nothing deleted; a stale ETag is refused", async () => {
    const reg = registry();
    const v1 = await created(reg, "del-1");
    await reg.putDesired("del-1", { location: "westeurope", nodes: 7 });
    assert.deepEqual(await reg.delete("del-1", { ifMatch: v1.etag }), { ok: false, reason: "etag-mismatch" });
    assert.ok(await reg.get("del-1"));

    assert.deepEqual(await reg.delete("del-1"), { ok: true, deleted: true });
    assert.equal(await reg.get("del-1"), undefined);
    assert.deepEqual(await reg.delete("del-1"), { ok: true, deleted: false });

    const recreated = await created(reg, "del-1");
    assert.equal(recreated.generation, 1, "a re-created stack starts over");
  });
});

describe("size limits", () => {
  test("a spec longer than one table property is split across columns and read back intact", async () => {
    const reg = registry();
    // non-ASCII text larger than one request chunk: Azurite 3.35 corrupts it unless stored as escapes
    for (const padding of [31_995, 31_996]) {
      const name = `big-${padding}`;
      const blob = "x".repeat(padding) + "😀é".repeat(5_000) + "Ω".repeat(10_000) + "end";
      const spec: Spec = { location: "westeurope", nodes: 2, blob };
      const result = await reg.putDesired(name, spec);
      assert.ok(result.ok);

      const raw = await tables.clientOf("stacks").getEntity<Record<string, unknown>>("stack", name);
      assert.ok(typeof raw.SpecParts === "number" && raw.SpecParts > 1, "stored in several columns");
      for (const [key, value] of Object.entries(raw)) {
        if (typeof value !== "string") continue;
        assert.ok(value.length <= 32 * 1024, `${key} fits one property`);
        assert.ok(/^[\x20-\x7e]*$/.test(value), `${key} is stored as ASCII`);
      }
      assert.equal((await reg.get(name))?.spec.blob, blob);

      const same = await reg.putDesired(name, { ...spec });
      assert.ok(same.ok && same.change === "unchanged");
    }

    const small = await reg.putDesired("big-31995", { location: "westeurope", nodes: 2 });
    assert.ok(small.ok && small.change === "updated");
    const shrunk = await tables.clientOf("stacks").getEntity<Record<string, unknown>>("stack", "big-31995");
    assert.equal(shrunk.SpecParts, undefined, "no parts left behind");
    assert.equal(shrunk.Spec_1, undefined);
    assert.deepEqual((await reg.get("big-31995"))?.spec, { location: "westeurope", nodes: 2 });
  });

  test("a spec over its budget is refused with a clear error before anything is written", async () => {
    const reg = registry();
    const huge: Spec = { location: "westeurope", nodes: 2, blob: "y".repeat(300_000) };
    await assert.rejects(reg.putDesired("big-2", huge), (e: Error) => {
      assert.ok(e instanceof StoreLimitError);
      assert.match(e.message, /stack 'big-2': spec is .* KiB .* over its limit of 384\.0 KiB/);
      return true;
    });
    assert.equal(await reg.get("big-2"), undefined);
  });

  test("invalid stack names fail here, not as an opaque 400", async () => {
    const reg = registry();
    for (const bad of ["", "a/b", "a#b", "a?b", "a\\b", "tab\there", "x".repeat(300)]) {
      await assert.rejects(reg.putDesired(bad, { location: "x", nodes: 1 }), RangeError, JSON.stringify(bad));
    }
  });
});

describe("calls, tables and settings", () => {
  test("a call honours the caller's abort signal", async () => {
    const reg = registry();
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(reg.get("anything", { abortSignal: controller.signal }), /abort/i);
  });

  test("tables are named {prefix}stacks and {prefix}events and created on first use", async () => {
    assert.equal(tables.tableName("stacks"), "regteststacks");
    assert.equal(tables.tableName("events"), "regtestevents");
    const fresh = new StoreTables({ ...settings(azurite.connectionString), tablePrefix: "fresh" });
    await new StackRegistry(fresh).putDesired("first", { any: "spec" });
    const listed: string[] = [];
    const service = TableServiceClient.fromConnectionString(azurite.connectionString, {
      allowInsecureConnection: true,
    });
    for await (const t of service.listTables()) if (t.name) listed.push(t.name);
    assert.ok(listed.includes("freshstacks"), listed.join(","));
  });

  test("settings: AzureWebJobsStorage and JUMPGATE_TABLE_PREFIX, with safe defaults", () => {
    const dev = storeSettingsFromEnv({ AzureWebJobsStorage: "UseDevelopmentStorage=true" });
    assert.equal(dev.tablePrefix, "jumpgate");
    const devTables = new StoreTables(dev);
    assert.equal(devTables.tableName("stacks"), "jumpgatestacks");
    assert.equal(devTables.tableName("events"), "jumpgateevents");
    assert.equal(devTables.clientOf("stacks").url, "http://127.0.0.1:10002/devstoreaccount1");

    const prod = storeSettingsFromEnv({
      AzureWebJobsStorage:
        "DefaultEndpointsProtocol=https;AccountName=jumpgatefn;AccountKey=a2V5;EndpointSuffix=core.windows.net",
      JUMPGATE_TABLE_PREFIX: "jg2",
    });
    assert.equal(new StoreTables(prod).clientOf("events").url, "https://jumpgatefn.table.core.windows.net");
    assert.equal(new StoreTables(prod).tableName("events"), "jg2events");

    const refused: [Record<string, string>, RegExp][] = [
      [{}, /no storage is configured: set AzureWebJobsStorage to a connection string/],
      [{ AzureWebJobsStorage: "UseDevelopmentStorage=true", JUMPGATE_TABLE_PREFIX: "1abc" }, /JUMPGATE_TABLE_PREFIX/],
      [{ AzureWebJobsStorage: "UseDevelopmentStorage=true", JUMPGATE_TABLE_PREFIX: "jg-x" }, /JUMPGATE_TABLE_PREFIX/],
      [
        {
          AzureWebJobsStorage:
            "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;TableEndpoint=http://10.0.0.4:10002/a",
        },
        /plain http is accepted only on loopback/,
      ],
      [{ AzureWebJobsStorage: "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5" }, /plain http/],
    ];
    for (const [env, message] of refused) {
      assert.throws(
        () => storeSettingsFromEnv(env),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
        JSON.stringify(env),
      );
    }
  });
});
