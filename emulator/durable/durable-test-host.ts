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
import { runActivity, type ActivityInvoker, type FailureFormat } from "./activity-invocation";
import { ChangeNotifier } from "./change-notifier";
import { ScaledWallClock, VirtualClock, type HostClock } from "./clock";
import { episodeOutcome, replayEpisode, scheduledEvent, type EpisodeEnvironment } from "./episode";
import { FunctionTable } from "./function-table";
import { DeliveryQueue, type NewMessage, type QueuedMessage } from "./delivery-queue";
import {
  HarnessError,
  HostArgumentError,
  InstanceAlreadyExistsError,
  InstanceNotFoundError,
  unknownFunctionMessage,
} from "./errors";
import { describeHistoryEvent } from "./history-format";
import {
  activityResultMessage,
  eventRaisedMessage,
  executionStartedMessage,
  subOrchestrationResultMessage,
  terminateMessage,
  timerFiredMessage,
} from "./host-messages";
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
import type { OrchestratorInvoker } from "./orchestrator-invocation";
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
  private readonly orchestrators: FunctionTable<OrchestratorInvoker>;
  private readonly activities: FunctionTable<ActivityInvoker>;
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
  private readonly changes = new ChangeNotifier();
  /** HarnessErrors raised while the pump was running (the pump fails the instance and carries on) */
  readonly pumpErrors: Error[] = [];

  constructor(options: DurableTestHostOptions) {
    this.orchestrators = new FunctionTable(options.orchestrators, options.overrides?.orchestrators, "orchestrator");
    this.activities = new FunctionTable(options.activities, options.overrides?.activities, "activity");
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

  /**
   * A host time as the wall clock read it: while the pump runs faster than real time, host time runs
   * ahead, and what the host shows the outside (an instance's createdTime in the RPC routes' status)
   * is in wall-clock time, as a Functions host's would be.
   */
  wallTime(hostTime: Date): Date {
    return new Date(this.clock.toWall(hostTime.getTime()));
  }

  /** The host time at a wall-clock time (the inverse of wallTime: a client's createdTimeFrom filter). */
  hostTime(wallTime: Date): Date {
    return new Date(this.clock.fromWall(wallTime.getTime()));
  }

  get isPumpRunning(): boolean {
    return this.pump?.isRunning ?? false;
  }

  // ---- code under test -----------------------------------------------------------------------

  /** Deploys different code for an orchestrator, e.g. to see what in-flight instances do with it. */
  setOrchestrator(name: string, handler: OrchestratorInvoker): void {
    this.orchestrators.set(name, handler);
  }

  /** Replaces (or adds) an activity implementation. */
  setActivity(name: string, handler: ActivityInvoker): void {
    this.activities.set(name, handler);
  }

  // ---- client operations ---------------------------------------------------------------------

  /**
   * Schedules a new instance and returns its id. Like the host, refuses an id whose instance is
   * still Pending/Running and replaces one that has finished.
   */
  startNew(name: string, options: StartOptions = {}): string {
    if (!this.orchestrators.resolve(name)) {
      throw new HostArgumentError(unknownFunctionMessage(name, "orchestrator", this.orchestrators.names()));
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
    this.enqueue(eventRaisedMessage(instanceId, eventName, eventData, this.clock.now() + (options.delayMs ?? 0)));
    return true;
  }

  /** Queues a termination; returns false if the instance has already finished. */
  terminate(instanceId: string, reason = ""): boolean {
    const instance = this.mustGet(instanceId);
    if (isTerminalStatus(instance.runtimeStatus)) return false;
    this.enqueue(terminateMessage(instanceId, reason, this.clock.now()));
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
        this.changes.notify();
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
    this.changes.notify();
  }

  /**
   * Resolves when nothing is queued and no episode runs. Without the pump this is runUntilIdle();
   * with it, waits up to `timeoutMs` of real time.
   */
  async waitForIdle(options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.isPumpRunning) return this.runUntilIdle();
    const idle = (): boolean => this.queue.size === 0 && !this.episodeInFlight;
    await this.changes.waitFor(idle, options.timeoutMs ?? 5000, "the host to go idle");
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
      await this.changes.waitFor(check, timeoutMs, `instance '${instanceId}' to reach the expected status`);
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
    const invoker = options.orchestrator ?? this.orchestrators.resolve(name)?.handler;
    if (!invoker) {
      throw new HarnessError(unknownFunctionMessage(name, "orchestrator", this.orchestrators.names()));
    }
    const { state, replay } = await replayEpisode(this.episodeEnvironment(), {
      name,
      invoker,
      instanceId,
      executionId: recorded.executionId ?? `${instanceId}:execution`,
      parentInstanceId: recorded.parentInstanceId,
      input: "input" in options ? options.input : parseJsonText(started?.Input),
      history,
      isReplaying: true,
      invocationId: `${instanceId}:replay`,
    });
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
      this.changes.notify();
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
    const episode = await replayEpisode(this.episodeEnvironment(), {
      name: instance.name,
      invoker: this.orchestrators.require(instance.name).handler,
      instanceId: instance.instanceId,
      executionId: instance.executionId,
      parentInstanceId: instance.parentInstanceId,
      input: instance.input,
      history,
      isReplaying: instance.history.length > 0,
      invocationId: `${instance.instanceId}:${instance.episodes}`,
    });
    const { state, replay } = episode;
    for (const ignored of replay.ignoredEvents) log(`[host] ${instance.instanceId}: ignored ${ignored} (no open task)`);

    // Commit: the new messages, then what the replay scheduled beyond the history.
    const scheduled = replay.failure ? [] : replay.newWork.map((work) => scheduledEvent(work, at));
    instance.history = [...history, ...scheduled, historyEvent(HE.OrchestratorCompleted, -1, at)];
    instance.lastState = state;
    if (state.customStatus !== undefined) instance.customStatus = state.customStatus;
    instance.customStatusLog.push(state.customStatus);
    instance.lastUpdatedTime = at;
    log(
      `[host] ${instance.instanceId} episode ${instance.episodes} @${at.toISOString()} ` +
        `in=[${delivered.map(describeHistoryEvent).join(", ")}] new=[${scheduled.map(describeHistoryEvent).join(", ")}]`,
    );
    // Cancelled timers never fire here (on Azure they fire later and are dropped as duplicates).
    this.queue.discard(
      (m) => m.instanceId === instance.instanceId && m.timerId !== undefined && replay.cancelledTimers.has(m.timerId),
    );

    const outcome = episodeOutcome(instance.name, episode);
    switch (outcome.kind) {
      case "failed":
        this.complete(instance, "Failed", outcome.output, at);
        if (outcome.harnessError) throw outcome.harnessError; // unsupported feature: fail the test loudly
        return;
      case "completed":
        return this.complete(instance, "Completed", outcome.output, at);
      case "continuedAsNew":
        return this.continueAsNew(instance, outcome.input, at);
      case "running":
        return this.scheduleWork(instance, replay, at);
    }
  }

  private scheduleWork(instance: InstanceState, replay: HostReplay, at: Date): void {
    for (const work of replay.newWork) {
      if (work.kind === "activity") this.startActivity(instance, work.id, work.name, work.input, at);
      else if (work.kind === "timer") {
        if (replay.cancelledTimers.has(work.id)) continue;
        const dueAt = Math.max(work.fireAt.getTime(), at.getTime());
        this.enqueue(timerFiredMessage(instance, work.id, work.fireAt, dueAt));
      } else {
        this.startSubOrchestration(instance, work.id, work.name, work.instanceId, work.input);
      }
    }
  }

  private startActivity(instance: InstanceState, taskId: number, name: string, input: unknown, at: Date): void {
    const { name: key, handler } = this.activities.require(name);
    const log = this.settings.log;
    const context = new InvocationContext({
      functionName: key,
      invocationId: `${instance.instanceId}:${key}:${++this.invocationCounter}`,
      logHandler: (level, ...args) => log(`[${key}/${level}] ${format(...args)}`),
      options: { trigger: { type: "activityTrigger", name: "input" } },
      triggerMetadata: { instanceId: instance.instanceId },
    });
    // The activity starts now, for real; its result is due after the configured latency.
    const running = runActivity(handler, input, context);
    const dueAt = at.getTime() + this.settings.latency(name, input);
    const onReady = (): void => this.pump?.poke();
    this.enqueue(activityResultMessage(instance, taskId, key, running, this.settings.failureFormat, dueAt, onReady));
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
    const orchestratorName = this.orchestrators.require(name).name;
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
    this.enqueue(subOrchestrationResultMessage(link, status, output, this.settings.failureFormat, at.getTime()));
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
    this.enqueue(executionStartedMessage(instance, this.clock.now()));
  }

  private enqueue(message: NewMessage): void {
    this.queue.push(message);
    this.pump?.poke();
    this.changes.notify();
  }

  /** Deterministic GUID-shaped execution ids (the host uses Guid.NewGuid()). */
  private newExecutionId(): string {
    const n = (++this.idCounter).toString(16).padStart(12, "0");
    return `00000000-0000-4000-8000-${n}`;
  }

  private episodeEnvironment(): EpisodeEnvironment {
    return {
      schemaVersion: this.settings.schemaVersion,
      maximumShortTimerDurationMs: this.settings.maximumShortTimerDurationMs,
      longRunningTimerIntervalMs: this.settings.longRunningTimerIntervalMs,
      argumentErrors: this.settings.invalidCalls,
      knownActivities: this.activities.names(),
      knownOrchestrators: this.orchestrators.names(),
      log: this.settings.log,
    };
  }

  private mustGet(instanceId: string): InstanceState {
    const instance = this.instances.get(instanceId);
    if (!instance) throw new InstanceNotFoundError(instanceId);
    return instance;
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
