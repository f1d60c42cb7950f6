// The table store's settings: a connection string, or identity-based AzureWebJobsStorage__* (account
// name or table service URL, managed identity with an optional client id), precedence and refusals.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "../../shared/config";
import { StoreTables, storeSettingsFromEnv, validateStoreSettings, type StoreSettings } from "../../shared/store";

const CLIENT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const COMMON = {
  tablePrefix: "jumpgate",
  requestTimeoutMs: 1000,
  retry: { maxRetries: 0, retryDelayInMs: 1, maxRetryDelayInMs: 1 },
};

function refused(env: Record<string, string>, message: RegExp): void {
  assert.throws(
    () => storeSettingsFromEnv(env),
    (e: Error) => e instanceof ConfigError && message.test(e.message),
    JSON.stringify(env),
  );
}

test("a connection string in AzureWebJobsStorage binds as it did, shared key", () => {
  const s = storeSettingsFromEnv({ AzureWebJobsStorage: "UseDevelopmentStorage=true" });
  assert.deepEqual(Object.keys(s).sort(), ["connectionString", "requestTimeoutMs", "retry", "tablePrefix"]);
  assert.equal(s.connectionString, "UseDevelopmentStorage=true");
  const tables = new StoreTables(s);
  assert.equal(tables.credential, undefined);
  assert.equal(tables.clientOf("stacks").url, "http://127.0.0.1:10002/devstoreaccount1");
});

test("a connection string wins over the identity-based settings", () => {
  const s = storeSettingsFromEnv({
    AzureWebJobsStorage: "UseDevelopmentStorage=true",
    AzureWebJobsStorage__accountName: "jumpgatefn",
    AzureWebJobsStorage__tableServiceUri: "https://other.table.core.windows.net",
    AzureWebJobsStorage__credential: "managedidentity",
    AzureWebJobsStorage__clientId: CLIENT_ID,
  });
  assert.equal(s.connectionString, "UseDevelopmentStorage=true");
  assert.equal(s.tableEndpoint, undefined);
  assert.equal(s.credential, undefined);
  assert.equal(s.clientId, undefined);
});

test("account name, managed identity and client id: the user-assigned identity on the account's table endpoint", () => {
  const s = storeSettingsFromEnv({
    AzureWebJobsStorage__accountName: "jumpgatefn",
    AzureWebJobsStorage__credential: "managedidentity",
    AzureWebJobsStorage__clientId: CLIENT_ID,
    JUMPGATE_TABLE_PREFIX: "jg2",
  });
  assert.equal(s.connectionString, undefined);
  assert.equal(s.tableEndpoint, "https://jumpgatefn.table.core.windows.net");
  assert.equal(s.credential, "managedidentity");
  assert.equal(s.clientId, CLIENT_ID);
  const tables = new StoreTables(s);
  assert.equal(tables.credential?.constructor.name, "ManagedIdentityCredential");
  assert.equal(tables.clientOf("events").url, "https://jumpgatefn.table.core.windows.net");
  assert.equal(tables.clientOf("events").tableName, "jg2events");
});

test("managed identity without a client id is the system-assigned identity", () => {
  const s = storeSettingsFromEnv({
    AzureWebJobsStorage__accountName: "jumpgatefn",
    AzureWebJobsStorage__credential: "ManagedIdentity", // the host compares case-insensitively
  });
  assert.equal(s.credential, "managedidentity");
  assert.equal("clientId" in s, false);
  assert.equal(new StoreTables(s).credential?.constructor.name, "ManagedIdentityCredential");
});

test("no credential setting: DefaultAzureCredential", () => {
  const s = storeSettingsFromEnv({ AzureWebJobsStorage__accountName: "jumpgatefn" });
  assert.equal(s.credential, "default");
  assert.equal(new StoreTables(s).credential?.constructor.name, "DefaultAzureCredential");
});

test("tableServiceUri overrides the account's endpoint, and works alone", () => {
  const both = storeSettingsFromEnv({
    AzureWebJobsStorage__accountName: "jumpgatefn",
    AzureWebJobsStorage__tableServiceUri: "https://jumpgatefn.table.core.chinacloudapi.cn/",
    AzureWebJobsStorage__credential: "managedidentity",
  });
  assert.equal(both.tableEndpoint, "https://jumpgatefn.table.core.chinacloudapi.cn", "trailing slash dropped");
  const alone = storeSettingsFromEnv({
    AzureWebJobsStorage__tableServiceUri: "https://127.0.0.1:10002/devstoreaccount1",
    AzureWebJobsStorage__credential: "managedidentity",
  });
  assert.equal(alone.tableEndpoint, "https://127.0.0.1:10002/devstoreaccount1");
  assert.equal(new StoreTables(alone).clientOf("stacks").url, "https://127.0.0.1:10002/devstoreaccount1");
});

test("identity-based settings are refused with the setting's name and what to set", () => {
  const account = { AzureWebJobsStorage__accountName: "jumpgatefn" };
  refused({}, /set AzureWebJobsStorage to a connection string .*AzureWebJobsStorage__accountName=<account>/);
  refused({ AzureWebJobsStorage__credential: "managedidentity" }, /AzureWebJobsStorage__accountName/);
  refused(
    { AzureWebJobsStorage__accountName: "Jumpgate_FN" },
    /AzureWebJobsStorage__accountName must be a storage account name/,
  );
  for (const credential of ["clientsecret", "azurecli", "default", "workloadidentity"])
    refused(
      { ...account, AzureWebJobsStorage__credential: credential },
      /AzureWebJobsStorage__credential must be 'managedidentity'/,
    );
  refused(
    { ...account, AzureWebJobsStorage__credential: "managedidentity", AzureWebJobsStorage__clientId: "my-identity" },
    /AzureWebJobsStorage__clientId must be the client id \(a GUID\)/,
  );
  refused(
    { ...account, AzureWebJobsStorage__clientId: CLIENT_ID },
    /AzureWebJobsStorage__clientId is used only with AzureWebJobsStorage__credential=managedidentity/,
  );
  const uri = (u: string) => ({
    AzureWebJobsStorage__tableServiceUri: u,
    AzureWebJobsStorage__credential: "managedidentity",
  });
  refused(uri("http://jumpgatefn.table.core.windows.net"), /AzureWebJobsStorage__tableServiceUri must use https/);
  refused(uri("http://10.0.0.4:10002/devstoreaccount1"), /must use https/);
  refused(uri("http://127.0.0.1:10002/devstoreaccount1"), /needs https even on loopback/);
  refused(uri("ftp://jumpgatefn.table.core.windows.net"), /must use https/);
  refused(uri("jumpgatefn.table.core.windows.net"), /AzureWebJobsStorage__tableServiceUri is not a URL/);
  refused(uri("https://jumpgatefn.table.core.windows.net/?sv=2024&sig=x"), /plain service URL/);
  refused({ ...account, JUMPGATE_TABLE_PREFIX: "jg-x" }, /JUMPGATE_TABLE_PREFIX/);
});

test("settings given directly are validated the same way", () => {
  const identity = (patch: Partial<StoreSettings>): StoreSettings =>
    ({
      tableEndpoint: "https://jumpgatefn.table.core.windows.net",
      credential: "managedidentity",
      ...COMMON,
      ...patch,
    }) as StoreSettings;
  assert.equal(validateStoreSettings(identity({ clientId: CLIENT_ID })).clientId, CLIENT_ID);
  const bad: [StoreSettings, RegExp][] = [
    [identity({ clientId: "nope" }), /AzureWebJobsStorage__clientId must be the client id/],
    [
      identity({ credential: "default", clientId: CLIENT_ID }),
      /only with AzureWebJobsStorage__credential=managedidentity/,
    ],
    [identity({ credential: "azurecli" as "default" }), /AzureWebJobsStorage__credential must be 'managedidentity'/],
    [identity({ tableEndpoint: "http://jumpgatefn.table.core.windows.net" }), /must use https/],
  ];
  for (const [s, message] of bad) {
    assert.throws(
      () => new StoreTables(s),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
      message.source,
    );
  }
});

test("a token credential is for identity-based settings only", () => {
  const credential = { getToken: () => Promise.resolve(null) };
  assert.throws(
    () => new StoreTables({ connectionString: "UseDevelopmentStorage=true", ...COMMON }, { credential }),
    /identity-based/,
  );
  const tables = new StoreTables(
    { tableEndpoint: "https://jumpgatefn.table.core.windows.net", credential: "managedidentity", ...COMMON },
    { credential },
  );
  assert.equal(tables.credential, credential);
});
