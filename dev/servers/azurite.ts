// Starts a throwaway Azurite (the pinned devDependency, run directly with this node, no shell) on
// free 127.0.0.1 ports, in memory, without telemetry, and stops it by its PID. Optionally over HTTPS
// with a test CA's certificate, accepting OAuth bearer tokens (`--oauth basic`, which needs HTTPS).
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./ports";

/** Azurite's fixed development account; its key is public (Microsoft documents it), not a secret. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
const AZURITE_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteServer {
  /** an account connection string with all three endpoints */
  connectionString: string;
  /** e.g. http://127.0.0.1:41234/devstoreaccount1 (https:// with the `https` option) */
  tableEndpoint: string;
  blobEndpoint: string;
  queueEndpoint: string;
  pid: number;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; safe to call twice */
  stop(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** longest wait for the table port to answer (default 20 s) */
  startTimeoutMs?: number;
  /** longest wait after SIGTERM before SIGKILL (default 5 s) */
  stopTimeoutMs?: number;
  /** serve every endpoint over HTTPS with this certificate (PEM files; it must name 127.0.0.1) */
  https?: {
    certPath: string;
    keyPath: string;
    /** the CA that issued it, trusted by the readiness probe */ caPem: string;
  };
  /**
   * `basic`: also accept Microsoft Entra bearer tokens, checking only their lifetime, issuer and
   * audience, not their signature (Azurite's `--oauth basic`); needs `https`
   */
  oauth?: "basic";
}

/** Starts that lose a port race to another process are retried on fresh ports. */
const MAX_START_ATTEMPTS = 3;

export async function startAzurite(options: StartAzuriteOptions = {}): Promise<AzuriteServer> {
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= MAX_START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(options);
    } catch (e) {
      lastError = e as Error;
      if (!(e instanceof PortTakenError)) throw e;
    }
  }
  throw lastError ?? new Error("Azurite did not start");
}

class PortTakenError extends Error {}

async function startOnce(options: StartAzuriteOptions): Promise<AzuriteServer> {
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5_000;
  if (options.oauth && !options.https) throw new Error("Azurite accepts OAuth tokens only over HTTPS: pass `https`");
  const [blobPort, queuePort, tablePort] = [await freePort(), await freePort(), await freePort()];
  const entry = path.join(path.dirname(require.resolve("azurite/package.json")), "dist", "src", "azurite.js");
  const args = [
    entry,
    "--silent",
    "--disableTelemetry", // otherwise it reports to Application Insights: non-loopback traffic
    "--inMemoryPersistence", // otherwise it writes its database files into the working directory
    "--skipApiVersionCheck",
    "--loose",
    ...["--blobHost", "127.0.0.1", "--blobPort", String(blobPort)],
    ...["--queueHost", "127.0.0.1", "--queuePort", String(queuePort)],
    ...["--tableHost", "127.0.0.1", "--tablePort", String(tablePort)],
    ...(options.https ? ["--cert", options.https.certPath, "--key", options.https.keyPath] : []),
    ...(options.oauth ? ["--oauth", options.oauth] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: os.tmpdir(), stdio: ["ignore", "pipe", "pipe"], shell: false });
  const output = new OutputTail();
  child.stdout?.on("data", (chunk: Buffer) => output.add(chunk));
  child.stderr?.on("data", (chunk: Buffer) => output.add(chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  // a test run that dies without calling stop() must not leave Azurite behind
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener("exit", killOnExit);
    await stopChild(child, exited, stopTimeoutMs);
  };

  const protocol = options.https ? "https" : "http";
  const account = (port: number) => `${protocol}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  try {
    await waitUntilAnswering(tablePort, options.https?.caPem, startTimeoutMs, exited, output);
  } catch (e) {
    await stop();
    throw e;
  }
  if (child.pid === undefined) throw new Error("Azurite started without a PID");
  return {
    connectionString:
      `DefaultEndpointsProtocol=${protocol};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_ACCOUNT_KEY};` +
      `BlobEndpoint=${account(blobPort)};QueueEndpoint=${account(queuePort)};TableEndpoint=${account(tablePort)};`,
    tableEndpoint: account(tablePort),
    blobEndpoint: account(blobPort),
    queueEndpoint: account(queuePort),
    pid: child.pid,
    stop,
  };
}

/** Polls the table port with HTTP until anything answers, Azurite exits, or time runs out. */
async function waitUntilAnswering(
  port: number,
  caPem: string | undefined,
  timeoutMs: number,
  exited: Promise<number | null>,
  output: OutputTail,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      const text = output.text();
      if (/EADDRINUSE/.test(text)) throw new PortTakenError(`Azurite: a port was taken meanwhile: ${text}`);
      throw new Error(`Azurite exited with code ${exitCode} before its table port answered:\n${text}`);
    }
    if (await answers(port, caPem)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Azurite's table port ${port} did not answer within ${timeoutMs} ms:\n${output.text()}`);
}

/** With `caPem` over HTTPS, verifying Azurite's certificate against that CA. */
function answers(port: number, caPem: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const options = { host: "127.0.0.1", port, path: `/${AZURITE_ACCOUNT}/Tables`, timeout: 1000 };
    const onResponse = (res: http.IncomingMessage) => {
      res.resume();
      resolve(true);
    };
    const request = caPem ? https.get({ ...options, ca: caPem }, onResponse) : http.get(options, onResponse);
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(false));
  });
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
  const outcome = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    child.kill("SIGKILL");
    await exited;
  }
}

/** The last few KiB of Azurite's output, for error messages. */
class OutputTail {
  private buffer = "";
  add(chunk: Buffer): void {
    this.buffer = (this.buffer + chunk.toString("utf8")).slice(-4096);
  }
  text(): string {
    return this.buffer.trim();
  }
}
