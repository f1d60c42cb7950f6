// App settings: one registry, a sample that lists exactly it, safe validation of the Azure options.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { HOST_SETTINGS, SETTINGS, ConfigError } from "../../shared/config";
import { AzureClientFactory } from "../../shared/azure/clients";
import { azureSettingsFromEnv } from "../../shared/azure/settings";
import { DEFAULT_LATENCY } from "../../emulator/arm/latency";

const root = path.resolve(__dirname, "../../..");

test("local.settings.sample.json lists exactly the settings the code reads, each explained", () => {
  const sample = JSON.parse(fs.readFileSync(path.join(root, "local.settings.sample.json"), "utf8")) as {
    Values: Record<string, string>;
    Comments: Record<string, string>;
  };
  const expected = [...HOST_SETTINGS, ...Object.values(SETTINGS)].map((s) => s.name).sort();
  assert.deepEqual(
    Object.keys(sample.Values).sort(),
    expected,
    "run `npm run build && node scripts/settings-sample.mjs`",
  );
  assert.equal(sample.Values.AzureWebJobsStorage, "UseDevelopmentStorage=true");
  for (const name of expected) assert.ok((sample.Comments[name] ?? "").length > 10, `${name} is explained`);
});

test("only shared/config.ts reads process.env in app code", () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, f.name);
      if (f.isDirectory()) walk(p);
      else if (
        p.endsWith(".ts") &&
        !p.endsWith(path.join("shared", "config.ts")) &&
        /process\.env\b/.test(fs.readFileSync(p, "utf8"))
      )
        offenders.push(path.relative(root, p));
    }
  };
  walk(path.join(root, "functions"));
  walk(path.join(root, "shared"));
  // settings.ts passes process.env as the default source to config.ts readers only
  assert.deepEqual(
    offenders.filter((p) => !p.endsWith(path.join("azure", "settings.ts"))),
    [],
  );
});

test("host.json: v4 extension bundle, task hub from an app setting, storage by connection name", () => {
  const host = JSON.parse(fs.readFileSync(path.join(root, "host.json"), "utf8")) as {
    extensionBundle: { version: string };
    extensions: { durableTask: { hubName: string; storageProvider: Record<string, string> } };
  };
  assert.equal(host.extensionBundle.version, "[4.*, 5.0.0)");
  assert.equal(host.extensions.durableTask.hubName, `%${SETTINGS.taskHub.name}%`);
  // connectionName (not connectionStringName) also accepts identity-based AzureWebJobsStorage__* settings
  assert.equal(host.extensions.durableTask.storageProvider.connectionName, SETTINGS.storage.name);
  assert.equal(host.extensions.durableTask.storageProvider.connectionStringName, undefined);
});

test("host.json: an activity may wait out the longest ARM operation it waits for, twice over", () => {
  // the engine's apply and the image capture wait for their long-running operation inside one
  // activity run: a MySQL flexible server's create, an image version's capture (emulator profile)
  const host = JSON.parse(fs.readFileSync(path.join(root, "host.json"), "utf8")) as { functionTimeout: string };
  const [h, m, s] = host.functionTimeout.split(":").map(Number);
  const timeoutMs = ((h * 60 + m) * 60 + s) * 1000;
  const longest = Math.max(
    DEFAULT_LATENCY["microsoft.dbformysql/flexibleservers"].put,
    DEFAULT_LATENCY["microsoft.compute/galleries/images/versions"].put,
  );
  assert.ok(timeoutMs >= 2 * longest, `functionTimeout ${host.functionTimeout} < 2 x ${longest / 1000} s`);
});

test("defaults bind to production Azure with the managed identity", () => {
  const s = azureSettingsFromEnv({});
  assert.equal(s.armEndpoint, "https://management.azure.com");
  assert.equal(s.credential, "default");
  assert.equal(s.verifyKeyVaultChallengeResource, true);
  assert.equal(s.retry.maxRetries, 3);
  const factory = new AzureClientFactory(s);
  assert.equal(factory.credential.constructor.name, "DefaultAzureCredential");
  assert.equal(factory.lro().updateIntervalInMs, 2000);
});

test("unsafe or malformed settings are refused with the setting's name", () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ JUMPGATE_AZURE_CREDENTIAL: "emulator" }, /loopback/],
    [{ JUMPGATE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: "false" }, /loopback/],
    [{ JUMPGATE_ARM_ENDPOINT: "http://127.0.0.1:1234" }, /JUMPGATE_ARM_ENDPOINT must use https/],
    [{ JUMPGATE_HTTP_TIMEOUT_MS: "soon" }, /JUMPGATE_HTTP_TIMEOUT_MS must be a whole number/],
    [{ JUMPGATE_AZURE_CREDENTIAL: "password" }, /must be 'default' or 'emulator'/],
    [{ JUMPGATE_AZURE_CA_FILE: "/nonexistent/ca.pem" }, /cannot read/],
  ];
  for (const [env, message] of bad)
    assert.throws(
      () => azureSettingsFromEnv(env),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
  const local = azureSettingsFromEnv({
    JUMPGATE_ARM_ENDPOINT: "https://127.0.0.1:8443",
    JUMPGATE_AZURE_CREDENTIAL: "emulator",
    JUMPGATE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: "false",
  });
  assert.equal(local.credential, "emulator");
});

test("the LRO and call deadlines join the caller's abort signal", () => {
  const factory = new AzureClientFactory(azureSettingsFromEnv({}));
  const ac = new AbortController();
  const { abortSignal } = factory.call(ac.signal);
  assert.equal(abortSignal.aborted, false);
  ac.abort();
  assert.equal(abortSignal.aborted, true);
  assert.equal(factory.lro(ac.signal).abortSignal.aborted, true);
});
