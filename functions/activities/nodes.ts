// Activities that reach the web nodes: find them, and run the node agent on one through VM Run
// Command. The agent fetches the secrets its node may read itself, with the VM's identity (the app
// users' passwords, the TLS bundle), so those never cross Run Command, the orchestration history or
// the logs. The few commands that act as the database admin get the admin password (and
// bootstrap-db guacadmin's) from this activity instead, read from the stack's vault with the
// Function App's identity right here and handed over as managed Run Command protected parameters:
// the nodes' identities cannot read them at all.
import type { SecretClient } from "@azure/keyvault-secrets";
import { stackVault } from "../../shared/arm/stack-vault";
import { ROTATION_TAGS } from "../../shared/credentials/rotation-state";
import { STACK_TAG_NAME, stackNames } from "../../shared/graph/names";
import { HANDED_PARAMETERS, handedSecrets, SETTLED, type HandedSecret } from "../../shared/node/agent";
import type { WebNodeRef } from "../../shared/node/model";
import {
  runAgentCommand,
  type AgentCommandResult,
  type ProtectedParameter,
  type ProtectedRun,
} from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import { services } from "../services";

export interface ListWebNodesInput {
  spec: StackSpec;
}

/** The stack's web VMs as ARM sees them now: members of its availability set or scale set. */
export async function listWebNodesActivity(input: ListWebNodesInput): Promise<WebNodeRef[]> {
  const { spec } = input;
  const names = stackNames(spec);
  const compute = services().factory.compute(spec.subscriptionId);
  const parentId = (spec.fleet.mode === "scaleSet" ? names.scaleSetId : names.availabilitySetId).toLowerCase();
  const found: WebNodeRef[] = [];
  for await (const vm of compute.virtualMachines.list(spec.resourceGroup, services().factory.call())) {
    const parent = spec.fleet.mode === "scaleSet" ? vm.virtualMachineScaleSet?.id : vm.availabilitySet?.id;
    if (vm.name && vm.id && parent?.toLowerCase() === parentId) found.push({ name: vm.name, id: vm.id });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}

export interface RunNodeAgentInput {
  subscriptionId: string;
  resourceGroup: string;
  vmName: string;
  command: string;
  args?: string[];
  /**
   * the stack the VM belongs to, whose vault holds what an admin step needs; absent in instances
   * scheduled before this field existed (then the VM's `jumpgate-stack` tag says, checked against
   * the registry)
   */
  stack?: string;
}

export async function runNodeAgentActivity(input: RunNodeAgentInput): Promise<AgentCommandResult> {
  const handed = handedSecrets(input.command, input.args ?? []);
  if (handed.length === 0) return runAgentCommand(services().factory, input);
  return runAgentCommand(services().factory, input, undefined, await handOver(input, handed));
}

/** The values an admin step needs, read from the stack's vault, and the VM's region. */
async function handOver(input: RunNodeAgentInput, handed: HandedSecret[]): Promise<ProtectedRun> {
  const s = services();
  const vm = await s.factory
    .compute(input.subscriptionId)
    .virtualMachines.get(input.resourceGroup, input.vmName, s.factory.call());
  const stack = input.stack ?? vm.tags?.[STACK_TAG_NAME];
  const record = stack ? await s.registry.get(stack) : undefined;
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  if (
    !record ||
    !same(record.spec.subscriptionId, input.subscriptionId) ||
    !same(record.spec.resourceGroup, input.resourceGroup)
  ) {
    throw new Error(
      `${input.vmName} is not a web node of a registered stack in ${input.resourceGroup}: no password is handed to it`,
    );
  }
  const client = await stackVault(s.factory, record.spec);
  if (!client) throw new Error(`the vault of stack ${record.name} does not exist`);
  const protectedParameters: ProtectedParameter[] = [];
  for (const h of handed) protectedParameters.push(...(await secretParameters(client, h)));
  return { protectedParameters, location: vm.location };
}

/**
 * One handed secret as parameters: that version, or the latest plus (for the admin password) the
 * settled version an unsettled rotation's latest one replaces, as the agent's fallback login.
 */
async function secretParameters(client: SecretClient, h: HandedSecret): Promise<ProtectedParameter[]> {
  const { factory } = services();
  const read = async (version?: string) =>
    client.getSecret(h.secret, { ...factory.call(), ...(version ? { version } : {}) });
  if (h.version !== SETTLED) return [{ name: h.parameter, value: valueOf(await read(h.version), h) }];
  const latest = await read();
  const out: ProtectedParameter[] = [{ name: h.parameter, value: valueOf(latest, h) }];
  const tags = latest.properties.tags ?? {};
  const label = tags[ROTATION_TAGS.label];
  const replaces = tags[ROTATION_TAGS.replaces];
  if (h.parameter === HANDED_PARAMETERS.admin && (label === "pending" || label === "failed") && replaces) {
    out.push({ name: HANDED_PARAMETERS.adminFallback, value: valueOf(await read(replaces), h) });
  }
  return out;
}

function valueOf(secret: { value?: string }, h: HandedSecret): string {
  if (!secret.value) throw new Error(`secret '${h.secret}' has no value`);
  return secret.value;
}
