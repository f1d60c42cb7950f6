// The sandbox, in-process: the app's real HTTP routes on loopback with the durable test host as the
// engine (real time, timers sped up), the Azure emulator as Azure and Azurite as storage. Web nodes:
//   - "stand-in" (default): Run Command answers through a stand-in agent that always reports
//     healthy; needs nothing but Node.js.
//   - "real": each web VM's Run Command runs the REAL node agent (infra/node/jumpgate-node) in a
//     sandbox built from that VM's own custom data, with a real NGINX and stand-ins for Tomcat,
//     guacd and systemd (dev/real-nodes.ts). The MySQL flexible server is a real MariaDB over
//     TLS that takes the admin password ARM sets; a local Pebble is the ACME CA (its WFE CA trusted by
//     the app, its roots by the agents), and a TCP load balancer on Pebble's HTTP-01 port spreads the
//     CA's requests over the nodes' port-80 listeners. Each node's probe timer runs, the load
//     balancer probes each node and feeds the emulator's DipAvailability, and VM power actions reach
//     the node (a restart reboots its services). Needs the Debian packages nginx, mariadb-server,
//     mariadb-client and pebble (scripts/debian-packages.json; npm test installs them as root). A stack's spec must name `acmeDirectoryUrl` as its
//     `tls.acme.directoryUrl`: the default directory is Let's Encrypt, on the internet.
// Used by `npm run sandbox` (scripts/sandbox.ts) and `npm run demo` (scripts/demo.ts).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_LATENCY } from "../emulator/arm/latency";
import { DB_ADMIN_LOGIN } from "../shared/node/constants";
import { startJumpgateEnv, type JumpgateEnv } from "../dev/jumpgate-env";
import { RealNodes } from "../dev/real-nodes";
import { startMariaDb, type MariaDb } from "../dev/servers/mariadb";
import { startPebble, type PebbleServer } from "../dev/servers/pebble";
import { freePort } from "../dev/servers/ports";
import { waitFor } from "../dev/servers/process";
import { startTcpBalancer, type TcpBalancer } from "../dev/servers/tcp-balancer";
import { standInAgentRoot } from "../dev/stand-in-agent";

export type NodesMode = "stand-in" | "real";

export interface SandboxOptions {
  nodes?: NodesMode;
  /** port of the HTTP API (0: any free port) */
  port?: number;
  /** durable timers run this many times faster than the wall clock */
  timeScale?: number;
  /** realistic per-type ARM latencies times this (0: none) */
  latencyScale?: number;
  log?: (line: string) => void;
}

export interface RealWorld {
  nodes: RealNodes;
  db: MariaDb;
  pebble: PebbleServer;
  balancer: TcpBalancer;
  /** the ACME directory every stack's spec must name (Pebble on loopback) */
  acmeDirectoryUrl: string;
}

export interface Sandbox {
  /** e.g. http://127.0.0.1:7071/api */
  api: string;
  emulatorUrl: string;
  /** the emulator's CA (PEM file) */
  caPath: string;
  mode: NodesMode;
  env: JumpgateEnv;
  /** what runs for real in "real" mode */
  real?: RealWorld;
  /**
   * A fault inside a web VM (real nodes only): Guacamole stops answering (HTTP 503) while Tomcat
   * keeps running, so systemd restarts nothing. Resolves once the load balancer's probe marks the
   * node down, as Azure Monitor's DipAvailability then shows it.
   */
  breakNode(vm: string, timeoutMs?: number): Promise<{ backendIp: string }>;
  stop(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const mode = options.nodes ?? "stand-in";
  const timeScale = options.timeScale ?? 30;
  const latencyScale = options.latencyScale ?? 0;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-sandbox-"));
  const cleanups: (() => Promise<void> | void)[] = [() => fs.rmSync(work, { recursive: true, force: true })];
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        options.log?.(`sandbox: stopping: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };
  try {
    let real: Omit<RealWorld, "nodes"> | undefined;
    let runCommandEnv: Record<string, string> = {};
    if (mode === "real") {
      const balancer = await startTcpBalancer(await freePort());
      cleanups.push(() => balancer.stop());
      const pebble = await startPebble({ httpPort: balancer.port });
      cleanups.push(() => pebble.stop());
      const db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword: `bootstrap-${Date.now()}` });
      cleanups.push(() => db.stop());
      real = { db, pebble, balancer, acmeDirectoryUrl: pebble.directoryUrl };
    } else {
      const root = standInAgentRoot();
      cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
      runCommandEnv = { JUMPGATE_NODE_ROOT: root };
    }
    const env = await startJumpgateEnv({
      http: { port: options.port ?? 0 },
      realTime: { timeScale },
      emulator: {
        lro: { mode: latencyScale > 0 ? "async" : "instant" },
        latency: { scale: latencyScale, types: DEFAULT_LATENCY },
        runCommand: { root: path.join(work, "run-command"), timeoutMs: 90_000, env: runCommandEnv },
      },
      ...(real ? { acme: { transport: { caPem: real.pebble.wfeCaPem } } } : {}),
      log: options.log,
    });
    cleanups.push(() => env.stop());
    const caPath = path.join(work, "emulator-ca.pem");
    fs.writeFileSync(caPath, env.emulator.caPem);

    let world: RealWorld | undefined;
    if (real) {
      const certRootsFile = path.join(work, "pebble-roots.pem");
      fs.writeFileSync(certRootsFile, await real.pebble.rootPem());
      // a VM's probe timer runs every 5 s and Azure probes every 5 s: sped up with the clock, within reason
      const every = Math.max(250, Math.round(5_000 / timeScale));
      const nodes = RealNodes.wire(env.emulator, {
        db: { server: real.db, adminPassword: real.db.adminPassword },
        certRootsFile,
        balancer: real.balancer,
        guest: { probeTimerMs: every, lbProbeMs: every },
      });
      // stopped before the emulator (its listeners) and the servers the agents talk to
      cleanups.push(() => nodes.stop());
      world = { ...real, nodes };
    }

    return {
      api: env.api!,
      emulatorUrl: env.emulator.url,
      caPath,
      mode,
      env,
      ...(world ? { real: world } : {}),
      async breakNode(vm, timeoutMs = 30_000) {
        const sandbox = world?.nodes.sandboxes.get(vm);
        if (!sandbox) throw new Error(`no real node named ${vm} (start the sandbox with real nodes)`);
        sandbox.tomcat.fail();
        await waitFor(`the load balancer's probe to mark ${vm} down`, timeoutMs, async () => {
          await new Promise((r) => setTimeout(r, 100));
          return world!.nodes.probeValue(vm) === 0;
        });
        return { backendIp: privateIpOf(env, vm) };
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** The private IP of a VM's primary NIC: the backend address the load balancer's metric names. */
function privateIpOf(env: JumpgateEnv, vmName: string): string {
  const { store } = env.emulator;
  const vm = store.all().find((d) => d.type === "Microsoft.Compute/virtualMachines" && d.name === vmName);
  const nics = (vm?.properties.networkProfile as { networkInterfaces?: { id: string }[] } | undefined)
    ?.networkInterfaces;
  const nic = nics?.[0] ? store.get(nics[0].id) : undefined;
  const ip = (nic?.properties.ipConfigurations as { properties?: { privateIPAddress?: string } }[] | undefined)?.[0]
    ?.properties?.privateIPAddress;
  if (!ip) throw new Error(`${vmName} has no private IP`);
  return ip;
}
