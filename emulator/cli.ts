// Starts the Azure emulator for manual use or for a sandbox in another process:
//   node dist/emulator/cli.js [--port N] [--lro instant|async|manual] [--latency-scale X]
// prints one JSON line {"url": ..., "ca": <path to the CA PEM>} and serves until killed.
// It accepts any bearer token. Admin API: <url>/_emulator/...
import { Emulator } from "./arm/emulator";
import type { LroMode } from "./arm/operations";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const port = Number(arg("port") ?? "0");
  const lro = (arg("lro") ?? "instant") as LroMode;
  if (!["instant", "async", "manual"].includes(lro)) throw new Error("--lro must be instant, async or manual");
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error("--port must be a port number");
  const emulator = new Emulator({ port, lro: { mode: lro } });
  if (arg("latency-scale")) emulator.latency.scale = Number(arg("latency-scale"));
  const url = await emulator.start();
  console.log(JSON.stringify({ url, ca: emulator.caPath }));
  const stop = () => {
    void emulator.stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
