// The restore drill's Azure side: restore the stack's live flexible server to ONE temporary server
// (createMode PointInTimeRestore, the latest restore point), and delete it again. The live server
// is only ever read (GET); every write goes to a server whose name is derived from the stack's
// server and the drill (so a retried or replayed step makes the same one), that is tagged as this
// stack's drill, and that is never the live one. A server at the drill's name without the drill's
// tag is someone else's: refused, never written or deleted.
import { createHash } from "node:crypto";
import type { Server } from "@azure/arm-mysql-flexible";
import { armFailure, isNotFound } from "../arm/errors";
import type { AzureClientFactory } from "../azure/clients";
import { STACK_TAG_NAME, stackNames, stackTags } from "../graph/names";
import type { StackSpec } from "../spec/types";

/** Tag of a drill's temporary server: the drill's instance id (`drill-<stack>`). */
export const DRILL_TAG = "jumpgate-drill";
/** Tag of a drill's temporary server: when the drill started (ISO 8601). */
export const DRILL_STARTED_TAG = "jumpgate-drill-started";
/** Tag of a drill's temporary server: the restore point it was made from (ISO 8601). */
export const DRILL_RESTORE_POINT_TAG = "jumpgate-drill-restore-point";

/**
 * How far before "now" the latest restore point is taken: the Function App's clock and the
 * service's may differ, and a restore point in the service's future is refused
 * (InvalidParameterValue). Never before the server's earliest restore point.
 */
export const RESTORE_POINT_MARGIN_MS = 60_000;

export interface DrillTarget {
  spec: StackSpec;
  /** the drill's instance id, the value of its servers' DRILL_TAG */
  instanceId: string;
  /** when the drill started (the orchestration's time): part of the server's name */
  startedAt: string;
}

/** A restore that was started: the server's name and where its operation stands. */
export interface StartedRestore {
  name: string;
  id: string;
  sourceServerId: string;
  restorePointInTime: string;
  /** false when an earlier attempt of the same step had made it already */
  created: boolean;
  /**
   * the restore's long-running operation, serialized (`poller.toString()`: its status URL and state,
   * no request body), to poll from another activity; absent when it was already done or found made
   */
  operation?: string;
  /** the server's host name once it is ready */
  fqdn?: string;
}

/** Where a restore stands: ready (with the host name), still running, or failed and why. */
export type RestoreProgress =
  { state: "ready"; fqdn: string } | { state: "running" } | { state: "failed"; message: string };

/**
 * The temporary server's name: the live server's, `-drill-` and 8 hex of the drill's instance id and
 * start. 3-63 lowercase letters, digits and hyphens (a stack's server name has at most 30).
 */
export function drillServerName(target: DrillTarget): string {
  const live = stackNames(target.spec).mysqlServer;
  const suffix = createHash("sha256").update(`${target.instanceId}|${target.startedAt}`).digest("hex").slice(0, 8);
  return `${live}-drill-${suffix}`;
}

function isDrillServerOf(server: Server, spec: StackSpec, instanceId: string): boolean {
  return server.tags?.[DRILL_TAG] === instanceId && server.tags?.[STACK_TAG_NAME] === spec.name;
}

/**
 * Starts restoring the live server's latest restore point to the drill's temporary server, and
 * returns once ARM has accepted it: a restore takes longer than one function may run (a new server,
 * then the data), so the orchestration polls it (pollDrillRestore) between durable timers.
 * Idempotent: a server this drill already made is returned as it is.
 */
export async function beginRestoreToDrillServer(
  factory: AzureClientFactory,
  target: DrillTarget,
  signal?: AbortSignal,
): Promise<StartedRestore> {
  const { spec } = target;
  const names = stackNames(spec);
  const mysql = factory.mysql(spec.subscriptionId);
  const name = drillServerName(target);
  if (name.toLowerCase() === names.mysqlServer.toLowerCase()) throw new Error("a drill never writes the live server");
  const live = await mysql.servers.get(spec.resourceGroup, names.mysqlServer, factory.call(signal));
  if (live.tags?.[STACK_TAG_NAME] !== spec.name)
    throw new Error(`the flexible server ${names.mysqlServer} is not stack ${spec.name}'s (no ${STACK_TAG_NAME} tag)`);
  const existing = await readServer(factory, spec, name, signal);
  if (existing) {
    if (!isDrillServerOf(existing, spec, target.instanceId))
      throw new Error(`a flexible server ${name} exists that is not this drill's; it was left alone`);
    return {
      name,
      id: existing.id!,
      sourceServerId: live.id!,
      restorePointInTime: existing.tags?.[DRILL_RESTORE_POINT_TAG] ?? target.startedAt,
      created: false,
    };
  }
  const earliest = live.backup?.earliestRestoreDate?.getTime() ?? 0;
  const restorePoint = new Date(Math.max(Date.now() - RESTORE_POINT_MARGIN_MS, earliest));
  const poller = await mysql.servers.beginCreate(
    spec.resourceGroup,
    name,
    {
      location: live.location,
      createMode: "PointInTimeRestore",
      sourceServerResourceId: live.id,
      restorePointInTime: restorePoint,
      // the live server's private network: no public access, reachable from the web nodes only
      network: {
        delegatedSubnetResourceId: live.network?.delegatedSubnetResourceId,
        privateDnsZoneResourceId: live.network?.privateDnsZoneResourceId,
      },
      tags: {
        ...stackTags(spec),
        [DRILL_TAG]: target.instanceId,
        [DRILL_STARTED_TAG]: target.startedAt,
        [DRILL_RESTORE_POINT_TAG]: restorePoint.toISOString(),
      },
    },
    factory.lro(signal),
  );
  const done = poller.isDone() ? poller.getResult() : undefined;
  return {
    name,
    id: done?.id ?? `${names.resourceGroupId}/providers/Microsoft.DBforMySQL/flexibleServers/${name}`,
    sourceServerId: live.id!,
    restorePointInTime: restorePoint.toISOString(),
    created: true,
    ...(done ? { fqdn: done.fullyQualifiedDomainName ?? `${name}.mysql.database.azure.com` } : {}),
    ...(done ? {} : { operation: poller.toString() }),
  };
}

/**
 * One look at a started restore: its operation polled once (resumed from its serialized state), or,
 * without one, the server read. A failed operation is an answer, not an exception.
 */
export async function pollDrillRestore(
  factory: AzureClientFactory,
  spec: StackSpec,
  restore: Pick<StartedRestore, "name" | "operation">,
  signal?: AbortSignal,
): Promise<RestoreProgress> {
  const mysql = factory.mysql(spec.subscriptionId);
  if (restore.operation) {
    let poller;
    try {
      // resumed, the poller's first poll reads the operation: no second PUT
      poller = await mysql.servers.beginCreate(
        spec.resourceGroup,
        restore.name,
        { location: spec.location },
        { ...factory.lro(signal), resumeFrom: restore.operation },
      );
    } catch (e) {
      const failure = armFailure(e);
      if (failure.status === undefined || failure.status < 500) return { state: "failed", message: failure.message };
      throw e;
    }
    if (!poller.isDone()) return { state: "running" };
  }
  const server = await readServer(factory, spec, restore.name, signal);
  if (!server)
    return restore.operation ? { state: "failed", message: "the restored server is gone" } : { state: "running" };
  if (server.state !== undefined && server.state !== "Ready") return { state: "running" };
  return { state: "ready", fqdn: server.fullyQualifiedDomainName ?? `${restore.name}.mysql.database.azure.com` };
}

async function readServer(
  factory: AzureClientFactory,
  spec: StackSpec,
  name: string,
  signal?: AbortSignal,
): Promise<Server | undefined> {
  return factory
    .mysql(spec.subscriptionId)
    .servers.get(spec.resourceGroup, name, factory.call(signal))
    .catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
}

/**
 * Deletes the stack's drill servers: this drill's and any an earlier drill left behind (a drill
 * terminated before its cleanup). Only servers tagged as this stack's drill; never the live one.
 */
export async function deleteDrillServers(
  factory: AzureClientFactory,
  target: Pick<DrillTarget, "spec" | "instanceId">,
  signal?: AbortSignal,
): Promise<string[]> {
  const { spec } = target;
  const live = stackNames(spec).mysqlServer.toLowerCase();
  const mysql = factory.mysql(spec.subscriptionId);
  const doomed: string[] = [];
  for await (const server of mysql.servers.listByResourceGroup(spec.resourceGroup, factory.call(signal))) {
    if (!server.name || server.name.toLowerCase() === live) continue;
    if (isDrillServerOf(server, spec, target.instanceId)) doomed.push(server.name);
  }
  for (const name of doomed) await mysql.servers.beginDeleteAndWait(spec.resourceGroup, name, factory.lro(signal));
  return doomed.sort();
}

/**
 * Guacamole's tables as the 1.6.0 schema creates them (guacamole-auth-jdbc-mysql,
 * schema/001-create-schema.sql): a restored database must hold every one for Guacamole to serve
 * from it (test/unit/restore-drill.test.ts holds this list to the schema file).
 */
export const GUACAMOLE_TABLES = [
  "guacamole_connection",
  "guacamole_connection_attribute",
  "guacamole_connection_group",
  "guacamole_connection_group_attribute",
  "guacamole_connection_group_permission",
  "guacamole_connection_history",
  "guacamole_connection_parameter",
  "guacamole_connection_permission",
  "guacamole_entity",
  "guacamole_sharing_profile",
  "guacamole_sharing_profile_attribute",
  "guacamole_sharing_profile_parameter",
  "guacamole_sharing_profile_permission",
  "guacamole_system_permission",
  "guacamole_user",
  "guacamole_user_attribute",
  "guacamole_user_group",
  "guacamole_user_group_attribute",
  "guacamole_user_group_member",
  "guacamole_user_group_permission",
  "guacamole_user_history",
  "guacamole_user_password_history",
  "guacamole_user_permission",
] as const;

/** What the node agent's `drill-check` answered: rows per Guacamole table it found. */
export interface DrillCheck {
  host: string;
  user: string;
  tables: Record<string, number>;
}

/** The agent's `drill-check` answer, or undefined when it is not one. */
export function drillCheckOf(json: unknown): DrillCheck | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  if (typeof o.host !== "string" || typeof o.user !== "string") return undefined;
  if (typeof o.tables !== "object" || o.tables === null || Array.isArray(o.tables)) return undefined;
  const tables: Record<string, number> = {};
  for (const [name, rows] of Object.entries(o.tables)) {
    if (!Number.isInteger(rows) || (rows as number) < 0) return undefined;
    tables[name] = rows as number;
  }
  return { host: o.host, user: o.user, tables };
}

export type DrillVerdict = { ok: true } | { ok: false; reason: "TablesMissing" | "NoUsers"; message: string };

/**
 * Whether Guacamole could serve from the restored copy: every table of its schema is there, and
 * there is a user to sign in with (the schema creates guacadmin; Jumpgate disables it, never deletes it).
 */
export function judgeDrillCheck(check: DrillCheck): DrillVerdict {
  const missing = GUACAMOLE_TABLES.filter((t) => check.tables[t] === undefined);
  if (missing.length > 0)
    return {
      ok: false,
      reason: "TablesMissing",
      message: `${check.host} lacks ${missing.length} of Guacamole's ${GUACAMOLE_TABLES.length} tables: ${missing.join(", ")}`,
    };
  if ((check.tables.guacamole_user ?? 0) === 0 || (check.tables.guacamole_entity ?? 0) === 0)
    return {
      ok: false,
      reason: "NoUsers",
      message: `${check.host} holds Guacamole's tables but no user to sign in with`,
    };
  return { ok: true };
}
