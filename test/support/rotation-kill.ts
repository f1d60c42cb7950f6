// The rotation's resilience criterion, shared by the two files that split its kill points (each
// file deploys its own stack): kill the rotation after a given step (the step's activity runs to the
// end, nothing after it happens, as when the host dies), check that every node still logs in, then
// run it again (the same request again, or the daily check, which finds the rotation left pending)
// and check that it ends with every node on a working credential, exactly two app users in the
// database, consistent labels in Key Vault (one current, one previous, nothing pending or failed,
// nothing stale) and the registry's copy in line with them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readCredentialStateActivity } from "../../functions/activities/rotation";
import { Names } from "../../functions/names";
import type { RotateDatabaseInput, RotateDatabaseOutput } from "../../functions/orchestrators/rotate-database";
import { checkCredentialRotations } from "../../functions/timers/credential-rotation";
import { APP_USERS, RotationHarness, SECRET_NAMES } from "./rotation-harness";
import type { ActivityCall } from "./activity-crash";

export interface KillPoint {
  /** what has just happened when the host dies */
  step: string;
  /** the activity after which it dies: the first one of a clean run that matches */
  at: (call: ActivityCall, vms: string[]) => boolean;
  /** how the rotation runs again: the same request, or the daily check finding it pending */
  rerun: "same-request" | "daily-check";
}

const agentCall = (c: ActivityCall, command: string, vm?: string, arg?: string) => {
  const i = c.input as { command?: string; vmName?: string; args?: string[] };
  return (
    c.name === Names.activities.runNodeAgent &&
    i.command === command &&
    (vm === undefined || i.vmName === vm) &&
    (arg === undefined || (i.args ?? []).includes(arg))
  );
};

export const KILL_POINTS: Record<string, KillPoint> = {
  claimed: {
    step: "the stack claimed",
    at: (c) => c.name === Names.activities.claimForRotation,
    rerun: "same-request",
  },
  created: {
    step: "createSecret (pending version in Key Vault)",
    at: (c) => c.name === Names.activities.createPendingPassword,
    rerun: "daily-check",
  },
  set: {
    step: "setSecret (ALTER USER)",
    at: (c) => agentCall(c, "db-user", undefined, "set-password"),
    rerun: "same-request",
  },
  tested: {
    step: "testSecret (real login)",
    at: (c) => agentCall(c, "db-user", undefined, "test"),
    rerun: "daily-check",
  },
  web1Drained: {
    step: "the first node drained (not yet switched)",
    at: (c, vms) => agentCall(c, "drain", vms[0], "on"),
    rerun: "daily-check",
  },
  web1Switched: {
    step: "the first node switched (still drained)",
    at: (c, vms) => agentCall(c, "db-credentials", vms[0]),
    rerun: "same-request",
  },
  web1Undrained: {
    step: "the first node undrained",
    at: (c, vms) => agentCall(c, "drain", vms[0], "off"),
    rerun: "daily-check",
  },
  web2Switched: {
    step: "the second node switched",
    at: (c, vms) => agentCall(c, "db-credentials", vms[1]),
    rerun: "same-request",
  },
  finished: {
    step: "finishSecret (labels)",
    at: (c) => c.name === Names.activities.finishRotation,
    rerun: "daily-check",
  },
  recorded: {
    step: "the registry's copy written",
    at: (c) => c.name === Names.activities.recordCredentials,
    rerun: "same-request",
  },
};

export function killAndResumeSuite(title: string, stack: string, subscriptionId: string, points: KillPoint[]): void {
  describe(title, { timeout: 120_000 }, () => {
    let h: RotationHarness;
    /** the activities of one clean rotation, where the kill points are found */
    let reference: ActivityCall[] = [];

    before(async () => {
      h = await RotationHarness.start(stack, subscriptionId);
    });
    after(async () => {
      await h?.stop();
    });

    test("reference: a clean rotation", async () => {
      const state = await h.rotate();
      assert.equal((state.output as RotateDatabaseOutput).outcome, "succeeded", JSON.stringify(state.output));
      reference = h.lastRun();
      await assertConverged(h, "the clean rotation");
    });

    for (const point of points) {
      test(`killed after ${point.step}, then ${point.rerun === "daily-check" ? "the daily check" : "the same request"}: converges`, async () => {
        const k = reference.findIndex((c) => point.at(c, h.vmNames())) + 1;
        assert.ok(
          k > 0,
          `the clean rotation has the step '${point.step}': ${reference.map((c) => c.label).join(", ")}`,
        );
        const usersBefore = h.nodeUsers();
        h.tap.killAfter(h.instanceId, k);
        const input: RotateDatabaseInput = h.start();
        await h.env.host.runUntilIdle();
        await h.tap.settle();
        const killed = h.keep(h.instanceId);
        h.tap.disarm();
        assert.equal(killed.runtimeStatus, "Terminated", `killed after ${h.tap.killedAfter}`);
        // at the moment of the kill, no node holds a password the database refuses
        assert.deepEqual(
          Object.entries(await h.everyNodeLogsIn()).filter(([, ok]) => !ok),
          [],
          `every node logs in right after the kill (${JSON.stringify(h.nodeUsers())})`,
        );

        let rerun;
        if (point.rerun === "same-request") {
          rerun = await h.rotate(input);
        } else {
          const check = await checkCredentialRotations(h.client, h.env.host.now);
          const started = check.started.find((s) => s.stack === h.spec.name);
          if (point === KILL_POINTS.finished) {
            // finished in Key Vault: nothing is pending or due; the check refreshes the registry's copy
            assert.equal(started, undefined, JSON.stringify(check));
          } else {
            assert.match(started?.why ?? "", /was left pending/, JSON.stringify(check));
            assert.deepEqual([started?.appUsers, started?.admin], [false, false]);
            await h.env.host.runUntilIdle();
            rerun = h.keep(h.instanceId);
          }
        }
        const created = reference.findIndex((c) => c.name === Names.activities.createPendingPassword) + 1;
        const finished = reference.findIndex((c) => c.name === Names.activities.finishRotation) + 1;
        if (rerun) {
          const output = rerun.output as RotateDatabaseOutput;
          assert.equal(output.outcome, "succeeded", JSON.stringify(output));
          // a pending version left behind is finished, not replaced by another one
          assert.equal(output.resumed, k >= created && k < finished, `resumed: ${JSON.stringify(output)}`);
        }
        const after = h.nodeUsers();
        if (k < created) {
          // killed before anything changed: the same request rotates
          assert.notDeepEqual(after, usersBefore, "the re-run rotated");
        }
        await assertConverged(h, `after a kill after ${point.step}`);
      });
    }

    test("no password appears in any history, status, output, log, the registry or the audit trail", async () => {
      assert.ok((await h.assertNoSecretLeaks()) >= 6);
    });
  });
}

/** Every node on a working credential, two users, Key Vault labels consistent, the registry in line. */
export async function assertConverged(
  h: RotationHarness,
  what: string,
  options: { failedVersions?: number } = {},
): Promise<void> {
  const users = h.nodeUsers();
  const state = await readCredentialStateActivity({ spec: h.spec });
  assert.equal(state.app.pending, undefined, `${what}: nothing pending`);
  assert.deepEqual(state.staleLabels, [], `${what}: no stale label`);
  const current = state.app.current;
  assert.deepEqual(Object.values(users), [current.user, current.user], `${what}: every node on the current user`);
  assert.deepEqual(
    Object.entries(await h.everyNodeLogsIn()).filter(([, ok]) => !ok),
    [],
    `${what}: every node logs in`,
  );
  assert.deepEqual(h.drainingNodes(), [], `${what}: no node left draining`);
  assert.deepEqual(await h.databaseUsers(), [APP_USERS.a, APP_USERS.b], `${what}: exactly the two app users`);
  const idle = current.slot === "a" ? "b" : "a";
  const secret = (slot: "a" | "b") => (slot === "a" ? SECRET_NAMES.dbAppPasswordA : SECRET_NAMES.dbAppPasswordB);
  const labels = [...(await h.labels(secret(current.slot))), ...(await h.labels(secret(idle)))];
  assert.equal(labels.filter((l) => l === "current").length, 1, `${what}: one current (${labels.join(", ")})`);
  assert.equal(labels.filter((l) => l === "previous").length, 1, `${what}: one previous (${labels.join(", ")})`);
  assert.deepEqual(
    labels.filter((l) => l === "pending"),
    [],
    `${what}: nothing pending`,
  );
  assert.equal(
    labels.filter((l) => l === "failed").length,
    options.failedVersions ?? 0,
    `${what}: failed versions (${labels.join(", ")})`,
  );
  assert.equal(
    await h.appLogin(current.slot, await h.value(current.secret, current.version)),
    true,
    `${what}: current`,
  );
  const previous = state.app.previous;
  assert.equal(
    await h.appLogin(previous.slot, await h.value(previous.secret, previous.version)),
    true,
    `${what}: previous`,
  );
  const record = await h.env.registry.get(h.spec.name);
  assert.equal(record?.operation, undefined, `${what}: the stack is released`);
  assert.deepEqual(
    [record?.observed?.credentials?.database.currentUser, record?.observed?.credentials?.database.version],
    [current.user, current.version],
    `${what}: the registry's copy agrees with Key Vault`,
  );
}
