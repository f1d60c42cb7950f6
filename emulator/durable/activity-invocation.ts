// Runs an activity the way the host does and encodes its outcome as the TaskCompleted/TaskFailed
// fields the JS library expects, in either of the two failure formats the extension can produce.
import { InvocationContext } from "@azure/functions";
import { jsonRoundTrip, toJsonText } from "./json-text";

/** An activity handler: the one df.app.activity() registered, or any plain function a test supplies. */
export type ActivityInvoker = (input: unknown, context: InvocationContext) => unknown;

export type ActivityOutcome = { ok: true; resultJson: string | null } | { ok: false; error: Error };

/**
 * "legacy": Reason + Details strings, what the extension writes for out-of-process workers today;
 * the orchestrator sees `new Error(Reason + " \n " + Details)`.
 * "failureDetails": Reason + a FailureDetails object; the orchestrator sees a df.TaskFailedError.
 */
export type FailureFormat = "legacy" | "failureDetails";

/** Calls the activity with its input as it would arrive over the wire. Never rejects. */
export async function runActivity(
  activity: ActivityInvoker,
  input: unknown,
  context: InvocationContext,
): Promise<ActivityOutcome> {
  try {
    const result: unknown = await activity(jsonRoundTrip(input), context);
    return { ok: true, resultJson: toJsonText(result) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

/** TaskFailed fields for a failed activity (TaskActivityShim: "Activity function 'X' failed: <message>"). */
export function activityFailureFields(name: string, error: Error, format: FailureFormat): Record<string, unknown> {
  const reason = `Activity function '${name}' failed: ${error.message}`;
  if (format === "failureDetails") {
    return {
      Reason: reason,
      FailureDetails: {
        ErrorType: error.name,
        ErrorMessage: error.message,
        StackTrace: error.stack ?? null,
        IsNonRetriable: false,
      },
    };
  }
  // An approximation of Utils.SerializeCause() applied to the worker's RpcException.
  return {
    Reason: reason,
    Details: JSON.stringify({
      $type: "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
      Message: `Result: Failure\nException: ${error.message}\nStack: ${error.stack ?? ""}`,
    }),
  };
}

/** SubOrchestrationInstanceFailed fields for a child that failed or was terminated. */
export function subOrchestrationFailureFields(message: string, format: FailureFormat): Record<string, unknown> {
  if (format === "failureDetails") {
    return {
      Reason: message,
      FailureDetails: { ErrorType: "OrchestrationFailureException", ErrorMessage: message, IsNonRetriable: false },
    };
  }
  return { Reason: message, Details: message };
}
