// Calls a registered orchestrator handler the way the Functions host does: a JSON trigger payload in,
// an OrchestratorState out. The handler df.app.orchestration() registers *is* the library's replay
// engine (createOrchestrator -> Orchestrator.handle -> TaskOrchestrationExecutor.execute).
import { InvocationContext } from "@azure/functions";
import { jsonRoundTrip } from "./json-text";
import { HarnessError } from "./errors";
import { ReplaySchema, type HistoryEventJson, type OrchestratorStateJson } from "./wire";

/** The handler registered for an orchestrationTrigger: (trigger payload, context) => OrchestratorState. */
export type OrchestratorInvoker = (trigger: unknown, context: InvocationContext) => unknown;

export interface OrchestratorTriggerInit {
  history: readonly HistoryEventJson[];
  input: unknown;
  instanceId: string;
  isReplaying: boolean;
  parentInstanceId?: string;
  /** value for upperSchemaVersionNew (ReplaySchema.V3 is what the extension sends today) */
  schemaVersion: number;
  maximumShortTimerDurationMs: number;
  longRunningTimerIntervalMs: number;
}

const OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:";
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The payload OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString builds.
 * A fresh JSON copy every time: the library converts Timestamp strings into Dates in place.
 */
export function buildOrchestratorTrigger(init: OrchestratorTriggerInit): unknown {
  return jsonRoundTrip({
    history: init.history,
    input: init.input,
    instanceId: init.instanceId,
    isReplaying: init.isReplaying,
    parentInstanceId: init.parentInstanceId ?? null,
    // Legacy field, always V2; the library requires it to recognise the payload at all.
    upperSchemaVersion: ReplaySchema.V2,
    upperSchemaVersionNew: init.schemaVersion,
    longRunningTimerIntervalDuration: toTimeSpan(init.longRunningTimerIntervalMs),
    maximumShortTimerDuration: toTimeSpan(init.maximumShortTimerDurationMs),
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000, // sic, the extension's spelling
  });
}

/**
 * Runs one episode of JS replay. An orchestrator that throws makes the handler throw an
 * OrchestrationFailureError whose message embeds the state; the host parses it out and still
 * replays the actions, so we do the same. Anything else that escapes the handler is returned as an
 * error state, which the host turns into "Orchestrator function 'X' failed: <message>".
 */
export async function invokeOrchestrator(
  invoker: OrchestratorInvoker,
  trigger: unknown,
  context: InvocationContext,
): Promise<OrchestratorStateJson> {
  try {
    const result: unknown = await invoker(trigger, context);
    return asOrchestratorState(jsonRoundTrip(result));
  } catch (err) {
    const state = parseOutOfProcState(err);
    if (state) return state;
    const message = err instanceof Error ? err.message : String(err);
    return { isDone: false, actions: [[]], error: message, schemaVersion: ReplaySchema.V3 };
  }
}

/** Extracts the OrchestratorState JSON that OrchestrationFailureError appends to its message. */
export function parseOutOfProcState(err: unknown): OrchestratorStateJson | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const at = message.indexOf(OUT_OF_PROC_LABEL);
  if (at < 0) return undefined;
  return asOrchestratorState(JSON.parse(message.substring(at + OUT_OF_PROC_LABEL.length)) as unknown);
}

function asOrchestratorState(value: unknown): OrchestratorStateJson {
  if (typeof value !== "object" || value === null || !("actions" in value) || !("isDone" in value)) {
    throw new HarnessError(
      `The orchestrator handler did not return an OrchestratorState (got ${JSON.stringify(value)}). ` +
        "Register orchestrators with df.app.orchestration().",
    );
  }
  return value as OrchestratorStateJson;
}

/** .NET TimeSpan text ("d.hh:mm:ss"), the form the extension uses and moment.duration() parses. */
export function toTimeSpan(ms: number): string {
  const days = Math.floor(ms / DAY_MS);
  const rest = ms - days * DAY_MS;
  const pad = (n: number): string => n.toString().padStart(2, "0");
  const hours = Math.floor(rest / 3_600_000);
  const minutes = Math.floor((rest % 3_600_000) / 60_000);
  const seconds = Math.floor((rest % 60_000) / 1000);
  return `${days}.${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
}
