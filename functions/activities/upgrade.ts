// Activities of the rolling upgrade (functions/orchestrators/upgrade-stack.ts): where the new
// release's nodes boot from, the on-demand backup of the flexible server, and the record of the
// upgrade (status, conditions). Each is safe to retry: a repeated backup is one more backup (Azure
// names each one; the record keeps the last), a repeated record writes the same fields.
import { backupNameFor, takeOnDemandBackup } from "../../shared/azure/mysql-backup";
import { stackNames } from "../../shared/graph/names";
import { guacamoleRelease } from "../../shared/node/catalog";
import type { StackSpec } from "../../shared/spec/types";
import type { BackupObserved, UpgradeObserved } from "../../shared/stack-status";
import { StackNotFoundError, type StackConditionInput } from "../../shared/store";
import { services } from "../services";

export interface BootSource {
  source: "source" | "image";
  /** the gallery image version's ARM id, when `image` */
  imageId?: string;
  /** why this source, for the status */
  reason: string;
}

/**
 * Where the target release's nodes boot from. The seam for node images: with `nodeImage.enabled`
 * this is where the target version's image is built (or found) first. Until node images are part of
 * the spec, every new node installs from the pinned, checksummed artifacts at first boot, which the
 * catalog must hold for the version (refused here, before any backup or node, when it does not).
 */
export async function prepareBootSourceActivity(input: { spec: StackSpec; version: string }): Promise<BootSource> {
  guacamoleRelease(input.version);
  return { source: "source", reason: "node images are not enabled: new nodes install the release at first boot" };
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
