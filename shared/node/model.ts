// One web node, as Jumpgate sees it, at three levels: what its agent said to `health` (NodeHealth,
// parsed here and nowhere else), one look at the node from Azure and the agent together
// (NodeObservation: heal needs the VM's power and provisioning and the load balancer's probe too),
// and the node in a few words (NodeSummary: what the registry keeps per node, what the scale policy
// weighs, what a deploy reports). Plain JSON without secrets: all three travel through orchestration
// history, the registry and the status API. No I/O: orchestrators parse agent answers with these.
//
// The shapes are pinned by history: orchestrations in flight replay with the observations they
// recorded, so a field may be added (optional), never renamed or moved.
import { APP_USERS } from "./constants";
import type { AgentCommandResult } from "./run-agent";

/** A web node as ARM lists it: a member VM of the stack's availability set or scale set. */
export interface WebNodeRef {
  name: string;
  id: string;
}

/** Power state from the VM's instance view (`PowerState/<x>`); "unknown" when it reports none. */
export type PowerState = "running" | "starting" | "stopping" | "stopped" | "deallocating" | "deallocated" | "unknown";

/** The load balancer's health probe of one backend, from `DipAvailability` by `BackendIPAddress`. */
export interface ProbeReading {
  /** up: the latest value is 50 % or more; unknown: no data (metrics lag, or the query failed) */
  state: "up" | "down" | "unknown";
  /** latest average (percent of probes answered) */
  value?: number;
  /** why unknown, when it is */
  note?: string;
}

/** What the node agent said to `health` through Run Command. */
export interface NodeHealth {
  /** false: Run Command could not reach the VM (hung OS, no network, VM agent dead) */
  reachable: boolean;
  /** the agent printed a health document (whether healthy or not): it is installed and configured */
  answered: boolean;
  /** the agent says healthy and exited 0 */
  healthy: boolean;
  /** another Run Command was running on the VM (a health check of someone else): no answer yet */
  busy?: boolean;
  /** the first-boot installer has not finished (the agent says `installed: null`) */
  installing?: boolean;
  draining?: boolean;
  liveSessions?: number;
  /** names of the checks that failed: nginx, tomcat, guacd, database, certificate; "agent" when it did not answer */
  failing: string[];
  /** one line per failing check, for people */
  problems: string[];
  /** the systemd units behind the failed nginx/tomcat/guacd checks, as the agent named them (absent: none) */
  failingUnits?: string[];
  /** the app user the node logs in to the database as, e.g. "guacamole_a" */
  databaseUser?: string;
  /** the certificate its NGINX serves, as the agent read it */
  certificate?: { serial?: string; notAfter?: string };
  /** the digest of the sign-in settings its Guacamole has (null: none; absent: an agent older than sign-in) */
  signInDigest?: string | null;
  /** the Guacamole release its installer put on it (absent until installed) */
  guacamoleVersion?: string;
}

/** One look at one web node: the VM as ARM reports it, its load balancer probe and its agent. */
export interface NodeObservation {
  /** VM name */
  name: string;
  exists: boolean;
  id?: string;
  /** the VM's `properties.vmId`: a new one means the VM was recreated */
  vmId?: string;
  power: PowerState;
  /** lower case: succeeded, failed, creating, updating, deleting, ... */
  provisioning: string;
  nicId?: string;
  privateIp?: string;
  zones?: string[];
  probe: ProbeReading;
  agent: NodeHealth;
  /** when it was observed (ISO 8601, the activity's clock) */
  at: string;
}

/** A web node in a few words: the registry's record of it, a fleet member the scale policy weighs. */
export interface NodeSummary {
  name: string;
  id: string;
  healthy: boolean;
  /** the agent answered its health check (a member without a VM, or an unreachable one, did not) */
  answered?: boolean;
  /** false: a member the fleet state names but ARM has no VM for */
  exists?: boolean;
  /** availability set node number (web-<n>) */
  ordinal?: number;
  draining?: boolean;
  liveSessions?: number;
  /** average Percentage CPU over the last minutes, when Azure Monitor has it */
  cpu?: number;
  /** failing checks, e.g. ["database: access denied"] */
  problems: string[];
  certificate?: { serial?: string; notAfter?: string };
  /** the Guacamole release it runs, as its agent reported it */
  guacamoleVersion?: string;
  checkedAt: string;
}

/** The node agent's `health` document, as far as Jumpgate reads it. */
interface HealthDocument {
  healthy?: unknown;
  installed?: unknown;
  draining?: unknown;
  liveSessions?: unknown;
  databaseUser?: unknown;
  certificate?: { serial?: unknown; notAfter?: unknown } | null;
  signIn?: { digest?: unknown } | null;
  checks?: unknown;
  failingUnits?: unknown;
}

interface HealthCheck {
  name?: unknown;
  ok?: unknown;
  detail?: unknown;
}

/** The agent answered with a health document (whether healthy or not): the node is up and configured. */
export function agentAnswered(result: AgentCommandResult): boolean {
  return result.reachable && typeof result.json === "object" && result.json !== null && "healthy" in result.json;
}

/** What the agent's answer to `health` says of the node. */
export function nodeHealth(result: AgentCommandResult): NodeHealth {
  const answered = agentAnswered(result);
  const doc = (answered ? result.json : {}) as HealthDocument;
  const checks = (Array.isArray(doc.checks) ? doc.checks : []) as HealthCheck[];
  const databaseUser = databaseUserOf(doc, checks);
  const certificate = certificateOf(doc);
  return {
    reachable: result.reachable,
    answered,
    healthy: answered && doc.healthy === true && result.exitCode === 0,
    ...(doc.installed === null ? { installing: true } : {}),
    ...(typeof doc.draining === "boolean" ? { draining: doc.draining } : {}),
    ...(typeof doc.liveSessions === "number" ? { liveSessions: doc.liveSessions } : {}),
    failing: answered
      ? checks.filter((c) => c.ok === false).map((c) => String(c.name))
      : result.reachable
        ? ["agent"]
        : [],
    problems: problemsOf(result, answered, checks),
    ...failingUnitsOf(doc),
    ...(databaseUser ? { databaseUser } : {}),
    ...(certificate ? { certificate } : {}),
    ...(doc.signIn && (typeof doc.signIn.digest === "string" || doc.signIn.digest === null)
      ? { signInDigest: doc.signIn.digest }
      : {}),
    ...guacamoleVersionOf(doc),
  };
}

/** A systemd service unit's name as the agent reports one (anything else is not passed on). */
const UNIT_NAME = /^[A-Za-z0-9@._-]{1,64}\.service$/;

function failingUnitsOf(doc: HealthDocument): { failingUnits?: string[] } {
  if (!Array.isArray(doc.failingUnits)) return {};
  const units = (doc.failingUnits as unknown[])
    .map((u) => (typeof u === "object" && u !== null ? (u as { unit?: unknown }).unit : undefined))
    .filter((u): u is string => typeof u === "string" && UNIT_NAME.test(u));
  return units.length > 0 ? { failingUnits: [...new Set(units)] } : {};
}

function guacamoleVersionOf(doc: HealthDocument): { guacamoleVersion?: string } {
  const installed = doc.installed as { guacamole?: unknown } | null | undefined;
  const version = installed && typeof installed === "object" ? installed.guacamole : undefined;
  return typeof version === "string" && /^[0-9A-Za-z.-]{1,32}$/.test(version) ? { guacamoleVersion: version } : {};
}

/** The node in a few words, from what its agent said (`extra`: what else the caller knows of it). */
export function summarize(
  name: string,
  id: string,
  health: NodeHealth,
  at: Date | string,
  extra: Pick<NodeSummary, "answered" | "exists" | "ordinal" | "cpu"> = {},
): NodeSummary {
  return {
    name,
    id,
    healthy: health.healthy,
    ...extra,
    ...(health.draining !== undefined ? { draining: health.draining } : {}),
    ...(health.liveSessions !== undefined ? { liveSessions: health.liveSessions } : {}),
    problems: health.problems,
    ...(health.certificate ? { certificate: health.certificate } : {}),
    ...(health.guacamoleVersion ? { guacamoleVersion: health.guacamoleVersion } : {}),
    checkedAt: typeof at === "string" ? at : at.toISOString(),
  };
}

/** True when the database check is the one failing (the node has no working credentials yet). */
export function databaseCheckFails(health: NodeHealth): boolean {
  return health.problems.some((p) => p.startsWith("database"));
}

function problemsOf(result: AgentCommandResult, answered: boolean, checks: HealthCheck[]): string[] {
  if (!result.reachable) return [`unreachable: ${result.error ?? "the VM agent did not answer"}`];
  if (!answered) {
    const stderr = result.stderr ? `: ${result.stderr.trim().split("\n").pop()!.slice(0, 200)}` : "";
    return [`agent: no health answer (exit ${result.exitCode ?? "?"}${stderr})`];
  }
  return checks
    .filter((c) => c.ok === false)
    .map((c) => `${String(c.name)}${typeof c.detail === "string" && c.detail ? `: ${c.detail}` : ""}`);
}

function databaseUserOf(doc: HealthDocument, checks: HealthCheck[]): string | undefined {
  if (typeof doc.databaseUser === "string") return doc.databaseUser;
  // agents before `databaseUser` said it only in the database check's detail ("SELECT 1 as <user>")
  const detail = checks.find((c) => c.name === "database" && c.ok === true)?.detail;
  return Object.values(APP_USERS).find((u) => typeof detail === "string" && detail.endsWith(` ${u}`));
}

function certificateOf(doc: HealthDocument): NodeHealth["certificate"] {
  const serial = doc.certificate?.serial;
  const notAfter = doc.certificate?.notAfter;
  if (typeof serial !== "string" && typeof notAfter !== "string") return undefined;
  return {
    ...(typeof serial === "string" ? { serial } : {}),
    ...(typeof notAfter === "string" ? { notAfter } : {}),
  };
}
