// A web node laid out by the real installer in a sandbox directory. The rendered cloud-init
// document's files are written under the root (the load-balanced ports, guacd's and Tomcat's
// loopback ports moved to free ones), the upstream artifacts are stand-ins with upstream's archive
// modes and owners (test/support/upstream-standins.ts) served over HTTPS on 127.0.0.1 and pinned
// in artifacts.env by their own SHA-256, and install-node.sh runs as root with
// JUMPGATE_NODE_ROOT: it verifies the downloads, builds and installs guacd, unpacks Tomcat and
// Guacamole, applies the layout and starts the units through the systemd stand-in
// (dev/systemd-standin.ts, `run` mode), which runs each unit's ExecStart as its User=.
// NGINX is the real binary, started by the stand-in from a unit like Ubuntu's package ships, its
// workers as www-data. The service users must exist (ensureServiceUsers).
//
// Node images: `baseTree` starts the root from a generalized baked node (generalizeBakedNode) the
// way a VM's disk starts from its image, before cloud-init writes the document's files; the
// artifact server logs every request (`downloads()`), and `tripwires` puts stand-ins for the
// download, build and package tools first on the installer's PATH that log any call and fail.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { parseNodeCloudConfig, type NodeCloudConfig } from "../../shared/node/cloud-init";
import { NODE_LOCAL_PORTS, NODE_PATHS } from "../../shared/node/constants";
import { GUACD_STATE, NODE_USERS, TOMCAT_HOME } from "../../shared/node/services";
import { makeTraversable, relocateNginxSite, type SandboxPorts } from "../../dev/node-sandbox";
import { nginxCommand } from "../../dev/servers/nginx";
import { freePort } from "../../dev/servers/ports";
import { findBinary, runCommand, type RunResult } from "../../dev/servers/process";
import { TestCa } from "../../dev/servers/test-ca";
import { installSystemdStandIns, stopStandInUnits } from "../../dev/systemd-standin";
import { buildUpstreamStandIns, type StandInArtifacts } from "./upstream-standins";

export interface InstalledNodePorts extends SandboxPorts {
  guacd: number;
  tomcat: number;
}

export interface InstalledNode {
  root: string;
  ports: InstalledNodePorts;
  /** the installer's and the agent's environment */
  env: Record<string, string>;
  artifacts: StandInArtifacts;
  /** runs the document's runcmd (/opt/jumpgate/install-node.sh and its mode argument) as cloud-init does */
  install(): Promise<RunResult>;
  /** every request the artifact server answered (or refused), in order: "GET /file" */
  downloads(): string[];
  /** the calls the tripwire tools received ("curl ...", "make ..."); empty without `tripwires` */
  tripwireCalls(): string[];
  runAgent(args: string[]): Promise<RunResult>;
  systemctl(args: string[]): Promise<RunResult>;
  journal(unit: string): Promise<string>;
  /** stops what the units started and the artifact server; the caller removes the root */
  stop(): Promise<void>;
}

/** Lays out the rendered `document` under `root` and prepares the installer's run (nothing runs yet). */
export async function prepareInstalledNode(
  root: string,
  document: string,
  options: { edit?: (config: NodeCloudConfig) => void; baseTree?: string; tripwires?: boolean } = {},
): Promise<InstalledNode> {
  const config = parseNodeCloudConfig(document);
  options.edit?.(config);
  fs.mkdirSync(root, { recursive: true });
  if (options.baseTree) copyTree(options.baseTree, root);
  makeTraversable(root);
  for (const dir of ["etc", "run", "var/lib", "var/cache", "opt", "usr/local/sbin", "usr/local/lib"]) {
    fs.mkdirSync(path.join(root, dir), { recursive: true, mode: 0o755 });
  }
  const ports: InstalledNodePorts = {
    http: await freePort(),
    https: await freePort(),
    probe: await freePort(),
    guacd: await freePort(),
    tomcat: await freePort(),
  };
  for (const file of config.write_files) {
    const dest = path.join(root, file.path);
    fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
    fs.writeFileSync(dest, relocate(file.path, file.content, root, ports), { mode: parseInt(file.permissions, 8) });
    fs.chmodSync(dest, parseInt(file.permissions, 8));
  }

  const testDir = path.join(root, ".test");
  const artifacts = buildUpstreamStandIns(path.join(testDir, "upstream"), {
    defaultGuacdConf: path.join(root, "etc/guacamole/guacd.conf"),
  });
  const ca = TestCa.create(path.join(testDir, "mirror-ca"), "Jumpgate artifact mirror CA");
  const cert = ca.issue({ commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"] });
  const byName = new Map(Object.values(artifacts).map((a) => [`/${path.basename(a.file)}`, a.file]));
  const requests: string[] = [];
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const file = byName.get(req.url ?? "");
    if (file) res.end(fs.readFileSync(file));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const mirror = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pinStandIns(path.join(root, NODE_PATHS.artifacts), artifacts, mirror);

  const systemd = installSystemdStandIns(root, "run");
  const nginxPrefix = path.join(testDir, "nginx");
  const { command: nginx } = nginxCommand(nginxPrefix, [path.join(root, "etc/nginx/conf.d/*.conf")], {
    user: NODE_USERS.web,
  });
  writeNginxPackageUnit(root, nginx, nginxPrefix);

  const tripwireLog = path.join(testDir, "tripwire.log");
  const tripwireDir = options.tripwires ? installTripwires(path.join(testDir, "tripwire"), tripwireLog) : undefined;
  const env: Record<string, string> = {
    PATH: `${tripwireDir ? `${tripwireDir}:` : ""}${process.env.PATH ?? "/usr/bin:/bin"}:/usr/sbin:/sbin`,
    HOME: root,
    LANG: "C.UTF-8",
    JUMPGATE_NODE_ROOT: root,
    JUMPGATE_SYSTEMCTL: systemd.systemctl,
    JUMPGATE_JOURNALCTL: systemd.journalctl,
    JUMPGATE_NGINX: nginx.join(" "),
    JUMPGATE_SERVICE_SETTLE_SECONDS: "0",
    JUMPGATE_INSTALL_CACHE: path.join(root, "var/cache/jumpgate"),
    CURL_CA_BUNDLE: ca.certPath,
    JUMPGATE_HTTP_PORT: String(ports.http),
    JUMPGATE_HTTPS_PORT: String(ports.https),
    JUMPGATE_GUACD_ADDR: `127.0.0.1:${ports.guacd}`,
    JUMPGATE_TOMCAT_URL: `http://127.0.0.1:${ports.tomcat}`,
    JUMPGATE_MYSQL: findBinary("mysql", "mariadb"),
    JUMPGATE_TOMCAT_GROUP: NODE_USERS.tomcat,
  };
  const run = (file: string, args: string[], timeoutMs = 60_000) => runCommand(file, args, { env, timeoutMs });
  return {
    root,
    ports,
    env,
    artifacts,
    install: () => {
      const [installer, ...args] = config.runcmd[0];
      if (installer !== NODE_PATHS.installer) throw new Error(`runcmd runs ${installer}, not the installer`);
      return run("bash", [path.join(root, installer), ...args], 180_000);
    },
    downloads: () => [...requests],
    tripwireCalls: () =>
      fs.existsSync(tripwireLog) ? fs.readFileSync(tripwireLog, "utf8").split("\n").filter(Boolean) : [],
    runAgent: (args) => run("bash", [path.join(root, "usr/local/sbin/jumpgate-node"), ...args]),
    systemctl: (args) => run(systemd.systemctl, args),
    journal: async (unit) => (await run(systemd.journalctl, ["-u", unit, "--no-pager"])).stdout,
    async stop() {
      await stopStandInUnits(root);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Tools a node booted from an image must never run: downloads, builds, packages, unpacking archives. */
export const TRIPWIRE_TOOLS = ["curl", "wget", "apt-get", "apt", "dpkg", "make", "gcc", "cc", "tar", "unzip"];

function installTripwires(dir: string, log: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const tool of TRIPWIRE_TOOLS) {
    fs.writeFileSync(
      path.join(dir, tool),
      `#!/usr/bin/env bash\nprintf '%s\\n' "${tool} $*" >>'${log}'\necho "tripwire: ${tool} must not run here" >&2\nexit 97\n`,
      { mode: 0o755 },
    );
  }
  return dir;
}

/** cp -a: owners, modes and times as they are (a disk made from an image keeps them). */
function copyTree(from: string, to: string): void {
  const r = spawnSync("cp", ["-a", `${from}/.`, to], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to}: ${r.stderr}`);
}

/**
 * What a bake leaves once generalized (the sandbox's image-seal): the baked root moved to
 * `<root>.image` without the harness's files (.test: artifact server, systemd stand-in state, NGINX
 * prefix), /run, logs and the node's state in /var/lib/jumpgate except baked.json. Boot it at the
 * same root (`baseTree`), so what the build compiled in (guacd's configuration path) holds there, as
 * / does on a VM. Returns the image's directory.
 */
export function generalizeBakedNode(root: string): string {
  const image = `${root}.image`;
  fs.renameSync(root, image);
  for (const gone of [".test", "run", "var/log"]) fs.rmSync(path.join(image, gone), { recursive: true, force: true });
  const state = path.join(image, "var/lib/jumpgate");
  for (const name of fs.existsSync(state) ? fs.readdirSync(state) : []) {
    if (name !== "baked.json") fs.rmSync(path.join(state, name), { recursive: true, force: true });
  }
  return image;
}

/** Moves the node's listeners to the sandbox's free ports; every other byte stays as rendered. */
function relocate(file: string, content: string, root: string, ports: InstalledNodePorts): string {
  const replaceOnce = (text: string, from: string, to: string) => {
    if (text.split(from).length !== 2) throw new Error(`${file} has no single '${from}'`);
    return text.replace(from, to);
  };
  if (file === NODE_PATHS.nginxSite) {
    const site = relocateNginxSite(content, root, ports);
    return replaceOnce(site, `server 127.0.0.1:${NODE_LOCAL_PORTS.tomcat};`, `server 127.0.0.1:${ports.tomcat};`);
  }
  if (file === NODE_PATHS.guacdConf) {
    return replaceOnce(content, `bind_port = ${NODE_LOCAL_PORTS.guacd}`, `bind_port = ${ports.guacd}`);
  }
  if (file.endsWith("/server.xml")) {
    return replaceOnce(content, `port="${NODE_LOCAL_PORTS.tomcat}"`, `port="${ports.tomcat}"`);
  }
  return content;
}

/** artifacts.env as rendered, with each artifact's locations and digest replaced by its stand-in's. */
function pinStandIns(file: string, artifacts: StandInArtifacts, mirror: string): void {
  let text = fs.readFileSync(file, "utf8");
  for (const [name, artifact] of Object.entries(artifacts)) {
    for (const [suffix, v] of [
      ["URLS", `${mirror}/${path.basename(artifact.file)}`],
      ["DIGEST", `sha256:${artifact.sha256}`],
    ]) {
      const line = new RegExp(`^JUMPGATE_ARTIFACT_${name}_${suffix}=.*$`, "m");
      if (!line.test(text)) throw new Error(`the rendered artifacts.env has no JUMPGATE_ARTIFACT_${name}_${suffix}`);
      text = text.replace(line, `JUMPGATE_ARTIFACT_${name}_${suffix}=${v}`);
    }
  }
  fs.writeFileSync(file, text);
}

/**
 * What Ubuntu's nginx package installs as /lib/systemd/system/nginx.service, for the stand-in:
 * the same binary and master/worker split, in the foreground with the sandbox's prefix.
 */
function writeNginxPackageUnit(root: string, command: string[], prefix: string): void {
  const unit = path.join(root, "lib/systemd/system/nginx.service");
  fs.mkdirSync(path.dirname(unit), { recursive: true });
  fs.writeFileSync(
    unit,
    [
      "[Unit]",
      "Description=A high performance web server and a reverse proxy server (sandbox stand-in of the package's unit)",
      "[Service]",
      "Type=simple",
      `PIDFile=${path.join(prefix, "nginx.pid")}`,
      `ExecStart=${command.join(" ")} -g "daemon off;"`,
      "",
    ].join("\n"),
  );
}

/** The installer's system users: created here when missing (on a node the installer creates them). */
export function ensureServiceUsers(): { created: string[]; remove(): void } {
  const homes: Record<string, string> = {
    [NODE_USERS.guacd]: GUACD_STATE,
    [NODE_USERS.tomcat]: TOMCAT_HOME,
    [NODE_USERS.web]: "/var/www",
  };
  const created: string[] = [];
  for (const [user, home] of Object.entries(homes)) {
    if (spawnSync("getent", ["passwd", user]).status === 0) continue;
    const r = spawnSync(
      findBinary("useradd"),
      ["--system", "--user-group", "--no-create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin", user],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`useradd ${user}: ${r.stderr}`);
    created.push(user);
  }
  return {
    created,
    remove() {
      for (const user of created) spawnSync(findBinary("userdel"), [user]);
    },
  };
}
