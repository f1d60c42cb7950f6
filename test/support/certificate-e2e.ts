// What the certificate e2e tests share on top of the CertificateHarness: one provisioned stack with
// two web nodes (real agent, real NGINX), Pebble issuing short-lived certificates (6 days by default,
// like Let's Encrypt's 160-hour profile), the HTTP API, and helpers to drive the virtual clock (every run
// is bounded: the certificate worker never stops), read the status and scan for private keys.
import assert from "node:assert/strict";
import { once } from "node:events";
import * as tls from "node:tls";
import { format } from "node:util";
import * as df from "durable-functions";
import { durableClientContextFor, fromRegistry } from "../../emulator/durable";
import { sweepCertificateWorkers, type RenewalSweepResult } from "../../functions/timers/certificate-renewal";
import { InstanceIds, Names } from "../../functions/names";
import type { CertificateWorkerStatus } from "../../functions/orchestrators/renew-certificate";
import { stackNames } from "../../shared/graph/names";
import { certificateNudgeDue } from "../../shared/schedule/spread";
import type { StackSpec } from "../../shared/spec/types";
import { CertificateHarness, privateKeyFragments } from "./certificate-harness";

export const VALIDITY_SECONDS = 6 * 24 * 3600;

export interface StackStatusBody {
  conditions: { type: string; status: string; reason: string; message: string }[];
  certificate: {
    hostname: string;
    current: { serial: string; notBefore: string; notAfter: string } | null;
    nodes: { name: string; serial: string | null; notAfter: string | null; current: boolean; detail?: string }[];
    nextRenewalAt: string | null;
    failures: number;
    nextAttemptAt: string | null;
    lastFailure: { phase: string; message: string; at: string } | null;
    ordersLast7Days: { used: number; limit: number };
    worker: { instanceId: string; runtimeStatus: string; phase: string | null } | null;
  };
}

export class CertificateE2e {
  readonly logs: string[] = [];
  readonly responses: unknown[] = [];
  readonly workerId: string;
  h!: CertificateHarness;
  spec!: StackSpec;
  hostname!: string;
  vms!: string[];

  constructor(
    readonly stack: string,
    /** Pebble's certificate lifetime */
    readonly validitySeconds = VALIDITY_SECONDS,
  ) {
    this.workerId = InstanceIds.certificate(stack);
  }

  async start(): Promise<void> {
    this.h = await CertificateHarness.start({
      validitySeconds: this.validitySeconds,
      env: { http: true, durable: { log: (line) => this.logs.push(line) } },
    });
    this.spec = this.h.spec(this.stack);
    this.hostname = stackNames(this.spec).publicFqdn;
    await this.h.provision(this.spec);
    this.vms = this.h.vmNames(this.spec);
    assert.equal(this.vms.length, 2);
  }

  async stop(): Promise<void> {
    await this.h?.stop();
  }

  get host() {
    return this.h.env.host;
  }

  worker() {
    return this.host.getStatus(this.workerId);
  }

  workerStatus(): CertificateWorkerStatus | undefined {
    return this.worker()?.customStatus as CertificateWorkerStatus | undefined;
  }

  /** Runs everything due in the next `ms` of virtual time. */
  runFor(ms: number): Promise<void> {
    return this.host.runUntilIdle({ upTo: new Date(this.host.now.getTime() + ms) });
  }

  runUntil(at: Date): Promise<void> {
    return this.host.runUntilIdle({ upTo: at });
  }

  /** The serial each node's NGINX serves, by a TLS handshake to it. */
  served(): Promise<string[]> {
    return Promise.all(this.vms.map((vm) => this.h.servedSerial(vm, this.hostname)));
  }

  /**
   * A Guacamole-style WebSocket tunnel through a node's NGINX (TLS, upgrade, then echoed bytes), to
   * show a certificate reload leaves live sessions alone.
   */
  async openTunnel(vm: string): Promise<{ serial: string; echo(text: string): Promise<string>; close(): void }> {
    const sandbox = this.h.sandboxes.get(vm);
    assert.ok(sandbox, `${vm} has a sandbox`);
    const socket = tls.connect({
      host: "127.0.0.1",
      port: sandbox.ports.https,
      servername: this.hostname,
      rejectUnauthorized: false,
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error("tunnel timed out")));
    socket.on("error", () => undefined);
    await once(socket, "secureConnect");
    const serial = socket
      .getPeerCertificate()
      .serialNumber.toUpperCase()
      .replace(/^0+(?=.)/, "");
    const read = () =>
      new Promise<string>((resolve, reject) => {
        socket.once("data", (d: Buffer) => resolve(d.toString("utf8")));
        socket.once("close", () => reject(new Error(`the tunnel through ${vm} was closed`)));
      });
    const upgraded = read();
    socket.write(
      `GET /websocket-tunnel?id=1 HTTP/1.1\r\nHost: ${this.hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
    );
    assert.match(await upgraded, /^HTTP\/1\.1 101 /);
    socket.setTimeout(0);
    return {
      serial,
      echo: async (text) => {
        const answer = read();
        socket.write(text);
        return answer;
      },
      close: () => socket.destroy(),
    };
  }

  ledger() {
    return this.h.env.certificates.get(this.stack);
  }

  api(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.h.env.api}${path}`, init);
  }

  async rotate(): Promise<{ response: Response; body: { operation: { instanceId: string; status: string } } }> {
    const response = await this.api(`/stacks/${this.stack}/rotate/certificate`, { method: "POST" });
    const body = (await response.json()) as { operation: { instanceId: string; status: string } };
    this.responses.push(body);
    return { response, body };
  }

  async status(): Promise<StackStatusBody> {
    const response = await this.api(`/stacks/${this.stack}`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as StackStatusBody;
    this.responses.push(body);
    return body;
  }

  /** POST rotate/certificate, then run until the worker sleeps again; returns the new serial. */
  async rotateAndSettle(): Promise<string> {
    const { response } = await this.rotate();
    assert.equal(response.status, 202);
    await this.runFor(60_000);
    const current = (await this.ledger()).current;
    assert.ok(current);
    return current.serial;
  }

  /** Audit events of `what`, oldest first. */
  async audits(what: string) {
    return (await this.h.env.audit.all(this.stack)).filter((e) => e.what === what).reverse();
  }

  /**
   * Runs the hourly sweep (registered as the Functions host runs it) at the first time from the
   * virtual clock on that falls in one of this stack's two nudge hours, or at `at`.
   */
  async sweep(at?: Date): Promise<RenewalSweepResult> {
    const registration = fromRegistry().timers[Names.timers.certificateRenewal];
    assert.ok(registration, "the sweep is registered");
    assert.equal(registration.schedule, "0 41 * * * *");
    const context = durableClientContextFor(registration, this.h.env.rpc!.clientData(), {
      logHandler: (_level, ...args) => this.logs.push(format(...args)),
    });
    return sweepCertificateWorkers(df.getClient(context), at ?? this.nudgeHour(true), context);
  }

  /** A time from the virtual clock on in one of the stack's nudge hours (`due`), or outside them. */
  nudgeHour(due: boolean): Date {
    for (let h = 0; h < 24; h++) {
      const at = new Date(this.host.now.getTime() + h * 3_600_000);
      if (certificateNudgeDue(this.stack, at) === due) return at;
    }
    throw new Error(`no hour of the next day is ${due ? "" : "not "}a nudge hour of ${this.stack}`);
  }

  /** No private key of the stack's vault in any history, status, output, response, log or store. */
  async assertNoPrivateKeys(minimum: number): Promise<void> {
    const fragments = privateKeyFragments(this.h.env.emulator.keyVault.secretValues(stackNames(this.spec).keyVault));
    assert.ok(fragments.length >= minimum, `expected at least ${minimum} key fragments, found ${fragments.length}`);
    const haystacks: [string, string][] = [
      ["instances (histories, statuses, inputs, outputs)", JSON.stringify(this.host.listInstances())],
      ["logs", this.logs.join("\n")],
      ["HTTP responses", JSON.stringify(this.responses)],
      ["ledger", JSON.stringify(await this.ledger())],
      ["registry", JSON.stringify(await this.h.env.registry.get(this.stack))],
      ["audit trail", JSON.stringify(await this.h.env.audit.all(this.stack))],
      ["emulator journal", JSON.stringify(this.h.env.emulator.journal.list())],
    ];
    assert.ok(this.logs.length > 0, "the host logged the run");
    for (const f of fragments) {
      for (const [what, hay] of haystacks) assert.ok(!hay.includes(f), `a private key leaked into the ${what}`);
    }
  }
}

export function condition(body: StackStatusBody, type: string) {
  return body.conditions.find((c) => c.type === type);
}
