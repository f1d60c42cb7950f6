// A node whose `nginx -t` fails during a rollout keeps serving its previous valid certificate (the
// agent rolls back), the other node serves the new one, and the operation reports it: the node's
// served serial and reason in GET /api/stacks/{name}, the conditions, the audit trail and the
// worker's status. Once the node is repaired, the next round (after the backoff) pushes the same
// certificate to it: a rollout, not a new order. Real Pebble, real agent and NGINX per node.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { CertificateE2e, condition } from "../support/certificate-e2e";

describe("certificate rollout when one node's nginx -t fails", { timeout: 60_000 }, () => {
  const t = new CertificateE2e("certngx");
  before(() => t.start());
  after(() => t.stop());

  test("the failing node keeps its previous certificate, the status names it, the next round gets it there", async () => {
    const { h } = t;
    const [first, second] = t.vms;
    const previous = await h.servedSerial(second, t.hostname);
    const sandbox = h.sandboxes.get(second)!;
    const conf = fs.readFileSync(sandbox.nginx.confPath, "utf8");
    fs.writeFileSync(sandbox.nginx.confPath, `${conf}\nthis_is_not_a_directive on;\n`);
    assert.equal((await sandbox.nginx.test()).ok, false, "nginx -t fails on the second node");

    const issued = await t.rotateAndSettle();
    assert.notEqual(issued, previous);
    assert.equal(await h.servedSerial(first, t.hostname), issued);
    assert.equal(await h.servedSerial(second, t.hostname), previous, "the second node keeps its previous certificate");

    const status = await t.status();
    const node = status.certificate.nodes.find((n) => n.name === second)!;
    assert.equal(node.current, false);
    assert.equal(node.serial, previous);
    assert.match(node.detail ?? "", /install-cert failed: .*previous one is back in place/);
    const ready = condition(status, "CertificateReady");
    assert.equal(ready?.status, "False");
    assert.equal(ready?.reason, "NodesBehind");
    assert.match(ready?.message ?? "", new RegExp(second));
    assert.equal(condition(status, "CertificateRenewal")?.reason, "RolloutFailing");
    assert.equal(status.certificate.lastFailure?.phase, "rollout");
    assert.equal(status.certificate.failures, 1);
    const incomplete = await t.audits("certificate rollout incomplete");
    assert.equal(incomplete.length, 1);
    assert.match(incomplete[0].why, new RegExp(`${second}: install-cert failed`));
    assert.deepEqual(
      t
        .workerStatus()
        ?.lastRollout?.nodes.filter((n) => !n.current)
        .map((n) => n.node),
      [second],
    );

    // repaired: after the backoff the worker pushes the same certificate again, with no new order
    fs.writeFileSync(sandbox.nginx.confPath, conf);
    await t.runUntil(new Date(status.certificate.nextAttemptAt!));
    assert.deepEqual(await t.served(), [issued, issued]);
    assert.equal(h.pebble.orders().length, 1, "the retry was a rollout, not an order");
    const healed = await t.status();
    assert.equal(condition(healed, "CertificateReady")?.status, "True");
    assert.equal(condition(healed, "CertificateRenewal")?.status, "True");
    assert.equal(healed.certificate.failures, 0);
    assert.equal((await t.audits("certificate rolled out")).length, 1);
  });

  test("no private key in any history, status, output, response, log, ledger, registry or audit event", async () => {
    await t.assertNoPrivateKeys(3);
  });
});
