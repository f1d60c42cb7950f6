// Activities over the resource graph: build it, and plan, apply or remove one node. Each is
// idempotent (the engine reads, compares and writes only what differs), so a retried or replayed
// activity is harmless.
import { ArmDocuments } from "../../shared/arm/arm-documents";
import type { ApplyResult, RemoveResult } from "../../shared/arm/engine";
import { ArmApplyError } from "../../shared/arm/errors";
import { asBackgroundWork } from "../../shared/azure/arm-budget";
import type { BootImage } from "../../shared/graph/stack-graph";
import type { GraphNode, NodePlan, StackGraph } from "../../shared/graph/types";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import { effectiveFleet, type FleetMembers } from "../../shared/scale/fleet";
import { nodeImageEnabled } from "../../shared/graph/image-graph";
import { services } from "../services";
import { scaleSetModelRelease } from "../../shared/upgrade/policy";
import { bootImageOf } from "../../shared/node/image-resolution";
import { imageBuilderLeftoverNodes, resolveNodeImageActivity } from "./images";
import { stackGraphOf, tlsBundleStored } from "../stack-graph";

export interface BuildGraphInput {
  spec: StackSpec;
  /**
   * the web nodes to build the graph with (a scale action's new members); default: the fleet state's
   * members while they follow the spec, else the spec's fleet.size (shared/scale/fleet.ts)
   */
  members?: Pick<FleetMembers, "size" | "ordinals">;
  /**
   * the gallery image version new web nodes boot from (the stack's node image, when one is built):
   * their imageReference and image-mode custom data; unset: the marketplace image, from source
   */
  bootImage?: BootImage;
  /**
   * the graph a teardown removes: also the builder VM, NIC and OS disk any image build of the stack
   * left (a teardown stops running builds; their leftovers go with the stack, before its network)
   */
  teardown?: true;
}

export async function buildGraphActivity(input: BuildGraphInput): Promise<StackGraph> {
  const s = services();
  const members = input.members ?? effectiveFleet(input.spec, await s.fleet.get(input.spec.name));
  // a scale set's model stays at the old release after a failed upgrade (shared/upgrade/policy.ts)
  const spec = await modelSpec(input.spec);
  // a stack with a node image: new nodes (a scale-out's, a replacement's) boot from its version when
  // there is one; the caller's resolution wins (a deploy resolves first, to start a build)
  const bootImage =
    input.bootImage ?? (nodeImageEnabled(spec) ? bootImageOf(await resolveNodeImageActivity({ spec })) : undefined);
  const graph = stackGraphOf(spec, members, await tlsBundleStored(spec), bootImage);
  if (input.teardown) graph.nodes.push(...(await imageBuilderLeftoverNodes(spec)));
  return graph;
}

/** The spec the web nodes are rendered at: the stored one, but at the release a scale set's model keeps. */
async function modelSpec(spec: StackSpec): Promise<StackSpec> {
  if (spec.fleet.mode !== "scaleSet") return spec;
  const release = scaleSetModelRelease(spec, (await services().registry.get(spec.name))?.observed);
  return release === spec.guacamole.version ? spec : { ...spec, guacamole: { ...spec.guacamole, version: release } };
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
