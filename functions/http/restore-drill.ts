// POST /api/stacks/{name}/restore-drill: run the stack's restore drill now (`drill-<stack>`): 202
// with the operation URL. 409 problem while a drill runs (it is not queued: the running one's result
// is the answer), while another operation holds the stack, or before the stack was deployed. The body
// is optional and, when given, must be the empty object: there is nothing to choose.
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { notFoundProblem, problemTypeUri, validationProblem } from "../../shared/http/problem";
import { startRestoreDrill } from "../drill-start";
import { Names } from "../names";
import { services } from "../services";
import { guarded, json, optionalJsonBody, operationUrl, problem, routeStackName } from "./respond";

const DRILL_BODY_LIMITS = { maxBodyBytes: 1024, maxJsonDepth: 2, expected: "nothing, or {}" };

export async function restoreDrillHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const read = await optionalJsonBody(request, DRILL_BODY_LIMITS);
  if (!read.ok) return read.response;
  const body = read.value;
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return problem(validationProblem([{ pointer: "", detail: "the body must be a JSON object ({}) or empty" }]));
  const unknown = Object.keys(body);
  if (unknown.length > 0)
    return problem(
      validationProblem(
        unknown
          .slice(0, 20)
          .map((key) => ({ pointer: `/${key}`, detail: "unknown field: a restore drill takes no options" })),
      ),
    );
  const stack = route.name;
  const record = await services().registry.get(stack);
  if (!record) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  const started = await startRestoreDrill(df.getClient(context), record, "request");
  if (!started.started) {
    const refusals = {
      running: [
        "drill-running",
        "A restore drill is running",
        `a restore drill of stack '${stack}' is running (instance ${"instanceId" in started ? started.instanceId : ""}); its result will be in GET /api/stacks/${stack}`,
      ],
      "not-deployed": [
        "not-deployed",
        "The stack has not been deployed",
        `stack '${stack}' has no database to restore yet; PUT it first`,
      ],
      busy: [
        "stack-busy",
        "Another operation is changing the stack",
        `operation ${"holder" in started ? (started.holder ?? "") : ""} holds stack '${stack}'; drill once it has finished`,
      ],
    } as const;
    const [type, title, detail] = refusals[started.why];
    const instanceId = "instanceId" in started ? started.instanceId : undefined;
    return problem({
      type: problemTypeUri(type),
      title,
      status: 409,
      detail,
      ...(instanceId
        ? { operation: { kind: "restore-drill", instanceId, status: operationUrl(request, stack, instanceId) } }
        : {}),
      ...("holder" in started && started.holder ? { operation: { instanceId: started.holder } } : {}),
    });
  }
  const url = operationUrl(request, stack, started.instanceId);
  context.log(`restore drill of ${stack} started (${started.instanceId})`);
  return json(
    202,
    { stack, operation: { kind: "restore-drill", instanceId: started.instanceId, status: url } },
    { Location: url, "Retry-After": "30" },
  );
}

app.http(Names.http.restoreDrillHttp, {
  route: "stacks/{name}/restore-drill",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(restoreDrillHttp),
});
