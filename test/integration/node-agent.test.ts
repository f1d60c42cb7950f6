// The real node agent (infra/node/jumpgate-node, as the rendered cloud-init writes it) against a
// real MariaDB over TLS, real NGINX serving the rendered site, and the emulator's Key Vault and
// managed-identity endpoint: run directly with bash, and through VM Run Command with the app's
// own compute client. Only Tomcat, guacd and systemctl are stand-ins (see dev/node-sandbox.ts).
// The admin and guacadmin passwords reach the agent the way managed Run Command's protected
// parameters do, as environment variables of its script; it never reads them from Key Vault.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { after, before, describe, test } from "node:test";
import {
  agentRunCommand,
  parseBootstrapDb,
  parseDbCredentials,
  parseDbUser,
  parseDrain,
  parseHealth,
  parseInstallCert,
  splitRunCommandMessage,
} from "../../shared/node/agent";
import { customDataBase64, renderNodeCloudInit } from "../../shared/node/cloud-init";
import {
  APP_USERS,
  DB_ADMIN_LOGIN,
  GUACAMOLE_DATABASE,
  NODE_PATHS,
  NODE_PROBE,
  NODE_TOMCAT_UNIT,
} from "../../shared/node/constants";
import { SECRET_NAMES } from "../../shared/secret-names";
import { createTestVms, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";
import { startNodeSandbox, startNodeSandboxFromCustomData, type NodeSandbox } from "../../dev/node-sandbox";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";
import { findBinary, type RunResult } from "../../dev/servers/process";
import { TestCa } from "../../dev/servers/test-ca";

const HOST = "web.jumpgate.test";
const VAULT = "kv-node-agent";

/** Passwords with every character the agent must escape (quotes, backslash, $, #, spaces). */
function password(): string {
  return `Pw'"\\$#x ${randomBytes(12).toString("base64url")}`;
}

function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: HOST, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toUpperCase();
      socket.end();
      resolve(serial);
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error("TLS handshake timed out")));
    socket.on("error", reject);
  });
}

function httpGet(port: number, urlPath: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, timeout: 5_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, location: res.headers.location }));
    });
    req.on("timeout", () => req.destroy(new Error("GET timed out")));
    req.on("error", reject);
  });
}

describe("node agent: real MariaDB (TLS), real NGINX, emulated Key Vault and IMDS", () => {
  let db: MariaDb;
  let az: AzureFixture;
  let ca: TestCa;
  let intermediate: TestCa;
  let sandbox: NodeSandbox;
  let vmSandbox: NodeSandbox | undefined;
  let document: string;
  let workDir: string;
  let vaultUrl: string;
  const secrets = { admin: password(), a: password(), b: password(), guacadmin: password() };
  /** every stdout/stderr and Run Command message this test saw, for the secret scan */
  const seen: string[] = [];

  const agent = async (args: string[], input?: string, env?: Record<string, string>): Promise<RunResult> => {
    const r = await sandbox.runAgent(args, { input, ...(env ? { env } : {}) });
    seen.push(r.stdout, r.stderr);
    return r;
  };
  const ok = async (args: string[], input?: string, env?: Record<string, string>): Promise<RunResult> => {
    const r = await agent(args, input, env);
    assert.equal(r.code, 0, `jumpgate-node ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
    return r;
  };
  /** What the app hands an admin step through managed Run Command's protected parameters. */
  const handed = (admin = secrets.admin, fallback?: string): Record<string, string> => ({
    JUMPGATE_DB_ADMIN_PASSWORD: admin,
    JUMPGATE_GUACADMIN_PASSWORD: secrets.guacadmin,
    ...(fallback ? { JUMPGATE_DB_ADMIN_PASSWORD_FALLBACK: fallback } : {}),
  });
  const bootstrap = async () => parseBootstrapDb((await ok(["bootstrap-db"], undefined, handed())).stdout).changed;
  const differences = async () =>
    (JSON.parse((await ok(["bootstrap-db", "--check"])).stdout) as { differences: string[] }).differences;

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-node-agent-"));
    ca = TestCa.create(path.join(workDir, "pki"), "Jumpgate web test root");
    intermediate = ca.intermediate("Jumpgate web test issuing CA");
    db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword: secrets.admin });
    az = await startAzure({ runCommand: { root: path.join(workDir, "run-command") } });
    vaultUrl = await az.emulator.keyVault.ensureVault(VAULT, false);
    const kv = az.factory.secrets(vaultUrl);
    await kv.setSecret(SECRET_NAMES.dbAdminPassword, secrets.admin);
    await kv.setSecret(SECRET_NAMES.dbAppPasswordA, secrets.a);
    await kv.setSecret(SECRET_NAMES.dbAppPasswordB, secrets.b);
    await kv.setSecret(SECRET_NAMES.guacadminPassword, secrets.guacadmin);

    document = renderNodeCloudInit({
      stackName: "nodetest",
      fleetMode: "availabilitySet",
      publicHostname: HOST,
      keyVaultUrl: vaultUrl,
      dbHost: "127.0.0.1",
    });
    sandbox = await startNodeSandbox(path.join(workDir, "node-1"), document, {
      env: {
        JUMPGATE_IMDS_ENDPOINT: az.emulator.url,
        JUMPGATE_CA_FILE: az.emulator.caPath,
        JUMPGATE_DB_PORT: String(db.port),
        JUMPGATE_DB_CA_FILE: db.caPath,
        JUMPGATE_CERT_CA_FILE: ca.certPath,
      },
    });
  });

  after(async () => {
    await vmSandbox?.stop();
    await sandbox?.stop();
    await az?.stop();
    await db?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test("bootstrap-db creates the database, schema, users, grants and guacadmin's password; a second run changes nothing", async () => {
    // the node cannot act as the admin on its own: the app hands the password to that one command
    const alone = await agent(["bootstrap-db"]);
    assert.equal(alone.code, 1);
    assert.match(alone.stderr, /the database admin password is handed to this command by the app/);
    // the read-only check needs no admin password: it looks as the app users
    assert.deepEqual(await differences(), [
      `${APP_USERS.a} cannot log in to ${GUACAMOLE_DATABASE} with its password from Key Vault`,
      `${APP_USERS.b} cannot log in to ${GUACAMOLE_DATABASE} with its password from Key Vault`,
    ]);
    const first = { changed: await bootstrap() };
    assert.deepEqual(first.changed, [
      `database ${GUACAMOLE_DATABASE} created`,
      "schema applied",
      `user ${APP_USERS.a} created`,
      `grants of ${APP_USERS.a} set to SELECT, INSERT, UPDATE, DELETE on ${GUACAMOLE_DATABASE}`,
      `user ${APP_USERS.b} created`,
      `grants of ${APP_USERS.b} set to SELECT, INSERT, UPDATE, DELETE on ${GUACAMOLE_DATABASE}`,
      "guacadmin password replaced",
    ]);
    assert.deepEqual(await bootstrap(), []);
    assert.deepEqual(await differences(), [], "the check agrees: nothing to change");

    const tables = await db.query(
      `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${GUACAMOLE_DATABASE}'`,
    );
    assert.equal(tables[0][0], "23");
    for (const [slot, user] of Object.entries(APP_USERS)) {
      const privileges = await db.query(
        `SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
         WHERE GRANTEE = '''${user}''@''%''' AND TABLE_SCHEMA = '${GUACAMOLE_DATABASE}' ORDER BY 1`,
      );
      assert.deepEqual(
        privileges.map((r) => r[0]),
        ["DELETE", "INSERT", "SELECT", "UPDATE"],
      );
      const other = await db.query(
        `SELECT (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = '''${user}''@''%''' AND PRIVILEGE_TYPE <> 'USAGE')
              + (SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = '''${user}''@''%''' AND TABLE_SCHEMA <> '${GUACAMOLE_DATABASE}')
              + (SELECT COUNT(*) FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = '''${user}''@''%''')`,
      );
      assert.equal(other[0][0], "0", `${user} has privileges beyond the four on ${GUACAMOLE_DATABASE}.*`);
      assert.deepEqual(await db.query(`SELECT ssl_type FROM mysql.user WHERE User = '${user}' AND Host = '%'`), [
        ["ANY"],
      ]);
      const pw = slot === "a" ? secrets.a : secrets.b;
      assert.deepEqual(await db.query("SELECT CURRENT_USER()", { user, password: pw, database: GUACAMOLE_DATABASE }), [
        [`${user}@%`],
      ]);
      const plain = await db.tryQuery("SELECT 1", { user, password: pw, tls: false });
      assert.equal(plain.ok, false, "the app user must not log in without TLS");
    }

    // Guacamole's scheme: SHA-256(password || HEX(salt)); the default 'guacadmin' no longer matches
    const matches = (pw: string) =>
      db.query(
        `SELECT u.password_hash = UNHEX(SHA2(CONCAT(${sqlLiteral(pw)}, HEX(u.password_salt)), 256))
         FROM ${GUACAMOLE_DATABASE}.guacamole_user u JOIN ${GUACAMOLE_DATABASE}.guacamole_entity e ON e.entity_id = u.entity_id
         WHERE e.name = 'guacadmin'`,
      );
    assert.deepEqual(await matches("guacadmin"), [["0"]]);
    assert.deepEqual(await matches(secrets.guacadmin), [["1"]]);
  });

  test("bootstrap-db --check sees every drift without the admin password, and bootstrap-db puts it back", async () => {
    // an extra grant, TLS no longer required, guacadmin's default password back
    await db.query(`GRANT CREATE ON ${GUACAMOLE_DATABASE}.* TO '${APP_USERS.b}'@'%'`);
    await db.query(`ALTER USER '${APP_USERS.a}'@'%' REQUIRE NONE`);
    await db.query(
      `UPDATE ${GUACAMOLE_DATABASE}.guacamole_user u JOIN ${GUACAMOLE_DATABASE}.guacamole_entity e ON e.entity_id = u.entity_id
       SET u.password_hash = UNHEX(SHA2(CONCAT('guacadmin', HEX(u.password_salt)), 256)) WHERE e.name = 'guacadmin'`,
    );
    assert.deepEqual(await differences(), [
      `${APP_USERS.a} does not require TLS`,
      "guacadmin still has its default password",
      `grants of ${APP_USERS.b} are not exactly SELECT, INSERT, UPDATE, DELETE on ${GUACAMOLE_DATABASE}`,
    ]);
    assert.deepEqual(await bootstrap(), [
      `user ${APP_USERS.a} requires TLS`,
      `grants of ${APP_USERS.b} set to SELECT, INSERT, UPDATE, DELETE on ${GUACAMOLE_DATABASE}`,
      "guacadmin password replaced",
    ]);
    // a password changed behind Jumpgate's back
    await db.query(`ALTER USER '${APP_USERS.b}'@'%' IDENTIFIED BY 'drifted-password'`);
    assert.deepEqual(await differences(), [
      `${APP_USERS.b} cannot log in to ${GUACAMOLE_DATABASE} with its password from Key Vault`,
    ]);
    assert.deepEqual(await bootstrap(), [`user ${APP_USERS.b} password set`]);
    assert.deepEqual(await bootstrap(), []);
    assert.deepEqual(await differences(), []);
  });

  test("health is unhealthy until db-credentials installs a login; then it reports the served certificate and the database", async () => {
    const before = await agent(["health"]);
    assert.equal(before.code, 1);
    const unhealthy = parseHealth(before.stdout);
    assert.equal(unhealthy.healthy, false);
    assert.equal(unhealthy.database, false);
    assert.match(unhealthy.checks.find((c) => c.name === "database")!.detail, /no database credentials/);

    const switched = parseDbCredentials((await ok(["db-credentials", "--user", "a"])).stdout);
    assert.equal(switched.user, APP_USERS.a);
    assert.deepEqual(sandbox.systemctlCalls(), ["restart tomcat.service"]);
    const properties = path.join(sandbox.root, NODE_PATHS.guacamoleProperties);
    assert.equal(fs.statSync(properties).mode & 0o777, 0o640);
    const text = fs.readFileSync(properties, "utf8");
    assert.match(text, new RegExp(`^mysql-username: ${APP_USERS.a}$`, "m"));
    assert.match(text, /^mysql-ssl-mode: verify-identity$/m);
    assert.match(text, /^guacd-hostname: 127\.0\.0\.1$/m, "settings outside the database block survive");

    const health = parseHealth((await ok(["health"])).stdout);
    assert.equal(health.healthy, true);
    assert.deepEqual(
      [health.nginx, health.tomcat, health.guacd, health.database, health.draining],
      [true, true, true, true, false],
    );
    assert.equal(health.liveSessions, 0);
    assert.equal(health.certificate?.serial, await servedSerial(sandbox.ports.https));
    assert.equal(health.certificate?.selfSigned, true, "the bootstrap certificate is self-signed");
    assert.equal(health.installed, null, "no installer ran in the sandbox");
    const marker = { guacamole: "1.6.0", tomcat: "9.0.118", installedAt: "2025-06-22T00:00:00Z" };
    fs.writeFileSync(path.join(sandbox.root, "var/lib/jumpgate/installed.json"), JSON.stringify(marker) + "\n");
    assert.deepEqual(parseHealth((await ok(["health"])).stdout).installed, marker);
    assert.match(health.checks.find((c) => c.name === "database")!.detail, new RegExp(`as ${APP_USERS.a}`));
  });

  test("db-credentials refuses a login that does not work and keeps the current one", async () => {
    await db.query(`ALTER USER '${APP_USERS.b}'@'%' IDENTIFIED BY 'not-the-vault-password'`);
    const r = await agent(["db-credentials", "--user", "b"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot log in/);
    const text = fs.readFileSync(path.join(sandbox.root, NODE_PATHS.guacamoleProperties), "utf8");
    assert.match(text, new RegExp(`^mysql-username: ${APP_USERS.a}$`, "m"));
    assert.deepEqual(await bootstrap(), [`user ${APP_USERS.b} password set`]);
  });

  test("db-user sets the idle app user's password from a given secret version, tests real logins, and never the node's own user", async () => {
    const kv = az.factory.secrets(vaultUrl);
    const versionOf = async (name: string) => (await kv.getSecret(name)).properties.version!;
    const bSettled = await versionOf(SECRET_NAMES.dbAppPasswordB);
    const aCurrent = await versionOf(SECRET_NAMES.dbAppPasswordA);
    // a rotation's pending version: in Key Vault before the database has it
    const next = password();
    const pending = await kv.setSecret(SECRET_NAMES.dbAppPasswordB, next, {
      tags: { "jumpgate-rotation": "pending", "jumpgate-replaces": bSettled },
    });
    const v = pending.properties.version!;
    const early = await agent(["db-user", "test", "--user", "b", "--version", v]);
    assert.equal(early.code, 1, "the database does not know the pending password yet");
    assert.match(early.stderr, new RegExp(`${APP_USERS.b} cannot log in and query`));
    // meanwhile bootstrap-db (and its check) keep the settled version instead of pushing the unsettled one
    assert.deepEqual(await bootstrap(), []);
    assert.deepEqual(await differences(), []);
    assert.equal((await agent(["db-user", "test", "--user", "b", "--version", bSettled])).code, 0);

    const setPassword = () => ok(["db-user", "set-password", "--user", "b", "--version", v], undefined, handed());
    const set = parseDbUser((await setPassword()).stdout);
    assert.deepEqual([set.user, set.slot, set.version, set.changed], [APP_USERS.b, "b", v, true]);
    assert.equal(parseDbUser((await setPassword()).stdout).changed, false);
    const tested = parseDbUser((await ok(["db-user", "test", "--user", "b", "--version", v])).stdout);
    assert.equal(tested.login, true);
    const login = (pw: string) =>
      db.tryQuery("SELECT 1", { user: APP_USERS.b, password: pw, database: GUACAMOLE_DATABASE });
    assert.equal((await login(next)).ok, true, "the new password logs in");
    assert.equal((await login(secrets.b)).ok, false, "the replaced one no longer does");
    // bootstrap-db accepts the pending version once the database has it
    assert.deepEqual(await bootstrap(), []);

    // the user this node's Guacamole logs in as is never changed under it
    const own = await agent(["db-user", "set-password", "--user", "a", "--version", aCurrent], undefined, handed());
    assert.equal(own.code, 1);
    assert.match(own.stderr, /refusing to change its password/);
    // the health answer names the user
    assert.equal(parseHealth((await ok(["health"])).stdout).databaseUser, APP_USERS.a);

    // the admin: the app hands over a rotation's pending version (and the settled one it replaces),
    // which the server does not have yet: admin work goes on with the settled one
    const nextAdmin = password();
    const av = "0123456789abcdef0123456789abcdef";
    const test = await agent(["db-user", "test", "--user", "admin", "--version", av], undefined, handed(nextAdmin));
    assert.equal(test.code, 1);
    const unhanded = await agent(["db-user", "test", "--user", "admin", "--version", av]);
    assert.match(unhanded.stderr, /handed to this command by the app/, "never read from Key Vault");
    const who = await ok(
      ["sql", "--format", "jsonl"],
      "SELECT CURRENT_USER() AS who;",
      handed(nextAdmin, secrets.admin),
    );
    assert.deepEqual(
      JSON.parse(who.stdout),
      { who: `${DB_ADMIN_LOGIN}@%` },
      "sql falls back to the settled admin password",
    );
    assert.match(who.stderr, /using the settled version it replaces/);
    // once the server has it (ARM set it), the pending version is the one that works
    await db.query(`ALTER USER '${DB_ADMIN_LOGIN}'@'%' IDENTIFIED BY ${sqlLiteral(nextAdmin)}`);
    const adminTest = parseDbUser(
      (await ok(["db-user", "test", "--user", "admin", "--version", av], undefined, handed(nextAdmin))).stdout,
    );
    assert.deepEqual([adminTest.login, adminTest.secret], [true, SECRET_NAMES.dbAdminPassword]);
    const after = await ok(["sql"], "SELECT 1;", handed(nextAdmin, secrets.admin));
    assert.doesNotMatch(after.stderr, /using the settled version it replaces/);
    // put the admin back as it was for the tests that follow (their queries use the first password)
    await db.query(`ALTER USER '${DB_ADMIN_LOGIN}'@'%' IDENTIFIED BY ${sqlLiteral(secrets.admin)}`, {
      password: nextAdmin,
    });
    await kv.setSecret(SECRET_NAMES.dbAppPasswordB, next);
    secrets.b = next;
  });

  test("the probe follows health --update-probe, answers 503 while draining and 200 again after drain off", async () => {
    await ok(["health", "--update-probe"]);
    const healthy = await httpGet(sandbox.ports.probe, NODE_PROBE.path);
    assert.equal(healthy.status, 200);
    assert.equal((JSON.parse(healthy.body) as { healthy: boolean }).healthy, true);

    assert.equal(parseDrain((await ok(["drain", "on"])).stdout).draining, true);
    assert.equal((await httpGet(sandbox.ports.probe, NODE_PROBE.path)).status, 503);
    const health = parseHealth((await ok(["health"])).stdout);
    assert.equal(health.draining, true);

    assert.equal(parseDrain((await ok(["drain", "off"])).stdout).draining, false);
    assert.equal((await httpGet(sandbox.ports.probe, NODE_PROBE.path)).status, 200);
    assert.equal((await httpGet(sandbox.ports.probe, "/other")).status, 404);

    // Tomcat down: the next check takes the node out of rotation, and the next passing one puts it back
    const down = await sandbox.runAgent(["health", "--update-probe"], {
      env: { JUMPGATE_TOMCAT_URL: "http://127.0.0.1:9" },
    });
    seen.push(down.stdout, down.stderr);
    assert.equal(down.code, 1);
    assert.equal(parseHealth(down.stdout).tomcat, false);
    const unhealthy = await httpGet(sandbox.ports.probe, NODE_PROBE.path);
    assert.deepEqual([unhealthy.status, JSON.parse(unhealthy.body)], [503, { healthy: false, draining: false }]);
    await ok(["health", "--update-probe"]);
    assert.equal((await httpGet(sandbox.ports.probe, NODE_PROBE.path)).status, 200);
  });

  test("the database check verifies the server's certificate (wrong CA: fails) and speaks the MySQL 8 client's TLS options", async () => {
    const wrongCa = await sandbox.runAgent(["health"], { env: { JUMPGATE_DB_CA_FILE: az.emulator.caPath } });
    seen.push(wrongCa.stdout, wrongCa.stderr);
    const health = parseHealth(wrongCa.stdout);
    assert.deepEqual([wrongCa.code, health.database, health.nginx], [1, false, true]);

    // Ubuntu's node runs the MySQL 8 client, which spells verification differently from MariaDB's
    const fake = path.join(workDir, "mysql8");
    const seenOptions = path.join(workDir, "mysql8-options");
    fs.writeFileSync(
      fake,
      `#!/usr/bin/env bash\nif [[ \${1:-} == --version ]]; then echo 'mysql  Ver 8.0.41-0ubuntu0.24.04.1 for Linux on x86_64 ((Ubuntu))'; exit 0; fi\n` +
        `grep -v '^password=' "\${1#--defaults-file=}" >'${seenOptions}'\nexit 1\n`,
      { mode: 0o755 },
    );
    const r = await sandbox.runAgent(["health"], { env: { JUMPGATE_MYSQL: fake } });
    seen.push(r.stdout, r.stderr);
    const options = fs.readFileSync(seenOptions, "utf8");
    assert.match(options, /^ssl-mode=VERIFY_IDENTITY$/m);
    assert.match(options, new RegExp(`^ssl-ca="${db.caPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"$`, "m"));
    assert.doesNotMatch(options, /ssl-verify-server-cert/);
    assert.match(options, new RegExp(`^user="${APP_USERS.a}"$`, "m"));
  });

  test("drain --wait waits for live guacd sessions to end", async () => {
    await sandbox.guacd.openSession();
    await sandbox.guacd.openSession();
    assert.equal(parseHealth((await ok(["health"])).stdout).liveSessions, 2);
    const timer = setTimeout(() => sandbox.guacd.closeSessions(), 800);
    const started = Date.now();
    try {
      const drained = parseDrain((await ok(["drain", "on", "--wait", "15"])).stdout);
      assert.equal(drained.drained, true);
      assert.equal(drained.liveSessions, 0);
      assert.ok(Date.now() - started >= 800, "it waited for the sessions to end");
    } finally {
      clearTimeout(timer);
    }
    await sandbox.guacd.openSession();
    const deadline = parseDrain((await ok(["drain", "on", "--wait", "1"])).stdout);
    assert.deepEqual([deadline.drained, deadline.liveSessions], [false, 1]);
    sandbox.guacd.closeSessions();
    await ok(["drain", "off"]);
  });

  test("install-cert swaps in a valid bundle and keeps the old certificate on a bad one", async () => {
    const kv = az.factory.secrets(await az.emulator.keyVault.ensureVault(VAULT, false));
    const leaf = intermediate.issue({ commonName: HOST, dnsNames: [HOST] });
    await kv.setSecret(SECRET_NAMES.tlsBundle, leaf.keyPem + leaf.certPem + intermediate.certPem);
    const previous = await servedSerial(sandbox.ports.https);
    const installed = parseInstallCert((await ok(["install-cert", "--secret", SECRET_NAMES.tlsBundle])).stdout);
    assert.equal(installed.serial, leaf.serial);
    assert.equal(installed.previousSerial, previous);
    assert.equal(await servedSerial(sandbox.ports.https), leaf.serial);
    assert.equal(fs.statSync(path.join(sandbox.root, NODE_PATHS.tlsKey)).mode & 0o777, 0o600);
    const health = parseHealth((await ok(["health"])).stdout);
    assert.equal(health.certificate?.serial, leaf.serial);
    assert.equal(health.certificate?.selfSigned, false);

    const other = intermediate.issue({ commonName: HOST, dnsNames: [HOST] });
    const wrongHost = intermediate.issue({
      commonName: "elsewhere.jumpgate.test",
      dnsNames: ["elsewhere.jumpgate.test"],
    });
    const untrusted = TestCa.create(path.join(workDir, "rogue"), "Rogue CA").issue({
      commonName: HOST,
      dnsNames: [HOST],
    });
    const bad: [string, string, RegExp][] = [
      ["key mismatch", other.keyPem + leaf.certPem + intermediate.certPem, /does not match the certificate/],
      ["wrong hostname", wrongHost.keyPem + wrongHost.certPem + intermediate.certPem, /does not verify for/],
      ["untrusted issuer", untrusted.keyPem + untrusted.certPem, /does not verify for/],
      ["no key", leaf.certPem + intermediate.certPem, /no readable private key/],
    ];
    for (const [what, bundle, message] of bad) {
      const version = (await kv.setSecret(SECRET_NAMES.tlsBundle, bundle)).properties.version!;
      const r = await agent(["install-cert", "--secret", SECRET_NAMES.tlsBundle, "--version", version]);
      assert.equal(r.code, 1, `${what}: install-cert must fail`);
      assert.match(r.stderr, message, what);
      assert.equal(await servedSerial(sandbox.ports.https), leaf.serial, `${what}: the old certificate stays`);
    }

    // a valid bundle NGINX refuses to load (here: `nginx -t` fails) is rolled back
    const next = intermediate.issue({ commonName: HOST, dnsNames: [HOST] });
    const version = (await kv.setSecret(SECRET_NAMES.tlsBundle, next.keyPem + next.certPem + intermediate.certPem))
      .properties.version!;
    const chain = fs.readFileSync(path.join(sandbox.root, NODE_PATHS.tlsCert), "utf8");
    const refused = await sandbox.runAgent(["install-cert", "--secret", SECRET_NAMES.tlsBundle, "--version", version], {
      env: { JUMPGATE_NGINX: findBinary("false") },
    });
    seen.push(refused.stdout, refused.stderr);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /previous one is back in place/);
    assert.equal(fs.readFileSync(path.join(sandbox.root, NODE_PATHS.tlsCert), "utf8"), chain);
    assert.equal(await servedSerial(sandbox.ports.https), leaf.serial);
    assert.equal((await sandbox.nginx.test()).ok, true, "the restored files still pass nginx -t");
  });

  test("acme-challenge serves HTTP-01 tokens on port 80, which otherwise redirects to HTTPS", async () => {
    const token = "Ab-_" + randomBytes(16).toString("base64url");
    const keyAuth = `${token}.${randomBytes(32).toString("base64url")}`;
    await ok(["acme-challenge", "put", token, keyAuth]);
    const served = await httpGet(sandbox.ports.http, `/.well-known/acme-challenge/${token}`);
    assert.deepEqual([served.status, served.body], [200, keyAuth]);
    const redirect = await httpGet(sandbox.ports.http, "/guacamole/?x=1");
    assert.deepEqual([redirect.status, redirect.location], [301, `https://${HOST}/guacamole/?x=1`]);

    for (const bad of [
      ["put", "../etc", "x.y"],
      ["put", "a/b", "a/b.c"],
      ["put", token, "other.thumb"],
      ["remove", "a b"],
    ]) {
      const r = await agent(["acme-challenge", ...bad]);
      assert.equal(r.code, 2, `acme-challenge ${bad.join(" ")} must be refused`);
    }
    await ok(["acme-challenge", "remove", token]);
    assert.equal((await httpGet(sandbox.ports.http, `/.well-known/acme-challenge/${token}`)).status, 404);
  });

  test("sql runs as the admin over TLS and prints TSV or JSON lines", async () => {
    const tsv = await ok(
      ["sql", "--database", GUACAMOLE_DATABASE],
      "SELECT name, type FROM guacamole_entity;",
      handed(),
    );
    assert.equal(tsv.stdout, "name\ttype\nguacadmin\tUSER\n");
    const jsonl = await ok(
      ["sql", "--format", "jsonl"],
      "SELECT CURRENT_USER() AS who, NULL AS nothing, 'a\\tb' AS tab;",
      handed(),
    );
    assert.deepEqual(JSON.parse(jsonl.stdout), { who: `${DB_ADMIN_LOGIN}@%`, nothing: null, tab: "a\tb" });
    const failed = await agent(["sql"], "SELECT * FROM no_such_table;", handed());
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /No database selected|doesn't exist/);
  });

  test("usage errors exit 2 with a message", async () => {
    for (const args of [
      [],
      ["bogus"],
      ["drain"],
      ["drain", "on", "--wait", "soon"],
      ["db-credentials", "--user", "c"],
    ]) {
      const r = await agent(args);
      assert.equal(r.code, 2, `jumpgate-node ${args.join(" ")}`);
      assert.match(r.stderr, /usage error/);
    }
  });

  test("restart-services restarts a wedged Tomcat's unit and answers once its own check passes again", async () => {
    const before = sandbox.systemctlCalls().length;
    sandbox.tomcat.fail();
    const down = await agent(["health"]);
    assert.equal(down.code, 1);
    assert.equal((JSON.parse(down.stdout) as { tomcat: boolean }).tomcat, false);
    // systemd (here: the test) starts the unit again when the agent asks for its restart
    let restarted = false;
    const follower = setInterval(() => {
      if (restarted || !sandbox.systemctlCalls().slice(before).includes(`restart ${NODE_TOMCAT_UNIT}`)) return;
      restarted = true;
      void sandbox.tomcat.stop().then(() => sandbox.tomcat.start());
    }, 20);
    let r: RunResult;
    try {
      r = await agent(["restart-services", NODE_TOMCAT_UNIT]);
    } finally {
      clearInterval(follower);
    }
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as {
      ok: boolean;
      services: { unit: string; restarted: boolean; ok: boolean; detail: string }[];
    };
    assert.equal(answer.ok, true);
    assert.deepEqual(
      answer.services.map((u) => [u.unit, u.restarted, u.ok, u.detail]),
      [[NODE_TOMCAT_UNIT, true, true, "GET /api/languages: 200"]],
    );
    assert.deepEqual(sandbox.systemctlCalls().slice(before), [`restart ${NODE_TOMCAT_UNIT}`]);
    const after = JSON.parse((await agent(["health"])).stdout) as { tomcat: boolean; failingUnits: unknown[] };
    assert.deepEqual([after.tomcat, after.failingUnits], [true, []]);
  });

  test("restart-services restarts in dependency order (guacd, Tomcat, NGINX), each unit once", async () => {
    const before = sandbox.systemctlCalls().length;
    const r = await agent(["restart-services", "nginx.service", NODE_TOMCAT_UNIT, "guacd.service", "nginx.service"]);
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as { ok: boolean; services: { unit: string; ok: boolean }[] };
    assert.deepEqual(
      answer.services.map((u) => [u.unit, u.ok]),
      [
        ["guacd.service", true],
        [NODE_TOMCAT_UNIT, true],
        ["nginx.service", true],
      ],
    );
    assert.deepEqual(sandbox.systemctlCalls().slice(before), [
      "restart guacd.service",
      `restart ${NODE_TOMCAT_UNIT}`,
      "restart nginx.service",
    ]);
  });

  test("restart-services refuses any unit that is not one of the node's services, and restarts nothing", async () => {
    const before = sandbox.systemctlCalls().length;
    for (const args of [
      [],
      ["sshd.service"],
      [NODE_TOMCAT_UNIT, "walinuxagent.service"],
      ["tomcat"],
      ["../tomcat.service"],
      ["--now", NODE_TOMCAT_UNIT],
      [`${NODE_TOMCAT_UNIT} sshd.service`],
    ]) {
      const r = await agent(["restart-services", ...args]);
      assert.equal(r.code, 2, `restart-services ${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /usage error/);
      assert.equal(r.stdout, "");
    }
    assert.deepEqual(sandbox.systemctlCalls().slice(before), [], "nothing restarted");
  });

  test("restart-services reports a unit that does not come back (systemd says failed) and exits 1, without waiting out its bound", async () => {
    const before = sandbox.systemctlCalls().length;
    sandbox.tomcat.fail();
    sandbox.failUnit(NODE_TOMCAT_UNIT);
    try {
      const r = await agent(["restart-services", NODE_TOMCAT_UNIT]);
      assert.equal(r.code, 1, r.stderr);
      const answer = JSON.parse(r.stdout) as {
        ok: boolean;
        services: { unit: string; restarted: boolean; ok: boolean; detail: string; waitedSeconds: number }[];
      };
      assert.equal(answer.ok, false);
      const [tomcat] = answer.services;
      assert.deepEqual([tomcat.unit, tomcat.restarted, tomcat.ok], [NODE_TOMCAT_UNIT, true, false]);
      assert.match(tomcat.detail, /answered '503'; tomcat\.service is failed/);
      assert.ok(tomcat.waitedSeconds < 90, "systemd's failed state ends the wait");
      assert.deepEqual(sandbox.systemctlCalls().slice(before), [`restart ${NODE_TOMCAT_UNIT}`]);

      // a restart systemd refuses: not restarted, said so, exit 1
      sandbox.failNextSystemctl();
      const refused = await agent(["restart-services", "guacd.service"]);
      assert.equal(refused.code, 1);
      const said = JSON.parse(refused.stdout) as { ok: boolean; services: { restarted: boolean; detail: string }[] };
      assert.equal(said.ok, false);
      assert.equal(said.services[0].restarted, false);
      assert.match(said.services[0].detail, /systemctl restart guacd\.service failed: Job failed/);
    } finally {
      fs.rmSync(path.join(sandbox.root, ".test", "failed-units"), { recursive: true, force: true });
      await sandbox.tomcat.stop();
      await sandbox.tomcat.start();
    }
  });

  test("through VM Run Command: a VM created with the template's custom data runs the same agent in its sandbox", async () => {
    const emulator = az.emulator;
    emulator.runCommand.options.prepareSandbox = async (vm, dir) => {
      const customData = emulator.store.getSecret(vm.id, "properties.osProfile.customData");
      assert.equal(typeof customData, "string", "the VM carries the template as custom data");
      vmSandbox = await startNodeSandboxFromCustomData(dir, customData as string, {
        env: {
          JUMPGATE_IMDS_ENDPOINT: emulator.url,
          JUMPGATE_CA_FILE: emulator.caPath,
          JUMPGATE_DB_PORT: String(db.port),
          JUMPGATE_DB_CA_FILE: db.caPath,
          JUMPGATE_CERT_CA_FILE: ca.certPath,
        },
      });
      // the agent finds its root through {sandbox}; the rest is this VM's stand-ins and ports
      const { JUMPGATE_NODE_ROOT: _root, ...rest } = vmSandbox.env;
      Object.assign(emulator.runCommand.options.env, rest, { JUMPGATE_NODE_ROOT: "{sandbox}" });
    };

    const lro = () => az.factory.lro();
    const compute = az.factory.compute(SUB);
    await createTestVms(az, ["web-1"], {
      identity: { type: "SystemAssigned" },
      osProfile: { computerName: "web-1", adminUsername: "jumpgate", customData: customDataBase64(document) },
    });

    const run = async (command: string, args: string[] = []) => {
      const result = await compute.virtualMachines.runCommand(RG, "web-1", agentRunCommand(command, args), lro());
      const message = result.value?.[0].message ?? "";
      seen.push(message);
      return splitRunCommandMessage(message);
    };

    const switched = await run("db-credentials", ["--user", "b"]);
    assert.equal(switched.succeeded, true, switched.stderr);
    assert.equal(parseDbCredentials(switched.stdout).user, APP_USERS.b);
    assert.ok(vmSandbox, "prepareSandbox built the VM's sandbox");
    assert.deepEqual(vmSandbox.systemctlCalls(), ["restart tomcat.service"]);
    assert.ok(
      vmSandbox.root.startsWith(path.join(workDir, "run-command")),
      "the sandbox is the VM's run-command directory",
    );

    const health = await run("health");
    assert.equal(health.succeeded, true, health.stderr);
    const parsed = parseHealth(health.stdout);
    assert.equal(parsed.healthy, true);
    assert.equal(parsed.certificate?.serial, await servedSerial(vmSandbox.ports.https));

    const leaf = intermediate.issue({ commonName: HOST, dnsNames: [HOST] });
    const kv = az.factory.secrets(await emulator.keyVault.ensureVault(VAULT, false));
    const version = (await kv.setSecret(SECRET_NAMES.tlsBundle, leaf.keyPem + leaf.certPem + intermediate.certPem))
      .properties.version!;
    const installed = await run("install-cert", ["--secret", SECRET_NAMES.tlsBundle, "--version", version]);
    assert.equal(installed.succeeded, true, installed.stderr);
    assert.equal(parseInstallCert(installed.stdout).serial, leaf.serial);
    assert.equal(await servedSerial(vmSandbox.ports.https), leaf.serial);

    const drained = await run("drain", ["on"]);
    assert.equal(parseDrain(drained.stdout).draining, true);
    assert.equal((await httpGet(vmSandbox.ports.probe, NODE_PROBE.path)).status, 503);

    const bad = await run("install-cert", ["--secret", "no-such-secret"]);
    assert.equal(bad.succeeded, false);
    assert.equal(bad.exitStatus, 1);
    assert.match(bad.stderr, /HTTP 404 \(SecretNotFound\)/);
  });

  test("no secret value reaches a command line: every program the agent runs is recorded", async () => {
    const shims = path.join(workDir, "shims");
    const argvLog = path.join(workDir, "argv.log");
    fs.mkdirSync(shims, { recursive: true });
    const programs = [
      "curl",
      "jq",
      "openssl",
      "mysql",
      "nginx",
      "cat",
      "rm",
      "mkdir",
      "mktemp",
      "chmod",
      "chown",
      "mv",
      "cp",
      "sed",
      "awk",
      "tr",
      "grep",
      "date",
      "uname",
      "ss",
      "wc",
      "timeout",
      "bash",
      "flock",
      "getent",
      "id",
      "sleep",
      "head",
    ];
    for (const program of programs) {
      let real: string;
      try {
        real = findBinary(program);
      } catch {
        continue;
      }
      // each program records its argv, and whether it inherited a handed-over password
      fs.writeFileSync(
        path.join(shims, program),
        `#!/bin/bash\nprintf '%s\\x1f' "\${0##*/}" "$@" >>'${argvLog}'\nprintf '\\n' >>'${argvLog}'\n` +
          // (bash alone: a shimmed grep calling itself would never end)
          `if [[ -n \${JUMPGATE_DB_ADMIN_PASSWORD+x}\${JUMPGATE_DB_ADMIN_PASSWORD_FALLBACK+x}\${JUMPGATE_GUACADMIN_PASSWORD+x} ]]; then echo "INHERITED \${0##*/}" >>'${argvLog}'; fi\n` +
          `exec '${real}' "$@"\n`,
        { mode: 0o755 },
      );
    }
    const env = {
      PATH: `${shims}:${sandbox.env.PATH}`,
      JUMPGATE_MYSQL: path.join(shims, "mysql"),
      JUMPGATE_NGINX: [path.join(shims, "nginx"), ...sandbox.nginx.command.slice(1)].join(" "),
    };
    const kv = az.factory.secrets(await az.emulator.keyVault.ensureVault(VAULT, false));
    const leaf = intermediate.issue({ commonName: HOST, dnsNames: [HOST] });
    const version = (await kv.setSecret(SECRET_NAMES.tlsBundle, leaf.keyPem + leaf.certPem + intermediate.certPem))
      .properties.version!;
    for (const args of [
      ["bootstrap-db"],
      ["db-credentials", "--user", "b"],
      ["sql", "--database", GUACAMOLE_DATABASE],
      ["install-cert", "--secret", SECRET_NAMES.tlsBundle, "--version", version],
      ["health", "--update-probe"],
    ]) {
      const r = await sandbox.runAgent(args, {
        env: { ...env, ...handed(secrets.admin, secrets.admin) },
        input: "SELECT COUNT(*) FROM guacamole_user;",
      });
      seen.push(r.stdout, r.stderr);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    const argv = fs.readFileSync(argvLog, "utf8");
    const calls = argv.split("\n").map((line) => line.split("\x1f"));
    assert.ok(
      calls.some((c) => c[0] === "mysql" && c[1].startsWith("--defaults-file=")),
      "the shims saw the agent's programs",
    );
    assert.ok(calls.some((c) => c[0] === "curl" && c[1] === "--config" && c[2] === "-"));
    for (const value of az.emulator.keyVault.secretValues(VAULT)) {
      for (const needle of [value, ...value.split("\n").filter((l) => l.length > 40 && !l.startsWith("-----"))]) {
        assert.ok(!argv.includes(needle), "a secret value was passed on a command line");
      }
    }
    assert.doesNotMatch(argv, /Bearer|emulator-imds\./, "the access token stays off command lines too");
    // only the agent's own interpreter (the shimmed bash that runs it) sees the handed-over passwords
    const lines = argv.split("\n");
    const inherited = lines.flatMap((l, i) =>
      l.startsWith("INHERITED") ? [{ program: l, after: lines[i - 1].split("\x1f") }] : [],
    );
    assert.ok(inherited.length > 0, "the admin steps were handed the passwords");
    for (const { program, after } of inherited) {
      assert.equal(program, "INHERITED bash", "no program the agent runs inherits them");
      assert.ok(after[0] === "bash" && after[1].endsWith("/jumpgate-node"), after.join(" "));
    }
  });

  test("the emulator's IMDS token endpoint insists on the Metadata header like IMDS", async () => {
    const get = (
      headers: Record<string, string>,
      query = "api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
    ) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const req = https.get(
          `${az.emulator.url}/metadata/identity/oauth2/token?${query}`,
          { ca: az.emulator.caPem, headers, timeout: 5_000 },
          (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString("utf8")));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }),
            );
          },
        );
        req.on("error", reject);
      });
    const missing = await get({});
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, "invalid_request");
    assert.equal((await get({ Metadata: "true" }, "resource=x")).status, 400);
    const token = await get({ Metadata: "true" });
    assert.equal(token.status, 200);
    assert.equal(token.body.token_type, "Bearer");
    assert.equal(token.body.resource, "https://vault.azure.net");
    assert.equal(typeof token.body.access_token, "string");
    assert.match(String(token.body.expires_in), /^\d+$/);
    assert.match(String(token.body.expires_on), /^\d+$/);
  });

  test("no secret value appears in any output, the rendered template or the emulator's journal", async () => {
    const values = [...az.emulator.keyVault.secretValues(VAULT), ...Object.values(secrets)];
    assert.ok(values.length >= 8);
    const haystacks = [
      ...seen,
      document,
      JSON.stringify(az.emulator.journal.list({})),
      fs.readFileSync(path.join(sandbox.root, "etc/jumpgate/node.env"), "utf8"),
    ];
    for (const value of values) {
      // multi-line secrets (the TLS bundle) are checked line by line as well
      const needles = [value, ...value.split("\n").filter((l) => l.length > 40 && !l.startsWith("-----"))];
      for (const needle of needles) {
        for (const hay of haystacks) assert.ok(!hay.includes(needle), "a secret value leaked into test-visible output");
      }
    }
  });
});

function sqlLiteral(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}
