// A layer-4 load balancer on 127.0.0.1, like Azure's Standard Load Balancer in front of the web
// nodes: each new TCP connection goes to the next backend (round robin), bytes are piped both ways.
// HTTP-01 validation requests from the CA reach "any node" through it, so a token that is not on
// every node fails validation, as it would in Azure.
import * as net from "node:net";

export interface TcpBalancer {
  port: number;
  /** backends (loopback ports) by name; replace to change the pool */
  backends: Map<string, number>;
  /** connections each backend received */
  hits(): Record<string, number>;
  stop(): Promise<void>;
}

export async function startTcpBalancer(port: number, backends: Map<string, number> = new Map()): Promise<TcpBalancer> {
  const hits = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  let next = 0;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    const pool = [...backends.entries()];
    if (pool.length === 0) {
      client.destroy();
      return;
    }
    const [name, backendPort] = pool[next++ % pool.length];
    hits.set(name, (hits.get(name) ?? 0) + 1);
    const upstream = net.connect({ host: "127.0.0.1", port: backendPort });
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port,
    backends,
    hits: () => Object.fromEntries(hits),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
