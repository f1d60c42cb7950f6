// Connections from the Azure inventory:
//   POST /api/stacks/{name}/connections/sync  start the stack's connection sync now (202 with the
//        operation URL; the running one when one runs); 409 for a stack without `connections`,
//        not deployed yet, or held by another operation (a deploy syncs at its end anyway)
//   GET  /api/stacks/{name}/connections       the managed connections (source VM, protocol, host,
//        port, groups with READ, credential secret version), the last sync and what was skipped
//        and why; names, addresses and versions only
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { notFoundProblem, problemTypeUri } from "../../shared/http/problem";
import { startConnectionSync } from "../connection-wake";
import { Names } from "../names";
import { services } from "../services";
import { guarded, json, operationUrl, problem, routeStackName } from "./respond";

export async function syncConnectionsHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const stack = route.name;
  const record = await services().registry.get(stack);
  if (!record) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  const started = await startConnectionSync(df.getClient(context), record, { trigger: "request", force: true });
  if (!("instanceId" in started)) {
    const refusals = {
      "no-connections": [
        "connections-not-configured",
        "The stack has no connections section",
        `stack '${stack}' has no connections in its spec; add connections.sources and PUT it`,
      ],
      "not-deployed": [
        "not-deployed",
        "The stack has not been deployed",
        `stack '${stack}' has no Guacamole yet; PUT it first`,
      ],
      busy: [
        "stack-busy",
        "Another operation is changing the stack",
        `operation ${started.holder ?? ""} holds stack '${stack}'; it syncs the connections itself when it deploys`,
      ],
    } as const;
    const [type, title, detail] = refusals[started.why];
    return problem({
      type: problemTypeUri(type),
      title,
      status: 409,
      detail,
      ...(started.holder ? { operation: started.holder } : {}),
    });
  }
  const url = operationUrl(request, stack, started.instanceId);
  context.log(
    `connection sync of ${stack}: ${started.started ? "started" : "already running"} (${started.instanceId})`,
  );
  return json(
    202,
    {
      stack,
      operation: { kind: "connections", instanceId: started.instanceId, status: url, started: started.started },
    },
    { Location: url, "Retry-After": "5" },
  );
}

export async function listConnections(request: HttpRequest): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const stack = route.name;
  const s = services();
  const record = await s.registry.get(stack);
  if (!record) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  const { summary, connections } = await s.connections.get(stack);
  return json(200, {
    stack,
    configured: record.spec.connections !== undefined,
    sources: (record.spec.connections?.sources ?? []).map((source, index) => ({
      index,
      subscriptionId: source.subscriptionId,
      resourceGroups: source.resourceGroups ?? null,
      tag: source.tag,
      credential: source.credential ?? null,
      groups: source.groups,
    })),
    lastSync: {
      at: summary.at,
      appliedAt: summary.appliedAt,
      instanceId: summary.instanceId,
      trigger: summary.trigger,
      counts: summary.counts,
      statements: summary.statements,
      requests: summary.requests,
      conflicts: summary.conflicts,
      missingGroups: summary.missingGroups,
      lastChanges: summary.lastChanges,
      failure: summary.failure,
    },
    connections,
    skipped: summary.skipped,
  });
}

app.http(Names.http.syncConnectionsHttp, {
  route: "stacks/{name}/connections/sync",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(syncConnectionsHttp),
});

app.http(Names.http.listConnections, {
  route: "stacks/{name}/connections",
  methods: ["GET"],
  authLevel: "function",
  handler: guarded(listConnections),
});
