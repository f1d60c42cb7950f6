// POST /api/stacks/{name}/rotate/certificate: a person asks for a new certificate now. The request
// is recorded in the certificate ledger (answered once, by id) and the stack's certificate worker is
// woken (or started). The worker waits while another operation holds the stack (202 either way);
// while it issues and rolls out, it holds the stack and PUT/DELETE get 409.
//
// Refused with 429 when the stack already placed the weekly maximum of orders for its hostname:
// forcing cannot walk a stack into the CA's rate limits.
import { randomUUID } from "node:crypto";
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { orderBudget, type ForceRequest } from "../../shared/acme/renewal-policy";
import { notFoundProblem, problemTypeUri } from "../../shared/http/problem";
import { certificateHostname } from "../../shared/graph/names";
import { wakeCertificateWorker } from "../certificate-wake";
import { InstanceIds, Names } from "../names";
import { services } from "../services";
import { guarded, json, operationUrl, problem, routeStackName } from "./respond";

export async function rotateCertificate(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const stack = route.name;
  const s = services();
  const record = await s.registry.get(stack);
  if (!record) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  const hostname = certificateHostname(record.spec);
  const now = new Date();
  const state = await s.certificates.get(stack);
  const budget = orderBudget(state.orders, [hostname], now);
  if (budget.nextFreeAt) {
    const seconds = Math.max(1, Math.ceil((budget.nextFreeAt.getTime() - now.getTime()) / 1000));
    const refused = problem({
      type: problemTypeUri("certificate-order-limit"),
      title: "Too many certificate orders",
      status: 429,
      detail: `${budget.used} orders for ${hostname} in the last 7 days reach Jumpgate's limit of ${budget.limit} (under the CA's 5 per week); the next is possible at ${budget.nextFreeAt.toISOString()}`,
      nextOrderAt: budget.nextFreeAt.toISOString(),
    });
    return { ...refused, headers: { ...(refused.headers as Record<string, string>), "Retry-After": String(seconds) } };
  }
  const by = "api:rotate/certificate";
  // a request the worker has not answered yet is this one too: concurrent requests share one order
  let force: ForceRequest = { id: randomUUID(), at: now.toISOString(), by };
  let joined = false;
  await s.certificates.update(
    stack,
    (st) => {
      joined = !!st.force && st.force.id !== st.forceHandled;
      if (joined) force = st.force!;
      return joined ? st : { ...st, force };
    },
    { now },
  );
  if (!joined) {
    await s.audit.append({
      stack,
      what: "certificate rotation requested",
      why: "a person asked for a new certificate",
      actor: by,
      details: { hostname, requestId: force.id, current: state.current?.serial ?? null },
    });
  }
  const woken = await wakeCertificateWorker(df.getClient(context), stack, { reason: "request" });
  const instanceId = InstanceIds.certificate(stack);
  const url = operationUrl(request, stack, instanceId);
  context.log(`certificate rotation of ${stack} requested (${woken} ${instanceId})`);
  return json(
    202,
    {
      stack,
      hostname,
      requestId: force.id,
      ...(joined ? { alreadyRequested: true } : {}),
      operation: { kind: "rotate-certificate", instanceId, status: url, worker: woken },
    },
    { Location: url, "Retry-After": "10" },
  );
}

app.http(Names.http.rotateCertificate, {
  route: "stacks/{name}/rotate/certificate",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(rotateCertificate),
});
