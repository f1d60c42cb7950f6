// The stacks API: PUT (deploy), GET one / all, DELETE (teardown), POST plan, GET operation.
// Every change goes through an operation claim in the registry, so one stack never has two writers;
// a request that finds a live operation gets 409 naming it, and starts nothing.
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { ALERT_ACTOR_PREFIX } from "../../shared/alerts/signal";
import { credentialSummary } from "../../shared/credentials/summary";
import { accessSummary } from "../../shared/access/summary";
import { publicHostnameOf, signInAuthority } from "../../shared/access/sign-in";
import {
  conflictProblem,
  invalidQueryProblem,
  notFoundProblem,
  payloadTooLargeProblem,
  stackMoveProblem,
  validationProblem,
} from "../../shared/http/problem";
import { certificateStatus } from "../../shared/acme/status";
import { nodeImageStatus } from "../../shared/node/image-status";
import { SECRET_NAMES } from "../../shared/secret-names";
import { STACK_NAME_PATTERN } from "../../shared/spec/schema";
import { parseStackSpecBody, STACK_SPEC_LIMITS, validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { InstanceIds, isOperationOf, Names } from "../names";
import type { DeployInput } from "../orchestrators/deploy-stack";
import type { PlanInput } from "../orchestrators/plan-stack";
import type { TeardownInput } from "../orchestrators/teardown-stack";
import { stopNodeImageBuilds } from "../image-build-stop";
import { nodeImageEnabled } from "../../shared/graph/image-graph";
import { certificateHostname } from "../../shared/graph/names";
import { services } from "../services";
import { guarded, json, operationUrl, problem, routeStackName } from "./respond";
import {
  claimStack,
  createdIso,
  instanceStatus,
  isTerminal,
  StackMoveError,
  startClaimed,
  type ClaimKind,
} from "../stack-claim";
import type { UpgradeInput } from "../orchestrators/upgrade-stack";
import { classifyPut, releaseStatus } from "../../shared/upgrade/policy";
import { StackNotFoundError } from "../../shared/store";
import { refuseAcmeDirectory } from "./acme-directory";
import { followSpecFleet } from "../fleet-reset";

async function readSpec(request: HttpRequest, routeName: string) {
  // a declared length over the limit is refused before the body is read
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > STACK_SPEC_LIMITS.maxBodyBytes) {
    return { ok: false as const, response: problem(payloadTooLargeProblem(STACK_SPEC_LIMITS.maxBodyBytes, declared)) };
  }
  const body = parseStackSpecBody(new Uint8Array(await request.arrayBuffer()), request.headers.get("content-type"));
  if (!body.ok) return { ok: false as const, response: problem(body.problem) };
  const result = validateStackSpec(body.value, { routeName });
  if (!result.ok) return { ok: false as const, response: problem(validationProblem(result.errors)) };
  const refused = refuseAcmeDirectory(result.spec);
  if (refused) return { ok: false as const, response: refused };
  return { ok: true as const, spec: result.spec };
}

function accepted(request: HttpRequest, stack: string, kind: ClaimKind, instanceId: string, extra: object = {}) {
  const url = operationUrl(request, stack, instanceId);
  return json(
    202,
    { stack, ...extra, operation: { kind, instanceId, status: url } },
    { Location: url, "Retry-After": "10" },
  );
}

export async function putStack(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const read = await readSpec(request, route.name);
  if (!read.ok) return read.response;
  const spec: StackSpec = read.spec;
  const client = df.getClient(context);
  const s = services();

  const requested = new Date();
  const at = compactTime(requested);
  // a deployed stack whose nodes do not all run the spec's release is upgraded, not deployed
  const put = classifyPut(await s.registry.get(route.name), spec);
  if (put.kind === "refused") {
    return problem(validationProblem([{ pointer: "/guacamole/version", detail: put.detail }]));
  }
  if (put.kind === "upgrade") return startUpgrade(request, context, route.name, spec, put);
  const current = (await s.certificates.get(route.name)).current;
  let claim;
  try {
    // the spec is stored in the same write as the claim: a refused PUT stores nothing
    claim = await claimStack(client, route.name, "deploy", {
      spec,
      instanceIdFor: (generation) => InstanceIds.deploy(route.name, generation, at),
      now: requested,
    });
  } catch (e) {
    if (e instanceof StackMoveError) return problem(stackMoveProblem(route.name, e.changes));
    throw e;
  }
  if (!claim.ok) return problem(conflictProblem(claim.running));
  const input: DeployInput = {
    spec,
    generation: claim.generation,
    nodeReadyTimeoutMinutes: s.nodeReadyTimeoutMinutes,
    dbUserSlot: claim.dbUserSlot,
    ...(current ? { certificate: { secret: SECRET_NAMES.tlsBundle, serial: current.serial } } : {}),
    startedAt: requested.toISOString(),
    checkFirst: true,
    access: true,
  };
  await startClaimed(route.name, claim, async () => {
    // under the claim: a fleet that scaling changed follows a new fleet.size from the user
    await followSpecFleet(route.name, spec, new Date(), claim.instanceId);
    await client.startNew(Names.orchestrators.deployStack, { instanceId: claim.instanceId, input });
  });
  context.log(`deploy of stack ${route.name} generation ${claim.generation} started as ${claim.instanceId}`);
  return accepted(request, route.name, "deploy", claim.instanceId, { generation: claim.generation });
}

/** Starts the stack's rolling upgrade (upgrade-<stack>) under a claim that stores the spec, as a deploy's does. */
async function startUpgrade(
  request: HttpRequest,
  context: InvocationContext,
  name: string,
  spec: StackSpec,
  put: { from: string; to: string },
): Promise<HttpResponseInit> {
  const client = df.getClient(context);
  const instanceId = InstanceIds.upgrade(name);
  const previous = await instanceStatus(client, instanceId);
  let claim;
  try {
    claim = await claimStack(client, name, "upgrade", {
      spec,
      instanceIdFor: () => instanceId,
      ...(previous ? { previousRun: createdIso(previous) } : {}),
    });
  } catch (e) {
    if (e instanceof StackMoveError) return problem(stackMoveProblem(name, e.changes));
    throw e;
  }
  if (!claim.ok) return problem(conflictProblem(claim.running));
  const input: UpgradeInput = { stack: name, from: put.from, to: put.to };
  await startClaimed(name, claim, () => client.startNew(Names.orchestrators.upgradeStack, { instanceId, input }));
  context.log(`upgrade of stack ${name} from Guacamole ${put.from} to ${put.to} started as ${instanceId}`);
  return accepted(request, name, "upgrade", instanceId, {
    generation: claim.generation,
    upgrade: { from: put.from, to: put.to },
  });
}

export async function deleteStack(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const client = df.getClient(context);
  const at = compactTime(new Date());
  let claim;
  try {
    claim = await claimStack(client, route.name, "teardown", {
      instanceIdFor: () => InstanceIds.teardown(route.name, at),
    });
  } catch (e) {
    if (e instanceof StackNotFoundError) return problem(notFoundProblem(`stack '${route.name}' is not registered`));
    throw e;
  }
  if (!claim.ok) return problem(conflictProblem(claim.running));
  // the spec the claim was written over: a PUT accepted just before this DELETE is torn down too
  const input: TeardownInput = { spec: claim.spec };
  let stopped: string[] = [];
  await startClaimed(route.name, claim, async () => {
    // the stack's image builds stop first: they do not claim the stack, and would go on creating
    // things in it (functions/image-build-stop.ts); the teardown removes what they left. A spec
    // without nodeImage starts no build, so the task hub is not listed for it; a build started
    // before the spec dropped nodeImage is still the one the registry records as running
    stopped = await stopNodeImageBuilds(client, route.name, claim.instanceId, {
      listTaskHub: nodeImageEnabled(claim.spec),
    });
    await client.startNew(Names.orchestrators.teardownStack, { instanceId: claim.instanceId, input });
  });
  const stoppedNote = stopped.length > 0 ? ` after terminating ${stopped.join(", ")}` : "";
  context.log(`teardown of stack ${route.name} started as ${claim.instanceId}${stoppedNote}`);
  return accepted(
    request,
    route.name,
    "teardown",
    claim.instanceId,
    stopped.length > 0 ? { stoppedImageBuilds: stopped } : {},
  );
}

const PLAN_WAIT_MS = 20_000;

/** Plans the stored spec, or the spec in the body (what-if before a PUT). Read-only: no claim. */
export async function planStackHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const client = df.getClient(context);
  const record = await services().registry.get(route.name);
  let spec: StackSpec;
  let generation: number;
  const hasBody = Number(request.headers.get("content-length") ?? "0") > 0 || request.headers.get("content-type");
  if (hasBody) {
    const read = await readSpec(request, route.name);
    if (!read.ok) return read.response;
    spec = read.spec;
    generation = (record?.generation ?? 0) + 1;
  } else if (record) {
    spec = record.spec;
    generation = record.generation;
  } else {
    return problem(
      notFoundProblem(`stack '${route.name}' is not registered; send a spec in the body to plan a new one`),
    );
  }
  const at = compactTime(new Date());
  const instanceId = InstanceIds.plan(route.name, at);
  const input: PlanInput = { spec, generation };
  await client.startNew(Names.orchestrators.planStack, { instanceId, input });
  const deadline = Date.now() + PLAN_WAIT_MS;
  while (Date.now() < deadline) {
    const status = await instanceStatus(client, instanceId);
    if (status?.runtimeStatus === df.OrchestrationRuntimeStatus.Completed) return json(200, status.output);
    if (status?.runtimeStatus === df.OrchestrationRuntimeStatus.Failed) {
      return problem({
        type: "https://jumpgate.dev/problems/plan-failed",
        title: "The plan failed",
        status: 502,
        detail: firstLine(status.output),
        instance: operationUrl(request, route.name, instanceId),
      });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return accepted(request, route.name, "plan", instanceId);
}

export async function getStack(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const { registry, audit, certificates } = services();
  const record = await registry.get(route.name);
  if (!record) return problem(notFoundProblem(`stack '${route.name}' is not registered`));
  const client = df.getClient(context);
  const running = record.operation ? await instanceStatus(client, record.operation.instanceId) : undefined;
  // the alert intake's receipts apart: a burst of alerts (maybe ignored, maybe forged) must not push
  // what Jumpgate did out of the status page
  const [events, alerts] = await Promise.all([
    audit.recent(route.name, { limit: 20, actorPrefix: { except: ALERT_ACTOR_PREFIX } }),
    audit.recent(route.name, { limit: 10, actorPrefix: { only: ALERT_ACTOR_PREFIX } }),
  ]);
  const certificateWorkerId = InstanceIds.certificate(route.name);
  const [certificateState, certificateWorker] = await Promise.all([
    certificates.get(route.name),
    instanceStatus(client, certificateWorkerId),
  ]);
  const drillId = InstanceIds.drill(route.name);
  const drillRun = await instanceStatus(client, drillId);
  const workerProgress = certificateWorker?.customStatus as { phase?: unknown; waitingUntil?: unknown } | undefined;
  return json(200, {
    name: record.name,
    generation: record.generation,
    observedGeneration: record.observedGeneration,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    desired: record.spec,
    observed: record.observed,
    conditions: record.conditions,
    guacamole: releaseStatus(record.spec, record.observed),
    lastBackup: record.observed?.lastBackup ?? null,
    credentials: credentialSummary(record.observed, record.spec.policies.rotation, new Date()),
    access: accessSummary(record.spec, record.observed?.access, {
      publicHostname: publicHostnameOf(record.spec),
      authority: signInAuthority(),
    }),
    nodeImage: nodeImageStatus(record.spec, record.observed?.nodeImage),
    certificate: {
      ...certificateStatus(certificateState, certificateHostname(record.spec), new Date()),
      worker: certificateWorker
        ? {
            instanceId: certificateWorkerId,
            runtimeStatus: certificateWorker.runtimeStatus,
            phase: workerProgress?.phase ?? null,
            waitingUntil: workerProgress?.waitingUntil ?? null,
            status: operationUrl(request, route.name, certificateWorkerId),
          }
        : null,
    },
    operation: record.operation
      ? {
          ...record.operation,
          runtimeStatus: running?.runtimeStatus,
          progress: running?.customStatus,
          status: operationUrl(request, route.name, record.operation.instanceId),
        }
      : null,
    // the last restore drill and its result, and the one running now
    restoreDrill: {
      last: record.observed?.drill ?? null,
      running:
        drillRun && !isTerminal(drillRun.runtimeStatus)
          ? {
              instanceId: drillId,
              runtimeStatus: drillRun.runtimeStatus,
              progress: drillRun.customStatus ?? null,
              status: operationUrl(request, route.name, drillId),
            }
          : null,
    },
    events,
    alerts,
    // this instance's view of the ARM budget of the stack's subscription: whether work waits for it
    armBudget: services().factory.budget.status(record.spec.subscriptionId),
  });
}

/** Stacks per page of GET /api/stacks unless `pageSize` says otherwise, and the most it may say. */
export const LIST_PAGE_SIZE = { default: 100, max: 1000 };

/**
 * GET /api/stacks?pageSize=&continuationToken=: one page of stacks in name order (one Table query),
 * with `nextLink` and `continuationToken` while more follow. The token is opaque to callers (the last
 * name of the page, encoded); a token or page size that is not valid is a 400 problem.
 */
export async function listStacks(request: HttpRequest): Promise<HttpResponseInit> {
  const errors: { pointer: string; detail: string }[] = [];
  const rawSize = request.query.get("pageSize");
  const pageSize = rawSize === null ? LIST_PAGE_SIZE.default : Number(rawSize);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > LIST_PAGE_SIZE.max) {
    errors.push({
      pointer: "/query/pageSize",
      detail: `pageSize must be a whole number from 1 to ${LIST_PAGE_SIZE.max}`,
    });
  }
  const token = request.query.get("continuationToken");
  const after = token === null ? undefined : decodeListToken(token);
  if (token !== null && after === undefined) {
    errors.push({ pointer: "/query/continuationToken", detail: "continuationToken is not one this API gave out" });
  }
  if (errors.length > 0) return problem(invalidQueryProblem(errors));
  const page = await services().registry.listPage({ pageSize, ...(after ? { after } : {}) });
  const last = page.stacks[page.stacks.length - 1];
  const next = page.more && last ? encodeListToken(last.name) : undefined;
  const nextLink = next
    ? (() => {
        const url = new URL(request.url);
        url.searchParams.set("pageSize", String(pageSize));
        url.searchParams.set("continuationToken", next);
        return url.toString();
      })()
    : undefined;
  return json(200, {
    ...(next ? { continuationToken: next, nextLink } : {}),
    value: page.stacks.map((r) => ({
      name: r.name,
      location: r.spec.location,
      resourceGroup: r.spec.resourceGroup,
      generation: r.generation,
      observedGeneration: r.observedGeneration,
      nodes: r.observed?.nodes.map((n) => ({ name: n.name, healthy: n.healthy })) ?? [],
      operation: r.operation ?? null,
      lastOperation: r.observed?.lastOperation ?? null,
    })),
  });
}

function encodeListToken(name: string): string {
  return Buffer.from(`v1:${name}`, "utf8").toString("base64url");
}

/**
 * The stack name a token carries, or undefined for anything that is not a token of this API's form
 * (base64url of `v1:<stack name>`): a token is a position in name order, so one made up by hand can
 * only start a page at another name, and never reaches the registry's index rows (`~...`).
 */
function decodeListToken(token: string): string | undefined {
  if (token.length === 0 || token.length > 200 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (Buffer.from(text, "utf8").toString("base64url") !== token) return undefined;
  const name = text.startsWith("v1:") ? text.slice(3) : "";
  return new RegExp(STACK_NAME_PATTERN).test(name) ? name : undefined;
}

export async function getOperation(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = routeStackName(request);
  if (!route.ok) return route.response;
  const instanceId = request.params.instanceId ?? "";
  // an id of another stack (or a look-alike) is as unknown here as a random one
  const ours = isOperationOf(route.name, instanceId);
  const status = ours ? await instanceStatus(df.getClient(context), instanceId) : undefined;
  if (!status) return problem(notFoundProblem(`operation '${instanceId}' of stack '${route.name}' not found`));
  const done = status.runtimeStatus === df.OrchestrationRuntimeStatus.Completed;
  const failed = status.runtimeStatus === df.OrchestrationRuntimeStatus.Failed;
  return json(
    200,
    {
      instanceId,
      orchestrator: status.name,
      runtimeStatus: status.runtimeStatus,
      createdTime: status.createdTime,
      lastUpdatedTime: status.lastUpdatedTime,
      progress: status.customStatus ?? null,
      output: done ? status.output : null,
      failure: failed ? firstLine(status.output) : null,
    },
    done || failed ? {} : { "Retry-After": "10" },
  );
}

/** 20261121T101500123Z: sortable, and safe in instance ids and URLs */
function compactTime(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, "");
}

function firstLine(output: unknown): string {
  const text = typeof output === "string" ? output : JSON.stringify(output ?? "");
  return text.split("\n")[0].slice(0, 1000);
}

const clientInput = [df.input.durableClient()];
app.http(Names.http.putStack, {
  route: "stacks/{name}",
  methods: ["PUT"],
  authLevel: "function",
  extraInputs: clientInput,
  handler: guarded(putStack),
});
app.http(Names.http.getStack, {
  route: "stacks/{name}",
  methods: ["GET"],
  authLevel: "function",
  extraInputs: clientInput,
  handler: guarded(getStack),
});
app.http(Names.http.deleteStack, {
  route: "stacks/{name}",
  methods: ["DELETE"],
  authLevel: "function",
  extraInputs: clientInput,
  handler: guarded(deleteStack),
});
app.http(Names.http.listStacks, {
  route: "stacks",
  methods: ["GET"],
  authLevel: "function",
  handler: guarded(listStacks),
});
app.http(Names.http.planStackHttp, {
  route: "stacks/{name}/plan",
  methods: ["POST"],
  authLevel: "function",
  extraInputs: clientInput,
  handler: guarded(planStackHttp),
});
app.http(Names.http.getOperation, {
  route: "stacks/{name}/operations/{instanceId}",
  methods: ["GET"],
  authLevel: "function",
  extraInputs: clientInput,
  handler: guarded(getOperation),
});
