// POST /api/stacks/{name}/node-image/build: build the stack's node image now, e.g. after a failed
// build, without a deploy. 202 with the operation URL of `image-<stack>-<version>` (the running
// build when one runs); 200 when the version exists already (nothing to build); 409 for a stack
// without `nodeImage`, not deployed yet (the builder needs the stack's network and vault), or whose
// version name is taken by an image of another node digest (never booted, never overwritten), and
// while the stack is being torn down (`stack-tearing-down`, naming the teardown; 404 once it is gone).
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { conflictProblem, notFoundProblem, problemTypeUri } from "../../shared/http/problem";
import { startNodeImageBuild } from "../image-build-start";
import { Names } from "../names";
import { resolveNodeImage } from "../node-image";
import { services } from "../services";
import { guarded, json, operationUrl, problem, routeStackName } from "./respond";

export async function buildNodeImageHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const stack = route.name;
  const record = await services().registry.get(stack);
  if (!record) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  const refuse = (type: string, title: string, detail: string) =>
    problem({ type: problemTypeUri(type), title, status: 409, detail });
  if (record.operation?.kind === "teardown") {
    // a builder in a stack being torn down would block its network's deletion, or outlive it
    const { instanceId, startedAt } = record.operation;
    return problem({
      ...conflictProblem(
        record.operation,
        `stack '${stack}' is being torn down (${instanceId}): no node image is built for it; once the teardown has finished the stack is gone (a failed teardown is finished by another DELETE)`,
      ),
      type: problemTypeUri("stack-tearing-down"),
      title: "The stack is being torn down",
      operation: { kind: "teardown", instanceId, startedAt },
    });
  }
  if (record.spec.nodeImage?.enabled !== true) {
    return refuse(
      "node-image-not-enabled",
      "The stack keeps no node image",
      `stack '${stack}' has no nodeImage.enabled in its spec; set it and PUT the stack`,
    );
  }
  if (!record.observed || record.observedGeneration === 0) {
    return refuse(
      "not-deployed",
      "The stack has not been deployed",
      `stack '${stack}' has no network yet; PUT it first`,
    );
  }
  const resolution = await resolveNodeImage(record.spec);
  if (!resolution.enabled) return refuse("node-image-not-enabled", "The stack keeps no node image", stack);
  const { choice } = resolution;
  if (choice.action === "conflict")
    return refuse("node-image-conflict", "The image version is not this image", choice.reason);
  if (choice.action === "reuse") {
    return json(200, { stack, version: choice.version, built: true, bootImage: resolution.bootImage });
  }
  const started = await startNodeImageBuild(df.getClient(context), {
    spec: record.spec,
    version: choice.version,
    trigger: "request",
  });
  const url = operationUrl(request, stack, started.instanceId);
  context.log(`node image ${choice.version} of ${stack}: ${started.started ? "started" : "already building"}`);
  return json(
    202,
    {
      stack,
      version: choice.version,
      operation: { kind: "node-image", instanceId: started.instanceId, status: url, started: started.started },
    },
    { Location: url, "Retry-After": "60" },
  );
}

app.http(Names.http.buildNodeImageHttp, {
  route: "stacks/{name}/node-image/build",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(buildNodeImageHttp),
});
