// Which web nodes a stack has now: the spec's `fleet.size` until scaling changes it, then the members
// the fleet state keeps (shared/store/fleet-state.ts). Pure: the graph, the activities and the scale
// orchestration agree on the members without asking Azure.
//
// The fleet state is honoured only while it still follows the spec: same fleet mode, the same
// `fleet.size` the state started from (a PUT with another size is the user saying how many nodes
// they want: user intent wins), and a size within the spec's min and max (like Azure autoscale,
// which resets a count outside its bounds on its next run). Otherwise the spec's size is the fleet.
import { webNodeNames } from "../graph/names";
import type { WebNodeRef } from "../node/model";
import type { StackSpec } from "../spec/types";

/** The fleet's members as kept in the fleet state. */
export interface FleetMembers {
  mode: StackSpec["fleet"]["mode"];
  /** the spec's fleet.size the members started from */
  specSize: number;
  /** number of web nodes */
  size: number;
  /** availability set: the node numbers (web-1, web-3, ...), ascending; scale set: [] */
  ordinals: number[];
}

/** Where the effective members came from. */
export type MembersSource = "spec" | "scaled" | "reset";

export interface EffectiveFleet extends FleetMembers {
  source: MembersSource;
  /** why a kept state was not honoured (source "reset") */
  resetReason?: string;
}

/**
 * The members a stack has under `spec`, given what the fleet state holds (if anything). A state that
 * no longer follows the spec is reset to the spec's size, keeping the lowest existing node numbers
 * so that a reset never renumbers nodes that exist.
 */
export function effectiveFleet(spec: StackSpec, kept: FleetMembers | undefined): EffectiveFleet {
  const { mode, size, min, max } = spec.fleet;
  const fromSpec = (source: MembersSource, previous: number[] = [], resetReason?: string): EffectiveFleet => ({
    mode,
    specSize: size,
    size,
    ordinals: mode === "availabilitySet" ? resizeOrdinals(previous, size) : [],
    source,
    ...(resetReason ? { resetReason } : {}),
  });
  if (!kept) return fromSpec("spec");
  if (kept.mode !== mode) return fromSpec("reset", [], `the fleet mode changed from ${kept.mode} to ${mode}`);
  const previous = mode === "availabilitySet" ? kept.ordinals : [];
  if (kept.specSize !== size) {
    return fromSpec("reset", previous, `fleet.size changed from ${kept.specSize} to ${size} in the spec`);
  }
  if (kept.size < min || kept.size > max) {
    return fromSpec("reset", previous, `the scaled size ${kept.size} is outside fleet.min ${min} .. fleet.max ${max}`);
  }
  return {
    mode,
    specSize: size,
    size: kept.size,
    ordinals: mode === "availabilitySet" ? [...kept.ordinals].sort((a, b) => a - b) : [],
    source: "scaled",
  };
}

/** `size` node numbers: the lowest of `current`, then the lowest free numbers. */
export function resizeOrdinals(current: readonly number[], size: number): number[] {
  const kept = [...new Set(current)].filter((n) => Number.isInteger(n) && n >= 1).sort((a, b) => a - b);
  const out = kept.slice(0, size);
  while (out.length < size) out.push(lowestFreeOrdinal(out));
  return out.sort((a, b) => a - b);
}

/** The lowest node number not in use. */
export function lowestFreeOrdinal(ordinals: readonly number[]): number {
  const used = new Set(ordinals);
  let n = 1;
  while (used.has(n)) n++;
  return n;
}

/** The node number of an availability-set web VM (`<stack>-web-<n>`), or undefined. */
export function ordinalOfVm(spec: Pick<StackSpec, "name">, vmName: string): number | undefined {
  const prefix = `${spec.name}-web-`;
  if (!vmName.toLowerCase().startsWith(prefix.toLowerCase())) return undefined;
  const rest = vmName.slice(prefix.length);
  return /^[1-9][0-9]{0,3}$/.test(rest) ? Number(rest) : undefined;
}

/** The VM names of an availability set's members. */
export function memberVmNames(spec: StackSpec, ordinals: readonly number[]): string[] {
  return ordinals.map((n) => webNodeNames(spec, n).vm);
}

/** The fleet's members, as the fleet state keeps them. */
export function membersOf(fleet: FleetMembers): FleetMembers {
  return { mode: fleet.mode, specSize: fleet.specSize, size: fleet.size, ordinals: [...fleet.ordinals] };
}

/** One node more: the lowest free node number (availability set) or the capacity + 1 (scale set). */
export function withOneMore(fleet: FleetMembers): { members: FleetMembers; ordinal?: number } {
  if (fleet.mode !== "availabilitySet") return { members: { ...membersOf(fleet), size: fleet.size + 1, ordinals: [] } };
  const ordinal = lowestFreeOrdinal(fleet.ordinals);
  const ordinals = [...fleet.ordinals, ordinal].sort((a, b) => a - b);
  return { members: { ...membersOf(fleet), size: fleet.size + 1, ordinals }, ordinal };
}

/** One node fewer: that node number's (availability set), or one instance less (scale set). */
export function withOneFewer(fleet: FleetMembers, ordinal: number | undefined): FleetMembers {
  return { ...membersOf(fleet), size: fleet.size - 1, ordinals: fleet.ordinals.filter((n) => n !== ordinal) };
}

/** VMs listed now that were not there before (availability set: the new node number's VM). */
export function newMembers(
  listed: WebNodeRef[],
  before: WebNodeRef[],
  spec: StackSpec,
  ordinal: number | undefined,
): WebNodeRef[] {
  if (ordinal !== undefined) {
    const vm = webNodeNames(spec, ordinal).vm.toLowerCase();
    return listed.filter((n) => n.name.toLowerCase() === vm);
  }
  const known = new Set(before.map((n) => n.name.toLowerCase()));
  return listed.filter((n) => !known.has(n.name.toLowerCase()));
}
