// MySQL flexible server backups and point-in-time restore through the pinned client
// (@azure/arm-mysql-flexible 3.1.0; the on-demand backup's PUT through its pipeline at a stable
// api-version, see test/support/mysql-backups.ts) against the emulator, in `instant` and `async` LRO
// mode: the automatic first backup, on-demand backups named as Azure names them, a restore that
// inherits its source's settings, databases, firewall rules and server parameters, and refusals.
// Then, with real MariaDBs standing for the servers, a restored server's database holds the source's
// data and logins, and deleting the restored server stops its database.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MySQLManagementFlexibleServerClient, ServerBackup as SdkServerBackup } from "@azure/arm-mysql-flexible";
import type { MysqlRestore } from "../../emulator/arm/providers/mysql";
import { LOCATION, RG, rgId, startAzure, SUB, type AzureFixture } from "../../dev/azure";
import { FlexibleServerDatabases } from "../support/flexible-server-databases";
import { takeOnDemandBackup } from "../support/mysql-backups";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";

type RestError = { statusCode?: number; code?: string; message?: string };

const SERVER_BODY = {
  location: LOCATION,
  sku: { name: "Standard_B1ms", tier: "Burstable" as const },
  version: "8.0.21" as const,
  administratorLogin: "jgadmin",
  administratorLoginPassword: "first-Password-1",
  storage: { storageSizeGB: 32 },
  tags: { "jumpgate-stack": "t1" },
};

async function listBackups(mysql: MySQLManagementFlexibleServerClient, server: string): Promise<SdkServerBackup[]> {
  const out: SdkServerBackup[] = [];
  for await (const b of mysql.backups.listByServer(RG, server)) out.push(b);
  return out;
}

for (const mode of ["instant", "async"] as const) {
  describe(`MySQL flexible server backups and restore (${mode} LRO mode)`, () => {
    let az: AzureFixture;
    let mysql: MySQLManagementFlexibleServerClient;
    const lro = () => az.factory.lro();
    const backup = (server: string, backupName: string, apiVersion?: string) =>
      takeOnDemandBackup(
        mysql,
        az.settings.armEndpoint,
        { subscriptionId: SUB, resourceGroup: RG, server, backupName },
        { apiVersion },
      );
    const restores: MysqlRestore[] = [];
    const deleted: string[] = [];

    before(async () => {
      az = await startAzure({ lro: { mode, pollsBeforeDone: 2 } });
      mysql = az.factory.mysql(SUB);
      az.emulator.mysqlRestoreHook = async (r) => {
        restores.push(r);
      };
      az.emulator.mysqlServerDeleteHook = (id) => {
        deleted.push(id);
      };
      await az.factory.resources(SUB).resourceGroups.createOrUpdate(RG, { location: LOCATION }, az.factory.call());
      await mysql.servers.beginCreateAndWait(RG, "t1-db", SERVER_BODY, lro());
      await mysql.databases.beginCreateOrUpdateAndWait(
        RG,
        "t1-db",
        "guacamole",
        { charset: "utf8mb4", collation: "utf8mb4_unicode_ci" },
        lro(),
      );
      await mysql.firewallRules.beginCreateOrUpdateAndWait(
        RG,
        "t1-db",
        "none",
        { startIpAddress: "0.0.0.0", endIpAddress: "0.0.0.0" },
        lro(),
      );
      await mysql.configurations.beginBatchUpdateAndWait(
        RG,
        "t1-db",
        {
          value: [
            { name: "time_zone", value: "+00:00", source: "user-override" },
            { name: "max_connections", value: "500", source: "user-override" },
          ],
        },
        lro(),
      );
    });
    after(() => az?.stop());

    test("a new server lists its automatic first backup", async () => {
      const backups = await listBackups(mysql, "t1-db");
      assert.equal(backups.length, 1);
      assert.match(backups[0].name!, /^daily_\d{8}T\d{6}$/);
      assert.equal(backups[0].backupType, "FULL");
      assert.equal(backups[0].source, "Automatic");
      const server = await mysql.servers.get(RG, "t1-db");
      assert.ok(server.backup?.earliestRestoreDate instanceof Date, "a restore can go back to the server's creation");
    });

    test("an on-demand backup: 200 with the name Azure gives it, listed beside the automatic one", async () => {
      const taken = await backup("t1-db", "pre-upgrade-1-6-0");
      assert.match(taken.name, /^customer_\d{8}t\d{6}_[0-9a-f-]{36}_pre-upgrade-1-6-0$/);
      assert.equal(taken.type, "Microsoft.DBforMySQL/flexibleServers/backups");
      assert.equal(taken.properties.backupType, "FULL");
      assert.ok(!Number.isNaN(Date.parse(taken.properties.completedTime)));
      // a repeated request is another backup: the caller keeps the name it got
      const again = await backup("t1-db", "pre-upgrade-1-6-0", "2022-01-01");
      assert.notEqual(again.name, taken.name);
      const read = await mysql.backups.get(RG, "t1-db", taken.name);
      assert.equal(read.id, taken.id);
      assert.deepEqual((await listBackups(mysql, "t1-db")).map((b) => b.name!.split("_")[0]).sort(), [
        "customer",
        "customer",
        "daily",
      ]);
      await assert.rejects(
        backup("t1-db", "old-api", "2021-05-01"),
        (e: RestError) => e.code === "NoRegisteredProviderFound",
      );
      await assert.rejects(backup("t1-db", "bad name!"), (e: RestError) => e.code === "InvalidParameterValue");
      await assert.rejects(backup("missing-db", "x"), (e: RestError) => e.statusCode === 404);
    });

    test("a point-in-time restore inherits the source's settings, databases, firewall rules and parameters", async () => {
      const before = await mysql.servers.get(RG, "t1-db");
      const restored = await mysql.servers.beginCreateAndWait(
        RG,
        "t1-db-drill",
        {
          location: LOCATION,
          createMode: "PointInTimeRestore",
          sourceServerResourceId: before.id,
          restorePointInTime: new Date(),
        },
        lro(),
      );
      assert.equal(restored.administratorLogin, "jgadmin");
      assert.deepEqual(
        [restored.sku?.name, restored.version, restored.storage?.storageSizeGB],
        ["Standard_B1ms", "8.0.21", 32],
      );
      assert.deepEqual(restored.tags, { "jumpgate-stack": "t1" });
      assert.equal(restored.highAvailability?.mode, "Disabled");
      assert.equal(restored.fullyQualifiedDomainName, "t1-db-drill.mysql.database.azure.com");
      assert.equal(restored.createMode, undefined, "the create mode is not part of the server read back");
      // the admin password is the source's, never echoed
      assert.equal(
        az.emulator.store.getSecret(restored.id!, "properties.administratorLoginPassword"),
        az.emulator.store.getSecret(before.id!, "properties.administratorLoginPassword"),
      );
      assert.equal((await mysql.databases.get(RG, "t1-db-drill", "guacamole")).collation, "utf8mb4_unicode_ci");
      assert.equal((await mysql.firewallRules.get(RG, "t1-db-drill", "none")).endIpAddress, "0.0.0.0");
      assert.equal((await mysql.configurations.get(RG, "t1-db-drill", "max_connections")).value, "500");
      // "time_zone ... set to DEFAULT value SYSTEM" after a restore
      assert.equal((await mysql.configurations.get(RG, "t1-db-drill", "time_zone")).value, "SYSTEM");
      // the source's backups stay with the source; the restored server starts with its own first one
      assert.deepEqual(
        (await listBackups(mysql, "t1-db-drill")).map((b) => b.source),
        ["Automatic"],
      );
      assert.equal(restores.length, 1);
      assert.equal(restores[0].serverId.toLowerCase(), restored.id!.toLowerCase());
      assert.equal(restores[0].sourceServerId.toLowerCase(), before.id!.toLowerCase());

      await mysql.servers.beginDeleteAndWait(RG, "t1-db-drill", lro());
      assert.deepEqual(
        deleted.map((d) => d.toLowerCase()),
        [restored.id!.toLowerCase()],
      );
      await assert.rejects(mysql.backups.get(RG, "t1-db-drill", "x"), (e: RestError) => e.statusCode === 404);
      assert.ok(await mysql.servers.get(RG, "t1-db"), "the source is untouched");
    });

    test("a restore is refused outside the source's backups, and fails with what restores the data", async () => {
      const sourceId = `${rgId()}/providers/Microsoft.DBforMySQL/flexibleServers/t1-db`;
      const restore = (name: string, props: object) =>
        mysql.servers.beginCreateAndWait(
          RG,
          name,
          { location: LOCATION, createMode: "PointInTimeRestore", ...props },
          lro(),
        );
      await assert.rejects(
        restore("r1", { sourceServerResourceId: sourceId, restorePointInTime: new Date(Date.now() - 30 * 86_400_000) }),
        (e: RestError) => e.code === "InvalidParameterValue" && /earliest restore point/.test(e.message ?? ""),
      );
      await assert.rejects(
        restore("r2", { sourceServerResourceId: sourceId, restorePointInTime: new Date(Date.now() + 3_600_000) }),
        (e: RestError) => e.code === "InvalidParameterValue",
      );
      await assert.rejects(
        restore("r3", { sourceServerResourceId: `${sourceId}-missing`, restorePointInTime: new Date() }),
        (e: RestError) => e.code === "InvalidParameterValue",
      );
      await assert.rejects(
        restore("r4", { restorePointInTime: new Date() }),
        (e: RestError) => e.code === "MissingRequiredParameter",
      );

      az.emulator.mysqlRestoreHook = () => Promise.reject(new Error("the data could not be copied"));
      try {
        await assert.rejects(
          restore("r5", { sourceServerResourceId: sourceId, restorePointInTime: new Date() }),
          /could not be copied/,
        );
      } finally {
        az.emulator.mysqlRestoreHook = async (r) => {
          restores.push(r);
        };
      }
      await assert.rejects(mysql.servers.get(RG, "r5"), (e: RestError) => e.statusCode === 404);
    });
  });
}

describe("MySQL restore with real databases standing for the servers", () => {
  let az: AzureFixture;
  let source: MariaDb;
  let fleet: FlexibleServerDatabases;

  before(async () => {
    az = await startAzure({ lro: { mode: "async", pollsBeforeDone: 1 } });
    source = await startMariaDb({ adminUser: "jgadmin", adminPassword: "first-Password-1" });
    fleet = FlexibleServerDatabases.wire(az.emulator);
    await az.factory.resources(SUB).resourceGroups.createOrUpdate(RG, { location: LOCATION }, az.factory.call());
    const server = await az.factory.mysql(SUB).servers.beginCreateAndWait(RG, "t1-db", SERVER_BODY, az.factory.lro());
    fleet.register(server.id!, source);
    await source.query(
      "CREATE DATABASE guacamole_db; CREATE TABLE guacamole_db.guacamole_user (user_id INT PRIMARY KEY, name VARCHAR(64));" +
        "INSERT INTO guacamole_db.guacamole_user VALUES (1, 'guacadmin');" +
        "CREATE USER 'guacamole_app'@'%' IDENTIFIED BY 'app-Password-1' REQUIRE SSL;" +
        "GRANT SELECT, INSERT, UPDATE, DELETE ON guacamole_db.* TO 'guacamole_app'@'%';",
    );
  });
  after(async () => {
    await fleet?.stop();
    await source?.stop();
    await az?.stop();
  });

  test("the restored server's database holds the source's tables and logins; deleting the server stops it", async () => {
    const mysql = az.factory.mysql(SUB);
    const restored = await mysql.servers.beginCreateAndWait(
      RG,
      "t1-db-drill",
      {
        location: LOCATION,
        createMode: "PointInTimeRestore",
        sourceServerResourceId: `${rgId()}/providers/Microsoft.DBforMySQL/flexibleServers/t1-db`,
        restorePointInTime: new Date(),
      },
      az.factory.lro(),
    );
    const db = fleet.get(restored.id!);
    assert.ok(db, "a database stands for the restored server");
    assert.notEqual(db.port, source.port);
    // the application's own login reads Guacamole's tables back, over TLS, as a drill's check would
    const rows = await db.query("SELECT name FROM guacamole_db.guacamole_user", {
      user: "guacamole_app",
      password: "app-Password-1",
    });
    assert.deepEqual(rows, [["guacadmin"]]);
    // the drill's server is a copy: writing to it leaves the source alone
    await db.query("DELETE FROM guacamole_db.guacamole_user");
    assert.deepEqual(await source.query("SELECT COUNT(*) FROM guacamole_db.guacamole_user"), [["1"]]);

    const pid = db.pid;
    await mysql.servers.beginDeleteAndWait(RG, "t1-db-drill", az.factory.lro());
    assert.equal(fleet.get(restored.id!), undefined);
    await fleet.idle();
    assert.throws(() => process.kill(pid, 0), "the restored server's database process is gone");
  });
});
