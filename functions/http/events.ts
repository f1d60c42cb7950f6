// GET /api/stacks/{name}/events: the stack's audit trail (who did what, and why), newest first. Read
// only. The trail outlives the stack: after a teardown the stack is gone from the registry but its
// events stay readable here (404 only for a name that is not registered and never had an event).
import { app, type HttpRequest, type HttpResponseInit } from "@azure/functions";
import { notFoundProblem, validationProblem } from "../../shared/http/problem";
import { Names } from "../names";
import { services } from "../services";
import { guarded, json, problem, routeStackName } from "./respond";

export const EVENTS_LIMIT = { default: 100, max: 1000 } as const;

export async function listEvents(request: HttpRequest): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const raw = request.query.get("limit");
  const limit = raw === null ? EVENTS_LIMIT.default : Number(raw);
  if (!/^\d+$/.test(raw ?? "0") || !Number.isInteger(limit) || limit < 1 || limit > EVENTS_LIMIT.max) {
    return problem(
      validationProblem([{ pointer: "/limit", detail: `must be a whole number from 1 to ${EVENTS_LIMIT.max}` }]),
    );
  }
  const { registry, audit } = services();
  const [events, record] = await Promise.all([audit.recent(route.name, { limit }), registry.get(route.name)]);
  if (events.length === 0 && !record) {
    return problem(notFoundProblem(`stack '${route.name}' is not registered and has no audit events`));
  }
  return json(200, { stack: route.name, registered: !!record, events });
}

app.http(Names.http.listEvents, {
  route: "stacks/{name}/events",
  methods: ["GET"],
  authLevel: "function",
  handler: guarded(listEvents),
});
