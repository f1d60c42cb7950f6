// RFC 9457 problem details: types, titles, statuses, the response shape the Functions runtime
// sends, and that a 500 can't carry exception text.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HttpResponse } from "@azure/functions";
import {
  PROBLEM_CONTENT_TYPE,
  conflictProblem,
  internalProblem,
  invalidAlertProblem,
  malformedBodyProblem,
  methodNotAllowedProblem,
  notFoundProblem,
  payloadTooLargeProblem,
  problemResponse,
  serviceUnavailableProblem,
  unsupportedMediaTypeProblem,
  validationProblem,
  type Problem,
} from "../../shared/http/problem";
import { validateStackSpec } from "../../shared/spec";

/** RFC 9110 reason phrases, which an "about:blank" problem's title must equal (RFC 9457 §4.2.1). */
const REASON_PHRASES: Record<number, string> = {
  404: "Not Found",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  503: "Service Unavailable",
};

const operation = {
  kind: "teardown",
  instanceId: "teardown-jump-20260101T000000000Z",
  startedAt: "2026-01-01T00:00:00.000Z",
};

const everyProblem = (): Problem[] => [
  validationProblem([{ pointer: "/name", detail: "name is required" }]),
  malformedBodyProblem("The request body is not valid JSON: trailing comma at line 1, column 8."),
  invalidAlertProblem([{ pointer: "/data/essentials/alertId", detail: "data.essentials.alertId is required" }]),
  notFoundProblem("stack 'jump' is not registered"),
  notFoundProblem(),
  conflictProblem(operation),
  payloadTooLargeProblem(65_536, 70_000),
  unsupportedMediaTypeProblem("text/plain"),
  methodNotAllowedProblem("PATCH", ["GET", "PUT", "DELETE"]),
  internalProblem("0f8fad5b-d9cb-469f-a165-70867728950e"),
  serviceUnavailableProblem("The alert could not be recorded right now; retry."),
];

describe("problem constructors", () => {
  test("every problem has a type URI, a title and a client or server error status", () => {
    for (const problem of everyProblem()) {
      assert.match(problem.type, /^(about:blank|https:\/\/jumpgate\.dev\/problems\/[a-z0-9-]+)$/);
      assert.ok(problem.title.length > 3);
      assert.ok(Number.isInteger(problem.status) && problem.status >= 400 && problem.status < 600);
      if (problem.type === "about:blank") {
        assert.equal(problem.title, REASON_PHRASES[problem.status], "about:blank titles are the reason phrase");
        assert.deepEqual(
          Object.keys(problem).filter((k) => !["type", "title", "status", "detail", "instance"].includes(k)),
          [],
          "about:blank defines no extension members",
        );
      }
    }
  });

  test("problems are plain JSON: nothing undefined, nothing lost in serialization", () => {
    for (const problem of everyProblem()) assert.deepEqual(JSON.parse(JSON.stringify(problem)), problem);
  });

  test("the title belongs to the type: it does not change with the occurrence", () => {
    const a = validationProblem([{ pointer: "/a", detail: "x is wrong" }]);
    const b = validationProblem([]);
    assert.equal(a.title, b.title);
    assert.equal(conflictProblem(operation).title, conflictProblem({ kind: "deploy", instanceId: "d" }).title);
  });

  test("validation: 422 with the errors as pointer and detail only", () => {
    const errors = [
      { pointer: "/network/webSubnet", detail: "network.webSubnet is too small", keyword: "subnetSize" },
      { pointer: "/foo", detail: "unknown field 'foo'", keyword: "additionalProperties" },
    ];
    const problem = validationProblem(errors);
    assert.equal(problem.status, 422);
    assert.equal(problem.type, "https://jumpgate.dev/problems/validation-error");
    assert.deepEqual(problem.errors, [
      { pointer: "/network/webSubnet", detail: "network.webSubnet is too small" },
      { pointer: "/foo", detail: "unknown field 'foo'" },
    ]);
    assert.match(problem.detail ?? "", /2 errors/);
    assert.match(validationProblem([errors[0]]).detail ?? "", /1 error;/);
  });

  test("a body that can't be read is a 400, distinct from invalid content", () => {
    const problem = malformedBodyProblem("The request body is empty.");
    assert.equal(problem.status, 400);
    assert.equal(problem.type, "https://jumpgate.dev/problems/malformed-body");
    assert.equal(problem.detail, "The request body is empty.");
  });

  test("conflict names the running operation so the client can follow it", () => {
    const problem = conflictProblem(operation);
    assert.equal(problem.status, 409);
    assert.deepEqual(problem.operation, operation);
    assert.match(problem.detail ?? "", /'teardown' operation \(instance teardown-jump-20260101T000000000Z\)/);
    assert.equal(conflictProblem(operation, "the stack is being deleted").detail, "the stack is being deleted");
    assert.deepEqual(conflictProblem({ kind: "deploy", instanceId: "d-1" }).operation, {
      kind: "deploy",
      instanceId: "d-1",
    });
  });

  test("not found, too large, unsupported media type", () => {
    assert.deepEqual(notFoundProblem(), { type: "about:blank", title: "Not Found", status: 404 });
    assert.equal(notFoundProblem("no stack 'x'").detail, "no stack 'x'");
    const tooLarge = payloadTooLargeProblem(65_536, 70_000);
    assert.equal(tooLarge.status, 413);
    assert.match(tooLarge.detail ?? "", /70000 bytes\) is larger than the limit of 65536 bytes/);
    assert.equal(unsupportedMediaTypeProblem(null).status, 415);
    assert.match(unsupportedMediaTypeProblem(undefined).detail ?? "", /no Content-Type/);
    const long = unsupportedMediaTypeProblem(`text/${"x".repeat(10_000)}`).detail ?? "";
    assert.ok(long.length < 200, "a hostile header is quoted only in part");
  });

  test("internal errors carry only the correlation id", () => {
    const problem = internalProblem("corr-123");
    assert.equal(problem.status, 500);
    assert.equal(problem.correlationId, "corr-123");
    assert.match(problem.detail ?? "", /corr-123/);
    assert.equal(internalProblem.length, 1, "there is no parameter an exception could be passed through");
    assert.deepEqual(Object.keys(problem).sort(), ["correlationId", "detail", "status", "title", "type"]);
  });
});

describe("problemResponse", () => {
  test("is an HttpResponseInit with the problem+json type and no caching", () => {
    const problem = notFoundProblem("no stack 'jump'");
    assert.deepEqual(problemResponse(problem), {
      status: 404,
      headers: { "Content-Type": "application/problem+json", "Cache-Control": "no-store" },
      jsonBody: problem,
    });
  });

  test("405 carries the Allow header RFC 9110 requires", () => {
    const response = problemResponse(methodNotAllowedProblem("PATCH", ["GET", "PUT"]));
    assert.equal(response.status, 405);
    assert.equal(response.headers.Allow, "GET, PUT");
    assert.equal(problemResponse(notFoundProblem()).headers.Allow, undefined);
  });

  test("the Functions runtime keeps our content type and serializes the problem", async () => {
    const spec = validateStackSpec({ name: "Jump", subscriptionId: "x", resourceGroup: "rg", location: "westeurope" });
    assert.equal(spec.ok, false);
    const problem = validationProblem(spec.ok ? [] : spec.errors);
    const response = new HttpResponse(problemResponse(problem));
    assert.equal(response.status, 422);
    assert.equal(response.headers.get("content-type"), PROBLEM_CONTENT_TYPE);
    assert.equal(response.headers.get("cache-control"), "no-store");
    const body = (await response.json()) as Problem;
    assert.deepEqual(body, problem);
    assert.deepEqual(
      body.errors?.map((e) => e.pointer),
      ["/name", "/subscriptionId"],
    );
  });
});
