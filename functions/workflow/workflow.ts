// What every orchestration does with its context, typed: call an activity by its name in the activity
// map (the compiler checks the input and knows the output: no casts in orchestrators), with the one
// retry policy; run calls in parallel; read the replay-safe clock; sleep; sleep until a wake-up
// event. Deterministic: time comes from the orchestration, every side effect is an activity.
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import type { ActivityInput, ActivityName, ActivityOutput } from "./activity-map";

/** A step of an orchestration: a generator the orchestrator `yield*`s, returning T. */
export type Step<T> = Generator<Task, T, unknown>;

/** A scheduled activity whose result (once it completed) is T. */
export interface TypedTask<T> extends Task {
  readonly result?: T;
}

/**
 * The retry policy of every activity call: 4 attempts, 5 s doubling to at most 60 s. Transient
 * Azure and storage failures are already retried inside each call by the SDK; this covers what
 * outlives those (a host restart, a throttled minute). Never retryTimeoutInMilliseconds (open
 * durable-functions bug, see DESIGN.md).
 */
export function activityRetry(): df.RetryOptions {
  const r = new df.RetryOptions(5_000, 4);
  r.backoffCoefficient = 2;
  r.maxRetryIntervalInMilliseconds = 60_000;
  return r;
}

/** What woke a sleeper: its timer, or the event (with the event's data). */
export type Wake = { woken: false } | { woken: true; data: unknown };

export interface Workflow {
  readonly context: OrchestrationContext;
  readonly instanceId: string;
  /** the orchestration's time (replay-safe) */
  now(): Date;
  /** `ms` from now, by the orchestration's time */
  after(ms: number): Date;
  /** one activity, with the retry policy */
  call<K extends ActivityName>(name: K, input: ActivityInput<K>): Step<ActivityOutput<K>>;
  /**
   * one activity, attempted once: for a step whose failure is an outcome the caller acts on (a repair
   * step climbs the ladder, an ACME order backs off), never a reason to do it again at once
   */
  callOnce<K extends ActivityName>(name: K, input: ActivityInput<K>): Step<ActivityOutput<K>>;
  /** one activity scheduled with the retry policy but not awaited: for `all` */
  task<K extends ActivityName>(name: K, input: ActivityInput<K>): TypedTask<ActivityOutput<K>>;
  /** waits for every task; fails with the first failure once all have settled */
  all<T>(tasks: readonly TypedTask<T>[]): Step<T[]>;
  /** a sub-orchestration under a given instance id; `T` is what that orchestrator returns */
  subOrchestration<T>(name: string, input: unknown, instanceId: string): Step<T>;
  /** a durable timer */
  sleep(until: Date): Step<void>;
  /**
   * Sleeps until `until` or until `event` is raised, whichever comes first. The losing timer is never
   * cancelled: on replay the host completes a Task.any holding a cancelled timer at once and can
   * schedule the next actions before it applies the history (graph-runner.ts); a timer that fires
   * later, into a task nobody waits for, wakes nobody.
   */
  sleepOrWake(until: Date, event: string): Step<Wake>;
  /** a deterministic GUID, unique per instance and name */
  guid(name: string): string;
}

export function workflow(context: OrchestrationContext): Workflow {
  const df_ = context.df;
  const task = <K extends ActivityName>(name: K, input: ActivityInput<K>) =>
    df_.callActivityWithRetry(name, activityRetry(), input) as TypedTask<ActivityOutput<K>>;
  return {
    context,
    instanceId: df_.instanceId,
    now: () => df_.currentUtcDateTime,
    after: (ms) => new Date(df_.currentUtcDateTime.getTime() + ms),
    *call(name, input) {
      // the one place an activity's result crosses into the orchestration: typed by the map
      return (yield task(name, input)) as ActivityOutput<typeof name>;
    },
    *callOnce(name, input) {
      return (yield df_.callActivity(name, input)) as ActivityOutput<typeof name>;
    },
    task,
    *all<T>(tasks: readonly TypedTask<T>[]): Step<T[]> {
      if (tasks.length === 0) return [];
      return (yield df_.Task.all([...tasks])) as T[];
    },
    *subOrchestration<T>(name: string, input: unknown, instanceId: string): Step<T> {
      return (yield df_.callSubOrchestrator(name, input, instanceId)) as T;
    },
    *sleep(until) {
      yield df_.createTimer(until);
    },
    *sleepOrWake(until, event) {
      const timer = df_.createTimer(until);
      const wake = df_.waitForExternalEvent(event);
      const winner = (yield df_.Task.any([timer, wake])) as Task;
      return winner === wake ? { woken: true, data: wake.result } : { woken: false };
    },
    guid: (name) => df_.newGuid(name),
  };
}

/** First line of an activity failure, which is what people need in a status. */
export function failureMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0].trim().slice(0, 500);
}
