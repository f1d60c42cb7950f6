// When a new web node's first boot can have ended, so bring-up looks at it then rather than on a
// fixed poll (each look is a Run Command: ~30 s as a client honouring Azure's Retry-After sees it).
// The estimates are the ones the emulator's node stand-ins model (emulator/arm/latency.ts
// NODE_FIRST_BOOT_MS, with their reasoning): a node booted from the stack's gallery image only
// writes its configuration and starts its services; one from source installs, downloads and builds.
// A node that is not ready by then is looked at every poll, as before.
import type { GraphNode } from "../graph/types";

export const FIRST_BOOT_ESTIMATE_MS = { image: 45_000, source: 540_000 } as const;

export type BootSource = keyof typeof FIRST_BOOT_ESTIMATE_MS;

/**
 * What the web VM (or scale set model) among `nodes` boots from: "image" when its imageReference
 * names a gallery image version (`{ id }`), "source" for a marketplace image; undefined when
 * `nodes` holds no web VM or scale set.
 */
export function bootSourceOf(nodes: readonly GraphNode[]): BootSource | undefined {
  for (const node of nodes) {
    const props = node.body.properties as Record<string, unknown> | undefined;
    let storage: unknown;
    if (node.kind === "virtualMachine") storage = props?.storageProfile;
    else if (node.kind === "virtualMachineScaleSet") {
      storage = (props?.virtualMachineProfile as Record<string, unknown> | undefined)?.storageProfile;
    } else continue;
    const ref = (storage as { imageReference?: { id?: unknown } } | undefined)?.imageReference;
    return typeof ref?.id === "string" && /\/providers\/microsoft\.compute\/galleries\//i.test(ref.id)
      ? "image"
      : "source";
  }
  return undefined;
}

/** Whether `node` is the one whose write provisions the new web VM (its first boot starts when it ends). */
export function provisionsWebVm(node: GraphNode): boolean {
  return node.kind === "virtualMachine" || node.kind === "virtualMachineScaleSet";
}
