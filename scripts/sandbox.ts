// `npm run sandbox`: the app's real HTTP routes on http://127.0.0.1:7071/api (the port `func start`
// uses), with the durable test host as the engine (real time, timers sped up), the Azure emulator as
// Azure and Azurite as storage (scripts/sandbox-env.ts). Prints one JSON line {"api", "emulator",
// "ca", "nodes", "acmeDirectoryUrl"?} and a curl example; stops cleanly on SIGTERM or Ctrl-C.
// `--nodes stand-in` (default): web nodes answer through a stand-in agent that reports healthy.
// `--nodes real`: the real node agent with NGINX per VM, MariaDB and a local Pebble as the ACME CA.
import { startSandbox, type NodesMode } from "./sandbox-env";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const nodes = (arg("nodes") ?? "stand-in") as NodesMode;
  if (nodes !== "stand-in" && nodes !== "real") throw new Error("--nodes takes stand-in or real");
  const sandbox = await startSandbox({
    nodes,
    port: Number(arg("port") ?? "7071"),
    timeScale: Number(arg("time-scale") ?? "30"),
    latencyScale: Number(arg("latency") ?? "0"),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const acme = sandbox.real?.acmeDirectoryUrl;
  process.stdout.write(
    `${JSON.stringify({
      api: sandbox.api,
      emulator: sandbox.emulatorUrl,
      ca: sandbox.caPath,
      nodes,
      ...(acme ? { acmeDirectoryUrl: acme } : {}),
    })}\n`,
  );
  const spec = {
    subscriptionId: "00000000-0000-0000-0000-000000000001",
    resourceGroup: "rg-demo",
    location: "westeurope",
    // real nodes: certificates come from the local Pebble, never from Let's Encrypt
    ...(acme ? { tls: { acme: { directoryUrl: acme, contact: "ops@example.com" } } } : {}),
  };
  process.stdout.write(
    [
      "",
      "# deploy a stack:",
      `curl -si -X PUT ${sandbox.api}/stacks/demo -H 'content-type: application/json' \\`,
      `  -d '${JSON.stringify(spec)}'`,
      "# then follow the Location header, or:",
      `curl -s ${sandbox.api}/stacks/demo`,
      "",
    ].join("\n"),
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await sandbox.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
