// The restore drill on the real thing: a stack deployed through PUT /api/stacks/{name} with the REAL
// node agent (Run Command -> infra/node/jumpgate-node in a sandbox built from the VM's custom data),
// a real MariaDB holding the real Guacamole 1.6.0 schema as the live flexible server, and a fresh
// MariaDB loaded with the live one's data and logins for each server ARM restores from its backups
// (test/support/flexible-server-databases.ts). Both chain to one trust bundle, as every Azure
// flexible server's certificate chains to the same public roots; each restored server's name
// reaches its MariaDB through the agent's JUMPGATE_DB_RESOLVE (a VM resolves it through the
// private DNS zone). The drill runs on the durable test host's virtual clock.
//  - POST .../restore-drill: 202; a second POST while it runs: 409 problem+json; exactly one
//    temporary server created (PointInTimeRestore of the live server, tagged as the drill's, in the
//    stack's private network) and deleted; Guacamole's tables read back through the node as
//    Guacamole's own login; no write to the live server (the journal); the result in the audit
//    trail, observed.drill and the RestoreDrill condition on GET /api/stacks/{name}
//  - tables missing from the restored copy, and a restore that fails: the drill fails with the
//    reason in the condition, the audit and the status, and the temporary server is gone
//  - hostile input: 400/404/415/422 problems that start nothing; the agent refuses a host that
//    reaches the live server
//  - the monthly timer: nothing outside the stack's slot, a drill in it, skipped while one runs
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import {
  defaultHistoryFixturesDir,
  fromRegistry,
  InMemoryDurableClient,
  recordHistoryFixture,
  startDurableRpcServer,
  type DurableRpcServer,
  type InstanceState,
} from "../../emulator/durable";
import { durableClientContextFor } from "../../emulator/durable/client/client-context";
import type { JournalEntry } from "../../emulator/arm/journal";
import { runNodeAgentActivity } from "../../functions/activities/nodes";
import { InstanceIds, Names } from "../../functions/names";
import { runRestoreDrillTimer } from "../../functions/timers/restore-drill";
import { DRILL_TAG } from "../../shared/drill/restore-drill";
import { stackNames, type StackNames } from "../../shared/graph/names";
import { SECRET_NAMES } from "../../shared/secret-names";
import { DB_ADMIN_LOGIN, GUACAMOLE_DATABASE } from "../../shared/node/constants";
import { restoreDrillDue } from "../../shared/schedule/spread";
import type { DrillObserved } from "../../shared/stack-status";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { RealNodes } from "../../dev/real-nodes";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";
import { FlexibleServerDatabases } from "../support/flexible-server-databases";

const STACK = "jgdrill";
const SUB = "00000000-0000-0000-0000-0000000d7111";
const SERVER_TYPE = "Microsoft.DBforMySQL/flexibleServers";
const TABLES = ["guacamole_entity", "guacamole_user", "guacamole_connection", "guacamole_connection_permission"];
type Doc = Record<string, unknown>;

describe("restore drill (real agent, MariaDB, the real Guacamole schema)", { timeout: 300_000 }, () => {
  let workDir: string;
  let db: MariaDb;
  let env: JumpgateEnv;
  let web: RealNodes;
  let fleet: FlexibleServerDatabases;
  let rpc: DurableRpcServer;
  let names: StackNames;
  let vm: string;
  /** the one CA bundle the nodes trust for MySQL: the live server's CA, then each restored one's */
  let caBundle: string;
  /** what each restore did to its copy before the drill reads it (a test's way to break a backup) */
  let afterRestore: (copy: MariaDb) => Promise<void> = async () => undefined;
  /** the restore's own work fails (the emulator's operation then ends Failed) */
  let failRestore = false;
  const resolve = new Map<string, string>();

  const query = (sql: string) => db.query(sql, { password: web.adminPassword });
  const lastSeq = () => env.emulator.journal.list().at(-1)?.seq ?? 0;
  const writesSince = (since: number): JournalEntry[] =>
    env.emulator.journal.writes().filter((w) => w.seq > since && w.action?.toLowerCase() !== "runcommand");
  const isServer = (w: JournalEntry, id: string) => w.path.toLowerCase() === id.toLowerCase();
  const touchesLive = (w: JournalEntry) => {
    const live = names.mysqlServerId.toLowerCase();
    const p = w.path.toLowerCase();
    return p === live || p.startsWith(`${live}/`);
  };
  const drillServersInAzure = () =>
    env.emulator.store.all().filter((d) => d.type === SERVER_TYPE && d.tags?.[DRILL_TAG] !== undefined);

  async function http(name: string, method: string, route: string, options: { body?: string; stack?: string } = {}) {
    const registration = fromRegistry().http[name];
    assert.ok(registration, `${name} is registered`);
    const request = new HttpRequest({
      method,
      url: `http://127.0.0.1/api/${route}`,
      headers: options.body === undefined ? {} : { "content-type": "application/json" },
      params: { name: options.stack ?? STACK },
      body: options.body === undefined ? undefined : { string: options.body },
    });
    const res = (await registration.handler(
      request,
      durableClientContextFor(registration, rpc.clientData()),
    )) as HttpResponseInit;
    const headers = (res.headers ?? {}) as Record<string, string>;
    const answer = (res.jsonBody ?? (typeof res.body === "string" && res.body ? JSON.parse(res.body) : {})) as Doc;
    return { status: res.status ?? 200, body: answer, type: headers["Content-Type"] ?? headers["content-type"] };
  }
  const postDrill = (body?: string, stack?: string) =>
    http(Names.http.restoreDrillHttp, "POST", `stacks/${stack ?? STACK}/restore-drill`, { body, stack });
  const status = async () => (await http(Names.http.getStack, "GET", `stacks/${STACK}`)).body;

  /**
   * Runs the drill to its end. With JUMPGATE_RECORD_DRILL_HISTORIES=1 its history becomes the replay
   * gate's fixture `restoreDrill/<scenario>` (after a build: node dist/test/e2e/restore-drill.test.js).
   */
  async function runDrill(scenario?: string): Promise<InstanceState> {
    const instanceId = InstanceIds.drill(STACK);
    await env.host.runUntilIdle({ until: () => env.host.getStatus(instanceId)?.runtimeStatus === "Completed" });
    const state = env.host.getStatus(instanceId)!;
    assert.equal(state.runtimeStatus, "Completed", JSON.stringify(state.output ?? state.customStatus));
    if (scenario && process.env.JUMPGATE_RECORD_DRILL_HISTORIES === "1")
      recordHistoryFixture(env.host, instanceId, { scenario, dir: defaultHistoryFixturesDir() });
    await fleet.idle();
    return state;
  }

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-drill-"));
    const adminPassword = `bootstrap-${Date.now()}`;
    db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword });
    caBundle = path.join(workDir, "mysql-ca-bundle.pem");
    fs.writeFileSync(caBundle, db.caPem);
    env = await startJumpgateEnv({
      // instant LRO answers: the restore is done when accepted, so the drill's polling (durable timers on
      // the virtual clock) never races the real MariaDB load; test/integration/restore-drill-lro.test.ts
      // polls restores in Azure's async shapes
      emulator: { runCommand: { root: path.join(workDir, "run-command"), timeoutMs: 90_000 } },
    });
    web = RealNodes.wire(env.emulator, { db: { server: { ...db, caPath: caBundle }, adminPassword } });
    fleet = FlexibleServerDatabases.wire(env.emulator);
    const restore = env.emulator.mysqlRestoreHook!;
    env.emulator.mysqlRestoreHook = async (r) => {
      if (failRestore) throw new Error("the data could not be copied");
      await restore(r);
      const copy = fleet.get(r.serverId)!;
      fs.appendFileSync(caBundle, copy.caPem);
      resolve.set(
        `${r.serverId.split("/").pop()!.toLowerCase()}.mysql.database.azure.com`,
        `${copy.host}:${copy.port}`,
      );
      env.emulator.runCommand.options.env.JUMPGATE_DB_RESOLVE = [...resolve].map(([n, a]) => `${n}=${a}`).join(" ");
      await afterRestore(copy);
    };
    rpc = await startDurableRpcServer(env.host);

    const accepted = await http(Names.http.putStack, "PUT", `stacks/${STACK}`, {
      body: JSON.stringify({
        subscriptionId: SUB,
        resourceGroup: "rg-e2e-drill",
        location: "westeurope",
        fleet: { mode: "availabilitySet", size: 1, min: 1 },
      }),
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    await env.host.runUntilIdle();
    const deploy = env.host.getStatus((accepted.body.operation as { instanceId: string }).instanceId)!;
    assert.equal(deploy.runtimeStatus, "Completed", JSON.stringify(deploy.output ?? deploy.customStatus));
    names = stackNames((await env.registry.get(STACK))!.spec);
    fleet.register(names.mysqlServerId, db, () => web.adminPassword);
    vm = web.running()[0];
    // something for the copy to hold beyond the schema's own rows
    await query(
      `INSERT INTO ${GUACAMOLE_DATABASE}.guacamole_connection (connection_name, protocol) VALUES ('drill-ssh', 'ssh'), ('drill-rdp', 'rdp');`,
    );
  });

  after(async () => {
    await rpc?.close();
    await fleet?.stop();
    await web?.stop();
    await env?.stop();
    await db?.stop();

    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test("a drill restores one temporary server, reads Guacamole's tables back through the node, deletes it, and never writes the live server", async () => {
    const since = lastSeq();
    // two requests at once: exactly one drill starts; the other is refused, not queued, naming it
    const both = await Promise.all([postDrill(), postDrill()]);
    assert.deepEqual(both.map((r) => r.status).sort(), [202, 409], JSON.stringify(both.map((r) => r.body)));
    const accepted = both.find((r) => r.status === 202)!;
    const operation = accepted.body.operation as { instanceId: string; status: string };
    assert.equal(operation.instanceId, InstanceIds.drill(STACK));
    assert.match(operation.status, /\/api\/stacks\/jgdrill\/operations\/drill-jgdrill$/);
    for (const refused of [both.find((r) => r.status === 409)!, await postDrill()]) {
      assert.equal(refused.status, 409);
      assert.equal(refused.type, "application/problem+json");
      assert.equal(refused.body.type, "https://jumpgate.dev/problems/drill-running");
      assert.equal((refused.body.operation as { instanceId: string }).instanceId, InstanceIds.drill(STACK));
    }
    assert.equal(env.host.listInstances().filter((i) => i.name === Names.orchestrators.restoreDrill).length, 1);
    assert.notEqual(((await status()).restoreDrill as Doc).running, null, "the status shows the running drill");

    const state = await runDrill("succeeded");
    const drill = state.output as DrillObserved;
    assert.equal(drill.outcome, "succeeded", JSON.stringify(drill));
    assert.equal(drill.node, vm);
    assert.equal(drill.trigger, "request");

    // exactly one temporary server: created from the live one's backups, then deleted
    const writes = writesSince(since);
    const creates = writes.filter((w) => w.method === "PUT" && w.type === SERVER_TYPE);
    assert.equal(creates.length, 1, JSON.stringify(creates.map((w) => w.path)));
    const serverId = creates[0].path;
    assert.match(serverId, new RegExp(`/flexibleServers/${names.mysqlServer}-drill-[0-9a-f]{8}$`));
    assert.equal(serverId.split("/").pop(), drill.server);
    const body = creates[0].body as { properties: Doc; tags: Record<string, string> };
    assert.equal(body.properties.createMode, "PointInTimeRestore");
    assert.equal(String(body.properties.sourceServerResourceId).toLowerCase(), names.mysqlServerId.toLowerCase());
    assert.equal(body.properties.restorePointInTime, drill.restorePointInTime);
    assert.equal((body.properties.network as Doc).delegatedSubnetResourceId, names.dbSubnetId);
    assert.equal(body.tags[DRILL_TAG], InstanceIds.drill(STACK));
    assert.equal(body.tags["jumpgate-stack"], STACK);
    const deletes = writes.filter((w) => w.method === "DELETE");
    assert.deepEqual(
      deletes.map((w) => w.path),
      [serverId],
      "the one write besides the create is its delete",
    );
    assert.deepEqual(
      writes.filter((w) => !isServer(w, serverId)).map((w) => `${w.method} ${w.path}`),
      [],
      "nothing else was written: no write to the live server or anything else",
    );
    assert.equal(writes.filter(touchesLive).length, 0);
    assert.deepEqual(drillServersInAzure(), [], "no drill server is left in Azure");
    assert.deepEqual(drill.cleanup, { deleted: [drill.server] });
    assert.equal(fleet.restores.length, 1);
    assert.equal(fleet.get(serverId), undefined, "the restored server's database stopped with its deletion");

    // what the node read back is what the live database holds, read as Guacamole's own login
    for (const table of TABLES) {
      const [[count]] = await query(`SELECT COUNT(*) FROM ${GUACAMOLE_DATABASE}.${table}`);
      assert.equal(drill.tables?.[table], Number(count), table);
    }
    assert.equal(drill.tables?.guacamole_connection, 2);
    assert.ok((drill.tables?.guacamole_user ?? 0) >= 1, "guacadmin at least");

    // the result on the status page: last drill, condition, audit event
    const s = await status();
    assert.deepEqual((s.restoreDrill as Doc).last, drill);
    assert.equal((s.restoreDrill as Doc).running, null);
    const condition = (s.conditions as Doc[]).find((c) => c.type === "RestoreDrill")!;
    assert.equal(condition.status, "True");
    assert.equal(condition.reason, "RestoredAndRead");
    assert.match(String(condition.message), /connection 2/);
    const event = (s.events as Doc[]).find((e) => e.what === "restore drill succeeded")!;
    assert.ok(event, "the drill is in the audit trail");
    assert.deepEqual(event.operation, { kind: "restore-drill", instanceId: InstanceIds.drill(STACK) });
    assert.equal((event.details as Doc).server, drill.server);
    // no secret value anywhere the drill produced
    const vault = env.emulator.store.get(names.keyVaultId)!;
    const secrets = env.services.factory.secrets(String(vault.properties.vaultUri));
    const appPasswords = await Promise.all(
      [SECRET_NAMES.dbAppPasswordA, SECRET_NAMES.dbAppPasswordB].map(async (n) => (await secrets.getSecret(n)).value!),
    );
    const audit = await http(Names.http.listEvents, "GET", `stacks/${STACK}/events`);
    const produced = JSON.stringify([state, s, audit.body, env.host.getStatus(InstanceIds.drill(STACK))]);
    for (const secret of [web.adminPassword, ...appPasswords])
      assert.ok(secret && !produced.includes(secret), "no password appears in the history, status or audit trail");
  });

  test("a restored copy without Guacamole's tables fails the drill, says which, and the temporary server is still deleted", async () => {
    afterRestore = async (copy) => {
      await copy.query(`DROP TABLE ${GUACAMOLE_DATABASE}.guacamole_connection_permission`, {
        password: web.adminPassword,
      });
    };
    try {
      const since = lastSeq();
      assert.equal((await postDrill("{}")).status, 202);
      const drill = (await runDrill("tables-missing")).output as DrillObserved;
      assert.equal(drill.outcome, "failed");
      assert.equal(drill.failure?.reason, "TablesMissing");
      assert.match(drill.failure.message, /guacamole_connection_permission/);
      const writes = writesSince(since);
      assert.equal(writes.filter((w) => w.method === "PUT" && w.type === SERVER_TYPE).length, 1);
      assert.equal(writes.filter((w) => w.method === "DELETE").length, 1);
      assert.equal(writes.filter(touchesLive).length, 0);
      assert.deepEqual(drillServersInAzure(), []);
      assert.deepEqual(drill.cleanup.deleted, [drill.server]);
      const s = await status();
      const condition = (s.conditions as Doc[]).find((c) => c.type === "RestoreDrill")!;
      assert.equal(condition.status, "False");
      assert.equal(condition.reason, "TablesMissing");
      assert.match(String(condition.message), /lacks 1 of Guacamole's 23 tables: guacamole_connection_permission/);
      assert.equal(((s.restoreDrill as Doc).last as DrillObserved).failure?.reason, "TablesMissing");
      const event = (s.events as Doc[]).find((e) => e.what === "restore drill failed")!;
      assert.match(String(event.why), /^TablesMissing: /);
      // the live database was not touched by any of it
      const [[permissions]] = await query(
        `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${GUACAMOLE_DATABASE}' AND TABLE_NAME = 'guacamole_connection_permission'`,
      );
      assert.equal(permissions, "1");
    } finally {
      afterRestore = async () => undefined;
    }
  });

  test("a restore that fails ends the drill with RestoreFailed, and no temporary server is left", async () => {
    failRestore = true;
    const since = lastSeq();
    let drill: DrillObserved;
    try {
      assert.equal((await postDrill()).status, 202);
      drill = (await runDrill("restore-failed")).output as DrillObserved;
    } finally {
      failRestore = false;
    }
    assert.equal(drill.outcome, "failed");
    assert.equal(drill.failure?.reason, "RestoreFailed");
    assert.match(drill.failure.message, /restore of the latest restore point failed: .*the data could not be copied/);
    assert.equal(drill.node, undefined, "no check ran");
    assert.deepEqual(drillServersInAzure(), []);
    assert.equal(writesSince(since).filter(touchesLive).length, 0);
    assert.equal(
      writesSince(since).filter((w) => w.method === "PUT" && w.type === SERVER_TYPE).length,
      1,
      "a failed restore is not tried again at once",
    );
    const condition = ((await status()).conditions as Doc[]).find((c) => c.type === "RestoreDrill")!;
    assert.deepEqual([condition.status, condition.reason], ["False", "RestoreFailed"]);
  });

  test("hostile input gets a problem and starts nothing; the agent refuses a host that reaches the live server", async () => {
    const before = env.host.listInstances().length;
    const cases: [Awaited<ReturnType<typeof postDrill>>, number][] = [
      [await postDrill(undefined, "Bad;Name"), 400],
      [await postDrill(undefined, "nosuchstack"), 404],
      [await postDrill('{"server":"x"}'), 422],
      [await postDrill("[]"), 422],
      [await postDrill('{"a":'), 400],
    ];
    for (const [res, code] of cases) {
      assert.equal(res.status, code, JSON.stringify(res.body));
      assert.equal(res.type, "application/problem+json");
    }
    assert.equal(env.host.listInstances().length, before, "nothing started");

    const agent = (args: string[]) =>
      runNodeAgentActivity({
        subscriptionId: SUB,
        resourceGroup: "rg-e2e-drill",
        vmName: vm,
        command: "drill-check",
        args,
        stack: STACK,
      });
    // a name that resolves to the live server's address: a usage error, no login attempted
    env.emulator.runCommand.options.env.JUMPGATE_DB_RESOLVE = `look-alike.mysql.database.azure.com=${db.host}:${db.port}`;
    const live = await agent(["--host", "look-alike.mysql.database.azure.com"]);
    assert.equal(live.exitCode, 2);
    assert.match(live.stderr ?? "", /reaches the live server/);
    const hostile = await agent(["--host", "x'; DROP TABLE guacamole_user; --"]);
    assert.equal(hostile.exitCode, 2);
    assert.match(hostile.stderr ?? "", /usage error: drill-check --host FQDN/);
  });

  test("the monthly timer drills a stack only in its slot, and skips it while its drill runs", async () => {
    const client = new InMemoryDurableClient(env.host);
    const last = (await env.registry.get(STACK))!.observed!.drill!.startedAt;
    const hour = 3_600_000;
    const base = Math.floor(Date.now() / hour) * hour;
    let due: Date | undefined;
    let notDue: Date | undefined;
    for (let h = 0; h < 720 && !(due && notDue); h++) {
      const at = new Date(base + h * hour + 34 * 60_000);
      if (restoreDrillDue(STACK, at, last)) due ??= at;
      else notDue ??= at;
    }
    assert.ok(due && notDue);
    assert.deepEqual(await runRestoreDrillTimer(client, notDue), { started: [], skipped: [] });
    assert.deepEqual(await runRestoreDrillTimer(client, due), { started: [STACK], skipped: [] });
    assert.deepEqual(await runRestoreDrillTimer(client, due), {
      started: [],
      skipped: [{ stack: STACK, why: "running" }],
    });
    const drill = (await runDrill()).output as DrillObserved;
    assert.equal(drill.trigger, "timer");
    assert.equal(drill.outcome, "succeeded", JSON.stringify(drill));
    assert.deepEqual(drillServersInAzure(), []);
  });
});
