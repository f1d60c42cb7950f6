// The certificate lifecycle through the app's real HTTP routes, orchestrations and activities, with
// real servers on loopback: a real Pebble issuing 6-day certificates (Let's Encrypt's short-lived
// profile is 160 hours) over HTTP-01, the REAL node agent in a sandbox per web VM with a real NGINX,
// and a TCP load balancer in front of the nodes' port 80 where Pebble validates. The durable host
// runs on a virtual clock that starts at the real time (Pebble's dates are real), so days pass in
// no time; every run is bounded (`upTo`), because the certificate worker never stops.
//
// POST /rotate/certificate -> issue -> rollout -> a TLS handshake to each node's NGINX returns the
// new serial; a restart of the worker mid-rollout issues nothing new; a node whose `nginx -t` fails
// keeps its previous certificate and the status names it, until the next round gets it there;
// renewal at 2/3 of the lifetime and not before; with Pebble down the backoff grows and the status
// shows the failure; no private key anywhere.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { HistoryEventType, InMemoryDurableClient } from "../../emulator/durable";
import { wakeCertificateWorker } from "../../functions/certificate-wake";
import { InstanceIds } from "../../functions/names";
import type { CertificateWorkerStatus } from "../../functions/orchestrators/renew-certificate";
import { stackNames } from "../../shared/graph/names";
import type { StackSpec } from "../../shared/spec/types";
import { CertificateHarness, privateKeyFragments } from "../support/certificate-harness";

const STACK = "certrot";
const VALIDITY_SECONDS = 6 * 24 * 3600;

interface StackStatusBody {
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

describe(
  "certificate lifecycle: HTTP API, worker orchestration, real Pebble, real agent and NGINX",
  { timeout: 90_000 },
  () => {
    let h: CertificateHarness;
    let spec: StackSpec;
    let hostname: string;
    let vms: string[];
    const logs: string[] = [];
    const responses: unknown[] = [];
    const workerId = InstanceIds.certificate(STACK);

    before(async () => {
      h = await CertificateHarness.start({
        validitySeconds: VALIDITY_SECONDS,
        env: { http: true, durable: { log: (line) => logs.push(line) } },
      });
      spec = h.spec(STACK);
      hostname = stackNames(spec).publicFqdn;
      await h.provision(spec);
      vms = h.vmNames(spec);
      assert.equal(vms.length, 2);
    });
    after(async () => {
      await h?.stop();
    });

    const host = () => h.env.host;
    const worker = () => host().getStatus(workerId);
    const workerStatus = () => worker()?.customStatus as CertificateWorkerStatus | undefined;
    /** Runs everything due until `ms` of virtual time from now (the worker sleeps for days in between). */
    const runFor = (ms: number) => host().runUntilIdle({ upTo: new Date(host().now.getTime() + ms) });
    const runUntil = (at: Date) => host().runUntilIdle({ upTo: at });
    const served = async () => Promise.all(vms.map((vm) => h.servedSerial(vm, hostname)));
    const ledger = () => h.env.certificates.get(STACK);
    const api = (path: string, init?: RequestInit) => fetch(`${h.env.api}${path}`, init);
    const rotate = async () => {
      const response = await api(`/stacks/${STACK}/rotate/certificate`, { method: "POST" });
      const body = await response.json();
      responses.push(body);
      return { response, body: body as { operation: { instanceId: string; status: string } } };
    };
    const status = async (): Promise<StackStatusBody> => {
      const response = await api(`/stacks/${STACK}`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as StackStatusBody;
      responses.push(body);
      return body;
    };
    const condition = (body: StackStatusBody, type: string) => body.conditions.find((c) => c.type === type);
    const audits = async (what: string) => (await h.env.audit.all(STACK)).filter((e) => e.what === what);

    test("POST rotate/certificate: issued over HTTP-01, rolled out, and each node's NGINX serves the new serial", async () => {
      const before = await served();
      const { response, body } = await rotate();
      assert.equal(response.status, 202);
      assert.equal(body.operation.instanceId, workerId);
      assert.match(response.headers.get("location") ?? "", new RegExp(`/api/stacks/${STACK}/operations/${workerId}$`));

      // while the worker issues, it holds the stack: PUT gets 409 naming it
      await host().runUntilIdle({ until: () => workerStatus()?.phase === "issuing" });
      assert.equal((await h.env.registry.get(STACK))?.operation?.kind, "rotate-certificate");
      const put = await api(`/stacks/${STACK}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...spec, name: undefined }),
      });
      assert.equal(put.status, 409);
      assert.match(JSON.stringify(await put.json()), new RegExp(workerId));

      await runFor(60_000);
      const state = await ledger();
      const serial = state.current!.serial;
      assert.deepEqual(h.pebble.issued(), [serial]);
      assert.deepEqual(await served(), [serial, serial], "a TLS handshake to each node returns the new serial");
      assert.notDeepEqual(before, [serial, serial]);
      assert.equal((await h.env.registry.get(STACK))?.operation, undefined, "released");

      const body2 = await status();
      const c = body2.certificate;
      assert.equal(c.current?.serial, serial);
      assert.deepEqual(
        c.nodes.map((n) => [n.name, n.serial, n.notAfter, n.current]),
        vms.map((vm) => [vm, serial, c.current!.notAfter, true]),
      );
      const lifetime = Date.parse(c.current.notAfter) - Date.parse(c.current.notBefore);
      assert.equal(Date.parse(c.nextRenewalAt!), Date.parse(c.current.notBefore) + Math.floor((lifetime * 2) / 3));
      assert.equal(condition(body2, "CertificateReady")?.status, "True");
      assert.equal(condition(body2, "CertificateRenewal")?.status, "True");
      assert.equal(c.worker?.phase, "sleeping");
      assert.deepEqual((await h.env.audit.all(STACK)).map((e) => e.what).reverse(), [
        "certificate rotation requested",
        "certificate issued",
        "certificate rolled out",
      ]);
      const op = await api(`/stacks/${STACK}/operations/${workerId}`);
      assert.equal(op.status, 200);
    });

    test("a restart of the worker mid-rollout resumes it: no second order, no second certificate", async () => {
      const issuedBefore = h.pebble.issued().length;
      const ordersBefore = h.pebble.orders().length;
      await rotate();
      // stop right after the first node took the new certificate
      const firstInstallDone = () => {
        const history = worker()?.history ?? [];
        const installs = new Set(
          history
            .filter((e) => e.EventType === HistoryEventType.TaskScheduled && String(e.Input).includes("install-cert"))
            .map((e) => e.EventId),
        );
        return history.some(
          (e) => e.EventType === HistoryEventType.TaskCompleted && installs.has(Number(e.TaskScheduledId)),
        );
      };
      await host().runUntilIdle({ until: firstInstallDone });
      const issued = h.pebble.issued().at(-1)!;
      assert.equal(h.pebble.issued().length, issuedBefore + 1);
      assert.equal(workerStatus()?.phase, "rollout", "stopped in the middle of the rollout");

      host().terminate(workerId, "host restart");
      await host().runUntilIdle({ until: () => worker()?.runtimeStatus === "Terminated" });
      assert.equal(
        await wakeCertificateWorker(new InMemoryDurableClient(host()), STACK, { reason: "restart" }),
        "started",
      );
      await runFor(60_000);

      assert.equal(h.pebble.orders().length, ordersBefore + 1, "no second order");
      assert.equal(h.pebble.issued().length, issuedBefore + 1, "no second certificate");
      assert.deepEqual(await served(), [issued, issued], "the rollout finished");
      assert.equal((await ledger()).current?.serial, issued);
      assert.equal((await audits("certificate issued")).length, 2, "one per rotation");
    });

    test("a node whose nginx -t fails keeps serving its previous certificate; the status names it; the next round gets it there", async () => {
      const [first, second] = vms;
      const previous = await h.servedSerial(second, hostname);
      const sandbox = h.sandboxes.get(second)!;
      const conf = fs.readFileSync(sandbox.nginx.confPath, "utf8");
      fs.writeFileSync(sandbox.nginx.confPath, `${conf}\nthis_is_not_a_directive on;\n`);
      assert.equal((await sandbox.nginx.test()).ok, false, "nginx -t fails on the second node");
      const orders = h.pebble.orders().length;

      await rotate();
      await runFor(60_000);
      const issued = (await ledger()).current!.serial;
      assert.notEqual(issued, previous);
      assert.equal(await h.servedSerial(first, hostname), issued);
      assert.equal(await h.servedSerial(second, hostname), previous, "the second node keeps its previous certificate");

      const body = await status();
      const node = body.certificate.nodes.find((n) => n.name === second)!;
      assert.equal(node.current, false);
      assert.equal(node.serial, previous);
      assert.match(node.detail ?? "", /install-cert failed: .*previous one is back in place/);
      const ready = condition(body, "CertificateReady");
      assert.equal(ready?.status, "False");
      assert.equal(ready?.reason, "NodesBehind");
      assert.match(ready?.message ?? "", new RegExp(second));
      assert.equal(condition(body, "CertificateRenewal")?.reason, "RolloutFailing");
      assert.equal(body.certificate.lastFailure?.phase, "rollout");
      const incomplete = await audits("certificate rollout incomplete");
      assert.equal(incomplete.length, 1);
      assert.match(incomplete[0].why, new RegExp(`${second}: install-cert failed`));
      assert.deepEqual(
        workerStatus()
          ?.lastRollout?.nodes.filter((n) => !n.current)
          .map((n) => n.node),
        [second],
      );

      // repaired: after the backoff the worker pushes the same certificate again, with no new order
      fs.writeFileSync(sandbox.nginx.confPath, conf);
      await runUntil(new Date(body.certificate.nextAttemptAt!));
      await runFor(60_000);
      assert.deepEqual(await served(), [issued, issued]);
      assert.equal(h.pebble.orders().length, orders + 1, "the retry was a rollout, not an order");
      const healed = await status();
      assert.equal(condition(healed, "CertificateReady")?.status, "True");
      assert.equal(healed.certificate.failures, 0);
    });

    test("unknown stack: 404; the weekly order limit reached: 429 with Retry-After, nothing recorded", async () => {
      assert.equal((await api(`/stacks/nosuch/rotate/certificate`, { method: "POST" })).status, 404);
      const at = host().now.getTime();
      await h.env.certificates.update(
        STACK,
        (s) => ({
          ...s,
          orders: [
            ...s.orders,
            ...[1, 2, 3, 4].map((i) => ({
              at: new Date(at - i * 60_000).toISOString(),
              identifiers: [hostname],
              orderId: `seeded-${i}`,
            })),
          ],
        }),
        { now: new Date(at) },
      );
      const before = (await ledger()).force;
      const refused = await api(`/stacks/${STACK}/rotate/certificate`, { method: "POST" });
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get("retry-after")) > 0);
      assert.match(String(refused.headers.get("content-type")), /application\/problem\+json/);
      assert.deepEqual((await ledger()).force, before);
    });

    test("no private key in any history, status, output, response, log, ledger, registry or audit event", async () => {
      const values = h.env.emulator.keyVault.secretValues(stackNames(spec).keyVault);
      const fragments = privateKeyFragments(values);
      assert.ok(fragments.length >= 10, `expected the account and several certificate keys, found ${fragments.length}`);
      const haystacks: [string, string][] = [
        ["instances (histories, statuses, inputs, outputs)", JSON.stringify(host().listInstances())],
        ["logs", logs.join("\n")],
        ["HTTP responses", JSON.stringify(responses)],
        ["ledger", JSON.stringify(await ledger())],
        ["registry", JSON.stringify(await h.env.registry.get(STACK))],
        ["audit trail", JSON.stringify(await h.env.audit.all(STACK))],
        ["emulator journal", JSON.stringify(h.env.emulator.journal.list())],
      ];
      assert.ok(logs.length > 0);
      for (const f of fragments) {
        for (const [what, hay] of haystacks) assert.ok(!hay.includes(f), `a private key leaked into the ${what}`);
      }
    });
  },
);
