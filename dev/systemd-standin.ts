// Stand-ins for systemctl and journalctl in a node sandbox: systemd is not PID 1 on this machine.
//
// Every call is appended to <root>/.test/systemctl.log, and a state-changing call fails once when
// <root>/.test/fail-next-systemctl exists (what NodeSandbox.failNextSystemctl arranges). Two modes:
//
// - `record` (a few lines of bash, as cheap as the calls it records): nothing runs; the services
//   are the test's own in-process stand-ins, and systemd's view of them is "active" (as it is of a
//   wedged Tomcat), or "failed" for a unit named in <root>/.test/failed-units/ (one that exits at
//   every start, after systemd's restarts).
// - `run` (this module): a unit found under <root>/etc/systemd/system or <root>/lib/systemd/system
//   is started the way systemd starts it: ExecStart with Environment=, EnvironmentFile=, UMask=,
//   StateDirectory= and NoNewPrivileges=, as User=/Group= with the user's groups plus
//   SupplementaryGroups= (setpriv), stdout and stderr to the unit's journal. Node paths in the
//   unit (/etc, /opt, /usr/local, /var, /run) are taken under the root, as the installer and the
//   agent take them. `start` returns once the service has exited, written its PIDFile=, or said it
//   is up (JUMPGATE_STANDIN_READY, which the stand-in guacd and Tomcat honour), so what the
//   installer sees next is determined, not a race. A service that exits stays failed (systemd
//   would restart it; the installer and the agent treat both alike: NRestarts stays 0 here).
//   Namespacing and IP filtering (ProtectSystem=, InaccessiblePaths=, IPAddressDeny=) are not
//   applied: the unit tests check those directives, and `systemd-analyze verify` parses the units.
//
// Processes are stopped by the process group this stand-in created (never by name).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export type StandInMode = "record" | "run";

const NODE_DIRS = ["/etc/", "/opt/", "/usr/local/", "/var/", "/run/", "/lib/systemd/"];
const READ_ONLY_VERBS = new Set(["show", "is-active", "is-enabled", "is-failed", "status", "cat"]);
const START_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 10_000;

/** Writes <root>/.test/bin/systemctl and journalctl stand-ins; returns their paths. */
export function installSystemdStandIns(root: string, mode: StandInMode): { systemctl: string; journalctl: string } {
  const bin = path.join(root, ".test", "bin");
  fs.mkdirSync(bin, { recursive: true });
  const write = (tool: string, text: string) => {
    const file = path.join(bin, tool);
    fs.writeFileSync(file, text, { mode: 0o755 });
    return file;
  };
  if (mode === "record") {
    return {
      systemctl: write("systemctl", RECORDING_SYSTEMCTL),
      journalctl: write("journalctl", "#!/bin/sh\nexit 0\n"),
    };
  }
  const wrapper = (tool: string) => {
    const args = [process.execPath, __filename, tool, root].map((a) => `'${a.replace(/'/g, `'\\''`)}'`);
    return write(tool, `#!/bin/sh\nexec ${args.join(" ")} "$@"\n`);
  };
  return { systemctl: wrapper("systemctl"), journalctl: wrapper("journalctl") };
}

const RECORDING_SYSTEMCTL = [
  "#!/usr/bin/env bash",
  "# systemctl stand-in (record mode, dev/systemd-standin.ts): records the call; every unit is active.",
  'dir="$(dirname "$0")/.."',
  'printf \'%s\\n\' "$*" >>"$dir/systemctl.log"',
  'verb=""',
  "for a; do if [[ $a != -* ]]; then verb=$a; break; fi; done",
  "unit=${*: -1}",
  "# a unit the test marked failed (<dir>/failed-units/UNIT): systemd gave up on it",
  "if [[ -f $dir/failed-units/$unit ]]; then",
  "  case $verb in",
  "    show) printf 'ActiveState=failed\\nSubState=failed\\nNRestarts=5\\nResult=exit-code\\n'; exit 0 ;;",
  "    is-active) echo failed; exit 3 ;;",
  "  esac",
  "fi",
  "case $verb in",
  "  show) printf 'ActiveState=active\\nSubState=running\\nNRestarts=0\\nResult=success\\n'; exit 0 ;;",
  "  is-active) echo active; exit 0 ;;",
  "esac",
  'if [[ -e $dir/fail-next-systemctl ]]; then rm -f "$dir/fail-next-systemctl"; echo "Job failed (stand-in)" >&2; exit 1; fi',
  "",
].join("\n");

/** Stops every service the stand-in started in this root (by the process groups it recorded). */
export async function stopStandInUnits(root: string): Promise<void> {
  const dir = stateDir(root);
  if (!fs.existsSync(dir)) return;
  const units = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => f.slice(0, -4));
  await Promise.all(units.map((u) => stopUnit(root, u)));
}

/** Where the stand-in keeps what a unit printed (journalctl reads it). */
export function journalFile(root: string, unit: string): string {
  return path.join(stateDir(root), `${unitName(unit)}.journal`);
}

/** The PID of a running unit's process group (the supervisor), or undefined. */
export function unitProcessGroup(root: string, unit: string): number | undefined {
  const pidFile = path.join(stateDir(root), `${unitName(unit)}.pid`);
  if (!fs.existsSync(pidFile)) return undefined;
  const pid = Number(fs.readFileSync(pidFile, "utf8"));
  return alive(pid) ? pid : undefined;
}

function readyFile(root: string, unit: string): string {
  return path.join(stateDir(root), "notify", unit, "ready");
}

function stateDir(root: string): string {
  return path.join(root, ".test", "systemd");
}

function unitName(name: string): string {
  return /\.(service|timer|socket|target|path|mount)$/.test(name) ? name : `${name}.service`;
}

// ----------------------------------------------------------------------------- unit files

type UnitFile = Map<string, [string, string][]>;

function parseUnitFile(text: string): UnitFile {
  const sections: UnitFile = new Map();
  let current: [string, string][] | undefined;
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1], current);
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0 || !current) throw new Error(`unit file: cannot parse '${line}'`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** All values of a directive (an empty assignment resets the list, as in systemd). */
function values(unit: UnitFile, section: string, key: string): string[] {
  let out: string[] = [];
  for (const [k, v] of unit.get(section) ?? []) {
    if (k !== key) continue;
    if (v === "") out = [];
    else out.push(v);
  }
  return out;
}

function value(unit: UnitFile, section: string, key: string): string | undefined {
  return values(unit, section, key).at(-1);
}

/** Splits a command line or an Environment= value into words (double and single quotes). */
function words(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? m[3]));
  }
  return out;
}

function specifiers(text: string): string {
  return text.replace(/%([%St])/g, (_m, c: string) => (c === "%" ? "%" : c === "S" ? "/var/lib" : "/run"));
}

function relocate(root: string, text: string): string {
  return NODE_DIRS.some((d) => text.startsWith(d)) ? path.join(root, text) : text;
}

function findUnit(root: string, unit: string): UnitFile | undefined {
  for (const dir of ["etc/systemd/system", "lib/systemd/system"]) {
    const file = path.join(root, dir, unit);
    if (fs.existsSync(file)) return parseUnitFile(fs.readFileSync(file, "utf8"));
  }
  return undefined;
}

// ----------------------------------------------------------------------------- services

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function accountIds(user: string): { uid: number; gid: number; groups: number[]; home: string } {
  const entry = spawnSync("getent", ["passwd", user], { encoding: "utf8" }).stdout.trim().split(":");
  if (entry.length < 7) throw new Error(`no such user ${user}`);
  const groups = spawnSync("id", ["-G", user], { encoding: "utf8" }).stdout.trim().split(/\s+/).map(Number);
  return { uid: Number(entry[2]), gid: Number(entry[3]), groups, home: entry[5] };
}

function groupId(group: string): number {
  const entry = spawnSync("getent", ["group", group], { encoding: "utf8" }).stdout.trim().split(":");
  if (entry.length < 3) throw new Error(`no such group ${group}`);
  return Number(entry[2]);
}

function readEnvironmentFile(file: string): [string, string][] {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && l.includes("="))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).replace(/^"(.*)"$/, "$1")]);
}

function unitState(root: string, unit: string): Record<string, string> {
  const dir = stateDir(root);
  const base = path.join(dir, unit);
  if (unit.endsWith(".timer")) {
    const on = fs.existsSync(`${base}.active`);
    return { ActiveState: on ? "active" : "inactive", SubState: on ? "waiting" : "dead", Result: "success" };
  }
  const exitFile = `${base}.exit`;
  if (fs.existsSync(exitFile)) {
    const code = Number(fs.readFileSync(exitFile, "utf8").trim());
    return code === 0
      ? { ActiveState: "inactive", SubState: "dead", Result: "success", ExecMainStatus: "0", MainPID: "0" }
      : { ActiveState: "failed", SubState: "failed", Result: "exit-code", ExecMainStatus: String(code), MainPID: "0" };
  }
  const pid = unitProcessGroup(root, unit);
  if (pid !== undefined) return { ActiveState: "active", SubState: "running", Result: "success", MainPID: String(pid) };
  if (fs.existsSync(`${base}.pid`))
    return { ActiveState: "failed", SubState: "failed", Result: "signal", MainPID: "0" };
  return { ActiveState: "inactive", SubState: "dead", Result: "success", MainPID: "0" };
}

async function startUnit(root: string, unit: string): Promise<void> {
  const file = findUnit(root, unit);
  if (!file) throw new StandInError(`Failed to start ${unit}: Unit ${unit} not found.`, 5);
  const base = path.join(stateDir(root), unit);
  fs.mkdirSync(stateDir(root), { recursive: true });
  if (unit.endsWith(".timer")) {
    fs.writeFileSync(`${base}.active`, "");
    return;
  }
  if (unitProcessGroup(root, unit) !== undefined) return; // already running: start is a no-op
  for (const stale of [".exit", ".pid"]) fs.rmSync(`${base}${stale}`, { force: true });

  const at = (key: string) => value(file, "Service", key);
  const user = at("User");
  const account = user ? accountIds(user) : undefined;
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    JUMPGATE_STANDIN_READY: readyFile(root, unit),
  };
  if (user && account) {
    Object.assign(env, { USER: user, LOGNAME: user, HOME: relocate(root, account.home), SHELL: "/usr/sbin/nologin" });
  }
  for (const entry of values(file, "Service", "EnvironmentFile")) {
    const optional = entry.startsWith("-");
    const envFile = relocate(root, specifiers(optional ? entry.slice(1) : entry));
    if (!fs.existsSync(envFile)) {
      if (optional) continue;
      throw new StandInError(`Failed to start ${unit}: EnvironmentFile ${envFile} is missing.`, 1);
    }
    for (const [k, v] of readEnvironmentFile(envFile)) env[k] = relocate(root, v);
  }
  for (const line of values(file, "Service", "Environment")) {
    for (const assignment of words(specifiers(line))) {
      const eq = assignment.indexOf("=");
      env[assignment.slice(0, eq)] = relocate(root, assignment.slice(eq + 1));
    }
  }
  const uid = account?.uid ?? 0;
  const gid = at("Group") ? groupId(at("Group")!) : (account?.gid ?? 0);
  // the service says it is up by creating this file, in a directory of its own user's
  const notify = path.dirname(readyFile(root, unit));
  fs.rmSync(notify, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(notify), { recursive: true, mode: 0o755 });
  fs.mkdirSync(notify, { mode: 0o700 });
  fs.chownSync(notify, uid, gid);
  for (const name of values(file, "Service", "StateDirectory").flatMap(words)) {
    const dir = path.join(root, "var/lib", name);
    fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(dir, uid, gid);
    fs.chmodSync(dir, parseInt(at("StateDirectoryMode") ?? "0755", 8));
    env.STATE_DIRECTORY = dir;
  }

  const execStart = at("ExecStart");
  if (!execStart) throw new StandInError(`Failed to start ${unit}: no ExecStart=.`, 1);
  const argv = words(specifiers(execStart.replace(/^[-@:+!]+/, ""))).map((w) =>
    relocate(
      root,
      w.replace(/\$\{(\w+)\}/g, (_m, k: string) => env[k] ?? ""),
    ),
  );
  const privileges: string[] = [];
  if (user && account) {
    const groups = [
      ...new Set([...account.groups, ...values(file, "Service", "SupplementaryGroups").flatMap(words).map(groupId)]),
    ];
    privileges.push("setpriv", `--reuid=${uid}`, `--regid=${gid}`, `--groups=${groups.join(",")}`);
    if (at("NoNewPrivileges") === "yes") privileges.push("--no-new-privs");
    privileges.push("--");
  }
  const journal = fs.openSync(journalFile(root, unit), "a");
  const supervisor = 'umask "$1"; exitfile=$2; shift 2; "$@"; echo $? >"$exitfile"';
  const child = spawn(
    "bash",
    ["-c", supervisor, "supervisor", at("UMask") ?? "0022", `${base}.exit`, ...privileges, ...argv],
    {
      detached: true,
      stdio: ["ignore", journal, journal],
      env,
      cwd: at("WorkingDirectory") ? relocate(root, at("WorkingDirectory")!) : "/",
    },
  );
  fs.closeSync(journal);
  fs.writeFileSync(`${base}.pid`, String(child.pid));
  child.unref();

  const pidFile = at("PIDFile") ? relocate(root, specifiers(at("PIDFile")!)) : undefined;
  const deadline = Date.now() + START_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (fs.existsSync(`${base}.exit`) || fs.existsSync(readyFile(root, unit))) return;
    if (pidFile && fs.existsSync(pidFile)) return;
    if (!alive(child.pid!)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function stopUnit(root: string, unit: string): Promise<void> {
  const base = path.join(stateDir(root), unit);
  if (unit.endsWith(".timer")) {
    fs.rmSync(`${base}.active`, { force: true });
    return;
  }
  const pid = unitProcessGroup(root, unit);
  if (pid !== undefined) {
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-pid, s);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    const deadline = Date.now() + STOP_DEADLINE_MS;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    signal("SIGKILL");
  }
  for (const stale of [".exit", ".pid"]) fs.rmSync(`${base}${stale}`, { force: true });
  fs.rmSync(path.dirname(readyFile(root, unit)), { recursive: true, force: true });
}

// ----------------------------------------------------------------------------- commands

class StandInError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

async function systemctl(root: string, args: string[]): Promise<number> {
  const testDir = path.join(root, ".test");
  fs.mkdirSync(testDir, { recursive: true });
  fs.appendFileSync(path.join(testDir, "systemctl.log"), `${args.join(" ")}\n`);
  const flags = args.filter((a) => a.startsWith("-"));
  const [verb, ...rest] = args.filter((a) => !a.startsWith("-"));
  const units = rest.map(unitName);
  if (!READ_ONLY_VERBS.has(verb)) {
    const failNext = path.join(testDir, "fail-next-systemctl");
    if (fs.existsSync(failNext)) {
      fs.rmSync(failNext);
      process.stderr.write("Job failed (stand-in)\n");
      return 1;
    }
  }
  const states = (unit: string) => unitState(root, unit);

  switch (verb) {
    case "show": {
      const wanted = propertiesOf(args);
      for (const unit of units) {
        const state: Record<string, string> = { Id: unit, NRestarts: "0", ...states(unit) };
        for (const key of wanted.length ? wanted : Object.keys(state)) {
          const v = state[key] ?? "";
          process.stdout.write(flags.includes("--value") ? `${v}\n` : `${key}=${v}\n`);
        }
      }
      return 0;
    }
    case "is-active": {
      let all = true;
      for (const unit of units) {
        const s = states(unit).ActiveState;
        if (s !== "active") all = false;
        if (!flags.includes("--quiet") && !flags.includes("-q")) process.stdout.write(`${s}\n`);
      }
      return all ? 0 : 3;
    }
    case "daemon-reload":
    case "mask":
    case "unmask":
      return 0;
    default:
      break;
  }
  const now = flags.includes("--now");
  for (const unit of units) {
    switch (verb) {
      case "enable":
        if (now) await startUnit(root, unit);
        break;
      case "disable":
        if (now) await stopUnit(root, unit);
        break;
      case "start":
        await startUnit(root, unit);
        break;
      case "stop":
        await stopUnit(root, unit);
        break;
      case "restart":
      case "reload-or-restart":
      case "try-restart":
        await stopUnit(root, unit);
        await startUnit(root, unit);
        break;
      default:
        throw new StandInError(`systemctl stand-in: unknown verb '${verb}'`, 1);
    }
  }
  return 0;
}

function propertiesOf(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-p" || a === "--property") out.push(...args[++i].split(","));
    else if (a.startsWith("--property=")) out.push(...a.slice("--property=".length).split(","));
    else if (a.startsWith("-p") && a.length > 2) out.push(...a.slice(2).split(","));
  }
  return out;
}

function journalctl(root: string, args: string[]): number {
  let unit: string | undefined;
  let lines = Infinity;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-u" || a === "--unit") unit = unitName(args[++i]);
    else if (a.startsWith("--unit=")) unit = unitName(a.slice(7));
    else if (a === "-n" || a === "--lines") lines = Number(args[++i]);
    else if (a.startsWith("--lines=")) lines = Number(a.slice(8));
  }
  if (!unit) {
    process.stderr.write("journalctl stand-in: only -u UNIT is supported\n");
    return 1;
  }
  const file = journalFile(root, unit);
  if (!fs.existsSync(file)) return 0;
  const all = fs.readFileSync(file, "utf8").split("\n").filter(Boolean);
  const tail = Number.isFinite(lines) ? all.slice(-lines) : all;
  if (tail.length) process.stdout.write(`${tail.join("\n")}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [tool, root, ...args] = argv;
  if (tool === "journalctl") return journalctl(root, args);
  if (tool === "systemctl") return systemctl(root, args);
  process.stderr.write(`systemd stand-in: unknown tool '${tool}'\n`);
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(e instanceof StandInError ? e.code : 1);
    },
  );
}
