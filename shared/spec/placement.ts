// Where a stack lives: its subscription, resource group and region. Every resource id and name of
// the stack is derived from them, so a spec that changes them describes a second copy of the stack,
// not a change of the first: deploying it would leave the old resources running, unmanaged. A
// registered stack therefore never moves by PUT; it is torn down and deployed again.
import type { StackSpec } from "./types";

export const PLACEMENT_FIELDS = ["subscriptionId", "resourceGroup", "location"] as const;
export type PlacementField = (typeof PLACEMENT_FIELDS)[number];

export interface PlacementChange {
  field: PlacementField;
  from: string;
  to: string;
}

type Placement = Pick<StackSpec, PlacementField>;

/**
 * The placement fields `next` changes. Subscription ids and resource group names are compared the
 * way ARM compares them (case-insensitively); a change of case only is not a move.
 */
export function placementChanges(stored: Placement, next: Placement): PlacementChange[] {
  return PLACEMENT_FIELDS.filter((field) => stored[field].toLowerCase() !== next[field].toLowerCase()).map((field) => ({
    field,
    from: stored[field],
    to: next[field],
  }));
}
