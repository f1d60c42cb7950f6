// Records history fixtures of the app's own orchestrators (deployStack, planStack, reconcileStack,
// teardownStack) for the replay gate (test/orchestration/history-replay.test.ts). They run for real
// on the durable test host's virtual clock, against the Azure emulator (the app's SDK clients) and
// Azurite, with the stand-in node agent answering Run Command. To keep the files small the stack is
// the smallest there is (one web node) and its VM gets a one-line cloud-config as custom data instead
// of the node template (27 KB of gzip+base64 that would sit in every graph and VM input; what the
// orchestrators do does not depend on it). Everything else is the app's own activities. Scenarios
// cover the branches an in-flight instance can be in: a completed deploy, a deploy waiting for an
// unreachable node, a failed deploy, a deploy that left its in-service node alone and one that
// checked the database before acting (checkFirst), a plan with a change, a reconcile in sync and one
// that repaired drift, a teardown.
//
// Secret values never go into orchestration state by design; the recorder checks it: a fixture that
// contains any value the stack's Key Vault held is refused.
//
//   npm run fixtures:record            (samples and app)
//   node dist/test/support/durable-record-fixtures.js [fixturesDir] --only app
import * as fs from "node:fs";
import * as path from "node:path";
import {
  defaultHistoryFixturesDir,
  findRepoRoot,
  fixtureFromInstance,
  HistoryEventType,
  writeHistoryFixture,
} from "../../emulator/durable";
import type { DurableTestHost, InstanceState } from "../../emulator/durable";
import type { DeployInput } from "../../functions/orchestrators/deploy-stack";
import type { PlanInput } from "../../functions/orchestrators/plan-stack";
import type { ReconcileInput } from "../../functions/orchestrators/reconcile-stack";
import type { TeardownInput } from "../../functions/orchestrators/teardown-stack";
import type { BuildGraphInput } from "../../functions/activities/resources";
import { services } from "../../functions/services";
import { stackNames } from "../../shared/graph/names";
import { buildStackGraph } from "../../shared/graph/stack-graph";
import type { StackGraph } from "../../shared/graph/types";
import { customDataBase64 } from "../../shared/node/cloud-init";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { standInAgentRoot } from "../../dev/stand-in-agent";

export const FIXTURE_STACK = "fixture";

export function fixtureSpec(overrides: Record<string, unknown> = {}): StackSpec {
  const r = validateStackSpec({
    name: FIXTURE_STACK,
    subscriptionId: "00000000-0000-0000-0000-00000000f1c5",
    resourceGroup: "rg-fixture",
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 1, min: 1, max: 1 },
    ...overrides,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

/** A fixture must not hold a secret value; returns the file, or throws naming the fixture. */
export function assertNoSecretValues(file: string, values: readonly string[]): string {
  const text = fs.readFileSync(file, "utf8");
  // values are JSON-escaped inside the history's Input/Result strings: look for both spellings
  const leaked = values.find((v) => text.includes(v) || text.includes(JSON.stringify(v).slice(1, -1)));
  if (leaked !== undefined) {
    fs.rmSync(file);
    throw new Error(`${file}: the history carries a secret value; refusing to write it`);
  }
  return file;
}

/** buildStackGraph as the app does it, with a one-line cloud-config for the web VMs. */
function buildGraphWithSmallCustomData(input: unknown): StackGraph {
  const { spec } = input as BuildGraphInput;
  const s = services();
  return buildStackGraph(spec, {
    tenantId: s.tenantId,
    functionPrincipalId: s.functionPrincipalId,
    renderCustomData: (vm) => customDataBase64(`#cloud-config\nhostname: ${vm.name}\n`),
  });
}

/** Runs every scenario on one emulator + Azurite + host and writes the fixtures; returns the files. */
export async function recordAppFixtures(dir: string = defaultHistoryFixturesDir()): Promise<string[]> {
  const agentRoot = standInAgentRoot("jumpgate-fixture-node-");
  const env = await startJumpgateEnv({
    emulator: { runCommand: { env: { JUMPGATE_NODE_ROOT: agentRoot } } },
    durable: { overrides: { activities: { buildStackGraph: buildGraphWithSmallCustomData } } },
    nodeReadyTimeoutMinutes: 30,
  });
  try {
    return await recordScenarios(env, dir);
  } finally {
    await env.stop();
    fs.rmSync(agentRoot, { recursive: true, force: true });
  }
}

async function recordScenarios(env: JumpgateEnv, dir: string): Promise<string[]> {
  const { host, registry, emulator } = env;
  const spec = fixtureSpec();
  const names = stackNames(spec);
  const vmName = `${FIXTURE_STACK}-web-1`;
  const pending: { id: string; scenario: string }[] = [];
  const written: string[] = [];
  const record = (id: string, scenario: string) => pending.push({ id, scenario });
  /** every value the stack's vault held so far (the teardown soft-deletes the vault) */
  const secrets = new Set<string>();
  const writePending = () => {
    try {
      for (const v of emulator.keyVault.secretValues(names.keyVault)) secrets.add(v);
    } catch {
      // the vault is gone: the values collected before still apply
    }
    // the VMs' SSH key is a public key (its private half was discarded): public by nature
    const values = [...secrets].filter((v) => !v.startsWith("ssh-"));
    if (values.length < 4) throw new Error(`expected the stack's generated secrets, found ${values.length}`);
    for (const { id, scenario } of pending.splice(0)) {
      written.push(assertNoSecretValues(recordAppFixture(host, id, scenario, dir), values));
    }
  };

  const claim = async (kind: "deploy" | "teardown" | "reconcile", instanceId: string) => {
    const r = await registry.setOperation(FIXTURE_STACK, { kind, instanceId, startedAt: host.now.toISOString() });
    if (!r.ok)
      throw new Error(
        `could not claim the fixture stack for ${instanceId}: ${r.reason === "operation-running" ? JSON.stringify(r.running) : r.reason}`,
      );
  };
  const run = async (name: string, instanceId: string, input: unknown): Promise<InstanceState> => {
    host.startNew(name, { instanceId, input });
    await host.runUntilIdle();
    return host.getStatus(instanceId)!;
  };
  const expect = (instance: InstanceState, status: string) => {
    if (instance.runtimeStatus !== status) {
      throw new Error(
        `${instance.instanceId}: ${instance.runtimeStatus}, expected ${status}: ${JSON.stringify(instance.output)}`,
      );
    }
  };
  const deployInput = (s: StackSpec, generation: number): DeployInput => ({
    spec: s,
    generation,
    nodeReadyTimeoutMinutes: 30,
  });

  // deployStack: a new stack, completed
  await registry.putDesired(FIXTURE_STACK, spec);
  await claim("deploy", "fixture-deploy");
  expect(await run("deployStack", "fixture-deploy", deployInput(spec, 1)), "Completed");
  record("fixture-deploy", "completed");

  // deployStack in flight: its node does not answer yet, the deploy waits for the next health poll
  emulator.runCommand.setVm(vmName, "unreachable");
  await claim("deploy", "fixture-deploy-waiting");
  host.startNew("deployStack", { instanceId: "fixture-deploy-waiting", input: deployInput(spec, 1) });
  const waiting = () => host.getStatus("fixture-deploy-waiting")!;
  await host.runUntilIdle({ until: () => waitsForPollTimer(waiting()) });
  if (!waitsForPollTimer(waiting())) throw new Error("the deploy never waited for an unreachable node");
  record("fixture-deploy-waiting", "waiting-for-unreachable-node");
  writePending();
  emulator.runCommand.setVm(vmName, undefined);
  await host.runUntilIdle();
  expect(waiting(), "Completed");

  // deployStack as PUT and the drift repair start it (checkFirst): nothing changed and the node's
  // probe is up, so the node is left alone (no Run Command, no admin password)
  await claim("deploy", "fixture-deploy-left-alone");
  const leftAlone = await run("deployStack", "fixture-deploy-left-alone", {
    ...deployInput(spec, 1),
    checkFirst: true,
  });
  expect(leftAlone, "Completed");
  if (!(leftAlone.customStatus as { inService?: string }).inService) throw new Error("the node should be left alone");
  record("fixture-deploy-left-alone", "nodes-left-alone");

  // the same with the node's probe down: health, the read-only database check, nothing to bootstrap
  const probeOf = emulator.metrics.probeOf;
  emulator.metrics.probeOf = () => 0;
  await claim("deploy", "fixture-deploy-checked");
  expect(
    await run("deployStack", "fixture-deploy-checked", { ...deployInput(spec, 1), checkFirst: true }),
    "Completed",
  );
  record("fixture-deploy-checked", "database-checked");
  emulator.metrics.probeOf = probeOf;

  // planStack: what a changed spec would do
  const changed = fixtureSpec({ database: { backupRetentionDays: 14 } });
  const plan: PlanInput = { spec: changed, generation: 2 };
  const planned = await run("planStack", "fixture-plan", plan);
  expect(planned, "Completed");
  if ((planned.output as { changes: unknown[] }).changes.length !== 1)
    throw new Error("the plan should show one change");
  record("fixture-plan", "one-change");

  // deployStack: generation 2, the MySQL update fails for good; the deploy records the failure
  await registry.putDesired(FIXTURE_STACK, changed);
  emulator.faults.add({
    match: { method: "PUT", type: "Microsoft.DBforMySQL/flexibleServers" },
    effect: { kind: "status", status: 400, code: "InvalidParameterValue", message: "fixture: refused" },
    times: 0,
  });
  await claim("deploy", "fixture-deploy-failed");
  expect(await run("deployStack", "fixture-deploy-failed", deployInput(changed, 2)), "Failed");
  record("fixture-deploy-failed", "resource-failed");
  emulator.faults.clear();
  await registry.putDesired(FIXTURE_STACK, spec);

  // reconcileStack: nothing drifted
  const generation = (await registry.get(FIXTURE_STACK))!.generation;
  const reconcile: ReconcileInput = { spec, generation, nodeReadyTimeoutMinutes: 30 };
  await claim("reconcile", "fixture-reconcile-in-sync");
  const inSync = await run("reconcileStack", "fixture-reconcile-in-sync", reconcile);
  expect(inSync, "Completed");
  if ((inSync.output as { drifted: boolean }).drifted) throw new Error("the stack should be in sync");
  record("fixture-reconcile-in-sync", "in-sync");

  // reconcileStack: an SSH rule added behind Jumpgate's back is drift; the reconcile applies the spec again
  const nsg = emulator.store.get(names.webNsgId)!;
  (nsg.properties.securityRules as unknown[]).push({
    name: "ssh-from-anywhere",
    properties: {
      protocol: "Tcp",
      sourceAddressPrefix: "*",
      sourcePortRange: "*",
      destinationAddressPrefix: "*",
      destinationPortRange: "22",
      access: "Allow",
      priority: 200,
      direction: "Inbound",
    },
  });
  await claim("reconcile", "fixture-reconcile-repaired");
  const repaired = await run("reconcileStack", "fixture-reconcile-repaired", reconcile);
  expect(repaired, "Completed");
  if (!(repaired.output as { drifted: boolean }).drifted) throw new Error("the reconcile should have found drift");
  record("fixture-reconcile-repaired", "repaired");

  writePending();

  // teardownStack
  const teardown: TeardownInput = { spec };
  await claim("teardown", "fixture-teardown");
  expect(await run("teardownStack", "fixture-teardown", teardown), "Completed");
  record("fixture-teardown", "completed");
  writePending();
  return written;
}

/**
 * Writes the fixture of an instance. Failure details carry stack traces with this checkout's
 * absolute paths; they become repository-relative (replay reads only the message).
 */
function recordAppFixture(host: DurableTestHost, instanceId: string, scenario: string, dir: string): string {
  const fixture = fixtureFromInstance(host.getStatus(instanceId)!);
  const root = findRepoRoot() + path.sep;
  fixture.history = fixture.history.map((e) =>
    typeof e.Details === "string" ? { ...e, Details: e.Details.split(root).join("") } : e,
  );
  return writeHistoryFixture(fixture, { scenario, dir });
}

/** The deploy has asked every node for health and is now waiting on a timer for the next poll. */
function waitsForPollTimer(instance: InstanceState): boolean {
  const h = instance.history;
  const lastAgent = h.map((e) => e.EventType).lastIndexOf(HistoryEventType.TaskCompleted);
  const agentAsked = h.some((e) => e.EventType === HistoryEventType.TaskScheduled && e.Name === "runNodeAgent");
  const timerAfter = h.findIndex((e, i) => i > lastAgent && e.EventType === HistoryEventType.TimerCreated);
  return agentAsked && timerAfter >= 0 && instance.runtimeStatus === "Running";
}
