// RFC 9457 problem details: the one error shape every Jumpgate HTTP route answers with.
//
// Type URIs: a problem that carries extension members (`errors`, `operation`, `correlationId`,
// `allowedMethods`) gets its own type under https://jumpgate.dev/problems/, because RFC 9457 lets a
// problem type, and only a problem type, define extensions. A problem that means nothing beyond its
// status code uses "about:blank", whose title must then be the status code's reason phrase
// (RFC 9457 §4.2.1).
//
// 400 or 422: a body we cannot read as JSON (syntax error, empty, nested too deep, not UTF-8) is
// 400 Bad Request; a well-formed JSON body whose content breaks the stack spec (schema or semantic
// rules) is 422 Unprocessable Content. RFC 9110 §15.5.21 defines 422 for exactly this case ("the
// content type is understood and the syntax is correct, but the instructions could not be
// processed"), RFC 9457's own validation example (§3) uses 422 with an `errors` array of JSON
// pointers, and the split tells a client whether to fix its serializer or its values. Azure's own
// APIs answer 400 for both; Jumpgate is not ARM, so it follows the HTTP RFCs, consistently: every
// route that validates content uses `validationProblem` (422) and every body-parsing failure
// uses `malformedBodyProblem` (400).
//
// The one exception is POST /api/alerts: its callers are Azure Monitor action groups, not people,
// and the alert contract says a notification that is not the common alert schema is a 400. It gets
// its own type (`invalid-alert`) with the same `errors` array, so the split above still holds for
// every route a person calls. Any 4xx stops an action group's retries; only 408/429/503/504 and
// network failures make it deliver again.
import type { HttpResponseInit } from "@azure/functions";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
const PROBLEM_TYPE_BASE = "https://jumpgate.dev/problems/";

export interface ProblemFieldError {
  /** RFC 6901 JSON pointer into the request body, e.g. "/network/webSubnet" ("" is the whole body) */
  pointer: string;
  detail: string;
}

export interface Problem {
  /** URI reference identifying the problem type; "about:blank" when the status code says it all */
  type: string;
  /** short summary of the problem type; the same for every occurrence of the type */
  title: string;
  /** the HTTP status code of this occurrence */
  status: number;
  /** human explanation specific to this occurrence */
  detail?: string;
  /** URI reference identifying this occurrence */
  instance?: string;
  /** validation problems: every invalid field of the request body */
  errors?: ProblemFieldError[];
  [extension: string]: unknown;
}

export function problemTypeUri(slug: string): string {
  return PROBLEM_TYPE_BASE + slug;
}

export const PROBLEM_TYPES = {
  validation: problemTypeUri("validation-error"),
  stackMove: problemTypeUri("stack-move"),
  malformedBody: problemTypeUri("malformed-body"),
  invalidAlert: problemTypeUri("invalid-alert"),
  operationInProgress: problemTypeUri("operation-in-progress"),
  methodNotAllowed: problemTypeUri("method-not-allowed"),
  internal: problemTypeUri("internal-error"),
} as const;

/**
 * Bounds of a problem that lists field errors: hostile input can break every rule at once (a 64 KiB
 * body of unknown fields with long names), and an answer that echoes all of it is an amplifier.
 */
export const PROBLEM_LIMITS = {
  /** entries of `errors` at most; `detail` says how many there were */
  maxErrors: 20,
  /** the serialized body, in UTF-8 bytes, at most */
  maxBytes: 16 * 1024,
  /** characters of one pointer / one error detail at most (longer ones end in "…") */
  maxPointerChars: 256,
  maxErrorDetailChars: 512,
} as const;

/** 422: the body is well-formed JSON but breaks the spec; one entry per invalid field (capped). */
export function validationProblem(errors: readonly ProblemFieldError[]): Problem {
  return withFieldErrors(
    { type: PROBLEM_TYPES.validation, title: "The request content is not valid", status: 422 },
    "The request content has",
    errors,
  );
}

/** 400: a query parameter out of range (`pointer` names it as /query/<name>). */
export function invalidQueryProblem(errors: readonly ProblemFieldError[]): Problem {
  return withFieldErrors(
    { type: problemTypeUri("invalid-query-parameter"), title: "A query parameter is not valid", status: 400 },
    "The request's query has",
    errors,
  );
}

/** 400: a JSON body that is not an Azure Monitor common alert schema notification; one entry per invalid field (capped). */
export function invalidAlertProblem(errors: readonly ProblemFieldError[]): Problem {
  return withFieldErrors(
    {
      type: PROBLEM_TYPES.invalidAlert,
      title: "The request is not an Azure Monitor alert in the common alert schema",
      status: 400,
    },
    "The alert has",
    errors,
  );
}

/** A field the stored stack has that the request would change, with the value it has now. */
export interface StackMoveField {
  field: string;
  from: string;
  to: string;
}

/**
 * 422: a PUT would move a registered stack to another subscription, resource group or region, which
 * would deploy a second copy and orphan the first. It says how to move instead.
 */
export function stackMoveProblem(stack: string, changes: readonly StackMoveField[]): Problem {
  const fields = changes.map((c) => c.field).join(", ");
  return {
    type: PROBLEM_TYPES.stackMove,
    title: "A deployed stack cannot move",
    status: 422,
    detail:
      `Stack '${stack}' is deployed (or deploying) in its ${fields}; a PUT cannot change ${changes.length === 1 ? "it" : "them"}: ` +
      `that would deploy a second copy and leave the first one running unmanaged. To move the stack, tear it down ` +
      `(DELETE /api/stacks/${stack}, then wait for the teardown operation to finish) and PUT the spec with the new ` +
      `${fields}. Nothing was stored or started.`,
    errors: changes.map((c) => ({
      pointer: `/${c.field}`,
      detail: truncate(
        `${c.field} is '${c.from}' where the stack is deployed; it cannot change to '${c.to}' by PUT`,
        PROBLEM_LIMITS.maxErrorDetailChars,
      ),
    })),
  };
}

/** 400: the body could not be read as JSON at all. `detail` must not quote the body. */
export function malformedBodyProblem(detail: string): Problem {
  return { type: PROBLEM_TYPES.malformedBody, title: "The request body is not usable JSON", status: 400, detail };
}

export function notFoundProblem(detail?: string): Problem {
  return withDetail({ type: "about:blank", title: "Not Found", status: 404 }, detail);
}

/** The operation that holds a resource, as the stack registry records it. */
export interface RunningOperation {
  /** "deploy", "teardown", "rotate-certificate", ... */
  kind: string;
  /** its orchestration instance, so the client can follow it */
  instanceId: string;
  /** ISO 8601 */
  startedAt?: string;
}

/** 409: another operation already changes the resource (e.g. a PUT while a teardown runs). */
export function conflictProblem(operation: RunningOperation, detail?: string): Problem {
  const { kind, instanceId, startedAt } = operation;
  const since = startedAt === undefined ? "" : ` since ${startedAt}`;
  return {
    type: PROBLEM_TYPES.operationInProgress,
    title: "Another operation is in progress",
    status: 409,
    detail:
      detail ??
      `A '${kind}' operation (instance ${instanceId}) has been running on this resource${since}; retry when it has finished.`,
    operation: startedAt === undefined ? { kind, instanceId } : { kind, instanceId, startedAt },
  };
}

/** 413: the body is larger than the route accepts. */
export function payloadTooLargeProblem(limitBytes: number, receivedBytes?: number): Problem {
  const received = receivedBytes === undefined ? "The request body" : `The request body (${receivedBytes} bytes)`;
  return {
    type: "about:blank",
    title: "Content Too Large",
    status: 413,
    detail: `${received} is larger than the limit of ${limitBytes} bytes.`,
  };
}

/** 415: the Content-Type is not one the route reads. Only a short prefix of the header is quoted. */
export function unsupportedMediaTypeProblem(
  received: string | null | undefined,
  accepted: readonly string[] = ["application/json"],
): Problem {
  const what = received
    ? `Content-Type '${truncate(received, 100)}' is not supported`
    : "The request has no Content-Type";
  return {
    type: "about:blank",
    title: "Unsupported Media Type",
    status: 415,
    detail: `${what}; send the body as ${accepted.join(" or ")} (UTF-8).`,
  };
}

/** 405: `problemResponse` turns `allowedMethods` into the Allow header RFC 9110 §15.5.6 requires. */
export function methodNotAllowedProblem(method: string, allowedMethods: readonly string[]): Problem {
  return {
    type: PROBLEM_TYPES.methodNotAllowed,
    title: "Method not allowed on this resource",
    status: 405,
    detail: `${truncate(method, 20)} is not allowed here; use ${allowedMethods.join(", ")}.`,
    allowedMethods: [...allowedMethods],
  };
}

/**
 * 503: a dependency (storage, the durable task hub) failed; the client should retry. `detail` must
 * not carry exception text. The handler adds Retry-After.
 */
/** 401: a missing or invalid credential; never says which check failed (that goes to the log). */
export function unauthorizedProblem(detail: string): Problem {
  return { type: "about:blank", title: "Unauthorized", status: 401, detail };
}

export function serviceUnavailableProblem(detail: string): Problem {
  return { type: "about:blank", title: "Service Unavailable", status: 503, detail };
}

/**
 * 500: deliberately takes no error. Exception text can carry resource ids, connection strings or
 * secret values; it goes to the log under `correlationId`, and the client gets only the id.
 */
export function internalProblem(correlationId: string): Problem {
  return {
    type: PROBLEM_TYPES.internal,
    title: "An unexpected error occurred",
    status: 500,
    detail: `Jumpgate could not complete the request because of an unexpected error. Quote correlation id ${correlationId} when reporting it.`,
    correlationId,
  };
}

export interface ProblemResponse extends HttpResponseInit {
  status: number;
  headers: Record<string, string>;
  jsonBody: Problem;
}

/** The problem as an @azure/functions response. Errors are never cached: they describe one request. */
export function problemResponse(problem: Problem): ProblemResponse {
  const headers: Record<string, string> = { "Content-Type": PROBLEM_CONTENT_TYPE, "Cache-Control": "no-store" };
  const allowed = problem.allowedMethods;
  if (problem.status === 405 && Array.isArray(allowed)) headers.Allow = allowed.map(String).join(", ");
  return { status: problem.status, headers, jsonBody: problem };
}

/** A problem with its `errors`: at most PROBLEM_LIMITS.maxErrors, each bounded, the whole body within maxBytes. */
function withFieldErrors(
  head: Pick<Problem, "type" | "title" | "status">,
  lead: string,
  errors: readonly ProblemFieldError[],
): Problem {
  const count = errors.length;
  const kept = errors.slice(0, PROBLEM_LIMITS.maxErrors).map(({ pointer, detail }) => ({
    pointer: truncate(String(pointer), PROBLEM_LIMITS.maxPointerChars),
    detail: truncate(String(detail), PROBLEM_LIMITS.maxErrorDetailChars),
  }));
  const build = (shown: number): Problem => {
    const noun = count === 1 ? "error" : "errors";
    const which =
      shown < count
        ? `; 'errors' lists the first ${shown}, each pointing at the field and saying what is wrong (fix them and send it again to see the rest).`
        : "; each entry of 'errors' points at the field and says what is wrong.";
    return { ...head, detail: `${lead} ${count} ${noun}${which}`, errors: kept.slice(0, shown) };
  };
  let shown = kept.length;
  let problem = build(shown);
  // escaped control characters can make a bounded entry six times its length: drop entries until it fits
  while (shown > 0 && Buffer.byteLength(JSON.stringify(problem), "utf8") > PROBLEM_LIMITS.maxBytes)
    problem = build(--shown);
  return problem;
}

function withDetail(problem: Problem, detail: string | undefined): Problem {
  return detail === undefined ? problem : { ...problem, detail };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
