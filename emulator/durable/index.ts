// Public surface of the durable test host. Import "./install" (first!) separately: it has a side
// effect that must run before the app registers its functions.
export { HistoryEventType, ActionType, ReplaySchema, historyEvent, historyEventTypeName } from "./wire";
export type { HistoryEventJson, ActionJson, OrchestratorStateJson, RetryOptionsJson } from "./wire";
export {
  HarnessError,
  NonDeterministicOrchestrationError,
  HostArgumentError,
  InstanceAlreadyExistsError,
  InstanceNotFoundError,
} from "./errors";
export { capturedFunctions, capturedFunction, capturedHooks, installFunctionsCoreStub } from "./functions-core-stub";
export type { CapturedFunction, CapturedBinding, CapturedMetadata } from "./functions-core-stub";
export { fromRegistry } from "./registry";
export type { DurableRegistry, HttpFunctionRegistration, TimerFunctionRegistration } from "./registry";
export { DurableTestHost } from "./durable-test-host";
export type {
  DurableTestHostOptions,
  StartOptions,
  ReplayResult,
  RunUntilIdleOptions,
  PurgeResult,
} from "./durable-test-host";
export type { ActivityInvoker, FailureFormat } from "./activity-invocation";
export type { OrchestratorInvoker } from "./orchestrator-invocation";
export type { NewWork, ArgumentErrorBehavior } from "./host-replay";
export { isTerminalStatus } from "./instance-state";
export type { InstanceState, RuntimeStatus, InstanceQuery } from "./instance-state";
export { formatHistory, historyLayout, describeHistoryEvent } from "./history-format";
export {
  defaultHistoryFixturesDir,
  discoverHistoryFixtures,
  findRepoRoot,
  fixtureFromInstance,
  loadHistoryFixture,
  recordHistoryFixture,
  replayHistoryFixture,
  writeHistoryFixture,
} from "./history-fixtures";
export type { HistoryFixture, HistoryFixtureFile } from "./history-fixtures";
export { makeClientInputData } from "./client/client-input-data";
export type { ClientInputData, ClientInputDataOptions } from "./client/client-input-data";
export { durableClientContext, durableClientContextFor, realDurableClient } from "./client/client-context";
export { InMemoryDurableClient } from "./client/in-memory-client";
export type { ClientCall } from "./client/in-memory-client";
export { startDurableRpcServer } from "./client/rpc-server";
export type { DurableRpcServer } from "./client/rpc-server";
export { orchestratorHandler } from "./orchestrator-handler";
