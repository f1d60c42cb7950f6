// The stack status's `nodeImage` (GET /api/stacks/{name}): whether the stack keeps a node image,
// where new nodes boot from now and why, and the last build. Pure: from the spec and what the deploy
// and the build recorded (the stack's observed `nodeImage`), without asking Azure.
import { nodeImageVersionId } from "../graph/names";
import type { BootImage } from "../graph/stack-graph";
import type { StackSpec } from "../spec/types";
import type { NodeImageBuildObserved, NodeImageObserved } from "../stack-status";

export interface NodeImageStatus {
  enabled: boolean;
  bootSource: "image" | "source";
  /** the image version new nodes boot from, or the one being built or refused */
  version?: string;
  /** why new nodes boot from source: disabled, build running, build failed, conflict, ... */
  reason?: string;
  lastBuild?: NodeImageBuildObserved;
}

export function nodeImageStatus(spec: Pick<StackSpec, "nodeImage">, observed?: NodeImageObserved): NodeImageStatus {
  const lastBuild = observed?.lastBuild;
  const withBuild = lastBuild ? { lastBuild } : {};
  if (spec.nodeImage?.enabled !== true) {
    return {
      enabled: false,
      bootSource: "source",
      reason: "disabled: the spec's nodeImage is not enabled",
      ...withBuild,
    };
  }
  const resolved = observed?.resolved;
  if (!resolved) {
    return {
      enabled: true,
      bootSource: "source",
      reason: "not resolved yet: no deploy has looked for the image since nodeImage was enabled",
      ...withBuild,
    };
  }
  const { version } = resolved;
  const build = lastBuild?.version === version ? lastBuild : undefined;
  switch (resolved.action) {
    case "reuse":
      return { enabled: true, bootSource: "image", version, ...withBuild };
    case "conflict":
      return {
        enabled: true,
        bootSource: "source",
        version,
        reason: `conflict: ${resolved.reason ?? ""}`,
        ...withBuild,
      };
    default: {
      let reason = "build pending: the image version does not exist yet";
      if (build?.outcome === "running") reason = `build running since ${build.startedAt}`;
      else if (build?.outcome === "failed") reason = `build failed: ${build.reason ?? "no reason recorded"}`;
      return { enabled: true, bootSource: "source", version, reason, ...withBuild };
    }
  }
}

/**
 * The boot image the stack's observed `nodeImage` says new nodes use (a reused or built version), for
 * readers that must not list the gallery themselves (the drift check's screening, a timer).
 */
export function recordedBootImage(
  spec: Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup" | "nodeImage">,
  observed?: NodeImageObserved,
): BootImage | undefined {
  const resolved = observed?.resolved;
  if (spec.nodeImage?.enabled !== true || resolved?.action !== "reuse") return undefined;
  return { id: nodeImageVersionId(spec, resolved.version), version: resolved.version };
}
