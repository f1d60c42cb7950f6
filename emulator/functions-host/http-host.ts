// Serves the app's captured HTTP functions on loopback the way the Functions host does: route
// templates under /api, method matching, a real HttpRequest and InvocationContext (with the
// durable client input wired to the durable test host), and HttpResponseInit written back.
// Keys are not checked, as with `func start`.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpRequest, HttpResponse, type HttpResponseInit, InvocationContext } from "@azure/functions";
import type { ClientInputData } from "../durable/client/client-input-data";
import { durableClientContextFor } from "../durable/client/client-context";
import type { HttpFunctionRegistration } from "../durable/registry";

export interface HttpHostOptions {
  port?: number;
  routePrefix?: string;
  /** durable client data (from startDurableRpcServer) for functions with a durableClient input */
  clientData?: ClientInputData;
  log?: (line: string) => void;
  /** the host's own request size limit (100 MB on Azure); the app enforces its own, smaller one */
  maxRequestBytes?: number;
}

interface CompiledRoute {
  fn: HttpFunctionRegistration;
  pattern: RegExp;
  params: string[];
}

export interface HttpHost {
  url: string;
  close(): Promise<void>;
}

export function compileRoute(template: string): { pattern: RegExp; params: string[] } {
  const params: string[] = [];
  const source = template
    .split("/")
    .map((segment) => {
      const m = /^\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?(\?)?\}$/.exec(segment);
      if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      params.push(m[1]);
      return m[2] ? "?([^/]*)" : "([^/]+)";
    })
    .join("/");
  return { pattern: new RegExp(`^${source}/?$`, "i"), params };
}

export async function startHttpHost(
  functions: HttpFunctionRegistration[],
  options: HttpHostOptions = {},
): Promise<HttpHost> {
  const prefix = `/${(options.routePrefix ?? "api").replace(/^\/|\/$/g, "")}`;
  const routes: CompiledRoute[] = functions.map((fn) => ({ fn, ...compileRoute(fn.route) }));
  const log = options.log ?? (() => undefined);
  const limit = options.maxRequestBytes ?? 100 * 1024 * 1024;
  let invocation = 0;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      log(`host error: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("host error");
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
    if (!url.pathname.startsWith(`${prefix}/`)) return notFound(res);
    const path = decodeURIComponent(url.pathname.slice(prefix.length + 1));
    const matches = routes
      .map((r) => ({ r, m: r.pattern.exec(path) }))
      .filter((x): x is { r: CompiledRoute; m: RegExpExecArray } => x.m !== null);
    if (matches.length === 0) return notFound(res);
    const method = (req.method ?? "GET").toUpperCase();
    const match = matches.find((x) => x.r.fn.methods.map((m) => m.toUpperCase()).includes(method));
    if (!match) {
      res.writeHead(405, { allow: [...new Set(matches.flatMap((x) => x.r.fn.methods))].join(", ") });
      return void res.end();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        res.writeHead(413);
        return void res.end();
      }
      chunks.push(chunk as Buffer);
    }
    const params = Object.fromEntries(match.r.params.map((p, i) => [p, match.m[i + 1] ?? ""]));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    const request = new HttpRequest({
      method,
      url: url.toString(),
      headers,
      query: Object.fromEntries(url.searchParams),
      params,
      body: chunks.length ? { bytes: Buffer.concat(chunks) } : undefined,
    });
    const fn = match.r.fn;
    const invocationId = `${fn.name}-${++invocation}`;
    const logHandler = (level: string, ...args: unknown[]) =>
      log(`[${fn.name}] ${level}: ${args.map(String).join(" ")}`);
    const context =
      fn.usesDurableClient && options.clientData
        ? durableClientContextFor(fn, options.clientData, { invocationId, logHandler })
        : new InvocationContext({ functionName: fn.name, invocationId, logHandler });
    const started = Date.now();
    const result = (await fn.handler(request, context)) as HttpResponseInit | HttpResponse | undefined;
    await writeResponse(res, result);
    log(`${method} ${url.pathname} -> ${res.statusCode} (${Date.now() - started} ms)`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function notFound(res: http.ServerResponse): void {
  res.writeHead(404);
  res.end();
}

async function writeResponse(
  res: http.ServerResponse,
  result: HttpResponseInit | HttpResponse | undefined,
): Promise<void> {
  if (!result) {
    res.writeHead(204);
    return void res.end();
  }
  if (result instanceof HttpResponse) {
    const headers: Record<string, string> = {};
    result.headers.forEach((v, k) => (headers[k] = v));
    res.writeHead(result.status, headers);
    return void res.end(Buffer.from(await result.arrayBuffer()));
  }
  const headers: Record<string, string> = {};
  const given = result.headers;
  if (given) {
    const entries =
      given instanceof Headers ? [...given.entries()] : Array.isArray(given) ? given : Object.entries(given);
    for (const [k, v] of entries) headers[k.toLowerCase()] = String(v);
  }
  let body: Buffer | undefined;
  if (result.jsonBody !== undefined) {
    body = Buffer.from(JSON.stringify(result.jsonBody));
    headers["content-type"] ??= "application/json";
  } else if (typeof result.body === "string") {
    body = Buffer.from(result.body);
    headers["content-type"] ??= "text/plain; charset=utf-8";
  } else if (result.body instanceof Uint8Array) {
    body = Buffer.from(result.body);
  }
  res.writeHead(result.status ?? 200, headers);
  res.end(body);
}
