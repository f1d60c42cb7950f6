// Shared pieces of the HTTP handlers: JSON and problem responses, URLs, and a wrapper that turns
// any unexpected exception into a 500 problem that names a correlation id and leaks nothing else.
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import {
  internalProblem,
  problemResponse,
  problemTypeUri,
  serviceUnavailableProblem,
  type Problem,
} from "../../shared/http/problem";
import { parseJsonBody, type JsonBodyLimits } from "../../shared/http/json-body";
import { StoreContentionError } from "../../shared/store/errors";
import { ClaimExpiredError } from "../stack-claim";
import { STACK_NAME_PATTERN } from "../../shared/spec/schema";

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { "Cache-Control": "no-store", ...headers } };
}

export function problem(p: Problem): HttpResponseInit {
  return problemResponse(p);
}

/** The API's base URL as the caller sees it (`https://<app>/api`), for Location headers. */
export function apiBase(request: HttpRequest): string {
  const url = new URL(request.url);
  const i = url.pathname.indexOf("/stacks");
  return `${url.origin}${i >= 0 ? url.pathname.slice(0, i) : "/api"}`;
}

export function operationUrl(request: HttpRequest, stack: string, instanceId: string): string {
  return `${apiBase(request)}/stacks/${encodeURIComponent(stack)}/operations/${encodeURIComponent(instanceId)}`;
}

const stackName = new RegExp(STACK_NAME_PATTERN);

/** The `{name}` route parameter, or a 400 problem when it can't be a stack name. */
export function routeStackName(
  request: HttpRequest,
): { ok: true; name: string } | { ok: false; response: HttpResponseInit } {
  const name = request.params.name ?? "";
  if (stackName.test(name)) return { ok: true, name };
  return {
    ok: false,
    response: problem({
      type: "https://jumpgate.dev/problems/invalid-stack-name",
      title: "Invalid stack name",
      status: 400,
      detail:
        "A stack name has 3-15 characters: lowercase letters, digits and single hyphens, starting with a letter and ending with a letter or digit.",
      errors: [{ pointer: "/name", detail: "not a valid stack name" }],
    }),
  };
}

/**
 * The JSON object of a request whose body is optional: no body reads as `{}`; a body must be JSON
 * within the limits (parseJsonBody), otherwise its problem is the response.
 */
export async function optionalJsonBody(
  request: HttpRequest,
  limits: JsonBodyLimits,
): Promise<{ ok: true; value: unknown } | { ok: false; response: HttpResponseInit }> {
  const raw = new Uint8Array(await request.arrayBuffer());
  if (raw.byteLength === 0) return { ok: true, value: {} };
  const parsed = parseJsonBody(raw, request.headers.get("content-type"), limits);
  return parsed.ok ? parsed : { ok: false, response: problem(parsed.problem) };
}

/**
 * Wraps a handler so an unexpected failure is a 500 problem with a correlation id, logged without
 * detail leaks. Two failures are expected under concurrency and say so instead: other writers kept
 * winning the race for the same record (409: nothing was overwritten, retry), and a request that took
 * too long between claiming a stack and starting its operation (503: nothing was started, retry).
 */
export function guarded(handler: HttpHandler): HttpHandler {
  return async (request: HttpRequest, context: InvocationContext) => {
    try {
      return await handler(request, context);
    } catch (error) {
      if (error instanceof StoreContentionError) {
        return withRetryAfter(
          problem({
            type: problemTypeUri("concurrent-change"),
            title: "The resource is being changed by another request",
            status: 409,
            detail: "Other requests changed this stack's records at the same moment; nothing was stored. Retry.",
          }),
        );
      }
      if (error instanceof ClaimExpiredError) {
        return withRetryAfter(
          problem(
            serviceUnavailableProblem(
              "The stack was claimed, but the operation could not be started in time; the claim was released and nothing was started. Retry.",
            ),
          ),
        );
      }
      const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
      context.error(`unhandled error in ${context.functionName}: ${message}`);
      return problem(internalProblem(context.invocationId));
    }
  };
}

function withRetryAfter(response: HttpResponseInit): HttpResponseInit {
  return { ...response, headers: { ...(response.headers as Record<string, string>), "Retry-After": "1" } };
}
