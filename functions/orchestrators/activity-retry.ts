// The retry policy every orchestration uses for its activities: 4 attempts, 5 s doubling to at most
// 60 s. Transient Azure and storage failures are already retried inside each call by the SDK; this
// covers what outlives those (a host restart, a throttled minute). Never retryTimeoutInMilliseconds
// (open durable-functions bug, see DESIGN.md).
import * as df from "durable-functions";

export function activityRetry(): df.RetryOptions {
  const r = new df.RetryOptions(5_000, 4);
  r.backoffCoefficient = 2;
  r.maxRetryIntervalInMilliseconds = 60_000;
  return r;
}
