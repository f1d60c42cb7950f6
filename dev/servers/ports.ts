// A free TCP port on 127.0.0.1 for a test server that cannot report the port it bound itself.
// The kernel picks it (listen on port 0); the port is free when this returns, so a caller that
// races with other processes should retry its start when the bind fails.
import * as net from "node:net";

export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("could not read the bound port"))));
    });
  });
}
