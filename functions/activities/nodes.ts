// Activities that reach the web nodes: find them, and run the node agent on one through VM Run
// Command. The agent fetches secrets itself with the VM's identity, so no secret value crosses Run
// Command, the orchestration history or the logs.
import * as df from "durable-functions";
import { stackNames } from "../../shared/graph/names";
import { runAgentCommand, type AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import { Names } from "../names";
import { services } from "../services";

export interface WebNodeRef {
  name: string;
  id: string;
}

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
}

export async function runNodeAgentActivity(input: RunNodeAgentInput): Promise<AgentCommandResult> {
  return runAgentCommand(services().factory, input);
}

df.app.activity(Names.activities.listWebNodes, { handler: listWebNodesActivity });
df.app.activity(Names.activities.runNodeAgent, { handler: runNodeAgentActivity });
