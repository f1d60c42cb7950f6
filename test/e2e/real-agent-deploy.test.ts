// A whole deploy with the REAL node agent on every web node: deployStack (availability set of 2)
// runs on the durable test host (virtual clock) against the Azure emulator and Azurite, and each
// VM's Run Command executes infra/node/jumpgate-node inside a sandbox built from that VM's own custom
// data (dev/node-sandbox.ts: real NGINX, stand-ins for Tomcat, guacd and systemctl). The
// MySQL flexible server is a real MariaDB over TLS whose admin password follows what the deploy sets
// through ARM; Key Vault and each VM's managed-identity endpoint are the emulator's, and Key Vault
// allows each node's identity only what its role assignments allow (Azure RBAC).
//
// Least privilege: a node's identity reads its app users' secrets and nothing else of the vault;
// the database admin password reaches the one admin step (bootstrap-db) through managed Run
// Command's protected parameters. A redeploy that changes nothing makes no ARM write of any kind
// (no Run Command either) and reads no admin secret; a database that drifted is found by a read-only
// check and repaired.
//
// The node's configuration names the stack's public endpoints (https://<vault>.vault.azure.net/ and
// <server>.mysql.database.azure.com). A sandbox "resolves" them the way the VNet would: the vault
// name to the emulator's listener for that vault, the server name (which must be one the emulator
// holds) to the MariaDB on 127.0.0.1, through the agent's rule that the environment wins over
// node.env.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { after, before, describe, test } from "node:test";
import type { InstanceState } from "../../emulator/durable";
import { HistoryEventType } from "../../emulator/durable";
import type { JournalEntry } from "../../emulator/arm/journal";
import type { DeployInput, DeployStatus } from "../../functions/orchestrators/deploy-stack";
import { stackNames, type StackNames } from "../../shared/graph/names";
import { APP_USERS, DB_ADMIN_LOGIN, GUACAMOLE_DATABASE, NODE_PROBE } from "../../shared/node/constants";
import { SECRET_NAMES } from "../../shared/secret-names";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { RealNodes, sqlLiteral } from "../../dev/real-nodes";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";

const STACK = "jgreal";

function specOf(): StackSpec {
  const r = validateStackSpec({
    name: STACK,
    subscriptionId: "00000000-0000-0000-0000-00000000e2e2",
    resourceGroup: "rg-e2e-real-agent",
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 2 },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

function servedSerial(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toUpperCase();
      socket.end();
      resolve(serial);
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error("TLS handshake timed out")));
    socket.on("error", reject);
  });
}

/** A token of the VM's managed identity from its own IMDS endpoint. */
async function imdsToken(endpoint: string, caPath: string): Promise<string> {
  const r = await httpsGet(
    `${endpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://vault.azure.net")}`,
    undefined,
    caPath,
    { Metadata: "true" },
  );
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { access_token: string }).access_token;
}

function httpsGet(
  url: string,
  token: string | undefined,
  caPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: fs.readFileSync(caPath),
        timeout: 5_000,
        headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("GET timed out")));
    req.on("error", reject);
  });
}

function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, timeout: 5_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("GET timed out")));
    req.on("error", reject);
  });
}

interface AgentCall {
  vmName: string;
  command: string;
  args: string[];
  result: { reachable: boolean; exitCode?: number; json?: unknown; stderr?: string };
}

/** Every runNodeAgent activity an instance completed, in order, with its input and answer. */
function agentCalls(instance: InstanceState): AgentCall[] {
  const scheduled = new Map<number, { vmName: string; command: string; args?: string[] }>();
  const calls: AgentCall[] = [];
  for (const e of instance.history) {
    if (e.EventType === HistoryEventType.TaskScheduled && e.Name === "runNodeAgent") {
      scheduled.set(e.EventId, JSON.parse(String(e.Input)) as { vmName: string; command: string; args?: string[] });
    } else if (e.EventType === HistoryEventType.TaskCompleted) {
      const input = scheduled.get(Number(e.TaskScheduledId));
      if (!input) continue;
      calls.push({
        vmName: input.vmName,
        command: input.command,
        args: input.args ?? [],
        result: JSON.parse(String(e.Result)) as AgentCall["result"],
      });
    }
  }
  return calls;
}

describe("deploy with the real node agent on every node (MariaDB, NGINX, emulated Azure)", { timeout: 180_000 }, () => {
  const spec = specOf();
  const names: StackNames = stackNames(spec);
  let workDir: string;
  let db: MariaDb;
  let env: JumpgateEnv;
  /** the web nodes (dev/real-nodes.ts): each VM's sandbox, node.env and the admin password MariaDB has */
  let web: RealNodes;
  const logs: string[] = [];
  let firstDeploy: InstanceState;
  let secondDeploy: InstanceState;
  let thirdDeploy: InstanceState;

  // as PUT /api/stacks/{name} and the drift repair start it: look before acting
  const deployInput = (): DeployInput => ({
    spec,
    generation: 1,
    nodeReadyTimeoutMinutes: 30,
    pollSeconds: 10,
    checkFirst: true,
  });
  const query = (sql: string) => db.query(sql, { password: web.adminPassword });
  const deploy = async (instanceId: string): Promise<InstanceState> => {
    env.host.startNew("deployStack", { input: deployInput(), instanceId });
    await env.host.runUntilIdle();
    const state = env.host.getStatus(instanceId)!;
    assert.equal(state.runtimeStatus, "Completed", JSON.stringify(state.output));
    return state;
  };
  /** Key Vault reads of a secret's value (latest or a version), and by whom (a node's identity, or the app) */
  const secretReads = (secret: string): JournalEntry[] =>
    env.emulator.journal
      .list({ operation: "secret", method: "GET" })
      .filter((e) => new RegExp(`^/secrets/${secret}(/[0-9a-f]*)?/?$`, "i").test(e.path));
  const nodePrincipals = (): Set<string> =>
    new Set(
      [...web.sandboxes.keys()].map((vm) =>
        String((env.emulator.store.get(webVmId(vm))!.identity as { principalId: string }).principalId),
      ),
    );
  const webVmId = (vm: string) => `${names.resourceGroupId}/providers/Microsoft.Compute/virtualMachines/${vm}`;

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-real-agent-"));
    const adminPassword = `bootstrap-${Date.now()}`;
    db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword });
    env = await startJumpgateEnv({
      emulator: { runCommand: { root: path.join(workDir, "run-command"), timeoutMs: 90_000 } },
      durable: { log: (line) => logs.push(line) },
    });
    // each VM's sandbox is built from its custom data; the admin password ARM sets becomes MariaDB's
    web = RealNodes.wire(env.emulator, { db: { server: db, adminPassword } });
    await env.registry.putDesired(STACK, spec);
  });

  after(async () => {
    await web?.stop();
    await env?.stop();
    await db?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test("the deploy completes: resources, database bootstrap through one node, credentials, health", async () => {
    firstDeploy = await deploy(`deploy-${STACK}-first`);
    assert.deepEqual(web.adminPasswordsSet, [names.mysqlServerId], "ARM set the admin password once");

    // every VM ran the real agent in its own sandbox, configured by the rendered template
    assert.deepEqual([...web.sandboxes.keys()].sort(), [`${STACK}-web-1`, `${STACK}-web-2`]);
    for (const [vm, config] of web.nodeEnvFiles) {
      assert.equal(config.JUMPGATE_KEY_VAULT_URL, names.keyVaultUri, vm);
      assert.equal(config.JUMPGATE_DB_HOST, names.mysqlFqdn, vm);
      assert.equal(config.JUMPGATE_SECRET_DB_APP_A, SECRET_NAMES.dbAppPasswordA, vm);
      // the node is not even told the names of the secrets it may not read
      assert.ok(!Object.values(config).includes(SECRET_NAMES.dbAdminPassword), vm);
    }

    const calls = agentCalls(firstDeploy);
    const bootstraps = calls.filter((c) => c.command === "bootstrap-db");
    assert.deepEqual(
      bootstraps.map((c) => [c.vmName, c.args, c.result.exitCode]),
      [[`${STACK}-web-1`, [], 0]],
      "the server is new: its database is bootstrapped once, through the first node, without a check first",
    );
    assert.deepEqual((bootstraps[0].result.json as { changed: string[] }).changed, [
      `database ${GUACAMOLE_DATABASE} created`,
      "schema applied",
      `user ${APP_USERS.a} created`,
      `grants of ${APP_USERS.a} set to SELECT, INSERT, UPDATE, DELETE on ${GUACAMOLE_DATABASE}`,
      `user ${APP_USERS.b} created`,
      `grants of ${APP_USERS.b} set to SELECT, INSERT, UPDATE, DELETE on ${GUACAMOLE_DATABASE}`,
      "guacadmin password replaced",
    ]);
    // before credentials the agents answered "unhealthy: no database credentials"; then each node got app user a
    const firstHealth = calls.filter((c) => c.command === "health").slice(0, 2);
    for (const c of firstHealth) {
      assert.equal(c.result.exitCode, 1, `${c.vmName} is not healthy before it has credentials`);
      assert.equal((c.result.json as { healthy: boolean }).healthy, false);
    }
    assert.deepEqual(
      calls.filter((c) => c.command === "db-credentials").map((c) => [c.vmName, c.args, c.result.exitCode]),
      [
        [`${STACK}-web-1`, ["--user", "a"], 0],
        [`${STACK}-web-2`, ["--user", "a"], 0],
      ],
    );
    for (const sandbox of web.sandboxes.values())
      assert.deepEqual(sandbox.systemctlCalls(), ["restart tomcat.service"]);
    const record = await env.registry.get(STACK);
    assert.deepEqual(
      [record?.observed?.database?.outcome, record?.observed?.database?.server],
      ["bootstrapped", names.mysqlServerId.toLowerCase()],
    );
  });

  test("the admin step ran as a managed Run Command: the admin password went in protectedParameters, which no GET returns", async () => {
    const journal = env.emulator.journal.list();
    const managed = journal.filter((e) => /\/runCommands\/jumpgate-bootstrap-db-[0-9a-f]+$/.test(e.path));
    assert.deepEqual(
      managed.map((e) => e.method),
      ["PUT", "GET", "DELETE"],
      "created (running the script), read once for its instance view, deleted",
    );
    assert.match(managed[0].path, new RegExp(`/virtualMachines/${STACK}-web-1/runCommands/`));
    const body = managed[0].body as { properties: { protectedParameters: unknown; source: { script: string } } };
    assert.equal(body.properties.protectedParameters, "<redacted>", "the journal never holds the values");
    assert.doesNotMatch(body.properties.source.script, /PASSWORD|password/, "the script names no secret");
    // the classic (action) Run Command carried every other command, with no secret in it
    const actions = journal.filter((e) => e.operation === "action" && e.action === "runCommand");
    assert.ok(actions.length >= 4, `${actions.length} action run commands`);
    // what ARM keeps of the run command: nothing (deleted); a GET of a live one never shows the values
    const vm = `${names.resourceGroupId}/providers/Microsoft.Compute/virtualMachines/${STACK}-web-1`;
    assert.deepEqual(
      env.emulator.store.all().filter((d) => d.id.toLowerCase().startsWith(`${vm.toLowerCase()}/runcommands/`)),
      [],
    );
  });

  test("each node's identity reads its app users' secrets and nothing else of the vault; the admin password only the app reads", async () => {
    const principals = nodePrincipals();
    assert.equal(principals.size, 2);
    const nodeReads = env.emulator.journal
      .list({ operation: "secret" })
      .filter((e) => e.caller !== undefined && principals.has(e.caller));
    assert.ok(nodeReads.length > 0, "the nodes read their secrets with their own identities");
    for (const e of nodeReads) {
      assert.match(e.path, /^\/secrets\/db-app-[ab]-password(\/[0-9a-f]+)?\/?$/, `${e.method} ${e.path}`);
      assert.equal(e.status, 200, `${e.method} ${e.path}`);
    }
    const adminReads = secretReads(SECRET_NAMES.dbAdminPassword);
    assert.ok(adminReads.length > 0, "the app read the admin password to hand it over");
    assert.ok(
      adminReads.every((e) => e.caller === undefined),
      "only the app (not a node identity) read it",
    );

    // the vault refuses the node identity anything else: the real agent asked to install the admin
    // password as a certificate, and a direct request with the VM's own token
    const vm = `${STACK}-web-2`;
    const tryAdmin = await web.runAgent(vm, ["install-cert", "--secret", SECRET_NAMES.dbAdminPassword]);
    assert.equal(tryAdmin.code, 1);
    assert.match(tryAdmin.stderr, /Key Vault answered HTTP 403 \(Forbidden\) for secret 'mysql-admin-password'/);
    const token = await imdsToken(env.emulator.imds.endpointFor(webVmId(vm)), env.emulator.caPath);
    const vaultUri = String(env.emulator.store.get(names.keyVaultId)!.properties.vaultUri);
    for (const [secret, status] of [
      [SECRET_NAMES.dbAppPasswordB, 200],
      [SECRET_NAMES.dbAdminPassword, 403],
      [SECRET_NAMES.guacadminPassword, 403],
      [SECRET_NAMES.vmSshPublicKey, 403],
      ["no-such-secret", 403],
    ] as const) {
      const r = await httpsGet(`${vaultUri}secrets/${secret}?api-version=7.4`, token, env.emulator.caPath);
      assert.equal(r.status, status, `${secret}: ${r.body}`);
      if (status === 403) assert.match(r.body, /ForbiddenByRbac/);
    }
    const list = await httpsGet(`${vaultUri}secrets?api-version=7.4`, token, env.emulator.caPath);
    assert.equal(list.status, 403, "listing the vault's secrets needs a grant on the vault");
    // without the handed-over password the agent cannot act as the admin at all
    const noAdmin = await web.runAgent(vm, ["sql"], "SELECT 1;");
    assert.equal(noAdmin.code, 1);
    assert.match(noAdmin.stderr, /handed to this command by the app/);
  });

  test("MariaDB holds the schema, two least-privilege app users, and guacadmin's password is replaced", async () => {
    const tables = await query(
      `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${GUACAMOLE_DATABASE}'`,
    );
    assert.equal(tables[0][0], "23");
    for (const user of Object.values(APP_USERS)) {
      const privileges = await query(
        `SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
         WHERE GRANTEE = '''${user}''@''%''' AND TABLE_SCHEMA = '${GUACAMOLE_DATABASE}' ORDER BY 1`,
      );
      assert.deepEqual(
        privileges.map((r) => r[0]),
        ["DELETE", "INSERT", "SELECT", "UPDATE"],
      );
      const other = await query(
        `SELECT (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = '''${user}''@''%''' AND PRIVILEGE_TYPE <> 'USAGE')
              + (SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = '''${user}''@''%''' AND TABLE_SCHEMA <> '${GUACAMOLE_DATABASE}')
              + (SELECT COUNT(*) FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = '''${user}''@''%''')
              + (SELECT COUNT(*) FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = '''${user}''@''%''')`,
      );
      assert.equal(other[0][0], "0", `${user} has privileges beyond the four on ${GUACAMOLE_DATABASE}.*`);
    }
    // the app user's password is the vault's: the login Guacamole uses works
    const vault = env.emulator.store.get(names.keyVaultId)!;
    const kv = env.services.factory.secrets(String(vault.properties.vaultUri));
    const appPassword = (await kv.getSecret(SECRET_NAMES.dbAppPasswordA)).value!;
    assert.deepEqual(
      await db.query("SELECT CURRENT_USER()", {
        user: APP_USERS.a,
        password: appPassword,
        database: GUACAMOLE_DATABASE,
      }),
      [[`${APP_USERS.a}@%`]],
    );
    const guacadmin = (await kv.getSecret(SECRET_NAMES.guacadminPassword)).value!;
    const matches = (pw: string) =>
      query(
        `SELECT u.password_hash = UNHEX(SHA2(CONCAT(${sqlLiteral(pw)}, HEX(u.password_salt)), 256))
         FROM ${GUACAMOLE_DATABASE}.guacamole_user u JOIN ${GUACAMOLE_DATABASE}.guacamole_entity e ON e.entity_id = u.entity_id
         WHERE e.name = 'guacadmin'`,
      );
    assert.deepEqual(await matches("guacadmin"), [["0"]], "the default guacadmin password no longer works");
    assert.deepEqual(await matches(guacadmin), [["1"]]);
  });

  test("every node is healthy through its real NGINX, and the registry says so", async () => {
    const record = await env.registry.get(STACK);
    const nodes = record?.observed?.nodes ?? [];
    assert.deepEqual(
      nodes.map((n) => [n.name, n.healthy, n.problems]),
      [
        [`${STACK}-web-1`, true, []],
        [`${STACK}-web-2`, true, []],
      ],
    );
    assert.equal(record?.observed?.lastOperation?.outcome, "succeeded");
    for (const node of nodes) {
      const sandbox = web.sandboxes.get(node.name)!;
      // the serial the agent reported is the one this node's NGINX serves
      assert.equal(node.certificate?.serial, await servedSerial(sandbox.ports.https, names.publicFqdn), node.name);
      const probe = await sandbox.runAgent(["health", "--update-probe"]);
      assert.equal(probe.code, 0, probe.stderr);
      const served = await httpGet(sandbox.ports.probe, NODE_PROBE.path);
      assert.equal(served.status, 200, `${node.name}: the LB probe through NGINX`);
      assert.equal((JSON.parse(served.body) as { healthy: boolean }).healthy, true);
    }
  });

  test("a second deploy changes nothing: no ARM write of any kind, no Run Command, no admin secret read", async () => {
    const tablesBefore = await query(
      `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${GUACAMOLE_DATABASE}'`,
    );
    const usersBefore = await query("SELECT User, Host FROM mysql.user ORDER BY User, Host");
    // what the nodes publish: their probe timers run, the load balancer probes them (Azure Monitor's DipAvailability)
    assert.deepEqual(Object.values(await web.probeNow()), [100, 100]);
    env.emulator.journal.clear();
    secondDeploy = await deploy(`deploy-${STACK}-second`);

    assert.deepEqual(
      env.emulator.journal.writes().map((w) => `${w.method} ${w.path}`),
      [],
      "no PUT, PATCH, DELETE or POST action (Run Command included)",
    );
    assert.deepEqual(agentCalls(secondDeploy), [], "no node agent command at all");
    for (const secret of [SECRET_NAMES.dbAdminPassword, SECRET_NAMES.guacadminPassword])
      assert.deepEqual(secretReads(secret), [], `nobody read ${secret}`);
    assert.match(
      (secondDeploy.customStatus as DeployStatus).inService ?? "",
      /every web node passes the load balancer's probe; the database was bootstrapped by deploy-jgreal-first/,
    );
    assert.deepEqual(
      await query(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${GUACAMOLE_DATABASE}'`),
      tablesBefore,
    );
    assert.deepEqual(await query("SELECT User, Host FROM mysql.user ORDER BY User, Host"), usersBefore);
    assert.deepEqual(web.adminPasswordsSet, [names.mysqlServerId], "the admin password is not set again");
    for (const sandbox of web.sandboxes.values())
      assert.deepEqual(sandbox.systemctlCalls(), ["restart tomcat.service"]);
    const record = await env.registry.get(STACK);
    assert.deepEqual(
      record?.observed?.nodes.map((n) => [n.name, n.healthy]),
      [
        [`${STACK}-web-1`, true],
        [`${STACK}-web-2`, true],
      ],
    );
  });

  test("a database that drifted: the probe fails, a read-only check finds it, one admin step repairs it", async () => {
    // someone changed the app user's password behind Jumpgate's back: every node's login fails
    await query(`ALTER USER '${APP_USERS.a}'@'%' IDENTIFIED BY 'changed-by-hand'`);
    assert.deepEqual(Object.values(await web.probeNow()), [0, 0], "the nodes' probes fail");
    env.emulator.journal.clear();
    thirdDeploy = await deploy(`deploy-${STACK}-third`);
    const calls = agentCalls(thirdDeploy);
    const bootstraps = calls.filter((c) => c.command === "bootstrap-db");
    assert.deepEqual(
      bootstraps.map((c) => [c.vmName, c.args, c.result.exitCode]),
      [
        [`${STACK}-web-1`, ["--check"], 0],
        [`${STACK}-web-1`, [], 0],
      ],
    );
    assert.deepEqual((bootstraps[0].result.json as { differences: string[] }).differences, [
      `${APP_USERS.a} cannot log in to ${GUACAMOLE_DATABASE} with its password from Key Vault`,
    ]);
    assert.deepEqual((bootstraps[1].result.json as { changed: string[] }).changed, [
      `user ${APP_USERS.a} password set`,
    ]);
    // the admin password was read by the app, once, for that one step
    const adminReads = secretReads(SECRET_NAMES.dbAdminPassword);
    assert.equal(adminReads.length, 1, JSON.stringify(adminReads));
    assert.equal(adminReads[0].caller, undefined);
    const vault = env.emulator.store.get(names.keyVaultId)!;
    const kv = env.services.factory.secrets(String(vault.properties.vaultUri));
    const appPassword = (await kv.getSecret(SECRET_NAMES.dbAppPasswordA)).value!;
    assert.deepEqual(
      await db.query("SELECT CURRENT_USER()", {
        user: APP_USERS.a,
        password: appPassword,
        database: GUACAMOLE_DATABASE,
      }),
      [[`${APP_USERS.a}@%`]],
    );
    assert.deepEqual(Object.values(await web.probeNow()), [100, 100], "the nodes are in service again");
  });

  test("no generated secret value appears in histories, statuses, outputs, logs, the registry or the audit trail", async () => {
    const values = env.emulator.keyVault.secretValues(names.keyVault).filter((v) => !v.startsWith("ssh-"));
    assert.ok(values.length >= 4, `expected the stack's generated secrets, found ${values.length}`);
    assert.ok(values.includes(web.adminPassword), "MariaDB's admin password is the vault's");
    const instances = [firstDeploy, secondDeploy, thirdDeploy].map((i) => ({
      history: i.history,
      customStatus: i.customStatus,
      customStatusLog: i.customStatusLog,
      output: i.output,
      input: i.input,
    }));
    const haystacks: [string, string][] = [
      ["orchestration histories and statuses", JSON.stringify(instances)],
      ["every instance on the host", JSON.stringify(env.host.listInstances())],
      ["logs", logs.join("\n")],
      ["audit trail", JSON.stringify(await env.audit.all(STACK))],
      ["registry", JSON.stringify(await env.registry.get(STACK))],
      ["emulator journal", JSON.stringify(env.emulator.journal.list())],
      ["node.env files", JSON.stringify([...web.nodeEnvFiles.values()])],
    ];
    assert.ok(logs.length > 0, "the host logged the run");
    for (const value of values) {
      for (const [what, hay] of haystacks) assert.ok(!hay.includes(value), `a secret value leaked into the ${what}`);
    }
  });
});
