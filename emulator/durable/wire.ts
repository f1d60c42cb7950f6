// The JSON protocol spoken between the Durable Functions extension (the .NET side of the Functions
// host) and durable-functions (the JS worker library). The numbers are not ours to choose: they are
// DTFx's HistoryEventType and the library's ActionType/ReplaySchema enums, and the JS replay engine
// switches on them, so they must match node_modules/durable-functions/lib/src exactly.

export const HistoryEventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type HistoryEventTypeName = keyof typeof HistoryEventType;

const historyEventTypeNames = new Map<number, HistoryEventTypeName>(
  (Object.keys(HistoryEventType) as HistoryEventTypeName[]).map((name) => [HistoryEventType[name], name]),
);

/** Name of a numeric EventType, for messages and formatted histories. */
export function historyEventTypeName(eventType: number): string {
  return historyEventTypeNames.get(eventType) ?? `EventType(${eventType})`;
}

/** actionType values in the OrchestratorState the JS library returns. */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

/**
 * durable-functions ReplaySchema. The extension announces V3 (2) in `upperSchemaVersionNew` today;
 * V3 is what turns on long-timer splitting on the JS side.
 */
export const ReplaySchema = { V1: 0, V2: 1, V3: 2, V4: 3 } as const;

/**
 * A DTFx HistoryEvent as the extension serializes it into the orchestration trigger payload:
 * PascalCase, numeric EventType, ISO Timestamp. Type-specific fields (Name, Input, TaskScheduledId,
 * TimerId, FireAt, Result, Reason, Details, FailureDetails, InstanceId, ...) sit alongside.
 */
export interface HistoryEventJson {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

/** RetryOptions as the JS library serializes them into CallActivityWithRetry actions. */
export interface RetryOptionsJson {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** One entry of OrchestratorState.actions, after the JSON round trip the worker boundary implies. */
export interface ActionJson {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptionsJson;
  instanceId?: string;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: ActionJson[];
  [field: string]: unknown;
}

/** What the orchestrator handler returns (or embeds in its error after "$OutOfProcData$:"). */
export interface OrchestratorStateJson {
  isDone: boolean;
  actions: ActionJson[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion: number;
  failureDetails?: unknown;
}

/** Builds a history event the way DTFx stamps them: sequence id on "scheduled" events, -1 elsewhere. */
export function historyEvent(
  eventType: number,
  eventId: number,
  timestamp: Date,
  fields: Record<string, unknown> = {},
): HistoryEventJson {
  return { EventType: eventType, EventId: eventId, IsPlayed: false, Timestamp: timestamp.toISOString(), ...fields };
}
