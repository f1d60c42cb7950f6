// Pebble (Let's Encrypt's ACME test CA, Debian package `pebble`) and its mock DNS server
// pebble-challtestsrv, started on loopback by PID within bounded times. What the Debian package
// needs that upstream's docs take for granted (../shared/research/local-components.md §1):
//   - no test certificates are shipped: the WFE's HTTPS certificate is made here with a test CA
//   - Pebble always gets -dnsserver (else it asks the system resolver, off loopback)
//   - challtestsrv gets -defaultIPv6 "" (else the VA dials [::1] first and validation fails)
// The VA sends HTTP-01 requests to `httpPort` on whatever the name resolves to (127.0.0.1 here): a
// test puts its "load balancer" there. Pebble's issuing root changes at every start (rootPem()).
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./ports";
import { findBinary, stopChild, waitFor } from "./process";
import { TestCa } from "./test-ca";

export interface PebbleOptions {
  /** the port the VA sends HTTP-01 validation requests to */
  httpPort: number;
  /** seconds of validity of issued certificates (default: Pebble's 5 years) */
  validitySeconds?: number;
  startTimeoutMs?: number;
}

export interface PebbleServer {
  directoryUrl: string;
  /** the CA of the WFE's HTTPS certificate: what the ACME client must trust */
  wfeCaPem: string;
  wfeCaPath: string;
  /** the root that signs issued certificates (fetched from the management API; new at every start) */
  rootPem(): Promise<string>;
  /** challtestsrv: TXT records Pebble's VA resolves */
  setTxt(fqdn: string, value: string): Promise<void>;
  clearTxt(fqdn: string): Promise<void>;
  /** everything Pebble printed since the first start */
  log(): string;
  /** ids of the orders Pebble created, in order */
  orders(): string[];
  /** serials (uppercase hex) of the certificates Pebble issued, in order */
  issued(): string[];
  /** stops the CA only (challtestsrv stays): the CA is down */
  stopCa(): Promise<void>;
  /** starts the CA again on the same ports */
  startCa(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPebble(options: PebbleOptions): Promise<PebbleServer> {
  const pebbleBin = findBinary("pebble");
  const challBin = findBinary("pebble-challtestsrv");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-pebble-"));
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const ca = TestCa.create(path.join(dir, "wfe"), "Pebble WFE test CA");
  const wfe = ca.issue({ commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
  const [acmePort, mgmtPort, tlsPort, dnsPort, challMgmtPort] = await Promise.all(
    Array.from({ length: 5 }, () => freePort()),
  );
  const configPath = path.join(dir, "pebble-config.json");
  fs.writeFileSync(
    configPath,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: wfe.certPath,
        privateKey: wfe.keyPath,
        httpPort: options.httpPort,
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  );
  const agent = new https.Agent({ ca: ca.certPem });
  let output = "";
  let chall: ChildProcess | undefined;
  let pebble: ChildProcess | undefined;

  const startChall = async () => {
    chall = spawn(
      challBin,
      [
        "-dns01",
        `127.0.0.1:${dnsPort}`,
        "-http01",
        "",
        "-https01",
        "",
        "-tlsalpn01",
        "",
        "-management",
        `127.0.0.1:${challMgmtPort}`,
        "-defaultIPv4",
        "127.0.0.1",
        "-defaultIPv6",
        "",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    chall.stdout?.on("data", () => undefined);
    chall.stderr?.on("data", () => undefined);
    await waitFor("pebble-challtestsrv", timeoutMs, async () => {
      if (chall!.exitCode !== null) throw new Error("pebble-challtestsrv exited");
      return (await challtest("/set-default-ipv4", { ip: "127.0.0.1" }).catch(() => 0)) === 200;
    });
  };
  const startCa = async () => {
    pebble = spawn(pebbleBin, ["-config", configPath, "-dnsserver", `127.0.0.1:${dnsPort}`], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        PEBBLE_VA_NOSLEEP: "1",
        PEBBLE_WFE_NONCEREJECT: "0",
        PEBBLE_AUTHZREUSE: "0",
      },
    });
    const child = pebble;
    child.stdout?.on("data", (d: Buffer) => (output += d.toString("utf8")));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString("utf8")));
    await waitFor("pebble", timeoutMs, async () => {
      if (child.exitCode !== null) throw new Error(`pebble exited:\n${output.slice(-2000)}`);
      return (await get(`https://127.0.0.1:${acmePort}/dir`).catch(() => ({ status: 0 }))).status === 200;
    });
  };
  const get = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.get(url, { agent, timeout: 5_000 }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
    });
  const challtest = async (route: string, body: unknown): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${challMgmtPort}${route}`, {
      method: "POST",
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    await res.arrayBuffer();
    return res.status;
  };

  try {
    await startChall();
    await startCa();
  } catch (e) {
    if (pebble) await stopChild(pebble, "SIGTERM", 5_000);
    if (chall) await stopChild(chall, "SIGTERM", 5_000);
    throw e;
  }

  return {
    directoryUrl: `https://127.0.0.1:${acmePort}/dir`,
    wfeCaPem: ca.certPem,
    wfeCaPath: ca.certPath,
    async rootPem() {
      const r = await get(`https://127.0.0.1:${mgmtPort}/roots/0`);
      if (r.status !== 200) throw new Error(`pebble /roots/0 answered ${r.status}`);
      return r.body;
    },
    async setTxt(fqdn, value) {
      const status = await challtest("/set-txt", { host: fqdn.endsWith(".") ? fqdn : `${fqdn}.`, value });
      if (status !== 200) throw new Error(`challtestsrv set-txt answered ${status}`);
    },
    async clearTxt(fqdn) {
      await challtest("/clear-txt", { host: fqdn.endsWith(".") ? fqdn : `${fqdn}.` });
    },
    log: () => output,
    orders: () => [...output.matchAll(/Added order "([^"]+)" to the db/g)].map((m) => m[1]),
    issued: () =>
      [...output.matchAll(/Issued certificate serial ([0-9a-f]+) for order/gi)].map((m) =>
        m[1].toUpperCase().replace(/^0+(?=.)/, ""),
      ),
    async stopCa() {
      if (pebble) await stopChild(pebble, "SIGTERM", 5_000);
    },
    startCa,
    async stop() {
      if (pebble) await stopChild(pebble, "SIGTERM", 5_000);
      if (chall) await stopChild(chall, "SIGTERM", 5_000);
      agent.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
