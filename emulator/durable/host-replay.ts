// Host-side replay of one episode. The JS library only *returns* the list of actions its generator
// yielded; on Azure the extension (OutOfProcOrchestrationShim.ProcessAsyncActionsV2) turns them back
// into DTFx calls while DTFx (TaskOrchestrationContext) walks the history. That host side is what
// assigns sequence ids, checks them against the recorded TaskScheduled/TimerCreated/
// SubOrchestrationInstanceCreated events (non-determinism), runs retry timers, splits long timers and
// buffers external events. None of it exists in the JS library, so this class emulates it.
//
// Sources: azure-functions-durable-extension Listener/OutOfProcOrchestrationShim.cs,
// ContextImplementations/DurableOrchestrationContext.cs; durabletask TaskOrchestrationContext.cs,
// RetryInterceptor.cs.
import { deferred, drainMicrotasks, ignoreRejection, type Deferred } from "./async-tools";
import {
  HarnessError,
  NonDeterministicOrchestrationError,
  HostArgumentError,
  unknownFunctionMessage,
  type DurableFunctionKind,
} from "./errors";
import { ExternalEventRouter } from "./external-events";
import { decodeProcessedInput, parseJsonText } from "./json-text";
import { nextRetryDelayMs } from "./retry-policy";
import {
  ActionType,
  HistoryEventType as HE,
  ReplaySchema,
  historyEventTypeName,
  type ActionJson,
  type HistoryEventJson,
  type OrchestratorStateJson,
  type RetryOptionsJson,
} from "./wire";

/** Work the host has to carry out for an action it has not seen in the history yet. */
export type ScheduledWork =
  | { kind: "activity"; name: string; input: unknown }
  | { kind: "timer"; fireAt: Date }
  | { kind: "subOrchestration"; name: string; instanceId: string; input: unknown };

export type NewWork = ScheduledWork & { id: number };

/** What an invalid call (unknown function name, bad sub-orchestration id) does; see HostReplay.argumentCheck. */
export type ArgumentErrorBehavior = "fail" | "hang";

export interface HostReplayConfig {
  instanceId: string;
  executionId: string;
  parentInstanceId?: string;
  knownActivities: readonly string[];
  knownOrchestrators: readonly string[];
  maximumShortTimerDurationMs: number;
  longRunningTimerIntervalMs: number;
  argumentErrors: ArgumentErrorBehavior;
}

/** A task failure as DTFx sees it; only IsNonRetriable changes what the host does. */
class TaskFailure extends Error {
  constructor(
    message: string,
    readonly nonRetriable: boolean,
  ) {
    super(message);
  }
}

/** .NET type names that DTFx puts into its non-determinism messages. */
const dotNetActionType: Record<ScheduledWork["kind"], string> = {
  activity: "ScheduleTaskOrchestratorAction",
  timer: "CreateTimerOrchestratorAction",
  subOrchestration: "CreateSubOrchestrationAction",
};

const CHANGED_CODE = "Was a change made to the orchestrator code after this instance had already started running?";

export class HostReplay {
  private idCounter = 0;
  /** DTFx orchestratorActionsMap: scheduled in this replay and not yet matched against the history. */
  private readonly unmatched = new Map<number, ScheduledWork>();
  private readonly openTasks = new Map<number, Deferred<unknown>>();
  private readonly externalEvents = new ExternalEventRouter();
  private now: Date;

  /** Timer ids whose action arrived with isCanceled: they are recorded but must never fire. */
  readonly cancelledTimers = new Set<number>();
  /** Set when the actions contained ContinueAsNew. */
  continueAsNew?: { input: unknown };
  /** Every returned action has settled, i.e. the shim's replay loop ran to its end. */
  done = false;
  /** Why the host fails the instance (non-determinism, unknown function, ...). */
  failure?: Error;
  /** Completion events that found no open task (DTFx logs them as duplicates and moves on). */
  readonly ignoredEvents: string[] = [];

  constructor(
    private readonly config: HostReplayConfig,
    private readonly state: OrchestratorStateJson,
    private readonly history: readonly HistoryEventJson[],
  ) {
    const first = history[0];
    if (!first || first.EventType !== HE.OrchestratorStarted) {
      throw new HarnessError("A history must start with an OrchestratorStarted event.");
    }
    this.now = new Date(first.Timestamp);
  }

  /** Actions the replay produced beyond what the history records, in sequence-id order. */
  get newWork(): NewWork[] {
    return [...this.unmatched.entries()].sort(([a], [b]) => a - b).map(([id, work]) => ({ id, ...work }));
  }

  async run(): Promise<void> {
    for (const event of this.history) {
      let continuationsPending = false;
      try {
        continuationsPending = this.apply(event);
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err));
      }
      if (continuationsPending) await drainMicrotasks();
      if (this.failure) break;
    }
  }

  /** Applies one history event; true if it may have woken up emulated code that must run first. */
  private apply(e: HistoryEventJson): boolean {
    switch (e.EventType) {
      case HE.OrchestratorStarted:
        this.now = new Date(e.Timestamp);
        return false;
      case HE.ExecutionStarted:
        this.startShim();
        return true;
      case HE.TaskScheduled:
        this.matchScheduled(e, "activity");
        return false;
      case HE.TimerCreated:
        this.matchScheduled(e, "timer");
        return false;
      case HE.SubOrchestrationInstanceCreated:
        this.matchScheduled(e, "subOrchestration");
        return false;
      case HE.TaskCompleted:
      case HE.SubOrchestrationInstanceCompleted:
        this.settle(Number(e.TaskScheduledId), e, { ok: true, value: parseJsonText(e.Result) });
        return true;
      case HE.TaskFailed:
      case HE.SubOrchestrationInstanceFailed:
        this.settle(Number(e.TaskScheduledId), e, { ok: false, error: failureOf(e) });
        return true;
      case HE.TimerFired:
        this.settle(Number(e.TimerId), e, { ok: true, value: undefined });
        return true;
      case HE.EventRaised:
        this.externalEvents.deliver(String(e.Name), typeof e.Input === "string" ? e.Input : null);
        return true;
      case HE.EventSent:
        throw new HarnessError("EventSent history events (entities) are not emulated by the durable test host.");
      default:
        return false;
    }
  }

  // --- OutOfProcOrchestrationShim -------------------------------------------------------------

  private startShim(): void {
    const { actions, schemaVersion } = this.state;
    if (schemaVersion < ReplaySchema.V2) {
      throw new HarnessError("Replay schema V1 (one action set per yield) is not emulated by the durable test host.");
    }
    if (!Array.isArray(actions) || actions.length !== 1) {
      throw new Error(
        `With OOProc schema ${schemaVersion}, expected actions array to be of length 1 in outer layer but got size: ${Array.isArray(actions) ? actions.length : "none"}`,
      );
    }
    const actionList = actions[0] ?? [];
    // ProcessAsyncActionsV2: one action at a time, each awaited before the next is even looked at,
    // which is what makes the host's sequence ids follow the JS yield order.
    const loop = async (): Promise<void> => {
      for (const action of actionList) {
        const task = this.invoke(action); // a synchronous throw here fails the orchestration
        try {
          await task;
        } catch {
          // "Silently ignore exceptions thrown by user code": the JS side decides what a failure means.
        }
      }
    };
    loop().then(
      () => {
        this.done = true;
      },
      (err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err));
      },
    );
  }

  private invoke(action: ActionJson): Promise<unknown> {
    switch (action.actionType) {
      case ActionType.CallActivity: {
        const name = requireName(action);
        const rejected = this.argumentCheck(() => this.assertFunctionExists(name, "activity"));
        return rejected ?? this.scheduleTask(name, decodeProcessedInput(action.input));
      }
      case ActionType.CallActivityWithRetry: {
        const name = requireName(action);
        const rejected = this.argumentCheck(() => this.assertFunctionExists(name, "activity"));
        const input = decodeProcessedInput(action.input);
        return rejected ?? ignoreRejection(this.retry(() => this.scheduleTask(name, input), requireRetry(action)));
      }
      case ActionType.CallSubOrchestrator: {
        const name = requireName(action);
        const rejected = this.argumentCheck(() => {
          this.assertFunctionExists(name, "orchestrator");
          this.assertValidSubOrchestrationId(action.instanceId);
        });
        return rejected ?? this.createSubOrchestration(name, action.instanceId, action.input);
      }
      case ActionType.CallSubOrchestratorWithRetry: {
        const name = requireName(action);
        const rejected = this.argumentCheck(() => {
          this.assertFunctionExists(name, "orchestrator");
          this.assertValidSubOrchestrationId(action.instanceId);
        });
        const call = (): Promise<unknown> => this.createSubOrchestration(name, action.instanceId, action.input);
        return rejected ?? ignoreRejection(this.retry(call, requireRetry(action)));
      }
      case ActionType.ContinueAsNew:
        this.continueAsNew = { input: decodeProcessedInput(action.input) };
        return Promise.resolve();
      case ActionType.CreateTimer:
        if (typeof action.fireAt !== "string") throw new HarnessError("CreateTimer action without fireAt.");
        return this.createTimer(new Date(action.fireAt), action.isCanceled === true);
      case ActionType.WaitForExternalEvent:
        return this.externalEvents.wait(String(action.externalEventName));
      case ActionType.WhenAll: {
        // .NET Task.WhenAll: settles only when EVERY child has, then faults if any child faulted.
        const children = (action.compoundActions ?? []).map((child) => this.invoke(child));
        return ignoreRejection(
          Promise.allSettled(children).then((results) => {
            const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
            if (failed) throw failed.reason;
            return undefined;
          }),
        );
      }
      case ActionType.WhenAny: {
        // .NET Task.WhenAny: completes (never faults) as soon as the first child settles.
        const children = (action.compoundActions ?? []).map((child) => this.invoke(child));
        return new Promise<unknown>((resolve) => {
          for (const child of children) child.then(resolve, () => resolve(undefined));
        });
      }
      case ActionType.CallEntity:
      case ActionType.SignalEntity:
      case ActionType.LockEntities:
      case ActionType.ReleaseEntities:
        throw new HarnessError(
          `Durable entities (action type ${action.actionType}) are not emulated by the durable test host.`,
        );
      case ActionType.CallHttp:
        throw new HarnessError("context.df.callHttp is not emulated by the durable test host.");
      default:
        throw new HarnessError(`Action type ${String(action.actionType)} is not emulated by the durable test host.`);
    }
  }

  /**
   * Runs the extension's argument checks (ThrowIfFunctionDoesNotExist, sub-orchestration id rules).
   * "fail": the error escapes the replay loop and fails the instance (loud, what tests want).
   * "hang": what the extension source implies: the checks run inside the async
   * CallDurableTaskFunctionAsync, so the ArgumentException ends up in a faulted task that
   * ProcessAsyncActionsV2 swallows; nothing gets scheduled and the instance stays Running.
   * Returns the faulted task in "hang" mode, undefined when the check passed.
   */
  private argumentCheck(check: () => void): Promise<unknown> | undefined {
    try {
      check();
      return undefined;
    } catch (err) {
      if (this.config.argumentErrors === "fail") throw err;
      return ignoreRejection(Promise.reject(err instanceof Error ? err : new Error(String(err))));
    }
  }

  private assertFunctionExists(name: string, kind: DurableFunctionKind): void {
    const known = kind === "activity" ? this.config.knownActivities : this.config.knownOrchestrators;
    if (known.some((k) => k.toLowerCase() === name.toLowerCase())) return;
    throw new HostArgumentError(unknownFunctionMessage(name, kind, known));
  }

  /** Best-effort checks of DurableOrchestrationContext.CallDurableTaskFunctionAsync on sub-orchestration ids. */
  private assertValidSubOrchestrationId(instanceId: string | undefined): void {
    if (!instanceId) return;
    const id = instanceId.toLowerCase();
    if (id === this.config.instanceId.toLowerCase() || id === this.config.parentInstanceId?.toLowerCase()) {
      throw new HostArgumentError(
        "The instance ID of a sub-orchestration must be different than the instance ID of a parent orchestration.",
      );
    }
    if (instanceId.startsWith("@")) throw new HostArgumentError("Orchestration instance ids must not start with @");
  }

  // --- DTFx TaskOrchestrationContext ----------------------------------------------------------

  private open(id: number): Promise<unknown> {
    const task = deferred<unknown>();
    this.openTasks.set(id, task);
    return task.promise;
  }

  private scheduleTask(name: string, input: unknown): Promise<unknown> {
    const id = this.idCounter++;
    this.unmatched.set(id, { kind: "activity", name, input });
    return this.open(id);
  }

  private createSubOrchestration(name: string, instanceId: string | undefined, input: unknown): Promise<unknown> {
    const id = this.idCounter++;
    // DTFx CreateSubOrchestrationInstanceCore: no id given means "<parent ExecutionId>:<sequence id>".
    const actualId = instanceId && instanceId.trim() ? instanceId : `${this.config.executionId}:${id}`;
    this.unmatched.set(id, { kind: "subOrchestration", name, instanceId: actualId, input });
    return this.open(id);
  }

  private createTimerCore(fireAt: Date, cancelled: boolean): Promise<unknown> {
    const id = this.idCounter++;
    this.unmatched.set(id, { kind: "timer", fireAt });
    if (!cancelled) return this.open(id);
    // A cancelled CancellationToken: TimerCreated is still recorded, the task is cancelled at once.
    this.cancelledTimers.add(id);
    return ignoreRejection(Promise.reject(new Error("A task was canceled.")));
  }

  /**
   * IDurableOrchestrationContext.CreateTimer. Beyond the provider's maximum timer length the host
   * chains timers of longRunningTimerInterval, the last one shortened to land on fireAt. (The JS
   * LongTimerTask splits differently; it copes because it re-arms until currentUtcDateTime >= fireAt.)
   */
  private createTimer(fireAt: Date, cancelled: boolean): Promise<unknown> {
    const { maximumShortTimerDurationMs: maxShort, longRunningTimerIntervalMs: interval } = this.config;
    if (fireAt.getTime() - this.now.getTime() <= maxShort) return this.createTimerCore(fireAt, cancelled);
    const chain = async (): Promise<void> => {
      let intervalFireAt = new Date(this.now.getTime() + interval);
      while (this.now.getTime() < fireAt.getTime()) {
        await this.createTimerCore(intervalFireAt, cancelled);
        const remaining = fireAt.getTime() - this.now.getTime();
        if (remaining <= 0) break;
        intervalFireAt = new Date(this.now.getTime() + Math.min(remaining, interval));
      }
    };
    return ignoreRejection(chain());
  }

  /** RetryInterceptor.Invoke as in current DTFx, including the back-compat timer after the last attempt. */
  private async retry(call: () => Promise<unknown>, options: RetryOptionsJson): Promise<unknown> {
    const firstAttemptAt = this.now.getTime();
    let lastError: unknown;
    for (let retryCount = 0; retryCount < options.maxNumberOfAttempts; retryCount++) {
      try {
        return await call();
      } catch (err) {
        if (err instanceof TaskFailure && err.nonRetriable) throw err;
        lastError = err;
      }
      if (retryCount + 1 === options.maxNumberOfAttempts) {
        // "Dummy timer for back-compat": older DTFx scheduled one more delay here; replays of old
        // histories need a timer at this position, so DTFx keeps one that fires immediately.
        await this.createTimerCore(new Date(this.now.getTime()), false);
        break;
      }
      const delay = nextRetryDelayMs(options, retryCount, firstAttemptAt, this.now.getTime());
      if (delay === 0) break;
      await this.createTimerCore(new Date(this.now.getTime() + delay), false);
    }
    throw lastError;
  }

  /** HandleTaskScheduledEvent / HandleTimerCreatedEvent / HandleSubOrchestrationCreatedEvent. */
  private matchScheduled(e: HistoryEventJson, kind: ScheduledWork["kind"]): void {
    const id = e.EventId;
    const work = this.unmatched.get(id);
    const recordedName = typeof e.Name === "string" ? e.Name : "";
    const version = typeof e.Version === "string" ? e.Version : "";
    const subId = typeof e.InstanceId === "string" ? e.InstanceId : "";
    if (kind === "activity") {
      if (!work) {
        throw new NonDeterministicOrchestrationError(
          `A previous execution of this orchestration scheduled an activity task with sequence ID ${id} and name '${recordedName}' (version '${version}'), but the current replay execution hasn't (yet?) scheduled this task. ${CHANGED_CODE}`,
        );
      }
      if (work.kind !== "activity") {
        throw new NonDeterministicOrchestrationError(
          `A previous execution of this orchestration scheduled an activity task with sequence number ${id} named '${recordedName}', but the current orchestration replay instead produced a ${dotNetActionType[work.kind]} action with this sequence number. ${CHANGED_CODE}`,
        );
      }
      if (work.name.toLowerCase() !== recordedName.toLowerCase()) {
        // (sic: DTFx has two spaces before "Was" in this one message)
        throw new NonDeterministicOrchestrationError(
          `A previous execution of this orchestration scheduled an activity task with sequence number ${id} named '${recordedName}', but the current orchestration replay instead scheduled an activity task named '${work.name}' with this sequence number.  ${CHANGED_CODE}`,
        );
      }
    } else if (kind === "timer") {
      if (!work) {
        throw new NonDeterministicOrchestrationError(
          `A previous execution of this orchestration scheduled a timer task with sequence number ${id} but the current replay execution hasn't (yet?) scheduled this task. ${CHANGED_CODE}`,
        );
      }
      if (work.kind !== "timer") {
        // (sic: "named but" is DTFx's wording)
        throw new NonDeterministicOrchestrationError(
          `A previous execution of this orchestration scheduled a timer task with sequence number ${id} named but the current orchestration replay instead produced a ${dotNetActionType[work.kind]} action with this sequence number. ${CHANGED_CODE}`,
        );
      }
    } else {
      const recorded = `A previous execution of this orchestration scheduled a sub-orchestration task with sequence ID ${id} and name '${recordedName}' (version '${version}', instance ID '${subId}')`;
      if (!work) {
        throw new NonDeterministicOrchestrationError(
          `${recorded}, but the current replay execution hasn't (yet?) scheduled this task. ${CHANGED_CODE}`,
        );
      }
      if (work.kind !== "subOrchestration") {
        throw new NonDeterministicOrchestrationError(
          `${recorded}, but the current orchestration replay instead produced a ${dotNetActionType[work.kind]} action at this sequence number. ${CHANGED_CODE}`,
        );
      }
      if (work.name.toLowerCase() !== recordedName.toLowerCase()) {
        throw new NonDeterministicOrchestrationError(
          `${recorded}, but the current orchestration replay instead scheduled a sub-orchestration task with name ${work.name} at this sequence number. ${CHANGED_CODE}`,
        );
      }
    }
    this.unmatched.delete(id);
  }

  private settle(
    id: number,
    e: HistoryEventJson,
    outcome: { ok: true; value: unknown } | { ok: false; error: Error },
  ): void {
    const task = this.openTasks.get(id);
    if (!task) {
      this.ignoredEvents.push(`${historyEventTypeName(e.EventType)} for task ${id}`);
      return;
    }
    this.openTasks.delete(id);
    if (outcome.ok) task.resolve(outcome.value);
    else task.reject(outcome.error);
  }
}

function failureOf(e: HistoryEventJson): Error {
  const details = e.FailureDetails;
  const nonRetriable =
    typeof details === "object" &&
    details !== null &&
    (details as { IsNonRetriable?: unknown }).IsNonRetriable === true;
  return new TaskFailure(typeof e.Reason === "string" ? e.Reason : "", nonRetriable);
}

function requireName(action: ActionJson): string {
  if (typeof action.functionName !== "string" || action.functionName === "") {
    throw new HarnessError(`Action type ${action.actionType} arrived without a functionName.`);
  }
  return action.functionName;
}

function requireRetry(action: ActionJson): RetryOptionsJson {
  if (!action.retryOptions) throw new HarnessError(`Action for '${action.functionName}' has no retryOptions.`);
  return action.retryOptions;
}
