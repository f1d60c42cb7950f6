// One episode: the real JS replay engine runs the orchestrator over the history, then the emulated
// host replays the returned actions against the same history (host-replay.ts). This module does
// that pair and says what the result means; committing it is the task hub's job.
import { format } from "node:util";
import { InvocationContext } from "@azure/functions";
import { HarnessError } from "./errors";
import { HostReplay, type ArgumentErrorBehavior, type NewWork } from "./host-replay";
import { jsonRoundTrip, toJsonText } from "./json-text";
import { buildOrchestratorTrigger, invokeOrchestrator, type OrchestratorInvoker } from "./orchestrator-invocation";
import { HistoryEventType as HE, historyEvent, type HistoryEventJson, type OrchestratorStateJson } from "./wire";

/** What the host knows and sends along with every episode. */
export interface EpisodeEnvironment {
  schemaVersion: number;
  maximumShortTimerDurationMs: number;
  longRunningTimerIntervalMs: number;
  argumentErrors: ArgumentErrorBehavior;
  knownActivities: readonly string[];
  knownOrchestrators: readonly string[];
  log: (line: string) => void;
}

export interface EpisodeRequest {
  name: string;
  invoker: OrchestratorInvoker;
  instanceId: string;
  executionId: string;
  parentInstanceId?: string;
  input: unknown;
  /** past events followed by this episode's OrchestratorStarted and new messages */
  history: readonly HistoryEventJson[];
  isReplaying: boolean;
  invocationId: string;
}

export interface EpisodeReplay {
  state: OrchestratorStateJson;
  replay: HostReplay;
}

export async function replayEpisode(env: EpisodeEnvironment, request: EpisodeRequest): Promise<EpisodeReplay> {
  const trigger = buildOrchestratorTrigger({
    history: request.history,
    input: request.input,
    instanceId: request.instanceId,
    isReplaying: request.isReplaying,
    parentInstanceId: request.parentInstanceId,
    schemaVersion: env.schemaVersion,
    maximumShortTimerDurationMs: env.maximumShortTimerDurationMs,
    longRunningTimerIntervalMs: env.longRunningTimerIntervalMs,
  });
  // A fresh context every time: the library keeps its per-invocation state on context.df.
  const context = new InvocationContext({
    functionName: request.name,
    invocationId: request.invocationId,
    logHandler: (level, ...args) => env.log(`[${request.name}/${level}] ${format(...args)}`),
    options: { trigger: { type: "orchestrationTrigger", name: "context" } },
  });
  const state = await invokeOrchestrator(request.invoker, trigger, context);
  const replay = new HostReplay(
    {
      instanceId: request.instanceId,
      executionId: request.executionId,
      parentInstanceId: request.parentInstanceId,
      knownActivities: env.knownActivities,
      knownOrchestrators: env.knownOrchestrators,
      maximumShortTimerDurationMs: env.maximumShortTimerDurationMs,
      longRunningTimerIntervalMs: env.longRunningTimerIntervalMs,
      argumentErrors: env.argumentErrors,
    },
    state,
    request.history,
  );
  await replay.run();
  return { state, replay };
}

export type EpisodeOutcome =
  | { kind: "failed"; output: string; harnessError?: HarnessError }
  | { kind: "completed"; output: unknown }
  | { kind: "continuedAsNew"; input: unknown }
  | { kind: "running" };

/**
 * What the episode means, decided in the host's order (TaskOrchestrationShim /
 * OutOfProcOrchestrationShim.ScheduleDurableTaskEvents): a host-side failure first, then the
 * orchestrator's error or output, but only once every returned action has settled on the host.
 * Until then the instance keeps running, even if the JS side already returned.
 */
export function episodeOutcome(orchestratorName: string, { state, replay }: EpisodeReplay): EpisodeOutcome {
  if (replay.failure instanceof HarnessError) {
    return {
      kind: "failed",
      output: `${replay.failure.name}: ${replay.failure.message}`,
      harnessError: replay.failure,
    };
  }
  if (replay.failure) return { kind: "failed", output: replay.failure.message };
  if (!replay.done) return { kind: "running" };
  if (state.error !== undefined) {
    return { kind: "failed", output: `Orchestrator function '${orchestratorName}' failed: ${state.error}` };
  }
  if (!state.isDone) return { kind: "running" };
  if (replay.continueAsNew) return { kind: "continuedAsNew", input: replay.continueAsNew.input };
  return { kind: "completed", output: jsonRoundTrip(state.output) };
}

/** The TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated event the host records for new work. */
export function scheduledEvent(work: NewWork, at: Date): HistoryEventJson {
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
