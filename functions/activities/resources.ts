// Activities over the resource graph: build it, and plan, apply or remove one node. Each is
// idempotent (the engine reads, compares and writes only what differs), so a retried or replayed
// activity is harmless.
import * as df from "durable-functions";
import { ArmDocuments } from "../../shared/arm/arm-documents";
import type { ApplyResult, RemoveResult } from "../../shared/arm/engine";
import { ArmApplyError } from "../../shared/arm/errors";
import { asBackgroundWork } from "../../shared/azure/arm-budget";
import { stackNames } from "../../shared/graph/names";
import { API_VERSIONS, buildStackGraph } from "../../shared/graph/stack-graph";
import type { GraphNode, NodePlan, StackGraph } from "../../shared/graph/types";
import { SECRET_NAMES } from "../../shared/secret-names";
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
  return stackGraphOf(input.spec, members, await tlsBundleStored(input.spec));
}

/**
 * The stack's graph for these members; `tlsBundle`: whether its vault holds the TLS bundle (the drift
 * screen takes it from the certificate ledger instead of asking Key Vault).
 */
export function stackGraphOf(
  spec: StackSpec,
  members: Pick<FleetMembers, "size" | "ordinals">,
  tlsBundle: boolean,
): StackGraph {
  const s = services();
  return buildStackGraph(spec, {
    tenantId: s.tenantId,
    functionPrincipalId: s.functionPrincipalId,
    recordingWriterRoleId: s.recordingWriterRoleId,
    alertActionGroupId: s.alertActionGroupId,
    tlsBundle,
    renderCustomData: (vm) => renderWebNodeCustomData(spec, vm),
    ...(spec.fleet.mode === "availabilitySet"
      ? { webNodeOrdinals: members.ordinals }
      : { scaleSetCapacity: members.size }),
  });
}

/** Whether the stack's vault holds a TLS bundle (a role assignment on it needs it to exist). */
export async function tlsBundleStored(spec: StackSpec): Promise<boolean> {
  const node: GraphNode = {
    key: `secret:${SECRET_NAMES.tlsBundle}`,
    kind: "keyVaultSecret",
    id: `${stackNames(spec).keyVaultId}/secrets/${SECRET_NAMES.tlsBundle}`,
    apiVersion: API_VERSIONS.keyVault,
    body: {},
    dependsOn: [],
  };
  const observed = await services().engine.observe(node);
  return !!observed && observed.deleted !== true;
}

/**
 * Gives the web nodes' identities read access to the TLS bundle (the graph's grants on that secret,
 * which exist only once the bundle does): the certificate worker calls it right after storing the
 * first bundle, before any node is asked to install it. Idempotent: existing grants cost a read. A
 * node that does not exist (yet) is skipped: it gets the grant with the rest of its own graph nodes
 * when a deploy, scale-out or heal makes it.
 */
export async function grantTlsBundleReaders(spec: StackSpec): Promise<void> {
  const graph = await buildGraphActivity({ spec });
  const grants = graph.nodes.filter((n) => n.kind === "roleAssignment" && n.key.endsWith(`:${SECRET_NAMES.tlsBundle}`));
  for (const node of grants) {
    try {
      await services().engine.apply(node);
    } catch (e) {
      if (!(e instanceof ArmApplyError && e.code === "UnresolvedReference")) throw e;
    }
  }
}

export interface NodeInput {
  node: GraphNode;
}

export interface PlanNodeInput extends NodeInput {
  /** timer work (the drift check's reads): it waits for ARM budget behind heal and deploy */
  background?: true;
}

export async function planResourceActivity(input: PlanNodeInput): Promise<NodePlan> {
  const plan = () => services().engine.plan(input.node);
  return input.background ? asBackgroundWork(plan) : plan();
}

export async function applyResourceActivity(input: NodeInput): Promise<ApplyResult> {
  const result = await services().engine.apply(input.node);
  await removeSuperseded(input.node);
  return result;
}

export interface RemoveInput extends NodeInput {
  tag: StackGraph["tag"];
}

export async function removeResourceActivity(input: RemoveInput): Promise<RemoveResult> {
  const result = await services().engine.remove(input.node, input.tag);
  if (result.action !== "refused") await removeSuperseded(input.node);
  return result;
}

/**
 * Deletes what an earlier Jumpgate made that a node replaces (the vault-wide Key Vault Secrets User
 * of a web node, now per secret), when it is still there: a read when it is gone, so an unchanged
 * stack still costs no write.
 */
async function removeSuperseded(node: GraphNode): Promise<void> {
  if (!node.supersedes?.length) return;
  const arm = new ArmDocuments(services().factory);
  for (const old of node.supersedes) {
    if (await arm.get(old)) await arm.delete(old);
  }
}

df.app.activity(Names.activities.buildStackGraph, { handler: buildGraphActivity });
df.app.activity(Names.activities.planResource, { handler: planResourceActivity });
df.app.activity(Names.activities.applyResource, { handler: applyResourceActivity });
df.app.activity(Names.activities.removeResource, { handler: removeResourceActivity });
