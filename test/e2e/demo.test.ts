// `npm run demo` end to end: the demo's own main function (scripts/demo.ts) with an output sink, on
// the sandbox with real nodes (the real node agent and NGINX per VM, MariaDB, Pebble): deploy, heal
// after a broken node's probe alert, certificate and credential rotation, teardown, audit trail. What
// is asserted is what the demo saw through the API and printed: every step succeeded, the trail has
// each action with its reason, one explanatory line per step, no secret value in the output, and no
// server left running afterwards.
// first: the app's functions must register with the durable test host, not with @azure/functions
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { runDemo } from "../../scripts/demo";

/** Processes this process started that are still running (ps itself aside). */
function children(): string[] {
  const ps = spawnSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return ps.stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/\sps$/.test(l));
}

describe("npm run demo", { timeout: 180_000 }, () => {
  test("every step completes on the sandbox; the audit trail shows each action with its reason", async () => {
    const lines: string[] = [];
    const secrets: string[] = [];
    const before = children();
    const result = await runDemo({
      out: (line) => lines.push(line),
      timeScale: 60,
      beforeStop: (sandbox) => {
        const { emulator } = sandbox.env;
        const vaults = [
          ...emulator.store
            .all()
            .filter((d) => d.type === "Microsoft.KeyVault/vaults")
            .map((d) => d.name),
          ...emulator.deletedVaults.keys(),
        ];
        for (const vault of vaults) {
          secrets.push(...emulator.keyVault.secretValues(vault).filter((v) => !v.startsWith("ssh-")));
        }
      },
    });
    const output = lines.join("\n");
    assert.equal(result.ok, true, output);
    assert.deepEqual(
      result.steps.map((s) => [s.title, s.ok]),
      ["sandbox", "deploy", "status", "heal", "certificate", "database", "teardown", "audit"].map((t) => [t, true]),
    );
    // each step explained in one line as it starts
    assert.equal(lines.filter((l) => l.startsWith("→ ")).length, result.steps.length, output);
    assert.match(output, /Demo complete: 8 steps/);

    // the audit trail, oldest first: each action with its reason, in the order they happened
    const trail = result.audit;
    assert.ok(
      trail.every((e) => e.what && e.why.trim() && e.actor),
      JSON.stringify(trail, null, 1),
    );
    const at = (what: RegExp) => {
      const i = trail.findIndex((e) => what.test(e.what));
      assert.ok(i >= 0, `no audit event ${String(what)} in ${JSON.stringify(trail.map((e) => e.what))}`);
      return { i, e: trail[i] };
    };
    const deploy = at(/^deploy succeeded$/);
    const alert = at(/^alert fired: heal backend /);
    const heal = at(/^node demo-web-1 restarted$/);
    const issued = at(/^certificate issued$/);
    const rolled = at(/^certificate rolled out$/);
    const rotated = at(/^database credentials rotated$/);
    const teardown = at(/^teardown succeeded$/);
    assert.deepEqual(
      [deploy, alert, heal, issued, rolled, rotated, teardown].map((x) => x.i),
      [deploy, alert, heal, issued, rolled, rotated, teardown].map((x) => x.i).sort((a, b) => a - b),
      "in the order they happened",
    );
    assert.match(alert.e.actor, /^alert:demo-backend-probe$/);
    // heal says why: the failing check, and the alert that reported it
    assert.match(heal.e.why, /failing: tomcat: .*503/);
    assert.match(heal.e.why, /alerts: demo-backend-probe: DipAvailability 0 < 100/);
    assert.match(rolled.e.why, /^every node serves [0-9A-F]+$/);
    assert.match(rotated.e.why, /guacamole_a -> guacamole_b/);
    assert.match(rotated.e.why, /admin: version [0-9a-f]+ is current, tested by a real login/);
    assert.equal(teardown.e.why, "DELETE requested");

    // the results the demo printed: the heal, the new certificate per node, the new app user
    assert.match(output, /heal: restart of demo-web-1 succeeded: restarted; agent healthy, probe 100 %/);
    assert.equal((output.match(/demo-web-\d: serves [0-9A-F]+ \(was [0-9A-F]+\)/g) ?? []).length, 2, output);
    assert.match(output, /nodes log in as guacamole_b \(was guacamole_a\); credential age 0 of 30 days/);

    // no secret value printed; no server left running
    assert.ok(secrets.length >= 6, `expected the stack's generated secrets, found ${secrets.length}`);
    for (const secret of secrets) assert.ok(!output.includes(secret), "a secret value was printed");
    assert.deepEqual(children(), before, "every server the demo started was stopped");
  });
});
