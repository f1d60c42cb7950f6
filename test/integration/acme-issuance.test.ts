// Certificate issuance (the issueCertificate activity) against a REAL Pebble: HTTP-01 with the key
// authorization placed on every web node by the REAL node agent (through VM Run Command on the
// emulator) and served by each node's real NGINX, the CA's requests spread over the nodes by a load
// balancer; DNS-01 through the emulator's Azure DNS record sets feeding pebble-challtestsrv. Also:
// an issuance interrupted after the order was placed resumes that order (no second order), the same
// order id twice asks nothing of the CA, and a CA that is down gives a clear error and no order.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  issueCertificateActivity,
  readCertificateStateActivity,
  type CertificateView,
} from "../../functions/activities/certificates";
import { certificatesOf, normalizeSerial } from "../../shared/acme/certificate";
import { BUNDLE_TAGS } from "../../shared/acme/vault-store";
import { stackNames } from "../../shared/graph/names";
import { NODE_PATHS } from "../../shared/node/constants";
import { SECRET_NAMES } from "../../shared/secret-names";
import { CertificateHarness, privateKeyFragments } from "../support/certificate-harness";

const HTTP_STACK = "acmehttp";
const DNS_STACK = "acmedns";
const ZONE = "jumpgate-test.com";

describe(
  "ACME issuance against a real Pebble (HTTP-01 through the real agent and NGINX, DNS-01 through Azure DNS)",
  { timeout: 60_000 },
  () => {
    let h: CertificateHarness;
    const outputs: unknown[] = [];

    before(async () => {
      h = await CertificateHarness.start();
    });
    after(async () => {
      await h?.stop();
    });

    const httpSpec = () => h.spec(HTTP_STACK);
    const dnsSpec = () =>
      h.spec(DNS_STACK, {
        hostname: `jump.${ZONE}`,
        acme: {
          directoryUrl: h.pebble.directoryUrl,
          contact: "ops@example.com",
          challenge: "dns-01",
          dnsZone: { resourceGroup: `rg-${DNS_STACK}`, name: ZONE },
        },
      });
    const at = () => new Date().toISOString();
    const vault = (stack: string) => {
      const spec = stack === HTTP_STACK ? httpSpec() : dnsSpec();
      const doc = h.env.emulator.store.get(stackNames(spec).keyVaultId);
      assert.ok(doc, `${stack}'s vault exists`);
      return h.env.services.factory.secrets(String(doc.properties.vaultUri));
    };

    test("HTTP-01: the token is on every node, the CA reaches both NGINXes through the load balancer, the bundle lands in Key Vault", async () => {
      const spec = httpSpec();
      await h.provision(spec);
      const vms = h.vmNames(spec);
      assert.equal(vms.length, 2);
      const hostname = stackNames(spec).publicFqdn;

      const issued = await issueCertificateActivity({ spec, orderId: "order-http-1", at: at() });
      outputs.push(issued);
      assert.equal(issued.resumed, "new");
      assert.deepEqual(issued.certificate.dnsNames, [hostname]);
      assert.equal(h.pebble.orders().length, 1, "one order");
      assert.deepEqual(h.pebble.issued(), [issued.certificate.serial]);

      // the CA's validation requests went through the "load balancer" to both nodes' real NGINX, which
      // served the token the real agent had written (200), and every node has removed it since
      assert.deepEqual(Object.keys(h.balancer.hits()).sort(), vms);
      for (const vm of vms) {
        assert.match(h.accessLog(vm), /"GET \/\.well-known\/acme-challenge\/[A-Za-z0-9_-]+ HTTP\/1\.1" 200 /, vm);
        const dir = path.join(h.sandboxes.get(vm)!.root, NODE_PATHS.acmeWebroot, ".well-known/acme-challenge");
        assert.deepEqual(fs.existsSync(dir) ? fs.readdirSync(dir) : [], [], `${vm}: the token is gone`);
      }

      // Key Vault: key + chain as a new tls-bundle version tagged with the order, serial and dates
      const kv = vault(HTTP_STACK);
      const bundle = await kv.getSecret(SECRET_NAMES.tlsBundle);
      assert.equal(bundle.properties.version, issued.certificate.version);
      assert.equal(bundle.properties.tags?.[BUNDLE_TAGS.orderId], "order-http-1");
      assert.equal(bundle.properties.tags?.[BUNDLE_TAGS.serial], issued.certificate.serial);
      assert.equal(bundle.properties.contentType, "application/x-pem-file");
      const chain = certificatesOf(bundle.value!);
      assert.equal(chain.length, 2, "leaf + intermediate");
      assert.equal(normalizeSerial(chain[0].serialNumber), issued.certificate.serial);
      assert.ok(chain[0].checkIssued(chain[1]));
      assert.match(bundle.value!, /^-----BEGIN PRIVATE KEY-----/);
      // the account key is kept in Key Vault; the order's pending key is disabled now
      assert.ok((await kv.getSecret(SECRET_NAMES.acmeAccountKey)).value);
      const pending = [];
      for await (const p of kv.listPropertiesOfSecretVersions(SECRET_NAMES.tlsPendingKey)) pending.push(p);
      assert.deepEqual(
        pending.map((p) => p.enabled),
        [false],
      );

      // the ledger counts the order and knows the certificate
      const state = await h.env.certificates.get(HTTP_STACK);
      assert.equal(state.current?.serial, issued.certificate.serial);
      assert.equal(state.orders.length, 1);
      assert.equal(state.pending, undefined);
      const view = (await readCertificateStateActivity({ stack: HTTP_STACK, at: at() })) as Extract<
        CertificateView,
        { registered: true }
      >;
      outputs.push(view);
      assert.equal(view.state.current?.version, issued.certificate.version);
      assert.equal(view.ready, true);
    });

    test("the same order id again asks nothing of the CA: the stored bundle is the answer", async () => {
      const before = h.pebble.log().length;
      const again = await issueCertificateActivity({ spec: httpSpec(), orderId: "order-http-1", at: at() });
      outputs.push(again);
      assert.equal(again.resumed, "stored");
      assert.equal(h.pebble.log().slice(before), "", "Pebble saw no request");
      assert.equal(h.pebble.orders().length, 1);
    });

    test("interrupted after the order was placed (a node's Run Command did not answer): the retry resumes that order", async () => {
      const spec = httpSpec();
      const [, second] = h.vmNames(spec);
      h.env.emulator.runCommand.setVm(second, "unreachable");
      await assert.rejects(issueCertificateActivity({ spec, orderId: "order-http-2", at: at() }), (e: Error) => {
        assert.match(e.message, new RegExp(`could not be placed on ${second}`));
        return true;
      });
      assert.equal(h.pebble.orders().length, 2, "the order exists");
      assert.equal(h.pebble.issued().length, 1, "the CA was never asked to validate without every node");
      const ledger = await h.env.certificates.get(HTTP_STACK);
      assert.equal(ledger.orders.length, 2, "the order is counted");

      h.env.emulator.runCommand.setVm(second, undefined);
      const resumed = await issueCertificateActivity({ spec, orderId: "order-http-2", at: at() });
      outputs.push(resumed);
      assert.equal(resumed.resumed, "order");
      assert.equal(h.pebble.orders().length, 2, "no second order");
      assert.equal(h.pebble.issued().length, 2);
      assert.equal((await h.env.certificates.get(HTTP_STACK)).orders.length, 2);
    });

    test("DNS-01: the TXT record goes through the emulator's Azure DNS to challtestsrv, and is removed afterwards", async () => {
      const spec = dnsSpec();
      await h.provision(spec, ["kv"]);
      await h.env.services.factory
        .dns(spec.subscriptionId)
        .zones.createOrUpdate(spec.resourceGroup, ZONE, { location: "global" }, h.env.services.factory.call());

      const issued = await issueCertificateActivity({ spec, orderId: "order-dns-1", at: at() });
      outputs.push(issued);
      assert.deepEqual(issued.certificate.dnsNames, [`jump.${ZONE}`]);
      const fqdn = `_acme-challenge.jump.${ZONE}.`;
      assert.deepEqual(
        h.dnsChanges.map((c) => [c.op, c.fqdn, c.values.length]),
        [
          ["put", fqdn, 1],
          ["delete", fqdn, 0],
        ],
      );
      const left = h.env.emulator.store
        .all()
        .filter((d) => d.type.toLowerCase().startsWith("microsoft.network/dnszones/"));
      assert.deepEqual(
        left.map((d) => d.name),
        [],
        "the TXT record set is gone",
      );
      assert.equal(
        (await vault(DNS_STACK).getSecret(SECRET_NAMES.tlsBundle)).properties.version,
        issued.certificate.version,
      );
    });

    test("the CA is down: a clear error, no order, nothing stored", async () => {
      const spec = httpSpec();
      const orders = h.pebble.orders().length;
      await h.pebble.stopCa();
      try {
        await assert.rejects(issueCertificateActivity({ spec, orderId: "order-http-3", at: at() }), (e: Error) => {
          assert.equal(e.name, "AcmeUnreachableError");
          assert.match(e.message, /is unreachable: .*ECONNREFUSED/);
          return true;
        });
      } finally {
        await h.restartCa();
      }
      assert.equal(h.pebble.orders().length, orders);
      const ledger = await h.env.certificates.get(HTTP_STACK);
      assert.equal(ledger.pending, undefined);
    });

    test("no private key in any output, ledger, registry, audit trail, agent output or emulator journal", async () => {
      const values = [HTTP_STACK, DNS_STACK].flatMap((s) =>
        h.env.emulator.keyVault.secretValues(stackNames(s === HTTP_STACK ? httpSpec() : dnsSpec()).keyVault),
      );
      const fragments = privateKeyFragments(values);
      assert.ok(fragments.length >= 6, `expected the account, pending and certificate keys, found ${fragments.length}`);
      const haystacks: [string, string][] = [
        ["activity outputs", JSON.stringify(outputs)],
        [
          "ledgers",
          JSON.stringify([await h.env.certificates.get(HTTP_STACK), await h.env.certificates.get(DNS_STACK)]),
        ],
        ["registry", JSON.stringify([await h.env.registry.get(HTTP_STACK), await h.env.registry.get(DNS_STACK)])],
        ["audit", JSON.stringify([await h.env.audit.all(HTTP_STACK), await h.env.audit.all(DNS_STACK)])],
        ["emulator journal", JSON.stringify(h.env.emulator.journal.list())],
        ["DNS changes", JSON.stringify(h.dnsChanges)],
        ["Pebble log", h.pebble.log()],
      ];
      for (const f of fragments)
        for (const [what, hay] of haystacks) assert.ok(!hay.includes(f), `a private key leaked into the ${what}`);
    });
  },
);
