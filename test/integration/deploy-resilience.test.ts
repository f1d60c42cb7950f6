// The provision issue's two resilience criteria, on the real code path: the app's deployStack
// orchestration and its real activities on the durable test host (virtual clock), the real Azure SDK
// clients against the emulator (async long-running operations), the registry and its stack claim on
// Azurite, web nodes answering through the stand-in agent over Run Command.
//  1. Killing the deploy after each activity in turn, then deploying again (a new instance that takes
//     over the stale claim, as a PUT would), ends in the same state as one clean run: the same
//     resources with the same properties, no extra or orphaned resource, no duplicate role
//     assignment, one version per secret.
//  2. Faults during the deploy (429 with Retry-After, 500/503, connection resets, failed long-running
//     operations) end in success when they pass within the retries (the SDK's, then the activity's),
//     and in a failure that names each resource when they persist, with nothing made that waits for
//     a failed resource; either way deploying again without them converges to the same state.
// Every comparison is against a snapshot of one clean deploy (test/support/emulator-snapshot.ts).
import "../../emulator/durable/install"; // before the app registers its functions
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { fromRegistry, InMemoryDurableClient, type InstanceState } from "../../emulator/durable";
import type { FaultRule } from "../../emulator/arm/faults";
import { buildGraphActivity } from "../../functions/activities/resources";
import { InstanceIds, Names } from "../../functions/names";
import type { DeployInput, DeployOutput, DeployStatus } from "../../functions/orchestrators/deploy-stack";
import { claimStack } from "../../functions/stack-claim";
import type { StackGraph } from "../../shared/graph/types";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { ActivityCrashTap, type ActivityCall } from "../support/activity-crash";
import {
  duplicateRoleAssignments,
  resourceIdDiff,
  snapshotEmulator,
  type EmulatorSnapshot,
} from "../support/emulator-snapshot";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { standInAgentRoot } from "../../dev/stand-in-agent";

const SUB = "00000000-0000-0000-0000-00000000a0b1";
const STACK = "jgres";
const FUNCTION_PRINCIPAL = "0f0e0d0c-0b0a-4909-8807-060504030201";

function specOf(): StackSpec {
  const r = validateStackSpec({
    name: STACK,
    subscriptionId: SUB,
    resourceGroup: "rg-jg-resilience",
    location: "westeurope",
    tags: { env: "test" },
    fleet: { mode: "availabilitySet", size: 2 },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

describe("deploy resilience: kills and faults converge to the clean run's state", () => {
  const spec = specOf();
  const tap = new ActivityCrashTap();
  let env: JumpgateEnv;
  let client: InMemoryDurableClient;
  let root: string;
  let graph: StackGraph;
  /** the state one clean deploy leaves, and the activities it ran */
  let reference: EmulatorSnapshot;
  let referenceCalls: ActivityCall[] = [];
  let runs = 0;

  before(async () => {
    root = standInAgentRoot();
    env = await startJumpgateEnv({
      emulator: {
        runCommand: { env: { JUMPGATE_NODE_ROOT: root } },
        // operations answer "running" once, then finish; one nobody polls (a vault's, whose PUT the
        // SDK follows through the resource's provisioningState) finishes on its own soon after
        lro: { mode: "async", pollsBeforeDone: 1, unpolledGraceMs: 10 },
      },
      // a reset connection leaves the SDK's per-attempt timer running for this long
      azure: { requestTimeoutMs: 3_000 },
      durable: { overrides: { activities: tap.wrapAll(fromRegistry().activities) } },
    });
    // the Function App's own identity gets its vault role too: one more role assignment to converge
    env.services.functionPrincipalId = FUNCTION_PRINCIPAL;
    tap.attach(env.host);
    client = new InMemoryDurableClient(env.host);
    graph = await buildGraphActivity({ spec });
  });

  after(async () => {
    await env?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** An empty subscription and registry (one emulator and one Azurite for the whole file). */
  async function freshWorld(): Promise<void> {
    await tap.settle();
    env.emulator.reset();
    await env.registry.delete(STACK);
  }

  /** What PUT /stacks/{name} does: claim the stack (taking over a stale claim), start the deploy. */
  async function startDeploy(): Promise<string> {
    const at = `r${++runs}`;
    const claim = await claimStack(client, STACK, "deploy", {
      spec,
      instanceIdFor: (generation) => InstanceIds.deploy(STACK, generation, at),
      now: env.host.now,
    });
    assert.ok(claim.ok, `the stack is claimed: ${JSON.stringify(claim)}`);
    const input: DeployInput = {
      spec,
      generation: claim.generation,
      nodeReadyTimeoutMinutes: env.services.nodeReadyTimeoutMinutes,
      checkFirst: true,
    };
    env.host.startNew(Names.orchestrators.deployStack, { instanceId: claim.instanceId, input });
    return claim.instanceId;
  }

  async function deployToEnd(): Promise<InstanceState> {
    const id = await startDeploy();
    await env.host.runUntilIdle();
    return env.host.getStatus(id)!;
  }

  const snapshot = () =>
    snapshotEmulator(env.emulator, env.services.factory, { [FUNCTION_PRINCIPAL]: "the Function App's identity" });

  /** A deploy that succeeded: output, nodes, run commands, registry record and released claim. */
  async function assertSucceeded(
    state: InstanceState,
    what: string,
    options: { faults?: boolean } = {},
  ): Promise<void> {
    assert.equal(
      state.runtimeStatus,
      "Completed",
      `${what}: ${JSON.stringify(state.output)} ${JSON.stringify(state.customStatus)}`,
    );
    const output = state.output as DeployOutput;
    assert.equal(output.outcome, "succeeded", what);
    assert.deepEqual(
      output.nodes.map((n) => [n.name, n.healthy]),
      [
        [`${STACK}-web-1`, true],
        [`${STACK}-web-2`, true],
      ],
      what,
    );
    // every run command ran OK; under injected faults, the last attempt of each. A deploy that found
    // the nodes in service already (the ones a finished deploy recorded, their probes up) ran none.
    const agent = tap.callsOf(state.instanceId).filter((c) => c.name === Names.activities.runNodeAgent);
    const labels = new Set(agent.map((c) => c.label));
    if ((state.customStatus as DeployStatus).inService) {
      assert.deepEqual([...labels], [], `${what}: nodes left alone, no run command`);
    } else {
      assert.ok(labels.size >= 3, `${what}: health and bootstrap-db ran on both nodes: ${[...labels].join(", ")}`);
    }
    const checked = options.faults ? [...labels].map((l) => agent.filter((c) => c.label === l).pop()!) : agent;
    for (const c of checked) {
      assert.ok(c.outcome?.ok, `${what}: ${c.label}: ${JSON.stringify(c.outcome)}`);
      const r = (c.outcome as { result: AgentCommandResult }).result;
      assert.ok(r.reachable && r.exitCode === 0, `${what}: ${c.label} ran OK: ${JSON.stringify(r)}`);
    }
    const record = await env.registry.get(STACK);
    assert.equal(record?.operation, undefined, `${what}: the claim is released`);
    assert.equal(record?.observed?.lastOperation?.instanceId, state.instanceId, what);
    assert.equal(record?.observed?.lastOperation?.outcome, "succeeded", what);
  }

  function assertSameState(actual: EmulatorSnapshot, what: string): void {
    assert.deepEqual(resourceIdDiff(reference, actual), { extra: [], missing: [] }, `${what}: the same resources`);
    assert.deepEqual(duplicateRoleAssignments(actual), [], `${what}: no duplicate role assignment`);
    assert.deepEqual(actual.roleAssignments, reference.roleAssignments, `${what}: the same role assignments`);
    assert.deepEqual(actual.secrets, reference.secrets, `${what}: the same secrets, one version each`);
    assert.deepEqual(actual.deletedSecrets, [], `${what}: no deleted secret`);
    assert.deepEqual(actual.dynamicIps, reference.dynamicIps, `${what}: the same private addresses`);
    for (let i = 0; i < reference.resources.length; i++) {
      assert.deepEqual(actual.resources[i], reference.resources[i], `${what}: ${reference.resources[i].id}`);
    }
  }

  test("reference: one clean deploy, and a redeploy of it writes nothing", async () => {
    await freshWorld();
    const state = await deployToEnd();
    await assertSucceeded(state, "clean deploy");
    referenceCalls = tap.callsOf(state.instanceId);
    reference = await snapshot();

    // what the comparisons rest on: every graph node made once, each secret generated once
    const secretNodes = graph.nodes.filter((n) => n.kind === "keyVaultSecret");
    assert.equal(reference.secrets.length, secretNodes.length);
    assert.ok(
      reference.secrets.every((s) => s.versions === 1 && s.enabled),
      JSON.stringify(reference.secrets),
    );
    const ids = new Set(reference.resources.map((r) => r.id));
    for (const n of graph.nodes.filter((n) => n.kind !== "keyVaultSecret")) {
      assert.ok(ids.has(n.id.toLowerCase()), `${n.key} exists`);
    }
    const roleNodes = graph.nodes.filter((n) => n.kind === "roleAssignment");
    assert.equal(reference.roleAssignments.length, roleNodes.length);
    // each web node reads the two app users' secrets (an assignment on each), the app writes the vault
    assert.deepEqual(reference.roleAssignments.map((a) => a.holder).sort(), [
      "<identity of jgres-web-1>",
      "<identity of jgres-web-1>",
      "<identity of jgres-web-2>",
      "<identity of jgres-web-2>",
      "<the Function App's identity>",
    ]);
    assert.deepEqual(duplicateRoleAssignments(reference), []);
    const mysql = reference.resources.find((r) => r.type === "Microsoft.DBforMySQL/flexibleServers")!;
    assert.deepEqual(mysql.writeOnly, { "properties.administratorLoginPassword": "<secret mysql-admin-password>" });
    const vm = reference.resources.find((r) => r.type === "Microsoft.Compute/virtualMachines")!;
    assert.match(JSON.stringify(vm.doc), /"keyData":"<secret vm-ssh-public-key>"/);

    // a second clean deploy in an empty subscription gives the same snapshot (the normalization holds)
    await freshWorld();
    await assertSucceeded(await deployToEnd(), "second clean deploy");
    assertSameState(await snapshot(), "second clean deploy");

    // and a redeploy of a converged stack changes nothing: no ARM write of any kind, Run Command included
    env.emulator.journal.clear();
    const redeploy = await deployToEnd();
    await assertSucceeded(redeploy, "redeploy");
    assert.match((redeploy.customStatus as DeployStatus).inService ?? "", /load balancer's probe/);
    assert.deepEqual(
      env.emulator.journal.writes().map((w) => `${w.method} ${w.path}`),
      [],
    );
    assertSameState(await snapshot(), "redeploy");
  });

  /**
   * Where the kill loop kills: after the first activity of each kind of work in the clean run, i.e.
   * each activity name and phase (the graph, every kind of resource, listing the nodes, the agent's
   * health check while waiting for nodes, the database bootstrap, the health check at the end,
   * recording the outcome, the audit entry and releasing the claim), with the Function App's role
   * assignment and the VMs' (whose principal exists only once the VM does) told apart. Killing after
   * every one of the ~36 activities takes ~35 s here, most of it one 3072-bit SSH key per run; the
   * ones left out repeat a kind of work already covered (the second NSG, NIC and VM, the other
   * secrets, the second node's health check).
   */
  function killPoints(calls: ActivityCall[]): { k: number; label: string; kind: string }[] {
    const bootstrap = calls.findIndex((c) => c.label.startsWith(`${Names.activities.runNodeAgent} bootstrap-db`));
    const seen = new Set<string>();
    const points: { k: number; label: string; kind: string }[] = [];
    calls.forEach((c, i) => {
      const input = c.input as { node?: { kind: string; key: string }; command?: string };
      let kind = c.name;
      if (input.node) {
        kind = `${c.name} ${input.node.kind}`;
        if (input.node.kind === "roleAssignment") kind += ` ${input.node.key.replace(/web-\d+/, "web-N")}`;
      } else if (input.command) {
        kind = `${c.name} ${input.command} (${i < bootstrap ? "waiting for nodes" : i > bootstrap ? "final health" : "database"})`;
      }
      if (seen.has(kind)) return;
      seen.add(kind);
      points.push({ k: i + 1, label: c.label, kind });
    });
    return points;
  }

  test("killed after each kind of activity, a new deploy takes over the stale claim and converges to the same state", async () => {
    assert.ok(reference, "the reference test ran");
    const points = killPoints(referenceCalls);
    // every activity name the deploy runs is a kill point, and so is the last activity
    assert.deepEqual(
      [...new Set(points.map((p) => p.label.split(" ")[0]))].sort(),
      [...new Set(referenceCalls.map((c) => c.name))].sort(),
    );
    assert.equal(points[points.length - 1].k, referenceCalls.length);
    for (const { k, label, kind } of points) {
      await freshWorld();
      const victim = await startDeploy();
      tap.killAfter(victim, k);
      await env.host.runUntilIdle();
      const what = `killed after activity ${k} (${label}, ${kind})`;
      assert.equal(tap.killedAfter, label, `${what}: the same activity as in the clean run`);
      const last = k === referenceCalls.length;
      // after the last activity the orchestrator may have finished before the kill arrived
      assert.ok(
        ["Terminated", ...(last ? ["Completed"] : [])].includes(env.host.getStatus(victim)!.runtimeStatus),
        `${what}: ${env.host.getStatus(victim)!.runtimeStatus}`,
      );
      await tap.settle();
      if (!last) {
        // the killed deploy never released its claim: the next deploy finds it stale and takes over
        assert.equal((await env.registry.get(STACK))?.operation?.instanceId, victim, `${what}: stale claim`);
      }
      const rerun = await deployToEnd();
      await assertSucceeded(rerun, `${what}, then deployed again`);
      assertSameState(await snapshot(), `${what}, then deployed again`);
    }
  });

  /** Graph nodes that wait (directly or not) for one of `keys`. */
  function dependentsOf(keys: string[]): string[] {
    const out = new Set<string>();
    let grew = true;
    while (grew) {
      grew = false;
      for (const n of graph.nodes) {
        if (out.has(n.key) || keys.includes(n.key)) continue;
        if (n.dependsOn.some((d) => keys.includes(d) || out.has(d))) {
          out.add(n.key);
          grew = true;
        }
      }
    }
    return [...out];
  }

  function assertFired(rules: FaultRule[]): void {
    const fired = new Map(env.emulator.faults.list().map((r) => [r.id, r.fired]));
    for (const r of rules) {
      assert.ok((fired.get(r.id) ?? 0) > 0, `fault ${JSON.stringify(r.match)} ${r.effect.kind} fired`);
    }
  }

  test("transient faults (429 + Retry-After, 500/503, resets, failed LROs) end in success; a redeploy converges", async () => {
    assert.ok(reference, "the reference test ran");
    await freshWorld();
    const f = env.emulator.faults;
    const rules = [
      // throttling, once with a Retry-After the SDK honours, once beyond the SDK's retries
      f.add({
        match: { method: "PUT", type: "Microsoft.Network/networkSecurityGroups" },
        effect: { kind: "status", status: 429, retryAfterSeconds: 1 },
      }),
      f.add({
        match: { method: "PUT", path: "/virtualMachines/jgres-web-1$" },
        effect: { kind: "status", status: 429, retryAfterMs: 20 },
        times: 5,
      }),
      // server errors on reads and writes, some beyond the SDK's retries
      f.add({
        match: { method: "GET", type: "Microsoft.Network/loadBalancers" },
        effect: { kind: "status", status: 503 },
        times: 5,
      }),
      f.add({
        match: { method: "PUT", type: "Microsoft.DBforMySQL/flexibleServers/databases" },
        effect: { kind: "status", status: 500 },
        times: 2,
      }),
      f.add({ match: { operation: "secret", method: "PUT" }, effect: { kind: "status", status: 503 }, times: 2 }),
      // connections reset on a read and on a write
      f.add({ match: { method: "GET", type: "Microsoft.Network/virtualNetworks" }, effect: { kind: "reset" } }),
      f.add({ match: { method: "PUT", type: "Microsoft.Network/networkInterfaces" }, effect: { kind: "reset" } }),
      // long-running operations that end Failed: the MySQL server, a VM, a run command
      f.add({
        match: { method: "PUT", type: "Microsoft.DBforMySQL/flexibleServers" },
        effect: { kind: "failOperation", code: "InternalServerError", message: "server provisioning failed" },
      }),
      f.add({
        match: { method: "PUT", path: "/virtualMachines/jgres-web-2$" },
        effect: { kind: "failOperation", code: "OSProvisioningInternalError", message: "VM provisioning failed" },
      }),
      f.add({
        match: { operation: "action", action: "runCommand" },
        effect: { kind: "failOperation", code: "InternalExecutionError", message: "run command failed" },
      }),
    ];
    const state = await deployToEnd();
    assertFired(rules);
    // each fault fits in the retry budget (the SDK's 4 attempts per call, 4 attempts per activity);
    // the ones beyond the SDK's retries failed an activity, which the orchestration retried
    await assertSucceeded(state, "deploy under transient faults", { faults: true });
    const retried = new Set(
      tap
        .callsOf(state.instanceId)
        .filter((c) => c.outcome?.ok === false)
        .map((c) => c.label.replace(/ jgres-web-\d$/, "")),
    );
    for (const label of ["applyResource lb", "applyResource vm:web-1", "applyResource mysql", "applyResource vm:web-2"])
      assert.ok(retried.has(label), `${label} failed once and was retried: ${[...retried].join(", ")}`);
    assert.ok(retried.has("runNodeAgent health"), [...retried].join(", "));
    assertSameState(await snapshot(), "deploy under transient faults");
    env.emulator.faults.clear();
    await assertSucceeded(await deployToEnd(), "redeploy after transient faults");
    assertSameState(await snapshot(), "redeploy after transient faults");
  });

  test("persistent faults: a clear failure naming the resources, nothing behind them made; a redeploy converges", async () => {
    assert.ok(reference, "the reference test ran");
    await freshWorld();
    const f = env.emulator.faults;
    const rules = [
      f.add({
        match: { method: "PUT", type: "Microsoft.DBforMySQL/flexibleServers" },
        effect: { kind: "failOperation", code: "InternalServerError", message: "server provisioning failed" },
        times: 0,
      }),
      f.add({
        match: { method: "PUT", type: "Microsoft.Network/networkInterfaces" },
        effect: { kind: "status", status: 503 },
        times: 0,
      }),
    ];
    const state = await deployToEnd();
    assertFired(rules);
    assert.equal(state.runtimeStatus, "Failed", JSON.stringify(state.output));
    const failed = ["mysql", "nic:web-1", "nic:web-2"];
    const status = state.customStatus as DeployStatus;
    assert.equal(status.phase, "failed");
    assert.deepEqual(status.resources?.failed.map((x) => x.key).sort(), [...failed].sort());
    const byKey = new Map(status.resources.failed.map((x) => [x.key, x.message]));
    const node = (key: string) => graph.nodes.find((n) => n.key === key)!;
    assert.match(byKey.get("mysql")!, /server provisioning failed/);
    assert.match(byKey.get("nic:web-1")!, /503/);
    for (const key of failed) assert.ok(byKey.get(key)!.includes(node(key).id), `${key}: names ${node(key).id}`);
    // the headline names every failed resource, whatever the length of their messages
    assert.match(
      status.failure ?? "",
      /^3 resource\(s\) failed \((mysql|nic:web-1|nic:web-2)(, (mysql|nic:web-1|nic:web-2)){2}\): /,
    );
    assert.match(String(state.output), /3 resource\(s\) failed \(.*\): .*server provisioning failed/);
    const behind = dependentsOf(failed);
    assert.deepEqual([...(status.resources?.skipped ?? [])].sort(), [...behind].sort());
    assert.ok(behind.includes("vm:web-1") && behind.includes("mysql:db"), behind.join(", "));
    // nothing behind a failed resource was made, nothing outside the stack either; everything else was
    const ids = new Set(env.emulator.store.all().map((d) => d.id.toLowerCase()));
    const known = new Set(reference.resources.map((r) => r.id));
    assert.deepEqual(
      [...ids].filter((id) => !known.has(id)),
      [],
    );
    for (const key of behind) assert.ok(!ids.has(node(key).id.toLowerCase()), `${key} was not made`);
    for (const n of graph.nodes.filter((n) => n.kind !== "keyVaultSecret" && ![...failed, ...behind].includes(n.key))) {
      assert.ok(ids.has(n.id.toLowerCase()), `${n.key} was made`);
    }
    // the failure is on record and the stack is free for the next deploy
    const record = await env.registry.get(STACK);
    assert.equal(record?.operation, undefined);
    assert.equal(record?.observed?.lastOperation?.outcome, "failed");
    assert.deepEqual(
      record?.observed?.lastOperation?.failures.map((x) => failed.find((key) => x.startsWith(`${key}: `))).sort(),
      [...failed].sort(),
    );

    env.emulator.faults.clear();
    await assertSucceeded(await deployToEnd(), "redeploy after persistent faults");
    assertSameState(await snapshot(), "redeploy after persistent faults");
  });
});
