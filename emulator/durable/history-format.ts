// One line per history event: readable in assertion messages and stable enough for snapshots.
import { HistoryEventType as HE, historyEventTypeName, type HistoryEventJson } from "./wire";

export function describeHistoryEvent(e: HistoryEventJson): string {
  const name = historyEventTypeName(e.EventType);
  switch (e.EventType) {
    case HE.TaskScheduled:
      return `${name}#${e.EventId}(${String(e.Name)})`;
    case HE.TimerCreated:
      return `${name}#${e.EventId}(${String(e.FireAt)})`;
    case HE.SubOrchestrationInstanceCreated:
      return `${name}#${e.EventId}(${String(e.Name)}:${String(e.InstanceId)})`;
    case HE.TaskCompleted:
    case HE.TaskFailed:
    case HE.SubOrchestrationInstanceCompleted:
    case HE.SubOrchestrationInstanceFailed:
      return `${name}->${String(e.TaskScheduledId)}`;
    case HE.TimerFired:
      return `${name}->${String(e.TimerId)}`;
    case HE.EventRaised:
    case HE.ExecutionStarted:
      return `${name}(${String(e.Name)})`;
    case HE.ExecutionCompleted:
      return `${name}(${String(e.OrchestrationStatus)})`;
    default:
      return name;
  }
}

/** `<timestamp>  <event>` lines, e.g. "2024-01-01T00:00:00.000Z  TaskScheduled#0(GetItems)". */
export function formatHistory(history: readonly HistoryEventJson[]): string {
  return history.map((e) => `${e.Timestamp}  ${describeHistoryEvent(e)}`).join("\n");
}

/** Just the event descriptions, without timestamps: handy for deepEqual on the layout. */
export function historyLayout(history: readonly HistoryEventJson[]): string[] {
  return history.map(describeHistoryEvent);
}
