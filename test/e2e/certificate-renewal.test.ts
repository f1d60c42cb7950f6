// Certificate renewal over time, with real servers on loopback: a real Pebble issuing 6-day
// certificates over HTTP-01 (Let's Encrypt's short-lived profile is 160 hours), the REAL node agent
// and a real NGINX per web VM behind a TCP load balancer, the app's orchestrations on a virtual
// clock that starts at the real time (Pebble's dates are real): days pass in no time, and every run
// is bounded (`upTo`) because the certificate worker never stops.
//
// The twice-daily sweep starts the worker of a stack without a certificate, which issues one; the
// renewal happens at 2/3 of the lifetime and not a second before; with Pebble down the attempts back
// off (15, 30, 60 min) and the status shows the failure, and once it is back the next attempt works.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { format } from "node:util";
import { after, before, describe, test } from "node:test";
import type { Timer } from "@azure/functions";
import { durableClientContextFor, fromRegistry } from "../../emulator/durable";
import { InstanceIds, Names } from "../../functions/names";
import type { CertificateWorkerStatus } from "../../functions/orchestrators/renew-certificate";
import { stackNames } from "../../shared/graph/names";
import type { StackSpec } from "../../shared/spec/types";
import { CertificateHarness, privateKeyFragments } from "../support/certificate-harness";

const STACK = "certren";
const VALIDITY_SECONDS = 6 * 24 * 3600;
const TIMER: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: undefined as never };

interface StackStatusBody {
  conditions: { type: string; status: string; reason: string; message: string }[];
  certificate: {
    current: { serial: string; notBefore: string; notAfter: string } | null;
    nextRenewalAt: string | null;
    failures: number;
    nextAttemptAt: string | null;
    lastFailure: { phase: string; message: string; at: string } | null;
  };
}

describe(
  "certificate renewal: the sweep, 2/3 of the lifetime, backoff while the CA is down",
  { timeout: 60_000 },
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
    });
    after(async () => {
      await h?.stop();
    });

    const host = () => h.env.host;
    const workerStatus = () => host().getStatus(workerId)?.customStatus as CertificateWorkerStatus | undefined;
    const runFor = (ms: number) => host().runUntilIdle({ upTo: new Date(host().now.getTime() + ms) });
    const runUntil = (at: Date) => host().runUntilIdle({ upTo: at });
    const served = async () => Promise.all(vms.map((vm) => h.servedSerial(vm, hostname)));
    const ledger = () => h.env.certificates.get(STACK);
    const status = async (): Promise<StackStatusBody> => {
      const response = await fetch(`${h.env.api}/stacks/${STACK}`);
      assert.equal(response.status, 200);
      const body = (await response.json()) as StackStatusBody;
      responses.push(body);
      return body;
    };
    const condition = (body: StackStatusBody, type: string) => body.conditions.find((c) => c.type === type);
    /** audit events, oldest first */
    const audits = async (what: string) => (await h.env.audit.all(STACK)).filter((e) => e.what === what).reverse();
    const sweep = async () => {
      const registration = fromRegistry().timers[Names.timers.certificateRenewal];
      assert.ok(registration, "the sweep is registered");
      assert.equal(registration.schedule, "0 41 4,16 * * *");
      const context = durableClientContextFor(registration, h.env.rpc!.clientData(), {
        logHandler: (_level, ...args) => logs.push(format(...args)),
      });
      return (await registration.handler(TIMER, context)) as {
        started: string[];
        signalled: string[];
        failed: string[];
      };
    };

    test("the twice-daily sweep starts the worker of a stack without a certificate; it waits its jitter, then issues", async () => {
      assert.deepEqual(await sweep(), { started: [STACK], signalled: [], failed: [] });
      await host().runUntilIdle({ until: () => workerStatus()?.phase === "jitter" });
      const jitterEnds = new Date(workerStatus()!.waitingUntil!);
      assert.ok(jitterEnds.getTime() - host().now.getTime() <= 30 * 60_000, "at most 30 minutes of jitter");
      await runUntil(new Date(jitterEnds.getTime() + 60_000));
      const state = await ledger();
      assert.ok(state.current, "issued");
      assert.deepEqual(await served(), [state.current.serial, state.current.serial]);
      const issued = await audits("certificate issued");
      assert.equal(issued.length, 1);
      assert.match(issued[0].why, /no certificate yet/);

      // a second sweep only wakes the sleeping worker, which finds nothing due
      const orders = h.pebble.orders().length;
      assert.deepEqual(await sweep(), { started: [], signalled: [STACK], failed: [] });
      await runFor(31 * 60_000);
      assert.equal(h.pebble.orders().length, orders);
      assert.equal(workerStatus()?.phase, "sleeping");
    });

    test("renewal happens at 2/3 of the lifetime and not before", async () => {
      // distinct notBefore seconds for the next certificate (Pebble's dates are real, the clock virtual)
      await new Promise((r) => setTimeout(r, 1_100));
      const state = await ledger();
      const renewAt = new Date(state.nextRenewalAt!);
      const lifetime = Date.parse(state.current!.notAfter) - Date.parse(state.current!.notBefore);
      assert.equal(lifetime, VALIDITY_SECONDS * 1000 - 1000, "Pebble's 6 days (notAfter is inclusive)");
      assert.equal(renewAt.getTime(), Date.parse(state.current!.notBefore) + Math.floor((lifetime * 2) / 3));
      const serial = state.current!.serial;
      const orders = h.pebble.orders().length;

      await runUntil(new Date(renewAt.getTime() - 1000));
      assert.equal(h.pebble.orders().length, orders, "nothing ordered a second before");
      assert.deepEqual(await served(), [serial, serial]);
      assert.ok(workerStatus()!.round > 8, "the worker looked (at least every 12 hours) in between");

      await runUntil(renewAt);
      const renewed = await ledger();
      assert.notEqual(renewed.current!.serial, serial);
      assert.equal(renewed.lastRenewedAt, renewAt.toISOString(), "renewed exactly at 2/3");
      assert.equal(h.pebble.orders().length, orders + 1);
      assert.deepEqual(await served(), [renewed.current!.serial, renewed.current!.serial]);
      const issued = (await audits("certificate issued")).at(-1)!;
      assert.match(issued.why, /2\/3 of the certificate's lifetime passed/);
      assert.equal(issued.details?.serial, renewed.current!.serial);
    });

    test("with Pebble down the backoff grows (15, 30, 60 min) and the status shows the failure", async () => {
      await new Promise((r) => setTimeout(r, 1_100));
      const state = await ledger();
      const renewAt = new Date(state.nextRenewalAt!);
      await h.pebble.stopCa();
      const attempts: { at: string; next: string }[] = [];
      try {
        let until = renewAt;
        for (let i = 0; i < 3; i++) {
          await runUntil(until);
          const s = await ledger();
          assert.equal(s.failures, i + 1, `attempt ${i + 1} failed`);
          attempts.push({ at: s.lastFailure!.at, next: s.nextAttemptAt! });
          until = new Date(s.nextAttemptAt!);
        }
      } finally {
        await h.restartCa();
      }
      assert.equal(attempts[0].at, renewAt.toISOString(), "the first attempt was at the renewal time");
      assert.deepEqual(
        attempts.map((a) => (Date.parse(a.next) - Date.parse(a.at)) / 60_000),
        [15, 30, 60],
      );
      const body = await status();
      assert.equal(body.certificate.failures, 3);
      assert.equal(body.certificate.lastFailure?.phase, "issue");
      assert.match(body.certificate.lastFailure?.message ?? "", /ACME directory .* is unreachable/);
      assert.equal(body.certificate.nextAttemptAt, attempts[2].next);
      const renewal = condition(body, "CertificateRenewal");
      assert.equal(renewal?.status, "False");
      assert.equal(renewal?.reason, "IssuanceFailing");
      assert.match(renewal?.message ?? "", /3 failed attempt\(s\) in a row/);
      assert.equal((await audits("certificate issuance failed")).length, 3);
      assert.equal(workerStatus()?.phase, "sleeping");
      assert.equal(workerStatus()?.lastFailure?.phase, "issue");
      // the nodes still serve the certificate they had, valid for two more days
      assert.deepEqual(await served(), [state.current!.serial, state.current!.serial]);

      // the CA is back: the next attempt works (the same order id, a new order at the new CA)
      await runUntil(new Date(attempts[2].next));
      const recovered = await ledger();
      assert.notEqual(recovered.current!.serial, state.current!.serial);
      assert.equal(recovered.failures, 0);
      assert.deepEqual(await served(), [recovered.current!.serial, recovered.current!.serial]);
      const after = await status();
      assert.equal(condition(after, "CertificateRenewal")?.status, "True");
      assert.equal(condition(after, "CertificateReady")?.status, "True");
    });

    test("no private key in any history, status, output, response, log, ledger, registry or audit event", async () => {
      const fragments = privateKeyFragments(h.env.emulator.keyVault.secretValues(stackNames(spec).keyVault));
      assert.ok(fragments.length >= 8, `expected the account and several certificate keys, found ${fragments.length}`);
      const haystacks: [string, string][] = [
        ["instances (histories, statuses, inputs, outputs)", JSON.stringify(host().listInstances())],
        ["logs", logs.join("\n")],
        ["HTTP responses", JSON.stringify(responses)],
        ["ledger", JSON.stringify(await ledger())],
        ["registry", JSON.stringify(await h.env.registry.get(STACK))],
        ["audit trail", JSON.stringify(await h.env.audit.all(STACK))],
        ["emulator journal", JSON.stringify(h.env.emulator.journal.list())],
      ];
      for (const f of fragments) {
        for (const [what, hay] of haystacks) assert.ok(!hay.includes(f), `a private key leaked into the ${what}`);
      }
    });
  },
);
