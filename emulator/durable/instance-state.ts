// What the emulated task hub stores per orchestration instance, and the status shapes derived from it.
import type { HistoryEventJson, OrchestratorStateJson } from "./wire";

/** The subset of OrchestrationRuntimeStatus this host produces. */
export type RuntimeStatus = "Pending" | "Running" | "Completed" | "Failed" | "Terminated";

export interface ParentLink {
  instanceId: string;
  /** the parent execution that scheduled the child; results for an older execution are dropped */
  executionId: string;
  taskScheduledId: number;
}

export interface InstanceState {
  readonly instanceId: string;
  name: string;
  input: unknown;
  /** changes with every continueAsNew; a sub-orchestration's default id is derived from it */
  executionId: string;
  /** 1 for the first execution, +1 per continueAsNew */
  generation: number;
  parentInstanceId?: string;
  parentLink?: ParentLink;
  /** the current execution's history, in the host's episode layout */
  history: HistoryEventJson[];
  runtimeStatus: RuntimeStatus;
  output?: unknown;
  customStatus?: unknown;
  /** custom status after every episode, to assert on progress without racing the orchestration */
  customStatusLog: unknown[];
  createdTime: Date;
  lastUpdatedTime: Date;
  /** episodes run for this instance, across executions */
  episodes: number;
  /** the raw OrchestratorState the library returned last */
  lastState?: OrchestratorStateJson;
}

export function isTerminalStatus(status: RuntimeStatus): boolean {
  return status === "Completed" || status === "Failed" || status === "Terminated";
}

export interface InstanceQuery {
  runtimeStatus?: readonly string[];
  createdTimeFrom?: Date;
  createdTimeTo?: Date;
  instanceIdPrefix?: string;
}

export function matchesQuery(instance: InstanceState, query: InstanceQuery): boolean {
  if (query.runtimeStatus && query.runtimeStatus.length > 0 && !query.runtimeStatus.includes(instance.runtimeStatus)) {
    return false;
  }
  const created = instance.createdTime.getTime();
  if (query.createdTimeFrom && created < query.createdTimeFrom.getTime()) return false;
  if (query.createdTimeTo && created > query.createdTimeTo.getTime()) return false;
  if (query.instanceIdPrefix && !instance.instanceId.startsWith(query.instanceIdPrefix)) return false;
  return true;
}

export interface StatusPayloadOptions {
  showHistory?: boolean;
  showInput?: boolean;
  /** how host times are shown (the RPC routes show wall-clock time, see DurableTestHost.wallTime) */
  time?: (hostTime: Date) => Date;
}

/**
 * The JSON the extension's HTTP API returns for an instance (HttpApiHandler.ConvertFrom ->
 * StatusResponsePayload). Times use .NET's "s" format plus "Z" (whole seconds); history goes under
 * `historyEvents`, which the JS DurableOrchestrationStatus does not read (it looks for `history`).
 */
export function toStatusPayload(instance: InstanceState, options: StatusPayloadOptions = {}): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    name: instance.name,
    instanceId: instance.instanceId,
    runtimeStatus: instance.runtimeStatus,
    input: options.showInput === false ? null : (instance.input ?? null),
    customStatus: instance.customStatus ?? null,
    output: instance.output ?? null,
    createdTime: toDotNetSortable(options.time?.(instance.createdTime) ?? instance.createdTime),
    lastUpdatedTime: toDotNetSortable(options.time?.(instance.lastUpdatedTime) ?? instance.lastUpdatedTime),
  };
  if (options.showHistory) payload.historyEvents = structuredClone(instance.history);
  return payload;
}

function toDotNetSortable(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
