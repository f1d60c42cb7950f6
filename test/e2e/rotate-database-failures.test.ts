// Rotations that go wrong, on the real agent and MariaDB over TLS (test/support/rotation-harness.ts):
//  - a failed test step (the idle user can log in but not read Guacamole's schema) switches no node,
//    puts the idle user's password back and labels the new version failed
//  - a node that fails after switching (Tomcat does not restart) goes back to the previous user, so
//    does every node already switched, and the rotation reports it (output, registry, audit)
//  - the next rotation goes through, past the failed versions
//  - with a node that does not answer, a rotation does not start at all
//  - a rotation killed in the middle of its rollback is finished by the next run
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RotateDatabaseOutput, RotateDatabaseStatus } from "../../functions/orchestrators/rotate-database";
import { GUACAMOLE_DATABASE } from "../../shared/node/constants";
import { Names } from "../../functions/names";
import { checkCredentialRotations } from "../../functions/timers/credential-rotation";
import type { ActivityCall } from "../support/activity-crash";
import { APP_USERS, RotationHarness, SECRET_NAMES } from "../support/rotation-harness";
import { assertConverged } from "../support/rotation-kill";

const A = SECRET_NAMES.dbAppPasswordA;
const B = SECRET_NAMES.dbAppPasswordB;

describe("database credential rotation: failures switch nothing or roll back", { timeout: 120_000 }, () => {
  let h: RotationHarness;
  let b1: string;
  /** the activities of the rotation that rolled back after a node failed */
  let failedRun: ActivityCall[] = [];

  before(async () => {
    h = await RotationHarness.start("jgrotf", "00000000-0000-0000-0000-0000000070f1");
    b1 = await h.value(B);
  });
  after(async () => {
    await h?.stop();
  });

  const grant = (what: "GRANT" | "REVOKE") =>
    h.db.query(`${what} SELECT ON ${GUACAMOLE_DATABASE}.* ${what === "GRANT" ? "TO" : "FROM"} '${APP_USERS.b}'@'%'`, {
      password: h.adminPassword,
    });
  /** a login that needs no grant: does the password work at all */
  const loginOnly = async (user: string, password: string) => (await h.db.tryQuery("SELECT 1", { user, password })).ok;

  test("a node whose agent does not answer: the rotation does not start, nothing is written", async () => {
    const [, web2] = h.vmNames();
    h.env.emulator.runCommand.setVm(web2, "unreachable");
    const state = await h.rotate();
    h.env.emulator.runCommand.setVm(web2, undefined);
    const output = state.output as RotateDatabaseOutput;
    assert.equal(output.outcome, "skipped", JSON.stringify(output));
    assert.match(output.failure ?? "", new RegExp(`not every node is healthy, so none is switched: ${web2}`));
    assert.deepEqual(await h.labels(B), ["none"], "no pending version was made");
    assert.deepEqual(
      h.agentCommands().filter((c) => !c.endsWith(" health")),
      [],
    );
  });

  test("a failed test step switches nothing: no node is touched, b's password is put back, the version is labelled failed", async () => {
    await grant("REVOKE");
    const state = await h.rotate();
    await grant("GRANT");
    const output = state.output as RotateDatabaseOutput;
    assert.equal(output.outcome, "rolled-back", JSON.stringify(output));
    assert.match(
      output.failure ?? "",
      /the login test of guacamole_b with the new password failed: .*cannot log in and query/,
    );

    const commands = h.agentCommands();
    assert.deepEqual(
      commands.filter((c) => / (drain|db-credentials) /.test(c)),
      [],
      `no node was drained or switched:\n${commands.join("\n")}`,
    );
    assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.a, APP_USERS.a]);
    for (const sandbox of h.sandboxes.values()) assert.deepEqual(sandbox.systemctlCalls(), ["restart tomcat.service"]);
    assert.deepEqual(await h.labels(B), ["none", "failed"]);
    assert.deepEqual(await h.labels(A), ["none"]);
    const failed = await h.versionLabelled(B, "failed");
    assert.match((await h.versions(B)).find((v) => v.version === failed)!.tags["jumpgate-failure"], /login test/);
    assert.equal(await h.appLogin("b", b1), true, "b's previous password works again");
    assert.equal(await loginOnly(APP_USERS.b, await h.value(B, failed)), false, "the failed one does not");
    assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);

    const record = await h.env.registry.get(h.spec.name);
    assert.equal(record?.observed?.credentials?.lastFailure?.outcome, "rolled-back");
    const condition = record?.conditions.find((c) => c.type === "CredentialsRotated");
    assert.deepEqual([condition?.status, condition?.reason], ["False", "RotationRolledBack"]);
    assert.equal(record?.observed?.credentials?.database.currentUser, APP_USERS.a);
    assert.equal(record?.observed?.credentials?.database.pending, undefined);
  });

  test("a node that fails after switching goes back to a, so does the node already switched, and the rotation says so", async () => {
    const [web1, web2] = h.vmNames();
    h.sandboxes.get(web2)!.failNextSystemctl();
    const state = await h.rotate();
    failedRun = h.lastRun();
    const output = state.output as RotateDatabaseOutput;
    assert.equal(output.outcome, "rolled-back", JSON.stringify(output));
    assert.match(
      output.failure ?? "",
      new RegExp(
        `${web2} failed after switching to guacamole_b: db-credentials --user b: .*restarting tomcat.service failed`,
      ),
    );
    assert.match(output.appUsers ?? "", /rolled back; every node is on guacamole_a/);

    // web-1 switched to b then back; web-2's switch failed after writing its properties, then went back
    const steps = (vm: string) =>
      h
        .agentCommands()
        .filter((c) => c.startsWith(`${vm} `) && / (drain|db-credentials) /.test(c))
        .map((c) => c.slice(vm.length + 1).replace(/ --version \w+/, ""));
    assert.deepEqual(steps(web1), [
      "drain on",
      "db-credentials --user b",
      "drain off",
      "drain on",
      "db-credentials --user a",
      "drain off",
    ]);
    assert.deepEqual(steps(web2), ["drain on", "db-credentials --user b", "db-credentials --user a", "drain off"]);
    const nodes = (state.customStatus as RotateDatabaseStatus).nodes.map((n) => [n.name, n.state]);
    assert.deepEqual(nodes, [
      [web1, "rolled-back"],
      [web2, "rolled-back"],
    ]);
    assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.a, APP_USERS.a]);
    assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);
    assert.deepEqual(h.drainingNodes(), []);
    assert.deepEqual(await h.labels(B), ["none", "failed", "failed"]);
    assert.equal(await h.appLogin("b", b1), true, "b's previous password was put back");

    const record = await h.env.registry.get(h.spec.name);
    assert.match(record?.observed?.credentials?.lastFailure?.failure ?? "", new RegExp(web2));
    const events = await h.env.audit.all(h.spec.name);
    assert.ok(events.some((e) => e.what === "database credential rotation rolled back" && e.why.includes(web2)));
  });

  test("after the failures a rotation goes through, skipping the failed versions", async () => {
    const state = await h.rotate();
    assert.equal((state.output as RotateDatabaseOutput).outcome, "succeeded", JSON.stringify(state.output));
    assert.deepEqual(await h.labels(B), ["retired", "failed", "failed", "current"]);
    assert.deepEqual(await h.labels(A), ["previous"]);
    assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.b, APP_USERS.b]);
    assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);
    assert.equal((await h.env.registry.get(h.spec.name))?.observed?.credentials?.lastFailure?.outcome, "rolled-back");
  });

  test("killed in the middle of that rollback (the first node back, the second not yet): the next run finishes the rotation", async () => {
    const [web1, web2] = h.vmNames();
    const k =
      failedRun
        .map((c, i) => ({ c, i }))
        .filter(({ c }) => c.name === Names.activities.runNodeAgent)
        .filter(({ c }) => (c.input as { vmName: string; command: string }).vmName === web1)
        .filter(({ c }) => (c.input as { command: string }).command === "db-credentials")[1].i + 1;
    h.sandboxes.get(web2)!.failNextSystemctl();
    h.tap.killAfter(h.instanceId, k);
    h.start();
    await h.env.host.runUntilIdle();
    await h.tap.settle();
    assert.equal(h.keep(h.instanceId).runtimeStatus, "Terminated", `killed after ${h.tap.killedAfter}`);
    h.tap.disarm();
    // the first node is back on b, the second still on a (its restart failed): both log in
    assert.deepEqual(h.nodeUsers(), { [web1]: APP_USERS.b, [web2]: APP_USERS.a });
    assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);

    const check = await checkCredentialRotations(h.client, h.env.host.now);
    assert.match(check.started.find((x) => x.stack === h.spec.name)?.why ?? "", /left pending/);
    await h.env.host.runUntilIdle();
    const output = h.keep(h.instanceId).output as RotateDatabaseOutput;
    assert.deepEqual([output.outcome, output.resumed], ["succeeded", true], JSON.stringify(output));
    await assertConverged(h, "after a kill during a rollback", { failedVersions: 2 });
    assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.a, APP_USERS.a]);
  });

  test("no password appears in any history, status, output, log, the registry or the audit trail", async () => {
    assert.ok((await h.assertNoSecretLeaks()) >= 7);
  });
});
