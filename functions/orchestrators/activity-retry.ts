// The retry policy every orchestration uses for its activities: 4 attempts, 5 s doubling to at most
// 60 s. Transient Azure and storage failures are already retried inside each call by the SDK; this
// covers what outlives those (a host restart, a throttled minute). Never retryTimeoutInMilliseconds
// (open durable-functions bug, see DESIGN.md).
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { Names } from "../names";

export function activityRetry(): df.RetryOptions {
  const r = new df.RetryOptions(5_000, 4);
  r.backoffCoefficient = 2;
  r.maxRetryIntervalInMilliseconds = 60_000;
  return r;
}

/**
 * An orchestration's two everyday actions: call an activity with the retry policy, and append an
 * audit event naming the operation (`baseDetails` go into every event's details).
 */
export function orchestrationCalls(
  context: OrchestrationContext,
  stack: string,
  operation: { kind: string; instanceId: string },
  baseDetails?: Record<string, unknown>,
) {
  const call = <T>(name: string, data: unknown) =>
    context.df.callActivityWithRetry(name, activityRetry(), data) as Task & { result: T };
  const audit = (what: string, why: string, details?: Record<string, unknown>) =>
    call(Names.activities.appendAudit, {
      stack,
      what,
      why,
      operation,
      ...(baseDetails || details ? { details: { ...baseDetails, ...details } } : {}),
    });
  return { call, audit };
}
