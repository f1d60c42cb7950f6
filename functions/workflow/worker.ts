// What the long-running workers (heal, scale, the credential rotation, the certificate worker) share
// besides the calls: one status shape, published as the orchestration's custom status, and an audit
// trail bound to the stack and the operation.
import type { OperationKind, StackOperation } from "../../shared/store";
import { workflow, type Step, type Workflow } from "./workflow";
import type { OrchestrationContext } from "durable-functions";

/** The custom status of every worker; each adds its own fields. */
export interface WorkerStatus<Operation extends OperationKind = OperationKind, Phase extends string = string> {
  operation: Operation;
  stack: string;
  phase: Phase;
  /** what the worker waits for, in words */
  waitingFor?: string;
  /** until when it waits (ISO 8601), when the wait has an end */
  waitingUntil?: string;
  /** the operation that holds the stack, while the worker waits for it */
  heldBy?: StackOperation;
}

export interface Worker<S extends WorkerStatus> extends Workflow {
  readonly stack: string;
  readonly status: S;
  /** publishes the status as it is now */
  publish(): void;
  /** a wait, in the status: what for, until when, and who holds the stack */
  waiting(phase: S["phase"], what: string, until?: Date, heldBy?: StackOperation): void;
  /** the wait is over */
  clearWait(): void;
  /** an audit event naming this operation (with the worker's base details) */
  audit(what: string, why: string, details?: Record<string, unknown>): Step<void>;
}

export function worker<S extends WorkerStatus>(
  context: OrchestrationContext,
  status: S,
  baseDetails?: Record<string, unknown>,
): Worker<S> {
  const wf = workflow(context);
  const operation = { kind: status.operation, instanceId: wf.instanceId };
  const publish = () => context.df.setCustomStatus(status);
  const clearWait = () => {
    delete status.waitingFor;
    delete status.waitingUntil;
    delete status.heldBy;
  };
  return {
    ...wf,
    stack: status.stack,
    status,
    publish,
    waiting(phase, what, until, heldBy) {
      status.phase = phase;
      status.waitingFor = what;
      if (until) status.waitingUntil = until.toISOString();
      else delete status.waitingUntil;
      if (heldBy) status.heldBy = heldBy;
      else delete status.heldBy;
      publish();
    },
    clearWait,
    *audit(what, why, details) {
      yield* wf.call("appendAudit", {
        stack: status.stack,
        what,
        why,
        operation,
        ...(baseDetails || details ? { details: { ...baseDetails, ...details } } : {}),
      });
    },
  };
}

/** The operation that holds the stack, unless it is this instance itself. */
export function heldByOther(operation: StackOperation | undefined, instanceId: string): StackOperation | undefined {
  return operation && operation.instanceId !== instanceId ? operation : undefined;
}
