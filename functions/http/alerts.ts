// POST /api/alerts: Azure Monitor alert intake (action group webhook or Azure Function action, with
// the common alert schema turned on). The request path only reads the registry and writes the alert
// inbox: no ARM call, no waiting on an orchestration, so it answers well within the action group's
// timeout. The work happens in the stack's heal or scale orchestration, which it wakes.
//
//   - 415 / 413 / 400 problem+json for a body that is not a common-schema notification; nothing is
//     stored and nothing starts.
//   - 202 for every valid notification, also one that names nothing Jumpgate manages (recorded as
//     ignored, with the reason) and a duplicate delivery: Azure must stop retrying either way.
//   - Each signal is recorded once (the inbox refuses a second row with the same id). Only a new
//     signal is audited and wakes its stack's worker; a duplicate wakes nothing, except to repair a
//     wake-up that evidently got lost: the signal is still pending REWAKE_AFTER_MS after it arrived
//     and no worker instance is live.
//   - 503 with Retry-After when storage or the task hub fails, because action groups retry 503s
//     (and not 500s); the retry then finds its signals recorded and repairs the wake-up if needed.
//   - Bounded work per notification: the matcher gives at most one signal per (stack, intent, node
//     or backend); they are written STORE_CONCURRENCY at a time, and audited once per (stack,
//     intent, Fired/Resolved), so one alert naming a hundred nodes answers within Azure's timeout.
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { ALERT_LIMITS } from "../../shared/alerts/common-alert-schema";
import { alertResourceGroups, matchAlert, type AlertStack } from "../../shared/alerts/match";
import { parseAlertBody, type ParsedAlert } from "../../shared/alerts/parse";
import { ALERT_ACTOR_PREFIX, type StackSignal } from "../../shared/alerts/signal";
import { mapWithConcurrency } from "../../shared/concurrency";
import {
  notFoundProblem,
  payloadTooLargeProblem,
  serviceUnavailableProblem,
  unauthorizedProblem,
} from "../../shared/http/problem";
import { stripControlCharacters } from "../../shared/text";
import { intentsOf, isWorkerLive, wakeStackWorker, workerOf, type StackWorker } from "../alert-wake";
import { Names } from "../names";
import { services } from "../services";
import { guarded, json, problem } from "./respond";

/** A duplicate delivery restarts a stack's worker only if its signal has waited this long with none live. */
export const REWAKE_AFTER_MS = 30_000;
const RETRY_AFTER_SECONDS = "10";
/** at most this many skipped targets are listed in the answer */
const SKIPPED_IN_ANSWER = 10;
/** inbox writes, audit writes and wake-ups in flight at once for one notification */
const STORE_CONCURRENCY = 16;
/** an audit event of several signals lists at most this many of their targets and ids */
const LISTED_IN_AUDIT = 20;

interface AnsweredSignal {
  id: string;
  stack: string;
  intent: StackSignal["intent"];
  condition: StackSignal["condition"];
  node?: string;
  backendIp?: string;
  duplicate: boolean;
}

export async function postAlert(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  // a declared length over the limit is refused before the body is read
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > ALERT_LIMITS.maxBodyBytes) {
    return problem(payloadTooLargeProblem(ALERT_LIMITS.maxBodyBytes, declared));
  }
  const body = parseAlertBody(new Uint8Array(await request.arrayBuffer()), request.headers.get("content-type"));
  if (!body.ok) return problem(body.problem);
  const alert = body.alert;
  const { inbox } = services();
  const receivedAt = new Date();

  let step = "read the alert routing index";
  try {
    const matched = matchAlert(alert, await stacksFor(alert), receivedAt.toISOString());
    const skipped = matched.skipped.slice(0, SKIPPED_IN_ANSWER);
    const listSkipped = skipped.length > 0 ? { skipped } : {};
    if (matched.ignored) {
      step = "record the ignored alert";
      await inbox.recordIgnored(matched.ignored);
      context.log(`alert '${alert.rule}' (${alert.monitorCondition}) ignored: ${matched.ignored.reason}`);
      return json(202, { received: true, signals: [], ignored: matched.ignored.reason, ...listSkipped });
    }

    step = "record the alert's signals";
    const recorded = await mapWithConcurrency(matched.signals, STORE_CONCURRENCY, async (signal) => ({
      signal,
      fresh: (await inbox.record(signal)).recorded,
    }));

    step = "wake the stack's orchestration";
    const client = df.getClient(context);
    await mapWithConcurrency([...groupByWorker(recorded)], STORE_CONCURRENCY, async ([key, group]) => {
      const [stack, worker] = key.split("\u0000") as [string, StackWorker];
      const fresh = group.filter((r) => r.fresh).map((r) => r.signal);
      if (fresh.length > 0) {
        const how = await wakeStackWorker(
          client,
          stack,
          fresh[0].intent,
          fresh.map((s) => s.id),
        );
        context.log(`alert '${alert.rule}': ${fresh.length} new ${worker} signal(s) for stack ${stack}, ${how}`);
      } else if (await repairLostWake(client, stack, worker, group, receivedAt)) {
        context.log(`alert '${alert.rule}': restarted the ${worker} worker of stack ${stack} for a waiting signal`);
      }
    });

    await auditNew(
      recorded.filter((r) => r.fresh).map((r) => r.signal),
      context,
    );
    const signals: AnsweredSignal[] = recorded.map(({ signal, fresh }) => ({
      id: signal.id,
      stack: signal.stack,
      intent: signal.intent,
      condition: signal.condition,
      ...(signal.node !== undefined ? { node: signal.node } : {}),
      ...(signal.backendIp !== undefined ? { backendIp: signal.backendIp } : {}),
      duplicate: !fresh,
    }));
    return json(202, { received: true, signals, ...listSkipped });
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    context.error(`alert intake could not ${step}: ${message}`);
    const response = problem(
      serviceUnavailableProblem(
        `Jumpgate could not ${step}; Azure Monitor retries the delivery. Correlation id ${context.invocationId}.`,
      ),
    );
    return {
      ...response,
      headers: { ...(response.headers as Record<string, string>), "Retry-After": RETRY_AFTER_SECONDS },
    };
  }
}

/**
 * The registered stacks in the resource groups the alert names, from the routing index: one query per
 * group named (one, for nearly every alert), whatever the number of stacks. Until the index has been
 * backfilled once (stacks registered before it existed), a miss falls back to the registry.
 */
async function stacksFor(alert: ParsedAlert): Promise<AlertStack[]> {
  const { registry } = services();
  const groups = alertResourceGroups(alert);
  const found = await mapWithConcurrency(groups, STORE_CONCURRENCY, (g) =>
    registry.routes(g.subscription, g.resourceGroup),
  );
  const stacks = found.flat();
  if (stacks.length > 0 || groups.length === 0) return stacks;
  return (await registry.routesComplete()) ? [] : registry.list();
}

function groupByWorker<T extends { signal: StackSignal }>(items: T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = `${item.signal.stack}\u0000${workerOf(item.signal.intent)}`;
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return groups;
}

/**
 * A duplicate delivery wakes nothing, unless the first delivery's wake-up was lost: its signal is
 * still pending after REWAKE_AFTER_MS and the worker is not running. Duplicates that arrive together
 * with the first delivery (Azure's retries, two action groups) always find a fresh signal or a live
 * worker, so they stay silent.
 */
async function repairLostWake(
  client: DurableClient,
  stack: string,
  worker: StackWorker,
  group: { signal: StackSignal }[],
  now: Date,
): Promise<boolean> {
  if (await isWorkerLive(client, stack, worker)) return false;
  const ids = new Set(group.map((g) => g.signal.id));
  const pending = await services().inbox.pending(stack, { intents: intentsOf(worker) });
  const waiting = pending.filter((p) => ids.has(p.id) && now.getTime() - Date.parse(p.receivedAt) >= REWAKE_AFTER_MS);
  if (waiting.length === 0) return false;
  await wakeStackWorker(
    client,
    stack,
    waiting[0].intent,
    waiting.map((s) => s.id),
  );
  return true;
}

/**
 * One audit event per (stack, intent, Fired/Resolved) of the new signals: a notification about many
 * nodes says so once, naming them (up to LISTED_IN_AUDIT), instead of once per node.
 */
async function auditNew(signals: StackSignal[], context: InvocationContext): Promise<void> {
  const { audit } = services();
  const groups = new Map<string, StackSignal[]>();
  for (const signal of signals) {
    const key = `${signal.stack}\u0000${signal.intent}\u0000${signal.condition}`;
    groups.set(key, [...(groups.get(key) ?? []), signal]);
  }
  await mapWithConcurrency([...groups.values()], STORE_CONCURRENCY, async (group) => {
    const [first] = group;
    const verb = first.condition === "Fired" ? "fired" : "resolved";
    const targets = group.map(targetOf);
    const listed = targets.slice(0, LISTED_IN_AUDIT).join(", ");
    const what =
      group.length === 1
        ? `alert ${verb}: ${first.intent}${targets[0] === "every node" ? " (every node)" : ` ${targets[0]}`}`
        : `alert ${verb}: ${first.intent} for ${group.length} targets: ${listed}${group.length > LISTED_IN_AUDIT ? ", …" : ""}`;
    const details =
      group.length === 1
        ? {
            signalId: first.id,
            alertId: first.alertId,
            intent: first.intent,
            condition: first.condition,
            ...(first.node !== undefined ? { node: first.node } : {}),
            ...(first.backendIp !== undefined ? { backendIp: first.backendIp } : {}),
            at: first.at,
          }
        : {
            signalIds: group.slice(0, LISTED_IN_AUDIT).map((s) => s.id),
            signals: group.length,
            alertId: first.alertId,
            intent: first.intent,
            condition: first.condition,
            targets: targets.slice(0, LISTED_IN_AUDIT),
            at: first.at,
          };
    try {
      await audit.append({
        stack: first.stack,
        what,
        why: `${first.summary}${group.length > 1 ? ` (first of ${group.length} signals)` : ""} (rule '${first.rule}', ${first.signalType || "unknown signal type"})`,
        actor: `${ALERT_ACTOR_PREFIX}${first.rule}`,
        details,
      });
    } catch (error) {
      // the signals are recorded and their worker woken; a missing audit line must not make Azure retry
      const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
      context.warn(`could not audit ${group.length} alert signal(s) of stack ${first.stack}: ${message}`);
    }
  });
}

function targetOf(signal: StackSignal): string {
  if (signal.node) return signal.node;
  if (signal.backendIp) return `backend ${signal.backendIp}`;
  return "every node";
}

/**
 * POST /api/alerts/entra: the same intake for Azure Monitor's secure webhook (token mode): the
 * request carries an Entra ID access token instead of a function key, checked before the body is
 * read (shared/alerts/entra-token.ts). 401 problem for a missing or invalid token, 503 with
 * Retry-After when the tenant's keys can't be fetched (Azure Monitor retries), 404 when token mode
 * is not configured.
 */
export async function postAlertWithToken(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const validator = services().alertToken;
  if (!validator) {
    return problem(
      notFoundProblem("the alert intake's token mode is not configured (JUMPGATE_ALERTS_TOKEN_AUDIENCES is unset)"),
    );
  }
  const verdict = await validator.verify(request.headers.get("authorization"));
  if (verdict.ok) return postAlert(request, context);
  context.warn(`alert intake refused a token: ${stripControlCharacters(verdict.reason).slice(0, 300)}`);
  if (verdict.unavailable) {
    const response = problem(
      serviceUnavailableProblem(
        `Jumpgate could not fetch the tenant's signing keys to check the token; Azure Monitor retries the delivery. Correlation id ${context.invocationId}.`,
      ),
    );
    return {
      ...response,
      headers: { ...(response.headers as Record<string, string>), "Retry-After": RETRY_AFTER_SECONDS },
    };
  }
  const response = problem(
    unauthorizedProblem(
      "This route takes an Entra ID access token of Azure Monitor's action groups for Jumpgate's alerts application (Authorization: Bearer).",
    ),
  );
  return {
    ...response,
    headers: { ...(response.headers as Record<string, string>), "WWW-Authenticate": 'Bearer error="invalid_token"' },
  };
}

app.http(Names.http.postAlertWithToken, {
  route: "alerts/entra",
  methods: ["POST"],
  // the Entra token is the credential; Azure Monitor's secure webhook sends no function key
  authLevel: "anonymous",
  extraInputs: [df.input.durableClient()],
  handler: guarded(postAlertWithToken),
});

app.http(Names.http.postAlert, {
  route: "alerts",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: guarded(postAlert),
});
