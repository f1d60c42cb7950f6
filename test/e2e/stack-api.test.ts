// The provisioning lifecycle through the real HTTP routes: hostile input, deploy, no-op redeploy,
// 409 while running, plan of a change, teardown, and a scan for secret values in everything the run
// produced. The app runs on the durable test host (real time, timers sped up), the Azure emulator
// with the real SDK clients, and Azurite. Web nodes answer through a stand-in agent that is healthy
// at once; the real agent is exercised through Run Command in test/integration/node-agent.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { standInAgentRoot } from "../../dev/stand-in-agent";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";

const SUB = "00000000-0000-0000-0000-00000000e2e1";
const spec = (extra: Record<string, unknown> = {}) => ({
  subscriptionId: SUB,
  resourceGroup: "rg-e2e-web",
  location: "westeurope",
  fleet: { mode: "availabilitySet", size: 2 },
  ...extra,
});

describe("stacks HTTP API end to end", () => {
  let env: JumpgateEnv;
  let root: string;
  const logs: string[] = [];
  const responses: string[] = [];
  const secrets: string[] = [];

  async function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] ??= "application/json";
    }
    const res = await fetch(`${env.api}${route}`, init);
    const text = await res.text();
    responses.push(text);
    return {
      status: res.status,
      headers: res.headers,
      json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }

  async function waitForOperation(url: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await fetch(url);
      const op = (await res.json()) as Record<string, unknown>;
      responses.push(JSON.stringify(op));
      if (op.runtimeStatus === "Completed" || op.runtimeStatus === "Failed") return op;
      if (Date.now() > deadline) throw new Error(`operation still ${String(op.runtimeStatus)}: ${JSON.stringify(op)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    root = standInAgentRoot();
    env = await startJumpgateEnv({
      http: true,
      realTime: { timeScale: 50 },
      emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
      log: (line) => logs.push(line),
    });
  });

  after(async () => {
    await env?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("hostile or invalid input gets a 4xx problem and starts nothing", async () => {
    const cases: [string, string, unknown, Record<string, string>, number][] = [
      ["PUT", "/stacks/web1", "{not json", {}, 400],
      ["PUT", "/stacks/web1", JSON.stringify(spec()), { "content-type": "text/plain" }, 415],
      ["PUT", "/stacks/web1", spec({ bogus: 1 }), {}, 422],
      ["PUT", "/stacks/Web_1", spec(), {}, 400],
      ["PUT", "/stacks/web1", spec({ name: "other" }), {}, 422],
      [
        "PUT",
        "/stacks/web1",
        spec({ network: { webSubnet: "10.40.2.0/24", databaseSubnet: "10.40.2.0/25" } }),
        {},
        422,
      ],
      ["PUT", "/stacks/web1", spec({ network: { addressSpace: "10.40.0.0/16", webSubnet: "10.99.1.0/24" } }), {}, 422],
      ["PUT", "/stacks/web1", JSON.stringify({ ...spec(), pad: "x".repeat(200_000) }), {}, 413],
      ["PUT", "/stacks/web1", JSON.stringify(JSON.parse("[".repeat(100) + "]".repeat(100))), {}, 400],
      ["PUT", "/stacks/web1", '{"__proto__": {"polluted": true}}', {}, 422],
      ["GET", "/stacks/nosuch", undefined, {}, 404],
      ["DELETE", "/stacks/nosuch", undefined, {}, 404],
      ["GET", "/stacks/web1/operations/deploy-other-g1-x", undefined, {}, 404],
      ["GET", "/stacks/nosuch/events", undefined, {}, 404],
      ["GET", "/stacks/web1/events?limit=0", undefined, {}, 422],
      ["GET", "/stacks/web1/events?limit=many", undefined, {}, 422],
    ];
    for (const [method, route, body, headers, status] of cases) {
      const res = await call(method, route, body, headers);
      assert.equal(
        res.status,
        status,
        `${method} ${route} ${String(body).slice(0, 60)} -> ${JSON.stringify(res.json)}`,
      );
      assert.equal(res.headers.get("content-type"), "application/problem+json", `${method} ${route}`);
      assert.equal(res.json.status, status);
    }
    const invalid = await call("PUT", "/stacks/web1", spec({ bogus: 1, fleet: { mode: "scaleSet", zones: ["4"] } }));
    const pointers = (invalid.json.errors as { pointer: string }[]).map((e) => e.pointer);
    assert.ok(pointers.includes("/bogus") && pointers.includes("/fleet/zones/0"), JSON.stringify(pointers));
    assert.deepEqual(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(await env.registry.list(), []);
    assert.equal(env.emulator.journal.writes().length, 0);
    assert.equal(env.host.listInstances().length, 0);
  });

  test("deploy, redeploy without writes, 409 while running, plan a change, teardown", async () => {
    // deploy
    const put = await call("PUT", "/stacks/web1", spec());
    assert.equal(put.status, 202, JSON.stringify(put.json));
    const location = put.headers.get("location")!;
    assert.match(location, /\/api\/stacks\/web1\/operations\/deploy-web1-g1-/);

    // a second PUT while the deploy runs is refused and names the running operation
    const busy = await call("PUT", "/stacks/web1", spec());
    assert.equal(busy.status, 409, JSON.stringify(busy.json));
    assert.equal((busy.json.operation as { kind: string }).kind, "deploy");

    const done = await waitForOperation(location);
    assert.equal(done.runtimeStatus, "Completed", JSON.stringify(done));

    const stack = await call("GET", "/stacks/web1");
    assert.equal(stack.status, 200);
    const observed = stack.json.observed as { nodes: { name: string; healthy: boolean }[]; generation: number };
    assert.deepEqual(
      observed.nodes.map((n) => [n.name, n.healthy]),
      [
        ["web1-web-1", true],
        ["web1-web-2", true],
      ],
    );
    assert.equal(stack.json.operation, null);
    assert.ok((stack.json.events as { what: string }[]).some((e) => e.what === "deploy succeeded"));

    // the generated secrets, for the leak scan below (the SSH public key is public by design)
    for (const vault of env.emulator.store.all().filter((d) => d.type === "Microsoft.KeyVault/vaults")) {
      secrets.push(...env.emulator.keyVault.secretValues(vault.name).filter((v) => !v.startsWith("ssh-")));
    }

    // what Azure now holds: everything tagged, no SSH anywhere, no public IP on a VM
    const docs = env.emulator.store.all().filter((d) => d.id.toLowerCase().includes("/resourcegroups/rg-e2e-web"));
    const nsg = docs.find((d) => d.type === "Microsoft.Network/networkSecurityGroups" && d.name.includes("web"))!;
    const rules = nsg.properties.securityRules as { properties: { destinationPortRange?: string; access: string } }[];
    assert.ok(!rules.some((r) => r.properties.access === "Allow" && r.properties.destinationPortRange === "22"));
    const nics = docs.filter((d) => d.type === "Microsoft.Network/networkInterfaces");
    assert.equal(nics.length, 2);
    for (const nic of nics) {
      const configs = nic.properties.ipConfigurations as { properties: { publicIPAddress?: unknown } }[];
      assert.ok(configs.every((c) => c.properties.publicIPAddress === undefined));
    }

    // the same spec again: a deploy that writes nothing of any kind (the nodes are in service: no
    // Run Command either) and reads no admin password
    env.emulator.journal.clear();
    const again = await call("PUT", "/stacks/web1", spec());
    assert.equal(again.status, 202);
    assert.equal((await waitForOperation(again.headers.get("location")!)).runtimeStatus, "Completed");
    assert.deepEqual(
      env.emulator.journal.writes().map((w) => `${w.method} ${w.path}`),
      [],
    );
    // (the engine lists the secret's versions to see it exists: metadata, never the value)
    assert.deepEqual(
      env.emulator.journal
        .list({ operation: "secret", method: "GET" })
        .filter((e) => /^\/secrets\/mysql-admin-password(\/[0-9a-f]+)?\/?$/.test(e.path)),
      [],
    );

    // plan of a changed spec shows exactly that change
    const plan = await call("POST", "/stacks/web1/plan", spec({ database: { backupRetentionDays: 14 } }));
    assert.equal(plan.status, 200, JSON.stringify(plan.json));
    const changes = plan.json.changes as { key: string; action: string; changes: { path: string }[] }[];
    assert.deepEqual(
      changes.map((c) => [c.key, c.action, c.changes.map((x) => x.path)]),
      [["mysql", "update", ["properties.backup.backupRetentionDays"]]],
    );

    // teardown leaves nothing tagged for the stack and forgets it
    const del = await call("DELETE", "/stacks/web1");
    assert.equal(del.status, 202, JSON.stringify(del.json));
    const gone = await waitForOperation(del.headers.get("location")!);
    assert.equal(gone.runtimeStatus, "Completed", JSON.stringify(gone));
    const tagged = env.emulator.store.all().filter((d) => d.tags?.["jumpgate-stack"] === "web1");
    assert.deepEqual(
      tagged.map((d) => d.id),
      [],
    );
    assert.equal((await call("GET", "/stacks/web1")).status, 404);
    // the audit trail outlives the stack: newest first, each action with its reason
    const trail = await call("GET", "/stacks/web1/events");
    assert.equal(trail.status, 200, JSON.stringify(trail.json));
    assert.equal(trail.json.registered, false);
    const events = trail.json.events as { what: string; why: string; actor: string }[];
    assert.equal(events[0].what, "teardown succeeded");
    assert.equal(events[0].why, "DELETE requested");
    assert.ok(
      events.every((e) => e.what && e.why && e.actor),
      JSON.stringify(events),
    );
    assert.deepEqual(
      events.map((e) => e.what),
      (await env.audit.all("web1")).map((e) => e.what),
    );
    const two = await call("GET", "/stacks/web1/events?limit=2");
    assert.deepEqual(
      (two.json.events as { what: string }[]).map((e) => e.what),
      events.slice(0, 2).map((e) => e.what),
    );
  });

  test("no secret value appears in histories, statuses, outputs, responses, logs or the audit trail", async () => {
    assert.ok(secrets.length >= 4, `expected the stack's generated secrets, found ${secrets.length}`);
    const haystacks = [
      JSON.stringify(env.host.listInstances()),
      responses.join("\n"),
      logs.join("\n"),
      JSON.stringify(await env.audit.all("web1")),
      JSON.stringify(env.emulator.journal.list()),
    ];
    for (const secret of secrets) {
      for (const hay of haystacks) assert.ok(!hay.includes(secret), "a secret value leaked");
    }
  });
});
