// Certificate renewal over time: the twice-daily sweep starts the worker of a stack without a
// certificate, which waits its jitter and issues one; the renewal then happens at 2/3 of the
// lifetime and not a second before. Real Pebble with one-day certificates, real agent and NGINX per
// node; the virtual clock starts at the real time (Pebble's dates are real), so hours pass in no time.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CertificateE2e } from "../support/certificate-e2e";

/** One day: renewal after 16 hours (the 2/3 rule does not care about the length; the unit tests cover 90, 45 and 6 days). */
const VALIDITY_SECONDS = 24 * 3600;

describe("certificate renewal: the sweep, then 2/3 of the lifetime and not before", { timeout: 60_000 }, () => {
  const t = new CertificateE2e("certren", VALIDITY_SECONDS);
  before(() => t.start());
  after(() => t.stop());

  test("the twice-daily sweep starts the worker of a stack without a certificate; it waits its jitter, then issues", async () => {
    // the hourly sweep leaves the stack alone outside its two nudge hours of the day
    assert.deepEqual(await t.sweep(t.nudgeHour(false)), { started: [], signalled: [], failed: [] });
    assert.equal(t.workerStatus(), undefined);
    assert.deepEqual(await t.sweep(), { started: [t.stack], signalled: [], failed: [] });
    await t.host.runUntilIdle({ until: () => t.workerStatus()?.phase === "jitter" });
    const jitterEnds = new Date(t.workerStatus()!.waitingUntil!);
    assert.ok(jitterEnds.getTime() - t.host.now.getTime() <= 30 * 60_000, "at most 30 minutes of jitter");
    await t.runUntil(new Date(jitterEnds.getTime() + 60_000));
    const state = await t.ledger();
    assert.ok(state.current, "issued");
    assert.deepEqual(await t.served(), [state.current.serial, state.current.serial]);
    const issued = await t.audits("certificate issued");
    assert.equal(issued.length, 1);
    assert.match(issued[0].why, /no certificate yet/);

    // a second sweep only wakes the sleeping worker, which finds nothing due
    assert.deepEqual(await t.sweep(), { started: [], signalled: [t.stack], failed: [] });
    const round = t.workerStatus()!.round;
    await t.runFor(31 * 60_000);
    assert.ok(t.workerStatus()!.round > round, "the woken worker looked again");
    assert.equal(t.h.pebble.orders().length, 1);
    assert.equal(t.workerStatus()?.phase, "sleeping");
  });

  test("renewal happens at 2/3 of the lifetime and not before", async () => {
    // a later notBefore second for the next certificate (Pebble's dates are real, the clock virtual)
    await new Promise((r) => setTimeout(r, 1_100));
    const state = await t.ledger();
    const renewAt = new Date(state.nextRenewalAt!);
    const lifetime = Date.parse(state.current!.notAfter) - Date.parse(state.current!.notBefore);
    assert.equal(lifetime, VALIDITY_SECONDS * 1000 - 1000, "Pebble's one day (notAfter is inclusive)");
    assert.equal(renewAt.getTime(), Date.parse(state.current!.notBefore) + Math.floor((lifetime * 2) / 3));
    const serial = state.current!.serial;

    await t.runUntil(new Date(renewAt.getTime() - 1000));
    assert.equal(t.h.pebble.orders().length, 1, "nothing ordered a second before");
    assert.deepEqual(await t.served(), [serial, serial]);
    assert.ok(t.workerStatus()!.round > 2, "the worker looked (at least every 12 hours) in between");

    await t.runUntil(renewAt);
    const renewed = await t.ledger();
    assert.notEqual(renewed.current!.serial, serial);
    assert.equal(renewed.lastRenewedAt, renewAt.toISOString(), "renewed exactly at 2/3");
    assert.equal(t.h.pebble.orders().length, 2);
    assert.deepEqual(await t.served(), [renewed.current!.serial, renewed.current!.serial]);
    const issued = (await t.audits("certificate issued")).at(-1)!;
    assert.match(issued.why, /2\/3 of the certificate's lifetime passed/);
    assert.equal(issued.details?.serial, renewed.current!.serial);
    assert.equal((await t.status()).certificate.nextRenewalAt, (await t.ledger()).nextRenewalAt);
  });

  test("no private key in any history, status, output, response, log, ledger, registry or audit event", async () => {
    await t.assertNoPrivateKeys(3);
  });
});
