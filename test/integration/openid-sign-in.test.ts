// The sign-in settings Jumpgate renders into guacamole.properties (shared/access/sign-in.ts), held
// against a real, standards-compliant OpenID Provider on 127.0.0.1 standing in for Entra ID:
// oidc-provider (the certified node-oidc-provider), laid out like an Entra tenant's v2.0 endpoints
// ({authority}/{tenant}/v2.0 as issuer, .../oauth2/v2.0/authorize, .../discovery/v2.0/keys), with a
// client registered the way the app registration is (infra/app/sign-in-app.bicep: the stack's
// https://{hostname}/ as redirect URI, ID tokens from the authorization endpoint, the groups claim).
//  - the issuer's discovery document names exactly the issuer and endpoints the properties name
//  - the login URL Guacamole 1.6.0 builds from the properties (AuthenticationProviderService
//    .getLoginURI: scope, response_type=id_token, client_id, redirect_uri, nonce) is accepted, and
//    the ID token it ends in verifies the way TokenValidationService checks it (signature by a key of
//    the JWKS endpoint, issuer, audience = client id, subject, expiry, our nonce) and carries the
//    claims the properties name: the username and the groups
import assert from "node:assert/strict";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { signInProperties, type SignInKey } from "../../shared/access/sign-in";
import type { StackSpec } from "../../shared/spec/types";
import type Provider from "oidc-provider" with { "resolution-mode": "import" };

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT = "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70";
const HOSTNAME = "jump.example.com";
const ADMINS = "0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f";
const USERS = "6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f";
const ALICE = {
  sub: "aX3k9-subject",
  preferred_username: "alice@contoso.example",
  email: "alice.mail@contoso.example",
};

interface Answer {
  status: number;
  location?: string;
  body: string;
}

describe("sign-in settings against a real OpenID Provider on 127.0.0.1", { timeout: 60_000 }, () => {
  let server: http.Server;
  let provider: Provider;
  let authority: string;
  const cookies = new Map<string, string>();

  /** One request, no redirects followed, cookies kept like a browser would (all paths alike). */
  function get(url: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
      const req = http.get(url, { headers: cookie ? { cookie } : {}, timeout: 5_000 }, (res) => {
        for (const set of res.headers["set-cookie"] ?? []) {
          const [pair] = set.split(";");
          const eq = pair.indexOf("=");
          cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
      });
      req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
      req.on("error", reject);
    });
  }

  // bounded: once, in a loaded full run, this hook stalled for minutes after the provider's import
  before(
    async () => {
      const { default: OidcProvider } = await import("oidc-provider");
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test-signing-key", use: "sig", alg: "RS256" };
      server = http.createServer();
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      authority = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const tenantPath = `/${TENANT}`;
      provider = new OidcProvider(`${authority}${tenantPath}/v2.0`, {
        jwks: { keys: [jwk] },
        clients: [
          {
            client_id: CLIENT,
            // what the app registration declares: ID tokens from the authorization endpoint (implicit),
            // the stack's own address as redirect URI, no secret
            response_types: ["id_token"],
            grant_types: ["implicit"],
            redirect_uris: [`https://${HOSTNAME}/`],
            token_endpoint_auth_method: "none",
          },
        ],
        // Entra's v2.0 paths under the tenant
        routes: { authorization: "/oauth2/v2.0/authorize", jwks: "/discovery/v2.0/keys" },
        // the app registration's groupMembershipClaims: the user's group object ids in every ID token
        claims: { openid: ["sub", "groups"], profile: ["preferred_username", "name"], email: ["email"] },
        findAccount: (_ctx, id) => ({
          accountId: id,
          claims: () => ({ ...ALICE, sub: id, name: "Alice", groups: [ADMINS, USERS] }),
        }),
        features: { devInteractions: { enabled: false } },
        interactions: { url: (_ctx, interaction) => `${tenantPath}/interaction/${interaction.uid}` },
      });
      const callback = provider.callback();
      server.on("request", (req, res) => {
        void (async () => {
          const url = new URL(req.url ?? "/", authority);
          // the user signs in (no form: Alice, every scope the client asked for)
          const interaction = new RegExp(`^${tenantPath}/interaction/[^/]+$`).exec(url.pathname);
          if (interaction) {
            const details = await provider.interactionDetails(req, res);
            const grant = new provider.Grant({ accountId: ALICE.sub, clientId: CLIENT });
            grant.addOIDCScope(String(details.params.scope));
            await provider.interactionFinished(
              req,
              res,
              { login: { accountId: ALICE.sub }, consent: { grantId: await grant.save() } },
              { mergeWithLastSubmission: false },
            );
            return;
          }
          if (!url.pathname.startsWith(`${tenantPath}/`)) {
            res.writeHead(404).end();
            return;
          }
          // mounted under the tenant, like Entra: discovery is also at {issuer}/.well-known/...
          const inner = url.pathname.slice(tenantPath.length).replace(/^\/v2\.0\/\.well-known\//, "/.well-known/");
          (req as http.IncomingMessage & { originalUrl?: string }).originalUrl = `${tenantPath}${inner}${url.search}`;
          req.url = `${inner}${url.search}`;
          void callback(req, res);
        })().catch((e: unknown) => {
          res.writeHead(500).end(String(e));
        });
      });
    },
    { timeout: 30_000 },
  );

  after(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  const properties = () => {
    const access: NonNullable<StackSpec["access"]> = {
      tenantId: TENANT,
      clientId: CLIENT,
      usernameClaim: "preferred_username",
      adminGroups: [ADMINS],
      userGroups: [USERS],
      breakGlass: { maxMinutes: 240, passwordMaxAgeDays: 30 },
    };
    return new Map<SignInKey, string>(signInProperties(access, { publicHostname: HOSTNAME, authority }));
  };

  test("the issuer's discovery document confirms the issuer, authorization and JWKS endpoints the properties name", async () => {
    const p = properties();
    const answer = await get(`${p.get("openid-issuer")}/.well-known/openid-configuration`);
    assert.equal(answer.status, 200, answer.body);
    const discovery = JSON.parse(answer.body) as Record<string, unknown>;
    assert.equal(discovery.issuer, p.get("openid-issuer"));
    assert.equal(discovery.issuer, `${authority}/${TENANT}/v2.0`);
    assert.equal(discovery.authorization_endpoint, p.get("openid-authorization-endpoint"));
    assert.equal(discovery.authorization_endpoint, `${authority}/${TENANT}/oauth2/v2.0/authorize`);
    assert.equal(discovery.jwks_uri, p.get("openid-jwks-endpoint"));
    assert.equal(discovery.jwks_uri, `${authority}/${TENANT}/discovery/v2.0/keys`);
    // what the extension asks for is what the provider offers
    assert.ok((discovery.response_types_supported as string[]).includes("id_token"));
    for (const scope of p.get("openid-scope")!.split(" "))
      assert.ok((discovery.scopes_supported as string[]).includes(scope), scope);
    for (const claim of [p.get("openid-username-claim-type")!, p.get("openid-groups-claim-type")!])
      assert.ok((discovery.claims_supported as string[]).includes(claim), claim);
    assert.equal(p.get("openid-redirect-uri"), `https://${HOSTNAME}/`);
    assert.equal(p.get("extension-priority"), "openid, mysql");
  });

  test("Guacamole's login URL ends in a signed ID token with the username and groups claims the properties name", async () => {
    const p = properties();
    const nonce = randomUUID();
    // AuthenticationProviderService.getLoginURI (guacamole-auth-sso-openid 1.6.0), parameter by parameter
    const login = new URL(p.get("openid-authorization-endpoint")!);
    login.searchParams.set("scope", p.get("openid-scope")!);
    login.searchParams.set("response_type", "id_token");
    login.searchParams.set("client_id", p.get("openid-client-id")!);
    login.searchParams.set("redirect_uri", p.get("openid-redirect-uri")!);
    login.searchParams.set("nonce", nonce);

    let answer = await get(login.href);
    for (let hops = 0; answer.location && !answer.location.startsWith(p.get("openid-redirect-uri")!); hops++) {
      assert.ok(hops < 5, `too many redirects, last: ${answer.location}`);
      answer = await get(new URL(answer.location, authority).href);
    }
    assert.ok(answer.location, `the provider redirects back (${answer.status} ${answer.body.slice(0, 300)})`);
    const fragment = new URLSearchParams(new URL(answer.location).hash.slice(1));
    assert.equal(fragment.get("error"), null, fragment.get("error_description") ?? "");
    const token = fragment.get("id_token");
    assert.ok(token, `an id_token in ${answer.location}`);

    // TokenValidationService.validateToken, with jose: signature by a key of the JWKS endpoint,
    // issuer, audience = client id, expiry, subject, and the nonce Guacamole generated
    const { createRemoteJWKSet, jwtVerify } = await import("jose");
    const keys = createRemoteJWKSet(new URL(p.get("openid-jwks-endpoint")!));
    const { payload, protectedHeader } = await jwtVerify(token, keys, {
      issuer: p.get("openid-issuer")!,
      audience: p.get("openid-client-id")!,
      requiredClaims: ["exp", "sub", "nonce"],
    });
    assert.equal(protectedHeader.alg, "RS256");
    assert.equal(payload.nonce, nonce);
    // processUsername and processGroups read exactly these claims
    assert.equal(payload[p.get("openid-username-claim-type")!], ALICE.preferred_username);
    assert.deepEqual(payload[p.get("openid-groups-claim-type")!], [ADMINS, USERS]);

    // a token for another audience or issuer fails the same checks
    await assert.rejects(jwtVerify(token, keys, { issuer: p.get("openid-issuer")!, audience: randomUUID() }));
    await assert.rejects(jwtVerify(token, keys, { issuer: `${authority}/${randomUUID()}/v2.0`, audience: CLIENT }));
  });
});
