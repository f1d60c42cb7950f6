// The app's side of the node agent (infra/node/jumpgate-node): the Run Command scripts that call
// it and the parsers of what it prints. A script carries the command, its arguments and names of
// secrets (never values: the agent fetches those from Key Vault itself), each argument in single
// quotes so nothing in it is ever interpreted by the shell.
import { SECRET_NAMES, type SecretName } from "../secret-names";
import { NODE_AGENT_PATH } from "./constants";

export type AgentCommand =
  | "health"
  | "drain"
  | "restart-services"
  | "install-cert"
  | "acme-challenge"
  | "db-credentials"
  | "db-user"
  | "sql"
  | "bootstrap-db"
  | "schema-upgrade"
  | "init"
  | "sign-in"
  | "access-groups"
  | "guacadmin"
  | "connections"
  | "image-status"
  | "image-seal"
  | "drill-check";

export const AGENT_COMMANDS: readonly AgentCommand[] = [
  "health",
  "drain",
  "restart-services",
  "install-cert",
  "acme-challenge",
  "db-credentials",
  "db-user",
  "sql",
  "bootstrap-db",
  "schema-upgrade",
  "init",
  "sign-in",
  "access-groups",
  "guacadmin",
  "connections",
  "image-status",
  "image-seal",
  "drill-check",
];
const COMMANDS: ReadonlySet<string> = new Set(AGENT_COMMANDS);

/** The environment variables through which the agent takes the passwords it may not read itself. */
export const HANDED_PARAMETERS = {
  /** the database admin password to log in with */
  admin: "JUMPGATE_DB_ADMIN_PASSWORD",
  /** the settled admin password, when the latest version is an unsettled rotation's */
  adminFallback: "JUMPGATE_DB_ADMIN_PASSWORD_FALLBACK",
  /** guacadmin's password (bootstrap-db replaces the default with it; guacadmin set-password sets it) */
  guacadmin: "JUMPGATE_GUACADMIN_PASSWORD",
  /** `connections`: the targets' credentials, a JSON object of Guacamole parameter maps by credential key */
  connectionCredentials: "JUMPGATE_CONNECTION_CREDENTIALS",
} as const;

/**
 * A password the app hands to one agent command (managed Run Command, protected parameter): the
 * node's identity cannot read it from Key Vault.
 */
export interface HandedSecret {
  parameter: typeof HANDED_PARAMETERS.admin | typeof HANDED_PARAMETERS.guacadmin;
  secret: SecretName;
  /**
   * a Key Vault version; "settled": the latest, and when that one is an unsettled rotation's
   * (labelled pending or failed), the version it replaces too (HANDED_PARAMETERS.adminFallback)
   */
  version: string;
}

export const SETTLED = "settled";

/**
 * What an agent command needs handed over: the admin password for the commands that act as the
 * database admin (`sql`, `bootstrap-db`, `schema-upgrade`, `db-user set-password`, which sets an app user's password
 * when its login fails), the given version of it for `db-user test --user admin`, and guacadmin's
 * password for `bootstrap-db` (its latest version) and `guacadmin set-password --version V` (that
 * version). `bootstrap-db --check` and everything else (sign-in, access-groups and the other
 * guacadmin actions work as Guacamole's own app user): nothing.
 */
export function handedSecrets(command: string, args: readonly string[]): HandedSecret[] {
  const admin = (version: string): HandedSecret => ({
    parameter: HANDED_PARAMETERS.admin,
    secret: SECRET_NAMES.dbAdminPassword,
    version,
  });
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  switch (command) {
    case "sql":
    case "schema-upgrade":
      return [admin(SETTLED)];
    case "bootstrap-db":
      if (args.includes("--check")) return [];
      return [
        admin(SETTLED),
        { parameter: HANDED_PARAMETERS.guacadmin, secret: SECRET_NAMES.guacadminPassword, version: SETTLED },
      ];
    case "guacadmin": {
      const version = flag("--version");
      if (args[0] === "set-password" && version)
        return [{ parameter: HANDED_PARAMETERS.guacadmin, secret: SECRET_NAMES.guacadminPassword, version }];
      return [];
    }
    case "db-user": {
      if (args[0] === "set-password") return [admin(SETTLED)];
      const version = flag("--version");
      if (args[0] === "test" && flag("--user") === "admin" && version) return [admin(version)];
      return [];
    }
    default:
      return [];
  }
}

/** The body of a `RunShellScript` Run Command. */
export interface AgentRunCommand {
  commandId: "RunShellScript";
  script: string[];
}

export class AgentScriptError extends Error {
  override name = "AgentScriptError";
}

export class AgentOutputError extends Error {
  override name = "AgentOutputError";
}

/** Single-quotes a word for bash: nothing inside single quotes is special except the quote itself. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const MAX_ARG_LENGTH = 4096;

/**
 * The script lines of a Run Command that runs the agent with `args`. `stdin` (for `sql`) travels as
 * a quoted here-doc. On a VM the agent is at NODE_AGENT_PATH; the emulator sets JUMPGATE_NODE_ROOT
 * to a VM's sandbox. The command is checked at run time too, since it may come from untyped input.
 */
export function agentScriptLines(
  command: AgentCommand | (string & {}),
  args: readonly string[] = [],
  options: { stdin?: string } = {},
): string[] {
  if (!COMMANDS.has(command)) throw new AgentScriptError(`unknown agent command '${String(command)}'`);
  for (const arg of args) {
    // control characters have no business in agent arguments, and a line break would split the script
    if (arg.length > MAX_ARG_LENGTH || hasControlCharacter(arg)) {
      throw new AgentScriptError(`argument of '${command}' contains control characters or is too long`);
    }
  }
  const invocation = [
    `"\${JUMPGATE_NODE_ROOT:-}${NODE_AGENT_PATH}"`,
    shellQuote(command),
    ...args.map(shellQuote),
  ].join(" ");
  const script = ["set -euo pipefail"];
  if (options.stdin === undefined) {
    script.push(`exec ${invocation} </dev/null`);
  } else {
    if (options.stdin.includes("\u0000")) throw new AgentScriptError("stdin contains a NUL byte");
    const lines = options.stdin.replace(/\r\n/g, "\n").replace(/\n$/, "").split("\n");
    const delimiter = hereDocDelimiter(lines);
    script.push(`exec ${invocation} <<'${delimiter}'`, ...lines, delimiter);
  }
  return script;
}

/** The same script as one text (one entry of a Run Command's `script` array). */
export function agentScript(
  command: AgentCommand | (string & {}),
  args: readonly string[] = [],
  options: { stdin?: string } = {},
): string {
  return agentScriptLines(command, args, options).join("\n");
}

/** A complete `RunShellScript` body for `virtualMachines.runCommand`. */
export function agentRunCommand(
  command: AgentCommand | (string & {}),
  args: readonly string[] = [],
  options: { stdin?: string } = {},
): AgentRunCommand {
  return { commandId: "RunShellScript", script: agentScriptLines(command, args, options) };
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function hereDocDelimiter(lines: readonly string[]): string {
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? "JUMPGATE_STDIN" : `JUMPGATE_STDIN_${n}`;
    if (!lines.includes(candidate)) return candidate;
  }
}

// ------------------------------------------------------------------------------ Run Command output

export interface RunCommandOutput {
  succeeded: boolean;
  /** the script's exit status when Azure reports one (failures only) */
  exitStatus?: number;
  stdout: string;
  stderr: string;
}

/**
 * Splits the message of a Linux Run Command's instance view status (`Enable succeeded: \n[stdout]\n…
 * \n[stderr]\n…`). Azure keeps only the tail of each stream, which is why the agent's JSON is one line
 * at the end of stdout.
 */
export function splitRunCommandMessage(message: string): RunCommandOutput {
  const out = message.indexOf("[stdout]\n");
  const err = message.lastIndexOf("\n[stderr]\n");
  if (out < 0 || err < out) throw new AgentOutputError("the Run Command message has no [stdout]/[stderr] sections");
  const head = message.slice(0, out);
  const status = /exit status=(\d+)/.exec(head);
  return {
    succeeded: head.startsWith("Enable succeeded"),
    ...(status ? { exitStatus: Number(status[1]) } : {}),
    stdout: message.slice(out + "[stdout]\n".length, err),
    stderr: message.slice(err + "\n[stderr]\n".length),
  };
}

/** The agent's JSON result: the last line of stdout that is a JSON object. */
export function parseAgentJson(stdout: string): Record<string, unknown> {
  const lines = stdout.split("\n").map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].startsWith("{")) continue;
    try {
      const value: unknown = JSON.parse(lines[i]);
      if (isRecord(value)) return value;
    } catch {
      // a truncated or foreign line: keep looking further up
    }
  }
  throw new AgentOutputError("the node agent printed no JSON result");
}

// ------------------------------------------------------------------------------ typed results

export interface NodeHealthCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ServedCertificate {
  /** hex serial as openssl prints it */
  serial: string;
  /** ISO 8601 UTC */
  notAfter: string;
  subject: string;
  issuer: string;
  selfSigned: boolean;
}

/** What the first-boot installer finished installing. */
export interface InstalledVersions {
  guacamole: string;
  tomcat: string;
  installedAt: string;
}

/** A service whose check failed, as systemd sees it: its state and its last log lines. */
export interface FailingUnit {
  unit: string;
  activeState: string;
  subState: string;
  restarts: number;
  log: string[];
}

export interface NodeHealth {
  healthy: boolean;
  draining: boolean;
  liveSessions: number;
  nginx: boolean;
  tomcat: boolean;
  guacd: boolean;
  database: boolean;
  /** the app user Guacamole's properties name (whether or not its login works); null before db-credentials */
  databaseUser: string | null;
  certificate: ServedCertificate | null;
  checks: NodeHealthCheck[];
  /** the units behind the failed nginx/tomcat/guacd checks ([] when those pass) */
  failingUnits: FailingUnit[];
  /** null until the installer has finished (the node cannot be healthy before) */
  installed: InstalledVersions | null;
  /** the sign-in settings the node's Guacamole has (absent from agents older than sign-in) */
  signIn?: SignInState;
  node: string;
  time: string;
}

/** What a node reports of its sign-in settings: their digest (null: none) and the OpenID extension. */
export interface SignInState {
  digest: string | null;
  extension: boolean;
}

/** `sign-in`: what it did (or, with --check, would do). */
export interface SignInResult {
  signIn: "on" | "off";
  changed: boolean;
  checked: boolean;
  digest: string | null;
  extension: boolean;
  tomcatRestarted: boolean;
}

/** `access-groups`: what it changed (or, with --check, `differences`), and the groups it left alone. */
export interface AccessGroupsResult {
  changed: string[];
  conflicts: string[];
  statements: number;
}

export interface GuacadminResult {
  user: string;
  disabled: boolean;
  changed: boolean;
  version?: string;
}

export interface DrainResult {
  draining: boolean;
  liveSessions: number;
  drained: boolean;
  waitedSeconds: number;
}

/** One unit `restart-services` restarted: whether systemd restarted it and whether its own check passes now. */
export interface ServiceRestart {
  unit: string;
  restarted: boolean;
  ok: boolean;
  detail: string;
  waitedSeconds: number;
}

export interface RestartServicesResult {
  /** every named unit restarted and its check passes */
  ok: boolean;
  services: ServiceRestart[];
}

export interface InstallCertResult {
  installed: boolean;
  secret: string;
  version: string | null;
  serial: string;
  notAfter: string;
  subject: string;
  previousSerial: string | null;
}

export interface DbCredentialsResult {
  user: string;
  slot: "a" | "b";
  secret: string;
  version: string | null;
  tomcatRestarted: boolean;
}

/** `db-user set-password` (changed) and `db-user test` (login). */
export interface DbUserResult {
  user: string;
  slot: "a" | "b" | "admin";
  secret: string;
  version: string;
  changed?: boolean;
  login?: boolean;
}

export interface BootstrapDbResult {
  changed: string[];
}

export interface AcmeChallengeResult {
  token: string;
  present: boolean;
}

export function parseHealth(stdout: string): NodeHealth {
  const o = parseAgentJson(stdout);
  const certificate = o.certificate;
  return {
    healthy: bool(o, "healthy"),
    draining: bool(o, "draining"),
    liveSessions: num(o, "liveSessions"),
    nginx: bool(o, "nginx"),
    tomcat: bool(o, "tomcat"),
    guacd: bool(o, "guacd"),
    database: bool(o, "database"),
    databaseUser: optStr(o, "databaseUser"),
    certificate:
      certificate === null
        ? null
        : isRecord(certificate)
          ? {
              serial: str(certificate, "serial"),
              notAfter: str(certificate, "notAfter"),
              subject: str(certificate, "subject"),
              issuer: str(certificate, "issuer"),
              selfSigned: bool(certificate, "selfSigned"),
            }
          : fail("certificate"),
    checks: list(o, "checks").map((c) =>
      isRecord(c) ? { name: str(c, "name"), ok: bool(c, "ok"), detail: str(c, "detail") } : fail("checks[]"),
    ),
    failingUnits:
      o.failingUnits === undefined
        ? []
        : list(o, "failingUnits").map((u) =>
            isRecord(u)
              ? {
                  unit: str(u, "unit"),
                  activeState: str(u, "activeState"),
                  subState: str(u, "subState"),
                  restarts: num(u, "restarts"),
                  log: list(u, "log").map((l) => (typeof l === "string" ? l : fail("failingUnits[].log[]"))),
                }
              : fail("failingUnits[]"),
          ),
    installed: isRecord(o.installed)
      ? {
          guacamole: str(o.installed, "guacamole"),
          tomcat: str(o.installed, "tomcat"),
          installedAt: str(o.installed, "installedAt"),
        }
      : o.installed === null || o.installed === undefined
        ? null
        : fail("installed"),
    node: str(o, "node"),
    time: str(o, "time"),
    ...(isRecord(o.signIn)
      ? { signIn: { digest: optStr(o.signIn, "digest"), extension: bool(o.signIn, "extension") } }
      : {}),
  };
}

export function parseSignIn(stdout: string): SignInResult {
  return signInResultOf(parseAgentJson(stdout));
}

/** A sign-in answer already parsed into an object (the activity's `json`). */
export function signInResultOf(o: Record<string, unknown>): SignInResult {
  const state = str(o, "signIn");
  if (state !== "on" && state !== "off") fail("signIn");
  return {
    signIn: state,
    changed: bool(o, "changed"),
    checked: bool(o, "checked"),
    digest: optStr(o, "digest"),
    extension: bool(o, "extension"),
    tomcatRestarted: bool(o, "tomcatRestarted"),
  };
}

/** An access-groups answer already parsed into an object; --check's `differences` read as `changed`. */
export function accessGroupsResultOf(o: Record<string, unknown>): AccessGroupsResult {
  const strings = (key: string) => list(o, key).map((x) => (typeof x === "string" ? x : fail(`${key}[]`)));
  return {
    changed: strings(o.differences !== undefined ? "differences" : "changed"),
    conflicts: strings("conflicts"),
    statements: typeof o.statements === "number" ? o.statements : 0,
  };
}

/** What the agent's `connections` command answered: counts and lines, never a parameter value. */
export interface ConnectionsResult {
  changed: string[];
  changes: number;
  conflicts: string[];
  missingGroups: string[];
  created: number;
  updated: number;
  removed: number;
  statements: number;
  applied: boolean;
}

export function connectionsResultOf(o: Record<string, unknown>): ConnectionsResult {
  const strings = (key: string) => list(o, key).map((x) => (typeof x === "string" ? x : fail(`${key}[]`)));
  return {
    changed: strings("changed"),
    changes: num(o, "changes"),
    conflicts: strings("conflicts"),
    missingGroups: strings("missingGroups"),
    created: num(o, "created"),
    updated: num(o, "updated"),
    removed: num(o, "removed"),
    statements: num(o, "statements"),
    applied: bool(o, "applied"),
  };
}

export function guacadminResultOf(o: Record<string, unknown>): GuacadminResult {
  return {
    user: str(o, "user"),
    disabled: bool(o, "disabled"),
    changed: bool(o, "changed"),
    ...(typeof o.version === "string" ? { version: o.version } : {}),
  };
}

export function parseDrain(stdout: string): DrainResult {
  const o = parseAgentJson(stdout);
  return {
    draining: bool(o, "draining"),
    liveSessions: num(o, "liveSessions"),
    drained: bool(o, "drained"),
    waitedSeconds: num(o, "waitedSeconds"),
  };
}

export function parseRestartServices(stdout: string): RestartServicesResult {
  return restartServicesOf(parseAgentJson(stdout));
}

/** `restart-services`' answer, already parsed from its JSON line (Run Command's result). */
export function restartServicesOf(answer: unknown): RestartServicesResult {
  const o = isRecord(answer) ? answer : fail("restart-services answer");
  return {
    ok: bool(o, "ok"),
    services: list(o, "services").map((u) =>
      isRecord(u)
        ? {
            unit: str(u, "unit"),
            restarted: bool(u, "restarted"),
            ok: bool(u, "ok"),
            detail: str(u, "detail"),
            waitedSeconds: num(u, "waitedSeconds"),
          }
        : fail("services[]"),
    ),
  };
}

/** A recording `drain on` could not ship before the node goes (the uploader's `lost` entry). */
export interface LostRecording {
  recording: string;
  reason: string;
}

/**
 * What `drain on` says was not shipped: each lost recording with its reason, or the uploader's
 * failure as one entry. Empty for a node without recordings, an answer without them (an older
 * agent), or one that shipped everything. Never throws: a drain's answer is read, not trusted.
 */
export function lostRecordingsOf(answer: unknown): LostRecording[] {
  if (!isRecord(answer)) return [];
  const r = answer.recordings;
  if (!isRecord(r)) return [];
  const text = (v: unknown, max: number) =>
    typeof v === "string" ? v.replace(/[^\x20-\x7e]/g, "?").slice(0, max) : "";
  if (typeof r.error === "string") return [{ recording: "*", reason: text(r.error, 300) }];
  const lost = Array.isArray(r.lost) ? r.lost : [];
  return lost
    .filter(isRecord)
    .slice(0, 50)
    .map((l) => ({ recording: text(l.recording, 128) || "?", reason: text(l.reason, 300) || "no reason given" }));
}

export function parseInstallCert(stdout: string): InstallCertResult {
  const o = parseAgentJson(stdout);
  return {
    installed: bool(o, "installed"),
    secret: str(o, "secret"),
    version: optStr(o, "version"),
    serial: str(o, "serial"),
    notAfter: str(o, "notAfter"),
    subject: str(o, "subject"),
    previousSerial: optStr(o, "previousSerial"),
  };
}

export function parseDbCredentials(stdout: string): DbCredentialsResult {
  const o = parseAgentJson(stdout);
  const slot = str(o, "slot");
  if (slot !== "a" && slot !== "b") fail("slot");
  return {
    user: str(o, "user"),
    slot,
    secret: str(o, "secret"),
    version: optStr(o, "version"),
    tomcatRestarted: bool(o, "tomcatRestarted"),
  };
}

export function parseDbUser(stdout: string): DbUserResult {
  const o = parseAgentJson(stdout);
  const slot = str(o, "slot");
  if (slot !== "a" && slot !== "b" && slot !== "admin") fail("slot");
  return {
    user: str(o, "user"),
    slot,
    secret: str(o, "secret"),
    version: str(o, "version"),
    ...(typeof o.changed === "boolean" ? { changed: o.changed } : {}),
    ...(typeof o.login === "boolean" ? { login: o.login } : {}),
  };
}

export function parseBootstrapDb(stdout: string): BootstrapDbResult {
  const o = parseAgentJson(stdout);
  return { changed: list(o, "changed").map((c) => (typeof c === "string" ? c : fail("changed[]"))) };
}

export function parseAcmeChallenge(stdout: string): AcmeChallengeResult {
  const o = parseAgentJson(stdout);
  return { token: str(o, "token"), present: bool(o, "present") };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function fail(field: string): never {
  throw new AgentOutputError(`the node agent's result has no valid '${field}'`);
}

function bool(o: Record<string, unknown>, key: string): boolean {
  const v = o[key];
  return typeof v === "boolean" ? v : fail(key);
}

function num(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  return typeof v === "number" && Number.isFinite(v) ? v : fail(key);
}

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  return typeof v === "string" ? v : fail(key);
}

function optStr(o: Record<string, unknown>, key: string): string | null {
  const v = o[key];
  return v === null || v === undefined ? null : typeof v === "string" ? v : fail(key);
}

function list(o: Record<string, unknown>, key: string): unknown[] {
  const v = o[key];
  return Array.isArray(v) ? (v as unknown[]) : fail(key);
}

/** `image-status` on a node image builder: whether the bake finished, with what digest, or why it failed. */
export interface ImageBakeStatus {
  baked: boolean;
  digest: string | null;
  error: string | null;
}

export function imageBakeStatusOf(json: Record<string, unknown>): ImageBakeStatus {
  const digest = json.digest;
  const error = json.error;
  if (typeof json.baked !== "boolean") throw new AgentOutputError("image-status: `baked` is not a boolean");
  if (digest !== null && (typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest)))
    throw new AgentOutputError("image-status: `digest` is not a sha256 hex digest");
  if (error !== null && typeof error !== "string") throw new AgentOutputError("image-status: `error` is not a string");
  return { baked: json.baked, digest, error: error === null ? null : error.slice(0, 500) };
}
