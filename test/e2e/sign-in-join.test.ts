// A node that joins a signed-in stack is signed-in-ready when it joins (shared/node/join.ts), on the
// real thing: a stack with an `access` section deployed through PUT /api/stacks/{name} with the REAL
// node agent on every web node (Run Command -> infra/node/jumpgate-node in per-VM sandboxes built
// from their custom data), a real MariaDB holding Guacamole's schema, Key Vault and IMDS from the
// emulator, the app's orchestrations on the durable test host's virtual clock.
//  - a scale-out's new node gets the stack's OpenID settings and the extension before its database
//    credentials (so the load balancer never sends anyone to it without them), and the registry
//    records it as configured: the drift check's access plan has nothing to do for it
//  - heal's preparation of a new node (the prepareWebNode activity) does the same on a node that
//    lost its settings
import "../../emulator/durable/install";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import {
  fromRegistry,
  HistoryEventType,
  startDurableRpcServer,
  type DurableRpcServer,
  type InstanceState,
} from "../../emulator/durable";
import { durableClientContextFor } from "../../emulator/durable/client/client-context";
import { InstanceIds, Names } from "../../functions/names";
import type { ScaleOutput } from "../../functions/orchestrators/scale-stack";
import { ENTRA_AUTHORITY, propertiesText, signInDigest, signInProperties } from "../../shared/access/sign-in";
import type { StackSignal } from "../../shared/alerts/signal";
import { stackNames } from "../../shared/graph/names";
import { DB_ADMIN_LOGIN, NODE_PATHS } from "../../shared/node/constants";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { RealNodes } from "../../dev/real-nodes";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";
// after the env, which installs the durable test host the app registers with
import { planAccessSyncActivity } from "../../functions/activities/access";
import { prepareWebNodeActivity } from "../../functions/activities/heal";

const STACK = "jgjoin";
const SUB = "00000000-0000-0000-0000-00000000a11e";
const HEADER = "# Sign-in with Entra ID, managed by jumpgate-node sign-in.\n";
type Doc = Record<string, unknown>;

const SPEC: Doc = {
  subscriptionId: SUB,
  resourceGroup: "rg-e2e-sign-in-join",
  location: "westeurope",
  fleet: { mode: "availabilitySet", size: 2, min: 2, max: 3 },
  policies: { scale: { enabled: true } },
  access: {
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
    adminGroups: ["0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f"],
  },
};

describe("a joining node is signed-in-ready (real agent, MariaDB)", { timeout: 240_000 }, () => {
  let workDir: string;
  let db: MariaDb;
  let env: JumpgateEnv;
  let web: RealNodes;
  let rpc: DurableRpcServer;
  let spec: StackSpec;

  const third = `${STACK}-web-3`;
  const rendered = () =>
    propertiesText(
      signInProperties(spec.access!, { publicHostname: stackNames(spec).publicFqdn, authority: ENTRA_AUTHORITY }),
    );
  const digest = () =>
    signInDigest(
      signInProperties(spec.access!, { publicHostname: stackNames(spec).publicFqdn, authority: ENTRA_AUTHORITY }),
    );
  const propertiesOf = (vm: string) =>
    fs.readFileSync(path.join(web.sandboxes.get(vm)!.root, NODE_PATHS.guacamoleProperties), "utf8");

  /** the agent commands an instance ran, in order: [vm, command] */
  function agentCommands(instance: InstanceState): [string, string][] {
    const out: [string, string][] = [];
    for (const e of instance.history) {
      if (e.EventType === HistoryEventType.TaskScheduled && e.Name === Names.activities.runNodeAgent) {
        const input = JSON.parse(String(e.Input)) as { vmName: string; command: string };
        out.push([input.vmName, input.command]);
      }
    }
    return out;
  }

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-sign-in-join-"));
    const adminPassword = `bootstrap-${Date.now()}`;
    db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword });
    env = await startJumpgateEnv({
      emulator: { runCommand: { root: path.join(workDir, "run-command"), timeoutMs: 90_000 } },
    });
    web = RealNodes.wire(env.emulator, { db: { server: db, adminPassword } });
    rpc = await startDurableRpcServer(env.host);

    // the stack with access, through PUT as an operator makes it
    const registration = fromRegistry().http[Names.http.putStack];
    const res = (await registration.handler(
      new HttpRequest({
        method: "PUT",
        url: `http://127.0.0.1/api/stacks/${STACK}`,
        headers: { "content-type": "application/json" },
        params: { name: STACK },
        body: { string: JSON.stringify(SPEC) },
      }),
      durableClientContextFor(registration, rpc.clientData()),
    )) as HttpResponseInit;
    assert.equal(res.status, 202, JSON.stringify(res.jsonBody));
    const instanceId = ((res.jsonBody as Doc).operation as { instanceId: string }).instanceId;
    await env.host.runUntilIdle();
    assert.equal(env.host.getStatus(instanceId)!.runtimeStatus, "Completed");
    spec = (await env.registry.get(STACK))!.spec;
  });

  after(async () => {
    await rpc?.close();
    await web?.stop();
    await env?.stop();
    await db?.stop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test("a scale-out's new node joins with the stack's sign-in settings, before its database credentials", async () => {
    assert.deepEqual([...web.sandboxes.keys()].sort(), [`${STACK}-web-1`, `${STACK}-web-2`]);
    // Azure Monitor agrees with the alert: the fleet is busy
    for (const vm of web.sandboxes.keys()) {
      env.emulator.metrics.set(
        `${stackNames(spec).resourceGroupId}/providers/Microsoft.Compute/virtualMachines/${vm}`,
        "Percentage CPU",
        91,
      );
    }
    const at = env.host.now.toISOString();
    const signal: StackSignal = {
      id: `sig-${STACK}-1`,
      stack: STACK,
      intent: "scale-out",
      condition: "Fired",
      rule: `${STACK}-scale-out`,
      signalType: "Metric",
      summary: "Percentage CPU 91 > 75",
      alertId: `/subscriptions/${SUB}/providers/Microsoft.AlertsManagement/alerts/s1`,
      at,
      receivedAt: at,
    };
    await env.inbox.record(signal);
    const id = InstanceIds.scale(STACK);
    env.host.startNew(Names.orchestrators.scaleStack, { instanceId: id, input: { stack: STACK, pollSeconds: 30 } });
    await env.host.runUntilIdle();
    const scale = env.host.getStatus(id)!;
    assert.equal(scale.runtimeStatus, "Completed", JSON.stringify(scale.output ?? scale.customStatus));
    assert.deepEqual(
      (scale.output as ScaleOutput).actions.map((a) => [a.direction, a.outcome]),
      [["out", "scaled"]],
      JSON.stringify(scale.output),
    );

    // the new node has the rendered settings and the extension, made by its own agent
    assert.ok(web.sandboxes.has(third), "the scale-out made web-3");
    assert.ok(propertiesOf(third).includes(`${HEADER}${rendered()}`), "web-3 has the rendered settings");
    const jar = path.join(web.sandboxes.get(third)!.root, NODE_PATHS.openIdExtension);
    assert.equal(fs.statSync(jar).mode & 0o777, 0o640);
    // ... and said so in its health, as the digest the app rendered
    const health = await web.runAgent(third, ["health"]);
    const reported = JSON.parse(health.stdout.trim().split("\n").pop()!) as { signIn?: { digest: string | null } };
    assert.equal(reported.signIn?.digest, digest());

    // sign-in before the database credentials: until those, the probe keeps the node out of rotation
    const onThird = agentCommands(scale)
      .filter(([vm]) => vm === third)
      .map(([, command]) => command)
      .filter((c) => c !== "health");
    assert.deepEqual(onThird, ["sign-in", "db-credentials"]);

    // the registry knows: the drift check's access plan has nothing to do for the new node
    const recorded = (await env.registry.get(STACK))!.observed?.access?.nodes.find((n) => n.name === third);
    assert.equal(recorded?.digest, digest());
    const planned = await planAccessSyncActivity({ spec, at: env.host.now.toISOString() });
    assert.deepEqual(
      planned.plan.nodes.map((n) => n.name),
      [],
      "no node is due: web-3 was configured when it joined",
    );
  });

  test("heal's preparation of a new node gives it the sign-in settings and records them", async () => {
    // a node without the settings, as a replacement's fresh disk has none
    const off = await web.runAgent(third, ["sign-in", "--off"]);
    assert.equal(off.code, 0, off.stderr);
    assert.ok(!propertiesOf(third).includes(HEADER));

    const prepared = await prepareWebNodeActivity({ spec, vmName: third });
    assert.ok(prepared.steps.includes("sign-in settings applied"), JSON.stringify(prepared.steps));
    assert.ok(
      prepared.steps.indexOf("sign-in settings applied") < prepared.steps.findIndex((s) => s.startsWith("database")),
      "sign-in before the database credentials",
    );
    assert.ok(propertiesOf(third).includes(`${HEADER}${rendered()}`));
    const recorded = (await env.registry.get(STACK))!.observed?.access?.nodes.find((n) => n.name === third);
    assert.equal(recorded?.digest, digest());
    // heal turns the drain off once it has seen the node healthy; here, the test does
    assert.equal((await web.runAgent(third, ["drain", "off"])).code, 0);
  });
});
