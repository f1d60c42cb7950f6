// Real MariaDBs standing for the emulator's MySQL flexible servers, one per server: the stack's own
// server is registered by the test, and a server ARM creates from another's backups
// (`createMode: PointInTimeRestore`) gets a fresh MariaDB loaded with a dump of its source's
// databases and logins, as the emulator's restore hook asks; deleting that server stops it.
// A restore copies the source as it is at the moment of the restore (no binary log is kept here to
// replay to an earlier point), which is the state at any restore point after the source's last write.
import type { Emulator } from "../../emulator/arm/emulator";
import type { MysqlRestore } from "../../emulator/arm/providers/mysql";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";

interface Standing {
  db: MariaDb;
  /** the server's admin password now (ARM may have changed it since the database started) */
  adminPassword: () => string;
  /** started here for a restored server, so stopped here with it */
  owned: boolean;
}

export class FlexibleServerDatabases {
  private readonly servers = new Map<string, Standing>();
  /** every restore the emulator asked for, in order */
  readonly restores: MysqlRestore[] = [];
  /** databases of deleted servers still stopping (ARM does not wait for its delete hook) */
  private readonly retiring = new Set<Promise<void>>();

  private constructor(private readonly emulator: Emulator) {}

  /** Wires the emulator's restore and delete hooks to MariaDBs. */
  static wire(emulator: Emulator): FlexibleServerDatabases {
    const fleet = new FlexibleServerDatabases(emulator);
    emulator.mysqlRestoreHook = (restore) => fleet.restore(restore);
    emulator.mysqlServerDeleteHook = (serverId) => fleet.retire(serverId);
    return fleet;
  }

  /** The MariaDB that stands for a server the test made (its admin password as ARM sets it). */
  register(serverId: string, db: MariaDb, adminPassword: () => string = () => db.adminPassword): void {
    this.servers.set(serverId.toLowerCase(), { db, adminPassword, owned: false });
  }

  get(serverId: string): MariaDb | undefined {
    return this.servers.get(serverId.toLowerCase())?.db;
  }

  /** The admin password of a server's database now. */
  adminPasswordOf(serverId: string): string | undefined {
    return this.servers.get(serverId.toLowerCase())?.adminPassword();
  }

  private async restore(restore: MysqlRestore): Promise<void> {
    const source = this.servers.get(restore.sourceServerId.toLowerCase());
    if (!source) throw new Error(`no database stands for ${restore.sourceServerId}`);
    const password = source.adminPassword();
    const sql = await source.db.dump({ password, users: true });
    // the restored server's admin login and password are the source's (concepts-backup-restore)
    const db = await startMariaDb({ adminUser: source.db.adminUser, adminPassword: password });
    try {
      // logins the new server already has (its admin, root) make their CREATE USER fail: carry on
      await db.query(sql, { force: true });
    } catch (e) {
      await db.stop();
      throw e;
    }
    this.servers.set(restore.serverId.toLowerCase(), { db, adminPassword: () => password, owned: true });
    this.restores.push(restore);
  }

  private retire(serverId: string): Promise<void> {
    const key = serverId.toLowerCase();
    const standing = this.servers.get(key);
    if (!standing?.owned) return Promise.resolve();
    this.servers.delete(key);
    const stopping = standing.db.stop().finally(() => this.retiring.delete(stopping));
    this.retiring.add(stopping);
    return stopping;
  }

  /** Resolves once the databases of deleted servers have stopped. */
  async idle(): Promise<void> {
    await Promise.all([...this.retiring]);
  }

  /** Stops the databases started for restored servers (not the ones the test registered). */
  async stop(): Promise<void> {
    await this.idle();
    const owned = [...this.servers.entries()].filter(([, s]) => s.owned);
    for (const [key] of owned) this.servers.delete(key);
    await Promise.all(owned.map(([, s]) => s.db.stop()));
    if (this.emulator.mysqlServerDeleteHook) this.emulator.mysqlServerDeleteHook = undefined;
    this.emulator.mysqlRestoreHook = undefined;
  }
}
