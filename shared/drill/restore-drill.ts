// The restore drill's Azure side: restore the stack's live flexible server to ONE temporary server
// (createMode PointInTimeRestore, the latest restore point), and delete it again. The live server
// is only ever read (GET); every write goes to a server whose name is derived from the stack's
// server and the drill (so a retried or replayed step makes the same one), that is tagged as this
// stack's drill, and that is never the live one. A server at the drill's name without the drill's
// tag is someone else's: refused, never written or deleted.
import { createHash } from "node:crypto";
import type { Server } from "@azure/arm-mysql-flexible";
import { isNotFound } from "../arm/errors";
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

export interface RestoredServer {
  name: string;
  id: string;
  fqdn: string;
  sourceServerId: string;
  restorePointInTime: string;
  /** false when an earlier attempt of the same step had made it already */
  created: boolean;
}

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

/** Restores the live server's latest restore point to the drill's temporary server (idempotent). */
export async function restoreToDrillServer(
  factory: AzureClientFactory,
  target: DrillTarget,
  signal?: AbortSignal,
): Promise<RestoredServer> {
  const { spec } = target;
  const names = stackNames(spec);
  const mysql = factory.mysql(spec.subscriptionId);
  const name = drillServerName(target);
  if (name.toLowerCase() === names.mysqlServer.toLowerCase()) throw new Error("a drill never writes the live server");
  const live = await mysql.servers.get(spec.resourceGroup, names.mysqlServer, factory.call(signal));
  if (live.tags?.[STACK_TAG_NAME] !== spec.name)
    throw new Error(`the flexible server ${names.mysqlServer} is not stack ${spec.name}'s (no ${STACK_TAG_NAME} tag)`);
  const existing = await mysql.servers.get(spec.resourceGroup, name, factory.call(signal)).catch((e: unknown) => {
    if (isNotFound(e)) return undefined;
    throw e;
  });
  if (existing) {
    if (!isDrillServerOf(existing, spec, target.instanceId))
      throw new Error(`a flexible server ${name} exists that is not this drill's; it was left alone`);
    return {
      name,
      id: existing.id!,
      fqdn: existing.fullyQualifiedDomainName ?? `${name}.mysql.database.azure.com`,
      sourceServerId: live.id!,
      restorePointInTime: existing.tags?.[DRILL_RESTORE_POINT_TAG] ?? target.startedAt,
      created: false,
    };
  }
  const earliest = live.backup?.earliestRestoreDate?.getTime() ?? 0;
  const restorePoint = new Date(Math.max(Date.now() - RESTORE_POINT_MARGIN_MS, earliest));
  const restored = await mysql.servers.beginCreateAndWait(
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
  return {
    name,
    id: restored.id!,
    fqdn: restored.fullyQualifiedDomainName ?? `${name}.mysql.database.azure.com`,
    sourceServerId: live.id!,
    restorePointInTime: restorePoint.toISOString(),
    created: true,
  };
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

/** What the node agent's `drill-check` answered. */
export interface DrillCheck {
  ok: boolean;
  host: string;
  user?: string;
  tables: Record<string, number>;
  missing: string[];
  users?: number;
  problem?: string;
  detail?: string;
}

/** The agent's `drill-check` answer, or undefined when it is not one. */
export function drillCheckOf(json: unknown): DrillCheck | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  if (typeof o.ok !== "boolean" || typeof o.host !== "string") return undefined;
  const tables: Record<string, number> = {};
  if (typeof o.tables === "object" && o.tables !== null)
    for (const [k, v] of Object.entries(o.tables)) if (typeof v === "number") tables[k] = v;
  return {
    ok: o.ok,
    host: o.host,
    ...(typeof o.user === "string" ? { user: o.user } : {}),
    tables,
    missing: Array.isArray(o.missing) ? o.missing.filter((m): m is string => typeof m === "string") : [],
    ...(typeof o.users === "number" ? { users: o.users } : {}),
    ...(typeof o.problem === "string" ? { problem: o.problem } : {}),
    ...(typeof o.detail === "string" ? { detail: o.detail.slice(0, 300) } : {}),
  };
}
