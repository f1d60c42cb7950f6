// A node laid out by the real install-node.sh (test/support/installed-node.ts: upstream stand-ins
// with upstream's archive modes and owners, the systemd stand-in running each unit as its User=),
// then checked as each unit's user and groups with setpriv: it reads every file and directory
// shared/node/services.ts says it opens, writes where it writes, cannot read the secrets it must
// not read and cannot write where it must not. The real binaries run as their users where this
// machine has them: NGINX (root master, www-data workers) and the MariaDB client as tomcat with
// the login in guacamole.properties; the units' locale is checked to be UTF-8, and the units pass
// `systemd-analyze verify`. Needs root (setpriv, chown), as CI runs; the service users are created
// for the test when missing and removed afterwards.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { signInArgs, signInProperties } from "../../shared/access/sign-in";
import { parseHealth } from "../../shared/node/agent";
import { renderNodeCloudInit, type NodeTemplateInput } from "../../shared/node/cloud-init";
import { NODE_PATHS } from "../../shared/node/constants";
import { NODE_SERVICES, NODE_USERS, TOMCAT_HOME, type NodeService } from "../../shared/node/services";
import { ensureServiceUsers, prepareInstalledNode, type InstalledNode } from "../support/installed-node";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";
import { findBinary, runCommand, type RunResult } from "../../dev/servers/process";
import { unitProcessGroup } from "../../dev/systemd-standin";

const INPUT: NodeTemplateInput = {
  stackName: "layout",
  fleetMode: "availabilitySet",
  publicHostname: "jump.example.com",
  keyVaultUrl: "https://kv-layout.vault.azure.net/",
  dbHost: "127.0.0.1",
};

if (process.getuid?.() !== 0) {
  throw new Error("node-layout.test needs root (setpriv, chown, useradd): run the suite as root, as CI does");
}

let users: ReturnType<typeof ensureServiceUsers>;
before(() => {
  users = ensureServiceUsers();
});
after(() => users.remove());

/** setpriv's arguments for a unit's user: its uid, the unit's group, the user's groups plus SupplementaryGroups=. */
function asUser(service: Pick<NodeService, "user" | "group" | "supplementaryGroups">): string[] {
  const id = (...args: string[]) => spawnSync("id", args, { encoding: "utf8" }).stdout.trim();
  const gid = (group: string) => spawnSync("getent", ["group", group], { encoding: "utf8" }).stdout.split(":")[2];
  const groups = new Set([...id("-G", service.user).split(/\s+/), ...service.supplementaryGroups.map(gid)]);
  return [`--reuid=${id("-u", service.user)}`, `--regid=${gid(service.group)}`, `--groups=${[...groups].join(",")}`];
}

function runAs(service: Pick<NodeService, "user" | "group" | "supplementaryGroups">, argv: string[], input = "") {
  return runCommand("setpriv", [...asUser(service), "--", ...argv], {
    input,
    env: { PATH: process.env.PATH, LANG: "C.UTF-8" },
    timeoutMs: 30_000,
  });
}

/** The files a path names on the node: itself, or for a last component with `*`, every match. */
function expand(root: string, vmPath: string): string[] {
  const full = path.join(root, vmPath);
  const base = path.basename(full);
  if (!base.includes("*")) return [full];
  const re = new RegExp(`^${base.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
  const dir = path.dirname(full);
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((n) => re.test(n))
        .map((n) => path.join(dir, n))
    : [];
}

// One shell per user: each line "KIND<TAB>PATH" is tried for real (open and read a byte, list,
// create and remove a file) and answered "KIND<TAB>PATH<TAB>ok|denied|error<TAB>what the OS said".
const ACCESS_CHECKER = [
  "while IFS=$'\\t' read -r kind p; do",
  "  case $kind in",
  '    read | noread) if [[ -d $p ]]; then out=$(ls -- "$p" 2>&1 >/dev/null); else out=$(head -c1 -- "$p" 2>&1 >/dev/null); fi ;;',
  '    exec) if [[ -x $p ]]; then out=""; else out="$p: not executable (access X_OK)"; false; fi ;;',
  '    write | nowrite) out=$(f=$(mktemp -p "$p" .jumpgate-access-XXXXXX 2>&1) && rm -f "$f" || { echo "$f"; false; }) ;;',
  "  esac",
  "  rc=$?",
  '  if ((rc == 0)); then r=ok; elif [[ $out == *"Permission denied"* ]]; then r=denied; else r=error; fi',
  '  printf \'%s\\t%s\\t%s\\t%s\\n\' "$kind" "$p" "$r" "${out//$\'\\n\'/ }"',
  "done",
].join("\n");

interface AccessResult {
  kind: string;
  path: string;
  result: "ok" | "denied" | "error";
  detail: string;
}

async function checkAccess(
  root: string,
  service: NodeService,
): Promise<{ problems: string[]; results: AccessResult[] }> {
  const problems: string[] = [];
  const lines: string[] = [];
  const want = (kind: string, vmPaths: readonly string[]) => {
    for (const p of vmPaths) {
      const files = expand(root, p);
      if (files.length === 0 || !files.every((f) => fs.existsSync(f))) {
        problems.push(`${p} (${kind} for ${service.unit}) does not exist on the node`);
      }
      for (const f of files.filter((x) => fs.existsSync(x))) lines.push(`${kind}\t${f}`);
    }
  };
  want("read", service.reads);
  want("exec", service.executes);
  want("write", service.writes);
  want("noread", service.mustNotRead);
  want("nowrite", service.mustNotWrite);
  const r = await runAs(service, ["bash", "-c", ACCESS_CHECKER], lines.join("\n") + "\n");
  assert.equal(r.code, 0, r.stderr);
  const results = r.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [kind, p, result, detail] = l.split("\t");
      return { kind, path: p, result: result as AccessResult["result"], detail };
    });
  assert.equal(results.length, lines.length, "every check answered");
  for (const a of results) {
    const vm = a.path.slice(root.length);
    const as = `${service.user} (${service.unit})`;
    if ((a.kind === "read" || a.kind === "exec" || a.kind === "write") && a.result !== "ok") {
      problems.push(`${as} cannot ${a.kind} ${vm}: ${a.detail}`);
    }
    if ((a.kind === "noread" || a.kind === "nowrite") && a.result !== "denied") {
      problems.push(`${as} must not ${a.kind === "noread" ? "read" : "write"} ${vm}, but ${a.result}: ${a.detail}`);
    }
  }
  return { problems, results };
}

/** The processes of a unit the systemd stand-in started: the service and everything below it. */
function unitProcesses(root: string, unit: string): { pid: number; uid: number; env: Map<string, string> }[] {
  const top = unitProcessGroup(root, unit);
  assert.ok(top, `${unit} is running`);
  const out: { pid: number; uid: number; env: Map<string, string> }[] = [];
  const visit = (pid: number) => {
    const children = fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    for (const child of children) {
      const status = fs.readFileSync(`/proc/${child}/status`, "utf8");
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
      const env = new Map(
        fs
          .readFileSync(`/proc/${child}/environ`, "utf8")
          .split("\0")
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)] as [string, string]),
      );
      out.push({ pid: child, uid, env });
      visit(child);
    }
  };
  visit(top);
  return out;
}

function uidOf(user: string): number {
  return Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim());
}

function gidOf(group: string): number {
  return Number(spawnSync("getent", ["group", group], { encoding: "utf8" }).stdout.split(":")[2]);
}

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: urlPath, timeout: 5_000 }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("a node laid out by install-node.sh", () => {
  let root: string;
  let node: InstalledNode;
  let installed: RunResult;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-layout-"));
    node = await prepareInstalledNode(root, renderNodeCloudInit(INPUT));
    installed = await node.install();
  });
  after(async () => {
    await node?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("the installer verifies the downloads, starts every unit of services.ts and writes its marker", async () => {
    assert.equal(installed.code, 0, installed.stderr);
    for (const name of [
      "GUACAMOLE_SERVER",
      "GUACAMOLE_WAR",
      "GUACAMOLE_AUTH_JDBC",
      "GUACAMOLE_AUTH_SSO",
      "TOMCAT",
      "MYSQL_CONNECTOR_J",
    ]) {
      assert.match(installed.stderr, new RegExp(`JUMPGATE_ARTIFACT_${name} verified \\(sha256\\)`));
    }
    const inactive: string[] = [];
    for (const { unit } of NODE_SERVICES) {
      const state = (await node.systemctl(["is-active", unit])).stdout.trim();
      if (state !== "active") inactive.push(`${unit} is ${state}: ${await node.journal(unit)}`);
    }
    assert.deepEqual(inactive, []);
    const calls = fs.readFileSync(path.join(root, ".test/systemctl.log"), "utf8");
    assert.match(calls, new RegExp(`^enable --now ${NODE_SERVICES.map((s) => s.unit).join(" ")}$`, "m"));
    const marker = JSON.parse(fs.readFileSync(path.join(root, "var/lib/jumpgate/installed.json"), "utf8")) as {
      guacamole: string;
    };
    assert.equal(marker.guacamole, "1.6.0");
    assert.match(await node.journal("guacd.service"), /Listening on host 127\.0\.0\.1, port \d+/);
    assert.match(await node.journal("tomcat.service"), /Server startup/);
  });

  test("each service's user reaches exactly what services.ts lists, and no secret", async () => {
    const problems: string[] = [];
    for (const service of NODE_SERVICES.filter((s) => s.user !== "root")) {
      problems.push(...(await checkAccess(root, service)).problems);
    }
    assert.deepEqual(problems, []);
    // the list itself keeps the promises the README makes
    const by = (unit: string) => NODE_SERVICES.find((s) => s.unit === unit)!;
    for (const unit of ["guacd.service", "nginx.service"]) {
      assert.ok(
        by(unit).mustNotRead.includes(NODE_PATHS.guacamoleProperties),
        `${unit} never reads the database login`,
      );
    }
    for (const service of NODE_SERVICES.filter((s) => s.user !== "root")) {
      assert.ok(service.mustNotRead.includes(NODE_PATHS.tlsKey), `only root reads the TLS key (${service.unit})`);
    }
    assert.ok(by("tomcat.service").mustNotWrite.includes(`${TOMCAT_HOME}/webapps`), "Tomcat cannot deploy code");
  });

  test("each unit runs as its user with a UTF-8 locale; NGINX's workers as www-data", async () => {
    for (const { unit, user } of NODE_SERVICES.filter((s) => s.unit !== "nginx.service" && s.user !== "root")) {
      const [main] = unitProcesses(root, unit);
      assert.equal(main.uid, uidOf(user), `${unit} runs as ${user}`);
      const lang = main.env.get("LANG");
      assert.ok(lang, `${unit} sets LANG`);
      const service = NODE_SERVICES.find((s) => s.unit === unit)!;
      const charmap = await runAs(service, ["env", "-i", `LANG=${lang}`, "locale", "charmap"]);
      assert.equal(`${charmap.stdout.trim()} ${charmap.stderr.trim()}`.trim(), "UTF-8", `${unit}'s LANG=${lang}`);
    }
    const nginx = unitProcesses(root, "nginx.service");
    assert.equal(nginx[0].uid, 0, "NGINX's master runs as root (it reads the TLS key)");
    const workers = nginx.slice(1);
    assert.ok(workers.length > 0 && workers.every((w) => w.uid === uidOf(NODE_USERS.web)), "workers run as www-data");
  });

  test("NGINX's www-data workers serve the agent's ACME token, probe answer and drain flag; the master serves TLS", async () => {
    const token = "Ab9-layout-token_0123456789abcdefghijklmnopq";
    const keyAuth = `${token}.thumbprint-layout`;
    const put = await node.runAgent(["acme-challenge", "put", token, keyAuth]);
    assert.equal(put.code, 0, put.stderr);
    const served = await get(node.ports.http, `/.well-known/acme-challenge/${token}`);
    assert.deepEqual(served, { status: 200, body: keyAuth });
    assert.deepEqual(JSON.parse((await get(node.ports.probe, "/jumpgate/health")).body), {
      healthy: false,
      draining: false,
    });
    assert.equal((await node.runAgent(["drain", "on"])).code, 0);
    assert.deepEqual(JSON.parse((await get(node.ports.probe, "/jumpgate/health")).body), {
      healthy: false,
      draining: true,
    });
    const subject = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect(
        { host: "127.0.0.1", port: node.ports.https, servername: INPUT.publicHostname, rejectUnauthorized: false },
        () => {
          resolve(String(socket.getPeerCertificate().subject.CN));
          socket.end();
        },
      );
      socket.on("error", reject);
    });
    assert.equal(subject, INPUT.publicHostname, "the bootstrap certificate init made");
  });

  test("tomcat's user logs in to MariaDB with the login in guacamole.properties; guacd's and www-data's cannot read it", async () => {
    const db: MariaDb = await startMariaDb();
    try {
      await db.query("CREATE USER 'guacamole_a'@'%' IDENTIFIED BY 'layout-Passw0rd' REQUIRE SSL");
      const ca = path.join(root, "etc/ssl/jumpgate-test-db-ca.pem");
      fs.mkdirSync(path.dirname(ca), { recursive: true });
      fs.copyFileSync(db.caPath, ca);
      fs.chmodSync(ca, 0o644);
      // the block `jumpgate-node db-credentials` writes (as root, into the file the installer laid out)
      const properties = path.join(root, NODE_PATHS.guacamoleProperties);
      fs.appendFileSync(
        properties,
        `mysql-username: guacamole_a\nmysql-password: layout-Passw0rd\nmysql-port: ${db.port}\n`,
      );
      // what Connector/J does with it, with the MariaDB client: read the login, connect over verified TLS
      const client = findBinary("mariadb", "mysql");
      const login = String.raw`
        set -euo pipefail
        properties=$(<"$PROPERTIES")
        prop() { sed -n "s/^$1: *//p" <<<"$properties" | tail -n1; }
        options=$(mktemp -p "$TMPDIR")
        printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\nssl\nssl-ca=%s\nssl-verify-server-cert\n' \
          "$(prop mysql-username)" "$(prop mysql-password)" "$(prop mysql-hostname)" "$(prop mysql-port)" "$CA" >"$options"
        "$CLIENT" --defaults-file="$options" --batch --skip-column-names -e 'SELECT CURRENT_USER()'
        rm -f "$options"`;
      const env = [
        `PROPERTIES=${properties}`,
        `CA=${ca}`,
        `CLIENT=${client}`,
        `TMPDIR=${path.join(root, TOMCAT_HOME, "temp")}`,
      ];
      const by = (unit: string) => NODE_SERVICES.find((s) => s.unit === unit)!;
      const asTomcat = await runAs(by("tomcat.service"), ["env", ...env, "bash", "-c", login]);
      assert.equal(asTomcat.code, 0, asTomcat.stderr);
      assert.equal(asTomcat.stdout.trim(), "guacamole_a@%");
      for (const unit of ["guacd.service", "nginx.service"]) {
        const denied = await runAs(by(unit), ["env", ...env, "bash", "-c", login]);
        assert.notEqual(denied.code, 0, `${unit} must not log in`);
        assert.match(denied.stderr, /guacamole\.properties: Permission denied/);
      }
    } finally {
      await db.stop();
    }
  });

  test("sign-in puts the OpenID extension where Tomcat loads it (0640 root:tomcat); Tomcat, as tomcat, starts with it", async () => {
    const available = path.join(root, NODE_PATHS.openIdExtensionAvailable);
    assert.equal(
      fs.readFileSync(available, "utf8"),
      "stand-in guacamole-auth-sso-openid-1.6.0.jar\n",
      "from the SSO bundle",
    );
    assert.deepEqual([fs.statSync(available).uid, fs.statSync(available).mode & 0o777], [0, 0o600]);
    assert.equal(fs.statSync(path.dirname(available)).mode & 0o777, 0o700, "only root reaches it while sign-in is off");
    const tomcat = NODE_SERVICES.find((s) => s.unit === "tomcat.service")!;
    const denied = await runAs(tomcat, ["head", "-c1", available]);
    assert.notEqual(denied.code, 0, "Tomcat does not load it from there");

    // Guacamole answering on Tomcat's port: the stand-in catalina.sh only does what Tomcat does with files
    const guacamole = http.createServer((_req, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end("{}"),
    );
    await new Promise<void>((resolve) => guacamole.listen(node.ports.tomcat, "127.0.0.1", resolve));
    try {
      const access = {
        tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
        clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
        usernameClaim: "preferred_username" as const,
        adminGroups: ["0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f"],
        userGroups: [],
        breakGlass: { maxMinutes: 240, passwordMaxAgeDays: 30 },
      };
      const on = await node.runAgent([
        "sign-in",
        ...signInArgs(signInProperties(access, { publicHostname: INPUT.publicHostname })),
      ]);
      assert.equal(on.code, 0, on.stderr);
      const jar = path.join(root, NODE_PATHS.openIdExtension);
      const stat = fs.statSync(jar);
      assert.deepEqual([stat.uid, stat.gid, stat.mode & 0o777], [0, gidOf(NODE_USERS.tomcat), 0o640]);
      const properties = fs.statSync(path.join(root, NODE_PATHS.guacamoleProperties));
      assert.deepEqual([properties.uid, properties.gid, properties.mode & 0o777], [0, gidOf(NODE_USERS.tomcat), 0o640]);
      // restarted by the agent, the unit runs as tomcat, reads every extension (the stand-in fails on
      // an unreadable one) and stays up; the service list holds as tomcat with the new jar in it
      assert.equal((await node.systemctl(["is-active", "tomcat.service"])).stdout.trim(), "active");
      assert.equal(unitProcesses(root, "tomcat.service")[0].uid, uidOf(NODE_USERS.tomcat));
      assert.deepEqual((await checkAccess(root, tomcat)).problems, []);
      const read = await runAs(tomcat, ["head", "-c1", jar]);
      assert.equal(read.code, 0, read.stderr);

      const off = await node.runAgent(["sign-in", "--off"]);
      assert.equal(off.code, 0, off.stderr);
      assert.equal(fs.existsSync(jar), false, "off: the extension is gone");
      assert.equal((await node.systemctl(["is-active", "tomcat.service"])).stdout.trim(), "active");
    } finally {
      await new Promise<void>((resolve) => guacamole.close(() => resolve()));
    }
  });

  test("systemd-analyze verify accepts the units as installed (their binaries exist and are executable)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-units-"));
    try {
      for (const unit of ["guacd.service", "tomcat.service", "jumpgate-probe.service", "jumpgate-probe.timer"]) {
        // the unit as on the node, its paths under the sandbox root (where the installer put the binaries)
        const text = fs
          .readFileSync(path.join(root, "etc/systemd/system", unit), "utf8")
          .replace(/(?<=[=\s])\/(?=(?:usr\/local|opt|etc)\/)/g, `${root}/`);
        fs.writeFileSync(path.join(dir, unit), text);
      }
      const r = await runCommand(
        findBinary("systemd-analyze"),
        [
          "verify",
          "--man=no",
          ...["guacd.service", "tomcat.service", "jumpgate-probe.timer"].map((u) => path.join(dir, u)),
        ],
        { timeoutMs: 30_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr.trim(), "", "no warning about any directive");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("install-node.sh with a unit that exits at once", () => {
  let root: string;
  let node: InstalledNode;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-layout-fail-"));
    node = await prepareInstalledNode(root, renderNodeCloudInit(INPUT), {
      edit: (config) => {
        // a setting guacd does not know: guacd refuses its configuration and exits 1 at start-up
        const conf = config.write_files.find((f) => f.path === NODE_PATHS.guacdConf);
        assert.ok(conf, "the document writes guacd.conf");
        conf.content += "\n[server]\nbind_interface = eth0\n";
      },
    });
  });
  after(async () => {
    await node?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("the installer names the unit and its last log lines, fails, and writes no success marker; health names it too", async () => {
    const r = await node.install();
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: guacd\.service is not running \(failed/);
    assert.match(r.stderr, /Parse error at line \d+, column 0: Invalid parameter or section name\./);
    assert.match(r.stderr, /Unable to parse ".*\/etc\/guacd\/guacd\.conf"\./);
    assert.doesNotMatch(r.stderr, /node installed/);
    assert.equal(fs.existsSync(path.join(root, "var/lib/jumpgate/installed.json")), false, "no success marker");

    const health = await node.runAgent(["health"]);
    assert.equal(health.code, 1);
    const report = parseHealth(health.stdout);
    assert.equal(report.installed, null);
    const guacd = report.checks.find((c) => c.name === "guacd")!;
    assert.equal(guacd.ok, false);
    assert.match(guacd.detail, /guacd\.service is failed/);
    const unit = report.failingUnits.find((u) => u.unit === "guacd.service");
    assert.ok(unit, JSON.stringify(report.failingUnits));
    assert.equal(unit.activeState, "failed");
    assert.ok(
      unit.log.some((line) => /Unable to parse/.test(line)),
      unit.log.join("\n"),
    );
  });
});

describe("install-node.sh with Tomcat's lib/ left as Apache packs it", () => {
  let root: string;
  let node: InstalledNode;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-layout-lib-"));
    node = await prepareInstalledNode(root, renderNodeCloudInit(INPUT), {
      edit: (config) => {
        // the layout without its lib/ entry: lib/ stays 750/640 for uid 0, as in the tarball
        const file = config.write_files.find((f) => f.path === NODE_PATHS.services)!;
        const services = JSON.parse(file.content) as { layout: { path: string }[] };
        services.layout = services.layout.filter((e) => e.path !== `${TOMCAT_HOME}/lib`);
        file.content = JSON.stringify(services);
      },
    });
  });
  after(async () => {
    await node?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test("the installer's own check as user tomcat stops it before any unit starts, naming the path", async () => {
    const r = await node.install();
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /tomcat \(tomcat\.service\) cannot read \/opt\/tomcat\/lib\/\*\.jar/);
    assert.match(r.stderr, /the node's layout does not give each service what it needs/);
    const calls = fs.readFileSync(path.join(root, ".test/systemctl.log"), "utf8");
    assert.doesNotMatch(calls, /enable --now/, "nothing was started");
    assert.equal(fs.existsSync(path.join(root, "var/lib/jumpgate/installed.json")), false);
  });
});
