// The MySQL admin password rotates through ARM (a PATCH of the flexible server's
// administratorLoginPassword; the emulator's update reaches a real MariaDB over TLS): a new Key Vault
// version labelled pending first, then ARM, then a real login with it through a node's agent, and
// only then is it current. ARM refusing the update rolls it back and nothing stops working (the
// agent's admin login falls back from the failed version); ARM reporting a failure although the
// server took the password is decided by the real login. Killed after writing the pending version,
// or after the ARM update, the daily check finds it pending and finishes it. One web node is enough.
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readCredentialStateActivity } from "../../functions/activities/rotation";
import { Names } from "../../functions/names";
import type { RotateDatabaseOutput } from "../../functions/orchestrators/rotate-database";
import { checkCredentialRotations } from "../../functions/timers/credential-rotation";
import type { ActivityCall } from "../support/activity-crash";
import { APP_USERS, RotationHarness, SECRET_NAMES } from "../support/rotation-harness";

const ADMIN = SECRET_NAMES.dbAdminPassword;

describe("admin password rotation through ARM, verified by a real login", { timeout: 90_000 }, () => {
  let h: RotationHarness;

  before(async () => {
    h = await RotationHarness.start("jgrota", "00000000-0000-0000-0000-0000000070ad", 1);
  });
  after(async () => {
    await h?.stop();
  });

  /** the activities of the first (clean) admin rotation, where the kill points are found */
  let reference1: ActivityCall[] = [];

  test("the admin password rotates through ARM: pending in Key Vault first, promoted after a real login", async () => {
    const before = h.adminPassword;
    const setBefore = h.adminPasswordsSet.length;
    const state = await h.rotate({ appUsers: false, admin: true });
    const output = state.output as RotateDatabaseOutput;
    assert.equal(output.outcome, "succeeded", JSON.stringify(output));
    assert.match(output.admin ?? "", /is current, tested by a real login/);
    assert.equal(h.adminPasswordsSet.length, setBefore + 1, "one ARM update reached MariaDB");
    const current = await h.versionLabelled(ADMIN, "current");
    assert.equal(await h.value(ADMIN, current), h.adminPassword, "MariaDB has the version Key Vault labels current");
    assert.equal(await h.adminLogin(h.adminPassword), true);
    assert.equal(await h.adminLogin(before), false, "the old admin password is dead");
    assert.deepEqual(await h.labels(ADMIN), ["retired", "current"]);
    // the order: the pending version existed before ARM was asked, the login test came after
    reference1 = h.lastRun();
    const calls = reference1.map((c) => c.label);
    const created = calls.indexOf("createPendingPassword");
    const applied = calls.indexOf("applyAdminPassword");
    const finished = calls.indexOf("finishRotation");
    const loginTest = calls.findIndex((c, i) => i > applied && c.startsWith("runNodeAgent db-user"));
    assert.ok(created < applied && applied < loginTest && loginTest < finished, calls.join("\n"));
    // the app users were not touched, and the agent's admin work uses the new password
    assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.a]);
    assert.deepEqual(await h.labels(SECRET_NAMES.dbAppPasswordB), ["none"]);
    const step = await h.adminStep(h.vmNames()[0]);
    assert.equal(step.exitCode, 0, step.stderr);
  });

  test("an admin update ARM reports failed although the server took it: the real login decides, it is promoted", async () => {
    const setBefore = h.adminPasswordsSet.length;
    // the operation ends Failed, but its work (the password reaching the server) happened
    h.env.emulator.faults.add({
      match: { method: "PATCH", type: "Microsoft.DBforMySQL/flexibleServers" },
      effect: { kind: "failOperation", code: "InternalServerError", message: "An unexpected error occurred." },
      times: 0,
    });
    const state = await h.rotate({ appUsers: false, admin: true });
    h.env.emulator.faults.clear();
    const output = state.output as RotateDatabaseOutput;
    assert.equal(output.outcome, "succeeded", JSON.stringify(output));
    assert.ok(h.adminPasswordsSet.length > setBefore);
    assert.equal(await h.value(ADMIN, await h.versionLabelled(ADMIN, "current")), h.adminPassword);
    assert.deepEqual(await h.labels(ADMIN), ["retired", "retired", "current"]);
  });

  test("an admin update ARM refuses is rolled back: the server keeps its password, admin work goes on", async () => {
    const before = h.adminPassword;
    const setBefore = h.adminPasswordsSet.length;
    h.env.emulator.faults.add({
      match: { method: "PATCH", type: "Microsoft.DBforMySQL/flexibleServers" },
      effect: {
        kind: "status",
        status: 409,
        code: "ServerBusy",
        message: "The server is busy with another operation.",
      },
      times: 0,
    });
    const state = await h.rotate({ appUsers: false, admin: true });
    h.env.emulator.faults.clear();
    const output = state.output as RotateDatabaseOutput;
    assert.equal(output.outcome, "rolled-back", JSON.stringify(output));
    assert.match(output.failure ?? "", /ARM update: .*ServerBusy/);
    assert.equal(h.adminPasswordsSet.length, setBefore, "MariaDB's admin password did not change");
    assert.equal(h.adminPassword, before);
    assert.deepEqual(await h.labels(ADMIN), ["retired", "retired", "current", "failed"]);
    const state2 = await readCredentialStateActivity({ spec: h.spec });
    assert.equal(
      await h.value(ADMIN, state2.admin.current.version),
      before,
      "the current label stays on the working password",
    );
    // the failed version is the latest in Key Vault: the app hands over the settled one too, and the
    // admin login falls back to it
    const step = await h.adminStep(h.vmNames()[0]);
    assert.equal(step.exitCode, 0, step.stderr);
    assert.match(step.stderr ?? "", /the latest admin password does not log in; using the settled version it replaces/);
  });

  for (const step of [Names.activities.createPendingPassword, Names.activities.applyAdminPassword]) {
    test(`killed after ${step}: admin work goes on meanwhile, and the daily check finishes the rotation`, async () => {
      const reference = reference1;
      const k = reference.findIndex((c) => c.name === step) + 1;
      assert.ok(k > 0, reference.map((c) => c.label).join(", "));
      h.tap.killAfter(h.instanceId, k);
      h.start({ appUsers: false, admin: true });
      await h.env.host.runUntilIdle();
      await h.tap.settle();
      assert.equal(h.keep(h.instanceId).runtimeStatus, "Terminated");
      h.tap.disarm();
      // pending in Key Vault, maybe not yet on the server: an admin step still works (settled fallback)
      const pending = (await readCredentialStateActivity({ spec: h.spec })).admin.pending;
      assert.ok(pending, "a pending admin version was left");
      const adminStep = await h.adminStep(h.vmNames()[0]);
      assert.equal(adminStep.exitCode, 0, adminStep.stderr);

      const check = await checkCredentialRotations(h.client, h.env.host.now);
      assert.match(check.started.find((x) => x.stack === h.spec.name)?.why ?? "", /left pending/);
      await h.env.host.runUntilIdle();
      const output = h.keep(h.instanceId).output as RotateDatabaseOutput;
      assert.deepEqual([output.outcome, output.resumed], ["succeeded", true], JSON.stringify(output));
      const state = await readCredentialStateActivity({ spec: h.spec });
      assert.equal(state.admin.pending, undefined);
      assert.deepEqual(state.staleLabels, []);
      assert.equal(state.admin.current.version, pending.version, "the pending version was finished, not replaced");
      assert.equal(await h.value(ADMIN, pending.version), h.adminPassword, "MariaDB has the current version");
      assert.equal(await h.adminLogin(h.adminPassword), true);
      assert.equal((await h.labels(ADMIN)).filter((l) => l === "current").length, 1);
    });
  }

  test("no password appears in any history, status, output, log, the registry or the audit trail", async () => {
    assert.ok((await h.assertNoSecretLeaks()) >= 6);
  });
});
