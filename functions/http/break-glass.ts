// POST /api/stacks/{name}/break-glass: the local guacadmin for a bounded time, on a stack whose
// sign-in is Entra ID (access set), where guacadmin is otherwise disabled. Claims the stack in one
// ETag-guarded write as PUT, DELETE and rotate do (409 while another operation holds it), makes a
// new random version of guacadmin's password in the stack's vault, starts `break-glass-<stack>`
// (which sets that password, enables guacadmin, and at the end of the window disables it and
// rotates the password again) and answers 202 with the secret's name and version, never its value.
// POST /api/stacks/{name}/break-glass/close ends an open window early.
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { BREAK_GLASS_LIMITS, validateBreakGlassRequest } from "../../shared/access/break-glass-request";
import { newGuacadminPassword } from "../../shared/access/guacadmin-password";
import { stackNames } from "../../shared/graph/names";
import { conflictProblem, notFoundProblem, problemTypeUri, validationProblem } from "../../shared/http/problem";
import { SECRET_NAMES } from "../../shared/secret-names";
import { StackNotFoundError } from "../../shared/store";
import { InstanceIds, Names } from "../names";
import { BREAK_GLASS_CLOSE_EVENT, type BreakGlassInput, type BreakGlassStatus } from "../orchestrators/break-glass";
import { services } from "../services";
import { claimStack, createdIso, instanceStatus, isTerminal, startClaimed } from "../stack-claim";
import { guarded, json, optionalJsonBody, operationUrl, problem, routeStackName } from "./respond";

export async function openBreakGlass(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const read = await optionalJsonBody(request, { ...BREAK_GLASS_LIMITS, expected: 'how long ({} or {"minutes": 60})' });
  if (!read.ok) return read.response;
  const body = read.value;
  const stack = route.name;
  const record = await services().registry.get(stack);
  if (!record) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  if (!record.observed || record.observedGeneration === 0) {
    return problem({
      type: problemTypeUri("not-deployed"),
      title: "The stack has not been deployed",
      status: 409,
      detail: `stack '${stack}' has no Guacamole yet; PUT it first`,
    });
  }
  const access = record.spec.access;
  if (!access) {
    return problem({
      type: problemTypeUri("access-not-configured"),
      title: "The stack does not sign in with Entra ID",
      status: 409,
      detail: `stack '${stack}' has no access section, so guacadmin is not disabled: sign in with it as usual (its password is the Key Vault secret ${SECRET_NAMES.guacadminPassword})`,
    });
  }
  const checked = validateBreakGlassRequest(body, access.breakGlass.maxMinutes);
  if (!checked.ok) return problem(validationProblem(checked.errors));

  const client = df.getClient(context);
  const instanceId = InstanceIds.breakGlass(stack);
  const url = operationUrl(request, stack, instanceId);
  const previous = await instanceStatus(client, instanceId);
  if (previous && !isTerminal(previous.runtimeStatus)) {
    const progress = previous.customStatus as Partial<BreakGlassStatus> | undefined;
    return problem({
      type: problemTypeUri("break-glass-running"),
      title: progress?.phase === "open" ? "A break-glass window is open" : "guacadmin is being changed",
      status: 409,
      detail:
        progress?.phase === "open"
          ? `guacadmin is enabled until ${progress.until}; close it with POST .../break-glass/close before asking for another window`
          : `${instanceId} is ${progress?.action === "rotate" ? "rotating guacadmin's password" : "running"}; retry when it has finished`,
      operation: { kind: "break-glass", instanceId, status: url },
    });
  }

  const requestedAt = new Date();
  let claim;
  try {
    claim = await claimStack(client, stack, "break-glass", {
      instanceIdFor: () => instanceId,
      now: requestedAt,
      ...(previous ? { previousRun: createdIso(previous) } : {}),
    });
  } catch (e) {
    if (e instanceof StackNotFoundError) return problem(notFoundProblem(`stack '${stack}' is not registered`));
    throw e;
  }
  if (!claim.ok) return problem(conflictProblem(claim.running));
  const { minutes, reason } = checked.request;
  let version = "";
  await startClaimed(stack, claim, async () => {
    // the version this window hands out, made under the claim; a failure releases it and starts nothing
    version = (await newGuacadminPassword(services().factory, claim.spec, `${instanceId}:${requestedAt.toISOString()}`))
      .version;
    const input: BreakGlassInput = {
      stack,
      action: "open",
      minutes,
      version,
      requestedAt: requestedAt.toISOString(),
      ...(reason !== undefined ? { reason } : {}),
    };
    await client.startNew(Names.orchestrators.breakGlass, { instanceId, input });
  });
  context.log(`break-glass of stack ${stack} started as ${instanceId} for ${minutes} minutes`);
  const names = stackNames(claim.spec);
  return json(
    202,
    {
      stack,
      user: "guacadmin",
      minutes,
      // where the password is: read it with your own Key Vault access (Secrets User on this secret)
      secret: { vault: names.keyVaultUri, name: SECRET_NAMES.guacadminPassword, version },
      operation: { kind: "break-glass", instanceId, status: url },
    },
    { Location: url, "Retry-After": "10" },
  );
}

export async function closeBreakGlass(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const stack = route.name;
  if (!(await services().registry.get(stack))) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  const client = df.getClient(context);
  const instanceId = InstanceIds.breakGlass(stack);
  const url = operationUrl(request, stack, instanceId);
  const running = await instanceStatus(client, instanceId);
  const progress = running?.customStatus as Partial<BreakGlassStatus> | undefined;
  if (!running || isTerminal(running.runtimeStatus) || progress?.phase !== "open") {
    return problem({
      type: problemTypeUri("break-glass-not-open"),
      title: "No break-glass window is open",
      status: 409,
      detail: `guacadmin of stack '${stack}' is not in an open break-glass window${progress?.phase ? ` (${instanceId} is ${progress.phase})` : ""}`,
    });
  }
  await client.raiseEvent(instanceId, BREAK_GLASS_CLOSE_EVENT, { at: new Date().toISOString() });
  return json(
    202,
    { stack, closing: true, operation: { kind: "break-glass", instanceId, status: url } },
    { Location: url, "Retry-After": "10" },
  );
}

app.http(Names.http.openBreakGlass, {
  route: "stacks/{name}/break-glass",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(openBreakGlass),
});

app.http(Names.http.closeBreakGlass, {
  route: "stacks/{name}/break-glass/close",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(closeBreakGlass),
});
