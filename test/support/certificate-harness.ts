// What the certificate tests share: the whole app on loopback (emulator, Azurite, the durable test
// host on a virtual clock that starts at the real time, since Pebble's certificates carry real
// dates), a real Pebble + pebble-challtestsrv, and a stack whose Azure resources are applied through
// the app's engine (no deploy orchestration: no database is needed to serve certificates). Every web
// VM's Run Command runs the REAL node agent in a sandbox built from that VM's custom data, with a
// real NGINX; a TCP load balancer on Pebble's HTTP-01 port spreads the CA's validation requests over
// the nodes' port-80 listeners, as Azure's load balancer would. The emulator's public DNS record
// sets feed challtestsrv, so DNS-01 goes through Azure DNS as the app writes it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { buildGraphActivity } from "../../functions/activities/resources";
import { topologicalOrder } from "../../shared/graph/order";
import { stackNames } from "../../shared/graph/names";
import { runAgentCommand } from "../../shared/node/run-agent";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv, type JumpgateEnvOptions } from "../../dev/jumpgate-env";
import type { NodeSandbox } from "../../dev/node-sandbox";
import { RealNodes } from "../../dev/real-nodes";
import { startPebble, type PebbleServer } from "../../dev/servers/pebble";
import { freePort } from "../../dev/servers/ports";
import { startTcpBalancer, type TcpBalancer } from "../../dev/servers/tcp-balancer";

export interface CertificateHarnessOptions {
  /** validity of Pebble's certificates, in seconds (default: Pebble's 5 years) */
  validitySeconds?: number;
  env?: Omit<JumpgateEnvOptions, "emulator" | "acme">;
}

export class CertificateHarness {
  readonly nodes: RealNodes;
  /** TXT record changes the emulator passed to challtestsrv */
  readonly dnsChanges: { op: string; fqdn: string; values: string[] }[] = [];
  /** every agent stdout/stderr the tests saw directly (for the secret scan) */
  readonly seen: string[] = [];

  private constructor(
    readonly env: JumpgateEnv,
    readonly pebble: PebbleServer,
    readonly balancer: TcpBalancer,
    readonly work: string,
    /** Pebble's roots (every start makes a new one), the agents' trust anchors for install-cert */
    readonly rootsFile: string,
  ) {
    // no database here: serving certificates does not need one
    this.nodes = RealNodes.wire(env.emulator, { certRootsFile: rootsFile, balancer });
  }

  /** each web VM's sandbox, by VM name */
  get sandboxes(): Map<string, NodeSandbox> {
    return this.nodes.sandboxes;
  }

  static async start(options: CertificateHarnessOptions = {}): Promise<CertificateHarness> {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-certs-"));
    const httpPort = await freePort();
    const balancer = await startTcpBalancer(httpPort);
    let pebble: PebbleServer | undefined;
    let env: JumpgateEnv | undefined;
    try {
      pebble = await startPebble({ httpPort, validitySeconds: options.validitySeconds });
      env = await startJumpgateEnv({
        ...options.env,
        emulator: { runCommand: { root: path.join(work, "run-command"), timeoutMs: 60_000 } },
        acme: { transport: { caPem: pebble.wfeCaPem } },
        durable: { startTime: new Date(), ...options.env?.durable },
      });
      const rootsFile = path.join(work, "pebble-roots.pem");
      fs.writeFileSync(rootsFile, await pebble.rootPem());
      const harness = new CertificateHarness(env, pebble, balancer, work, rootsFile);
      env.emulator.dnsRecordSetHook = async (change) => {
        if (change.recordType !== "TXT") return;
        const records = (change.properties?.TXTRecords ?? change.properties?.txtRecords ?? []) as {
          value?: string[];
        }[];
        const values = records.flatMap((r) => r.value ?? []);
        harness.dnsChanges.push({ op: change.op, fqdn: change.fqdn, values });
        if (change.op === "delete") await pebble!.clearTxt(change.fqdn);
        else for (const v of values) await pebble!.setTxt(change.fqdn, v);
      };
      return harness;
    } catch (e) {
      await env?.stop();
      await pebble?.stop();
      await balancer.stop();
      fs.rmSync(work, { recursive: true, force: true });
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.nodes.stop();
    await this.env.stop();
    await this.pebble.stop();
    await this.balancer.stop();
    fs.rmSync(this.work, { recursive: true, force: true });
  }

  /** Pebble restarted: its new root joins the agents' trust anchors. */
  async restartCa(): Promise<void> {
    await this.pebble.startCa();
    fs.appendFileSync(this.rootsFile, await this.pebble.rootPem());
  }

  spec(name: string, tls: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): StackSpec {
    const r = validateStackSpec({
      name,
      subscriptionId: "00000000-0000-0000-0000-0000000ce271",
      resourceGroup: `rg-${name}`,
      location: "westeurope",
      fleet: { mode: "availabilitySet", size: 2 },
      tls: { acme: { directoryUrl: this.pebble.directoryUrl, contact: "ops@example.com" }, ...tls },
      ...extra,
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.spec;
  }

  /**
   * Registers the stack and applies its resources through the app's engine, in dependency order
   * (`only`: just these graph keys and what they depend on).
   */
  async provision(spec: StackSpec, only?: string[]): Promise<void> {
    const put = await this.env.registry.putDesired(spec.name, spec);
    assert.ok(put.ok);
    const graph = await buildGraphActivity({ spec });
    let nodes = graph.nodes;
    if (only) {
      const wanted = new Set<string>();
      const add = (key: string) => {
        if (wanted.has(key)) return;
        wanted.add(key);
        for (const d of graph.nodes.find((n) => n.key === key)?.dependsOn ?? []) add(d);
      };
      only.forEach(add);
      nodes = nodes.filter((n) => wanted.has(n.key));
    }
    for (const node of topologicalOrder(nodes)) await this.env.services.engine.apply(node);
    // each web VM's sandbox (real NGINX serving its bootstrap certificate) comes up with its first Run Command
    const { factory } = this.env.services;
    await Promise.all(
      this.vmNames(spec).map(async (vmName) => {
        const r = await runAgentCommand(factory, {
          subscriptionId: spec.subscriptionId,
          resourceGroup: spec.resourceGroup,
          vmName,
          command: "health",
        });
        assert.ok(r.reachable && r.json, `${vmName}'s agent answers`);
      }),
    );
  }

  /** The web VMs of a stack (availability set members), by name. */
  vmNames(spec: StackSpec): string[] {
    const set = stackNames(spec).availabilitySetId.toLowerCase();
    return this.env.emulator.store
      .all()
      .filter(
        (d) =>
          d.type === "Microsoft.Compute/virtualMachines" &&
          String((d.properties.availabilitySet as { id?: string } | undefined)?.id).toLowerCase() === set,
      )
      .map((d) => d.name)
      .sort();
  }

  /** The serial a node's NGINX serves, by a TLS handshake to it (uppercase hex, no leading zeros). */
  servedSerial(vm: string, servername: string): Promise<string> {
    const sandbox = this.sandboxes.get(vm);
    assert.ok(sandbox, `${vm} has a sandbox`);
    return new Promise((resolve, reject) => {
      const socket = tls.connect(
        { host: "127.0.0.1", port: sandbox.ports.https, servername, rejectUnauthorized: false },
        () => {
          const serial = socket
            .getPeerCertificate()
            .serialNumber.toUpperCase()
            .replace(/^0+(?=.)/, "");
          socket.end();
          resolve(serial);
        },
      );
      socket.setTimeout(5_000, () => socket.destroy(new Error("TLS handshake timed out")));
      socket.on("error", reject);
    });
  }

  /** Requests a node's NGINX logged on its port-80 listener. */
  accessLog(vm: string): string {
    const sandbox = this.sandboxes.get(vm);
    assert.ok(sandbox, `${vm} has a sandbox`);
    const file = path.join(sandbox.nginx.prefix, "access.log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  }
}

/** Every `-----BEGIN ... PRIVATE KEY-----` body among `values`, as the base64 lines a leak would show. */
export function privateKeyFragments(values: string[]): string[] {
  const fragments = new Set<string>();
  for (const v of values) {
    for (const m of v.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----([\s\S]+?)-----END [A-Z ]*PRIVATE KEY-----/g)) {
      const lines = m[1].split(/\s+/).filter((l) => l.length >= 24);
      for (const l of lines) fragments.add(l);
      fragments.add(m[1].replace(/\s+/g, ""));
    }
  }
  return [...fragments];
}
