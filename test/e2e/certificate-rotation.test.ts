// A certificate rotation through the app's real HTTP API, worker orchestration and activities, with
// real servers on loopback (test/support/certificate-e2e.ts): a real Pebble over HTTP-01, the REAL
// node agent and a real NGINX per web VM behind a TCP load balancer. POST rotate/certificate ->
// issued -> rolled out one node at a time -> a TLS handshake to each node's NGINX returns the new
// serial while WebSocket sessions opened before keep working, and GET /api/stacks/{name} shows it
// per node with the next renewal time. While the worker
// issues it holds the stack (PUT gets 409). Unknown stack: 404; the weekly order limit: 429.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { NODE_PATHS } from "../../shared/node/constants";
import { CertificateE2e, condition } from "../support/certificate-e2e";
import { waitFor } from "../../dev/servers/process";
import { TestCa } from "../../dev/servers/test-ca";

describe("certificate rotation: POST, issue over HTTP-01, rollout, TLS handshakes, status", { timeout: 60_000 }, () => {
  const t = new CertificateE2e("certrot");
  before(() => t.start());
  after(() => t.stop());

  test("POST rotate/certificate: issued, rolled out, and each node's NGINX serves the new serial", async () => {
    const { h, stack, workerId } = t;
    const before = await t.served();
    // a live Guacamole session (WebSocket tunnel) through each node's NGINX
    const tunnels = await Promise.all(t.vms.map((vm) => t.openTunnel(vm)));
    assert.deepEqual(
      tunnels.map((x) => x.serial),
      before,
    );
    const { response, body } = await t.rotate();
    assert.equal(response.status, 202);
    assert.equal(body.operation.instanceId, workerId);
    assert.match(response.headers.get("location") ?? "", new RegExp(`/api/stacks/${stack}/operations/${workerId}$`));

    // while the worker issues, it holds the stack: PUT gets 409 naming it
    await t.host.runUntilIdle({ until: () => t.workerStatus()?.phase === "issuing" });
    assert.equal((await h.env.registry.get(stack))?.operation?.kind, "rotate-certificate");
    const put = await t.api(`/stacks/${stack}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...t.spec, name: undefined }),
    });
    assert.equal(put.status, 409);
    assert.match(JSON.stringify(await put.json()), new RegExp(workerId));

    await t.runFor(60_000);
    const serial = (await t.ledger()).current!.serial;
    assert.deepEqual(h.pebble.issued(), [serial]);
    assert.deepEqual(await t.served(), [serial, serial], "a TLS handshake to each node returns the new serial");
    assert.notDeepEqual(before, [serial, serial]);
    // the graceful reload left the live sessions alone: they still carry data, on the old handshake
    for (const [i, tunnel] of tunnels.entries()) {
      assert.equal(await tunnel.echo(`still here ${i}`), `still here ${i}`, `the session through ${t.vms[i]}`);
      tunnel.close();
    }
    assert.equal((await h.env.registry.get(stack))?.operation, undefined, "released");
    // each node read the bundle with its own identity, which Key Vault allows on that secret only
    const vmIdentities = t.vms.map((vm) =>
      String(
        (
          h.env.emulator.store.all().find((d) => d.type === "Microsoft.Compute/virtualMachines" && d.name === vm)!
            .identity as { principalId: string }
        ).principalId,
      ),
    );
    const bundleReads = h.env.emulator.journal
      .list({ operation: "secret", method: "GET" })
      .filter((e) => /^\/secrets\/tls-bundle\//.test(e.path) && vmIdentities.includes(e.caller ?? ""));
    assert.deepEqual(
      new Set(bundleReads.map((e) => `${e.caller} ${e.status}`)),
      new Set(vmIdentities.map((p) => `${p} 200`)),
    );
    const grants = h.env.emulator.store
      .all()
      .filter(
        (d) => d.type === "Microsoft.Authorization/roleAssignments" && /\/secrets\/tls-bundle\/providers\//i.test(d.id),
      );
    assert.deepEqual(
      grants.map((d) => String(d.properties.principalId)).sort(),
      [...vmIdentities].sort(),
      "the bundle's readers are exactly the web nodes",
    );

    const status = await t.status();
    const c = status.certificate;
    assert.equal(c.current?.serial, serial);
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.serial, n.notAfter, n.current]),
      t.vms.map((vm) => [vm, serial, c.current!.notAfter, true]),
    );
    const lifetime = Date.parse(c.current.notAfter) - Date.parse(c.current.notBefore);
    assert.equal(Date.parse(c.nextRenewalAt!), Date.parse(c.current.notBefore) + Math.floor((lifetime * 2) / 3));
    assert.equal(condition(status, "CertificateReady")?.status, "True");
    assert.equal(condition(status, "CertificateRenewal")?.status, "True");
    assert.equal(c.worker?.phase, "sleeping");
    assert.deepEqual(c.ordersLast7Days, { used: 1, limit: 4 });
    assert.deepEqual((await h.env.audit.all(stack)).map((e) => e.what).reverse(), [
      "certificate rotation requested",
      "certificate issued",
      "certificate rolled out",
    ]);
    const op = await t.api(`/stacks/${stack}/operations/${workerId}`);
    assert.equal(op.status, 200);
    assert.equal(((await op.json()) as { orchestrator: string }).orchestrator, "renewCertificate");
  });

  test("a node that stops serving the current certificate is found by the daily look and gets it back (no order)", async () => {
    const { h } = t;
    const current = (await t.ledger()).current!.serial;
    const [, second] = t.vms;
    // as after a reimage: the node serves a certificate of its own
    const sandbox = h.sandboxes.get(second)!;
    const own = TestCa.create(path.join(sandbox.root, ".test", "own-ca"), "Node's own CA").issue({
      commonName: t.hostname,
      dnsNames: [t.hostname],
    });
    fs.writeFileSync(path.join(sandbox.root, NODE_PATHS.tlsKey), own.keyPem);
    fs.writeFileSync(path.join(sandbox.root, NODE_PATHS.tlsCert), own.certPem);
    await sandbox.nginx.reload();
    await waitFor(
      "the node's own certificate",
      5_000,
      async () => (await h.servedSerial(second, t.hostname)) !== current,
    );
    const orders = h.pebble.orders().length;

    await t.runFor(25 * 3600_000);
    assert.deepEqual(await t.served(), [current, current], "the node serves the current certificate again");
    assert.equal(h.pebble.orders().length, orders, "a rollout, not an order");
    const status = await t.status();
    assert.ok(status.certificate.nodes.every((n) => n.current));
    assert.equal((await t.audits("certificate rolled out")).length, 2);
  });

  test("unknown stack: 404; the weekly order limit reached: 429 with Retry-After, nothing recorded", async () => {
    assert.equal((await t.api(`/stacks/nosuch/rotate/certificate`, { method: "POST" })).status, 404);
    const at = t.host.now.getTime();
    await t.h.env.certificates.update(
      t.stack,
      (s) => ({
        ...s,
        orders: [
          ...s.orders,
          ...[1, 2, 3].map((i) => ({
            at: new Date(at - i * 60_000).toISOString(),
            identifiers: [t.hostname],
            orderId: `seeded-${i}`,
          })),
        ],
      }),
      { now: new Date(at) },
    );
    const before = (await t.ledger()).force;
    const refused = await t.api(`/stacks/${t.stack}/rotate/certificate`, { method: "POST" });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get("retry-after")) > 0);
    assert.match(String(refused.headers.get("content-type")), /application\/problem\+json/);
    assert.match(
      ((await refused.json()) as { detail: string }).detail,
      /4 orders for certrot-[0-9a-f]{8}\.westeurope\.cloudapp\.azure\.com /,
    );
    assert.deepEqual((await t.ledger()).force, before, "the request was not recorded");
  });

  test("no private key in any history, status, output, response, log, ledger, registry or audit event", async () => {
    await t.assertNoPrivateKeys(4);
  });
});
