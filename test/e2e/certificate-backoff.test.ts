// The CA is down: the worker's attempts back off (15, 30, 60 minutes), each failure is an audit
// event and the status shows it (failures, last failure, next attempt, condition), nothing is
// ordered, and the nodes keep serving what they have; once the CA is back the next attempt issues
// and rolls out and the failure count resets. Real Pebble (stopped and started again by PID), real
// agent and NGINX per node. The stack starts without a certificate, so every attempt is due: the
// virtual clock runs ahead of Pebble's real dates during the backoff, and a certificate issued after
// it must not look old. And one writer per stack: while a deploy holds the stack, a requested
// rotation waits, never overriding it.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CertificateE2e, condition } from "../support/certificate-e2e";

describe("certificate issuance while the CA is down, or while a deploy holds the stack", { timeout: 60_000 }, () => {
  const t = new CertificateE2e("certbko");
  before(() => t.start());
  after(() => t.stop());

  test("with Pebble down the backoff grows (15, 30, 60 min), the status shows the failure, and it recovers", async () => {
    const { h } = t;
    const bootstrap = await t.served();
    await h.pebble.stopCa();
    const attempts: { at: string; next: string }[] = [];
    try {
      const { response } = await t.rotate();
      assert.equal(response.status, 202);
      let until = t.host.now;
      for (let i = 0; i < 3; i++) {
        await t.runUntil(until);
        const s = await t.ledger();
        assert.equal(s.failures, i + 1, `attempt ${i + 1} failed`);
        attempts.push({ at: s.lastFailure!.at, next: s.nextAttemptAt! });
        until = new Date(s.nextAttemptAt!);
      }
    } finally {
      await h.restartCa();
    }
    assert.deepEqual(
      attempts.map((a) => (Date.parse(a.next) - Date.parse(a.at)) / 60_000),
      [15, 30, 60],
    );
    assert.deepEqual(
      attempts.slice(1).map((a) => a.at),
      attempts.slice(0, 2).map((a) => a.next),
      "each attempt came when the previous one's backoff ended, not before",
    );
    const status = await t.status();
    assert.equal(status.certificate.failures, 3);
    assert.equal(status.certificate.current, null);
    assert.equal(status.certificate.lastFailure?.phase, "issue");
    assert.match(status.certificate.lastFailure?.message ?? "", /ACME directory .* is unreachable: .*ECONNREFUSED/);
    assert.equal(status.certificate.nextAttemptAt, attempts[2].next);
    const renewal = condition(status, "CertificateRenewal");
    assert.equal(renewal?.status, "False");
    assert.equal(renewal?.reason, "IssuanceFailing");
    assert.match(renewal?.message ?? "", /3 failed attempt\(s\) in a row/);
    assert.match(renewal?.message ?? "", new RegExp(`next attempt at ${attempts[2].next}`));
    assert.equal(condition(status, "CertificateReady")?.reason, "NoCertificate");
    const failed = await t.audits("certificate issuance failed");
    assert.equal(failed.length, 3);
    assert.match(failed[2].why, /unreachable/);
    assert.equal(t.workerStatus()?.phase, "sleeping");
    assert.equal(t.workerStatus()?.lastFailure?.phase, "issue");
    assert.deepEqual(await t.served(), bootstrap, "the nodes keep serving what they have");
    assert.equal(h.pebble.orders().length, 0, "no order while the CA was down");

    // the CA is back: the next attempt issues and rolls out, and the failure count resets
    await t.runUntil(new Date(attempts[2].next));
    const recovered = await t.ledger();
    assert.ok(recovered.current);
    assert.equal(recovered.failures, 0);
    assert.equal(h.pebble.orders().length, 1);
    assert.deepEqual(await t.served(), [recovered.current.serial, recovered.current.serial]);
    const after = await t.status();
    assert.equal(condition(after, "CertificateRenewal")?.status, "True");
    assert.equal(condition(after, "CertificateReady")?.status, "True");
  });

  test("while a deploy holds the stack the worker waits (no order), then rotates once it is released", async () => {
    const { h, stack } = t;
    const deploy = { kind: "deploy" as const, instanceId: `deploy-${stack}-g2-x`, startedAt: t.host.now.toISOString() };
    assert.ok((await h.env.registry.setOperation(stack, deploy)).ok);
    const orders = h.pebble.orders().length;
    await t.rotate();
    await t.runFor(10 * 60_000);
    assert.equal(t.workerStatus()?.phase, "waiting-for-stack");
    assert.match(t.workerStatus()?.waitingFor ?? "", new RegExp(`deploy ${deploy.instanceId} holds the stack`));
    assert.equal(h.pebble.orders().length, orders, "nothing ordered while the deploy runs");
    assert.equal((await h.env.registry.get(stack))?.operation?.instanceId, deploy.instanceId, "never overridden");

    assert.ok((await h.env.registry.setOperation(stack, null, { heldBy: deploy.instanceId })).ok);
    await t.runFor(2 * 60_000);
    assert.equal(h.pebble.orders().length, orders + 1);
    const serial = (await t.ledger()).current!.serial;
    assert.deepEqual(await t.served(), [serial, serial]);
    assert.equal((await h.env.registry.get(stack))?.operation, undefined);
  });

  test("no private key in any history, status, output, response, log, ledger, registry or audit event", async () => {
    await t.assertNoPrivateKeys(2);
  });
});
