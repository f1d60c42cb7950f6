// The extension's local RPC endpoint (LocalHttpListener, http://127.0.0.1:17071/durabletask/ on a
// real host), backed by the test host. When client data carries `rpcBaseUrl`, the real JS
// DurableClient sends every operation here, so code under test exercises the library's actual HTTP
// client, routes and status-code handling. Routes and codes follow HttpApiHandler.HandleRequestAsync;
// the client's expectations are in node_modules/durable-functions/lib/src/durableClient/DurableClient.js.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { DurableTestHost } from "../durable-test-host";
import { HarnessError, HostArgumentError, InstanceAlreadyExistsError } from "../errors";
import { isTerminalStatus, toStatusPayload, type InstanceQuery } from "../instance-state";
import { makeClientInputData, type ClientInputData, type ClientInputDataOptions } from "./client-input-data";

export interface DurableRpcServer {
  /** e.g. http://127.0.0.1:40123/durabletask/ — put it into client data as rpcBaseUrl */
  readonly rpcBaseUrl: string;
  /** "METHOD /path?query -> status" for every request, in arrival order */
  readonly requests: string[];
  /** Client data pointing at this server (for df.getClient via durableClientContext). */
  clientData(options?: Omit<ClientInputDataOptions, "rpcBaseUrl">): ClientInputData;
  /** Stops listening and drops open connections; resolves within a second at most. */
  close(): Promise<void>;
}

const BASE_PATH = "/durabletask/";
const MAX_BODY_BYTES = 10 * 1024 * 1024;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Listens on 127.0.0.1 (port 0 = any free port unless given). */
export async function startDurableRpcServer(
  host: DurableTestHost,
  options: { port?: number } = {},
): Promise<DurableRpcServer> {
  const requests: string[] = [];
  let origin = "http://127.0.0.1";
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", origin);
    readBody(req)
      .then((body) => route(host, req, url, body))
      .catch((err: unknown): Reply => {
        if (err instanceof HarnessError) return { status: 501, body: { Message: err.message } };
        const message = err instanceof Error ? err.message : String(err);
        return {
          status: 500,
          body: { Message: "Something went wrong while processing your request", ExceptionMessage: message },
        };
      })
      .then(
        (reply) => {
          requests.push(`${req.method ?? "GET"} ${url.pathname}${url.search} -> ${reply.status}`);
          send(res, reply);
        },
        () => res.destroy(),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  const rpcBaseUrl = `${origin}${BASE_PATH}`;
  return {
    rpcBaseUrl,
    requests,
    clientData: (dataOptions = {}) => makeClientInputData({ ...dataOptions, rpcBaseUrl }),
    close: () => closeServer(server),
  };
}

async function route(host: DurableTestHost, req: http.IncomingMessage, url: URL, body: string): Promise<Reply> {
  if (!url.pathname.startsWith(BASE_PATH)) return { status: 404 };
  const segments = url.pathname.slice(BASE_PATH.length).split("/").map(decodeURIComponent);
  const method = req.method ?? "GET";
  const [controller, first, second, third] = segments;

  // orchestrators/{functionName}/{instanceId?}
  if (controller === "orchestrators" && first) {
    if (method !== "POST" || segments.length > 3) return { status: 404 };
    return startOrchestration(host, url, first, second || undefined, body);
  }

  if (controller === "entities") {
    return { status: 501, body: { Message: "Durable entities are not emulated by the durable test host." } };
  }

  if (controller !== "instances") return { status: 404 };

  // instances/ : list or purge by filter
  if (!first) {
    if (method === "GET") return listInstances(host, req, url);
    if (method === "DELETE") return purgeByFilter(host, url);
    return { status: 404 };
  }

  // instances/{instanceId}/raiseEvent/{eventName}
  if (second === "raiseEvent" && third !== undefined && segments.length === 4) {
    if (method !== "POST") return { status: 404 };
    return raiseEvent(host, req, first, third, body);
  }
  if (segments.length > 3) return { status: 404 };

  // instances/{instanceId}
  if (!second) {
    if (method === "GET") return getStatus(host, url, first);
    if (method === "DELETE") return purgeInstance(host, first);
    return { status: 404 };
  }

  // instances/{instanceId}/{operation}
  if (method !== "POST") return { status: 404 };
  switch (second.toLowerCase()) {
    case "terminate":
      return terminate(host, first, url.searchParams.get("reason") ?? "");
    case "suspend":
    case "resume":
    case "rewind":
    case "restart":
      return { status: 501, body: { Message: `'${second}' is not emulated by the durable test host.` } };
    default:
      return { status: 404 };
  }
}

function startOrchestration(
  host: DurableTestHost,
  url: URL,
  functionName: string,
  instanceId: string | undefined,
  body: string,
): Reply {
  let input: unknown;
  if (body.length > 0) {
    try {
      input = JSON.parse(body) as unknown;
    } catch {
      return { status: 400, body: { Message: "Invalid JSON content" } };
    }
  }
  let id: string;
  try {
    id = host.startNew(functionName, { input, instanceId });
  } catch (err) {
    if (err instanceof InstanceAlreadyExistsError) return { status: 409, body: { Message: err.message } };
    if (err instanceof HostArgumentError) return { status: 400, body: { Message: err.message } };
    throw err;
  }
  // CreateCheckStatusResponse: links built on the authority the request came in on.
  const urls = makeClientInputData({ hostOrigin: url.origin }).managementUrls;
  const payload = Object.fromEntries(Object.entries(urls).map(([key, value]) => [key, value.replace(urls.id, id)]));
  return {
    status: 202,
    body: payload,
    headers: { Location: payload.statusQueryGetUri ?? "", "Retry-After": "10" },
  };
}

function getStatus(host: DurableTestHost, url: URL, instanceId: string): Reply {
  const instance = host.getStatus(instanceId);
  if (!instance) return { status: 404 };
  const query = url.searchParams;
  const payload = toStatusPayload(instance, {
    showHistory: parseBoolean(query.get("showHistory")) ?? false,
    showInput: parseBoolean(query.get("showInput")) ?? true,
    time: (t) => host.wallTime(t),
  });
  switch (instance.runtimeStatus) {
    case "Pending":
    case "Running":
      return { status: 202, body: payload, headers: { Location: url.href, "Retry-After": "5" } };
    case "Failed":
      return { status: parseBoolean(query.get("returnInternalServerErrorOnFailure")) ? 500 : 200, body: payload };
    default:
      return { status: 200, body: payload };
  }
}

function listInstances(host: DurableTestHost, req: http.IncomingMessage, url: URL): Reply {
  const query = url.searchParams;
  const matching = host.listInstances(parseQuery(query, host));
  const showInput = parseBoolean(query.get("showInput")) ?? true;
  // Paging as the extension does it: `top` per page, continuation token in x-ms-continuation-token.
  const top = Number.parseInt(query.get("top") ?? "", 10);
  const tokenHeader = req.headers["x-ms-continuation-token"];
  const offset = Number.parseInt(typeof tokenHeader === "string" ? tokenHeader : "0", 10) || 0;
  const pageSize = top > 0 ? top : matching.length;
  const page = matching
    .slice(offset, offset + pageSize)
    .map((i) => toStatusPayload(i, { showInput, time: (t) => host.wallTime(t) }));
  const headers: Record<string, string> = {};
  if (offset + pageSize < matching.length) headers["x-ms-continuation-token"] = String(offset + pageSize);
  return { status: 200, body: page, headers };
}

function purgeInstance(host: DurableTestHost, instanceId: string): Reply {
  const instance = host.getStatus(instanceId);
  const result = host.purgeInstance(instanceId);
  if (result === "not-found") return { status: 404 };
  if (result === "not-terminal") {
    return {
      status: 412,
      body: `Only orchestrations in a terminal state can be purged, but the orchestration with instance ID ${instanceId} has status ${instance?.runtimeStatus ?? "unknown"}`,
    };
  }
  return { status: 200, body: { instancesDeleted: 1 } };
}

function purgeByFilter(host: DurableTestHost, url: URL): Reply {
  const query = parseQuery(url.searchParams, host);
  if (!query.createdTimeFrom) return { status: 400, body: "Please provide value for 'createdTimeFrom' parameter." };
  const instancesDeleted = host.purgeInstances({ ...query, createdTimeTo: query.createdTimeTo ?? host.now });
  return instancesDeleted === 0 ? { status: 404 } : { status: 200, body: { instancesDeleted } };
}

function raiseEvent(
  host: DurableTestHost,
  req: http.IncomingMessage,
  instanceId: string,
  eventName: string,
  body: string,
): Reply {
  const instance = host.getStatus(instanceId);
  if (!instance) return { status: 404 };
  if (isTerminalStatus(instance.runtimeStatus)) return { status: 410 };
  const mediaType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json") {
    return { status: 400, body: { Message: "Only application/json request content is supported" } };
  }
  let data: unknown = null;
  if (body.trim().length > 0) {
    try {
      data = JSON.parse(body) as unknown;
    } catch {
      return { status: 400, body: { Message: "Invalid JSON content" } };
    }
  }
  host.raiseEvent(instanceId, eventName, data);
  return { status: 202 };
}

function terminate(host: DurableTestHost, instanceId: string, reason: string): Reply {
  const instance = host.getStatus(instanceId);
  if (!instance) return { status: 404 };
  if (isTerminalStatus(instance.runtimeStatus)) return { status: 410 };
  host.terminate(instanceId, reason);
  return { status: 202 };
}

/**
 * runtimeStatus=a,b (unknown names ignored, like Enum.TryParse), createdTimeFrom/To (wall-clock times,
 * as the status shows them), instanceIdPrefix.
 */
function parseQuery(query: URLSearchParams, host: DurableTestHost): InstanceQuery {
  const statuses = query
    .getAll("runtimeStatus")
    .flatMap((v) => v.split(","))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const date = (name: string): Date | undefined => {
    const text = query.get(name);
    const parsed = text ? new Date(text) : undefined;
    return parsed && !Number.isNaN(parsed.getTime()) ? host.hostTime(parsed) : undefined;
  };
  return {
    runtimeStatus: statuses.length > 0 ? statuses : undefined,
    createdTimeFrom: date("createdTimeFrom"),
    createdTimeTo: date("createdTimeTo"),
    instanceIdPrefix: query.get("instanceIdPrefix") ?? undefined,
  };
}

function parseBoolean(text: string | null): boolean | undefined {
  if (text === null) return undefined;
  const lower = text.toLowerCase();
  return lower === "true" ? true : lower === "false" ? false : undefined;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("Request body too large."));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: http.ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  let payload = "";
  if (reply.body !== undefined) {
    // The extension answers with JSON even for plain messages (a JSON string then).
    payload = JSON.stringify(reply.body);
    headers["Content-Type"] = "application/json; charset=utf-8";
  }
  res.writeHead(reply.status, headers);
  res.end(payload);
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const giveUp = setTimeout(resolve, 1000);
    server.close(() => {
      clearTimeout(giveUp);
      resolve();
    });
    server.closeAllConnections();
  });
}
