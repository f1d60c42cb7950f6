// Wraps a generator function exactly as df.app.orchestration() would, without registering it. For
// tests that need an orchestrator that is not part of the app (e.g. "the next version" of one,
// passed to replayHistory or setOrchestrator).
import type { OrchestrationHandler } from "durable-functions";
import { createOrchestrator } from "durable-functions/lib/src/util/testingUtils";
import type { OrchestratorInvoker } from "./orchestrator-invocation";

export function orchestratorHandler(generator: OrchestrationHandler): OrchestratorInvoker {
  return createOrchestrator(generator);
}
