// POST /api/stacks/{name}/rotate/database: rotate the stack's database credentials now. Claims the
// stack for the rotation (instance `rotate-db-<stack>`) in one ETag-guarded write, as PUT and DELETE
// do, then starts it, and answers 202 with its operation URL; a request while that rotation runs gets
// the running one (202), a request while another operation holds the stack gets 409 naming it. From
// the claim on, PUT and DELETE get 409 and heal and scale wait. Body (optional):
// {"appUsers": true, "admin": false}; the admin password rotates through ARM when "admin" is true.
import { randomUUID } from "node:crypto";
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { ROTATE_LIMITS, validateRotateRequest } from "../../shared/credentials/rotate-request";
import { conflictProblem, notFoundProblem, problemTypeUri, validationProblem } from "../../shared/http/problem";
import { StackNotFoundError } from "../../shared/store";
import { InstanceIds, Names } from "../names";
import type { RotateDatabaseInput } from "../orchestrators/rotate-database";
import { services } from "../services";
import { claimStack, createdIso, instanceStatus, isTerminal, startClaimed } from "../stack-claim";
import { guarded, json, optionalJsonBody, operationUrl, problem, routeStackName } from "./respond";

export async function rotateDatabase(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const read = await optionalJsonBody(request, {
    ...ROTATE_LIMITS,
    expected: 'what to rotate ({} or {"appUsers": true, "admin": true})',
  });
  if (!read.ok) return read.response;
  const body = read.value;
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
  const runningOne = () =>
    // one rotation at a time: the caller follows the running one
    json(202, { stack, alreadyRunning: true, operation }, { Location: url, "Retry-After": "10" });
  const previous = await instanceStatus(client, instanceId);
  if (previous && !isTerminal(previous.runtimeStatus)) return runningOne();

  // the rotation holds the stack from this request on: one ETag-guarded claim, as PUT and DELETE do
  let claim;
  try {
    claim = await claimStack(client, stack, "rotate-database", {
      instanceIdFor: () => instanceId,
      ...(previous ? { previousRun: createdIso(previous) } : {}),
    });
  } catch (e) {
    if (e instanceof StackNotFoundError) return problem(notFoundProblem(`stack '${stack}' is not registered`));
    throw e;
  }
  if (!claim.ok) {
    return claim.running.instanceId === instanceId ? runningOne() : problem(conflictProblem(claim.running));
  }
  const input: RotateDatabaseInput = {
    stack,
    rotationId: randomUUID(),
    appUsers: checked.request.appUsers,
    admin: checked.request.admin,
    reason: "requested",
  };
  try {
    await startClaimed(stack, claim, () =>
      client.startNew(Names.orchestrators.rotateDatabaseCredentials, { instanceId, input }),
    );
  } catch (e) {
    // the daily check started this stack's rotation between our look and our start: follow that one
    const now = await instanceStatus(client, instanceId);
    if (now && !isTerminal(now.runtimeStatus)) return runningOne();
    throw e;
  }
  context.log(`database credential rotation of stack ${stack} started as ${instanceId} (rotation ${input.rotationId})`);
  return json(
    202,
    { stack, rotationId: input.rotationId, appUsers: input.appUsers, admin: input.admin, operation },
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
