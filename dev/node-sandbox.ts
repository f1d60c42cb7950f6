// A web node in a directory: the files the RENDERED cloud-init document writes (so the agent reads
// the very configuration the template produces), real NGINX serving the rendered site, and
// stand-ins only for what cannot run on this machine: Tomcat (a tiny HTTP server answering
// /api/languages and echoing an upgraded /websocket-tunnel), guacd (a TCP listener whose
// connections count as live sessions) and systemctl/journalctl (dev/systemd-standin.ts,
// recording the calls). MariaDB and Key Vault come from the test (real server and the emulator). On
// a VM the installer also extracts the Guacamole schema from the verified tarball and runs
// `jumpgate-node init`; the sandbox copies the committed 1.6.0 schema and runs init too (the real
// installer runs in test/support/installed-node.ts); it also puts the OpenID extension where the
// installer unpacks it. Power follows the VM: `powerOff` stops NGINX and the
// stand-ins and empties /run (tmpfs), `powerOn` starts them again on the same ports, `reboot` is both.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { parseNodeCloudConfig, decodeCustomData } from "../shared/node/cloud-init";
import {
  NODE_AGENT_PATH,
  NODE_HTTPS_PORT,
  NODE_HTTP_PORT,
  NODE_LOCAL_PORTS,
  NODE_PATHS,
  NODE_PROBE,
} from "../shared/node/constants";
import { startNginx, nginxCommand, type Nginx } from "./servers/nginx";
import { freePort } from "./servers/ports";
import { findBinary, runCommand, type RunResult } from "./servers/process";
import { installSystemdStandIns } from "./systemd-standin";

export interface SandboxPorts {
  http: number;
  https: number;
  probe: number;
}

export interface TomcatStandIn {
  url: string;
  /**
   * From now until Tomcat is started again, Guacamole answers every request with 503 while the
   * process keeps running (a wedged web application: systemd sees nothing wrong, a restart fixes it).
   */
  fail(): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface GuacdStandIn {
  port: number;
  /** Opens a connection like Tomcat does for each Guacamole session. */
  openSession(): Promise<net.Socket>;
  closeSessions(): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface NodeSandbox {
  root: string;
  ports: SandboxPorts;
  /** the agent's environment: root, endpoint overrides, stand-ins, plus what the test passed */
  env: Record<string, string>;
  /** the running NGINX (a new one after each power-on) */
  readonly nginx: Nginx;
  tomcat: TomcatStandIn;
  guacd: GuacdStandIn;
  agentPath: string;
  /** what the agent asked systemctl to do (queries such as `show` and `is-active` left out) */
  systemctlCalls(): string[];
  /** the next systemctl call (e.g. Tomcat's restart) fails once, like a unit that does not start */
  failNextSystemctl(): void;
  /** systemd reports `unit` failed from now on (a unit that exits at every start) */
  failUnit(unit: string): void;
  runAgent(args: string[], options?: { input?: string; env?: Record<string, string> }): Promise<RunResult>;
  /** The VM stops: NGINX, Tomcat and guacd stop, /run (a tmpfs) is emptied. */
  powerOff(): Promise<void>;
  /** The VM boots: guacd, Tomcat and NGINX start again on the same ports (what systemd starts). */
  powerOn(): Promise<void>;
  reboot(): Promise<void>;
  stop(): Promise<void>;
}

export interface NodeSandboxOptions {
  /** extra agent environment (IMDS endpoint, CA files, database port, ...) */
  env?: Record<string, string>;
  /**
   * Write what the first-boot installer writes when it is done (installed.json, with the versions
   * of the rendered artifacts.env): without it the agent reports the node as still installing.
   */
  firstBootDone?: boolean;
}

export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/**
 * Points the rendered NGINX site at the sandbox: its `listen` ports become free loopback ports and
 * its node paths move under the root. Nothing else changes; a path outside the node's directories
 * is an error, so a new path in the template cannot silently point at this machine.
 */
export function relocateNginxSite(site: string, root: string, ports: SandboxPorts): string {
  const portMap = new Map<string, number>([
    [String(NODE_HTTP_PORT), ports.http],
    [String(NODE_HTTPS_PORT), ports.https],
    [String(NODE_PROBE.port), ports.probe],
  ]);
  const relocated = site
    .replace(/^(\s*listen\s+)(\d+)\b/gm, (_m, head: string, port: string) => {
      const mapped = portMap.get(port);
      if (mapped === undefined) throw new Error(`the NGINX site listens on unexpected port ${port}`);
      return `${head}127.0.0.1:${mapped}`;
    })
    .replace(/(?<=[\s(])(\/(?:etc\/jumpgate|var\/lib\/jumpgate|run\/jumpgate)(?=[/;\s)]))/g, `${root}$1`);
  const directives = relocated
    .split("\n")
    .filter((line) => !line.trim().startsWith("#"))
    .join("\n");
  const stray = /(?<=[\s(])\/(?:etc|var|run|opt|usr|srv|home)\/\S*/.exec(directives);
  if (stray) throw new Error(`the NGINX site refers to ${stray[0]}, outside the node's directories`);
  return relocated;
}

/** Lays out a node from a rendered cloud-init document and starts its NGINX and stand-ins. */
export async function startNodeSandbox(
  root: string,
  cloudConfigDocument: string,
  options: NodeSandboxOptions = {},
): Promise<NodeSandbox> {
  const config = parseNodeCloudConfig(cloudConfigDocument);
  fs.mkdirSync(root, { recursive: true });
  // Like a VM's /, the root and the standard directories are traversable (0755): NGINX's workers
  // run unprivileged here too, so a file the agent leaves unreadable for them fails the test.
  makeTraversable(root);
  for (const dir of ["etc", "run", "var/lib", "opt", "usr/local/sbin"]) {
    fs.mkdirSync(path.join(root, dir), { recursive: true, mode: 0o755 });
  }
  const ports: SandboxPorts = { http: await freePort(), https: await freePort(), probe: await freePort() };

  for (const file of config.write_files) {
    const dest = path.join(root, file.path);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const content = file.path === NODE_PATHS.nginxSite ? relocateNginxSite(file.content, root, ports) : file.content;
    fs.writeFileSync(dest, content, { mode: parseInt(file.permissions, 8) });
    fs.chmodSync(dest, parseInt(file.permissions, 8));
  }
  const schemaDir = path.join(root, NODE_PATHS.guacamoleSchema);
  fs.mkdirSync(schemaDir, { recursive: true });
  const fixtures = path.join(repoRoot(), "test", "fixtures", "guacamole-schema");
  for (const name of fs.readdirSync(fixtures).filter((n) => n.endsWith(".sql"))) {
    fs.copyFileSync(path.join(fixtures, name), path.join(schemaDir, name));
  }
  // what the installer unpacks from the SSO bundle, and Guacamole's extensions directory it lays out
  const openId = path.join(root, NODE_PATHS.openIdExtensionAvailable);
  fs.mkdirSync(path.dirname(openId), { recursive: true, mode: 0o700 });
  fs.writeFileSync(openId, "stand-in guacamole-auth-sso-openid-1.6.0.jar\n", { mode: 0o600 });
  fs.mkdirSync(path.join(root, path.dirname(NODE_PATHS.openIdExtension)), { recursive: true, mode: 0o750 });

  const testDir = path.join(root, ".test");
  const systemctlLog = path.join(testDir, "systemctl.log");
  // the services here are the test's in-process stand-ins: systemctl only records what it is asked
  const { systemctl, journalctl } = installSystemdStandIns(root, "record");

  const tomcat = await startTomcatStandIn();
  const guacd = await startGuacdStandIn();
  try {
    // NGINX proxies Guacamole to Tomcat on 127.0.0.1:8080 on a node; here to the Tomcat stand-in
    const sitePath = path.join(root, NODE_PATHS.nginxSite);
    const upstream = `server 127.0.0.1:${NODE_LOCAL_PORTS.tomcat};`;
    const site = fs.readFileSync(sitePath, "utf8");
    if (site.split(upstream).length !== 2) throw new Error(`the NGINX site has no single '${upstream}' upstream`);
    fs.writeFileSync(sitePath, site.replace(upstream, `server ${new URL(tomcat.url).host};`));
    return await startNodeServices(root, ports, { systemctl, journalctl }, systemctlLog, tomcat, guacd, options);
  } catch (e) {
    await Promise.all([tomcat.stop(), guacd.stop()]);
    throw e;
  }
}

async function startNodeServices(
  root: string,
  ports: SandboxPorts,
  systemd: { systemctl: string; journalctl: string },
  systemctlLog: string,
  tomcat: TomcatStandIn,
  guacd: GuacdStandIn,
  options: NodeSandboxOptions,
): Promise<NodeSandbox> {
  const nginxPrefix = path.join(root, ".test", "nginx");
  const site = path.join(root, NODE_PATHS.nginxSite);
  const { command } = nginxCommand(nginxPrefix, [site]);

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: root,
    LANG: "C.UTF-8",
    ...(options.env ?? {}),
    JUMPGATE_NODE_ROOT: root,
    JUMPGATE_HTTP_PORT: String(ports.http),
    JUMPGATE_HTTPS_PORT: String(ports.https),
    JUMPGATE_TOMCAT_URL: tomcat.url,
    JUMPGATE_GUACD_ADDR: `127.0.0.1:${guacd.port}`,
    JUMPGATE_SYSTEMCTL: systemd.systemctl,
    JUMPGATE_JOURNALCTL: systemd.journalctl,
    JUMPGATE_NGINX: command.join(" "),
    JUMPGATE_MYSQL: findBinary("mysql", "mariadb"),
    JUMPGATE_TOMCAT_GROUP: tomcatGroup(),
    JUMPGATE_TOMCAT_START_SECONDS: "10",
  };
  const agentPath = path.join(root, NODE_AGENT_PATH);
  const runAgent = (args: string[], o: { input?: string; env?: Record<string, string> } = {}) =>
    runCommand("bash", [agentPath, ...args], { env: { ...env, ...(o.env ?? {}) }, input: o.input, timeoutMs: 60_000 });

  const init = await runAgent(["init"]);
  if (init.code !== 0) throw new Error(`jumpgate-node init failed: ${init.stderr}`);
  if (options.firstBootDone) writeInstalledMarker(root);
  const startWeb = () =>
    startNginx({ prefix: nginxPrefix, includes: [site], ports: [ports.http, ports.https, ports.probe] });
  let nginx: Nginx | undefined = await startWeb();
  let current: Nginx = nginx;
  const powerOff = async () => {
    await Promise.all([nginx?.stop(), tomcat.stop(), guacd.stop()]);
    nginx = undefined;
    fs.rmSync(path.join(root, "run"), { recursive: true, force: true });
    fs.mkdirSync(path.join(root, "run"), { recursive: true, mode: 0o755 });
  };
  const powerOn = async () => {
    if (nginx) return;
    await guacd.start();
    await tomcat.start();
    nginx = current = await startWeb();
  };

  return {
    root,
    ports,
    env,
    get nginx() {
      return current;
    },
    tomcat,
    guacd,
    agentPath,
    systemctlCalls: () =>
      fs.existsSync(systemctlLog)
        ? fs
            .readFileSync(systemctlLog, "utf8")
            .split("\n")
            .filter((call) => call && !isQuery(call))
        : [],
    failNextSystemctl: () => fs.writeFileSync(path.join(root, ".test", "fail-next-systemctl"), ""),
    failUnit: (unit: string) => {
      fs.mkdirSync(path.join(root, ".test", "failed-units"), { recursive: true });
      fs.writeFileSync(path.join(root, ".test", "failed-units", unit), "");
    },
    runAgent,
    powerOff,
    powerOn,
    async reboot() {
      await powerOff();
      await powerOn();
    },
    async stop() {
      await Promise.all([nginx?.stop(), tomcat.stop(), guacd.stop()]);
      nginx = undefined;
    },
  };
}

/** The sandbox for a VM created with `customDataBase64(renderNodeCloudInit(...))` (the emulator's prepareSandbox hook). */
export function startNodeSandboxFromCustomData(
  root: string,
  customData: string,
  options: NodeSandboxOptions = {},
): Promise<NodeSandbox> {
  return startNodeSandbox(root, decodeCustomData(customData), options);
}

/** install-node.sh's last step: the versions it installed, which the agent's health reports. */
function writeInstalledMarker(root: string): void {
  const artifacts = fs.readFileSync(path.join(root, NODE_PATHS.artifacts), "utf8");
  const version = (name: string) => {
    const v = new RegExp(`^${name}=(.*)$`, "m").exec(artifacts)?.[1];
    if (!v) throw new Error(`the rendered artifacts.env has no ${name}`);
    return v;
  };
  const marker = {
    guacamole: version("JUMPGATE_GUACAMOLE_VERSION"),
    tomcat: version("JUMPGATE_TOMCAT_VERSION"),
    installedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
  fs.writeFileSync(path.join(root, "var/lib/jumpgate/installed.json"), `${JSON.stringify(marker)}\n`, { mode: 0o644 });
}

/** A systemctl call that only reads state (health asks about the unit of a failing check). */
function isQuery(call: string): boolean {
  return /^(show|is-active|is-enabled|is-failed|status)\b/.test(call);
}

/** chmod 0755 from the sandbox root up to the temporary directory it lives in (test-made directories only). */
export function makeTraversable(root: string): void {
  const tmp = fs.realpathSync(os.tmpdir());
  let dir = fs.realpathSync(root);
  if (!dir.startsWith(tmp + path.sep)) throw new Error(`a node sandbox must live under ${tmp}`);
  while (dir !== tmp) {
    fs.chmodSync(dir, 0o755);
    dir = path.dirname(dir);
  }
}

/**
 * The group guacamole.properties is handed to: tomcat on a node; here the group we run as, even when
 * a tomcat group exists (the layout test creates one for a while and removes it again).
 */
function tomcatGroup(): string {
  return spawnSync("id", ["-gn"], { encoding: "utf8" }).stdout.trim();
}

async function startTomcatStandIn(): Promise<TomcatStandIn> {
  let failing = false;
  const server = http.createServer((req, res) => {
    if (failing) {
      res.writeHead(503, { "content-type": "text/plain" }).end("Guacamole is unavailable\n");
    } else if (req.method === "GET" && req.url === "/api/languages") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ en: "English" }));
    } else {
      res.writeHead(404).end();
    }
  });
  // Guacamole's WebSocket tunnel, reduced to what NGINX sees: an upgrade, then bytes both ways (echoed)
  const tunnels = new Set<net.Socket>();
  server.on("upgrade", (req, socket: net.Socket) => {
    if (req.url?.startsWith("/websocket-tunnel") !== true) {
      socket.destroy();
      return;
    }
    tunnels.add(socket);
    socket.on("close", () => tunnels.delete(socket));
    socket.on("error", () => undefined);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    socket.pipe(socket);
  });
  const port = await listen(server, 0);
  return {
    url: `http://127.0.0.1:${port}`,
    fail: () => {
      failing = true;
    },
    start: async () => {
      if (server.listening) return;
      failing = false;
      await listen(server, port);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const t of tunnels) t.destroy();
        server.closeAllConnections();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}

async function startGuacdStandIn(): Promise<GuacdStandIn> {
  const accepted = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => accepted.delete(socket));
  });
  const port = await listen(server, 0);
  const closeSessions = () => {
    for (const s of [...clients, ...accepted]) s.destroy();
    clients.clear();
  };
  return {
    port,
    openSession: () =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
        socket.on("error", reject);
        clients.add(socket);
        socket.on("close", () => clients.delete(socket));
      }),
    closeSessions,
    start: async () => {
      if (!server.listening) await listen(server, port);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        closeSessions();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}

/** Listens on 127.0.0.1 (`port` 0: any free port); resolves to the port. */
function listen(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
