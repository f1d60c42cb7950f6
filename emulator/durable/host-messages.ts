// The messages the emulated task hub delivers to orchestration instances (what sits in the control
// queues of a real task hub), each with the history event it turns into when delivered.
import { activityFailureFields, subOrchestrationFailureFields } from "./activity-invocation";
import type { ActivityOutcome, FailureFormat } from "./activity-invocation";
import type { NewMessage } from "./delivery-queue";
import { HarnessError } from "./errors";
import type { InstanceState, ParentLink, RuntimeStatus } from "./instance-state";
import { toJsonText } from "./json-text";
import { HistoryEventType as HE, historyEvent } from "./wire";

const ready = { ready: true, settled: Promise.resolve() };

/** ExecutionStarted for a new instance, a sub-orchestration or a continued-as-new execution. */
export function executionStartedMessage(instance: InstanceState, dueAt: number): NewMessage {
  const { name, instanceId, executionId, parentLink } = instance;
  const input = toJsonText(instance.input);
  return {
    ...ready,
    instanceId,
    executionId,
    dueAt,
    label: "start",
    toEvent: (at) =>
      historyEvent(HE.ExecutionStarted, -1, at, {
        Name: name,
        Input: input,
        Version: "",
        OrchestrationInstance: { InstanceId: instanceId, ExecutionId: executionId },
        ParentInstance: parentLink
          ? {
              Name: null,
              OrchestrationInstance: { InstanceId: parentLink.instanceId, ExecutionId: parentLink.executionId },
              TaskScheduleId: parentLink.taskScheduledId,
            }
          : null,
      }),
  };
}

/** A client's raiseEvent; goes to whichever execution is current when it is delivered. */
export function eventRaisedMessage(instanceId: string, eventName: string, data: unknown, dueAt: number): NewMessage {
  const input = toJsonText(data);
  return {
    ...ready,
    instanceId,
    dueAt,
    label: `event ${eventName}`,
    toEvent: (at) => historyEvent(HE.EventRaised, -1, at, { Name: eventName, Input: input }),
  };
}

export function terminateMessage(instanceId: string, reason: string, dueAt: number): NewMessage {
  const input = toJsonText(reason);
  return {
    ...ready,
    instanceId,
    dueAt,
    label: "terminate",
    toEvent: (at) => historyEvent(HE.ExecutionTerminated, -1, at, { Input: input }),
  };
}

export function timerFiredMessage(instance: InstanceState, timerId: number, fireAt: Date, dueAt: number): NewMessage {
  const fireAtText = fireAt.toISOString();
  return {
    ...ready,
    instanceId: instance.instanceId,
    executionId: instance.executionId,
    dueAt,
    label: `timer#${timerId}`,
    timerId,
    toEvent: (at) => historyEvent(HE.TimerFired, -1, at, { TimerId: timerId, FireAt: fireAtText }),
  };
}

/**
 * The result of an activity that is running right now. The message is not `ready` until the
 * activity has finished, however early it is due.
 */
export function activityResultMessage(
  instance: InstanceState,
  taskId: number,
  activityName: string,
  running: Promise<ActivityOutcome>,
  failureFormat: FailureFormat,
  dueAt: number,
  onReady: () => void,
): NewMessage {
  let outcome: ActivityOutcome | undefined;
  const message: NewMessage = {
    instanceId: instance.instanceId,
    executionId: instance.executionId,
    dueAt,
    label: `activity ${activityName}#${taskId}`,
    ready: false,
    settled: running.then((result) => {
      outcome = result;
      message.ready = true;
      onReady();
    }),
    toEvent: (at) => {
      if (!outcome) throw new HarnessError(`Activity ${activityName}#${taskId} was delivered before it finished.`);
      return outcome.ok
        ? historyEvent(HE.TaskCompleted, -1, at, { TaskScheduledId: taskId, Result: outcome.resultJson })
        : historyEvent(HE.TaskFailed, -1, at, {
            TaskScheduledId: taskId,
            ...activityFailureFields(activityName, outcome.error, failureFormat),
          });
    },
  };
  return message;
}

/** Tells the parent how a sub-orchestration ended (DTFx reports Completed, Failed and Terminated). */
export function subOrchestrationResultMessage(
  link: ParentLink,
  status: RuntimeStatus,
  output: unknown,
  failureFormat: FailureFormat,
  dueAt: number,
): NewMessage {
  const result = toJsonText(output);
  const failure = subOrchestrationFailureFields(String(output), failureFormat);
  return {
    ...ready,
    instanceId: link.instanceId,
    executionId: link.executionId,
    dueAt,
    label: `sub-orchestration result (${status})`,
    toEvent: (at) =>
      status === "Completed"
        ? historyEvent(HE.SubOrchestrationInstanceCompleted, -1, at, {
            TaskScheduledId: link.taskScheduledId,
            Result: result,
          })
        : historyEvent(HE.SubOrchestrationInstanceFailed, -1, at, {
            TaskScheduledId: link.taskScheduledId,
            ...failure,
          }),
  };
}
