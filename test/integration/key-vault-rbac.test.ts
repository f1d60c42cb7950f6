// Azure RBAC on the emulator's Key Vault data plane, for tokens of a managed identity (a VM's, from
// that VM's IMDS): the identity reads what a role on the secret, the vault or above allows, nothing
// else, with Key Vault's own 403 (ForbiddenByRbac) before anything about the secret is revealed;
// a token for another audience is refused (401). Role assignments can name one secret as their
// scope once it exists. The journal says which identity each Key Vault request came from.
import assert from "node:assert/strict";
import * as https from "node:https";
import { after, before, describe, test } from "node:test";
import { armFailure } from "../../shared/arm/errors";
import { roleDefinitionId, ROLE_DEFINITIONS } from "../../shared/graph/names";
import { createTestVms, LOCATION, RG, rgId, startAzure, SUB, type AzureFixture } from "../../dev/azure";

const VAULT = "kv-rbac-test";
const VM = "rbac-web-1";
const KEY_VAULT_READER = "21090545-7ca7-4776-b22c-e363652d74d2";

function request(
  url: string,
  ca: string,
  options: { method?: string; token?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: options.method ?? "GET",
        ca,
        timeout: 5_000,
        headers: {
          ...options.headers,
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(options.body ? { "content-type": "application/json" } : {}),
        },
      },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(options.body);
  });
}

describe("Key Vault RBAC for managed identities (emulator)", () => {
  let az: AzureFixture;
  let vaultId: string;
  let vaultUri: string;
  let vmId: string;
  let principal: string;
  let assignments = 0;

  const token = async (endpoint: string, resource = "https://vault.azure.net") => {
    const r = await request(
      `${endpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}`,
      az.emulator.caPem,
      { headers: { Metadata: "true" } },
    );
    assert.equal(r.status, 200, r.body);
    return (JSON.parse(r.body) as { access_token: string }).access_token;
  };
  const vmToken = () => token(az.emulator.imds.endpointFor(vmId));
  const read = async (path: string, bearer: string) =>
    request(`${vaultUri}${path}?api-version=7.4`, az.emulator.caPem, { token: bearer });
  const grant = async (scope: string, role: string) =>
    az.factory
      .authorization(SUB)
      .roleAssignments.create(
        scope,
        `00000000-0000-4000-8000-${String(++assignments).padStart(12, "0")}`,
        { roleDefinitionId: roleDefinitionId(SUB, role), principalId: principal, principalType: "ServicePrincipal" },
        az.factory.call(),
      );

  before(async () => {
    az = await startAzure();
    const call = () => az.factory.call();
    const lro = () => az.factory.lro();
    await az.factory.resources(SUB).resourceGroups.createOrUpdate(RG, { location: LOCATION }, call());
    const vault = await az.factory.keyVaultManagement(SUB).vaults.beginCreateOrUpdateAndWait(
      RG,
      VAULT,
      {
        location: LOCATION,
        properties: {
          tenantId: az.emulator.tenantId,
          sku: { family: "A", name: "standard" },
          enableRbacAuthorization: true,
        },
      },
      lro(),
    );
    vaultId = vault.id!;
    vaultUri = vault.properties.vaultUri!;
    // the app's own credential writes the secrets (it stands for no identity the emulator knows)
    const kv = az.factory.secrets(vaultUri);
    for (const name of ["db-app-a-password", "db-app-b-password", "mysql-admin-password"])
      await kv.setSecret(name, `${name}-value`);
    const [vm] = await createTestVms(az, [VM], { identity: { type: "SystemAssigned" } });
    vmId = vm.id!;
    principal = vm.identity!.principalId!;
  });
  after(() => az?.stop());

  test("an identity without a role reads nothing, not even whether a secret exists", async () => {
    const bearer = await vmToken();
    for (const path of ["/secrets/db-app-a-password", "/secrets/no-such-secret", "/secrets"]) {
      const r = await read(path, bearer);
      assert.equal(r.status, 403, `${path}: ${r.body}`);
      const error = (JSON.parse(r.body) as { error: { code: string; message: string; innererror: { code: string } } })
        .error;
      assert.deepEqual([error.code, error.innererror.code], ["Forbidden", "ForbiddenByRbac"]);
      assert.match(error.message, new RegExp(`Caller: oid=${principal}`));
      assert.match(error.message, /DecisionReason: 'DeniedWithNoValidRBAC'/);
    }
  });

  test("Secrets User on one secret: that secret (and its versions) only; no list, no write", async () => {
    await grant(`${vaultId}/secrets/db-app-a-password`, ROLE_DEFINITIONS.keyVaultSecretsUser);
    const bearer = await vmToken();
    const a = await read("/secrets/db-app-a-password", bearer);
    assert.equal(a.status, 200, a.body);
    assert.equal((JSON.parse(a.body) as { value: string }).value, "db-app-a-password-value");
    assert.equal((await read("/secrets/db-app-a-password/versions", bearer)).status, 200);
    for (const path of ["/secrets/db-app-b-password", "/secrets/mysql-admin-password", "/secrets"])
      assert.equal((await read(path, bearer)).status, 403, path);
    const write = await request(`${vaultUri}/secrets/db-app-a-password?api-version=7.4`, az.emulator.caPem, {
      method: "PUT",
      token: bearer,
      body: JSON.stringify({ value: "overwritten" }),
    });
    assert.equal(write.status, 403, "reading is not writing");
    // the journal names the identity behind each Key Vault request
    const mine = az.emulator.journal.list({ operation: "secret" }).filter((e) => e.caller === principal);
    assert.ok(mine.some((e) => e.path === "/secrets/db-app-a-password" && e.status === 200));
    assert.ok(mine.some((e) => e.path === "/secrets/mysql-admin-password" && e.status === 403));
  });

  test("Key Vault Reader on the vault: metadata, never a value; Secrets User on the vault: every value", async () => {
    await grant(vaultId, KEY_VAULT_READER);
    let bearer = await vmToken();
    assert.equal((await read("/secrets", bearer)).status, 200);
    assert.equal((await read("/secrets/db-app-b-password", bearer)).status, 403);
    await grant(rgId(), ROLE_DEFINITIONS.keyVaultSecretsUser);
    bearer = await vmToken();
    assert.equal((await read("/secrets/mysql-admin-password", bearer)).status, 200, "a role above the vault covers it");
  });

  test("a token for another audience is refused; other bearer tokens stand for no identity and pass", async () => {
    const monitoring = await token(az.emulator.imds.endpointFor(vmId), "https://monitoring.azure.com/");
    const wrong = await read("/secrets/db-app-a-password", monitoring);
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /AKV10022: Invalid audience/);
    const anonymous = await token(az.emulator.url);
    assert.equal((await read("/secrets/db-app-a-password", anonymous)).status, 200);
  });

  test("a role assignment may name one secret as its scope, once that secret exists", async () => {
    await assert.rejects(grant(`${vaultId}/secrets/tls-bundle`, ROLE_DEFINITIONS.keyVaultSecretsUser), (e: unknown) => {
      const f = armFailure(e);
      return f.status === 404 && f.code === "ParentResourceNotFound";
    });
    await az.factory.secrets(vaultUri).setSecret("tls-bundle", "bundle");
    const made = await grant(`${vaultId}/secrets/tls-bundle`, ROLE_DEFINITIONS.keyVaultSecretsUser);
    assert.equal(made.scope?.toLowerCase(), `${vaultId}/secrets/tls-bundle`.toLowerCase());
  });
});
