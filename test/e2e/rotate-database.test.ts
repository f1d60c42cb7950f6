// Database credential rotation end to end, on the real thing: a stack of two web nodes deployed with
// the real node agent (Run Command -> infra/node/jumpgate-node in per-VM sandboxes), a real MariaDB
// over TLS, Key Vault and IMDS from the emulator (test/support/rotation-harness.ts).
//  - POST /api/stacks/{name}/rotate/database starts a rotation; bad requests change nothing; while it
//    holds the stack, PUT and DELETE get 409
//  - a full rotation switches every node, one at a time (drain -> db-credentials -> health as the
//    new user -> undrain); the new password logs in, the user that was current still does
//  - the daily check starts the next one when the credentials are older than the policy; after it,
//    the password from the rotation before no longer logs in, and there are still exactly two users
//  - a deploy after a rotation gives a node that lost its credentials the CURRENT user
//  - the rotation waits for a deploy that holds the stack
//  - GET shows the current user, the credential age, the last rotation; nothing leaks a password
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import { fromRegistry, startDurableRpcServer, type DurableRpcServer } from "../../emulator/durable";
import { durableClientContextFor } from "../../emulator/durable/client/client-context";
import { prepareWebNodeActivity } from "../../functions/activities/heal";
import { InstanceIds, Names } from "../../functions/names";
import type { RotateDatabaseOutput, RotateDatabaseStatus } from "../../functions/orchestrators/rotate-database";
import { checkCredentialRotations } from "../../functions/timers/credential-rotation";
import type { CredentialSummary } from "../../shared/credentials/summary";
import { NODE_PATHS } from "../../shared/node/constants";
import { APP_USERS, RotationHarness, SECRET_NAMES } from "../support/rotation-harness";

type Doc = Record<string, unknown>;
const A = SECRET_NAMES.dbAppPasswordA;
const B = SECRET_NAMES.dbAppPasswordB;

describe(
  "database credential rotation with the real agent, MariaDB over TLS and emulated Azure",
  { timeout: 120_000 },
  () => {
    let h: RotationHarness;
    let rpc: DurableRpcServer;
    const responses: string[] = [];
    /** passwords by label, as each rotation left them */
    const seen: Record<string, string> = {};

    before(async () => {
      h = await RotationHarness.start("jgrot", "00000000-0000-0000-0000-0000000070a1");
      rpc = await startDurableRpcServer(h.env.host);
    });
    after(async () => {
      await rpc?.close();
      await h?.stop();
    });

    /** Calls one of the app's registered HTTP functions the way the Functions host does. */
    async function http(name: string, method: string, route: string, params: Record<string, string>, body?: unknown) {
      const registration = fromRegistry().http[name];
      assert.ok(registration, `${name} is registered`);
      const request = new HttpRequest({
        method,
        url: `http://127.0.0.1/api/${route}`,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        params,
        body: body === undefined ? undefined : { string: typeof body === "string" ? body : JSON.stringify(body) },
      });
      const res = (await registration.handler(
        request,
        durableClientContextFor(registration, rpc.clientData()),
      )) as HttpResponseInit;
      const answer = (res.jsonBody ?? (typeof res.body === "string" && res.body ? JSON.parse(res.body) : {})) as Doc;
      responses.push(JSON.stringify(answer));
      return { status: res.status ?? 200, body: answer };
    }
    const rotateRoute = (body?: unknown, stack = h.spec.name) =>
      http(Names.http.rotateDatabase, "POST", `stacks/${stack}/rotate/database`, { name: stack }, body);
    const getStack = () => http(Names.http.getStack, "GET", `stacks/${h.spec.name}`, { name: h.spec.name });

    test("bad rotation requests are refused and start nothing", async () => {
      for (const [body, status] of [
        [{ bogus: true }, 422],
        [{ admin: "yes" }, 422],
        [{ appUsers: false, admin: false }, 422],
        ["{nope", 400],
      ] as const) {
        assert.equal((await rotateRoute(body)).status, status, JSON.stringify(body));
      }
      assert.equal((await rotateRoute({}, "nosuchstack")).status, 404);
      assert.equal(h.env.host.getStatus(h.instanceId), undefined, "no rotation was started");
    });

    test("POST rotate/database: every node moves to app user b one at a time, drained; a's password still logs in", async () => {
      const before = { a: await h.value(A), b: await h.value(B) };
      assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.a, APP_USERS.a], "deploy put the nodes on a");
      const accepted = await rotateRoute();
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      const operation = accepted.body.operation as { kind: string; instanceId: string; status: string };
      assert.deepEqual([operation.kind, operation.instanceId], ["rotate-database", h.instanceId]);
      assert.match(operation.status, new RegExp(`/stacks/${h.spec.name}/operations/${h.instanceId}$`));

      // while it holds the stack, a PUT and a DELETE are refused with 409 naming it
      await h.env.host.runUntilIdle({
        until: () =>
          (h.env.host.getStatus(h.instanceId)?.customStatus as RotateDatabaseStatus | undefined)?.phase === "rolling",
      });
      const put = await http(
        Names.http.putStack,
        "PUT",
        `stacks/${h.spec.name}`,
        { name: h.spec.name },
        {
          subscriptionId: h.spec.subscriptionId,
          resourceGroup: h.spec.resourceGroup,
          location: h.spec.location,
          fleet: h.spec.fleet,
        },
      );
      assert.equal(put.status, 409, JSON.stringify(put.body));
      assert.equal((put.body.operation as Doc).kind, "rotate-database");
      assert.equal(
        (await http(Names.http.deleteStack, "DELETE", `stacks/${h.spec.name}`, { name: h.spec.name })).status,
        409,
      );
      const again = await rotateRoute();
      assert.deepEqual(
        [again.status, again.body.alreadyRunning],
        [202, true],
        "a second request finds the running one",
      );

      await h.env.host.runUntilIdle();
      const state = h.keep(h.instanceId);
      assert.equal(state.runtimeStatus, "Completed", JSON.stringify(state.output));
      const output = state.output as RotateDatabaseOutput;
      assert.equal(output.outcome, "succeeded", JSON.stringify(output));

      // every node logs in as b now, with the password Key Vault labels current
      assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.b, APP_USERS.b]);
      assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);
      assert.deepEqual(await h.labels(A), ["previous"]);
      assert.deepEqual(await h.labels(B), ["retired", "current"]);
      seen.b2 = await h.value(B, await h.versionLabelled(B, "current"));
      assert.equal(await h.appLogin("b", seen.b2), true, "the new password logs in");
      assert.equal(await h.appLogin("a", before.a), true, "the user that was current still logs in");
      assert.equal(await h.appLogin("b", before.b), false, "b's replaced password no longer does");
      seen.a1 = before.a;

      // one node at a time: drain, switch (with the pending version), health, undrain; web-1 done before web-2 starts
      const [web1, web2] = h.vmNames();
      const version = await h.versionLabelled(B, "current");
      const roll = h.agentCommands();
      const steps = (vm: string) =>
        roll.filter((c) => c.startsWith(`${vm} `) && !/ health$/.test(c)).map((c) => c.slice(vm.length + 1));
      for (const vm of [web1, web2]) {
        assert.deepEqual(
          steps(vm).slice(-3),
          ["drain on", `db-credentials --user b --version ${version}`, "drain off"],
          vm,
        );
      }
      const lastOfWeb1 = roll.lastIndexOf(`${web1} drain off`);
      const firstSwitchOfWeb2 = roll.indexOf(`${web2} db-credentials --user b --version ${version}`);
      assert.ok(lastOfWeb1 < roll.indexOf(`${web2} drain on`) && lastOfWeb1 < firstSwitchOfWeb2, roll.join("\n"));
      // set and test happen before any node is touched
      const set = roll.findIndex((c) => c.includes("db-user set-password --user b"));
      const tested = roll.findIndex((c) => c.includes("db-user test --user b"));
      assert.ok(set >= 0 && set < tested && tested < roll.indexOf(`${web1} drain on`), roll.join("\n"));
      // the health check after each switch logged in as b (the agent's database check uses the properties)
      const healthAfter = h.tap
        .callsOf(h.instanceId)
        .filter((c) => c.name === Names.activities.runNodeAgent && (c.input as Doc).command === "health")
        .map((c) => (c.outcome as { result: { json?: Doc } }).result.json?.databaseUser);
      assert.equal(healthAfter.at(-1), APP_USERS.b);
      for (const sandbox of h.sandboxes.values()) {
        assert.deepEqual(sandbox.systemctlCalls(), ["restart tomcat.service", "restart tomcat.service"]);
      }
      assert.deepEqual(h.drainingNodes(), [], "no node is left draining");

      // the registry's copy and the status route
      const record = await h.env.registry.get(h.spec.name);
      assert.equal(record?.operation, undefined, "the stack is released");
      assert.equal(record?.observed?.credentials?.database.currentUser, APP_USERS.b);
      assert.equal(record?.conditions.find((c) => c.type === "CredentialsRotated")?.status, "True");
      const got = await getStack();
      const credentials = got.body.credentials as CredentialSummary;
      assert.equal(credentials.database.currentUser, APP_USERS.b);
      assert.equal(credentials.database.previousUser, APP_USERS.a);
      assert.equal(credentials.database.maxAgeDays, 30);
      assert.equal(typeof credentials.database.ageDays, "number");
      assert.equal(credentials.lastRotation?.outcome, "succeeded");
      assert.equal(credentials.lastRotation?.instanceId, h.instanceId);
      assert.equal(credentials.lastFailure, null);
      const op = await http(Names.http.getOperation, "GET", `stacks/${h.spec.name}/operations/${h.instanceId}`, {
        name: h.spec.name,
        instanceId: h.instanceId,
      });
      assert.equal(op.status, 200);
      assert.equal(op.body.runtimeStatus, "Completed");
    });

    test("a deploy, and heal readying a new node, give a node without credentials the current user, b", async () => {
      const [, web2] = h.vmNames();
      // as if web-2 were rebuilt: no database block in its properties
      const props = path.join(h.sandboxes.get(web2)!.root, NODE_PATHS.guacamoleProperties);
      fs.writeFileSync(props, fs.readFileSync(props, "utf8").replace(/^mysql-.*$/gm, ""));
      const deploy = await h.deploy();
      const switches = h.tap
        .callsOf(deploy.instanceId)
        .filter((c) => c.name === Names.activities.runNodeAgent && (c.input as Doc).command === "db-credentials")
        .map((c) => `${String((c.input as Doc).vmName)} ${((c.input as Doc).args as string[]).join(" ")}`);
      assert.deepEqual(switches, [`${web2} --user b`]);
      assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.b, APP_USERS.b]);
      assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);

      // heal readying a replaced node: the registry's current user wins over a stale hint from peers
      fs.writeFileSync(props, fs.readFileSync(props, "utf8").replace(/^mysql-.*$/gm, ""));
      const prepared = await prepareWebNodeActivity({ spec: h.spec, vmName: web2, dbUserSlot: "a" });
      assert.ok(prepared.steps.includes("database credentials of app user b"), prepared.steps.join(", "));
      assert.equal(h.nodeUsers()[web2], APP_USERS.b);
      assert.equal((await h.runAgent(web2, ["drain", "off"])).code, 0);
      assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);
    });

    test("the daily check: not due the next day; due after 31 days, it rotates back to a and a's old password dies", async () => {
      const now = h.env.host.now;
      const day = 86_400_000;
      let check = await checkCredentialRotations(h.client, new Date(now.getTime() + day));
      assert.deepEqual(check.started, []);
      assert.match(check.skipped.find((s) => s.stack === h.spec.name)?.why ?? "", /^not due/);

      check = await checkCredentialRotations(h.client, new Date(now.getTime() + 31 * day));
      assert.deepEqual(
        check.started.map((s) => [s.stack, s.appUsers, s.admin]),
        [[h.spec.name, true, false]],
      );
      assert.match(check.started[0].why, /app users' password is 31 d old \(policy 30\)/);
      await h.env.host.runUntilIdle();
      const state = h.keep(h.instanceId);
      assert.equal((state.output as RotateDatabaseOutput).outcome, "succeeded", JSON.stringify(state.output));

      assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.a, APP_USERS.a]);
      assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);
      assert.deepEqual(await h.labels(A), ["retired", "current"]);
      assert.deepEqual(await h.labels(B), ["retired", "previous"]);
      const a2 = await h.value(A, await h.versionLabelled(A, "current"));
      assert.equal(await h.appLogin("a", a2), true, "the new password logs in");
      assert.equal(await h.appLogin("b", seen.b2), true, "the user that was current before (b) still logs in");
      assert.equal(await h.appLogin("a", seen.a1), false, "the password from the rotation before no longer does");
      assert.deepEqual(await h.databaseUsers(), [APP_USERS.a, APP_USERS.b], "no extra database user");
    });

    test("a rotation waits for a deploy that holds the stack, then for a node's live session to end, then rotates", async () => {
      const deploying = InstanceIds.deploy(h.spec.name, 1, "wait");
      await h.env.registry.setOperation(h.spec.name, {
        kind: "deploy",
        instanceId: deploying,
        startedAt: h.env.host.now.toISOString(),
      });
      h.env.host.startNew(Names.orchestrators.deployStack, {
        instanceId: deploying,
        input: { spec: h.spec, generation: 1, nodeReadyTimeoutMinutes: 30, pollSeconds: 10, dbUserSlot: "a" },
      });
      const [web1] = h.vmNames();
      const session = await h.sandboxes.get(web1)!.guacd.openSession();
      h.start({ claimRetrySeconds: 30 });
      const status = () => h.env.host.getStatus(h.instanceId)?.customStatus as RotateDatabaseStatus | undefined;
      await h.env.host.runUntilIdle({ until: () => /live session\(s\) on/.test(status()?.waitingFor ?? "") });
      // drained, and waiting: the session is not cut
      assert.match(status()?.waitingFor ?? "", new RegExp(`^1 live session\\(s\\) on ${web1} to end`));
      let commands = h.agentCommands();
      assert.ok(commands.includes(`${web1} drain on`), commands.join("\n"));
      assert.ok(!commands.some((c) => c.startsWith(`${web1} db-credentials`)), commands.join("\n"));
      session.destroy();
      await h.env.host.runUntilIdle();
      commands = h.agentCommands();
      assert.ok(
        commands.some((c) => c.startsWith(`${web1} db-credentials --user b`)),
        commands.join("\n"),
      );
      h.keep(deploying);
      const state = h.keep(h.instanceId);
      assert.equal((state.output as RotateDatabaseOutput).outcome, "succeeded", JSON.stringify(state.output));
      const log = state.customStatusLog as RotateDatabaseStatus[];
      const phases = log.map((s) => s.phase);
      assert.ok(phases.includes("waiting-for-stack"), phases.join(", "));
      const waited = log.map((s) => s.waitingFor).find((w) => w?.startsWith("deploy"));
      assert.match(waited ?? "", new RegExp(`^deploy ${deploying} holds the stack`));
      assert.equal(h.env.host.getStatus(deploying)?.runtimeStatus, "Completed");
      assert.deepEqual(Object.values(h.nodeUsers()), [APP_USERS.b, APP_USERS.b]);
      assert.deepEqual(Object.values(await h.everyNodeLogsIn()), [true, true]);
    });

    test("no password appears in any history, status, output, log, response, the registry or the audit trail", async () => {
      const n = await h.assertNoSecretLeaks([["HTTP responses", responses.join("\n")]]);
      assert.ok(n >= 7, `the vault's versions were scanned (${n})`);
    });
  },
);
