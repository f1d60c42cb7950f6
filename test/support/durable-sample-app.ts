// A small Functions app used to test the durable test host. It registers through the real
// df.app.* / app.* functions, so capture goes through the same path as the real app. Import
// "emulator/durable/install" before this module.
//
// The orchestrators are deliberately small and each shows one Durable Functions behaviour.
import { app, HttpResponse, type HttpRequest, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";

export const SampleNames = {
  // activities
  GetItems: "SampleGetItems",
  ProcessItem: "SampleProcessItem",
  Flaky: "SampleFlaky",
  AlwaysFails: "SampleAlwaysFails",
  Notify: "SampleNotify",
  // orchestrators
  FanOut: "SampleFanOut",
  Retry: "SampleRetry",
  Timer: "SampleTimer",
  Approval: "SampleApproval",
  CollectEvents: "SampleCollectEvents",
  Parent: "SampleParent",
  Child: "SampleChild",
  Counter: "SampleCounter",
  Race: "SampleRace",
  CatchFailure: "SampleCatchFailure",
  UncaughtFailure: "SampleUncaughtFailure",
  FanOutCatch: "SampleFanOutCatch",
  UnknownActivity: "SampleUnknownActivity",
  Versioned: "SampleVersioned",
  VersionedRenamed: "SampleVersionedRenamed",
  // client functions
  HttpStart: "SampleHttpStart",
  Ping: "SamplePing",
  Nightly: "SampleNightly",
} as const;

const N = SampleNames;

// ---- activities ------------------------------------------------------------------------------

export async function getItems(input: { count: number }): Promise<string[]> {
  return Array.from({ length: input.count }, (_, i) => `item-${i + 1}`);
}

export async function processItem(item: string, context: InvocationContext): Promise<string> {
  context.log(`processing ${item}`);
  return item.toUpperCase();
}

const flakyAttempts = new Map<string, number>();

/** Fails `failTimes` times per key, then succeeds; keys keep tests independent of each other. */
export async function flaky(input: { key: string; failTimes: number }): Promise<string> {
  const attempt = (flakyAttempts.get(input.key) ?? 0) + 1;
  flakyAttempts.set(input.key, attempt);
  if (attempt <= input.failTimes) throw new Error(`transient failure #${attempt} for ${input.key}`);
  return `ok after ${attempt} attempts`;
}

export function flakyAttemptCount(key: string): number {
  return flakyAttempts.get(key) ?? 0;
}

export async function alwaysFails(): Promise<never> {
  throw new Error("boom: downstream unavailable");
}

export async function notify(message: string): Promise<string> {
  return `sent:${message}`;
}

df.app.activity(N.GetItems, { handler: getItems });
df.app.activity(N.ProcessItem, { handler: processItem });
df.app.activity(N.Flaky, { handler: flaky });
df.app.activity(N.AlwaysFails, { handler: alwaysFails });
df.app.activity(N.Notify, { handler: notify });

// ---- orchestrators ---------------------------------------------------------------------------

/** Activity, fan-out/fan-in, another activity; custom status at every stage. */
export const fanOut: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { count } = context.df.getInput<{ count: number }>();
  context.df.setCustomStatus({ stage: "fetching" });
  const items = (yield context.df.callActivity(N.GetItems, { count })) as string[];
  context.df.setCustomStatus({ stage: "processing", total: items.length });
  const upper = (yield context.df.Task.all(
    items.map((item) => context.df.callActivity(N.ProcessItem, item)),
  )) as string[];
  context.df.setCustomStatus({ stage: "notifying" });
  const receipt = (yield context.df.callActivity(N.Notify, upper.join(","))) as string;
  context.df.setCustomStatus({ stage: "done" });
  return { items, upper, receipt };
};
df.app.orchestration(N.FanOut, fanOut);

export interface RetryInput {
  key: string;
  failTimes: number;
  maxAttempts: number;
  firstRetryMs: number;
  backoff?: number;
  maxRetryMs?: number;
}

/** callActivityWithRetry; failing more often than allowed fails the orchestration. */
export const retry: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RetryInput>();
  const options = new df.RetryOptions(input.firstRetryMs, input.maxAttempts);
  options.backoffCoefficient = input.backoff ?? 1;
  if (input.maxRetryMs !== undefined) options.maxRetryIntervalInMilliseconds = input.maxRetryMs;
  return (yield context.df.callActivityWithRetry(N.Flaky, options, {
    key: input.key,
    failTimes: input.failTimes,
  })) as string;
};
df.app.orchestration(N.Retry, retry);

/** One durable timer; reports when it started and when it woke up. */
export const timer: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { delayMs } = context.df.getInput<{ delayMs: number }>();
  const startedAt = context.df.currentUtcDateTime.toISOString();
  yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + delayMs));
  return { startedAt, firedAt: context.df.currentUtcDateTime.toISOString() };
};
df.app.orchestration(N.Timer, timer);

/** Waits for an "Approval" event, racing a timeout timer (cancelled when the event wins). */
export const approval: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { timeoutMs } = context.df.getInput<{ timeoutMs: number }>();
  context.df.setCustomStatus("awaiting-approval");
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + timeoutMs);
  const timeoutTask = context.df.createTimer(deadline);
  const approvalTask = context.df.waitForExternalEvent("Approval");
  const winner = (yield context.df.Task.any([approvalTask, timeoutTask])) as Task;
  if (winner === approvalTask) {
    timeoutTask.cancel();
    context.df.setCustomStatus("approved");
    return { approved: true, by: approvalTask.result, at: context.df.currentUtcDateTime.toISOString() };
  }
  context.df.setCustomStatus("timed-out");
  return { approved: false, reason: "timed out", at: context.df.currentUtcDateTime.toISOString() };
};
df.app.orchestration(N.Approval, approval);

/** Does some work first, then collects `count` "Item" events one after the other. */
export const collectEvents: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { count } = context.df.getInput<{ count: number }>();
  yield context.df.callActivity(N.Notify, "ready");
  const received: unknown[] = [];
  for (let i = 0; i < count; i++) received.push(yield context.df.waitForExternalEvent("Item"));
  return received;
};
df.app.orchestration(N.CollectEvents, collectEvents);

export interface ParentInput {
  items: string[];
  failChild?: boolean;
}

/** Two sub-orchestrations: one with an explicit instance id, one with the host's default id. */
export const parent: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ParentInput>();
  let named: unknown;
  try {
    named = yield context.df.callSubOrchestrator(
      N.Child,
      { items: input.items, fail: input.failChild === true },
      `${context.df.instanceId}-child`,
    );
  } catch (err) {
    return { childError: (err as Error).message };
  }
  const unnamed: unknown = yield context.df.callSubOrchestrator(N.Child, { items: ["extra"] });
  return { named, unnamed };
};
df.app.orchestration(N.Parent, parent);

export const child: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { items, fail } = context.df.getInput<{ items: string[]; fail?: boolean }>();
  const sent: string[] = [];
  for (const item of items) sent.push((yield context.df.callActivity(N.Notify, item)) as string);
  if (fail) throw new Error(`child refused after ${sent.length} notifications`);
  return { parent: context.df.parentInstanceId ?? null, sent };
};
df.app.orchestration(N.Child, child);

/** Eternal-style orchestration: waits a minute, then continues as new until n reaches `until`. */
export const counter: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { n, until } = context.df.getInput<{ n: number; until: number }>();
  context.df.setCustomStatus({ n });
  yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
  if (n < until) {
    context.df.continueAsNew({ n: n + 1, until });
    return undefined;
  }
  return { n, finishedAt: context.df.currentUtcDateTime };
};
df.app.orchestration(N.Counter, counter);

/** Task.any between two activities: the first to finish wins. */
export const race: OrchestrationHandler = function* (context: OrchestrationContext) {
  const fast = context.df.callActivity(N.Notify, "fast");
  const slow = context.df.callActivity(N.Notify, "slow");
  const winner = (yield context.df.Task.any([slow, fast])) as Task;
  return { winner: winner.result, at: context.df.currentUtcDateTime.toISOString() };
};
df.app.orchestration(N.Race, race);

/** A failing activity surfaces as an exception inside the orchestrator. */
export const catchFailure: OrchestrationHandler = function* (context: OrchestrationContext) {
  try {
    yield context.df.callActivity(N.AlwaysFails);
    return "unreachable";
  } catch (err) {
    return { caught: (err as Error).message.split("\n")[0]?.trim(), type: (err as Error).constructor.name };
  }
};
df.app.orchestration(N.CatchFailure, catchFailure);

/** The same failure, not caught: the instance fails. */
export const uncaughtFailure: OrchestrationHandler = function* (context: OrchestrationContext) {
  yield context.df.callActivity(N.AlwaysFails);
  return "unreachable";
};
df.app.orchestration(N.UncaughtFailure, uncaughtFailure);

/** Task.all fails fast in JS, but the host waits for every task before the instance can finish. */
export const fanOutCatch: OrchestrationHandler = function* (context: OrchestrationContext) {
  try {
    yield context.df.Task.all([context.df.callActivity(N.AlwaysFails), context.df.callActivity(N.Notify, "slow")]);
    return "unreachable";
  } catch {
    return { caughtAt: context.df.currentUtcDateTime.toISOString() };
  }
};
df.app.orchestration(N.FanOutCatch, fanOutCatch);

/** Calls an activity nobody registered. */
export const unknownActivity: OrchestrationHandler = function* (context: OrchestrationContext) {
  yield context.df.callActivity("SampleDoesNotExist", 42);
  return "unreachable";
};
df.app.orchestration(N.UnknownActivity, unknownActivity);

/** Version 1 of an orchestrator... */
export const versioned: OrchestrationHandler = function* (context: OrchestrationContext) {
  const first = (yield context.df.callActivity(N.Notify, "first")) as string;
  const second = (yield context.df.callActivity(N.Notify, "second")) as string;
  return [first, second];
};
df.app.orchestration(N.Versioned, versioned);

/** ...and a "version 2" that renamed its first activity: in-flight v1 instances must not survive it. */
export const versionedRenamed: OrchestrationHandler = function* (context: OrchestrationContext) {
  const first = (yield context.df.callActivity(N.ProcessItem, "first")) as string;
  const second = (yield context.df.callActivity(N.Notify, "second")) as string;
  return [first, second];
};
df.app.orchestration(N.VersionedRenamed, versionedRenamed);

// ---- client functions ------------------------------------------------------------------------

/** POST /api/samples/{orchestratorName}: starts an orchestration, answers 202 with the status URLs. */
export async function httpStart(
  request: HttpRequest,
  client: df.DurableClient,
  context: InvocationContext,
): Promise<HttpResponse> {
  const text = await request.text();
  const input: unknown = text ? JSON.parse(text) : undefined;
  const instanceId = await client.startNew(request.params.orchestratorName ?? "", { input });
  context.log(`Started orchestration with ID = '${instanceId}'.`);
  return client.createCheckStatusResponse(request, instanceId);
}
df.app.client.http(N.HttpStart, {
  route: "samples/{orchestratorName}",
  methods: ["POST"],
  extraInputs: [df.input.durableClient()],
  handler: httpStart,
});

/** A plain HTTP function without any durable binding. */
app.http(N.Ping, {
  route: "samples/ping",
  methods: ["GET"],
  authLevel: "anonymous",
  handler: () => new HttpResponse({ status: 200, jsonBody: { pong: true } }),
});

/** A timer trigger with a durable client: starts a fan-out every night. */
df.app.client.timer(N.Nightly, {
  schedule: "0 0 2 * * *",
  handler: async (_timer, client, context) => {
    const instanceId = await client.startNew(N.FanOut, { input: { count: 1 } });
    context.log(`nightly run ${instanceId}`);
  },
});
