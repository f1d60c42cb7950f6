// Activities of the heal orchestration: read the inbox and the ledger, observe one web node (power
// and provisioning state, private IP, the load balancer probe for that IP, the node agent's health),
// claim the stack, take one repair step, prepare a new node, and record what happened.
//
// Each is idempotent or at most once by design: observations only read; a start is skipped on a
// running VM; a replacement deletes the VM only while it is still the one that was observed (same
// vmId), and re-applies graph nodes through the engine (which writes only what differs); restart,
// redeploy and reimage are called without retries by the orchestration, so a failure is a failed
// attempt, never a second restart. Every Azure call goes through the client factory's deadlines.
import * as df from "durable-functions";
import type { StackSignal } from "../../shared/alerts/signal";
import { API_VERSIONS, webNodeGraphKeys } from "../../shared/graph/stack-graph";
import { stackNames } from "../../shared/graph/names";
import type { GraphNode } from "../../shared/graph/types";
import type {
  AgentReading,
  BrakeState,
  LedgerState,
  NodeObservation,
  NodeSuspension,
  PowerState,
  ProbeReading,
  RepairAttempt,
} from "../../shared/heal/types";
import { errorCode, runAgentCommand } from "../../shared/node/run-agent";
import { APP_USERS } from "../../shared/node/constants";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import { currentDbUserSlot } from "../../shared/stack-status";
import { StackNotFoundError, type StackConditionInput, type StackOperation } from "../../shared/store";
import { agentAnswered, failingChecks, isHealthy } from "../orchestrators/node-health";
import { Names } from "../names";
import { services } from "../services";
import { claimForWorker } from "../stack-claim";
import { buildGraphActivity } from "./resources";

// ------------------------------------------------------------------------------------ reading

export interface TakeHealSignalsInput {
  stack: string;
}

export type TakeHealSignalsOutput =
  | { registered: false; signals: StackSignal[] }
  | {
      registered: true;
      spec: StackSpec;
      signals: StackSignal[];
      ledger: LedgerState;
      /** the operation that holds the stack now, if any */
      operation?: StackOperation;
      /** how long a new node may take to boot and install (the deploy's setting) */
      nodeReadyTimeoutMinutes: number;
    };

/** The stack's pending heal signals (oldest first), its spec and its repair ledger. */
export async function takeHealSignalsActivity(input: TakeHealSignalsInput): Promise<TakeHealSignalsOutput> {
  const s = services();
  const signals = await s.inbox.pending(input.stack, { intents: ["heal"] });
  const record = await s.registry.get(input.stack);
  if (!record) return { registered: false, signals };
  return {
    registered: true,
    spec: record.spec,
    signals,
    ledger: await s.repairs.get(input.stack),
    ...(record.operation ? { operation: record.operation } : {}),
    nodeReadyTimeoutMinutes: s.nodeReadyTimeoutMinutes,
  };
}

export interface ObserveWebNodeInput {
  spec: StackSpec;
  vmName: string;
  /** skip the agent (a VM just recreated, whose agent is not there yet, is observed by ARM alone) */
  skipAgent?: boolean;
}

/** How far back the probe metric is read: Azure Monitor lags a minute or two. */
const PROBE_WINDOW_MS = 10 * 60_000;
/** A health check through Run Command gives up after this (a hung VM can keep Run Command waiting). */
const AGENT_HEALTH_TIMEOUT_MS = 5 * 60_000;

export async function observeWebNodeActivity(input: ObserveWebNodeInput): Promise<NodeObservation> {
  const { spec, vmName } = input;
  const { factory } = services();
  const compute = factory.compute(spec.subscriptionId);
  const at = new Date().toISOString();
  const none: AgentReading = { reachable: false, answered: false, healthy: false, failing: [], problems: [] };
  let vm;
  try {
    vm = await compute.virtualMachines.get(spec.resourceGroup, vmName, { ...factory.call(), expand: "instanceView" });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) {
      return {
        name: vmName,
        exists: false,
        power: "unknown",
        provisioning: "absent",
        probe: { state: "unknown" },
        agent: none,
        at,
      };
    }
    throw e;
  }
  const statuses = vm.instanceView?.statuses ?? [];
  const power = (statuses.find((st) => st.code?.startsWith("PowerState/"))?.code?.slice("PowerState/".length) ??
    "unknown") as PowerState;
  const provisioning = (vm.provisioningState ?? "unknown").toLowerCase();
  const primary =
    vm.networkProfile?.networkInterfaces?.find((n) => n.primary) ?? vm.networkProfile?.networkInterfaces?.[0];
  const nicId = primary?.id;
  const privateIp = nicId ? await privateIpOf(spec, nicId) : undefined;
  const probe = privateIp ? await probeOf(spec, privateIp) : { state: "unknown" as const, note: "no private IP" };
  const agent = power === "running" && !input.skipAgent ? await agentOf(spec, vmName) : none;
  return {
    name: vmName,
    exists: true,
    ...(vm.id ? { id: vm.id } : {}),
    ...(vm.vmId ? { vmId: vm.vmId } : {}),
    power,
    provisioning,
    ...(nicId ? { nicId } : {}),
    ...(privateIp ? { privateIp } : {}),
    ...(vm.zones?.length ? { zones: vm.zones } : {}),
    probe,
    agent,
    at,
  };
}

export async function privateIpOf(spec: StackSpec, nicId: string): Promise<string | undefined> {
  const { factory } = services();
  const rg = /\/resourceGroups\/([^/]+)\//i.exec(nicId)?.[1] ?? spec.resourceGroup;
  const name = nicId.split("/").pop()!;
  const nic = await factory.network(spec.subscriptionId).networkInterfaces.get(rg, name, factory.call());
  const configs = nic.ipConfigurations ?? [];
  return (configs.find((c) => c.primary) ?? configs[0])?.privateIPAddress;
}

/** `DipAvailability` of one backend: the latest average within the window, "unknown" without data. */
export async function probeOf(spec: StackSpec, ip: string): Promise<ProbeReading> {
  const { factory } = services();
  const lbId = stackNames(spec).loadBalancerId;
  const endTime = new Date();
  try {
    const [result] = await factory
      .metrics(spec.location)
      .queryResources([lbId], ["DipAvailability"], "Microsoft.Network/loadBalancers", {
        startTime: new Date(endTime.getTime() - PROBE_WINDOW_MS),
        endTime,
        interval: "PT1M",
        aggregation: "Average",
        filter: `BackendIPAddress eq '${ip}'`,
        ...factory.call(),
      });
    const series = result?.metrics?.[0]?.timeseries ?? [];
    const points = series.flatMap((t) => t.data ?? []).filter((p) => typeof p.average === "number");
    points.sort((a, b) => new Date(a.timeStamp).getTime() - new Date(b.timeStamp).getTime());
    const latest = points.at(-1)?.average;
    if (latest === undefined || latest === null) return { state: "unknown", note: "no probe data for this backend" };
    return { state: latest >= 50 ? "up" : "down", value: latest };
  } catch (e) {
    // no metric is not a broken node: the verdict needs the other signals then
    return { state: "unknown", note: `metrics query failed: ${firstLine(e)}` };
  }
}

async function agentOf(spec: StackSpec, vmName: string): Promise<AgentReading> {
  const { factory } = services();
  let result;
  try {
    result = await runAgentCommand(
      factory,
      { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup, vmName, command: "health" },
      AbortSignal.timeout(AGENT_HEALTH_TIMEOUT_MS),
    );
  } catch (e) {
    if (errorCode(e) === "Conflict" || (e as { statusCode?: number }).statusCode === 409) {
      // one Run Command at a time per VM: someone else's is running
      return { reachable: true, answered: false, healthy: false, busy: true, failing: [], problems: [firstLine(e)] };
    }
    if ((e as { name?: string }).name === "AbortError" || /abort/i.test(firstLine(e))) {
      return {
        reachable: false,
        answered: false,
        healthy: false,
        failing: [],
        problems: [`Run Command did not answer within ${AGENT_HEALTH_TIMEOUT_MS / 60_000} minutes`],
      };
    }
    throw e;
  }
  if (!result.reachable) {
    return { reachable: false, answered: false, healthy: false, failing: [], problems: failingChecks(result) };
  }
  const json = (agentAnswered(result) ? result.json : {}) as {
    installed?: unknown;
    draining?: unknown;
    liveSessions?: unknown;
    checks?: { name?: unknown; ok?: unknown; detail?: unknown }[];
  };
  const checks = Array.isArray(json.checks) ? json.checks : [];
  const failing = agentAnswered(result) ? checks.filter((c) => c.ok === false).map((c) => String(c.name)) : ["agent"];
  const dbDetail = checks.find((c) => c.name === "database" && c.ok === true)?.detail;
  const databaseUser = Object.values(APP_USERS).find((u) => typeof dbDetail === "string" && dbDetail.endsWith(` ${u}`));
  return {
    reachable: true,
    answered: agentAnswered(result),
    healthy: isHealthy(result),
    ...("installed" in json && json.installed === null ? { installing: true } : {}),
    ...(typeof json.draining === "boolean" ? { draining: json.draining } : {}),
    ...(typeof json.liveSessions === "number" ? { liveSessions: json.liveSessions } : {}),
    failing,
    problems: failingChecks(result),
    ...(databaseUser ? { databaseUser } : {}),
  };
}

// ------------------------------------------------------------------------------------ the claim

export interface ClaimForHealInput {
  stack: string;
  instanceId: string;
  /** ISO 8601, the orchestration's time */
  at: string;
}

export type ClaimForHealOutput = { ok: true } | { ok: false; running: StackOperation } | { ok: false; gone: true };

/**
 * Claims the stack for this heal instance (again: harmless). Another live operation is reported, never
 * overridden: heal waits for it. Stale claims (dead instances) are cleared by the next PUT or DELETE,
 * or by the hourly drift check, which check the instance's status; heal cannot from an activity.
 */
export async function claimForHealActivity(input: ClaimForHealInput): Promise<ClaimForHealOutput> {
  return claimForWorker(input.stack, "heal", input.instanceId, input.at);
}

// ------------------------------------------------------------------------------------ repair steps

export interface RepairStepInput {
  spec: StackSpec;
  vmName: string;
  /** the VM as observed before the step: a different vmId means it was already replaced */
  expectVmId?: string;
}

export interface RepairStepOutput {
  /** the node to verify: the same VM, or (scale set replacement) the new instance */
  node: string;
  detail: string;
}

export async function startWebNodeActivity(input: RepairStepInput): Promise<RepairStepOutput> {
  const { factory } = services();
  const compute = factory.compute(input.spec.subscriptionId);
  const vm = await compute.virtualMachines.get(input.spec.resourceGroup, input.vmName, {
    ...factory.call(),
    expand: "instanceView",
  });
  if (vm.instanceView?.statuses?.some((st) => st.code === "PowerState/running")) {
    return { node: input.vmName, detail: "already running" };
  }
  await compute.virtualMachines.start(input.spec.resourceGroup, input.vmName, factory.lro());
  return { node: input.vmName, detail: "started" };
}

export async function restartWebNodeActivity(input: RepairStepInput): Promise<RepairStepOutput> {
  const { factory } = services();
  await factory
    .compute(input.spec.subscriptionId)
    .virtualMachines.restart(input.spec.resourceGroup, input.vmName, factory.lro());
  return { node: input.vmName, detail: "restarted" };
}

export async function redeployWebNodeActivity(input: RepairStepInput): Promise<RepairStepOutput> {
  const { factory } = services();
  await factory
    .compute(input.spec.subscriptionId)
    .virtualMachines.redeploy(input.spec.resourceGroup, input.vmName, factory.lro());
  return { node: input.vmName, detail: "redeployed to another host" };
}

/** Scale set: a fresh OS disk from the scale set's model (same VM, name, NIC and IP). */
export async function reimageWebNodeActivity(input: RepairStepInput): Promise<RepairStepOutput> {
  const { factory } = services();
  const { spec } = input;
  await factory
    .compute(spec.subscriptionId)
    .virtualMachineScaleSets.reimage(spec.resourceGroup, stackNames(spec).scaleSet, {
      ...factory.lro(),
      vmScaleSetReimageInput: { instanceIds: [input.vmName] },
    });
  return { node: input.vmName, detail: "reimaged from the scale set's model" };
}

export interface ReplaceStepInput extends RepairStepInput {
  /** scale set: the instances before the step (the new one is the one not among them) and the capacity to restore */
  knownNodes?: string[];
  capacity?: number;
}

/**
 * Availability set: deletes the VM (its NIC stays: deleteOption Detach, so the private IP and the
 * backend pool membership wait for the new VM) and re-applies the stack graph's nodes of that web
 * node (`webNodeGraphKeys`: NIC, `vm:web-N`, `ra:vm:web-N` and, when the stack scales on sessions,
 * `ra:metrics:vm:web-N` and its rules): the same template, availability set, NIC and identity roles.
 * The engine deletes the old role assignments and makes them again, because ARM can't change an
 * assignment's principal and the new VM has a new identity. Scale set: deletes the instance and restores the capacity, so the
 * scale set creates a new instance from its model; the new instance carries the scale set's user-assigned identity, whose
 * roles stay as they are (nothing per instance to redo).
 */
export async function replaceWebNodeActivity(input: ReplaceStepInput): Promise<RepairStepOutput> {
  const { spec } = input;
  return spec.fleet.mode === "scaleSet" ? replaceScaleSetInstance(input) : replaceAvailabilitySetVm(input);
}

async function replaceAvailabilitySetVm(input: ReplaceStepInput): Promise<RepairStepOutput> {
  const { spec, vmName } = input;
  const { factory, engine } = services();
  const graph = await buildGraphActivity({ spec });
  const vmNode = graph.nodes.find((n) => n.kind === "virtualMachine" && n.id.split("/").pop() === vmName);
  if (!vmNode) throw new Error(`${vmName} is not a web node of stack ${spec.name}'s graph`);
  const key = vmNode.key.slice("vm:".length);
  // the node's NIC, VM and role assignments (a new VM is a new identity), and its own alert rules
  const ownNodes = webNodeGraphKeys(graph, key).map((k) => graph.nodes.find((n) => n.key === k)!);
  const compute = factory.compute(spec.subscriptionId);
  let current;
  try {
    current = await compute.virtualMachines.get(spec.resourceGroup, vmName, factory.call());
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  const done: string[] = [];
  if (current && (!input.expectVmId || current.vmId === input.expectVmId)) {
    await compute.virtualMachines.delete(spec.resourceGroup, vmName, factory.lro());
    done.push("deleted the VM (its NIC stays)");
  }
  for (const node of ownNodes) {
    const result = await engine.apply(node);
    if (result.action !== "unchanged") done.push(`${node.key} ${result.action}`);
  }
  return { node: vmName, detail: done.join(", ") || "already replaced" };
}

async function replaceScaleSetInstance(input: ReplaceStepInput): Promise<RepairStepOutput> {
  const { spec, vmName } = input;
  const { factory } = services();
  const compute = factory.compute(spec.subscriptionId);
  const scaleSet = stackNames(spec).scaleSet;
  const members = async () => {
    const names: string[] = [];
    const setId = stackNames(spec).scaleSetId.toLowerCase();
    for await (const vm of compute.virtualMachines.list(spec.resourceGroup, factory.call())) {
      if (vm.name && vm.virtualMachineScaleSet?.id?.toLowerCase() === setId) names.push(vm.name);
    }
    return names;
  };
  const done: string[] = [];
  let current;
  try {
    current = await compute.virtualMachines.get(spec.resourceGroup, vmName, factory.call());
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  if (current && (!input.expectVmId || current.vmId === input.expectVmId)) {
    await compute.virtualMachineScaleSets.deleteInstances(
      spec.resourceGroup,
      scaleSet,
      { instanceIds: [vmName] },
      factory.lro(),
    );
    done.push(`deleted instance ${vmName}`);
  }
  const set = await compute.virtualMachineScaleSets.get(spec.resourceGroup, scaleSet, factory.call());
  const want = input.capacity ?? spec.fleet.size;
  if ((set.sku?.capacity ?? 0) < want) {
    await compute.virtualMachineScaleSets.update(
      spec.resourceGroup,
      scaleSet,
      { sku: { ...set.sku, capacity: want } },
      factory.lro(),
    );
    done.push(`capacity back to ${want}`);
  }
  const known = new Set((input.knownNodes ?? []).map((n) => n.toLowerCase()));
  const fresh = (await members()).filter(
    (n) => !known.has(n.toLowerCase()) && n.toLowerCase() !== vmName.toLowerCase(),
  );
  if (fresh.length === 0) throw new Error(`the scale set made no new instance in place of ${vmName}`);
  fresh.sort((a, b) => a.localeCompare(b));
  return { node: fresh[0], detail: `${done.join(", ")}; new instance ${fresh[0]}` };
}

// ------------------------------------------------------------------------------------ a new node

export interface PrepareWebNodeInput {
  spec: StackSpec;
  vmName: string;
  /** the app user the stack's nodes use now */
  dbUserSlot: "a" | "b";
}

/**
 * Readies a new (replaced or reimaged) node before it may take traffic: drain on (the probe answers
 * 503), the current database credentials, the current certificate when the stack has one in Key
 * Vault. The orchestration then waits for health and turns the drain off.
 */
export async function prepareWebNodeActivity(input: PrepareWebNodeInput): Promise<{ steps: string[] }> {
  const { spec, vmName } = input;
  const { factory, engine } = services();
  const run = async (command: string, args: string[]) => {
    const result = await runAgentCommand(factory, {
      subscriptionId: spec.subscriptionId,
      resourceGroup: spec.resourceGroup,
      vmName,
      command,
      args,
    });
    if (!result.reachable || result.exitCode !== 0) {
      throw new Error(
        `${command} on ${vmName} failed: ${result.error ?? result.stderr?.split("\n").pop() ?? `exit ${result.exitCode}`}`,
      );
    }
  };
  const steps: string[] = [];
  await run("drain", ["on"]);
  steps.push("drain on");
  // the rotation's record of the current app user wins over what the healthy peers were seen using
  const record = await services().registry.get(spec.name);
  const slot = record?.observed?.credentials ? currentDbUserSlot(record.observed) : input.dbUserSlot;
  await run("db-credentials", ["--user", slot]);
  steps.push(`database credentials of app user ${slot}`);
  const names = stackNames(spec);
  const certificate: GraphNode = {
    key: `secret:${SECRET_NAMES.tlsBundle}`,
    kind: "keyVaultSecret",
    id: `${names.keyVaultId}/secrets/${SECRET_NAMES.tlsBundle}`,
    apiVersion: API_VERSIONS.keyVault,
    body: {},
    dependsOn: [],
  };
  const existing = await engine.observe(certificate);
  if (existing && existing.deleted !== true) {
    await run("install-cert", ["--secret", SECRET_NAMES.tlsBundle]);
    steps.push("certificate installed");
  } else {
    steps.push("no certificate in Key Vault yet: the node keeps its bootstrap certificate");
  }
  return { steps };
}

// ------------------------------------------------------------------------------------ records

export interface RecordRepairInput {
  stack: string;
  node: string;
  attempt: RepairAttempt;
}

export async function recordRepairActivity(input: RecordRepairInput): Promise<void> {
  await services().repairs.recordAttempt(input.stack, input.node, input.attempt);
}

export async function markRelapsedActivity(input: { stack: string; node: string; attemptId: string }): Promise<void> {
  await services().repairs.markRelapsed(input.stack, input.node, input.attemptId);
}

export async function suspendNodeActivity(input: {
  stack: string;
  node: string;
  suspension: NodeSuspension;
}): Promise<void> {
  await services().repairs.suspend(input.stack, input.node, input.suspension);
}

export interface SetHealBrakeInput {
  stack: string;
  /** null releases it */
  brake: BrakeState | null;
  at: string;
  releasedBy?: string;
}

export async function setHealBrakeActivity(input: SetHealBrakeInput): Promise<boolean> {
  return services().repairs.setBrake(input.stack, input.brake, { at: input.at, releasedBy: input.releasedBy });
}

export async function setHealConditionsActivity(input: {
  stack: string;
  conditions: StackConditionInput[];
}): Promise<void> {
  try {
    await services().registry.setConditions(input.stack, input.conditions);
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
}

export async function consumeHealSignalsActivity(input: {
  stack: string;
  ids: string[];
  outcome: string;
}): Promise<number> {
  if (input.ids.length === 0) return 0;
  return services().inbox.consume(input.stack, input.ids, input.outcome);
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 300);
}

df.app.activity(Names.activities.takeHealSignals, { handler: takeHealSignalsActivity });
df.app.activity(Names.activities.observeWebNode, { handler: observeWebNodeActivity });
df.app.activity(Names.activities.claimForHeal, { handler: claimForHealActivity });
df.app.activity(Names.activities.startWebNode, { handler: startWebNodeActivity });
df.app.activity(Names.activities.restartWebNode, { handler: restartWebNodeActivity });
df.app.activity(Names.activities.redeployWebNode, { handler: redeployWebNodeActivity });
df.app.activity(Names.activities.reimageWebNode, { handler: reimageWebNodeActivity });
df.app.activity(Names.activities.replaceWebNode, { handler: replaceWebNodeActivity });
df.app.activity(Names.activities.prepareWebNode, { handler: prepareWebNodeActivity });
df.app.activity(Names.activities.recordRepair, { handler: recordRepairActivity });
df.app.activity(Names.activities.markRelapsed, { handler: markRelapsedActivity });
df.app.activity(Names.activities.suspendNode, { handler: suspendNodeActivity });
df.app.activity(Names.activities.setHealBrake, { handler: setHealBrakeActivity });
df.app.activity(Names.activities.setHealConditions, { handler: setHealConditionsActivity });
df.app.activity(Names.activities.consumeHealSignals, { handler: consumeHealSignalsActivity });
