// Token mode of the alert intake (Azure Monitor's secure webhook) through the real HTTP route
// POST /api/alerts/entra: real RS256 tokens signed with a key whose public half a local Entra
// stand-in publishes as the tenant's JWKS on 127.0.0.1 (the path Entra uses,
// /{tenant}/discovery/v2.0/keys). A token of Azure Monitor's action groups for Jumpgate's alerts
// application, v1 or v2, is let through; every other token (wrong issuer, audience, tenant, caller
// app or object id, missing role, expired, unsigned, signed by an unknown key) is a 401 problem
// that records nothing; an unreachable key set is a 503 Azure Monitor retries.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { ACTION_GROUPS_APP_ID, AlertTokenValidator, type AlertTokenSettings } from "../../shared/alerts/entra-token";
import { validateStackSpec } from "../../shared/spec";
import { startJumpgateEnv, TENANT_ID, type JumpgateEnv } from "../../dev/jumpgate-env";
import type * as JoseModule from "jose" with { "resolution-mode": "import" };

type Jose = typeof JoseModule;
type Json = Record<string, unknown>;
type Key = Awaited<ReturnType<Jose["generateKeyPair"]>>["privateKey"];

const SUB = "00000000-0000-0000-0000-00000000e1d0";
const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "alerts");
const AUDIENCE = `api://${TENANT_ID}/jumpgate-alerts-test`;
const CLIENT_ID = "5f0c7a1e-9d2b-4c3e-8a41-6b2d9e0f1c37";
const AZNS_OBJECT_ID = "0d3f6b52-7c1a-4e9b-a2d8-51f0c6e4b7a9";
const ROLE = "ActionGroupsSecureWebhook";

describe("alert intake, token mode", () => {
  let env: JumpgateEnv;
  let jose: Jose;
  let entra: http.Server;
  let authority: string;
  let signingKey: Key;
  let strangerKey: Key;
  let jwksRequests = 0;

  const v2Issuer = () => `${authority}/${TENANT_ID}/v2.0`;
  const v2Claims = (): Json => ({
    iss: v2Issuer(),
    aud: CLIENT_ID,
    tid: TENANT_ID,
    azp: ACTION_GROUPS_APP_ID,
    oid: AZNS_OBJECT_ID,
    roles: [ROLE],
    ver: "2.0",
  });

  async function sign(claims: Json, options: { key?: Key; kid?: string; expiresIn?: string } = {}) {
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: options.kid ?? "k1", typ: "JWT" })
      .setIssuedAt()
      .setNotBefore("-1m")
      .setExpirationTime(options.expiresIn ?? "5m")
      .sign(options.key ?? signingKey);
  }

  function alertBody(tag: string): Json {
    const payload = JSON.parse(
      fs
        .readFileSync(path.join(FIXTURES, "resource-health-vm.json"), "utf8")
        .replaceAll("7c0a1e2b-3d4f-4a5b-8c6d-9e0f1a2b3c4d", SUB),
    ) as Json;
    const essentials = (payload.data as Json).essentials as Json;
    essentials.alertId = `${String(essentials.alertId)}-${tag}`;
    essentials.alertTargetIDs = [
      `/subscriptions/${SUB}/resourcegroups/rg-tok/providers/microsoft.compute/virtualmachines/tok-web-1`,
    ];
    return payload;
  }

  async function post(body: Json, authorization?: string) {
    const res = await fetch(`${env.api}/alerts/entra`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      contentType: res.headers.get("content-type"),
      challenge: res.headers.get("www-authenticate"),
      retryAfter: res.headers.get("retry-after"),
      json: (await res.json()) as Json,
    };
  }

  before(async () => {
    jose = await import("jose");
    const pair = await jose.generateKeyPair("RS256", { extractable: true });
    signingKey = pair.privateKey;
    strangerKey = (await jose.generateKeyPair("RS256")).privateKey;
    const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: "k1", use: "sig", alg: "RS256" };
    // the tenant's published signing keys, as Entra serves them
    entra = http.createServer((req, res) => {
      if (req.url === `/${TENANT_ID}/discovery/v2.0/keys`) {
        jwksRequests++;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => entra.listen(0, "127.0.0.1", resolve));
    authority = `http://127.0.0.1:${(entra.address() as AddressInfo).port}`;
    const settings: AlertTokenSettings = {
      tenantId: TENANT_ID,
      audiences: [AUDIENCE, CLIENT_ID],
      authority,
      callerAppId: ACTION_GROUPS_APP_ID,
      callerObjectId: AZNS_OBJECT_ID,
      role: ROLE,
    };
    env = await startJumpgateEnv({ http: true, realTime: { timeScale: 50 }, alertToken: settings });
    const spec = validateStackSpec({
      name: "tok",
      subscriptionId: SUB,
      resourceGroup: "rg-tok",
      location: "westeurope",
    });
    assert.ok(spec.ok);
    await env.registry.putDesired("tok", spec.spec);
  });

  after(async () => {
    await env?.stop();
    await new Promise<void>((resolve) => (entra ? entra.close(() => resolve()) : resolve()));
  });

  test("a v2 token of Azure Monitor's action groups for the alerts application is let through", async () => {
    const res = await post(alertBody("v2"), `Bearer ${await sign(v2Claims())}`);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const [signal] = res.json.signals as Json[];
    assert.deepEqual([signal.stack, signal.intent, signal.node], ["tok", "heal", "tok-web-1"]);
    assert.equal((await env.inbox.recent("tok")).length, 1);
  });

  test("a v1 token (sts.windows.net issuer, appid, the identifier URI as audience) is let through too", async () => {
    const { azp: _azp, ...rest } = v2Claims();
    const claims = {
      ...rest,
      iss: `https://sts.windows.net/${TENANT_ID}/`,
      aud: AUDIENCE,
      appid: ACTION_GROUPS_APP_ID,
      ver: "1.0",
    };
    const res = await post(alertBody("v1"), `Bearer ${await sign(claims)}`);
    assert.equal(res.status, 202, JSON.stringify(res.json));
  });

  test("every other token is a 401 problem that records nothing", async () => {
    const other = "11111111-2222-3333-4444-555555555555";
    const expired = new jose.SignJWT(v2Claims())
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 1800)
      .sign(signingKey);
    const cases: [string, string | undefined][] = [
      ["no Authorization header", undefined],
      ["not a bearer token", "Basic dXNlcjpwYXNz"],
      ["garbage", "Bearer not.a.token"],
      [
        "wrong issuer",
        `Bearer ${await sign({ ...v2Claims(), iss: `https://login.microsoftonline.com/${other}/v2.0` })}`,
      ],
      ["wrong audience", `Bearer ${await sign({ ...v2Claims(), aud: "api://someone-else" })}`],
      ["another tenant's tid", `Bearer ${await sign({ ...v2Claims(), tid: other })}`],
      ["another caller app", `Bearer ${await sign({ ...v2Claims(), azp: other })}`],
      ["another object id", `Bearer ${await sign({ ...v2Claims(), oid: other })}`],
      ["no app role", `Bearer ${await sign({ ...v2Claims(), roles: [] })}`],
      ["expired", `Bearer ${await expired}`],
      [
        "unsigned (alg none)",
        `Bearer ${new jose.UnsecuredJWT(v2Claims()).setIssuedAt().setExpirationTime("5m").encode()}`,
      ],
      ["signed by a key the tenant does not publish", `Bearer ${await sign(v2Claims(), { key: strangerKey })}`],
      ["an unknown key id", `Bearer ${await sign(v2Claims(), { key: strangerKey, kid: "k2" })}`],
    ];
    for (const [what, authorization] of cases) {
      const res = await post(alertBody(`bad-${what.replace(/\W+/g, "-")}`), authorization);
      assert.equal(res.status, 401, `${what}: ${JSON.stringify(res.json)}`);
      assert.equal(res.contentType, "application/problem+json", what);
      assert.equal(res.json.status, 401, what);
      assert.equal(res.json.title, "Unauthorized", what);
      assert.equal(res.challenge, 'Bearer error="invalid_token"', what);
    }
    assert.equal((await env.inbox.recent("tok")).length, 2, "only the two good deliveries were recorded");
    assert.ok(jwksRequests >= 1 && jwksRequests <= 3, `the key set is cached (${jwksRequests} fetches)`);
  });

  test("an unreachable key set is a 503 with Retry-After; a route without token mode is a 404", async () => {
    // a fresh validator, so the cached keys don't answer
    const validator = env.services.alertToken!;
    env.services.alertToken = new AlertTokenValidator({ ...validator.settings, authority: "http://127.0.0.1:9" });
    try {
      const res = await post(alertBody("down"), `Bearer ${await sign(v2Claims())}`);
      assert.equal(res.status, 503, JSON.stringify(res.json));
      assert.equal(res.retryAfter, "10");
      env.services.alertToken = undefined;
      const off = await post(alertBody("off"), `Bearer ${await sign(v2Claims())}`);
      assert.equal(off.status, 404);
      assert.match(String(off.json.detail), /token mode is not configured/);
    } finally {
      env.services.alertToken = validator;
    }
  });
});
