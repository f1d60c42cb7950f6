// A throwaway MariaDB for tests: its own data directory, TLS with a test CA (require_secure_transport
// on, like Azure's flexible server), bound to a free 127.0.0.1 port, an admin login created by
// --init-file, started and stopped by PID within bounded times.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./ports";
import { findBinary, runCommand, stopChild } from "./process";
import { TestCa } from "./test-ca";

export interface MariaDbOptions {
  adminUser?: string;
  adminPassword?: string;
  startTimeoutMs?: number;
}

export interface QueryOptions {
  user?: string;
  password?: string;
  database?: string;
  /** false connects without TLS (to prove the server refuses it) */
  tls?: boolean;
  /** carry on past statements that fail (loading a dump whose users partly exist) */
  force?: boolean;
}

export interface DumpOptions {
  /** the admin login's password now (default: the one it started with) */
  password?: string;
  /** the databases to dump (default: every database that is not a system one) */
  databases?: string[];
  /** also the logins and their grants, as portable SQL (`--system=users`) */
  users?: boolean;
}

export interface MariaDb {
  host: "127.0.0.1";
  port: number;
  caPem: string;
  caPath: string;
  adminUser: string;
  adminPassword: string;
  pid: number;
  /** Runs SQL with the mariadb client over verified TLS; rows as arrays of column strings. */
  query(sql: string, options?: QueryOptions): Promise<string[][]>;
  /** Like query, but resolves to the client's exit code and stderr instead of throwing. */
  tryQuery(sql: string, options?: QueryOptions): Promise<{ ok: boolean; rows: string[][]; stderr: string }>;
  /** An SQL dump (mariadb-dump over verified TLS, one consistent transaction), to load elsewhere with query(). */
  dump(options?: DumpOptions): Promise<string>;
  stop(): Promise<void>;
}

/** SQL string literal for the init file (backslash escapes are on by default). */
function sqlString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDb> {
  const mariadbd = findBinary("mariadbd", "mysqld");
  const installDb = findBinary("mariadb-install-db", "mysql_install_db");
  const client = findBinary("mariadb", "mysql");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-mariadb-"));
  const adminUser = options.adminUser ?? "jumpgateadmin";
  const adminPassword = options.adminPassword ?? randomBytes(18).toString("base64url");
  const timeoutMs = options.startTimeoutMs ?? 20_000;

  const ca = TestCa.create(path.join(dir, "tls"), "MariaDB test CA");
  const server = ca.issue({ commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], dnsNames: ["localhost"] });
  const initFile = path.join(dir, "init.sql");
  fs.writeFileSync(
    initFile,
    `CREATE USER IF NOT EXISTS ${sqlString(adminUser)}@'%' IDENTIFIED BY ${sqlString(adminPassword)} REQUIRE SSL;\n` +
      `GRANT ALL PRIVILEGES ON *.* TO ${sqlString(adminUser)}@'%' WITH GRANT OPTION;\n`,
    { mode: 0o600 },
  );
  const dataDir = path.join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  const installed = await runCommand(
    installDb,
    [
      "--no-defaults",
      `--datadir=${dataDir}`,
      ...(asRoot ? ["--user=root"] : []),
      "--auth-root-authentication-method=socket",
      "--skip-test-db",
      "--innodb-log-file-size=8M",
    ],
    { timeoutMs },
  );
  if (installed.code !== 0) throw new Error(`mariadb-install-db failed: ${installed.stderr}`);

  let child: ChildProcess | undefined;
  let port = 0;
  const errorLog = path.join(dir, "error.log");
  for (let attempt = 1; attempt <= 3 && !child; attempt++) {
    port = await freePort();
    const candidate = spawn(
      mariadbd,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        `--socket=${path.join(dir, "mysqld.sock")}`,
        `--pid-file=${path.join(dir, "mysqld.pid")}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        ...(asRoot ? ["--user=root"] : []),
        `--log-error=${errorLog}`,
        `--ssl-ca=${ca.certPath}`,
        `--ssl-cert=${server.certPath}`,
        `--ssl-key=${server.keyPath}`,
        "--require-secure-transport=ON",
        "--innodb-log-file-size=8M",
        "--innodb-buffer-pool-size=32M",
        "--performance-schema=OFF",
        "--innodb-fast-shutdown=3",
        `--init-file=${initFile}`,
      ],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + timeoutMs;
    let ready = false;
    // poll with a real TLS login; a child that exits meanwhile lost the port race: try another port
    while (!ready && Date.now() < deadline && candidate.exitCode === null && candidate.signalCode === null) {
      const r = await runClient(client, dir, ca.certPath, port, adminUser, adminPassword, "SELECT 1", undefined, true);
      ready = r.code === 0;
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (ready) child = candidate;
    else if (candidate.exitCode === null && candidate.signalCode === null) {
      await stopChild(candidate, "SIGKILL", 5_000);
      break;
    }
  }
  if (!child) throw new Error(`MariaDB did not start: ${fs.readFileSync(errorLog, "utf8").slice(-2000)}`);
  const running = child;

  const tryQuery = async (sql: string, q: QueryOptions = {}) => {
    const r = await runClient(
      client,
      dir,
      ca.certPath,
      port,
      q.user ?? adminUser,
      q.password ?? adminPassword,
      sql,
      q.database,
      q.tls ?? true,
      q.force ? ["--force"] : [],
    );
    const rows = r.stdout
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => l.split("\t"));
    return { ok: r.code === 0, rows, stderr: r.stderr };
  };

  return {
    host: "127.0.0.1",
    port,
    caPem: ca.certPem,
    caPath: ca.certPath,
    adminUser,
    adminPassword,
    pid: running.pid!,
    tryQuery,
    async query(sql, q) {
      const r = await tryQuery(sql, q);
      if (!r.ok) throw new Error(`query failed: ${r.stderr.trim()}`);
      return r.rows;
    },
    async dump(d: DumpOptions = {}) {
      const password = d.password ?? adminPassword;
      const databases =
        d.databases ??
        (await tryQuery("SHOW DATABASES", { password })).rows
          .map((r) => r[0])
          .filter((n) => !SYSTEM_DATABASES.includes(n));
      const r = await runClient(
        findBinary("mariadb-dump", "mysqldump"),
        dir,
        ca.certPath,
        port,
        adminUser,
        password,
        "",
        undefined,
        true,
        [
          "--single-transaction",
          "--routines",
          "--events",
          "--triggers",
          ...(d.users ? ["--system=users"] : []),
          ...(databases.length > 0 ? ["--databases", ...databases] : ["--no-data", "--databases", "mysql"]),
        ],
      );
      if (r.code !== 0) throw new Error(`mariadb-dump failed: ${r.stderr.trim()}`);
      return r.stdout;
    },
    async stop() {
      await stopChild(running, "SIGTERM", 10_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const SYSTEM_DATABASES = ["information_schema", "mysql", "performance_schema", "sys"];

let optionFileCounter = 0;

/** The mariadb client with credentials in a 0600 option file (never on the command line). */
async function runClient(
  client: string,
  dir: string,
  caPath: string,
  port: number,
  user: string,
  password: string,
  sql: string,
  database: string | undefined,
  tls: boolean,
  extraArgs: string[] = [],
) {
  // the dump tool reads the same [client] group, but takes neither connect-timeout nor --batch
  const dumping = /dump$/.test(path.basename(client));
  const file = path.join(dir, `client-${process.pid}-${++optionFileCounter}.cnf`);
  const quoted = password.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const tlsLines = tls ? `ssl\nssl-ca="${caPath}"\nssl-verify-server-cert\n` : "skip-ssl\n";
  fs.writeFileSync(
    file,
    `[client]\nuser="${user}"\npassword="${quoted}"\nhost=127.0.0.1\nport=${port}\n${tlsLines}${dumping ? "" : "connect-timeout=5\n"}`,
    { mode: 0o600 },
  );
  try {
    return await runCommand(
      client,
      [
        `--defaults-file=${file}`,
        ...(dumping ? [] : ["--batch", "--skip-column-names"]),
        ...extraArgs,
        ...(database ? [`--database=${database}`] : []),
      ],
      { input: sql, timeoutMs: 15_000 },
    );
  } finally {
    fs.rmSync(file, { force: true });
  }
}
