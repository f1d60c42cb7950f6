// The delay rule of DTFx RetryInterceptor.ComputeNextDelay, with the defaults the extension's
// RetryOptionsConverter applies to what the JS RetryOptions leaves out.
import type { RetryOptionsJson } from "./wire";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Extension RetryOptions.DefaultMaxRetryinterval: 6 days (also the Azure Storage maximum timer length). */
export const DEFAULT_MAX_RETRY_INTERVAL_MS = 6 * DAY_MS;

/**
 * Milliseconds to wait before the next attempt, or 0 to stop retrying. 0 happens only once
 * retryTimeoutInMilliseconds has expired; the host then gives up WITHOUT creating a timer, while the
 * JS RetryableTask still waits for one, so the instance hangs Running (Azure/azure-functions-durable-js#629).
 *
 * @param retryCount attempts that already failed, minus one (0 after the first failure)
 */
export function nextRetryDelayMs(
  options: RetryOptionsJson,
  retryCount: number,
  firstAttemptAtMs: number,
  nowMs: number,
): number {
  const retryTimeout = options.retryTimeoutInMilliseconds ?? Number.POSITIVE_INFINITY;
  if (nowMs >= firstAttemptAtMs + retryTimeout) return 0;
  const backoff = options.backoffCoefficient ?? 1;
  const maxInterval = options.maxRetryIntervalInMilliseconds ?? DEFAULT_MAX_RETRY_INTERVAL_MS;
  const next = options.firstRetryIntervalInMilliseconds * Math.pow(backoff, retryCount);
  return next < maxInterval ? next : maxInterval;
}
