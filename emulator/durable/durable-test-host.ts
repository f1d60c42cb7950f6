// An in-process stand-in for the Durable Functions part of the Functions host: a task hub (instances
// and their histories), a delivery queue, a clock, and the episode loop that feeds the REAL
// durable-functions replay engine (the registered orchestrator handlers) and then does on the host
// side what the extension and DTFx would do with the result (see host-replay.ts).
//
// Two ways to drive it:
//  - virtual clock (tests): runUntilIdle()/run() jump time to the next due message; deterministic.
//  - real time (sandbox): startPump() delivers messages as they come due in wall-clock time.
import { format } from "node:util";
import { InvocationContext } from "@azure/functions";
import { runActivity, activityFailureFields, subOrchestrationFailureFields } from "./activity-invocation";
import type { ActivityInvoker, ActivityOutcome, FailureFormat } from "./activity-invocation";
import { ScaledWallClock, VirtualClock, type HostClock } from "./clock";
import { DeliveryQueue, type QueuedMessage } from "./delivery-queue";
import {
  HarnessError,
  HostArgumentError,
  InstanceAlreadyExistsError,
  InstanceNotFoundError,
  unknownFunctionMessage,
} from "./errors";
import { describeHistoryEvent } from "./history-format";
import { HostReplay, type ArgumentErrorBehavior, type NewWork } from "./host-replay";
import {
  isTerminalStatus,
  matchesQuery,
  type InstanceQuery,
  type InstanceState,
  type ParentLink,
  type RuntimeStatus,
} from "./instance-state";
import { jsonRoundTrip, parseJsonText, toJsonText } from "./json-text";
import { buildOrchestratorTrigger, invokeOrchestrator, type OrchestratorInvoker } from "./orchestrator-invocation";
import { RealtimePump } from "./realtime-pump";
import {
  HistoryEventType as HE,
  ReplaySchema,
  historyEvent,
  type HistoryEventJson,
  type OrchestratorStateJson,
} from "./wire";

const DAY_MS = 24 * 60 * 60 * 1000;

export interface DurableTestHostOptions {
  /** orchestrator handlers by function name, e.g. fromRegistry().orchestrators */
  orchestrators: Record<string, OrchestratorInvoker>;
  /** activity handlers by function name, e.g. fromRegistry().activities */
  activities: Record<string, ActivityInvoker>;
  /**
   * Replacements for registered functions, e.g. `{ activities: { SendMail: fakeSendMail } }`.
   * Each name must exist in `orchestrators`/`activities`, so a typo fails instead of faking nothing.
   */
  overrides?: {
    orchestrators?: Record<string, OrchestratorInvoker>;
    activities?: Record<string, ActivityInvoker>;
  };
  /** virtual clock start; default 2024-01-01T00:00:00Z */
  startTime?: Date;
  /** upperSchemaVersionNew sent to the library; default ReplaySchema.V3, what the extension sends */
  schemaVersion?: number;
  /** how long an activity takes in host time (default 0: it completes when it was scheduled) */
  activityLatencyMs?: number | ((name: string, input: unknown) => number);
  /** most messages delivered to one instance per episode (default: all that are due) */
  maxEventsPerEpisode?: number;
  /** how activity failures are written into history (default "legacy", see FailureFormat) */
  failureFormat?: FailureFormat;
  /** unknown function names / invalid sub-orchestration ids: fail the instance (default) or hang like the extension */
  invalidCalls?: ArgumentErrorBehavior;
  /** guards against runaway orchestrations (default 10 000) */
  maxEpisodesPerInstance?: number;
  /** provider limits (Azure Storage: 6 days / 3 days) */
  maximumShortTimerDurationMs?: number;
  longRunningTimerIntervalMs?: number;
  /** ids for startNew without an instanceId; default: deterministic 32-hex-digit ids like Guid "N" */
  newInstanceId?: () => string;
  /** receives context.log() output of orchestrators and activities, plus one line per episode */
  log?: (line: string) => void;
}

export interface StartOptions {
  input?: unknown;
  instanceId?: string;
}

export interface ReplayResult {
  /** the OrchestratorState the library returned */
  state: OrchestratorStateJson;
  /** why the host would fail the instance (non-determinism, unknown function, ...), if it would */
  failure?: Error;
  /** actions the code produced beyond what the history records */
  newWork: NewWork[];
}

export interface RunUntilIdleOptions {
  /** stop (before the next episode) as soon as this returns true */
  until?: () => boolean;
  /** stop before delivering anything due after this time, leaving the clock there */
  upTo?: Date;
  /** guard against endless (e.g. eternal) orchestrations; default 10 000 episodes */
  maxEpisodes?: number;
}

export type PurgeResult = "purged" | "not-found" | "not-terminal";

export class DurableTestHost {
  private readonly orchestrators: Record<string, OrchestratorInvoker>;
  private readonly activities: Record<string, ActivityInvoker>;
  private readonly instances = new Map<string, InstanceState>();
  private readonly queue = new DeliveryQueue();
  private readonly settings: {
    schemaVersion: number;
    latency: (name: string, input: unknown) => number;
    maxEventsPerEpisode: number;
    failureFormat: FailureFormat;
    invalidCalls: ArgumentErrorBehavior;
    maxEpisodesPerInstance: number;
    maximumShortTimerDurationMs: number;
    longRunningTimerIntervalMs: number;
    newInstanceId: () => string;
    log: (line: string) => void;
  };
  private clock: HostClock;
  private virtualClock: VirtualClock;
  private pump?: RealtimePump;
  private drivingVirtually = false;
  private episodeInFlight = false;
  private idCounter = 0;
  private invocationCounter = 0;
  private readonly listeners = new Set<() => void>();
  /** HarnessErrors raised while the pump was running (the pump fails the instance and carries on) */
  readonly pumpErrors: Error[] = [];

  constructor(options: DurableTestHostOptions) {
    this.orchestrators = { ...options.orchestrators };
    this.activities = { ...options.activities };
    applyOverrides(this.orchestrators, options.overrides?.orchestrators, "orchestrator");
    applyOverrides(this.activities, options.overrides?.activities, "activity");
    const latency = options.activityLatencyMs ?? 0;
    this.settings = {
      schemaVersion: options.schemaVersion ?? ReplaySchema.V3,
      latency: typeof latency === "function" ? latency : () => latency,
      maxEventsPerEpisode: options.maxEventsPerEpisode ?? Number.POSITIVE_INFINITY,
      failureFormat: options.failureFormat ?? "legacy",
      invalidCalls: options.invalidCalls ?? "fail",
      maxEpisodesPerInstance: options.maxEpisodesPerInstance ?? 10_000,
      maximumShortTimerDurationMs: options.maximumShortTimerDurationMs ?? 6 * DAY_MS,
      longRunningTimerIntervalMs: options.longRunningTimerIntervalMs ?? 3 * DAY_MS,
      newInstanceId: options.newInstanceId ?? (() => (++this.idCounter).toString(16).padStart(32, "0")),
      log: options.log ?? (() => undefined),
    };
    this.virtualClock = new VirtualClock((options.startTime ?? new Date("2024-01-01T00:00:00.000Z")).getTime());
    this.clock = this.virtualClock;
  }

  /** Current host time (virtual, or scaled wall-clock time while the pump runs). */
  get now(): Date {
    return new Date(this.clock.now());
  }

  get isPumpRunning(): boolean {
    return this.pump?.isRunning ?? false;
  }

  // ---- code under test -----------------------------------------------------------------------

  /** Deploys different code for an orchestrator, e.g. to see what in-flight instances do with it. */
  setOrchestrator(name: string, handler: OrchestratorInvoker): void {
    this.orchestrators[name] = handler;
  }

  /** Replaces (or adds) an activity implementation. */
  setActivity(name: string, handler: ActivityInvoker): void {
    this.activities[name] = handler;
  }

  // ---- client operations ---------------------------------------------------------------------

  /**
   * Schedules a new instance and returns its id. Like the host, refuses an id whose instance is
   * still Pending/Running and replaces one that has finished.
   */
  startNew(name: string, options: StartOptions = {}): string {
    if (!this.findKey(this.orchestrators, name)) {
      throw new HostArgumentError(unknownFunctionMessage(name, "orchestrator", Object.keys(this.orchestrators)));
    }
    const instanceId = options.instanceId ?? this.settings.newInstanceId();
    const existing = this.instances.get(instanceId);
    if (existing && !isTerminalStatus(existing.runtimeStatus)) {
      throw new InstanceAlreadyExistsError(instanceId, existing.runtimeStatus);
    }
    this.createInstance(name, instanceId, jsonRoundTrip(options.input));
    return instanceId;
  }

  /**
   * Queues an external event. Events for finished instances are dropped (the HTTP API answers 410);
   * returns false in that case.
   */
  raiseEvent(instanceId: string, eventName: string, eventData?: unknown, options: { delayMs?: number } = {}): boolean {
    const instance = this.mustGet(instanceId);
    if (isTerminalStatus(instance.runtimeStatus)) return false;
    const input = toJsonText(eventData);
    this.enqueue({
      instanceId,
      dueAt: this.clock.now() + (options.delayMs ?? 0),
      label: `event ${eventName}`,
      toEvent: (at) => historyEvent(HE.EventRaised, -1, at, { Name: eventName, Input: input }),
    });
    return true;
  }

  /** Queues a termination; returns false if the instance has already finished. */
  terminate(instanceId: string, reason = ""): boolean {
    const instance = this.mustGet(instanceId);
    if (isTerminalStatus(instance.runtimeStatus)) return false;
    const input = toJsonText(reason);
    this.enqueue({
      instanceId,
      dueAt: this.clock.now(),
      label: "terminate",
      toEvent: (at) => historyEvent(HE.ExecutionTerminated, -1, at, { Input: input }),
    });
    return true;
  }

  /** The live state of an instance (it keeps changing; structuredClone it to keep a snapshot). */
  getStatus(instanceId: string): InstanceState | undefined {
    return this.instances.get(instanceId);
  }

  listInstances(query: InstanceQuery = {}): InstanceState[] {
    return [...this.instances.values()].filter((i) => matchesQuery(i, query));
  }

  /** Deletes a finished instance and its history, like purgeInstanceHistory. */
  purgeInstance(instanceId: string): PurgeResult {
    const instance = this.instances.get(instanceId);
    if (!instance) return "not-found";
    if (!isTerminalStatus(instance.runtimeStatus)) return "not-terminal";
    this.instances.delete(instanceId);
    this.queue.discard((m) => m.instanceId === instanceId);
    return "purged";
  }

  /** Purges every finished instance matching the query; returns how many were deleted. */
  purgeInstances(query: InstanceQuery): number {
    let deleted = 0;
    for (const instance of this.listInstances(query)) {
      if (this.purgeInstance(instance.instanceId) === "purged") deleted++;
    }
    return deleted;
  }

  // ---- virtual-clock driver ------------------------------------------------------------------

  /**
   * Delivers queued messages in (due time, enqueue order) until nothing is left, jumping the virtual
   * clock to each message's due time. Activities started along the way are awaited, not timed.
   */
  async runUntilIdle(options: RunUntilIdleOptions = {}): Promise<void> {
    if (this.isPumpRunning) throw new HarnessError("runUntilIdle() cannot be used while the real-time pump runs.");
    if (this.drivingVirtually) throw new HarnessError("runUntilIdle() is already running.");
    this.drivingVirtually = true;
    try {
      const maxEpisodes = options.maxEpisodes ?? 10_000;
      for (let episodes = 0; ; episodes++) {
        if (options.until?.()) return;
        const next = this.queue.peek(false);
        if (!next) return;
        if (options.upTo && next.dueAt > options.upTo.getTime()) {
          this.virtualClock.advanceTo(options.upTo.getTime());
          return;
        }
        if (episodes >= maxEpisodes) {
          throw new HarnessError(
            `runUntilIdle(): still busy after ${maxEpisodes} episodes; use { until } or { upTo } for eternal orchestrations.`,
          );
        }
        this.virtualClock.advanceTo(next.dueAt);
        const now = this.virtualClock.now();
        const batch = this.queue.takeBatch(next.instanceId, now, this.settings.maxEventsPerEpisode, false);
        await Promise.all(batch.map((m) => m.settled));
        await this.deliver(batch, new Date(now));
      }
    } finally {
      this.drivingVirtually = false;
    }
  }

  /** Starts an instance, runs until idle (or until it finishes, with the pump) and returns its state. */
  async run(
    name: string,
    input?: unknown,
    options: { instanceId?: string; timeoutMs?: number } = {},
  ): Promise<InstanceState> {
    const instanceId = this.startNew(name, { input, instanceId: options.instanceId });
    if (this.isPumpRunning) {
      return this.waitForStatus(instanceId, (s) => isTerminalStatus(s.runtimeStatus), options.timeoutMs);
    }
    await this.runUntilIdle();
    return this.mustGet(instanceId);
  }

  // ---- real-time driver ----------------------------------------------------------------------

  /**
   * Runs the host continuously in wall-clock time: messages are delivered as they come due, timers
   * fire at their wall-clock time divided by `timeScale` (60 = a minute per second), activities run
   * for real (their result is delivered when they finish, and no earlier than activityLatencyMs).
   * Host time continues from the current virtual time; pass `startTime: new Date()` to the
   * constructor for real dates.
   */
  startPump(options: { timeScale?: number } = {}): void {
    if (this.pump) throw new HarnessError("The real-time pump is already running.");
    if (this.drivingVirtually) throw new HarnessError("startPump() cannot be used while runUntilIdle() runs.");
    const timeScale = options.timeScale ?? 1;
    if (!(timeScale > 0)) throw new HarnessError("timeScale must be a positive number.");
    const wallClock = new ScaledWallClock(this.clock.now(), timeScale);
    this.clock = wallClock;
    const pump = new RealtimePump({
      deliverDueBatch: () => this.deliverDueBatch(),
      wallDelayToNextMessage: () => {
        const next = this.queue.peek(true);
        return next ? wallClock.wallDelayUntil(next.dueAt) : undefined;
      },
      onPumpError: (err) => {
        const error = err instanceof Error ? err : new Error(String(err));
        this.pumpErrors.push(error);
        this.settings.log(`[host] pump: ${error.stack ?? error.message}`);
        this.notify();
      },
    });
    this.pump = pump;
    pump.start();
  }

  /** Stops the pump after the episode in progress; host time freezes (virtual clock) from then on. */
  async stopPump(): Promise<void> {
    const pump = this.pump;
    if (!pump) return;
    await pump.stop();
    this.pump = undefined;
    this.virtualClock = new VirtualClock(this.clock.now());
    this.clock = this.virtualClock;
    this.notify();
  }

  /**
   * Resolves when nothing is queued and no episode runs. Without the pump this is runUntilIdle();
   * with it, waits up to `timeoutMs` of real time.
   */
  async waitForIdle(options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.isPumpRunning) return this.runUntilIdle();
    await this.waitFor(() => this.queue.size === 0 && !this.episodeInFlight, options.timeoutMs, "the host to go idle");
  }

  /**
   * Resolves with the instance once `predicate` holds (default: it has finished). Without the pump
   * this runs the virtual clock until then and fails if the host goes idle first; with the pump it
   * waits up to `timeoutMs` of real time.
   */
  async waitForStatus(
    instanceId: string,
    predicate: (status: InstanceState) => boolean = (s) => isTerminalStatus(s.runtimeStatus),
    timeoutMs = 5000,
  ): Promise<InstanceState> {
    const check = (): boolean => {
      const instance = this.instances.get(instanceId);
      return instance !== undefined && predicate(instance);
    };
    if (this.isPumpRunning) {
      await this.waitFor(check, timeoutMs, `instance '${instanceId}' to reach the expected status`);
    } else {
      await this.runUntilIdle({ until: check });
      if (!check()) {
        const status = this.instances.get(instanceId)?.runtimeStatus ?? "missing";
        throw new Error(`Instance '${instanceId}' went idle as ${status} without reaching the expected status.`);
      }
    }
    return this.mustGet(instanceId);
  }

  // ---- history replay ------------------------------------------------------------------------

  /**
   * Replays a recorded history against the current code (or `orchestrator`) as ONE episode and
   * commits nothing: "would an in-flight instance survive this deployment?". The input and ids
   * default to what the history's ExecutionStarted event records.
   */
  async replayHistory(
    name: string,
    history: readonly HistoryEventJson[],
    options: { input?: unknown; instanceId?: string; orchestrator?: OrchestratorInvoker } = {},
  ): Promise<ReplayResult> {
    const started = history.find((e) => e.EventType === HE.ExecutionStarted);
    const recorded = readOrchestrationInstance(started);
    const instanceId = options.instanceId ?? recorded.instanceId ?? "replay-instance";
    const invoker = options.orchestrator ?? this.findHandler(this.orchestrators, name);
    if (!invoker) {
      throw new HarnessError(unknownFunctionMessage(name, "orchestrator", Object.keys(this.orchestrators)));
    }
    const input = "input" in options ? options.input : parseJsonText(started?.Input);
    const state = await invokeOrchestrator(
      invoker,
      this.trigger(history, input, instanceId, recorded.parentInstanceId),
      this.orchestratorContext(name, `${instanceId}:replay`),
    );
    const replay = this.newHostReplay(
      instanceId,
      recorded.executionId ?? `${instanceId}:execution`,
      recorded.parentInstanceId,
      state,
      history,
    );
    await replay.run();
    return { state, failure: replay.failure, newWork: replay.newWork };
  }

  // ---- episodes ------------------------------------------------------------------------------

  private async deliverDueBatch(): Promise<boolean> {
    const nowMs = this.clock.now();
    const next = this.queue.peek(true);
    if (!next || next.dueAt > nowMs) return false;
    const batch = this.queue.takeBatch(next.instanceId, nowMs, this.settings.maxEventsPerEpisode, true);
    await this.deliver(batch, new Date(nowMs));
    return true;
  }

  private async deliver(batch: QueuedMessage[], at: Date): Promise<void> {
    const first = batch[0];
    if (!first) return;
    const instance = this.instances.get(first.instanceId);
    if (!instance) {
      this.settings.log(`[host] dropping ${batch.length} message(s) for purged instance ${first.instanceId}`);
      return;
    }
    // Results addressed to an older execution (before continueAsNew or a restart) are stale.
    const current = batch.filter((m) => m.executionId === undefined || m.executionId === instance.executionId);
    if (current.length === 0) return;
    await this.runEpisode(
      instance,
      current.map((m) => m.toEvent(at)),
      at,
    );
  }

  private async runEpisode(instance: InstanceState, delivered: HistoryEventJson[], at: Date): Promise<void> {
    if (this.episodeInFlight) throw new HarnessError("Two episodes ran at the same time; the host is single-threaded.");
    this.episodeInFlight = true;
    try {
      await this.runEpisodeCore(instance, delivered, at);
    } finally {
      this.episodeInFlight = false;
      this.notify();
    }
  }

  private async runEpisodeCore(instance: InstanceState, delivered: HistoryEventJson[], at: Date): Promise<void> {
    const log = this.settings.log;
    if (isTerminalStatus(instance.runtimeStatus)) {
      log(
        `[host] dropping ${delivered.length} message(s) for ${instance.runtimeStatus} instance ${instance.instanceId}`,
      );
      return;
    }
    if (++instance.episodes > this.settings.maxEpisodesPerInstance) {
      throw new HarnessError(
        `Instance ${instance.instanceId} exceeded ${this.settings.maxEpisodesPerInstance} episodes.`,
      );
    }
    const newEvents = [historyEvent(HE.OrchestratorStarted, -1, at), ...delivered];
    const terminated = delivered.find((e) => e.EventType === HE.ExecutionTerminated);
    if (terminated) {
      // DTFx completes a terminated orchestration without running user code.
      instance.history.push(...newEvents);
      this.complete(instance, "Terminated", parseJsonText(terminated.Input), at);
      return;
    }
    instance.runtimeStatus = "Running";
    const history = [...instance.history, ...newEvents];

    // 1) JS side: the real durable-functions replay engine.
    const state = await invokeOrchestrator(
      this.mustFindHandler(this.orchestrators, instance.name),
      this.trigger(
        history,
        instance.input,
        instance.instanceId,
        instance.parentInstanceId,
        instance.history.length > 0,
      ),
      this.orchestratorContext(instance.name, `${instance.instanceId}:${instance.episodes}`),
    );
    instance.lastState = state;

    // 2) Host side: replay the returned actions against the history.
    const replay = this.newHostReplay(
      instance.instanceId,
      instance.executionId,
      instance.parentInstanceId,
      state,
      history,
    );
    await replay.run();
    for (const ignored of replay.ignoredEvents) log(`[host] ${instance.instanceId}: ignored ${ignored} (no open task)`);

    // 3) Commit the episode: new messages, then what the replay scheduled beyond the history.
    const scheduled = replay.failure ? [] : replay.newWork.map((w) => scheduledEvent(w, at));
    instance.history = [...history, ...scheduled, historyEvent(HE.OrchestratorCompleted, -1, at)];
    if (state.customStatus !== undefined) instance.customStatus = state.customStatus;
    instance.customStatusLog.push(state.customStatus);
    instance.lastUpdatedTime = at;
    log(
      `[host] ${instance.instanceId} episode ${instance.episodes} @${at.toISOString()} ` +
        `in=[${delivered.map(describeHistoryEvent).join(", ")}] new=[${scheduled.map(describeHistoryEvent).join(", ")}]` +
        ` isDone=${state.isDone}${state.error !== undefined ? " error" : ""}`,
    );

    // Cancelled timers never fire here (on Azure they fire later and are dropped as duplicates).
    this.queue.discard(
      (m) => m.instanceId === instance.instanceId && m.timerId !== undefined && replay.cancelledTimers.has(m.timerId),
    );

    // 4) Outcome, in the order the host decides it.
    if (replay.failure instanceof HarnessError) {
      this.complete(instance, "Failed", `${replay.failure.name}: ${replay.failure.message}`, at);
      throw replay.failure;
    }
    if (replay.failure) {
      this.complete(instance, "Failed", replay.failure.message, at);
    } else if (replay.done && state.error !== undefined) {
      this.complete(instance, "Failed", `Orchestrator function '${instance.name}' failed: ${state.error}`, at);
    } else if (replay.done && state.isDone) {
      if (replay.continueAsNew) this.continueAsNew(instance, replay.continueAsNew.input, at);
      else this.complete(instance, "Completed", jsonRoundTrip(state.output), at);
    } else {
      this.scheduleWork(instance, replay, at);
    }
  }

  private scheduleWork(instance: InstanceState, replay: HostReplay, at: Date): void {
    for (const work of replay.newWork) {
      if (work.kind === "activity") this.startActivity(instance, work.id, work.name, work.input, at);
      else if (work.kind === "timer") {
        if (replay.cancelledTimers.has(work.id)) continue;
        const fireAt = work.fireAt.toISOString();
        this.enqueue({
          instanceId: instance.instanceId,
          executionId: instance.executionId,
          dueAt: Math.max(work.fireAt.getTime(), at.getTime()),
          label: `timer#${work.id}`,
          timerId: work.id,
          toEvent: (firedAt) => historyEvent(HE.TimerFired, -1, firedAt, { TimerId: work.id, FireAt: fireAt }),
        });
      } else {
        this.startSubOrchestration(instance, work.id, work.name, work.instanceId, work.input);
      }
    }
  }

  private startActivity(instance: InstanceState, taskId: number, name: string, input: unknown, at: Date): void {
    const key = this.findKey(this.activities, name) ?? name;
    const handler = this.mustFindHandler(this.activities, name);
    const log = this.settings.log;
    const context = new InvocationContext({
      functionName: key,
      invocationId: `${instance.instanceId}:${key}:${++this.invocationCounter}`,
      logHandler: (level, ...args) => log(`[${key}/${level}] ${format(...args)}`),
      options: { trigger: { type: "activityTrigger", name: "input" } },
      triggerMetadata: { instanceId: instance.instanceId },
    });
    let outcome: ActivityOutcome | undefined;
    const message = this.enqueue({
      instanceId: instance.instanceId,
      executionId: instance.executionId,
      dueAt: at.getTime() + this.settings.latency(name, input),
      label: `activity ${name}#${taskId}`,
      ready: false,
      settled: runActivity(handler, input, context).then((result) => {
        outcome = result;
        message.ready = true;
        this.pump?.poke();
      }),
      toEvent: (completedAt) => {
        if (!outcome) throw new HarnessError(`Activity ${name}#${taskId} was delivered before it finished.`);
        return outcome.ok
          ? historyEvent(HE.TaskCompleted, -1, completedAt, { TaskScheduledId: taskId, Result: outcome.resultJson })
          : historyEvent(HE.TaskFailed, -1, completedAt, {
              TaskScheduledId: taskId,
              ...activityFailureFields(key, outcome.error, this.settings.failureFormat),
            });
      },
    });
  }

  private startSubOrchestration(
    parent: InstanceState,
    taskId: number,
    name: string,
    instanceId: string,
    input: unknown,
  ): void {
    const existing = this.instances.get(instanceId);
    if (existing && !isTerminalStatus(existing.runtimeStatus)) {
      throw new HarnessError(
        `Sub-orchestration instance id '${instanceId}' is already used by a ${existing.runtimeStatus} instance.`,
      );
    }
    const orchestratorName = this.findKey(this.orchestrators, name) ?? name;
    this.createInstance(orchestratorName, instanceId, jsonRoundTrip(input), {
      instanceId: parent.instanceId,
      executionId: parent.executionId,
      taskScheduledId: taskId,
    });
  }

  private complete(instance: InstanceState, status: RuntimeStatus, output: unknown, at: Date): void {
    this.discardExecutionMessages(instance);
    instance.runtimeStatus = status;
    instance.output = output;
    instance.lastUpdatedTime = at;
    instance.history.push(
      historyEvent(HE.ExecutionCompleted, -1, at, { OrchestrationStatus: status, Result: toJsonText(output) }),
    );
    this.settings.log(`[host] ${instance.instanceId} -> ${status}`);
    const link = instance.parentLink;
    if (!link) return;
    // DTFx tells the parent about Completed, Failed and Terminated children.
    const resultJson = toJsonText(output);
    const failure = subOrchestrationFailureFields(String(output), this.settings.failureFormat);
    this.enqueue({
      instanceId: link.instanceId,
      executionId: link.executionId,
      dueAt: at.getTime(),
      label: `sub-orchestration ${instance.instanceId} ${status}`,
      toEvent: (deliveredAt) =>
        status === "Completed"
          ? historyEvent(HE.SubOrchestrationInstanceCompleted, -1, deliveredAt, {
              TaskScheduledId: link.taskScheduledId,
              Result: resultJson,
            })
          : historyEvent(HE.SubOrchestrationInstanceFailed, -1, deliveredAt, {
              TaskScheduledId: link.taskScheduledId,
              ...failure,
            }),
    });
  }

  private continueAsNew(instance: InstanceState, input: unknown, at: Date): void {
    instance.history.push(
      historyEvent(HE.ExecutionCompleted, -1, at, { OrchestrationStatus: "ContinuedAsNew", Result: toJsonText(input) }),
    );
    this.settings.log(`[host] ${instance.instanceId} -> ContinuedAsNew`);
    this.discardExecutionMessages(instance);
    instance.generation++;
    instance.executionId = this.newExecutionId();
    instance.input = jsonRoundTrip(input);
    instance.history = [];
    instance.lastUpdatedTime = at;
    this.enqueueExecutionStarted(instance);
  }

  // ---- plumbing ------------------------------------------------------------------------------

  /**
   * Timers and activity results still queued for an execution that has ended would only be dropped
   * on delivery (as on Azure); withdrawing them keeps the virtual clock from jumping to them.
   */
  private discardExecutionMessages(instance: InstanceState): void {
    this.queue.discard((m) => m.instanceId === instance.instanceId && m.executionId === instance.executionId);
  }

  private createInstance(name: string, instanceId: string, input: unknown, parentLink?: ParentLink): InstanceState {
    // Messages still queued for an earlier instance with this id belong to a finished execution.
    this.queue.discard((m) => m.instanceId === instanceId);
    const now = this.now;
    const instance: InstanceState = {
      instanceId,
      name,
      input,
      executionId: this.newExecutionId(),
      generation: 1,
      parentInstanceId: parentLink?.instanceId,
      parentLink,
      history: [],
      runtimeStatus: "Pending",
      customStatusLog: [],
      createdTime: now,
      lastUpdatedTime: now,
      episodes: 0,
    };
    this.instances.set(instanceId, instance);
    this.enqueueExecutionStarted(instance);
    return instance;
  }

  private enqueueExecutionStarted(instance: InstanceState): void {
    const { name, instanceId, executionId, parentLink } = instance;
    const input = toJsonText(instance.input);
    this.enqueue({
      instanceId,
      executionId,
      dueAt: this.clock.now(),
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
    });
  }

  private enqueue(
    message: Omit<QueuedMessage, "seq" | "ready" | "settled"> & { ready?: boolean; settled?: Promise<void> },
  ): QueuedMessage {
    const queued = this.queue.push({
      ...message,
      ready: message.ready ?? true,
      settled: message.settled ?? Promise.resolve(),
    });
    this.pump?.poke();
    this.notify();
    return queued;
  }

  /** Deterministic GUID-shaped execution ids (the host uses Guid.NewGuid()). */
  private newExecutionId(): string {
    const n = (++this.idCounter).toString(16).padStart(12, "0");
    return `00000000-0000-4000-8000-${n}`;
  }

  private trigger(
    history: readonly HistoryEventJson[],
    input: unknown,
    instanceId: string,
    parentInstanceId: string | undefined,
    isReplaying = true,
  ): unknown {
    return buildOrchestratorTrigger({
      history,
      input,
      instanceId,
      isReplaying,
      parentInstanceId,
      schemaVersion: this.settings.schemaVersion,
      maximumShortTimerDurationMs: this.settings.maximumShortTimerDurationMs,
      longRunningTimerIntervalMs: this.settings.longRunningTimerIntervalMs,
    });
  }

  /** A fresh context per episode: the library keeps its state on context.df, so reuse would be wrong. */
  private orchestratorContext(name: string, invocationId: string): InvocationContext {
    const log = this.settings.log;
    return new InvocationContext({
      functionName: name,
      invocationId,
      logHandler: (level, ...args) => log(`[${name}/${level}] ${format(...args)}`),
      options: { trigger: { type: "orchestrationTrigger", name: "context" } },
    });
  }

  private newHostReplay(
    instanceId: string,
    executionId: string,
    parentInstanceId: string | undefined,
    state: OrchestratorStateJson,
    history: readonly HistoryEventJson[],
  ): HostReplay {
    return new HostReplay(
      {
        instanceId,
        executionId,
        parentInstanceId,
        knownActivities: Object.keys(this.activities),
        knownOrchestrators: Object.keys(this.orchestrators),
        maximumShortTimerDurationMs: this.settings.maximumShortTimerDurationMs,
        longRunningTimerIntervalMs: this.settings.longRunningTimerIntervalMs,
        argumentErrors: this.settings.invalidCalls,
      },
      state,
      history,
    );
  }

  /** Function names are case-insensitive on the host. */
  private findKey(table: Record<string, unknown>, name: string): string | undefined {
    if (name in table) return name;
    return Object.keys(table).find((k) => k.toLowerCase() === name.toLowerCase());
  }

  private findHandler<T>(table: Record<string, T>, name: string): T | undefined {
    const key = this.findKey(table, name);
    return key === undefined ? undefined : table[key];
  }

  private mustFindHandler<T>(table: Record<string, T>, name: string): T {
    const handler = this.findHandler(table, name);
    if (!handler) throw new HarnessError(`No handler registered for '${name}'.`);
    return handler;
  }

  private mustGet(instanceId: string): InstanceState {
    const instance = this.instances.get(instanceId);
    if (!instance) throw new InstanceNotFoundError(instanceId);
    return instance;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Waits (in real time) until `condition` holds; re-checked whenever the host changes. */
  private waitFor(condition: () => boolean, timeoutMs = 5000, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (condition()) finish();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
      check();
    });
  }
}

function applyOverrides<T>(
  table: Record<string, T>,
  overrides: Record<string, T> | undefined,
  kind: "orchestrator" | "activity",
): void {
  for (const [name, handler] of Object.entries(overrides ?? {})) {
    if (!(name in table)) {
      throw new HarnessError(
        `Cannot override ${kind} '${name}': no such ${kind} is registered (known: ${Object.keys(table).join(", ")}).`,
      );
    }
    table[name] = handler;
  }
}

function scheduledEvent(work: NewWork, at: Date): HistoryEventJson {
  switch (work.kind) {
    case "activity":
      return historyEvent(HE.TaskScheduled, work.id, at, {
        Name: work.name,
        Version: "",
        Input: toJsonText(work.input),
      });
    case "timer":
      return historyEvent(HE.TimerCreated, work.id, at, { FireAt: work.fireAt.toISOString() });
    case "subOrchestration":
      return historyEvent(HE.SubOrchestrationInstanceCreated, work.id, at, {
        Name: work.name,
        Version: "",
        InstanceId: work.instanceId,
        Input: toJsonText(work.input),
      });
  }
}

function readOrchestrationInstance(started: HistoryEventJson | undefined): {
  instanceId?: string;
  executionId?: string;
  parentInstanceId?: string;
} {
  const instance = asRecord(started?.OrchestrationInstance);
  const parent = asRecord(asRecord(started?.ParentInstance)?.OrchestrationInstance);
  const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  return {
    instanceId: text(instance?.InstanceId),
    executionId: text(instance?.ExecutionId),
    parentInstanceId: text(parent?.InstanceId),
  };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
}
