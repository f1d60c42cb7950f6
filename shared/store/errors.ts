// Errors of the table store, each with a stable `code` callers can switch on. Expected outcomes
// (an operation already running, an ETag that no longer matches) are results, not errors.
import { isRestError } from "../azure/rest-error";

export class StackNotFoundError extends Error {
  readonly code = "StackNotFound";
  constructor(readonly stackName: string) {
    super(`stack '${stackName}' is not registered`);
    this.name = "StackNotFoundError";
  }
}

/** A document or entity over Azure Table Storage's limits (or the store's own budgets below them). */
export class StoreLimitError extends Error {
  readonly code = "StoreLimitExceeded";
  constructor(message: string) {
    super(message);
    this.name = "StoreLimitError";
  }
}

/** A stored document that cannot be read back (missing part, broken JSON): never silently ignored. */
export class StoreCorruptionError extends Error {
  readonly code = "StoreCorruption";
  constructor(message: string) {
    super(message);
    this.name = "StoreCorruptionError";
  }
}

/** Other writers kept winning the race for the same entity; nothing was overwritten. */
export class StoreContentionError extends Error {
  readonly code = "StoreContention";
  constructor(message: string) {
    super(message);
    this.name = "StoreContentionError";
  }
}

/** The HTTP status of a failed Table Storage call, if it got one. */
export function statusOf(e: unknown): number | undefined {
  return isRestError(e) ? e.statusCode : undefined;
}
