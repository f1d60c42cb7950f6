// ACME Renewal Information (RFC 9773) from a CA that offers it: Pebble 2.4 does not, so a small
// HTTPS stand-in of a CA's directory and renewalInfo resource answers here. The window and the
// Retry-After come back; a CA without renewalInfo gives nothing (the 2/3 rule applies); a failing
// one gives an error the worker ignores. The certificate id is RFC 9773's.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { fetchRenewalInfo, type AcmeTransport } from "../../shared/acme/issue";
import { decideRenewal } from "../../shared/acme/renewal-policy";
import { TestCa } from "../../dev/servers/test-ca";

const CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

describe("ACME renewal information (RFC 9773)", () => {
  let dir: string;
  let server: https.Server;
  let base: string;
  let transport: AcmeTransport;
  const asked: string[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-ari-"));
    const ca = TestCa.create(dir, "ARI test CA");
    const cert = ca.issue({ commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"] });
    server = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
      asked.push(req.url ?? "");
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.url === "/with/dir") return json(200, { newOrder: `${base}/new-order`, renewalInfo: `${base}/ari/` });
      if (req.url === "/without/dir") return json(200, { newOrder: `${base}/new-order` });
      if (req.url === "/broken/dir") return json(200, { newOrder: `${base}/new-order`, renewalInfo: `${base}/broken` });
      if (req.url === `/ari/${CERT_ID}`) {
        return json(
          200,
          {
            suggestedWindow: { start: "2026-03-01T00:00:00Z", end: "2026-03-03T00:00:00Z" },
            explanationURL: "https://ca.example/incident",
          },
          { "retry-after": "21600" },
        );
      }
      return json(500, { type: "urn:ietf:params:acme:error:serverInternal" });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    transport = { caPem: ca.certPem, requestTimeoutMs: 5_000, pollMinMs: 50, pollMaxMs: 200, pollAttempts: 3 };
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a CA that offers it: the suggested window, the explanation and when to ask again", async () => {
    const now = new Date("2026-02-20T00:00:00Z");
    const info = await fetchRenewalInfo(`${base}/with/dir`, CERT_ID, transport, now);
    assert.deepEqual(info, {
      start: "2026-03-01T00:00:00.000Z",
      end: "2026-03-03T00:00:00.000Z",
      explanationUrl: "https://ca.example/incident",
      retryAfter: "2026-02-20T06:00:00.000Z",
    });
    assert.ok(asked.includes(`/ari/${CERT_ID}`));

    // a window before 2/3 of a 90-day certificate (issued 2026-02-01) moves the renewal into it
    const decision = decideRenewal({
      now: new Date("2026-03-04T00:00:00Z"),
      hostname: "jump.example.com",
      current: {
        serial: "87654321",
        notBefore: "2026-02-01T00:00:00Z",
        notAfter: "2026-05-02T00:00:00Z",
        dnsNames: ["jump.example.com"],
        storedAt: "2026-02-01T00:00:00Z",
      },
      ari: info,
      failures: 0,
      orders: [],
      nodesBehind: [],
      rolloutPending: false,
    });
    assert.equal(decision.action, "issue");
    assert.equal(decision.renewal?.basis, "ari");
  });

  test("a CA without renewalInfo: nothing (the 2/3 rule applies); a failing one: an error", async () => {
    assert.equal(await fetchRenewalInfo(`${base}/without/dir`, CERT_ID, transport), undefined);
    await assert.rejects(fetchRenewalInfo(`${base}/broken/dir`, CERT_ID, transport), /renewalInfo answered HTTP 500/);
    await assert.rejects(
      fetchRenewalInfo(`https://127.0.0.1:1/dir`, CERT_ID, transport),
      /the ACME directory https:\/\/127\.0\.0\.1:1\/dir is unreachable/,
    );
  });
});
