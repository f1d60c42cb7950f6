// An on-demand backup of a MySQL flexible server (Backups_Put). The pinned @azure/arm-mysql-flexible
// 3.1.0 speaks api 2021-05-01, which has no Backups_Put; the stable 2022-01-01 and 2023-12-30 specs
// have it (PUT .../flexibleServers/{server}/backups/{backupName} without a body, 200 with the
// backup: name, type, properties.backupType / completedTime / source), and no stable SDK release
// exposes it. So the request goes out through the pinned client's own pipeline (its credential,
// retries, request timeout and trust store) at a stable api-version.
import type { MySQLManagementFlexibleServerClient } from "@azure/arm-mysql-flexible";
import type * as CoreRestPipeline from "@azure/core-rest-pipeline";
import { onFirstUse } from "../load-on-use";

const pipeline = onFirstUse<typeof CoreRestPipeline>("@azure/core-rest-pipeline");

export const BACKUP_API_VERSION = "2023-12-30";

export interface OnDemandBackup {
  id: string;
  /** the name Azure gave it (it prefixes the requested one: `customer_{time}_{uuid}_{requested}`) */
  name: string;
  backupType?: string;
  completedTime?: string;
  source?: string;
}

export class BackupRequestError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "BackupRequestError";
  }
}

/** A requested backup name: letters, digits, `-`, `_` and `.` (what the service accepts), at most 60. */
export function backupNameFor(purpose: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, "").slice(0, 15).toLowerCase();
  return `${purpose.replace(/[^-\w.]/g, "-").slice(0, 40)}-${stamp}`;
}

export async function takeOnDemandBackup(
  client: MySQLManagementFlexibleServerClient,
  armEndpoint: string,
  target: { subscriptionId: string; resourceGroup: string; server: string; backupName: string },
  options: { abortSignal?: AbortSignal } = {},
): Promise<OnDemandBackup> {
  const path =
    `/subscriptions/${encodeURIComponent(target.subscriptionId)}/resourceGroups/${encodeURIComponent(target.resourceGroup)}` +
    `/providers/Microsoft.DBforMySQL/flexibleServers/${encodeURIComponent(target.server)}/backups/${encodeURIComponent(target.backupName)}`;
  const url = `${armEndpoint.replace(/\/$/, "")}${path}?api-version=${BACKUP_API_VERSION}`;
  const { createHttpHeaders, createPipelineRequest } = pipeline();
  const response = await client.sendRequest(
    createPipelineRequest({
      url,
      method: "PUT",
      headers: createHttpHeaders({ accept: "application/json" }),
      abortSignal: options.abortSignal,
    }),
  );
  let body: unknown;
  try {
    body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
  } catch {
    body = undefined;
  }
  if (response.status !== 200 && response.status !== 201) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new BackupRequestError(
      response.status,
      error?.code ?? "Unknown",
      `the on-demand backup of ${target.server} was refused: ${error?.code ?? response.status} ${error?.message ?? ""}`.trim(),
    );
  }
  const doc = body as
    | { id?: unknown; name?: unknown; properties?: { backupType?: unknown; completedTime?: unknown; source?: unknown } }
    | undefined;
  if (typeof doc?.id !== "string" || typeof doc.name !== "string") {
    throw new Error(`the on-demand backup of ${target.server} answered ${response.status} without the backup`);
  }
  const p = doc.properties ?? {};
  return {
    id: doc.id,
    name: doc.name,
    ...(typeof p.backupType === "string" ? { backupType: p.backupType } : {}),
    ...(typeof p.completedTime === "string" ? { completedTime: p.completedTime } : {}),
    ...(typeof p.source === "string" ? { source: p.source } : {}),
  };
}
