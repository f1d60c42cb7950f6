// An HTTP forwarder on 127.0.0.1 in front of one loopback server (Azurite's table endpoint, the
// durable host's RPC routes), so a test can decide the order in which concurrent requests reach it,
// without sleeps and without touching the code under test: a `hold` pauses the matching requests
// until the test releases them (e.g. "every claimant has read the stack before any write lands",
// "the winner's orchestration does not exist yet while the losers decide"). It also records every
// exchange it forwarded, in the order the upstream answered.
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface GateRequest {
  method: string;
  /** the path and query, URL-decoded */
  path: string;
  body: string;
}

export interface GateExchange extends GateRequest {
  status: number;
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
      const request: GateRequest = {
        method: req.method ?? "GET",
        path: safeDecode(req.url ?? "/"),
        body: body.toString("utf8"),
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
              exchanges.push({ ...request, status: answer.statusCode ?? 0 });
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
