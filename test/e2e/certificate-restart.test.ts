// The certificate worker is stopped in the middle of a rollout (one node has the new certificate,
// the other not yet) and started again, as after a host restart: it finds the certificate it had
// stored, places no second order, issues no second certificate, and finishes the rollout. Real
// Pebble, real agent and NGINX per node (test/support/certificate-e2e.ts).
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HistoryEventType, InMemoryDurableClient } from "../../emulator/durable";
import { wakeCertificateWorker } from "../../functions/certificate-wake";
import { CertificateE2e } from "../support/certificate-e2e";

describe("certificate worker restarted mid-rollout", { timeout: 60_000 }, () => {
  const t = new CertificateE2e("certrst");
  before(() => t.start());
  after(() => t.stop());

  test("a restart mid-rollout resumes it: no second order, no second certificate", async () => {
    const { h } = t;
    await t.rotate();
    // stop right after the first node took the new certificate
    const firstInstallDone = () => {
      const history = t.worker()?.history ?? [];
      const installs = new Set(
        history
          .filter((e) => e.EventType === HistoryEventType.TaskScheduled && String(e.Input).includes("install-cert"))
          .map((e) => e.EventId),
      );
      return history.some(
        (e) => e.EventType === HistoryEventType.TaskCompleted && installs.has(Number(e.TaskScheduledId)),
      );
    };
    await t.host.runUntilIdle({ until: firstInstallDone });
    assert.equal(t.workerStatus()?.phase, "rollout", "stopped in the middle of the rollout");
    assert.equal(h.pebble.orders().length, 1);
    assert.equal(h.pebble.issued().length, 1);
    const issued = h.pebble.issued()[0];

    t.host.terminate(t.workerId, "host restart");
    await t.host.runUntilIdle({ until: () => t.worker()?.runtimeStatus === "Terminated" });
    assert.equal(
      await wakeCertificateWorker(new InMemoryDurableClient(t.host), t.stack, { reason: "restart" }),
      "started",
    );
    await t.runFor(60_000);

    assert.equal(h.pebble.orders().length, 1, "no second order");
    assert.deepEqual(h.pebble.issued(), [issued], "no second certificate");
    assert.deepEqual(await t.served(), [issued, issued], "the rollout finished");
    assert.equal((await t.ledger()).current?.serial, issued);
    assert.equal((await t.audits("certificate issued")).length, 1);
    assert.equal((await t.audits("certificate rolled out")).length, 1);
    assert.equal(t.workerStatus()?.phase, "sleeping");
  });

  test("no private key in any history, status, output, response, log, ledger, registry or audit event", async () => {
    await t.assertNoPrivateKeys(3);
  });
});
