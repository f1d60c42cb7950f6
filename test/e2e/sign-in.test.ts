// Sign-in with Entra ID on the real thing: a stack with an `access` section deployed through
// PUT /api/stacks/{name} with the REAL node agent on both web nodes (Run Command ->
// infra/node/jumpgate-node in per-VM sandboxes built from their custom data), a real MariaDB over TLS
// holding the real Guacamole 1.6.0 schema, Key Vault and IMDS from the emulator, the app's
// orchestrations on the durable test host's virtual clock.
//  - the deploy leaves one Guacamole user group per mapped Entra group, marked as Jumpgate's, with
//    exactly the mapped permissions; each node's guacamole.properties has the rendered OpenID settings
//    and the extension; guacadmin is disabled; every step is audited; GET shows it
//  - a redeploy that changes nothing makes no ARM write at all (no Run Command)
//  - a changed mapping converges with the fewest statements; a hand-made group of a mapped id and the
//    unchanged groups' rows are left alone; the nodes are not touched
//  - break-glass opens (guacadmin enabled with the version handed out) and closes on time, and early
//    on request, each step audited; the password afterwards is another one
//  - the daily credential check rotates guacadmin's password once it is older than the policy
//  - no guacadmin password appears anywhere the run produced
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import {
  fromRegistry,
  HistoryEventType,
  InMemoryDurableClient,
  startDurableRpcServer,
  type DurableRpcServer,
  type InstanceState,
} from "../../emulator/durable";
import { durableClientContextFor } from "../../emulator/durable/client/client-context";
import { InstanceIds, Names } from "../../functions/names";
import { checkGuacadminPasswords } from "../../functions/timers/credential-rotation";
import type { BreakGlassStatus } from "../../functions/orchestrators/break-glass";
import { ENTRA_AUTHORITY, propertiesText, signInProperties } from "../../shared/access/sign-in";
import { stackNames } from "../../shared/graph/names";
import { DB_ADMIN_LOGIN, GUACAMOLE_DATABASE, NODE_PATHS } from "../../shared/node/constants";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { RealNodes, sqlLiteral } from "../../dev/real-nodes";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";

const STACK = "jgsign";
const G = {
  ops: "0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f",
  devs: "6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f",
  guests: "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70",
  handmade: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
  auditors: "99887766-5544-4332-8110-ffeeddccbbaa",
};
type Doc = Record<string, unknown>;

function specOf(access: Doc): Doc {
  return {
    subscriptionId: "00000000-0000-0000-0000-00000000516e",
    resourceGroup: "rg-e2e-sign-in",
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 2 },
    access: {
      tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
      ...access,
    },
  };
}
const FIRST = specOf({ adminGroups: [G.ops], userGroups: [G.devs, G.guests] });
// devs become administrators, guests are no longer mapped, auditors (admin) and handmade (user) are new
const SECOND = specOf({ adminGroups: [G.ops, G.devs.toUpperCase(), G.auditors], userGroups: [G.handmade] });

describe("sign-in with Entra ID: groups, settings, break-glass (real agent, MariaDB)", { timeout: 240_000 }, () => {
  let workDir: string;
  let db: MariaDb;
  let env: JumpgateEnv;
  let web: RealNodes;
  let rpc: DurableRpcServer;
  const logs: string[] = [];
  const responses: string[] = [];
  const instances: InstanceState[] = [];
  let spec: StackSpec;

  const query = (sql: string) => db.query(sql, { password: web.adminPassword });
  /** Jumpgate's view of Guacamole's user groups: name, disabled, permissions, marker, id */
  const groups = () =>
    query(
      `SELECT e.name, g.disabled,
         COALESCE((SELECT GROUP_CONCAT(p.permission ORDER BY p.permission) FROM ${GUACAMOLE_DATABASE}.guacamole_system_permission p WHERE p.entity_id = e.entity_id), ''),
         COALESCE((SELECT a.attribute_value FROM ${GUACAMOLE_DATABASE}.guacamole_user_group_attribute a WHERE a.user_group_id = g.user_group_id AND a.attribute_name = 'jumpgate-stack'), '-'),
         g.user_group_id
       FROM ${GUACAMOLE_DATABASE}.guacamole_entity e JOIN ${GUACAMOLE_DATABASE}.guacamole_user_group g ON g.entity_id = e.entity_id
       WHERE e.type = 'USER_GROUP' ORDER BY e.name`,
    );
  const guacadmin = async () => {
    const rows = await query(
      `SELECT u.disabled FROM ${GUACAMOLE_DATABASE}.guacamole_user u JOIN ${GUACAMOLE_DATABASE}.guacamole_entity e ON e.entity_id = u.entity_id WHERE e.name = 'guacadmin'`,
    );
    return rows[0][0] === "1" ? "disabled" : "enabled";
  };
  const passwordIs = async (value: string) =>
    (
      await query(
        `SELECT u.password_hash = UNHEX(SHA2(CONCAT(${sqlLiteral(value)}, HEX(u.password_salt)), 256))
         FROM ${GUACAMOLE_DATABASE}.guacamole_user u JOIN ${GUACAMOLE_DATABASE}.guacamole_entity e ON e.entity_id = u.entity_id WHERE e.name = 'guacadmin'`,
      )
    )[0][0] === "1";
  const vault = () =>
    env.services.factory.secrets(String(env.emulator.store.get(stackNames(spec).keyVaultId)!.properties.vaultUri));

  async function http(name: string, method: string, route: string, body?: unknown) {
    const registration = fromRegistry().http[name];
    assert.ok(registration, `${name} is registered`);
    const request = new HttpRequest({
      method,
      url: `http://127.0.0.1/api/${route}`,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      params: { name: STACK },
      body: body === undefined ? undefined : { string: JSON.stringify(body) },
    });
    const res = (await registration.handler(
      request,
      durableClientContextFor(registration, rpc.clientData()),
    )) as HttpResponseInit;
    const answer = (res.jsonBody ?? (typeof res.body === "string" && res.body ? JSON.parse(res.body) : {})) as Doc;
    responses.push(JSON.stringify(answer));
    return { status: res.status ?? 200, body: answer };
  }
  /** PUT the spec, run the deploy to its end on the virtual clock */
  async function put(body: Doc): Promise<InstanceState> {
    const accepted = await http(Names.http.putStack, "PUT", `stacks/${STACK}`, body);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const instanceId = (accepted.body.operation as { instanceId: string }).instanceId;
    await env.host.runUntilIdle();
    const state = env.host.getStatus(instanceId)!;
    instances.push(state);
    assert.equal(state.runtimeStatus, "Completed", JSON.stringify(state.output ?? state.customStatus));
    spec = (await env.registry.get(STACK))!.spec;
    return state;
  }
  /** the agent commands an instance ran: command, args, answer */
  function agentCalls(instance: InstanceState) {
    const scheduled = new Map<number, { vmName: string; command: string; args?: string[] }>();
    const calls: { vmName: string; command: string; args: string[]; json: Doc; exitCode?: number }[] = [];
    for (const e of instance.history) {
      if (e.EventType === HistoryEventType.TaskScheduled && e.Name === Names.activities.runNodeAgent)
        scheduled.set(e.EventId, JSON.parse(String(e.Input)) as { vmName: string; command: string; args?: string[] });
      else if (e.EventType === HistoryEventType.TaskCompleted) {
        const input = scheduled.get(Number(e.TaskScheduledId));
        if (!input) continue;
        const result = JSON.parse(String(e.Result)) as { json?: Doc; exitCode?: number };
        calls.push({ ...input, args: input.args ?? [], json: result.json ?? {}, exitCode: result.exitCode });
      }
    }
    return calls;
  }
  const events = async (what: string) => (await env.audit.all(STACK)).filter((e) => e.what === what);

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-sign-in-"));
    const adminPassword = `bootstrap-${Date.now()}`;
    db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword });
    env = await startJumpgateEnv({
      emulator: { runCommand: { root: path.join(workDir, "run-command"), timeoutMs: 90_000 } },
      durable: { log: (line) => logs.push(line) },
    });
    web = RealNodes.wire(env.emulator, { db: { server: db, adminPassword } });
    rpc = await startDurableRpcServer(env.host);
  });

  after(async () => {
    await rpc?.close();
    await web?.stop();
    await env?.stop();
    await db?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test("a deploy with access: the groups as mapped, the nodes' OpenID settings, guacadmin disabled, all audited", async () => {
    const deploy = await put(FIRST);
    assert.deepEqual(
      (await groups()).map((r) => r.slice(0, 4)),
      [
        [G.ops, "0", "ADMINISTER", STACK],
        [G.devs, "0", "", STACK],
        [G.guests, "0", "", STACK],
      ].sort((a, b) => a[0].localeCompare(b[0])),
    );
    assert.equal(await guacadmin(), "disabled");

    // each node: the settings the app rendered, the extension in place, Tomcat restarted for them
    const rendered = propertiesText(
      signInProperties(spec.access!, { publicHostname: stackNames(spec).publicFqdn, authority: ENTRA_AUTHORITY }),
    );
    assert.match(rendered, /^openid-redirect-uri: https:\/\/jgsign-[0-9a-f]{8}\.westeurope\.cloudapp\.azure\.com\/$/m);
    for (const [vm, sandbox] of web.sandboxes) {
      const properties = fs.readFileSync(path.join(sandbox.root, NODE_PATHS.guacamoleProperties), "utf8");
      assert.ok(properties.endsWith(`# Sign-in with Entra ID, managed by jumpgate-node sign-in.\n${rendered}`), vm);
      assert.match(properties, /^mysql-username: guacamole_a$/m, `${vm} keeps its database login`);
      const jar = path.join(sandbox.root, NODE_PATHS.openIdExtension);
      assert.equal(fs.readFileSync(jar, "utf8"), "stand-in guacamole-auth-sso-openid-1.6.0.jar\n", vm);
      assert.equal(fs.statSync(jar).mode & 0o777, 0o640, vm);
      assert.deepEqual(sandbox.systemctlCalls(), ["restart tomcat.service", "restart tomcat.service"], vm);
    }
    const calls = agentCalls(deploy);
    assert.deepEqual(
      calls
        .filter((c) => ["access-groups", "sign-in", "guacadmin"].includes(c.command))
        .map((c) => [c.command, c.vmName, c.args.at(-1)]),
      [
        ["access-groups", `${STACK}-web-1`, `${G.guests}:user`],
        ["sign-in", `${STACK}-web-1`, "--check"],
        ["sign-in", `${STACK}-web-1`, "extension-priority=openid, mysql"],
        ["sign-in", `${STACK}-web-2`, "--check"],
        ["sign-in", `${STACK}-web-2`, "extension-priority=openid, mysql"],
        ["guacadmin", `${STACK}-web-1`, "disable"],
      ],
      "groups first, then each node drained and configured, then guacadmin",
    );
    assert.deepEqual((await events("access groups synced")).length, 1);
    assert.deepEqual((await events("sign-in settings applied")).map((e) => e.details?.node).sort(), [
      `${STACK}-web-1`,
      `${STACK}-web-2`,
    ]);
    assert.equal((await events("guacadmin disabled")).length, 1);

    const status = await http(Names.http.getStack, "GET", `stacks/${STACK}`);
    const access = status.body.access as Doc;
    assert.equal(access.configured, true);
    assert.equal(access.issuer, "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0");
    assert.deepEqual((access.applied as Doc).inSync, true);
    assert.deepEqual(
      ((access.groups as Doc).synced as Doc[]).map((g) => [g.id, g.role]),
      [
        [G.ops, "admin"],
        [G.devs, "user"],
        [G.guests, "user"],
      ].sort((a, b) => a[0].localeCompare(b[0])),
    );
    assert.equal((access.guacadmin as Doc).disabled, true);
  });

  test("a redeploy that changes nothing: no ARM write at all, the database and the nodes untouched", async () => {
    const before = await groups();
    assert.deepEqual(Object.values(await web.probeNow()), [100, 100]);
    env.emulator.journal.clear();
    const deploy = await put(FIRST);
    assert.deepEqual(
      env.emulator.journal.writes().map((w) => `${w.method} ${w.path}`),
      [],
      "no PUT, PATCH, DELETE or POST action (Run Command included)",
    );
    assert.deepEqual(agentCalls(deploy), []);
    assert.deepEqual(await groups(), before);
    for (const sandbox of web.sandboxes.values())
      assert.deepEqual(sandbox.systemctlCalls(), ["restart tomcat.service", "restart tomcat.service"]);
  });

  test("a changed mapping converges with the fewest statements; hand-made groups and unchanged rows are left alone", async () => {
    // someone made a group named like a newly mapped Entra group by hand, with a permission of its own
    await query(
      `INSERT INTO ${GUACAMOLE_DATABASE}.guacamole_entity (name, type) VALUES ('${G.handmade}', 'USER_GROUP')`,
    );
    await query(
      `INSERT INTO ${GUACAMOLE_DATABASE}.guacamole_user_group (entity_id) SELECT entity_id FROM ${GUACAMOLE_DATABASE}.guacamole_entity WHERE name = '${G.handmade}'`,
    );
    await query(
      `INSERT INTO ${GUACAMOLE_DATABASE}.guacamole_system_permission (entity_id, permission) SELECT entity_id, 'CREATE_CONNECTION' FROM ${GUACAMOLE_DATABASE}.guacamole_entity WHERE name = '${G.handmade}'`,
    );
    const before = new Map((await groups()).map((r) => [r[0], r]));
    assert.deepEqual(Object.values(await web.probeNow()), [100, 100]);
    const deploy = await put(SECOND);

    const after = new Map((await groups()).map((r) => [r[0], r]));
    assert.deepEqual(after.get(G.ops), before.get(G.ops), "an unchanged group's row is the same row, untouched");
    assert.deepEqual(after.get(G.devs)?.slice(0, 4), [G.devs, "0", "ADMINISTER", STACK]);
    assert.equal(after.get(G.devs)?.[4], before.get(G.devs)?.[4], "granted in place, not made again");
    assert.deepEqual(after.get(G.guests)?.slice(0, 4), [G.guests, "1", "", STACK], "no longer mapped: disabled");
    assert.deepEqual(after.get(G.auditors)?.slice(0, 4), [G.auditors, "0", "ADMINISTER", STACK]);
    assert.deepEqual(after.get(G.handmade), before.get(G.handmade), "not Jumpgate's: untouched");

    const sync = agentCalls(deploy).filter((c) => c.command === "access-groups");
    assert.equal(sync.length, 1);
    assert.deepEqual(sync[0].json.changed, [
      `group ${G.devs}: ADMINISTER granted`,
      `group ${G.auditors} created (admin)`,
      `group ${G.guests} disabled (no longer mapped)`,
    ]);
    assert.deepEqual(sync[0].json.conflicts, [G.handmade]);
    // a new admin group is 4 rows (entity, group, marker, permission), a grant 1, a disable 1
    assert.equal(sync[0].json.statements, 6);
    // the sign-in settings did not change: no node was checked, drained or restarted
    assert.deepEqual(
      agentCalls(deploy)
        .map((c) => c.command)
        .filter((c) => c !== "access-groups"),
      ["guacadmin"],
      "guacadmin is confirmed disabled with the groups",
    );
    for (const sandbox of web.sandboxes.values())
      assert.deepEqual(sandbox.systemctlCalls(), ["restart tomcat.service", "restart tomcat.service"]);
    const synced = await events("access groups synced");
    assert.equal(synced.length, 2);
    assert.deepEqual(synced[0].details?.conflicts, [G.handmade], "the newest event names the hand-made group");
    const status = await http(Names.http.getStack, "GET", `stacks/${STACK}`);
    assert.deepEqual(((status.body.access as Doc).groups as Doc).conflicts, [G.handmade]);
  });

  test("break-glass: bad requests start nothing; a window opens with the version handed out and closes on time", async () => {
    for (const [body, pointer] of [
      [{ minutes: 0 }, "/minutes"],
      [{ minutes: 241 }, "/minutes"],
      [{ bogus: 1 }, "/bogus"],
    ] as const) {
      const refused = await http(Names.http.openBreakGlass, "POST", `stacks/${STACK}/break-glass`, body);
      assert.equal(refused.status, 422, JSON.stringify(refused.body));
      assert.deepEqual(
        (refused.body.errors as { pointer: string }[]).map((e) => e.pointer),
        [pointer],
      );
    }
    const notOpen = await http(Names.http.closeBreakGlass, "POST", `stacks/${STACK}/break-glass/close`);
    assert.equal(notOpen.status, 409);
    const instanceId = InstanceIds.breakGlass(STACK);
    assert.equal(env.host.getStatus(instanceId), undefined, "nothing started");

    const accepted = await http(Names.http.openBreakGlass, "POST", `stacks/${STACK}/break-glass`, {
      minutes: 30,
      reason: "Entra ID outage drill",
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const secret = accepted.body.secret as { vault: string; name: string; version: string };
    assert.equal(secret.name, SECRET_NAMES.guacadminPassword);
    assert.match(secret.version, /^[0-9a-f]{32}$/);
    assert.equal(secret.vault, stackNames(spec).keyVaultUri);
    const handedOut = (await vault().getSecret(secret.name, { version: secret.version })).value!;
    assert.ok(!JSON.stringify(accepted.body).includes(handedOut), "the answer holds no password");

    await env.host.runUntilIdle({
      until: () => (env.host.getStatus(instanceId)?.customStatus as BreakGlassStatus | undefined)?.phase === "open",
    });
    const open = env.host.getStatus(instanceId)!.customStatus as BreakGlassStatus;
    assert.equal(await guacadmin(), "enabled");
    assert.ok(await passwordIs(handedOut), "guacadmin's password is the version handed out");
    assert.equal(Date.parse(open.until!) - Date.parse(open.openedAt!), 30 * 60_000);
    const opened = await events("break-glass opened");
    assert.deepEqual(
      [opened.length, opened[0].details?.version, opened[0].details?.until, opened[0].why],
      [1, secret.version, open.until, "Entra ID outage drill"],
    );
    // while it is open: a second request is refused, the stack is free for others, GET shows the window
    assert.equal((await http(Names.http.openBreakGlass, "POST", `stacks/${STACK}/break-glass`, {})).status, 409);
    assert.equal((await env.registry.get(STACK))?.operation, undefined, "the claim is released while open");
    const status = await http(Names.http.getStack, "GET", `stacks/${STACK}`);
    assert.deepEqual(((status.body.access as Doc).guacadmin as Doc).breakGlass, {
      openedAt: open.openedAt,
      until: open.until,
      secret: SECRET_NAMES.guacadminPassword,
      version: secret.version,
    });

    // the virtual clock runs to the deadline: disabled, and a password nobody was handed
    await env.host.runUntilIdle();
    const done = env.host.getStatus(instanceId)!;
    instances.push(done);
    assert.equal(done.runtimeStatus, "Completed", JSON.stringify(done.output));
    const fired = done.history.filter((e) => e.EventType === HistoryEventType.TimerFired);
    assert.deepEqual(
      fired.map((e) => new Date(String(e.FireAt)).toISOString()),
      [open.until],
      "one timer, at the deadline",
    );
    assert.equal(await guacadmin(), "disabled");
    assert.ok(!(await passwordIs(handedOut)), "the password handed out no longer works");
    const latest = await vault().getSecret(SECRET_NAMES.guacadminPassword);
    assert.notEqual(latest.properties.version, secret.version);
    assert.notEqual(latest.value, handedOut);
    assert.ok(await passwordIs(latest.value!));
    const closed = await events("break-glass closed");
    assert.deepEqual(
      [closed.length, closed[0].details?.closedBy, closed[0].details?.version],
      [1, "timer", latest.properties.version],
    );
    assert.ok(Date.parse(closed[0].time) >= 0);
    const record = (await env.registry.get(STACK))?.observed?.access?.guacadmin;
    assert.equal(record?.breakGlass, undefined);
    assert.deepEqual(
      [record?.disabled, record?.password?.version, record?.lastBreakGlass?.closedBy],
      [true, latest.properties.version, "timer"],
    );
  });

  test("break-glass closes early on request; the deadline timer is left to fire into nothing", async () => {
    const instanceId = InstanceIds.breakGlass(STACK);
    const accepted = await http(Names.http.openBreakGlass, "POST", `stacks/${STACK}/break-glass`, { minutes: 120 });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const version = (accepted.body.secret as { version: string }).version;
    await env.host.runUntilIdle({
      until: () => (env.host.getStatus(instanceId)?.customStatus as BreakGlassStatus | undefined)?.phase === "open",
    });
    assert.equal(await guacadmin(), "enabled");
    const close = await http(Names.http.closeBreakGlass, "POST", `stacks/${STACK}/break-glass/close`);
    assert.equal(close.status, 202, JSON.stringify(close.body));
    await env.host.runUntilIdle({ until: () => env.host.getStatus(instanceId)?.runtimeStatus === "Completed" });
    const done = env.host.getStatus(instanceId)!;
    instances.push(done);
    assert.equal((done.customStatus as BreakGlassStatus).closedBy, "request");
    assert.equal(await guacadmin(), "disabled");
    const handedOut = (await vault().getSecret(SECRET_NAMES.guacadminPassword, { version })).value!;
    assert.ok(!(await passwordIs(handedOut)));
    const closed = await events("break-glass closed");
    assert.equal(closed[0].details?.closedBy, "request");
    assert.ok(
      done.history.some((e) => e.EventType === HistoryEventType.TimerCreated) &&
        !done.history.some((e) => e.EventType === HistoryEventType.TimerFired),
      "the deadline timer was created and has not fired by the time the window closed",
    );
  });

  test("the daily credential check rotates guacadmin's password once it is older than the policy", async () => {
    const client = new InMemoryDurableClient(env.host);
    const before = await vault().getSecret(SECRET_NAMES.guacadminPassword);
    // the password's age is judged from when the last window's close set it (the orchestration's clock)
    const since = Date.parse((await env.registry.get(STACK))!.observed!.access!.guacadmin!.password!.since);
    const soon = await checkGuacadminPasswords(client, new Date(since + 24 * 3_600_000));
    assert.deepEqual(soon.started, [], "a day old: not due");
    const later = await checkGuacadminPasswords(client, new Date(since + 31 * 24 * 3_600_000));
    assert.deepEqual(
      later.started.map((s) => s.stack),
      [STACK],
    );
    const instanceId = InstanceIds.breakGlass(STACK);
    await env.host.runUntilIdle({ until: () => env.host.getStatus(instanceId)?.runtimeStatus === "Completed" });
    const done = env.host.getStatus(instanceId)!;
    instances.push(done);
    assert.equal((done.customStatus as BreakGlassStatus).phase, "rotated", JSON.stringify(done.output));
    const after = await vault().getSecret(SECRET_NAMES.guacadminPassword);
    assert.notEqual(after.properties.version, before.properties.version);
    assert.ok(await passwordIs(after.value!));
    assert.ok(!(await passwordIs(before.value!)));
    assert.equal(await guacadmin(), "disabled");
    assert.equal((await events("guacadmin password rotated")).length, 1);
  });

  test("no guacadmin password appears in histories, statuses, answers, logs, the registry or the audit trail", async () => {
    const values: string[] = [];
    for await (const p of vault().listPropertiesOfSecretVersions(SECRET_NAMES.guacadminPassword)) {
      values.push((await vault().getSecret(SECRET_NAMES.guacadminPassword, { version: p.version! })).value!);
    }
    // the generated one, and per window the version handed out and the one after it
    assert.ok(values.length >= 5, `${values.length} versions of guacadmin's password`);
    const haystacks: [string, string][] = [
      [
        "histories and statuses",
        JSON.stringify(instances.map((i) => [i.history, i.customStatusLog, i.output, i.input])),
      ],
      ["every instance on the host", JSON.stringify(env.host.listInstances())],
      ["HTTP answers", responses.join("\n")],
      ["logs", logs.join("\n")],
      ["audit trail", JSON.stringify(await env.audit.all(STACK))],
      ["registry", JSON.stringify(await env.registry.get(STACK))],
      ["emulator journal", JSON.stringify(env.emulator.journal.list())],
    ];
    for (const value of values)
      for (const [what, hay] of haystacks)
        assert.ok(!hay.includes(value), `a guacadmin password leaked into the ${what}`);
  });
});
