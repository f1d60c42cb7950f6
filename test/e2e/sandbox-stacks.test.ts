// One sandbox with real nodes, stack after stack: a stack is deployed, gets its certificate over
// HTTP-01 (Pebble reaching every node through the load balancer), is torn down; then a second stack
// does the same on the same sandbox. Teardown deletes the VMs, and with them their nodes: out of the
// load balancer, NGINX and the stand-ins stopped (no process left), sandbox directories removed. So
// the second stack's certificate is validated by its own nodes only, not answered with a 404 (or a
// refused connection) by a node of the first.
// first: the app's functions must register with the durable test host, not with @azure/functions
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { describe, test } from "node:test";
import { startSandbox, type Sandbox } from "../../scripts/sandbox-env";

type Json = Record<string, unknown>;

interface CertificateBody {
  current: { serial: string } | null;
  nodes: { name: string; serial: string | null; current: boolean }[];
  worker: { phase: string | null } | null;
  lastFailure?: unknown;
}

/** NGINX processes this process (through its children) runs now, by PID. */
function nginxPids(): string[] {
  const ps = spawnSync("ps", ["-eo", "pid=,ppid=,comm="], { encoding: "utf8" });
  const rows = ps.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((r) => r.length === 3);
  const mine = new Set([String(process.pid)]);
  // descendants of this process, in as many rounds as the tree is deep
  for (let changed = true; changed;) {
    changed = false;
    for (const [pid, ppid] of rows)
      if (mine.has(ppid) && !mine.has(pid)) {
        mine.add(pid);
        changed = true;
      }
  }
  return rows.filter(([pid, , comm]) => mine.has(pid) && comm === "nginx").map(([pid]) => pid);
}

describe("a sandbox with real nodes hosts stack after stack", { timeout: 240_000 }, () => {
  test("deploy, certificate, teardown; then a second stack gets its certificate from its own nodes", async () => {
    const sandbox: Sandbox = await startSandbox({ nodes: "real", timeScale: 60 });
    try {
      const real = sandbox.real!;
      const call = async (method: string, route: string, body?: unknown) => {
        const res = await fetch(route.startsWith("http") ? route : `${sandbox.api}${route}`, {
          method,
          ...(body !== undefined
            ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } }
            : {}),
        });
        const text = await res.text();
        return {
          status: res.status,
          location: res.headers.get("location") ?? "",
          json: (text ? JSON.parse(text) : {}) as Json,
        };
      };
      const until = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const got = await check();
          if (got !== undefined) return got;
          if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      const finished = (url: string) =>
        until(`operation ${url}`, async () => {
          const op = (await call("GET", url)).json;
          return op.runtimeStatus === "Completed" || op.runtimeStatus === "Failed" ? op : undefined;
        });

      const lifecycle = async (stack: string) => {
        const put = await call("PUT", `/stacks/${stack}`, {
          subscriptionId: "00000000-0000-0000-0000-00000000de31",
          resourceGroup: `rg-${stack}`,
          location: "westeurope",
          fleet: { mode: "availabilitySet", size: 2 },
          tls: { acme: { directoryUrl: real.acmeDirectoryUrl, contact: "ops@example.com" } },
        });
        assert.equal(put.status, 202, JSON.stringify(put.json));
        const deployed = await finished(put.location);
        assert.equal(deployed.runtimeStatus, "Completed", JSON.stringify(deployed));
        const vms = [`${stack}-web-1`, `${stack}-web-2`];
        assert.deepEqual(real.nodes.running().sort(), vms, "only this stack's nodes run");
        assert.deepEqual([...real.balancer.backends.keys()].sort(), vms, "only they are behind the load balancer");

        const rotate = await call("POST", `/stacks/${stack}/rotate/certificate`);
        assert.equal(rotate.status, 202, JSON.stringify(rotate.json));
        const certificate = await until(`stack ${stack}'s certificate on every node`, async () => {
          const c = (await call("GET", `/stacks/${stack}`)).json.certificate as CertificateBody;
          const done =
            !!c.current && c.nodes.length === 2 && c.nodes.every((n) => n.current) && c.worker?.phase === "sleeping";
          return done ? c : undefined;
        });
        assert.deepEqual(certificate.nodes.map((n) => n.name).sort(), vms);
        assert.ok(certificate.nodes.every((n) => n.serial === certificate.current!.serial));
        const hits = real.balancer.hits();
        assert.ok(
          vms.every((vm) => (hits[vm] ?? 0) > 0),
          `the CA reached every node: ${JSON.stringify(hits)}`,
        );

        const del = await call("DELETE", `/stacks/${stack}`);
        assert.equal(del.status, 202, JSON.stringify(del.json));
        const gone = await finished(del.location);
        assert.equal(gone.runtimeStatus, "Completed", JSON.stringify(gone));
        // the VMs are gone, and everything that ran in them
        await until("the deleted nodes to stop", async () => (real.nodes.running().length === 0 ? true : undefined));
        assert.deepEqual([...real.balancer.backends.keys()], []);
        return certificate.current!.serial;
      };

      const first = await lifecycle("first");
      await until("no NGINX of a deleted node", async () => (nginxPids().length === 0 ? true : undefined), 20_000);
      const runCommandRoot = sandbox.env.emulator.runCommand.options.root;
      assert.deepEqual(fs.readdirSync(`${runCommandRoot}/rg-first`), [], "the first stack's sandboxes are removed");
      const second = await lifecycle("second");
      assert.notEqual(second, first);
      await until("no NGINX of a deleted node", async () => (nginxPids().length === 0 ? true : undefined), 20_000);
    } finally {
      await sandbox.stop();
    }
  });
});
