// Requests a trusted tool must refuse, through the real HTTP routes (durable test host, the Azure
// emulator, Azurite): a PUT that would move a deployed or deploying stack; field-error problems of
// any size from every route that returns them; an operation id of another stack; an ACME directory on
// a non-public host outside the sandbox; tag values with control characters. Each refusal is a 4xx
// problem+json that stores nothing and starts nothing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { useServices } from "../../functions/services";
import { AzureClientFactory } from "../../shared/azure/clients";
import { PROBLEM_LIMITS } from "../../shared/http/problem";
import { standInAgentRoot } from "../../dev/stand-in-agent";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

const SUB = "00000000-0000-0000-0000-0000000e2e14";
const OTHER_SUB = "00000000-0000-0000-0000-0000000e2e15";
const spec = (extra: Record<string, unknown> = {}) => ({
  subscriptionId: SUB,
  resourceGroup: "rg-guards",
  location: "westeurope",
  fleet: { mode: "availabilitySet", size: 1, min: 1, max: 1 },
  ...extra,
});

describe("request guards through the real routes", () => {
  let env: JumpgateEnv;
  let root: string;

  async function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] ??= "application/json";
    }
    const res = await fetch(`${env.api}${route}`, init);
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get("content-type"),
      bytes: Buffer.byteLength(text),
      location: res.headers.get("location"),
      json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }

  async function waitDone(url: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const op = (await (await fetch(url)).json()) as Record<string, unknown>;
      if (op.runtimeStatus === "Completed" || op.runtimeStatus === "Failed") return op;
      if (Date.now() > deadline) throw new Error(`operation still ${String(op.runtimeStatus)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Everything a refused request could have left: the registry record, the instances, Azure writes. */
  async function footprint(stack: string) {
    return {
      record: (await env.registry.get(stack))?.etag,
      instances: env.host.listInstances().length,
      writes: env.emulator.journal.writes().length,
    };
  }

  before(async () => {
    root = standInAgentRoot();
    env = await startJumpgateEnv({
      http: true,
      realTime: { timeScale: 50 },
      emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
    });
  });

  after(async () => {
    await env?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("a PUT that moves a deploying or deployed stack is refused with 422 saying how to move; nothing stored or started", async () => {
    const put = await call("PUT", "/stacks/mover", spec());
    assert.equal(put.status, 202, JSON.stringify(put.json));
    const moves: [string, Record<string, unknown>, string[]][] = [
      ["resource group", { resourceGroup: "rg-elsewhere" }, ["/resourceGroup"]],
      ["subscription", { subscriptionId: OTHER_SUB }, ["/subscriptionId"]],
      ["region", { location: "northeurope" }, ["/location"]],
      [
        "all three",
        { subscriptionId: OTHER_SUB, resourceGroup: "rg-x", location: "northeurope" },
        ["/subscriptionId", "/resourceGroup", "/location"],
      ],
    ];
    // while the deploy runs (the move is refused before the running deploy is even considered), then after it
    for (const phase of ["deploying", "deployed"]) {
      if (phase === "deployed") assert.equal((await waitDone(put.location!)).runtimeStatus, "Completed");
      for (const [what, change, pointers] of moves) {
        const before = await env.registry.get("mover");
        const instances = env.host.listInstances().length;
        const moved = await call("PUT", "/stacks/mover", spec(change));
        assert.equal(moved.status, 422, `${phase}, ${what}: ${JSON.stringify(moved.json)}`);
        assert.equal(moved.type, "application/problem+json");
        assert.equal(moved.json.type, "https://jumpgate.dev/problems/stack-move");
        assert.deepEqual(
          (moved.json.errors as { pointer: string }[]).map((e) => e.pointer),
          pointers,
        );
        assert.match(String(moved.json.detail), /DELETE \/api\/stacks\/mover/);
        assert.match(String(moved.json.detail), /tear it down/);
        const after = await env.registry.get("mover");
        assert.deepEqual(
          [after?.generation, after?.spec],
          [before?.generation, before?.spec],
          `${phase}, ${what}: nothing stored`,
        );
        assert.equal(env.host.listInstances().length, instances, `${phase}, ${what}: nothing started`);
      }
    }
    // Azure saw the one resource group only (the running deploy's writes included)
    const elsewhere = env.emulator.journal
      .writes()
      .filter(
        (w) =>
          w.path.toLowerCase().startsWith("/subscriptions/") &&
          !w.path.toLowerCase().startsWith(`/subscriptions/${SUB}/resourcegroups/rg-guards`),
      );
    assert.deepEqual(
      elsewhere.map((w) => w.path),
      [],
    );
    // a change of case is the same resource group for ARM: not a move
    const sameGroup = await call("PUT", "/stacks/mover", spec({ resourceGroup: "RG-Guards" }));
    assert.equal(sameGroup.status, 202, JSON.stringify(sameGroup.json));
    await waitDone(sameGroup.location!);
    // the way to move: teardown, then deploy anywhere
    const del = await call("DELETE", "/stacks/mover");
    assert.equal(del.status, 202);
    assert.equal((await waitDone(del.location!)).runtimeStatus, "Completed");
    const again = await call("PUT", "/stacks/mover", spec({ resourceGroup: "rg-elsewhere" }));
    assert.equal(again.status, 202, JSON.stringify(again.json));
    assert.equal((await waitDone(again.location!)).runtimeStatus, "Completed");
    assert.equal((await env.registry.get("mover"))?.spec.resourceGroup, "rg-elsewhere");
  });

  test("every route caps its field-error problem at 20 errors and 16 KiB", async () => {
    await env.registry.putDesired("capped", { ...spec(), name: "capped" } as never);
    const manyFields = (n: number, nameLength: number) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`${String(i).padStart(3, "0")}${"x".repeat(nameLength)}`, 1]),
      );
    // unknown fields with long names and control characters, up to each route's body limit
    const hostile = { ...spec(), ...manyFields(60, 900), ["\u0001".repeat(300)]: 1 };
    const cases: [string, string, unknown, number][] = [
      ["PUT", "/stacks/capped", hostile, 422],
      ["POST", "/stacks/capped/plan", hostile, 422],
      ["POST", "/stacks/capped/rotate/database", manyFields(100, 1), 422],
      ["POST", "/stacks/capped/heal/resume", manyFields(400, 1), 422],
      [
        "POST",
        "/alerts",
        {
          schemaId: "azureMonitorCommonAlertSchema",
          data: { essentials: { configurationItems: new Array(900).fill(7) } },
        },
        400,
      ],
    ];
    for (const [method, route, body, status] of cases) {
      const before = await footprint("capped");
      const res = await call(method, route, body);
      assert.equal(res.status, status, `${method} ${route}: ${JSON.stringify(res.json).slice(0, 300)}`);
      assert.equal(res.type, "application/problem+json");
      const errors = res.json.errors as { pointer: string; detail: string }[];
      assert.ok(errors.length > 0 && errors.length <= PROBLEM_LIMITS.maxErrors, `${route}: ${errors.length} errors`);
      assert.ok(res.bytes <= PROBLEM_LIMITS.maxBytes, `${route}: ${res.bytes} bytes`);
      // (the alert parser stops at 20 errors by itself)
      if (status === 422)
        assert.match(String(res.json.detail), /lists the first \d+/, `${route}: the detail says the list is cut`);
      // eslint-disable-next-line no-control-regex
      assert.ok(!errors.some((e) => /[\u0000-\u001f]/.test(e.detail)), `${route}: no control character in a detail`);
      assert.deepEqual(await footprint("capped"), before, `${route}: nothing stored or started`);
    }
  });

  test("an operation is found only under its own stack, never by a look-alike id", async () => {
    for (const name of ["web", "x-web"]) {
      const put = await call("PUT", `/stacks/${name}`, spec({ resourceGroup: `rg-${name}` }));
      assert.equal(put.status, 202, JSON.stringify(put.json));
      await waitDone(put.location!);
    }
    const theirs = env.host.listInstances().find((i) => i.instanceId.startsWith("deploy-x-web-g1-"))!.instanceId;
    const mine = env.host.listInstances().find((i) => i.instanceId.startsWith("deploy-web-g1-"))!.instanceId;
    assert.equal((await call("GET", `/stacks/x-web/operations/${theirs}`)).status, 200);
    assert.equal((await call("GET", `/stacks/web/operations/${mine}`)).status, 200);
    for (const id of [
      theirs, // "deploy-x-web-g1-…" contains "-web-": a substring test would hand it to stack "web"
      `${mine}-apply`,
      `${mine}x`,
      mine.replace("deploy-", "deploy-x-"),
      "heal-x-web",
      "cert-x-web",
      "rotate-db-x-web",
    ]) {
      const res = await call("GET", `/stacks/web/operations/${encodeURIComponent(id)}`);
      assert.equal(res.status, 404, `${id}: ${JSON.stringify(res.json)}`);
      assert.equal(res.type, "application/problem+json");
    }
  });

  test("tag values with control characters are refused with 422", async () => {
    const before = await footprint("tagged");
    for (const value of ["line\nbreak", "tab\there", "esc\u001b[31m", "del\u007f", "c1\u0085"]) {
      const res = await call("PUT", "/stacks/tagged", spec({ tags: { owner: value } }));
      assert.equal(res.status, 422, `${JSON.stringify(value)}: ${JSON.stringify(res.json)}`);
      const errors = res.json.errors as { pointer: string; detail: string }[];
      assert.deepEqual(
        errors.map((e) => e.pointer),
        ["/tags/owner"],
      );
      assert.match(errors[0].detail, /control characters/);
    }
    assert.deepEqual(await footprint("tagged"), before);
  });

  test("outside the sandbox, an ACME directory on a non-public host is refused with 422", async () => {
    const sandbox = env.services;
    // the same app with real Azure settings: the emulator credential is what marks the sandbox
    useServices({
      ...sandbox,
      factory: new AzureClientFactory(
        { ...sandbox.factory.settings, credential: "default" },
        { getToken: () => Promise.reject(new Error("no token in this test: nothing may call Azure")) },
      ),
    });
    try {
      const before = await footprint("acme");
      for (const url of [
        "https://127.0.0.1:14000/dir",
        "https://2130706433/dir", // 127.0.0.1, spelled as a number
        "https://localhost/dir",
        "https://pebble.localhost/dir",
        "https://169.254.169.254/metadata",
        "https://10.1.2.3/dir",
        "https://172.20.0.1/dir",
        "https://192.168.1.1/dir",
        "https://100.64.0.1/dir",
        "https://[::1]/dir",
        "https://[fe80::1]/dir",
        "https://[fd00::1]/dir",
        "https://[::ffff:169.254.169.254]/dir",
        "https://acme/dir",
        "https://ca.internal/dir",
        "https://printer.local/dir",
      ]) {
        for (const [method, route] of [
          ["PUT", "/stacks/acme"],
          ["POST", "/stacks/acme/plan"],
        ]) {
          const res = await call(method, route, spec({ tls: { acme: { directoryUrl: url } } }));
          assert.equal(res.status, 422, `${method} ${url}: ${JSON.stringify(res.json)}`);
          const errors = res.json.errors as { pointer: string; detail: string }[];
          assert.deepEqual(
            errors.map((e) => e.pointer),
            ["/tls/acme/directoryUrl"],
          );
          assert.match(errors[0].detail, /public ACME CA/);
        }
      }
      assert.deepEqual(await footprint("acme"), before, "nothing stored or started");
    } finally {
      useServices(sandbox);
    }
  });
});
