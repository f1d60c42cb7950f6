// Activities over the resource graph: build it, and plan, apply or remove one node. Each is
// idempotent (the engine reads, compares and writes only what differs), so a retried or replayed
// activity is harmless.
import * as df from "durable-functions";
import { buildStackGraph } from "../../shared/graph/stack-graph";
import type { GraphNode, NodePlan, StackGraph } from "../../shared/graph/types";
import type { StackSpec } from "../../shared/spec/types";
import { renderWebNodeCustomData } from "../../shared/node/web-node-template";
import { effectiveFleet, type FleetMembers } from "../../shared/scale/fleet";
import { Names } from "../names";
import { services } from "../services";

export interface BuildGraphInput {
  spec: StackSpec;
  /**
   * the web nodes to build the graph with (a scale action's new members); default: the fleet state's
   * members while they follow the spec, else the spec's fleet.size (shared/scale/fleet.ts)
   */
  members?: Pick<FleetMembers, "size" | "ordinals">;
}

export async function buildGraphActivity(input: BuildGraphInput): Promise<StackGraph> {
  const s = services();
  const members = input.members ?? effectiveFleet(input.spec, await s.fleet.get(input.spec.name));
  return buildStackGraph(input.spec, {
    tenantId: s.tenantId,
    functionPrincipalId: s.functionPrincipalId,
    alertActionGroupId: s.alertActionGroupId,
    renderCustomData: (vm) => renderWebNodeCustomData(input.spec, vm),
    ...(input.spec.fleet.mode === "availabilitySet"
      ? { webNodeOrdinals: members.ordinals }
      : { scaleSetCapacity: members.size }),
  });
}

export interface NodeInput {
  node: GraphNode;
}

export async function planResourceActivity(input: NodeInput): Promise<NodePlan> {
  return services().engine.plan(input.node);
}

export async function applyResourceActivity(input: NodeInput) {
  return services().engine.apply(input.node);
}

export interface RemoveInput extends NodeInput {
  tag: StackGraph["tag"];
}

export async function removeResourceActivity(input: RemoveInput) {
  return services().engine.remove(input.node, input.tag);
}

df.app.activity(Names.activities.buildStackGraph, { handler: buildGraphActivity });
df.app.activity(Names.activities.planResource, { handler: planResourceActivity });
df.app.activity(Names.activities.applyResource, { handler: applyResourceActivity });
df.app.activity(Names.activities.removeResource, { handler: removeResourceActivity });
