// POST /api/stacks/{name}/rotate/database: rotate the stack's database credentials now. Starts the
// stack's rotation (instance `rotate-db-<stack>`; one at a time: a request while it runs gets the
// running one) and answers 202 with its operation URL. The rotation waits for a deploy, heal or scale
// that holds the stack, then holds it itself (PUT and DELETE get 409 meanwhile). Body (optional):
// {"appUsers": true, "admin": false}; the admin password rotates through ARM when "admin" is true.
import { randomUUID } from "node:crypto";
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { ROTATE_LIMITS, validateRotateRequest } from "../../shared/credentials/rotate-request";
import { notFoundProblem, problemTypeUri, validationProblem } from "../../shared/http/problem";
import { parseJsonBody } from "../../shared/spec/validate";
import { InstanceIds, Names } from "../names";
import type { RotateDatabaseInput } from "../orchestrators/rotate-database";
import { services } from "../services";
import { claimIsLive, clearStaleClaim } from "../stack-claim";
import { guarded, json, operationUrl, problem, routeStackName } from "./respond";

export async function rotateDatabase(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const raw = new Uint8Array(await request.arrayBuffer());
  let body: unknown = {};
  if (raw.byteLength > 0) {
    const parsed = parseJsonBody(raw, request.headers.get("content-type"), {
      ...ROTATE_LIMITS,
      expected: 'what to rotate ({} or {"appUsers": true, "admin": true})',
    });
    if (!parsed.ok) return problem(parsed.problem);
    body = parsed.value;
  }
  const checked = validateRotateRequest(body);
  if (!checked.ok) return problem(validationProblem(checked.errors));

  const stack = route.name;
  const record = await services().registry.get(stack);
  if (!record) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  if (!record.observed || record.observedGeneration === 0) {
    return problem({
      type: problemTypeUri("not-deployed"),
      title: "The stack has not been deployed",
      status: 409,
      detail: `stack '${stack}' has no deployed credentials to rotate yet; PUT it first`,
    });
  }

  const client = df.getClient(context);
  const instanceId = InstanceIds.rotateDatabase(stack);
  const url = operationUrl(request, stack, instanceId);
  const operation = { kind: "rotate-database", instanceId, status: url };
  if (await claimIsLive(client, instanceId)) {
    // one rotation at a time: the caller follows the running one
    return json(202, { stack, alreadyRunning: true, operation }, { Location: url, "Retry-After": "10" });
  }
  // a claim whose instance died would make the rotation wait for nothing
  await clearStaleClaim(client, stack);
  const input: RotateDatabaseInput = {
    stack,
    rotationId: randomUUID(),
    appUsers: checked.request.appUsers,
    admin: checked.request.admin,
    reason: "requested",
  };
  await client.startNew(Names.orchestrators.rotateDatabaseCredentials, { instanceId, input });
  context.log(`database credential rotation of stack ${stack} started as ${instanceId} (rotation ${input.rotationId})`);
  const holder = record.operation && record.operation.instanceId !== instanceId ? record.operation : undefined;
  return json(
    202,
    {
      stack,
      rotationId: input.rotationId,
      appUsers: input.appUsers,
      admin: input.admin,
      ...(holder ? { waitingFor: { kind: holder.kind, instanceId: holder.instanceId } } : {}),
      operation,
    },
    { Location: url, "Retry-After": "10" },
  );
}

app.http(Names.http.rotateDatabase, {
  route: "stacks/{name}/rotate/database",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(rotateDatabase),
});
