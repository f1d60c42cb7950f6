// The alert routing index: which registered stacks live in a resource group, with what the alert
// matcher needs of each (shared/alerts/match.ts decides from names alone: the stack's name,
// placement, fleet mode, web subnet and DNS label, and whether a teardown holds it). Every resource
// a stack owns is in its resource group and named after the stack, so the group is the index key,
// and the intake reads one index row range instead of the whole registry: O(1) in the number of
// stacks.
//
// Rows live in the registry's own table and partition (`{prefix}stacks`, PartitionKey "stack",
// RowKey `~rg:<subscription>:<resource group>:<stack>`, lower case), because Table Storage
// transactions are per partition: the registry writes a stack's row and its index row in one
// entity-group transaction whenever what the matcher needs changes (a new stack or spec, a teardown
// claim or its release, the unregister), so the index can never disagree with the registry. One row
// per (group, stack) rather than one per group: two stacks registered in one group (only one can
// own it, but both can be registered) never share a row, so neither write needs the other's ETag.
// `~` sorts after every stack name, so the registry's own reads skip the index with a RowKey bound.
//
// Stacks registered before the index existed have no row until their next registry write or the
// drift check's backfill, which then writes the marker row `~index`; until the marker exists, the
// intake falls back to reading the registry.
import type { StackSpec } from "../spec/types";

export const INDEX_ROW_PREFIX = "~";
export const ROUTE_ROW_PREFIX = "~rg:";
export const INDEX_MARKER_ROW = "~index";
export const ROUTE_LAYOUT_VERSION = 1;

/** What the alert matcher needs of a stack's spec. */
export type AlertRoutingSpec = Pick<StackSpec, "name" | "subscriptionId" | "resourceGroup" | "location"> & {
  tls: Pick<StackSpec["tls"], "dnsLabel">;
  fleet: Pick<StackSpec["fleet"], "mode">;
  network: Pick<StackSpec["network"], "webSubnet">;
};

/** A stack as the index gives it to the matcher. */
export interface AlertRoute {
  name: string;
  spec: AlertRoutingSpec;
  /** a teardown holds the stack: its alerts are ignored */
  operation?: { kind: string };
}

/** The index row's key of a stack in a resource group. */
export function routeRowKey(subscriptionId: string, resourceGroup: string, stack: string): string {
  return `${routeGroupPrefix(subscriptionId, resourceGroup)}${stack}`;
}

/** The RowKey prefix of every stack's row in one resource group. */
export function routeGroupPrefix(subscriptionId: string, resourceGroup: string): string {
  return `${ROUTE_ROW_PREFIX}${subscriptionId.toLowerCase()}:${resourceGroup.toLowerCase()}:`;
}

/** The routing facts of a stack record (undefined for a spec that is not a stack's). */
export function routeOf(stack: string, spec: unknown, operation: { kind: string } | undefined): AlertRoute | undefined {
  const s = spec as Partial<StackSpec> | undefined;
  if (!s || typeof s.subscriptionId !== "string" || typeof s.resourceGroup !== "string") return undefined;
  return {
    name: stack,
    spec: {
      name: stack,
      subscriptionId: s.subscriptionId,
      resourceGroup: s.resourceGroup,
      location: s.location ?? "",
      tls: s.tls?.dnsLabel !== undefined ? { dnsLabel: s.tls.dnsLabel } : {},
      fleet: { mode: s.fleet?.mode ?? "availabilitySet" },
      network: { webSubnet: s.network?.webSubnet ?? "" },
    },
    ...(operation?.kind === "teardown" ? { operation: { kind: "teardown" } } : {}),
  };
}
