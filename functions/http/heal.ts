// POST /api/stacks/{name}/heal/resume: a person takes back what healing stopped doing by itself.
// It releases the fleet brake for a bounded time (the hourly budget, backoff and suspensions of other
// nodes still hold) and, when a node is named, lifts that node's suspension. Then heal is woken if
// the next heal round looks at every node. Every release is an audit event naming the caller's route.
import { randomUUID } from "node:crypto";
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { StackSignal } from "../../shared/alerts/signal";
import { DEFAULT_OVERRIDE_MINUTES, RESUME_LIMITS, validateResumeRequest } from "../../shared/heal/resume-request";
import { notFoundProblem, validationProblem } from "../../shared/http/problem";
import { wakeStackWorker } from "../alert-wake";
import { InstanceIds, Names } from "../names";
import { services } from "../services";
import { guarded, json, optionalJsonBody, problem, routeStackName } from "./respond";

export async function resumeHeal(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const read = await optionalJsonBody(request, { ...RESUME_LIMITS, expected: 'what to resume ({} or {"node": ...})' });
  if (!read.ok) return read.response;
  const input = read.value;
  const checked = validateResumeRequest(input);
  if (!checked.ok) return problem(validationProblem(checked.errors));
  const { node, overrideMinutes = DEFAULT_OVERRIDE_MINUTES } = checked.request;

  const s = services();
  const stack = route.name;
  if (!(await s.registry.get(stack))) return problem(notFoundProblem(`stack '${stack}' is not registered`));
  const ledger = await s.repairs.get(stack);
  if (node !== undefined && !ledger.nodes[node]?.suspended) {
    return problem(
      notFoundProblem(
        `node '${node}' of stack '${stack}' is not suspended; nothing to resume (GET the stack to see its conditions)`,
      ),
    );
  }

  const now = new Date();
  const at = now.toISOString();
  const until = new Date(now.getTime() + overrideMinutes * 60_000).toISOString();
  const by = "api:heal/resume";
  await s.repairs.overrideBrake(stack, { by, at, until });
  if (node !== undefined) await s.repairs.resume(stack, node, at);
  await s.audit.append({
    stack,
    what: node ? `repairs of ${node} resumed; fleet brake overridden` : "fleet brake overridden",
    why: ledger.brake
      ? `a person released the brake (${ledger.brake.message}); repairs may run until ${until}`
      : `a person allowed repairs despite the brake until ${until}`,
    actor: by,
    details: { until, ...(node ? { node } : {}), ...(ledger.brake ? { brakeReason: ledger.brake.reason } : {}) },
  });

  // The brake consumed the signals it held back, and a still-firing metric alert does not fire again:
  // a manual signal with no node makes the next heal round look at every node.
  const signal: StackSignal = {
    id: `manual-${randomUUID()}`,
    stack,
    intent: "heal",
    condition: "Fired",
    rule: "heal/resume",
    signalType: "Manual",
    summary: node ? `a person resumed repairs of ${node}` : "a person released the fleet brake",
    alertId: `manual:${at}`,
    at,
    receivedAt: at,
  };
  await s.inbox.record(signal);
  const wake = await wakeStackWorker(df.getClient(context), stack, "heal", [signal.id]);
  return json(200, {
    stack,
    brakeOverriddenUntil: until,
    brakeWasHeld: ledger.brake ? { reason: ledger.brake.reason, since: ledger.brake.since } : null,
    resumedNode: node ?? null,
    heal: { instanceId: InstanceIds.heal(stack), wake, signal: signal.id },
  });
}

app.http(Names.http.resumeHeal, {
  route: "stacks/{name}/heal/resume",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(resumeHeal),
});
