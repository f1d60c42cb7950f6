// Activities of the rolling upgrade (functions/orchestrators/upgrade-stack.ts): where the new
// release's nodes boot from, the on-demand backup of the flexible server, and the record of the
// upgrade (status, conditions). Each is safe to retry: a repeated backup is one more backup (Azure
// names each one; the record keeps the last), a repeated record writes the same fields.
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { backupNameFor, takeOnDemandBackup } from "../../shared/azure/mysql-backup";
import { stackNames } from "../../shared/graph/names";
import { nodeImageEnabled } from "../../shared/graph/image-graph";
import { guacamoleRelease } from "../../shared/node/catalog";
import type { NodeImageResolution } from "../../shared/node/image-resolution";
import type { StackSpec } from "../../shared/spec/types";
import type { BackupObserved, UpgradeObserved } from "../../shared/stack-status";
import { StackNotFoundError, type StackConditionInput } from "../../shared/store";
import { resolveNodeImage } from "../node-image";
import { services } from "../services";

export interface BootSource {
  source: "source" | "image";
  /** the gallery image version's ARM id, when `image` */
  imageId?: string;
  /** the target release's image version: the one booted from, or the one awaited */
  imageVersion?: string;
  /**
   * Set while the target release's image is not there yet: `build` (nothing of that version yet,
   * or a failed one) or `wait` (a capture is under way). The upgrade starts the build and looks again.
   */
  awaiting?: "build" | "wait";
  /** why this source, for the status */
  reason: string;
}

export interface PrepareBootSourceInput {
  /** the stack's spec, at the target release */
  spec: StackSpec;
  version: string;
}

/**
 * Where the target release's nodes boot from. Without `nodeImage.enabled` every new node installs
 * from the pinned, checksummed artifacts at first boot, which the catalog must hold for the version
 * (refused here, before any backup or node, when it does not). With it, the target release's image
 * version: reused when the gallery has it, else awaited (the upgrade starts its build).
 */
export async function prepareBootSourceActivity(input: PrepareBootSourceInput): Promise<BootSource> {
  guacamoleRelease(input.version);
  if (!nodeImageEnabled(input.spec)) {
    return { source: "source", reason: "node images are not enabled: new nodes install the release at first boot" };
  }
  return bootSourceOf(input.spec, input.version, await resolveNodeImage(input.spec));
}

export interface LookAtUpgradeImageInput extends PrepareBootSourceInput {
  /** the build instance the upgrade started (`image-<stack>-<version>`) */
  buildInstanceId: string;
}

/**
 * One look while the upgrade waits for the target's image: the gallery again, and when it has no
 * usable version yet, the build instance; a build that ended without one means source, and why.
 */
export async function lookAtUpgradeImageActivity(
  input: LookAtUpgradeImageInput,
  context?: InvocationContext,
): Promise<BootSource> {
  const boot = bootSourceOf(input.spec, input.version, await resolveNodeImage(input.spec));
  if (!boot.awaiting) return boot;
  const client = services().durableClient ?? (context ? df.getClient(context) : undefined);
  if (!client) throw new Error("no durable client to look at the node image build with");
  const build = await client.getStatus(input.buildInstanceId, { showInput: false });
  const state = build?.instanceId ? build.runtimeStatus : undefined;
  if (state === undefined || !ENDED.has(state)) return boot;
  const output = (build.output ?? {}) as { outcome?: string; reason?: string };
  const why =
    state === df.OrchestrationRuntimeStatus.Completed
      ? `the image build ${output.outcome ?? "ended"}${output.reason ? `: ${output.reason}` : " without a usable version"}`
      : `the image build ${String(state).toLowerCase()}`;
  return fromSource(boot.imageVersion, why);
}

const ENDED = new Set<string>([
  df.OrchestrationRuntimeStatus.Completed,
  df.OrchestrationRuntimeStatus.Failed,
  df.OrchestrationRuntimeStatus.Terminated,
]);

function bootSourceOf(spec: StackSpec, version: string, resolution: NodeImageResolution): BootSource {
  if (spec.guacamole.version !== version) {
    // the image key is the spec's release: resolving with another one would boot the wrong release
    throw new Error(`the spec is at Guacamole ${spec.guacamole.version}, not the target ${version}`);
  }
  if (!resolution.enabled) return fromSource(undefined, "node images are not enabled");
  const { choice } = resolution;
  switch (choice.action) {
    case "reuse":
      return {
        source: "image",
        imageVersion: choice.version,
        ...(resolution.bootImage ? { imageId: resolution.bootImage.id } : {}),
        reason: `new nodes boot from image version ${choice.version} of Guacamole ${version}`,
      };
    case "conflict":
      return fromSource(choice.version, choice.reason);
    case "build":
    case "wait":
      return {
        source: "source",
        imageVersion: choice.version,
        awaiting: choice.action,
        reason:
          choice.action === "build"
            ? `image version ${choice.version} of Guacamole ${version} is not built yet`
            : `image version ${choice.version} of Guacamole ${version} is being captured`,
      };
  }
}

/** The fallback of a missing image (README "Node images"): install at first boot, saying why. */
function fromSource(imageVersion: string | undefined, why: string): BootSource {
  return {
    source: "source",
    ...(imageVersion ? { imageVersion } : {}),
    reason: `${why}: new nodes install the release at first boot`,
  };
}

export interface BackupDatabaseInput {
  spec: StackSpec;
  /** what the backup is for, in its requested name (e.g. "pre-upgrade-1-7-0") */
  purpose: string;
  reason: string;
  instanceId: string;
}

/** Takes an on-demand backup of the stack's flexible server and records it as the stack's last backup. */
export async function backupDatabaseActivity(input: BackupDatabaseInput): Promise<BackupObserved> {
  const { spec } = input;
  const { factory, registry } = services();
  const server = stackNames(spec).mysqlServer;
  const backup = await takeOnDemandBackup(
    factory.mysql(spec.subscriptionId),
    factory.settings.armEndpoint,
    {
      subscriptionId: spec.subscriptionId,
      resourceGroup: spec.resourceGroup,
      server,
      backupName: backupNameFor(input.purpose, new Date()),
    },
    factory.call(),
  );
  const recorded: BackupObserved = {
    name: backup.name,
    id: backup.id,
    ...(backup.completedTime ? { completedTime: backup.completedTime } : {}),
    reason: input.reason,
    instanceId: input.instanceId,
  };
  await registry.updateObserved(spec.name, (observed) => ({
    generation: 0,
    resources: [],
    nodes: [],
    ...observed,
    lastBackup: recorded,
  }));
  return recorded;
}

export interface RecordUpgradeInput {
  stack: string;
  upgrade: UpgradeObserved;
  /** the stack's Upgrading/UpgradeFailed conditions, set with it */
  conditions?: StackConditionInput[];
}

/** Records where the upgrade is (or how it ended) on the stack; a stack torn down meanwhile is fine. */
export async function recordUpgradeActivity(input: RecordUpgradeInput): Promise<void> {
  const { registry } = services();
  const upgrade: UpgradeObserved =
    input.upgrade.state !== "running" && !input.upgrade.finishedAt
      ? { ...input.upgrade, finishedAt: new Date().toISOString() }
      : input.upgrade;
  try {
    await registry.updateObserved(input.stack, (observed) => ({
      generation: 0,
      resources: [],
      nodes: [],
      ...observed,
      upgrade,
    }));
    if (input.conditions?.length) await registry.setConditions(input.stack, input.conditions);
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
}
