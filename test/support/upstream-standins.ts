// Stand-ins for the upstream artifacts a web node downloads, built the way upstream builds them, so
// the installer unpacks what it unpacks on a real node, modes and owners included:
//
// - Apache Tomcat: its build.xml (9.0.x, target `package-tgz`) packs conf/ with dirmode 700 and
//   filemode 600; bin/, lib/, logs/, temp/, webapps/, work/ and the top-level text files with 750
//   and 640; bin/*.sh with 750. Ant's tar task writes uid and gid 0 (it sets no owner), so a root
//   extraction gives root:root, never tomcat. bin/catalina.sh is a stand-in that opens at start-up
//   what Tomcat opens and writes where Tomcat writes (see TOMCAT_CATALINA_SH), then runs the real
//   JVM of JAVA_HOME.
// - guacamole-server: a source tarball (automake's default v7 tar: numeric ids of the release
//   manager, not root) whose configure understands --prefix and --with-guacd-conf (default
//   /etc/guacamole/guacd.conf, here inside the sandbox root) and whose `make install` installs
//   a stand-in guacd (see GUACD) and libguac, 0755 like libtool.
// - The Guacamole WAR, the JDBC extensions (with the committed 1.6.0 MySQL schema), the SSO
//   extensions (Apache's guacamole-auth-sso-<version>.tar.gz: cas/, openid/ and saml/ jars, 0644,
//   uid 0 like the JDBC bundle Maven's assembly packs) and Connector/J: archives with the members
//   the installer takes out of them.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { MYSQL_CONNECTOR_J, TOMCAT, guacamoleRelease } from "../../shared/node/catalog";
import { repoRoot } from "../../dev/node-sandbox";

export interface StandInArtifact {
  file: string;
  sha256: string;
}

/** The artifacts keyed like the installer's JUMPGATE_ARTIFACT_<NAME> variables. */
export type StandInArtifacts = Record<
  "GUACAMOLE_SERVER" | "GUACAMOLE_WAR" | "GUACAMOLE_AUTH_JDBC" | "GUACAMOLE_AUTH_SSO" | "TOMCAT" | "MYSQL_CONNECTOR_J",
  StandInArtifact
>;

export interface StandInOptions {
  /** guacd's compiled-in configuration file when configure gets no --with-guacd-conf */
  defaultGuacdConf: string;
  guacamoleVersion?: string;
  /** the JDBC bundle's mysql/schema/upgrade/ scripts (file name -> SQL); the committed 1.6.0 bundle has none here */
  upgradeScripts?: Record<string, string>;
}

/** The uid and gid automake's `make dist` records: the release manager's, an ordinary account. */
const RELEASE_MANAGER_ID = 1000;

export function buildUpstreamStandIns(dir: string, options: StandInOptions): StandInArtifacts {
  const version = guacamoleRelease(options.guacamoleVersion).version;
  fs.mkdirSync(dir, { recursive: true });
  const out = (name: string) => path.join(dir, name);
  const artifacts = {
    GUACAMOLE_SERVER: guacamoleServer(
      dir,
      out(`guacamole-server-${version}.tar.gz`),
      version,
      options.defaultGuacdConf,
    ),
    TOMCAT: tomcat(dir, out(`apache-tomcat-${TOMCAT.version}.tar.gz`)),
    GUACAMOLE_WAR: guacamoleWar(dir, out(`guacamole-${version}.war`), version),
    GUACAMOLE_AUTH_JDBC: authJdbc(dir, out(`guacamole-auth-jdbc-${version}.tar.gz`), version, options.upgradeScripts),
    GUACAMOLE_AUTH_SSO: authSso(dir, out(`guacamole-auth-sso-${version}.tar.gz`), version),
    MYSQL_CONNECTOR_J: connectorJ(dir, out(`mysql-connector-j-${MYSQL_CONNECTOR_J.version}.zip`)),
  };
  return Object.fromEntries(
    Object.entries(artifacts).map(([k, file]) => [
      k,
      { file, sha256: createHash("sha256").update(fs.readFileSync(file)).digest("hex") },
    ]),
  ) as StandInArtifacts;
}

type Tree = Record<string, { mode: number; content?: string }>;

/** Lays out `tree` (paths relative to `top`; a path ending in / is a directory) with exact modes. */
function stage(base: string, top: string, tree: Tree): string {
  const staging = fs.mkdtempSync(path.join(base, "stage-"));
  const topDir = path.join(staging, top);
  fs.mkdirSync(topDir, { mode: 0o755 });
  const entries = Object.entries(tree).sort(([a], [b]) => a.localeCompare(b));
  for (const [rel, { content }] of entries) {
    const p = path.join(topDir, rel);
    if (rel.endsWith("/")) fs.mkdirSync(p, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content ?? `stand-in ${path.basename(rel)}\n`);
    }
  }
  // modes last, deepest first, so a 0700 directory does not stop the staging of its children
  for (const [rel, { mode }] of entries.reverse()) fs.chmodSync(path.join(topDir, rel), mode);
  return staging;
}

function tar(staging: string, top: string, file: string, owner: number, format: "gnu" | "v7"): string {
  execFileSync("tar", [
    `--format=${format}`,
    "--numeric-owner",
    `--owner=${owner}`,
    `--group=${owner}`,
    "--sort=name",
    "-czf",
    file,
    "-C",
    staging,
    top,
  ]);
  fs.rmSync(staging, { recursive: true, force: true });
  return file;
}

/** Zips `members` of directory `cwd` (inside `staging`, which is removed afterwards). */
function zip(staging: string, cwd: string, members: string, file: string): string {
  execFileSync("zip", ["-q", "-X", "-r", file, members], { cwd });
  fs.rmSync(staging, { recursive: true, force: true });
  return file;
}

function tomcat(base: string, file: string): string {
  const top = `apache-tomcat-${TOMCAT.version}`;
  const tree: Tree = {};
  const dir = (p: string, mode: number) => (tree[`${p}/`] = { mode });
  const put = (p: string, mode: number, content?: string) => (tree[p] = { mode, content });
  // build.xml: conf/** 700/600
  dir("conf", 0o700);
  for (const f of ["server.xml", "web.xml", "context.xml", "logging.properties", "catalina.properties"]) {
    put(`conf/${f}`, 0o600, `<!-- stand-in ${f} -->\n`);
  }
  for (const f of ["catalina.policy", "jaspic-providers.xml", "tomcat-users.xml", "tomcat-users.xsd"]) {
    put(`conf/${f}`, 0o600);
  }
  // build.xml: bin/**, lib/**, logs/**, temp/**, webapps/**, work/** and the text files 750/640
  for (const d of ["bin", "lib", "logs", "temp", "webapps", "work"]) dir(d, 0o750);
  for (const f of ["bootstrap.jar", "tomcat-juli.jar", "commons-daemon.jar", "catalina.bat", "startup.bat"]) {
    put(`bin/${f}`, 0o640);
  }
  for (const f of [
    "catalina.jar",
    "servlet-api.jar",
    "jasper.jar",
    "el-api.jar",
    "tomcat-util.jar",
    "tomcat-coyote.jar",
  ]) {
    put(`lib/${f}`, 0o640);
  }
  put("temp/safeToDelete.tmp", 0o640, "");
  for (const app of ["ROOT", "docs", "examples", "manager", "host-manager"]) {
    dir(`webapps/${app}`, 0o750);
    dir(`webapps/${app}/WEB-INF`, 0o750);
    put(`webapps/${app}/WEB-INF/web.xml`, 0o640, `<!-- stand-in ${app} -->\n`);
  }
  for (const f of [
    "LICENSE",
    "NOTICE",
    "README.md",
    "RELEASE-NOTES",
    "RUNNING.txt",
    "BUILDING.txt",
    "CONTRIBUTING.md",
  ]) {
    put(f, 0o640);
  }
  // build.xml: bin/*.sh 750
  put("bin/catalina.sh", 0o750, TOMCAT_CATALINA_SH);
  put("bin/setclasspath.sh", 0o750, TOMCAT_SETCLASSPATH_SH);
  for (const f of ["startup.sh", "shutdown.sh", "version.sh", "configtest.sh"]) {
    put(`bin/${f}`, 0o750, `#!/bin/sh\necho "stand-in ${f}: use catalina.sh run" >&2\nexit 1\n`);
  }
  // Ant's tar task: uid 0, gid 0
  return tar(stage(base, top, tree), top, file, 0, "gnu");
}

function guacamoleServer(base: string, file: string, version: string, defaultGuacdConf: string): string {
  const top = `guacamole-server-${version}`;
  const tree: Tree = {
    configure: { mode: 0o755, content: configureScript(defaultGuacdConf) },
    "Makefile.in": { mode: 0o644, content: MAKEFILE },
    "src/": { mode: 0o755 },
    "src/guacd/": { mode: 0o755 },
    "src/guacd/guacd.in": { mode: 0o644, content: GUACD.replace(/@VERSION@/g, version) },
    "src/libguac/": { mode: 0o755 },
    "src/libguac/libguac.so.25.0.0": { mode: 0o644 },
  };
  return tar(stage(base, top, tree), top, file, RELEASE_MANAGER_ID, "v7");
}

function guacamoleWar(base: string, file: string, version: string): string {
  const tree: Tree = {
    "index.html": { mode: 0o644, content: `<!-- stand-in Guacamole ${version} -->\n` },
    "WEB-INF/": { mode: 0o755 },
    "WEB-INF/web.xml": { mode: 0o644, content: "<!-- stand-in web.xml: GUACAMOLE_HOME is read at start-up -->\n" },
    "WEB-INF/lib/": { mode: 0o755 },
    [`WEB-INF/lib/guacamole-ext-${version}.jar`]: { mode: 0o644 },
  };
  const staging = stage(base, "war", tree);
  return zip(staging, path.join(staging, "war"), ".", file);
}

function authJdbc(base: string, file: string, version: string, upgrade: Record<string, string> = {}): string {
  const top = `guacamole-auth-jdbc-${version}`;
  const tree: Tree = {
    "mysql/": { mode: 0o755 },
    [`mysql/guacamole-auth-jdbc-mysql-${version}.jar`]: { mode: 0o644 },
    "mysql/schema/": { mode: 0o755 },
  };
  const schema = path.join(repoRoot(), "test", "fixtures", "guacamole-schema");
  for (const name of fs.readdirSync(schema).filter((n) => n.endsWith(".sql"))) {
    tree[`mysql/schema/${name}`] = { mode: 0o644, content: fs.readFileSync(path.join(schema, name), "utf8") };
  }
  if (Object.keys(upgrade).length > 0) tree["mysql/schema/upgrade/"] = { mode: 0o755 };
  for (const [name, content] of Object.entries(upgrade))
    tree[`mysql/schema/upgrade/${name}`] = { mode: 0o644, content };
  return tar(stage(base, top, tree), top, file, 0, "gnu");
}

function authSso(base: string, file: string, version: string): string {
  const top = `guacamole-auth-sso-${version}`;
  const tree: Tree = {};
  for (const kind of ["cas", "openid", "saml"]) {
    tree[`${kind}/`] = { mode: 0o755 };
    tree[`${kind}/guacamole-auth-sso-${kind}-${version}.jar`] = {
      mode: 0o644,
      content: `stand-in guacamole-auth-sso-${kind}-${version}.jar\n`,
    };
  }
  tree["LICENSE"] = { mode: 0o644 };
  return tar(stage(base, top, tree), top, file, 0, "gnu");
}

function connectorJ(base: string, file: string): string {
  const [top, jar] = MYSQL_CONNECTOR_J.member.split("/");
  const staging = stage(base, top, { [jar]: { mode: 0o644 } });
  return zip(staging, staging, top, file);
}

function configureScript(defaultGuacdConf: string): string {
  return `#!/bin/sh
# configure of the stand-in guacamole-server: the options Jumpgate's installer passes, as
# guacamole-server's configure.ac defines them (--with-guacd-conf defaults to
# /etc/guacamole/guacd.conf; here that path inside the sandbox root).
prefix=/usr/local
guacd_conf='${defaultGuacdConf}'
for arg in "$@"; do
  case $arg in
    --prefix=*) prefix=\${arg#*=} ;;
    --with-guacd-conf=*) guacd_conf=\${arg#*=} ;;
    --disable-guacenc | --disable-guaclog) ;;
    *) echo "configure: error: unrecognized option: $arg" >&2; exit 1 ;;
  esac
done
sed -e "s|@prefix@|$prefix|g" -e "s|@guacd_conf@|$guacd_conf|g" Makefile.in >Makefile
echo "guacd configuration file: $guacd_conf"
`;
}

const MAKEFILE = [
  "prefix = @prefix@",
  "guacd_conf = @guacd_conf@",
  "",
  "all: src/guacd/guacd",
  "",
  "src/guacd/guacd: src/guacd/guacd.in",
  "\tsed -e 's|@GUACD_CONF@|$(guacd_conf)|g' src/guacd/guacd.in >$@",
  "",
  "install: all",
  "\tinstall -d $(prefix)/sbin $(prefix)/lib",
  "\tinstall -m 0755 src/guacd/guacd $(prefix)/sbin/guacd",
  "\tinstall -m 0755 src/libguac/libguac.so.25.0.0 $(prefix)/lib/libguac.so.25.0.0",
  "\tln -sf libguac.so.25.0.0 $(prefix)/lib/libguac.so.25",
  "",
].join("\n");

/**
 * guacd's start-up as guacamole-server 1.6.0 does it (src/guacd/daemon.c, conf-file.c,
 * conf-parse.c): load the compiled-in configuration file (missing: fine; unreadable: "Unable to
 * open", exit 1; an unknown section or parameter: "Parse error", exit 1), then the arguments, log
 * the start, bind, listen. Each connection is held open like a session. It logs to stderr only
 * (the real one logs each line to syslog too).
 */
const GUACD = `#!/usr/bin/env node
// Stand-in guacd @VERSION@ (Jumpgate tests): what guacd does at start-up, as the user it runs as.
"use strict";
const fs = require("fs");
const net = require("net");
const CONF = "@GUACD_CONF@";
const VERSION = "@VERSION@";
const STRERROR = { EACCES: "Permission denied", EISDIR: "Is a directory", ELOOP: "Too many levels of symbolic links", ENOTDIR: "Not a directory" };
const LEVELS = ["error", "warning", "info", "debug", "trace"];
const config = { bind_host: "localhost", bind_port: "4822", log_level: "info", foreground: false, version: false };
const fail = (text) => { process.stderr.write(text + "\\n"); process.exit(1); };

let text = null;
try { text = fs.readFileSync(CONF, "utf8"); }
catch (e) { if (e.code !== "ENOENT") fail('Unable to open "' + CONF + '": ' + (STRERROR[e.code] || e.code)); }
if (text !== null) {
  const known = { server: ["bind_host", "bind_port"], daemon: ["pid_file", "log_level"], ssl: ["server_certificate", "server_key"] };
  let section = null;
  text.split("\\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    const header = /^\\[([a-z_]+)\\]$/.exec(line);
    if (header) { section = header[1]; return; }
    const kv = /^([a-z_]+)\\s*=\\s*(.*)$/.exec(line);
    const ok = kv && section && known[section] && known[section].includes(kv[1]) && !(kv[1] === "log_level" && !LEVELS.includes(kv[2]));
    if (!ok) {
      process.stderr.write("Parse error at line " + (i + 1) + ", column 0: Invalid parameter or section name.\\n");
      fail('Unable to parse "' + CONF + '".');
    }
    config[kv[1]] = kv[2];
  });
}
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "-f") config.foreground = true;
  else if (a === "-v") config.version = true;
  else if (a === "-b") config.bind_host = args[++i];
  else if (a === "-l") config.bind_port = args[++i];
  else if (a === "-L") config.log_level = args[++i];
  else if (a === "-p") config.pid_file = args[++i];
  else fail("USAGE: guacd [-l LISTENPORT] [-b LISTENADDRESS] [-p PIDFILE] [-L LEVEL] [-f] [-v]");
}
if (config.version) { process.stdout.write("Guacamole proxy daemon (guacd) version " + VERSION + "\\n"); process.exit(0); }
const log = (level, message) => {
  if (LEVELS.indexOf(level) <= LEVELS.indexOf(config.log_level)) {
    process.stderr.write("guacd[" + process.pid + "]: " + level.toUpperCase() + ":\\t" + message + "\\n");
  }
};
log("info", "Guacamole proxy daemon (guacd) version " + VERSION + " started");
const sessions = new Set();
const server = net.createServer((socket) => { sessions.add(socket); socket.on("error", () => {}); socket.on("close", () => sessions.delete(socket)); });
server.on("error", () => { log("error", "Unable to bind socket to any addresses."); process.exit(1); });
server.listen(Number(config.bind_port), config.bind_host, () => {
  if (config.pid_file) fs.writeFileSync(config.pid_file, process.pid + "\\n");
  log("info", "Listening on host " + config.bind_host + ", port " + config.bind_port);
  if (process.env.JUMPGATE_STANDIN_READY) fs.writeFileSync(process.env.JUMPGATE_STANDIN_READY, "");
});
process.on("SIGTERM", () => process.exit(0));
`;

/** setclasspath.sh: Tomcat's check that JAVA_HOME holds a runnable java. */
const TOMCAT_SETCLASSPATH_SH = `#!/bin/sh
# stand-in of Tomcat's setclasspath.sh: the JVM comes from JAVA_HOME
if [ -z "\${JAVA_HOME:-}" ] || [ ! -x "$JAVA_HOME/bin/java" ]; then
  echo "The JAVA_HOME environment variable is not defined correctly" >&2
  echo "This environment variable is needed to run this program" >&2
  exit 1
fi
_RUNJAVA="$JAVA_HOME/bin/java"
`;

/**
 * `catalina.sh run` as far as files go: it sources setclasspath.sh, runs the real JVM of
 * JAVA_HOME (java.io.tmpdir in temp/), reads conf/ and lib/, logs to logs/, creates
 * conf/Catalina/localhost when it is missing (HostConfig), expands webapps/*.war when server.xml
 * says unpackWARs="true", deploys webapps/ROOT (its work directory in work/), and Guacamole reads
 * GUACAMOLE_HOME. An access Tomcat cannot do without stops it (exit 1); one Tomcat only logs is
 * logged as SEVERE. It does not serve HTTP (the node sandbox's in-process Tomcat does).
 */
const TOMCAT_CATALINA_SH = `#!/usr/bin/env bash
# Stand-in for Apache Tomcat's bin/catalina.sh (Jumpgate tests): start-up file access, real JVM.
set -u
severe() { printf '%s SEVERE [main] %s\\n' "$(date +%d-%b-%Y\\ %H:%M:%S)" "$*" >&2; }
fail() { severe "$*"; exit 1; }
readable() {
  local f err
  for f in "$@"; do
    err=$({ : <"$f"; } 2>&1) || fail "cannot read $f: \${err##*: }"
  done
}
[ "\${1:-}" = run ] || { echo "Usage: catalina.sh run (stand-in: foreground only)" >&2; exit 1; }
PRGDIR=$(dirname "$0")
CATALINA_HOME=\${CATALINA_HOME:-$(cd "$PRGDIR/.." && pwd)}
CATALINA_BASE=\${CATALINA_BASE:-$CATALINA_HOME}
CATALINA_TMPDIR=$CATALINA_BASE/temp
readable "$CATALINA_HOME/bin/setclasspath.sh"
. "$CATALINA_HOME/bin/setclasspath.sh"
readable "$CATALINA_HOME/bin/bootstrap.jar" "$CATALINA_HOME/bin/tomcat-juli.jar"
"$_RUNJAVA" -Djava.io.tmpdir="$CATALINA_TMPDIR" -version 2>/dev/null || fail "$_RUNJAVA does not run"
readable "$CATALINA_BASE/conf/logging.properties"
log="$CATALINA_BASE/logs/catalina.$(date +%Y-%m-%d).log"
err=$( { printf 'INFO [main] Server version name: Apache Tomcat (stand-in)\\n' >>"$log"; } 2>&1) ||
  fail "cannot write $log: \${err##*: }"
readable "$CATALINA_BASE/conf/server.xml" "$CATALINA_BASE/conf/web.xml" "$CATALINA_BASE/conf/context.xml" \\
  "$CATALINA_BASE/conf/catalina.properties" "$CATALINA_HOME"/lib/*.jar
mkdir -p "$CATALINA_BASE/conf/Catalina/localhost" 2>/dev/null ||
  severe "Unable to create directory for deployment: [$CATALINA_BASE/conf/Catalina/localhost]"
if grep -q 'unpackWARs="true"' "$CATALINA_BASE/conf/server.xml"; then
  for war in "$CATALINA_BASE"/webapps/*.war; do
    [ -e "$war" ] || continue
    app=\${war%.war}
    readable "$war"
    { mkdir -p "$app" && unzip -q -o "$war" -d "$app"; } 2>/dev/null || severe "Error expanding [$war] into [$app]"
  done
fi
readable "$CATALINA_BASE/webapps/ROOT/WEB-INF/web.xml"
work="$CATALINA_BASE/work/Catalina/localhost/ROOT"
mkdir -p "$work" 2>/dev/null || fail "cannot create the work directory $work"
home=\${GUACAMOLE_HOME:-$HOME/.guacamole}
readable "$home/guacamole.properties"
for jar in "$home"/extensions/*.jar "$home"/lib/*.jar; do [ -e "$jar" ] && readable "$jar"; done
printf 'INFO [main] Server startup (stand-in)\\n' >>"$log"
echo "Server startup (stand-in)"
[ -z "\${JUMPGATE_STANDIN_READY:-}" ] || : >"$JUMPGATE_STANDIN_READY"
trap 'exit 143' TERM
while :; do sleep 3600 & wait $!; done
`;
