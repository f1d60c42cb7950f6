// NGINX in the foreground for tests: a temporary prefix with its own main configuration (PID file,
// logs, temp paths all inside it) that includes the site under test, started and stopped by PID.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { findBinary, runCommand, stopChild, waitFor } from "./process";

export interface NginxOptions {
  /** directory for the main configuration, logs and temp files */
  prefix: string;
  /** site configurations included inside `http { }` */
  includes: string[];
  /** loopback ports the site listens on; start() waits until they accept connections */
  ports: number[];
  startTimeoutMs?: number;
}

export interface Nginx {
  pid: number;
  prefix: string;
  confPath: string;
  errorLog: string;
  /** the nginx command line that targets this instance (for `-t`, `-s reload`, the agent's JUMPGATE_NGINX) */
  command: string[];
  /** `nginx -t` against this instance's configuration */
  test(): Promise<{ ok: boolean; output: string }>;
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export interface NginxConfOptions {
  /** the workers' user (as Ubuntu's nginx.conf sets `user www-data;`); NGINX's default otherwise */
  user?: string;
}

export function nginxMainConf(prefix: string, includes: string[], options: NginxConfOptions = {}): string {
  const p = (name: string) => path.join(prefix, name);
  return [
    ...(options.user ? [`user ${options.user};`] : []),
    "worker_processes 1;",
    `pid ${p("nginx.pid")};`,
    `error_log ${p("error.log")} info;`,
    "events { worker_connections 64; }",
    "http {",
    "    default_type application/octet-stream;",
    `    access_log ${p("access.log")};`,
    `    client_body_temp_path ${p("tmp/body")};`,
    `    proxy_temp_path ${p("tmp/proxy")};`,
    `    fastcgi_temp_path ${p("tmp/fastcgi")};`,
    `    uwsgi_temp_path ${p("tmp/uwsgi")};`,
    `    scgi_temp_path ${p("tmp/scgi")};`,
    ...includes.map((f) => `    include ${f};`),
    "}",
    "",
  ].join("\n");
}

/** Writes the main configuration into the prefix and returns the command line that uses it. */
export function nginxCommand(
  prefix: string,
  includes: string[],
  options: NginxConfOptions = {},
): { command: string[]; confPath: string } {
  fs.mkdirSync(path.join(prefix, "tmp"), { recursive: true });
  const confPath = path.join(prefix, "nginx.conf");
  fs.writeFileSync(confPath, nginxMainConf(prefix, includes, options));
  const errorLog = path.join(prefix, "error.log");
  return { command: [findBinary("nginx"), "-p", `${prefix}/`, "-c", confPath, "-e", errorLog], confPath };
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const { command, confPath } = nginxCommand(options.prefix, options.includes);
  const errorLog = path.join(options.prefix, "error.log");
  const [bin, ...args] = command;
  const tested = await runCommand(bin, [...args, "-t"], { timeoutMs: 10_000 });
  if (tested.code !== 0) throw new Error(`nginx -t failed:\n${tested.stderr}`);
  const child: ChildProcess = spawn(bin, [...args, "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  await waitFor("nginx", options.startTimeoutMs ?? 10_000, async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const open = await Promise.all(options.ports.map(accepts));
    return open.every(Boolean);
  });
  return {
    pid: child.pid!,
    prefix: options.prefix,
    confPath,
    errorLog,
    command,
    async test() {
      const r = await runCommand(bin, [...args, "-t"], { timeoutMs: 10_000 });
      return { ok: r.code === 0, output: r.stderr };
    },
    async reload() {
      child.kill("SIGHUP");
    },
    async stop() {
      await stopChild(child, "SIGTERM", 5_000);
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setTimeout(500);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}
