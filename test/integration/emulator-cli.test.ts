// The emulator as a separate process: the CLI prints {url, ca}, and the admin API under /_emulator/
// drives LRO mode, faults, journal, seed/snapshot and reset over HTTPS.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { after, before, test } from "node:test";

const cli = path.resolve(__dirname, "../../emulator/cli.js");
let child: ChildProcess;
let url = "";
let ca = "";

function request(
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${url}${p}`,
      { method, ca, headers: { "content-type": "application/json", ...headers }, timeout: 5000 },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as unknown) : undefined }),
        );
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

before(async () => {
  child = spawn(process.execPath, [cli, "--lro", "async"], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("emulator did not start within 10 s")), 10_000);
    child.stdout!.once("data", (d: Buffer) => {
      clearTimeout(timer);
      resolve(d.toString().split("\n")[0]);
    });
  });
  const info = JSON.parse(line) as { url: string; ca: string };
  assert.match(info.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  url = info.url;
  ca = fs.readFileSync(info.ca, "utf8");
});

after(() => {
  child.kill("SIGTERM");
});

test("CLI prints url and CA, and the admin API reports health", async () => {
  const health = await request("GET", "/_emulator/health");
  assert.equal(health.status, 200);
  assert.equal((health.json as { lro: { mode: string } }).lro.mode, "async");
});

test("admin API: LRO mode, faults, journal, seed, snapshot and reset", async () => {
  const auth = { authorization: "Bearer any" };
  assert.equal((await request("PUT", "/_emulator/lro", { mode: "instant" })).status, 200);
  assert.equal((await request("PUT", "/_emulator/lro", { mode: "sometimes" })).status, 400);
  const rg = "/subscriptions/s1/resourceGroups/rg1?api-version=2025-04-01";
  assert.equal((await request("PUT", rg, { location: "westeurope" }, auth)).status, 201);
  assert.equal((await request("PUT", rg, { location: "westeurope" }, auth)).status, 200);
  assert.equal((await request("GET", rg)).status, 401, "ARM needs a bearer token");
  assert.equal(
    (await request("GET", "/subscriptions/s1/resourceGroups/rg1", undefined, auth)).status,
    400,
    "api-version is required",
  );
  const fault = await request("POST", "/_emulator/faults", {
    match: { method: "GET" },
    effect: { kind: "status", status: 503, retryAfterSeconds: 0 },
  });
  assert.equal(fault.status, 201);
  assert.equal((await request("GET", rg, undefined, auth)).status, 503);
  assert.equal((await request("GET", rg, undefined, auth)).status, 200, "a rule fires once by default");
  const journal = (await request("GET", "/_emulator/journal?method=GET")).json as {
    entries: { status: number; fault?: string }[];
  };
  assert.deepEqual(
    journal.entries.slice(-2).map((e) => e.fault ?? e.status),
    ["status", 200],
  );
  assert.equal(
    (
      await request("POST", "/_emulator/seed", {
        resources: [
          {
            id: "/subscriptions/s1/resourceGroups/rg2",
            name: "rg2",
            type: "Microsoft.Resources/resourceGroups",
            location: "westeurope",
            properties: {},
          },
        ],
      })
    ).status,
    200,
  );
  const snap = (await request("GET", "/_emulator/snapshot")).json as { resources: { name: string }[] };
  assert.deepEqual(snap.resources.map((r) => r.name).sort(), ["rg1", "rg2"]);
  assert.equal((await request("POST", "/_emulator/reset")).status, 200);
  assert.equal((await request("GET", rg, undefined, auth)).status, 404);
  assert.equal((await request("POST", "/_emulator/faults", { effect: { kind: "explode" } })).status, 400);
});
