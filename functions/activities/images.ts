// Activities of node images: resolve which image version new nodes boot from (and whether one must
// be built), start the singleton build, and the build's steps: make sure the gallery and definition
// exist, create the builder, read its bake, seal, generalize and capture it, remove it, record what
// happened. Each is idempotent: a retried or replayed step finds its work done (an existing builder
// or version is read, not written again; a deleted one is absent) and answers the same.
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { armFailure, isNotFound } from "../../shared/arm/errors";
import { ArmDocuments } from "../../shared/arm/arm-documents";
import {
  imageBuilderNodes,
  imageBuilderRemovalNodes,
  nodeImageEnabled,
  nodeImageNodes,
} from "../../shared/graph/image-graph";
import {
  imageBuilderNames,
  imageBuilderOfName,
  nodeImageNames,
  nodeImageVersionId,
  stackNames,
  stackTags,
  type WebNodeNames,
} from "../../shared/graph/names";
import type { GraphNode } from "../../shared/graph/types";
import { withOwnership } from "../../shared/graph/ownership";
import { imageBakeStatusOf, type ImageBakeStatus } from "../../shared/node/agent";
import { renderBakeCustomData } from "../../shared/node/bake-custom-data";
import { IMAGE_TAGS, type NodeImageKey } from "../../shared/node/image-identity";
import type { NodeImageResolution } from "../../shared/node/image-resolution";
import { runAgentCommand } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import type { NodeImageBuildObserved, NodeImageObserved, StackObserved } from "../../shared/stack-status";
import { resolveNodeImage } from "../node-image";
import { startNodeImageBuild, type NodeImageBuildStart } from "../image-build-start";
import { assertNoTeardown } from "../image-build-stop";
import { StackNotFoundError } from "../../shared/store";
import { services } from "../services";

export interface ResolveNodeImageInput {
  spec: StackSpec;
}

/** The stack's image key, its version's name, and reuse / build / wait / conflict from the gallery's listing. */
export async function resolveNodeImageActivity(input: ResolveNodeImageInput): Promise<NodeImageResolution> {
  return resolveNodeImage(input.spec);
}

// ------------------------------------------------------------------------------------ starting

export interface StartNodeImageBuildInput {
  spec: StackSpec;
  version: string;
  /** who asked: "deploy", "upgrade" (it waits for the build) or "request" (POST .../node-image/build) */
  trigger: string;
}

/**
 * Starts `image-<stack>-<version>` unless it runs. Registered with a durable client input (register.ts);
 * the test host and the sandbox hand theirs through services().
 */
export async function startNodeImageBuildActivity(
  input: StartNodeImageBuildInput,
  context?: InvocationContext,
): Promise<NodeImageBuildStart> {
  const client = services().durableClient ?? (context ? df.getClient(context) : undefined);
  if (!client) throw new Error("no durable client to start the node image build with");
  return startNodeImageBuild(client, input);
}

// ------------------------------------------------------------------------------------ the build's steps

export interface ImageStepInput {
  spec: StackSpec;
}

/** The gallery and the image definition, applied through the engine (ownership-checked, a read when in place). */
export async function ensureImageGalleryActivity(input: ImageStepInput): Promise<void> {
  const { spec } = input;
  await assertNoTeardown(spec.name);
  const names = stackNames(spec);
  const nodes = withOwnership(nodeImageNodes(spec, stackTags(spec)), names.tag, spec.adopt);
  for (const node of nodes) await services().engine.apply(node);
}

export interface ImageVersionInput extends ImageStepInput {
  version: string;
}

/** Deletes a version the build is to replace (a failed one); only a version tagged as the stack's. */
export async function deleteImageVersionActivity(input: ImageVersionInput): Promise<{ deleted: boolean }> {
  const { spec, version } = input;
  const { factory } = services();
  const ids = nodeImageNames(spec);
  const compute = factory.compute(spec.subscriptionId);
  let current;
  try {
    current = await compute.galleryImageVersions.get(
      spec.resourceGroup,
      ids.gallery,
      ids.imageDefinition,
      version,
      factory.call(),
    );
  } catch (e) {
    if (isNotFound(e)) return { deleted: false };
    throw e;
  }
  const tag = stackNames(spec).tag;
  if (current.tags?.[tag.name] !== tag.value) {
    throw new Error(`image version ${version} is not tagged ${tag.name}=${tag.value}: it is not the stack's to delete`);
  }
  await compute.galleryImageVersions.delete(
    spec.resourceGroup,
    ids.gallery,
    ids.imageDefinition,
    version,
    factory.lro(),
  );
  return { deleted: true };
}

export interface BuilderInput extends ImageStepInput {
  key: NodeImageKey;
  version: string;
}

/**
 * The builder's NIC and VM (bake custom data), through the engine: a builder that exists is read, not
 * written (custom data and the image are create-only). Its OS disk gets the stack's tag, so removing
 * it later is an ownership-checked delete like every other. `generalized`: the builder is one an
 * earlier build generalized already (it stopped before its capture).
 */
export async function createImageBuilderActivity(input: BuilderInput): Promise<{ vmName: string; generalized?: true }> {
  const { spec, key, version } = input;
  // never a builder in a stack whose teardown has begun (a terminate can land while this runs: the
  // teardown removes what it finds, or fails naming what appeared after it looked)
  await assertNoTeardown(spec.name);
  const s = services();
  const names = stackNames(spec);
  const tags = { ...stackTags(spec), [IMAGE_TAGS.digest]: key.digest };
  const { nic, vm } = imageBuilderNodes(spec, names, tags, version, renderBakeCustomData(spec, key));
  const [ownedNic, ownedVm] = withOwnership([nic, vm], names.tag, []);
  await s.engine.apply(ownedNic);
  await s.engine.apply(ownedVm);
  const builder = imageBuilderNames(spec, version);
  const compute = s.factory.compute(spec.subscriptionId);
  const disk = await compute.disks.get(spec.resourceGroup, builder.osDisk, s.factory.call());
  if (disk.tags?.[names.tag.name] !== names.tag.value) {
    await compute.disks.update(
      spec.resourceGroup,
      builder.osDisk,
      { tags: { ...disk.tags, ...tags } },
      s.factory.lro(),
    );
  }
  // an earlier build's builder, generalized before that build stopped, runs nothing any more
  const view = await compute.virtualMachines.instanceView(spec.resourceGroup, builder.vm, s.factory.call());
  const generalized = (view.statuses ?? []).some((st) => st.code === "OSState/generalized");
  return { vmName: builder.vm, ...(generalized ? { generalized: true } : {}) };
}

export interface BuilderVmInput extends ImageStepInput {
  vmName: string;
}

/** The builder's answer: its bake status, or why there is none (not reachable yet, no JSON). */
export interface ImageBakeReading {
  reachable: boolean;
  status?: ImageBakeStatus;
  error?: string;
}

/** `jumpgate-node image-status` on the builder. An unreachable builder (still booting) is an answer, not a failure. */
export async function readImageBakeActivity(input: BuilderVmInput): Promise<ImageBakeReading> {
  const result = await runAgentCommand(services().factory, {
    subscriptionId: input.spec.subscriptionId,
    resourceGroup: input.spec.resourceGroup,
    vmName: input.vmName,
    command: "image-status",
  });
  if (!result.reachable) return { reachable: false, error: result.error ?? "the VM agent did not answer" };
  if (result.json && typeof result.json === "object") {
    try {
      return { reachable: true, status: imageBakeStatusOf(result.json as Record<string, unknown>) };
    } catch (e) {
      return { reachable: true, error: e instanceof Error ? e.message : String(e) };
    }
  }
  return { reachable: true, error: result.stderr?.trim() || `image-status exited ${result.exitCode ?? "?"}` };
}

/** `jumpgate-node image-seal`: node-unique state removed, waagent deprovisioned. Throws unless it says so. */
export async function sealImageBuilderActivity(input: BuilderVmInput): Promise<{ removed: string[] }> {
  const result = await runAgentCommand(services().factory, {
    subscriptionId: input.spec.subscriptionId,
    resourceGroup: input.spec.resourceGroup,
    vmName: input.vmName,
    command: "image-seal",
  });
  const json = result.json as { sealed?: unknown; removed?: unknown } | undefined;
  if (!result.reachable || result.exitCode !== 0 || json?.sealed !== true) {
    throw new Error(
      `image-seal on ${input.vmName} failed: ${result.error ?? result.stderr?.trim() ?? `exit ${result.exitCode}`}`,
    );
  }
  return { removed: Array.isArray(json.removed) ? json.removed.map(String) : [] };
}

/** Deallocates and generalizes the builder; a builder already generalized is left as it is. */
export async function generalizeImageBuilderActivity(input: BuilderVmInput): Promise<{ generalized: true }> {
  const { spec, vmName } = input;
  const { factory } = services();
  const compute = factory.compute(spec.subscriptionId);
  const view = await compute.virtualMachines.instanceView(spec.resourceGroup, vmName, factory.call());
  const codes = (view.statuses ?? []).map((s) => s.code ?? "");
  if (codes.includes("OSState/generalized")) return { generalized: true };
  if (!codes.includes("PowerState/deallocated")) {
    await compute.virtualMachines.deallocate(spec.resourceGroup, vmName, factory.lro());
  }
  await compute.virtualMachines.generalize(spec.resourceGroup, vmName, factory.call());
  return { generalized: true };
}

export interface CaptureInput extends BuilderInput {
  vmName: string;
}

/**
 * The image version, captured from the generalized builder (`storageProfile.source.virtualMachineId`)
 * into the stack's region, tagged with the stack, the image key's digest and Guacamole version. A
 * version already there with this digest is the answer (a retried capture).
 */
export async function captureImageVersionActivity(input: CaptureInput): Promise<{ id: string; version: string }> {
  const { spec, key, version } = input;
  await assertNoTeardown(spec.name);
  const { factory } = services();
  const ids = nodeImageNames(spec);
  const compute = factory.compute(spec.subscriptionId);
  const id = nodeImageVersionId(spec, version);
  try {
    const existing = await compute.galleryImageVersions.get(
      spec.resourceGroup,
      ids.gallery,
      ids.imageDefinition,
      version,
      factory.call(),
    );
    if (existing.tags?.[IMAGE_TAGS.digest] === key.digest && existing.provisioningState === "Succeeded") {
      return { id, version };
    }
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  await compute.galleryImageVersions.createOrUpdate(
    spec.resourceGroup,
    ids.gallery,
    ids.imageDefinition,
    version,
    {
      location: spec.location,
      tags: {
        ...stackTags(spec),
        [IMAGE_TAGS.digest]: key.digest,
        [IMAGE_TAGS.guacamole]: key.guacamoleVersion,
      },
      publishingProfile: {
        targetRegions: [{ name: spec.location, regionalReplicaCount: 1, storageAccountType: "Standard_LRS" }],
        replicaCount: 1,
        storageAccountType: "Standard_LRS",
      },
      storageProfile: { source: { virtualMachineId: imageBuilderNames(spec, version).vmId } },
    },
    factory.lro(),
  );
  return { id, version };
}

/**
 * Deletes the builder VM, its NIC and its OS disk, each only when it carries the stack's tag (the
 * engine's ownership check). Absent ones are fine: the step runs after any outcome, and again.
 */
export async function removeImageBuilderActivity(
  input: ImageVersionInput,
): Promise<{ removed: string[]; kept: string[] }> {
  const { spec, version } = input;
  const s = services();
  const names = stackNames(spec);
  const { nic, vm } = imageBuilderNodes(spec, names, stackTags(spec), version, "");
  const removed: string[] = [];
  const kept: string[] = [];
  for (const node of [vm, nic]) {
    const result = await s.engine.remove(node, names.tag);
    if (result.action === "deleted") removed.push(node.id);
    else if (result.action !== "absent") kept.push(`${node.id}: ${result.reason ?? result.action}`);
  }
  const disk = imageBuilderNames(spec, version).osDisk;
  const compute = s.factory.compute(spec.subscriptionId);
  try {
    const doc = await compute.disks.get(spec.resourceGroup, disk, s.factory.call());
    if (doc.tags?.[names.tag.name] === names.tag.value) {
      await compute.disks.delete(spec.resourceGroup, disk, s.factory.lro());
      removed.push(doc.id ?? disk);
    } else {
      kept.push(`${doc.id ?? disk}: not tagged ${names.tag.name}=${names.tag.value}`);
    }
  } catch (e) {
    if (!isNotFound(e))
      throw new Error(`removing the builder's OS disk ${disk}: ${armFailure(e).message}`, { cause: e });
  }
  return { removed, kept };
}

// ------------------------------------------------------------------------------------ teardown

/**
 * The removal nodes (shared/graph/image-graph.ts) of every builder the stack's resource group holds a
 * VM, NIC or OS disk of, whatever its version: found by name in one listing of the group, so a build
 * of an older version, or one stopped before it recorded anything, leaves nothing behind. Whose it is
 * is the engine's to judge when it removes them: a look-alike without the stack's tag is refused and
 * kept. A stack that never kept a node image lists nothing (no ARM call).
 */
export async function imageBuilderLeftoverNodes(spec: StackSpec): Promise<GraphNode[]> {
  const s = services();
  const observed = (await s.registry.get(spec.name))?.observed;
  if (!nodeImageEnabled(spec) && !observed?.nodeImage) return [];
  const names = stackNames(spec);
  let ids: string[];
  try {
    ids = await new ArmDocuments(s.factory).listGroup(names.resourceGroupId);
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
  const builders = new Map<string, WebNodeNames>();
  for (const id of ids) {
    const m =
      /\/providers\/Microsoft\.(?:Compute\/virtualMachines|Network\/networkInterfaces|Compute\/disks)\/([^/]+)$/i.exec(
        id,
      );
    const builder = m ? imageBuilderOfName(spec, m[1]) : undefined;
    if (builder) builders.set(builder.node, builder);
  }
  return [...builders.values()]
    .sort((a, b) => a.node.localeCompare(b.node))
    .flatMap((b) => imageBuilderRemovalNodes(spec, b, stackTags(spec), { rg: "rg", vnet: "vnet", lb: "lb" }));
}

// ------------------------------------------------------------------------------------ recording

export interface RecordNodeImageInput {
  stack: string;
  resolved?: NodeImageObserved["resolved"];
  lastBuild?: NodeImageBuildObserved;
}

/**
 * The stack's observed `nodeImage`: the last resolution and the last build (merged, never cleared).
 * A stack torn down meanwhile has nothing to record into: a build stopped by its teardown ends there.
 */
export async function recordNodeImageActivity(input: RecordNodeImageInput): Promise<void> {
  try {
    await recordInto(input);
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
}

async function recordInto(input: RecordNodeImageInput): Promise<void> {
  await services().registry.updateObserved(input.stack, (stored: StackObserved | undefined) => {
    const observed: StackObserved = stored ?? { generation: 0, resources: [], nodes: [] };
    return {
      ...observed,
      nodeImage: {
        ...observed.nodeImage,
        ...(input.resolved ? { resolved: input.resolved } : {}),
        ...(input.lastBuild ? { lastBuild: input.lastBuild } : {}),
      },
    };
  });
}
