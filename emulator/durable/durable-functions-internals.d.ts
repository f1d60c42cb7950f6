// durable-functions ships no typings for lib/src/**; its package.json has no "exports" map, so the
// deep import resolves at runtime. Pinned to durable-functions 3.5.0 (see package.json).
declare module "durable-functions/lib/src/util/testingUtils" {
  import type { InvocationContext } from "@azure/functions";
  import type { OrchestrationHandler } from "durable-functions";

  /** The wrapper df.app.orchestration() registers: (trigger payload, context) => Promise<OrchestratorState>. */
  export function createOrchestrator(
    fn: OrchestrationHandler,
  ): (trigger: unknown, context: InvocationContext) => Promise<unknown>;
}
