// Cold start: the Function App's entry module loads what registering its functions needs and no
// more. The Azure SDK clients, the ACME client, jose and the JSON Schema validators load when first
// used (shared/load-on-use.ts, shared/validators); a static import of one of them anywhere in the
// entry module's import graph fails here. `npm run bench` prints the load time itself.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, test } from "node:test";

const ENTRY = path.join(__dirname, "..", "..", "functions", "index.js");

/** Packages (and parts of packages) a cold start must not load before a function runs. */
const LOADED_ON_FIRST_USE: [string, RegExp][] = [
  ["an ARM client (@azure/arm-*)", /node_modules\/@azure\/arm-/],
  ["@azure/identity", /node_modules\/@azure\/identity\//],
  ["@azure/data-tables", /node_modules\/@azure\/data-tables\//],
  ["@azure/keyvault-secrets", /node_modules\/@azure\/keyvault-secrets\//],
  ["@azure/monitor-query-metrics", /node_modules\/@azure\/monitor-query-metrics\//],
  ["the Azure SDK HTTP pipeline", /node_modules\/@azure\/core-rest-pipeline\//],
  ["acme-client", /node_modules\/acme-client\//],
  ["jose", /node_modules\/jose\//],
  ["ajv's schema compiler", /node_modules\/ajv\/dist\/(core|compile\/|2020)/],
  ["a precompiled validator", /shared\/validators\/compiled\//],
];

/** The files a fresh Node process has loaded after requiring the entry module. */
function loadedByEntry(): string[] {
  const script = `require(${JSON.stringify(ENTRY)}); process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
  const out = execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 60_000, stdio: "pipe" });
  return (JSON.parse(out) as string[]).map((file) => file.split(path.sep).join("/"));
}

describe("entry module", () => {
  test("registration loads the functions framework, not the SDK clients, ACME, jose or ajv's compiler", () => {
    const loaded = loadedByEntry();
    assert.ok(
      loaded.some((file) => file.includes("node_modules/durable-functions/")),
      "the entry module loads durable-functions (it registers orchestrations with it)",
    );
    assert.ok(loaded.some((file) => file.endsWith("/functions/orchestrators/heal-stack.js")));
    for (const [what, pattern] of LOADED_ON_FIRST_USE) {
      const offenders = loaded.filter((file) => pattern.test(file));
      assert.deepEqual(offenders.slice(0, 3), [], `the entry module must not load ${what}`);
    }
  });
});
