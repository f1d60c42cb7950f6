// `npm run sandbox`: the app's real HTTP routes on http://127.0.0.1:7071/api (the port `func start`
// uses), with the durable test host as the engine (real time), the Azure emulator as Azure and
// Azurite as storage. Prints one JSON line {"api", "emulator", "ca"} and a curl example; stops
// cleanly on SIGTERM or Ctrl-C. Web nodes answer through a stand-in agent that reports healthy
// (no VM boots here); everything else is the app's own code path.
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULT_LATENCY } from "../emulator/arm/latency";
import { standInAgentRoot } from "../test/support/stand-in-agent";
import { startJumpgateEnv } from "../test/support/jumpgate-env";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const port = Number(arg("port") ?? "7071");
  const latencyScale = Number(arg("latency") ?? "0");
  const root = standInAgentRoot();
  const env = await startJumpgateEnv({
    http: { port },
    realTime: { timeScale: Number(arg("time-scale") ?? "30") },
    emulator: {
      lro: { mode: latencyScale > 0 ? "async" : "instant" },
      latency: { scale: latencyScale, types: DEFAULT_LATENCY },
      runCommand: { env: { JUMPGATE_NODE_ROOT: root } },
    },
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const caPath = path.join(root, "emulator-ca.pem");
  fs.writeFileSync(caPath, env.emulator.caPem);
  process.stdout.write(`${JSON.stringify({ api: env.api, emulator: env.emulator.url, ca: caPath })}\n`);
  process.stdout.write(
    [
      "",
      "# deploy a stack:",
      `curl -si -X PUT ${env.api}/stacks/demo -H 'content-type: application/json' \\`,
      `  -d '{"subscriptionId":"00000000-0000-0000-0000-000000000001","resourceGroup":"rg-demo","location":"westeurope"}'`,
      "# then follow the Location header, or:",
      `curl -s ${env.api}/stacks/demo`,
      "",
    ].join("\n"),
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await env.stop();
    fs.rmSync(root, { recursive: true, force: true });
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
