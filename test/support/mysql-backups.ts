// An on-demand backup of a MySQL flexible server through the pinned client. @azure/arm-mysql-flexible
// 3.1.0 speaks api 2021-05-01, which has no Backups_Put; the stable 2022-01-01 and 2023-12-30 specs
// have it (200 with the backup, no long-running operation), and no stable SDK release exposes it
// (only 4.0.0-beta.2, at 2023-10-01-preview). So the request goes out through the pinned client's
// own pipeline (its credential, retries and trust store) at a stable api-version.
import type { MySQLManagementFlexibleServerClient } from "@azure/arm-mysql-flexible";
import { createHttpHeaders, createPipelineRequest } from "@azure/core-rest-pipeline";

export interface ServerBackup {
  id: string;
  /** the name Azure gave it: `customer_{yyyymmdd}t{hhmmss}_{uuid}_{requested name}` */
  name: string;
  type: string;
  properties: { backupType: string; completedTime: string; source: string };
}

export class BackupRequestError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function takeOnDemandBackup(
  client: MySQLManagementFlexibleServerClient,
  armEndpoint: string,
  target: { subscriptionId: string; resourceGroup: string; server: string; backupName: string },
  options: { apiVersion?: string; abortSignal?: AbortSignal } = {},
): Promise<ServerBackup> {
  const path =
    `/subscriptions/${encodeURIComponent(target.subscriptionId)}/resourceGroups/${encodeURIComponent(target.resourceGroup)}` +
    `/providers/Microsoft.DBforMySQL/flexibleServers/${encodeURIComponent(target.server)}/backups/${encodeURIComponent(target.backupName)}`;
  const url = `${armEndpoint.replace(/\/$/, "")}${path}?api-version=${options.apiVersion ?? "2023-12-30"}`;
  const response = await client.sendRequest(
    createPipelineRequest({
      url,
      method: "PUT",
      headers: createHttpHeaders({ accept: "application/json" }),
      abortSignal: options.abortSignal,
    }),
  );
  const body = response.bodyAsText ? (JSON.parse(response.bodyAsText) as unknown) : undefined;
  if (response.status !== 200) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new BackupRequestError(
      response.status,
      error?.code ?? "Unknown",
      error?.message ?? `status ${response.status}`,
    );
  }
  return body as ServerBackup;
}
