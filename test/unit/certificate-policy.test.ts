// The certificate renewal policy (shared/acme/renewal-policy.ts) and certificate helpers
// (shared/acme/certificate.ts): pure functions of times, windows, failures and orders.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import {
  ariCertId,
  authorityKeyIdentifier,
  BundleError,
  certificatesOf,
  checkBundle,
  normalizeSerial,
} from "../../shared/acme/certificate";
import {
  backoffMs,
  decideRenewal,
  orderBudget,
  renewalTime,
  type CurrentCertificate,
  type RenewalInput,
} from "../../shared/acme/renewal-policy";
import { TestCa } from "../../dev/servers/test-ca";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const HOST = "jump.example.com";
const T0 = Date.parse("2026-03-01T00:00:00.000Z");

function cert(lifetimeMs: number, extra: Partial<CurrentCertificate> = {}): CurrentCertificate {
  return {
    serial: "4A1B2C",
    notBefore: new Date(T0).toISOString(),
    notAfter: new Date(T0 + lifetimeMs).toISOString(),
    dnsNames: [HOST],
    storedAt: new Date(T0).toISOString(),
    ...extra,
  };
}

function input(now: number, extra: Partial<RenewalInput> = {}): RenewalInput {
  return {
    now: new Date(now),
    hostname: HOST,
    current: cert(90 * DAY),
    failures: 0,
    orders: [],
    nodesBehind: [],
    rolloutPending: false,
    ...extra,
  };
}

describe("renewal time: 2/3 of the issued lifetime, or earlier inside the CA's ARI window", () => {
  test("90-, 45- and 6-day certificates renew after 60, 30 and 4 days", () => {
    for (const [lifetime, due] of [
      [90 * DAY, 60 * DAY],
      [45 * DAY, 30 * DAY],
      [6 * DAY, 4 * DAY],
      [160 * HOUR, (160 * HOUR * 2) / 3],
    ]) {
      const r = renewalTime(cert(lifetime));
      assert.equal(r.basis, "two-thirds");
      assert.ok(Math.abs(r.at.getTime() - (T0 + due)) <= 1, `${lifetime / DAY} days`);
    }
  });

  test("an ARI window before 2/3 wins, at a point inside it that depends on the serial only", () => {
    const ari = { start: new Date(T0 + 40 * DAY).toISOString(), end: new Date(T0 + 42 * DAY).toISOString() };
    const a = renewalTime(cert(90 * DAY), ari);
    assert.equal(a.basis, "ari");
    assert.ok(a.at.getTime() >= T0 + 40 * DAY && a.at.getTime() < T0 + 42 * DAY);
    assert.deepEqual(renewalTime(cert(90 * DAY), ari), a, "stable across checks");
    const b = renewalTime(cert(90 * DAY, { serial: "77FF01" }), ari);
    assert.notEqual(b.at.getTime(), a.at.getTime(), "spread across certificates");
    // a window after 2/3, or a nonsense one, changes nothing
    const late = { start: new Date(T0 + 70 * DAY).toISOString(), end: new Date(T0 + 80 * DAY).toISOString() };
    assert.equal(renewalTime(cert(90 * DAY), late).basis, "two-thirds");
    const backwards = { start: late.end, end: late.start };
    assert.equal(renewalTime(cert(90 * DAY), backwards).basis, "two-thirds");
  });

  test("due at the renewal time and not a millisecond before", () => {
    const due = renewalTime(cert(90 * DAY)).at.getTime();
    const before = decideRenewal(input(due - 1));
    assert.equal(before.action, "none");
    assert.equal(before.wakeAt.getTime(), due, "the worker wakes exactly then");
    const at = decideRenewal(input(due));
    assert.equal(at.action, "issue");
    assert.match(at.reason, /2\/3 of the certificate's lifetime/);
    // an ARI window that has already passed means renew now
    const passed = { start: new Date(T0 + 10 * DAY).toISOString(), end: new Date(T0 + 11 * DAY).toISOString() };
    const ari = decideRenewal(input(T0 + 20 * DAY, { ari: passed }));
    assert.equal(ari.action, "issue");
    assert.match(ari.reason, /renewal window \(RFC 9773\)/);
  });

  test("due at once: no certificate, another hostname, expired, or a person asked (once)", () => {
    assert.equal(decideRenewal(input(T0, { current: undefined })).action, "issue");
    assert.match(decideRenewal(input(T0 + DAY, { hostname: "other.example.com" })).reason, /spec asks for other/);
    assert.equal(decideRenewal(input(T0 + 91 * DAY)).action, "issue");
    const force = { id: "r1", at: new Date(T0 + DAY).toISOString(), by: "api:rotate/certificate" };
    assert.equal(decideRenewal(input(T0 + DAY, { force })).action, "issue");
    assert.equal(decideRenewal(input(T0 + DAY, { force, forceHandled: "r1" })).action, "none");
  });

  test("the worker looks again within 12 hours even when nothing is due", () => {
    const d = decideRenewal(input(T0 + DAY));
    assert.equal(d.wakeAt.getTime(), T0 + DAY + 12 * HOUR);
  });
});

describe("failures back off, orders are counted", () => {
  test("backoff grows: 15 min doubling, capped at 12 h, tighter near expiry but never under 15 min", () => {
    const now = new Date(T0);
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 30].map((n) => backoffMs(n, now) / 60_000),
      [0, 15, 30, 60, 120, 240, 480, 720, 720, 720],
    );
    assert.equal(backoffMs(6, now, new Date(T0 + 4 * HOUR).toISOString()), HOUR, "a quarter of the time left");
    assert.equal(backoffMs(6, now, new Date(T0 + 10 * 60_000).toISOString()), 15 * 60_000);
  });

  test("a due renewal waits out the backoff; a person's request does not", () => {
    const due = T0 + 61 * DAY;
    const nextAttemptAt = new Date(due + HOUR).toISOString();
    const held = decideRenewal(input(due, { failures: 3, nextAttemptAt }));
    assert.equal(held.action, "none");
    assert.equal(held.held?.kind, "backoff");
    assert.equal(held.wakeAt.toISOString(), nextAttemptAt);
    const force = { id: "r2", at: new Date(due).toISOString(), by: "api" };
    assert.equal(decideRenewal(input(due, { failures: 3, nextAttemptAt, force })).action, "issue");
    assert.equal(decideRenewal(input(due + 2 * HOUR, { failures: 3, nextAttemptAt })).action, "issue");
  });

  test("at most 4 orders per name in any 7 days, forced or not; other names and old orders do not count", () => {
    const now = T0 + 61 * DAY;
    const orders = [1, 2, 3, 4].map((h) => ({ at: new Date(now - h * HOUR).toISOString(), identifiers: [HOST] }));
    const old = { at: new Date(now - 8 * DAY).toISOString(), identifiers: [HOST] };
    const other = { at: new Date(now - HOUR).toISOString(), identifiers: ["else.example.com"] };
    const budget = orderBudget([...orders, old, other], [HOST.toUpperCase()], new Date(now));
    assert.equal(budget.used, 4);
    assert.equal(budget.nextFreeAt?.getTime(), now - 4 * HOUR + 7 * DAY, "when the oldest leaves the window");
    const force = { id: "r3", at: new Date(now).toISOString(), by: "api" };
    const d = decideRenewal(input(now, { orders, force }));
    assert.equal(d.action, "none");
    assert.equal(d.held?.kind, "order-limit");
    assert.match(d.reason, /4 orders for jump\.example\.com in the last 7 days/);
    assert.equal(orderBudget(orders.slice(1), [HOST], new Date(now)).nextFreeAt, undefined);
  });

  test("nodes behind the current certificate get a rollout (no order), after the backoff", () => {
    const now = T0 + DAY;
    assert.equal(decideRenewal(input(now, { nodesBehind: ["web-2"] })).action, "rollout");
    assert.equal(decideRenewal(input(now, { rolloutPending: true })).action, "rollout");
    const held = decideRenewal(
      input(now, { nodesBehind: ["web-2"], failures: 1, nextAttemptAt: new Date(now + 15 * 60_000).toISOString() }),
    );
    assert.equal(held.action, "none");
    assert.equal(held.wakeAt.getTime(), now + 15 * 60_000);
  });
});

describe("certificate helpers", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-cert-unit-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("RFC 9773's example certificate identifier", () => {
    const aki = Buffer.from("69885B6B87464041E1B37B847BA0AE2CDE01C8D4", "hex");
    assert.equal(ariCertId(aki, "0087654321"), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    assert.equal(ariCertId(aki, "87654321"), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", "the DER zero byte is added");
    assert.equal(normalizeSerial("00:0a:FF"), "AFF");
  });

  test("the authority key identifier read from DER is the one openssl prints", () => {
    const ca = TestCa.create(dir, "AKI test root");
    const leaf = ca.issue({ commonName: HOST, dnsNames: [HOST] });
    const text = execFileSync("openssl", ["x509", "-in", leaf.certPath, "-noout", "-ext", "authorityKeyIdentifier"], {
      encoding: "utf8",
    });
    const printed = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text)?.[1]?.replace(/:/g, "");
    assert.ok(printed, text);
    const [x509] = certificatesOf(leaf.certPem);
    assert.equal(authorityKeyIdentifier(x509.raw)?.toString("hex").toUpperCase(), printed);
  });

  test("a bundle is checked before it is stored: key match, chain, hostname", () => {
    const ca = TestCa.create(path.join(dir, "b"), "Bundle test root");
    const issuing = ca.intermediate("Bundle issuing CA");
    const leaf = issuing.issue({ commonName: HOST, dnsNames: [HOST] });
    const other = issuing.issue({ commonName: HOST, dnsNames: [HOST] });
    const ok = checkBundle(leaf.keyPem + leaf.certPem + issuing.certPem, HOST, new Date());
    assert.equal(ok.leaf.serial, normalizeSerial(leaf.serial));
    assert.equal(ok.chainLength, 2);
    const bad: [string, string, RegExp][] = [
      [other.keyPem + leaf.certPem + issuing.certPem, HOST, /does not match/],
      [leaf.keyPem + leaf.certPem + ca.certPem, HOST, /not signed by/],
      [leaf.keyPem + leaf.certPem, "other.example.com", /not other\.example\.com/],
      [leaf.certPem, HOST, /no private key/],
    ];
    for (const [bundle, host, message] of bad) {
      assert.throws(
        () => checkBundle(bundle, host, new Date()),
        (e: Error) => e instanceof BundleError && message.test(e.message) && !e.message.includes("PRIVATE"),
      );
    }
  });
});
