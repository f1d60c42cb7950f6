// Activities of the heal orchestration: read the inbox and the ledger, observe one web node (power
// and provisioning state, private IP, the load balancer probe for that IP, the node agent's health:
// shared/node/observe.ts), take one repair step, prepare a new node (shared/node/join.ts), and
// record what happened. The claim, the conditions and the inbox are functions/activities/registry.ts.
//
// Each is idempotent or at most once by design: observations only read; a start is skipped on a
// running VM; a replacement deletes the VM only while it is still the one that was observed (same
// vmId), and re-applies graph nodes through the engine (which writes only what differs); restart,
// redeploy and reimage are called without retries by the orchestration, so a failure is a failed
// attempt, never a second restart. Every Azure call goes through the client factory's deadlines.
import type { StackSignal } from "../../shared/alerts/signal";
import { webNodeGraphKeys } from "../../shared/graph/stack-graph";
import { stackNames } from "../../shared/graph/names";
import type { BrakeState, LedgerState, NodeSuspension, RepairAttempt } from "../../shared/heal/types";
import type { AppUserSlot } from "../../shared/node/constants";
import { joinSignIn } from "../../shared/access/plan";
import { publicHostnameOf, signInAuthority } from "../../shared/access/sign-in";
import { appUserForNewNode, joinSteps } from "../../shared/node/join";
import type { NodeObservation } from "../../shared/node/model";
import { observeWebNode } from "../../shared/node/observe";
import { restartServicesOf, type RestartServicesResult } from "../../shared/node/agent";
import { runAgentCommand } from "../../shared/node/run-agent";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import type { StackOperation } from "../../shared/store";
import { services } from "../services";
import { tlsBundleStored } from "../stack-graph";
import { buildGraphActivity } from "./resources";
import { recordAccessActivity } from "./access";
import { listWebNodesActivity } from "./nodes";
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
  // three independent reads: at once (heal's every round starts with them)
  const [signals, record, ledger] = await Promise.all([
    s.inbox.pending(input.stack, { intents: ["heal"] }),
    s.registry.get(input.stack),
    s.repairs.get(input.stack),
  ]);
  if (!record) return { registered: false, signals };
  return {
    registered: true,
    spec: record.spec,
    signals,
    ledger,
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

export async function observeWebNodeActivity(input: ObserveWebNodeInput): Promise<NodeObservation> {
  return observeWebNode(services().factory, input.spec, input.vmName, input);
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

export interface RestartServicesStepInput extends RepairStepInput {
  /** the units behind the node's failed service checks, as its agent named them */
  units: string[];
}

/**
 * The agent restarts the node's failed service units (`jumpgate-node restart-services`, which refuses
 * any unit that is not the node's own) and waits for each one's check. A unit that did not restart
 * or whose check still fails, or an agent that can't be reached, is a failed step: the ladder climbs.
 */
export async function restartWebNodeServicesActivity(input: RestartServicesStepInput): Promise<RepairStepOutput> {
  const { factory } = services();
  const { spec, vmName } = input;
  if (input.units.length === 0) throw new Error("the agent named no failed service unit to restart");
  const result = await runAgentCommand(factory, {
    subscriptionId: spec.subscriptionId,
    resourceGroup: spec.resourceGroup,
    vmName,
    command: "restart-services",
    args: input.units,
  });
  if (!result.reachable) throw new Error(`Run Command can't reach the VM: ${result.error ?? "no answer"}`);
  let answer: RestartServicesResult;
  try {
    answer = restartServicesOf(result.json);
  } catch {
    const said = result.stderr?.trim().split("\n").pop() ?? "";
    throw new Error(`restart-services gave no answer (exit ${result.exitCode ?? "?"})${said ? `: ${said}` : ""}`);
  }
  const each = answer.services.map(
    (u) =>
      `${u.unit} ${u.restarted ? `restarted, its check ${u.ok ? "passes" : "still fails"}` : "not restarted"} (${u.detail})`,
  );
  if (!answer.ok || result.exitCode !== 0) throw new Error(`restart-services: ${each.join("; ")}`);
  return { node: vmName, detail: each.join("; ") };
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
  /** the app user the stack's healthy nodes were seen using (appUserOfPeers); the rotation's record wins */
  dbUserSlot?: AppUserSlot;
}

/**
 * Readies a new (replaced or reimaged) node before it may take traffic, as every joining node is
 * (shared/node/join.ts): held out of the load balancer, the current certificate when the stack has
 * one in Key Vault, the current database credentials. The orchestration then waits for health and
 * turns the drain off.
 */
export async function prepareWebNodeActivity(input: PrepareWebNodeInput): Promise<{ steps: string[] }> {
  const { spec, vmName } = input;
  const { factory, registry } = services();
  const record = await registry.get(spec.name);
  const certificate = (await tlsBundleStored(spec)) ? { secret: SECRET_NAMES.tlsBundle } : undefined;
  // a new disk: nothing it says yet is worth keeping, so it gets everything
  const signIn = joinSignIn(spec, { publicHostname: publicHostnameOf(spec), authority: signInAuthority() });
  const plan = joinSteps(undefined, {
    appUser: appUserForNewNode(record?.observed, input.dbUserSlot),
    ...(certificate ? { certificate } : {}),
    drained: true,
    ...(signIn ? { signIn } : {}),
  });
  const steps: string[] = [];
  for (const step of plan) {
    const result = await runAgentCommand(factory, {
      subscriptionId: spec.subscriptionId,
      resourceGroup: spec.resourceGroup,
      vmName,
      command: step.command,
      args: step.args,
    });
    if (!result.reachable || result.exitCode !== 0) {
      throw new Error(
        `${step.what} on ${vmName} failed: ${result.error ?? lastLine(result.stderr) ?? `exit ${result.exitCode}`}`,
      );
    }
    steps.push(step.done);
  }
  if (!certificate) steps.push("no certificate in Key Vault yet: the node keeps its bootstrap certificate");
  if (signIn) {
    // the drift check's access plan reads this: the new node is not "not configured by Jumpgate yet"
    const node = (await listWebNodesActivity({ spec })).find((n) => n.name.toLowerCase() === vmName.toLowerCase());
    if (node) {
      await recordAccessActivity({
        stack: spec.name,
        nodes: [{ name: node.name, id: node.id, digest: signIn.digest, at: new Date().toISOString() }],
      });
    }
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

function lastLine(text?: string): string | undefined {
  const line = text?.trim().split("\n").pop();
  return line ? line.slice(0, 200) : undefined;
}
