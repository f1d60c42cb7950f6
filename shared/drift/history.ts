// Who changed what: Resource Graph's `resourcechanges` table for the resources a drift check found
// changed, so the drift audit event names the principal, the client and the operation behind each
// change (Azure keeps 14 days of change history, and it lags ARM like the rest of Resource Graph:
// a change too recent to be indexed is simply not named yet).
import type { AzureClientFactory } from "../azure/clients";
import { kqlList, queryResourceGraph } from "../azure/resource-graph";

/** The drift check's question: who changed these resources since then. */
export interface DriftHistoryInput {
  subscriptionId: string;
  ids: string[];
  /** ISO 8601: changes since then */
  since: string;
}

export interface ResourceChange {
  id: string;
  changeType: string;
  changedBy: string;
  clientType: string;
  operation: string;
  timestamp: string;
}

/** The latest change of each resource since `since` (at most one per resource), newest first. */
export async function latestChanges(
  factory: AzureClientFactory,
  subscription: string,
  ids: readonly string[],
  since: Date,
  signal?: AbortSignal,
): Promise<ResourceChange[]> {
  if (ids.length === 0) return [];
  const query =
    `resourcechanges | extend targetId = tolower(tostring(properties.targetResourceId)), changeTime = todatetime(properties.changeAttributes.timestamp)` +
    ` | where targetId in ${kqlList(ids.map((i) => i.toLowerCase()))} and changeTime >= todatetime('${since.toISOString()}')` +
    " | project id, targetId, changeType = tostring(properties.changeType), changedBy = tostring(properties.changeAttributes.changedBy)," +
    " clientType = tostring(properties.changeAttributes.clientType), operation = tostring(properties.changeAttributes.operation), changeTime" +
    " | order by changeTime desc";
  const { rows } = await queryResourceGraph<{
    targetId: string;
    changeType: string;
    changedBy: string;
    clientType: string;
    operation: string;
    changeTime: string;
  }>(factory, query, { subscriptions: [subscription], signal });
  const latest = new Map<string, ResourceChange>();
  for (const r of rows) {
    if (latest.has(r.targetId)) continue;
    const id = ids.find((i) => i.toLowerCase() === r.targetId) ?? r.targetId;
    latest.set(r.targetId, {
      id,
      changeType: r.changeType,
      changedBy: r.changedBy,
      clientType: r.clientType,
      operation: r.operation,
      timestamp: r.changeTime,
    });
  }
  return [...latest.values()];
}
