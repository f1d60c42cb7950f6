// One writer per stack, under concurrency, through the real HTTP routes and the real orchestrations
// (durable test host, real time sped up), the Azure emulator and Azurite. Requests race in two ways:
//   - at once, or staggered by up to 15 ms, so they interleave however the machine lets them;
//   - gated (dev/servers/http-gate.ts), so the dangerous interleavings happen every time:
//     every contender's claim write to the stack's registry entity is held until every contender has
//     read the stack and decided (all of them decide on the same version and race their ETag-guarded
//     writes), then one chosen kind of claim lands first (each side wins in one round); and the
//     winner's orchestration start is held until every loser has answered (the losers judge a claim
//     whose orchestration does not exist yet, the window in which a claim used to count as abandoned).
// Whatever the interleaving: exactly one change is accepted (a certificate request is queued for the
// stack's worker, which claims the stack only once it is free), the registry holds what the accepted
// request asked for and nothing a refused one sent, the claim never passes from one live holder to
// another, and Azure has no resource in any resource group but the accepted one.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { isOperationOf } from "../../functions/names";
import type { OperationKind } from "../../shared/store";
import { CLAIM_START_GRACE_MS } from "../../functions/stack-claim";
import { freePort } from "../../dev/servers/ports";
import type { GateExchange, GateOperation, GateRequest } from "../../dev/servers/http-gate";
import { standInAgentRoot } from "../../dev/stand-in-agent";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

interface Contender {
  label: string;
  method: string;
  route: string;
  body?: unknown;
}

interface Answer {
  label: string;
  status: number;
  json: Record<string, unknown>;
  location: string | null;
}

/** What the racing PUT changes (policies.repair.maxRepairsPerHour; the default is 3). */
const SECOND = 7;

interface StoredSpec {
  resourceGroup: string;
  policies?: { repair?: { maxRepairsPerHour?: number } };
}

/** Staggered starts, or gated: every write held until all decided, then (optionally) one kind's claim lands first. */
type Interleaving = { offsetMs: number; reversed?: boolean } | { gated: true; first?: OperationKind };

/** A PUT against another request: at once, the other 15 ms ahead, and gated with each winning. */
const interleavings = (other: OperationKind): Interleaving[] => [
  { offsetMs: 0 },
  { offsetMs: 15, reversed: true },
  { gated: true, first: "deploy" },
  { gated: true, first: other },
];
const describeRound = (i: Interleaving) =>
  "gated" in i
    ? `gated${i.first ? `, ${i.first} lands first` : ""}`
    : `${i.reversed ? "reversed, " : ""}${i.offsetMs} ms apart`;

/** The operations a request carries: an entity-group transaction's (`$batch`), or the request itself. */
function operationsOf<T extends GateOperation>(r: T & { parts?: T[] }): T[] {
  return r.parts ?? [r];
}

/** The kind of claim an entity write carries. */
function claimKindOf(op: GateOperation): string | undefined {
  try {
    const operation = (JSON.parse(op.body) as { Operation?: string }).Operation;
    return operation ? (JSON.parse(operation) as { kind: string }).kind : undefined;
  } catch {
    return undefined;
  }
}

describe("one writer per stack: concurrent requests through the real routes", () => {
  let env: JumpgateEnv;
  let root: string;
  let closedPort: number;
  let subscriptions = 0;

  before(async () => {
    root = standInAgentRoot();
    closedPort = await freePort();
    env = await startJumpgateEnv({
      http: true,
      realTime: { timeScale: 50 },
      gates: true,
      emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
    });
  });

  after(async () => {
    await env?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** A spec in a subscription of its own, so each round's Azure writes are its alone. */
  function specFor(subscriptionId: string, resourceGroup: string, extra: Record<string, unknown> = {}) {
    return {
      subscriptionId,
      resourceGroup,
      location: "westeurope",
      // one node: what is raced is the claim, not the fleet
      fleet: { mode: "availabilitySet", size: 1, min: 1, max: 1 },
      // a CA that refuses connections, on loopback: a certificate worker fails fast and touches nothing else
      tls: { acme: { directoryUrl: `https://127.0.0.1:${closedPort}/directory` } },
      ...extra,
    };
  }
  const newSubscription = () => `00000000-0000-0000-0000-${String(++subscriptions).padStart(12, "0")}`;

  async function call(c: Contender): Promise<Answer> {
    const init: RequestInit = { method: c.method, headers: {} };
    if (c.body !== undefined) {
      init.body = JSON.stringify(c.body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const res = await fetch(`${env.api}${c.route}`, init);
    const text = await res.text();
    return {
      label: c.label,
      status: res.status,
      json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
      location: res.headers.get("location"),
    };
  }

  /** Operations on the stack's registry entity that write it (create, replace, delete). */
  const writesStack = (stack: string) => (op: GateOperation) =>
    op.path.includes("jumpgatestacks") &&
    op.method !== "GET" &&
    (op.path.includes(`RowKey='${stack}'`) || op.body.includes(`"RowKey":"${stack}"`));
  /** The claim kind a request's write of the stack's entity carries (alone, or in a transaction with its index row). */
  const claimWrittenBy = (stack: string) => (r: GateRequest) =>
    operationsOf(r)
      .filter(writesStack(stack))
      .map(claimKindOf)
      .find((kind) => kind !== undefined);
  /** Every write of the stack's entity the table store applied, in order, with its status. */
  const stackWrites = (stack: string) =>
    env.gates!.tables.exchanges.flatMap((x: GateExchange) => operationsOf(x).filter(writesStack(stack)));
  /** The durable client's start of an orchestration of this stack. */
  const startsOperationOf = (stack: string) => (r: GateRequest) => {
    const m = /\/durabletask\/orchestrators\/[^/]+\/([^/?]+)/.exec(r.path);
    return r.method === "POST" && !!m && isOperationOf(stack, m[1]) && !m[1].startsWith("cert-");
  };

  async function race(stack: string, contenders: Contender[], how: Interleaving): Promise<Answer[]> {
    if (!("gated" in how)) {
      const order = how.reversed ? [...contenders].reverse() : contenders;
      const answers = await Promise.all(
        order.map(async (c, i) => {
          if (i > 0 && how.offsetMs > 0) await new Promise((r) => setTimeout(r, i * how.offsetMs));
          return call(c);
        }),
      );
      return contenders.map((c) => answers.find((a) => a.label === c.label)!);
    }
    // claim writes only: other writes (a worker's conditions while it reads) go through, as they would
    const writes = env.gates!.tables.hold((r) => claimWrittenBy(stack)(r) !== undefined);
    const starts = env.gates!.durable!.hold(startsOperationOf(stack), 1);
    let answered = 0;
    const pending = contenders.map((c) =>
      call(c).then((a) => {
        answered++;
        return a;
      }),
    );
    const n = contenders.length;
    try {
      // every contender has read the stack and decided: its write is held, or it answered without one
      // (and the claim chosen to land first is among the held writes: a worker's comes after its route answered)
      const first = how.first;
      await until(
        () => writes.held + answered >= n && (!first || writes.waiting.some((w) => claimWrittenBy(stack)(w) === first)),
        `${stack}: every contender decided`,
      );
      if (first) await writes.releaseWhere((w) => claimWrittenBy(stack)(w) === first);
      writes.release();
      // every loser answered while the winner's orchestration did not exist yet
      await until(() => answered >= n - 1, `${stack}: the losers answered`);
    } finally {
      writes.release();
      starts.release();
    }
    return Promise.all(pending);
  }

  /** Nothing of the stack runs any more (its certificate worker aside, which sleeps) and nobody holds it. */
  async function settle(stack: string): Promise<void> {
    await until(
      async () => {
        const running = env.host
          .listInstances()
          .filter((i) => isOperationOf(stack, i.instanceId) && !i.instanceId.startsWith("cert-"))
          .some((i) => i.runtimeStatus === "Running" || i.runtimeStatus === "Pending");
        const worker = env.host.getStatus(`cert-${stack}`);
        const workerBusy = !!worker && (worker.customStatus as { phase?: string } | undefined)?.phase !== "sleeping";
        const record = await env.registry.get(stack);
        return !running && !workerBusy && !record?.operation;
      },
      `${stack}: settled`,
      50,
    );
  }

  async function deploy(stack: string, spec: object): Promise<void> {
    const put = await call({ label: "deploy", method: "PUT", route: `/stacks/${stack}`, body: spec });
    assert.equal(put.status, 202, JSON.stringify(put.json));
    await settle(stack);
    const record = await env.registry.get(stack);
    assert.equal(record?.observed?.lastOperation?.outcome, "succeeded", `${stack} deployed`);
  }

  /** The claim holders the registry went through, from every write that landed (null: free, "gone": deleted). */
  function claimLog(stack: string): (string | null)[] {
    const log: (string | null)[] = [];
    for (const x of stackWrites(stack)) {
      if (x.status >= 300) continue;
      if (x.method === "DELETE") {
        log.push("gone");
        continue;
      }
      const op = (JSON.parse(x.body) as { Operation?: string }).Operation;
      const holder = op ? (JSON.parse(op) as { instanceId: string }).instanceId : null;
      if (log.at(-1) !== holder) log.push(holder);
    }
    return log;
  }

  /** The claim is released before anyone else takes it: it never goes from one holder straight to another. */
  function assertOneHolderAtATime(stack: string, what: string): void {
    const log = claimLog(stack);
    for (let i = 1; i < log.length; i++) {
      const [a, b] = [log[i - 1], log[i]];
      assert.ok(
        !(a && a !== "gone" && b && b !== "gone"),
        `${what}: the claim went from ${a} to ${b}: ${log.join(" -> ")}`,
      );
    }
  }

  /** Resource groups of the subscription that Azure received any write for. */
  function groupsWritten(subscriptionId: string): string[] {
    const groups = new Set<string>();
    for (const w of env.emulator.journal.writes()) {
      const m = new RegExp(`^/subscriptions/${subscriptionId}/resourcegroups/([^/]+)`, "i").exec(w.path);
      if (m) groups.add(decodeURIComponent(m[1]).toLowerCase());
    }
    return [...groups];
  }

  /** Every spec a write that landed on the stack's entity carried: what the registry ever stored. */
  const storedSpecs = (stack: string) =>
    stackWrites(stack)
      .filter((x) => x.status < 300 && x.method !== "DELETE")
      .map((x) => JSON.parse((JSON.parse(x.body) as { Spec: string }).Spec) as StoredSpec);

  test("four PUTs of a new stack with different resource groups: one is accepted, the others store and start nothing", async () => {
    const rounds: Interleaving[] = [{ offsetMs: 0 }, { offsetMs: 15 }, { gated: true }];
    await Promise.all(
      rounds.map(async (how, r) => {
        const stack = `four-${r}`;
        const sub = newSubscription();
        const groups = [0, 1, 2, 3].map((i) => `rg-${stack}-${i}`);
        const contenders = groups.map((rg) => ({
          label: rg,
          method: "PUT",
          route: `/stacks/${stack}`,
          body: specFor(sub, rg),
        }));
        const what = `${stack} (${describeRound(how)})`;
        const answers = await race(stack, contenders, how);
        const accepted = answers.filter((a) => a.status === 202);
        assert.equal(accepted.length, 1, `${what}: ${JSON.stringify(answers.map((a) => [a.label, a.status]))}`);
        for (const a of answers.filter((x) => x.status !== 202)) {
          assert.ok([409, 422].includes(a.status), `${what}: ${a.label} ${a.status} ${JSON.stringify(a.json)}`);
        }
        const winner = accepted[0].label;
        await settle(stack);

        const record = await env.registry.get(stack);
        assert.equal(record?.spec.resourceGroup, winner, `${what}: the registry holds the accepted spec`);
        assert.equal(record?.generation, 1, `${what}: one accepted change`);
        assert.equal(record?.observedGeneration, 1);
        const deploys = env.host.listInstances().filter((i) => i.instanceId.startsWith(`deploy-${stack}-`));
        assert.equal(deploys.length, 1, `${what}: one deploy started`);
        assert.equal(deploys[0].runtimeStatus, "Completed", what);
        assert.deepEqual(
          [...new Set(storedSpecs(stack).map((s) => s.resourceGroup))],
          [winner],
          `${what}: no refused spec was ever stored`,
        );
        assert.deepEqual(groupsWritten(sub), [winner], `${what}: Azure resources in the accepted group only`);
        assertOneHolderAtATime(stack, what);
        // the alert routing index went with the registry: the accepted group routes to the stack, no other does
        for (const rg of groups) {
          const routed = (await env.registry.routes(sub, rg)).map((r) => r.name);
          assert.deepEqual(
            routed,
            rg === winner ? [stack] : [],
            `${what}: alerts from ${rg} route to ${routed.join(",")}`,
          );
        }
      }),
    );
  });

  /** Deploys one stack per interleaving, races `other` against a PUT that changes the spec, and checks each round. */
  async function raceAgainstPut(
    prefix: string,
    otherKind: OperationKind,
    other: (stack: string) => Contender,
    check: (round: {
      stack: string;
      what: string;
      put: Answer;
      other: Answer;
      sub: string;
      rg: string;
    }) => Promise<void>,
  ): Promise<void> {
    await Promise.all(
      interleavings(otherKind).map(async (how, r) => {
        const stack = `${prefix}-${r}`;
        const sub = newSubscription();
        const rg = `rg-${stack}`;
        await deploy(stack, specFor(sub, rg));
        const put: Contender = {
          label: "put",
          method: "PUT",
          route: `/stacks/${stack}`,
          // a change that touches no Azure resource: the race is about the claim, not the deploy
          body: specFor(sub, rg, { policies: { repair: { maxRepairsPerHour: SECOND } } }),
        };
        const what = `${stack} (${describeRound(how)})`;
        const [putAnswer, otherAnswer] = await race(stack, [put, other(stack)], how);
        await settle(stack);
        await check({ stack, what, put: putAnswer, other: otherAnswer, sub, rg });
        assert.deepEqual(groupsWritten(sub), [rg], `${what}: Azure resources in the stack's group only`);
        assertOneHolderAtATime(stack, what);
      }),
    );
  }

  /** After a PUT that was refused: the first spec, unchanged, and the second never stored. */
  async function assertPutStoredNothing(stack: string, what: string, put: Answer): Promise<void> {
    assert.equal(put.status, 409, `${what}: ${JSON.stringify(put.json)}`);
    assert.equal(put.json.type, "https://jumpgate.dev/problems/operation-in-progress");
    const second = storedSpecs(stack).filter((s) => s.policies?.repair?.maxRepairsPerHour === SECOND);
    assert.equal(second.length, 0, `${what}: the refused spec was never stored`);
  }

  test("PUT and DELETE at once: exactly one runs, and the registry follows it", async () => {
    await raceAgainstPut(
      "pd",
      "teardown",
      (stack) => ({ label: "delete", method: "DELETE", route: `/stacks/${stack}` }),
      async ({ stack, what, put, other: del, sub, rg }) => {
        assert.equal([put, del].filter((a) => a.status === 202).length, 1, `${what}: ${put.status} / ${del.status}`);
        const record = await env.registry.get(stack);
        if (put.status === 202) {
          assert.equal(del.status, 409, `${what}: ${JSON.stringify(del.json)}`);
          assert.equal((del.json.operation as { kind: string }).kind, "deploy");
          assert.equal(record?.generation, 2, what);
          assert.equal(record?.spec.policies.repair.maxRepairsPerHour, SECOND);
          assert.equal(record?.observedGeneration, 2, what);
          assert.deepEqual(
            (await env.registry.routes(sub, rg)).map((r) => [r.name, r.operation?.kind]),
            [[stack, undefined]],
            `${what}: alerts route to the stack, which no teardown holds`,
          );
        } else {
          await assertPutStoredNothing(stack, what, put);
          assert.equal((put.json.operation as { kind: string }).kind, "teardown");
          assert.equal(record, undefined, `${what}: torn down and forgotten`);
          assert.deepEqual(await env.registry.routes(sub, rg), [], `${what}: its alert routing row went with it`);
          const left = env.emulator.store.all().filter((d) => d.tags?.["jumpgate-stack"] === stack);
          assert.deepEqual(
            left.map((d) => d.id),
            [],
            what,
          );
        }
      },
    );
  });

  test("PUT and rotate/database at once: exactly one is accepted, the other gets 409 naming it", async () => {
    await raceAgainstPut(
      "pr",
      "rotate-database",
      (stack) => ({ label: "rotate", method: "POST", route: `/stacks/${stack}/rotate/database`, body: {} }),
      async ({ stack, what, put, other: rotate }) => {
        assert.equal(
          [put, rotate].filter((a) => a.status === 202).length,
          1,
          `${what}: ${put.status} / ${rotate.status}`,
        );
        const record = await env.registry.get(stack);
        const rotations = env.host.listInstances().filter((i) => i.instanceId === `rotate-db-${stack}`);
        if (put.status === 202) {
          assert.equal(rotate.status, 409, `${what}: ${JSON.stringify(rotate.json)}`);
          assert.equal((rotate.json.operation as { kind: string }).kind, "deploy");
          assert.equal(rotations.length, 0, `${what}: no rotation started`);
          assert.equal(record?.generation, 2, what);
          assert.equal(record?.observedGeneration, 2, what);
        } else {
          await assertPutStoredNothing(stack, what, put);
          assert.equal((put.json.operation as { kind: string }).kind, "rotate-database");
          assert.equal(rotations.length, 1, what);
          assert.equal(record?.generation, 1, what);
          assert.equal(env.host.listInstances().filter((i) => i.instanceId.startsWith(`deploy-${stack}-g2`)).length, 0);
        }
      },
    );
  });

  test("PUT and rotate/certificate at once: the certificate worker and the deploy never hold the stack together", async () => {
    await raceAgainstPut(
      "pc",
      "rotate-certificate",
      (stack) => ({ label: "certificate", method: "POST", route: `/stacks/${stack}/rotate/certificate` }),
      async ({ stack, what, put, other: cert }) => {
        // the certificate request is queued for the stack's worker, which claims the stack only when
        // it is free: a PUT is refused while the worker holds it, or the worker waits for the deploy
        assert.equal(cert.status, 202, `${what}: ${JSON.stringify(cert.json)}`);
        const record = await env.registry.get(stack);
        if (put.status === 202) {
          assert.equal(record?.generation, 2, what);
          assert.equal(record?.observedGeneration, 2, what);
        } else {
          await assertPutStoredNothing(stack, what, put);
          assert.equal((put.json.operation as { instanceId: string }).instanceId, `cert-${stack}`);
          assert.equal(record?.generation, 1, what);
        }
        // the worker did claim the stack for its attempt (and failed against the closed CA)
        assert.ok(claimLog(stack).includes(`cert-${stack}`), `${what}: ${claimLog(stack).join(" -> ")}`);
      },
    );
  });

  test("concurrent rotate requests answer 202 with the running operation or 409, never 500", async () => {
    const stack = "rot-many";
    const sub = newSubscription();
    await deploy(stack, specFor(sub, `rg-${stack}`));
    const database = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call({ label: `db${i}`, method: "POST", route: `/stacks/${stack}/rotate/database`, body: {} }),
      ),
    );
    for (const a of database)
      assert.ok([202, 409].includes(a.status), `${a.label}: ${a.status} ${JSON.stringify(a.json)}`);
    const started = database.filter((a) => a.status === 202 && !a.json.alreadyRunning);
    assert.equal(started.length, 1, JSON.stringify(database.map((a) => [a.status, a.json.alreadyRunning])));
    for (const a of database.filter((x) => x.status === 202))
      assert.match(a.location ?? "", /operations\/rotate-db-rot-many$/);
    await settle(stack);

    const certificate = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call({ label: `cert${i}`, method: "POST", route: `/stacks/${stack}/rotate/certificate` }),
      ),
    );
    for (const a of certificate)
      assert.ok([202, 409].includes(a.status), `${a.label}: ${a.status} ${JSON.stringify(a.json)}`);
    const ids = new Set(certificate.filter((a) => a.status === 202).map((a) => a.json.requestId));
    assert.equal(ids.size, 1, `concurrent requests share one pending request: ${[...ids].join(", ")}`);
    const requested = (await env.audit.all(stack)).filter((e) => e.what === "certificate rotation requested");
    assert.equal(requested.length, 1, "one request audited");
    await settle(stack);
  });

  test("a request's claim is live until its orchestration exists, for the grace period only", async () => {
    const stack = "grace";
    const sub = newSubscription();
    await deploy(stack, specFor(sub, `rg-${stack}`));
    const change = specFor(sub, `rg-${stack}`, { tags: { change: "after-grace" } });
    // a claim a request wrote just now, whose orchestration is not started yet
    const fresh = await env.registry.setOperation(stack, {
      kind: "teardown",
      instanceId: `teardown-${stack}-20990101T000000000Z`,
      startedAt: new Date().toISOString(),
      starting: true,
    });
    assert.ok(fresh.ok);
    for (const c of [
      { label: "put", method: "PUT", route: `/stacks/${stack}`, body: change },
      { label: "delete", method: "DELETE", route: `/stacks/${stack}` },
      { label: "rotate", method: "POST", route: `/stacks/${stack}/rotate/database`, body: {} },
    ]) {
      const a = await call(c);
      assert.equal(a.status, 409, `${c.label}: ${JSON.stringify(a.json)}`);
    }
    assert.equal((await env.registry.get(stack))?.generation, 1, "the refused PUT stored nothing");

    // the same claim once the grace period has passed: its request died before starting anything
    const record = await env.registry.get(stack);
    const old = await env.registry.setOperation(stack, null, { ifMatch: record!.etag });
    assert.ok(old.ok);
    await env.registry.setOperation(stack, {
      kind: "teardown",
      instanceId: `teardown-${stack}-20990101T000000000Z`,
      startedAt: new Date(Date.now() - CLAIM_START_GRACE_MS - 1000).toISOString(),
      starting: true,
    });
    const put = await call({ label: "put", method: "PUT", route: `/stacks/${stack}`, body: change });
    assert.equal(put.status, 202, JSON.stringify(put.json));
    await settle(stack);
    assert.equal((await env.registry.get(stack))?.observedGeneration, 2);
  });
});

/** Waits for a condition the system reaches by itself (bounded: a hang fails the test, it never passes it). */
async function until(condition: () => boolean | Promise<boolean>, what: string, pollMs = 5): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
