// A pipeline policy that gives every HTTP attempt a deadline. The Azure SDKs have none by default,
// so a hung endpoint would hang an activity forever; this turns it into a clear, typed error.
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from "@azure/core-rest-pipeline";

export class AzureRequestTimeoutError extends Error {
  readonly code = "RequestTimeout";
  constructor(
    readonly method: string,
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`Azure request ${method} ${url} got no answer within ${timeoutMs} ms and was aborted`);
    this.name = "AzureRequestTimeoutError";
  }
}

export function requestTimeoutPolicy(timeoutMs: number): PipelinePolicy {
  return {
    name: "jumpgateRequestTimeout",
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      if (!request.timeout || request.timeout > timeoutMs) request.timeout = timeoutMs;
      try {
        return await next(request);
      } catch (e) {
        const callerAborted = request.abortSignal?.aborted === true;
        if (!callerAborted && e instanceof Error && (e.name === "AbortError" || /aborted/i.test(e.message))) {
          throw new AzureRequestTimeoutError(request.method, withoutQuery(request.url), request.timeout);
        }
        throw e;
      }
    },
  };
}

function withoutQuery(url: string): string {
  const i = url.indexOf("?");
  return i < 0 ? url : url.slice(0, i);
}
