// Errors the emulated host raises. Messages copy the extension/DTFx wording so that code and tests
// written against the emulator see what they would see on Azure.

/**
 * The orchestration used a feature this emulator does not model (entities, callHttp, locks, V1 replay
 * schema, ...). Thrown loudly instead of producing a plausible-looking but wrong result.
 */
export class HarnessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HarnessError";
  }
}

/** DTFx NonDeterministicOrchestrationException: a replay disagreed with the recorded history. */
export class NonDeterministicOrchestrationError extends Error {
  constructor(details: string) {
    super(`Non-Deterministic workflow detected: ${details}`);
    this.name = "NonDeterministicOrchestrationException";
  }
}

/**
 * The extension's ArgumentException: an unknown function name or an invalid sub-orchestration id
 * (the HTTP API answers 400 for these).
 */
export class HostArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArgumentException";
  }
}

/** OrchestrationAlreadyExistsException: startNew with the id of a Pending/Running instance (HTTP 409). */
export class InstanceAlreadyExistsError extends Error {
  constructor(instanceId: string, status: string) {
    super(`An Orchestration instance with the status ${status} already exists. (instance ID '${instanceId}')`);
    this.name = "OrchestrationAlreadyExistsException";
  }
}

/** No instance with that id (HTTP 404). */
export class InstanceNotFoundError extends Error {
  constructor(instanceId: string) {
    super(`No instance with ID '${instanceId}' found.`);
    this.name = "InstanceNotFoundError";
  }
}

export type DurableFunctionKind = "activity" | "orchestrator";

/** DurableTaskExtension.GetInvalidActivityFunctionMessage / GetInvalidOrchestratorFunctionMessage. */
export function unknownFunctionMessage(name: string, kind: DurableFunctionKind, known: readonly string[]): string {
  const info =
    known.length > 0
      ? `The following are the known ${kind} functions: '${known.join("', '")}'.`
      : `No ${kind} functions are currently registered!`;
  return `The function '${name}' doesn't exist, is disabled, or is not an ${kind} function. Additional info: ${info}`;
}
