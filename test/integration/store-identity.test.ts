// Identity-based table access against a real Azurite that checks bearer tokens: HTTPS with a test CA,
// `--oauth basic`. The store is built the way identity-based AzureWebJobsStorage builds it
// (a table endpoint and a token credential, no account key); the token comes from a test credential
// that mints JWTs Azurite's basic check accepts (lifetime, issuer, audience; no signature check).
// Azurite also refuses requests without a token or with a bad one, so passing proves the token path.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { RestError } from "@azure/data-tables";
import { AuditLog, StackRegistry, StoreTables, storeSettingsFromEnv, type StoreSettings } from "../../shared/store";
import { startAzurite, type AzuriteServer } from "../../dev/servers/azurite";
import { TestCa } from "../../dev/servers/test-ca";

const STORAGE_SCOPE = "https://storage.azure.com/.default";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";

let workDir: string;
let caPem: string;
let azurite: AzuriteServer;

type Claims = Record<string, unknown>;

/** Mints a JWT per getToken call, like Entra would for the app's identity; records the scopes asked for. */
class TestTokenCredential implements TokenCredential {
  readonly requests: string[][] = [];
  private readonly key = randomBytes(32);
  constructor(private readonly claims: (now: number) => Claims = validClaims) {}

  getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    this.requests.push(typeof scopes === "string" ? [scopes] : [...scopes]);
    const now = Math.floor(Date.now() / 1000);
    return Promise.resolve({ token: this.jwt(this.claims(now)), expiresOnTimestamp: (now + 3600) * 1000 });
  }

  private jwt(claims: Claims): string {
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
    return `${unsigned}.${createHmac("sha256", this.key).update(unsigned).digest("base64url")}`;
  }
}

function validClaims(now: number): Claims {
  return {
    aud: "https://storage.azure.com",
    iss: `https://sts.windows.net/${TENANT}/`,
    iat: now - 60,
    nbf: now - 60,
    exp: now + 3600,
    tid: TENANT,
    oid: "11059fcc-5514-4800-b5f8-49808b9cfab6",
    appid: "0b2cf8b4-7f3b-4a5f-8f38-1a1a1a1a1a1a",
  };
}

function identitySettings(tablePrefix: string): StoreSettings {
  return {
    tableEndpoint: azurite.tableEndpoint,
    credential: "managedidentity",
    clientId: "0b2cf8b4-7f3b-4a5f-8f38-1a1a1a1a1a1a",
    tablePrefix,
    requestTimeoutMs: 5_000,
    retry: { maxRetries: 1, retryDelayInMs: 10, maxRetryDelayInMs: 100 },
  };
}

/** One raw HTTPS call to Azurite's table endpoint, trusting only the test CA. */
function rawTableRequest(pathname: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(`${azurite.tableEndpoint}${pathname}`);
  return new Promise((resolve, reject) => {
    const request = https.get(
      url,
      {
        ca: caPem,
        timeout: 5_000,
        headers: { accept: "application/json;odata=nometadata", "x-ms-version": "2019-02-02", ...headers },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    request.on("timeout", () => request.destroy(new Error("Azurite did not answer within 5 s")));
    request.on("error", reject);
  });
}

before(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-store-identity-"));
  const ca = TestCa.create(path.join(workDir, "pki"), "Jumpgate storage test CA");
  caPem = ca.certPem;
  const leaf = ca.issue({ commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], dnsNames: ["localhost"] });
  azurite = await startAzurite({ https: { certPath: leaf.certPath, keyPath: leaf.keyPath, caPem }, oauth: "basic" });
});
after(async () => {
  await azurite?.stop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe("identity-based table store against Azurite with OAuth", () => {
  test("the endpoint is HTTPS and the settings bind from AzureWebJobsStorage__* alone", () => {
    assert.match(azurite.tableEndpoint, /^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    const s = storeSettingsFromEnv({
      AzureWebJobsStorage__tableServiceUri: azurite.tableEndpoint,
      AzureWebJobsStorage__credential: "managedidentity",
    });
    assert.equal(s.tableEndpoint, azurite.tableEndpoint);
    assert.equal(s.connectionString, undefined);
  });

  test("StackRegistry and AuditLog write and read with bearer tokens, no account key", async () => {
    const credential = new TestTokenCredential();
    const tables = new StoreTables(identitySettings("oauthok"), { credential, caPem });
    assert.equal(tables.credential, credential);
    assert.equal(tables.clientOf("stacks").url, azurite.tableEndpoint);

    const registry = new StackRegistry<{ nodes: number }, never>(tables);
    const put = await registry.putDesired("identity-1", { nodes: 2 });
    assert.ok(put.ok);
    assert.equal(put.change, "created");
    const read = await registry.get("identity-1");
    assert.deepEqual(read?.spec, { nodes: 2 });
    assert.equal(read?.generation, 1);

    const audit = new AuditLog(tables);
    await audit.append({ stack: "identity-1", what: "deploy started", why: "test", actor: "test:identity" });
    await audit.append({ stack: "identity-1", what: "deploy finished", why: "test", actor: "test:identity" });
    assert.deepEqual(
      (await audit.all("identity-1")).map((e) => e.what),
      ["deploy finished", "deploy started"],
    );

    assert.ok(credential.requests.length >= 1, "the credential was asked for a token");
    for (const scopes of credential.requests) assert.deepEqual(scopes, [STORAGE_SCOPE]);
  });

  test("Azurite refuses table calls without a token or with a bad one (the checks above are not vacuous)", async () => {
    // the tables exist now (created by the test above) and hold a stack
    const anonymous = await rawTableRequest("/Tables", {});
    assert.equal(anonymous.status, 403, anonymous.body);
    assert.match(anonymous.body, /AuthorizationFailure/);

    const good = new TestTokenCredential();
    const token = (await good.getToken(STORAGE_SCOPE)).token;
    const withToken = await rawTableRequest("/Tables", { authorization: `Bearer ${token}` });
    assert.equal(withToken.status, 200, withToken.body);
    assert.match(withToken.body, /oauthokstacks/);

    const garbage = await rawTableRequest("/Tables", { authorization: "Bearer not-a-jwt" });
    assert.equal(garbage.status, 403, garbage.body);
    assert.match(garbage.body, /AuthenticationFailed/);

    const bad: [string, (now: number) => Claims, RegExp][] = [
      ["expired", (now) => ({ ...validClaims(now), iat: now - 7200, nbf: now - 7200, exp: now - 3600 }), /expired/],
      ["wrong audience", (now) => ({ ...validClaims(now), aud: "https://vault.azure.net" }), /audience/],
      ["wrong issuer", (now) => ({ ...validClaims(now), iss: "https://attacker.example/" }), /issuer/],
    ];
    for (const [what, claims, message] of bad) {
      const tables = new StoreTables(identitySettings("oauthok"), {
        credential: new TestTokenCredential(claims),
        caPem,
      });
      await assert.rejects(
        new StackRegistry<{ nodes: number }, never>(tables).get("identity-1"),
        (e: unknown) => e instanceof RestError && e.statusCode === 403 && message.test(e.message),
        what,
      );
    }
  });

  test("the test CA is really checked: without it the store cannot connect", async () => {
    const tables = new StoreTables(identitySettings("oauthok"), { credential: new TestTokenCredential() });
    await assert.rejects(new StackRegistry(tables).get("identity-1"), /certificate/i);
  });

  test("the store does not fall back to anything else when the credential fails", async () => {
    const failing: TokenCredential = {
      getToken: () => Promise.reject(new Error("no managed identity endpoint here")),
    };
    const tables = new StoreTables(identitySettings("oauthnone"), { credential: failing, caPem });
    await assert.rejects(new StackRegistry(tables).get("anything"), /no managed identity endpoint here/);
    // and nothing was created: the table the store would have made does not exist
    const token = (await new TestTokenCredential().getToken(STORAGE_SCOPE)).token;
    const tablesList = await rawTableRequest("/Tables", { authorization: `Bearer ${token}` });
    assert.doesNotMatch(tablesList.body, /oauthnone/);
  });
});
