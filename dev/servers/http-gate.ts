// An HTTP forwarder on 127.0.0.1 in front of one loopback server (Azurite's table endpoint, the
// durable host's RPC routes), so a test can decide the order in which concurrent requests reach it,
// without sleeps and without touching the code under test: a `hold` pauses the matching requests
// until the test releases them (e.g. "every claimant has read the stack before any write lands",
// "the winner's orchestration does not exist yet while the losers decide"). It also records every
// exchange it forwarded, in the order the upstream answered. An entity-group transaction (Table
// Storage's `$batch`, multipart/mixed with one changeset) is opened up: its operations are `parts`,
// each with the status the changeset gave it (the HTTP answer to a `$batch` is 202 whatever happened
// inside; a failed changeset applies nothing and answers the failing operation's status).
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface GateOperation {
  method: string;
  /** the path and query, URL-decoded */
  path: string;
  body: string;
}

export interface GateRequest extends GateOperation {
  /** the operations of an entity-group transaction (`$batch`), in order; absent for other requests */
  parts?: GateOperation[];
}

export interface GateExchange extends GateRequest {
  status: number;
  /** a `$batch`'s operations with the status each got: all 2xx, or none applied */
  parts?: (GateOperation & { status: number })[];
}

export interface Hold {
  /** requests held so far (released ones included) */
  readonly held: number;
  /** the requests held and not yet let through, in arrival order */
  readonly waiting: GateRequest[];
  /** resolves once `n` requests are held */
  whenHeld(n: number): Promise<void>;
  /** lets the held requests that match through (the hold stays); resolves once the upstream answered them */
  releaseWhere(match: (request: GateRequest) => boolean): Promise<void>;
  /** lets every held request through, and stops holding */
  release(): void;
}

export interface HttpGate {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** every exchange the upstream answered, in order */
  exchanges: GateExchange[];
  /** holds the next requests that match (at most `limit`, default unlimited) until released */
  hold(match: (request: GateRequest) => boolean, limit?: number): Hold;
  stop(): Promise<void>;
}

interface ActiveHold {
  match: (request: GateRequest) => boolean;
  limit: number;
  waiting: { request: GateRequest; go: () => void; answered: Promise<void> }[];
  count: number;
  watchers: { n: number; resolve: () => void }[];
  released: boolean;
}

export async function startHttpGate(upstream: string): Promise<HttpGate> {
  const target = new URL(upstream);
  if (target.hostname !== "127.0.0.1") throw new Error(`the gate forwards to 127.0.0.1 only, not ${target.hostname}`);
  const holds: ActiveHold[] = [];
  const exchanges: GateExchange[] = [];
  const sockets = new Set<import("node:net").Socket>();

  /** Resolves when the request may go on; `answered` is called once the upstream answered it. */
  const gateFor = (request: GateRequest, answered: Promise<void>): Promise<void> => {
    const hold = holds.find((h) => !h.released && h.count < h.limit && h.match(request));
    if (!hold) return Promise.resolve();
    hold.count++;
    const passed = new Promise<void>((go) => hold.waiting.push({ request, go, answered }));
    for (const w of hold.watchers.filter((x) => hold.count >= x.n)) w.resolve();
    hold.watchers = hold.watchers.filter((x) => hold.count < x.n);
    return passed;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const text = body.toString("utf8");
      const operations = batchOperations(req.headers["content-type"], text);
      const request: GateRequest = {
        method: req.method ?? "GET",
        path: safeDecode(req.url ?? "/"),
        body: text,
        ...(operations ? { parts: operations } : {}),
      };
      let answered!: () => void;
      const done = new Promise<void>((resolve) => (answered = resolve));
      void gateFor(request, done).then(() => {
        const headers = { ...req.headers, host: target.host };
        const forward = http.request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
          (answer) => {
            const parts: Buffer[] = [];
            answer.on("data", (c: Buffer) => parts.push(c));
            answer.on("end", () => {
              const status = answer.statusCode ?? 0;
              const answeredParts = request.parts
                ? withStatuses(
                    request.parts,
                    status,
                    answer.headers["content-type"],
                    Buffer.concat(parts).toString("utf8"),
                  )
                : undefined;
              const { method, path, body: sent } = request;
              exchanges.push({ method, path, body: sent, status, ...(answeredParts ? { parts: answeredParts } : {}) });
              answered();
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              res.end(Buffer.concat(parts));
            });
          },
        );
        forward.on("error", () => {
          answered();
          res.writeHead(502);
          res.end();
        });
        forward.end(body);
      });
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    hold(match, limit = Infinity) {
      const active: ActiveHold = { match, limit, waiting: [], count: 0, watchers: [], released: false };
      holds.push(active);
      return {
        get held() {
          return active.count;
        },
        get waiting() {
          return active.waiting.map((w) => w.request);
        },
        whenHeld: (n) =>
          active.count >= n ? Promise.resolve() : new Promise<void>((resolve) => active.watchers.push({ n, resolve })),
        releaseWhere: async (release) => {
          const chosen = active.waiting.filter((w) => release(w.request));
          active.waiting = active.waiting.filter((w) => !chosen.includes(w));
          for (const w of chosen) w.go();
          await Promise.all(chosen.map((w) => w.answered));
        },
        release: () => {
          active.released = true;
          const i = holds.indexOf(active);
          if (i >= 0) holds.splice(i, 1);
          for (const w of active.waiting.splice(0)) w.go();
        },
      };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const h of holds.splice(0)) for (const w of h.waiting.splice(0)) w.go();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** The operations of a `$batch` request (multipart/mixed: one changeset of application/http parts). */
function batchOperations(contentType: string | undefined, body: string): GateOperation[] | undefined {
  const parts = multipartParts(contentType, body);
  if (!parts) return undefined;
  const operations: GateOperation[] = [];
  for (const part of parts) {
    const nested = multipartParts(part.headers["content-type"], part.content);
    for (const inner of nested ?? [part]) {
      if (!/^application\/http/i.test(inner.headers["content-type"] ?? "")) continue;
      const { start, content } = httpMessage(inner.content);
      const [method = "", url = ""] = start.split(" ");
      let path = url;
      try {
        const u = new URL(url);
        path = u.pathname + u.search;
      } catch {
        // a relative target
      }
      operations.push({ method, path: safeDecode(path), body: content });
    }
  }
  return operations;
}

/**
 * Each operation's status from a `$batch` answer: the changeset's responses, in order, when they all
 * succeeded; otherwise the changeset applied nothing, and every operation gets the failing status.
 */
function withStatuses(
  operations: GateOperation[],
  httpStatus: number,
  contentType: string | undefined,
  body: string,
): (GateOperation & { status: number })[] {
  const statuses: number[] = [];
  for (const part of multipartParts(contentType, body) ?? []) {
    for (const inner of multipartParts(part.headers["content-type"], part.content) ?? [part]) {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(httpMessage(inner.content).start)?.[1]);
      if (Number.isInteger(status)) statuses.push(status);
    }
  }
  const ok = httpStatus < 300 && statuses.length === operations.length && statuses.every((s) => s < 300);
  const failed = statuses.find((s) => s >= 300) ?? (httpStatus >= 300 ? httpStatus : 500);
  return operations.map((o, i) => ({ ...o, status: ok ? statuses[i] : failed }));
}

interface MimePart {
  headers: Record<string, string>;
  content: string;
}

/** The parts of a multipart body (RFC 2046), or undefined when the content type is not multipart. */
function multipartParts(contentType: string | undefined, body: string): MimePart[] | undefined {
  const boundary = /^multipart\/mixed;.*boundary=("?)([^";]+)\1/i.exec(contentType ?? "")?.[2];
  if (!boundary) return undefined;
  const sections = body.split(`--${boundary}`);
  // before the first delimiter is the preamble; after the closing "--" the epilogue
  return sections
    .slice(1)
    .filter((s) => !s.startsWith("--"))
    .map((section) => {
      const { headers, content } = mimeEntity(section.replace(/^\r?\n/, ""));
      return { headers, content: content.replace(/\r?\n$/, "") };
    });
}

function mimeEntity(text: string): { headers: Record<string, string>; content: string } {
  const end = /\r?\n\r?\n/.exec(text);
  const head = end ? text.slice(0, end.index) : text;
  const content = end ? text.slice(end.index + end[0].length) : "";
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, content };
}

/** An embedded HTTP message (application/http): its start line and its body. */
function httpMessage(text: string): { start: string; content: string } {
  const newline = /\r?\n/.exec(text);
  const start = newline ? text.slice(0, newline.index) : text;
  const rest = newline ? text.slice(newline.index + newline[0].length) : "";
  // the rest is headers, a blank line and the body; with no headers the blank line comes at once
  const { content } =
    rest.startsWith("\r\n") || rest.startsWith("\n") ? { content: rest.replace(/^\r?\n/, "") } : mimeEntity(rest);
  return { start: start.trim(), content };
}
