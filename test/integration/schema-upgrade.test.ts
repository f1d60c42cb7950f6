// `jumpgate-node schema-upgrade`: the real agent (infra/node/jumpgate-node as cloud-init writes it)
// against a real MariaDB over TLS holding Guacamole's real 1.6.0 schema (bootstrap-db applies the
// committed upstream scripts), with the test catalog's upgrade scripts where the installer puts the
// JDBC bundle's mysql/schema/upgrade/. The scripts between --from and --to run once, in version
// order; a repeat (a retried activity, a replayed orchestration, a second PUT) runs nothing; a
// failed run leaves the schema marked and every later run refuses; the admin password is handed
// over, never read from Key Vault, and never printed.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { renderNodeCloudInit } from "../../shared/node/cloud-init";
import { DB_ADMIN_LOGIN, GUACAMOLE_DATABASE } from "../../shared/node/constants";
import { handedSecrets } from "../../shared/node/agent";
import { SECRET_NAMES } from "../../shared/secret-names";
import { startAzure, type AzureFixture } from "../../dev/azure";
import { startNodeSandbox, type NodeSandbox } from "../../dev/node-sandbox";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";
import type { RunResult } from "../../dev/servers/process";
import { TEST_RELEASE, TEST_UPGRADE_SCRIPTS } from "../support/test-catalog";

const VAULT = "kv-schema-upgrade";

describe("schema-upgrade: Guacamole's upgrade scripts once, on the real 1.6.0 schema in MariaDB", () => {
  let db: MariaDb;
  let az: AzureFixture;
  let sandbox: NodeSandbox;
  let workDir: string;
  const secrets = {
    admin: `Pw'"\\$# ${randomBytes(12).toString("base64url")}`,
    a: randomBytes(18).toString("base64url"),
    b: randomBytes(18).toString("base64url"),
    guacadmin: randomBytes(18).toString("base64url"),
  };
  const seen: string[] = [];
  const handed = { JUMPGATE_DB_ADMIN_PASSWORD: secrets.admin, JUMPGATE_GUACADMIN_PASSWORD: secrets.guacadmin };
  const agent = async (args: string[], env: Record<string, string> = handed): Promise<RunResult> => {
    const r = await sandbox.runAgent(args, { env });
    seen.push(r.stdout, r.stderr);
    return r;
  };
  const upgrade = (from: string, to: string) => agent(["schema-upgrade", "--from", from, "--to", to]);
  const marker = async () =>
    db.query(`SELECT version, state, IFNULL(target, '') FROM ${GUACAMOLE_DATABASE}.jumpgate_schema WHERE id = 1`);
  const upgradeTableRows = async () =>
    db.query(
      `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${GUACAMOLE_DATABASE}' AND TABLE_NAME = 'guacamole_test_upgrade'`,
    );

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-schema-upgrade-"));
    db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword: secrets.admin });
    az = await startAzure({ runCommand: { root: path.join(workDir, "run-command") } });
    const vaultUrl = await az.emulator.keyVault.ensureVault(VAULT, false);
    const kv = az.factory.secrets(vaultUrl);
    // the admin password is deliberately not in the vault: the node can never read it there
    await kv.setSecret(SECRET_NAMES.dbAppPasswordA, secrets.a);
    await kv.setSecret(SECRET_NAMES.dbAppPasswordB, secrets.b);
    const document = renderNodeCloudInit({
      stackName: "upgradetest",
      fleetMode: "availabilitySet",
      publicHostname: "web.jumpgate.test",
      keyVaultUrl: vaultUrl,
      dbHost: "127.0.0.1",
    });
    sandbox = await startNodeSandbox(path.join(workDir, "node"), document, {
      env: {
        JUMPGATE_IMDS_ENDPOINT: az.emulator.url,
        JUMPGATE_CA_FILE: az.emulator.caPath,
        JUMPGATE_DB_PORT: String(db.port),
        JUMPGATE_DB_CA_FILE: db.caPath,
      },
    });
    // what install-node.sh lays out from the new release's JDBC bundle (mysql/schema/upgrade/*.sql, 0644)
    const upgradeDir = path.join(sandbox.root, "opt/jumpgate/guacamole/schema/upgrade");
    fs.mkdirSync(upgradeDir, { recursive: true, mode: 0o755 });
    for (const [name, sql] of Object.entries(TEST_UPGRADE_SCRIPTS)) {
      fs.writeFileSync(path.join(upgradeDir, name), sql, { mode: 0o644 });
    }
    const boot = await agent(["bootstrap-db"]);
    assert.equal(boot.code, 0, boot.stderr);
  });

  after(async () => {
    await sandbox?.stop();
    await az?.stop();
    await db?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    for (const text of seen) assert.ok(!text.includes(secrets.admin), "the admin password was printed");
  });

  test("the app hands the admin password to schema-upgrade, and the node cannot run it without", async () => {
    assert.deepEqual(
      handedSecrets("schema-upgrade", ["--from", "1.6.0", "--to", TEST_RELEASE]).map((h) => h.secret),
      [SECRET_NAMES.dbAdminPassword],
    );
    const alone = await agent(["schema-upgrade", "--from", "1.6.0", "--to", TEST_RELEASE], {});
    assert.equal(alone.code, 1);
    assert.match(alone.stderr, /the database admin password is handed to this command by the app/);
    const bad = await agent(["schema-upgrade", "--from", "1.6.0", "--to", "1.99.0'; DROP TABLE x; --"]);
    assert.equal(bad.code, 2, "a version that is not a release is a usage error, before any SQL");
  });

  test("1.6.0 -> the test release: the scripts in between run once, in version order; a repeat runs nothing", async () => {
    assert.deepEqual(await upgradeTableRows(), [["0"]]);
    const first = await upgrade("1.6.0", TEST_RELEASE);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout), {
      upgraded: true,
      version: TEST_RELEASE,
      from: "1.6.0",
      applied: ["upgrade-pre-1.98.0.sql", `upgrade-pre-${TEST_RELEASE}.sql`],
    });
    // 1.98.0's column exists before 1.99.0's script used it: version order, not file order
    assert.deepEqual(await db.query(`SELECT note FROM ${GUACAMOLE_DATABASE}.guacamole_test_upgrade`), [
      ["upgraded to 1.99.0"],
    ]);
    assert.deepEqual(
      await db.query(`SELECT DISTINCT jumpgate_test_upgraded_from FROM ${GUACAMOLE_DATABASE}.guacamole_user`),
      [["1.6.0"]],
    );
    assert.deepEqual(await marker(), [[TEST_RELEASE, "ready", ""]]);
    // the scripts outside the range did not run: guacamole_user is still there, and readable as before
    assert.deepEqual(
      await db.query(
        `SELECT COUNT(*) FROM ${GUACAMOLE_DATABASE}.guacamole_user u JOIN ${GUACAMOLE_DATABASE}.guacamole_entity e ON e.entity_id = u.entity_id WHERE e.name = 'guacadmin'`,
      ),
      [["1"]],
    );

    // a retried activity or a replayed orchestration: the same command again runs nothing (a
    // second CREATE TABLE would fail)
    const again = await upgrade("1.6.0", TEST_RELEASE);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), { upgraded: false, version: TEST_RELEASE, from: "1.6.0", applied: [] });
    // a rollback of the nodes to 1.6.0 leaves the schema where it is
    const back = await upgrade(TEST_RELEASE, "1.6.0");
    assert.equal(back.code, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as { upgraded: boolean }).upgraded, false);
    assert.deepEqual(await db.query(`SELECT COUNT(*) FROM ${GUACAMOLE_DATABASE}.guacamole_test_upgrade`), [["1"]]);
  });

  test("a failed run marks the schema and every later run refuses it, naming the backup as the way back", async () => {
    await db.query(`UPDATE ${GUACAMOLE_DATABASE}.jumpgate_schema SET version = '1.98.0' WHERE id = 1`);
    // the 1.99.0 script fails now (its table exists): a half-run upgrade
    const failed = await upgrade("1.98.0", TEST_RELEASE);
    assert.equal(failed.code, 1);
    assert.match(
      failed.stderr,
      /the upgrade scripts \(upgrade-pre-1\.99\.0\.sql\) failed: restore the backup taken before/,
    );
    assert.deepEqual(await marker(), [["1.98.0", "failed", TEST_RELEASE]]);
    const refused = await upgrade("1.98.0", TEST_RELEASE);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /an earlier schema upgrade from 1\.98\.0 to 1\.99\.0 is failed: restore the backup/);
    // a schema at a release the caller does not expect is not guessed at
    await db.query(`UPDATE ${GUACAMOLE_DATABASE}.jumpgate_schema SET version = '1.7.0', state = 'ready' WHERE id = 1`);
    const guessed = await upgrade("1.6.0", TEST_RELEASE);
    assert.equal(guessed.code, 1);
    assert.match(guessed.stderr, /the schema is at 1\.7\.0, not 1\.6\.0/);
  });
});
