// What a rolling upgrade of the Guacamole release decides, pure: whether a PUT is an upgrade, which
// release the fleet runs now, which node goes next, and whether a new node can come up before an
// old one goes (surge) or an old one must go first, or neither without dropping below fleet.min.
import { compareVersions } from "../node/catalog";
import type { NodeSummary } from "../node/model";
import type { StackSpec } from "../spec/types";
import type { StackObserved } from "../stack-status";

/** The releases the fleet runs, oldest first: each node's as its agent reported it, else the spec's it was deployed with. */
export function runningVersions(observed: StackObserved | undefined, deployedVersion: string): string[] {
  const versions = new Set((observed?.nodes ?? []).map((n) => n.guacamoleVersion ?? deployedVersion));
  if (versions.size === 0) versions.add(deployedVersion);
  return [...versions].sort(compareVersions);
}

export type PutKind =
  /** a deploy as before: nothing deployed yet, or the release is what the fleet runs */
  | { kind: "deploy" }
  /** a rolling upgrade from `from` (the oldest release running other than the target) to the spec's */
  | { kind: "upgrade"; from: string; to: string }
  /** an upgrade together with other changes: refused, one at a time */
  | { kind: "refused"; detail: string };

/**
 * What a PUT of `next` over the stored stack is. A deployed stack whose nodes do not all run the
 * spec's release is upgraded (or rolled back: the same path), and only when nothing else changes:
 * the upgrade replaces nodes and must not race a deploy over the same resources.
 */
export function classifyPut(
  stored: { spec: StackSpec; observed?: StackObserved; observedGeneration: number } | undefined,
  next: StackSpec,
): PutKind {
  if (!stored || !stored.observed || stored.observedGeneration < 1 || stored.observed.nodes.length === 0) {
    return { kind: "deploy" };
  }
  const to = next.guacamole.version;
  const running = runningVersions(stored.observed, stored.spec.guacamole.version);
  if (running.length === 1 && running[0] === to) return { kind: "deploy" };
  if (!sameApartFromVersion(stored.spec, next)) {
    return {
      kind: "refused",
      detail: `guacamole.version ${to} would upgrade the nodes (they run ${running.join(", ")}), and the spec changes more than the version: change guacamole.version on its own, then the rest`,
    };
  }
  // the oldest release that is not the target (a rollback's "from" is the newer one)
  return { kind: "upgrade", from: running.find((v) => v !== to) ?? running[0], to };
}

function sameApartFromVersion(a: StackSpec, b: StackSpec): boolean {
  const strip = (s: StackSpec) => ({ ...s, guacamole: { ...s.guacamole, version: "" } });
  return canonical(strip(a)) === canonical(strip(b));
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The nodes still to replace: not on the target release (an unknown release counts as old), fewest live sessions first. */
export function nodesToReplace(nodes: readonly NodeSummary[], to: string): NodeSummary[] {
  return nodes
    .filter((n) => n.exists !== false && n.guacamoleVersion !== to)
    .sort(
      (a, b) => (a.liveSessions ?? 0) - (b.liveSessions ?? 0) || a.name.localeCompare(b.name, "en", { numeric: true }),
    );
}

/** A node that serves: healthy and not drained. */
export function serving(n: NodeSummary): boolean {
  return n.healthy && n.draining !== true;
}

export type UpgradeRoom =
  /** a new node comes up first, then the old one goes: the fleet never shrinks */
  | { mode: "surge" }
  /** the fleet is at fleet.max: the old node goes first, which leaves at least fleet.min serving */
  | { mode: "remove-first" }
  | { mode: "blocked"; reason: string };

/** How the next node is replaced, from the members now, their health and the fleet's bounds. */
export function upgradeRoom(
  fleet: Pick<StackSpec["fleet"], "min" | "max">,
  members: number,
  nodes: readonly NodeSummary[],
  next: string,
): UpgradeRoom {
  if (members < fleet.max) return { mode: "surge" };
  const others = nodes.filter((n) => n.name !== next && serving(n)).length;
  if (others >= fleet.min) return { mode: "remove-first" };
  return {
    mode: "blocked",
    reason: `the fleet is at fleet.max (${fleet.max}) and replacing ${next} first would leave ${others} serving node(s), fewer than fleet.min (${fleet.min}); raise fleet.max by one so a new node can come up before an old one goes`,
  };
}

/**
 * The release a scale set's model is written at by everything but the upgrade itself (deploy, plan,
 * reconcile, scale-out, heal): the spec's, except after a failed upgrade of a scale set fleet whose
 * old nodes still serve, when the stored spec names the target but the fleet runs the old release
 * (its schema may not be upgraded): then the old one, where the failed upgrade put the model back,
 * so that an instance the scale set makes runs a release the fleet runs. A PUT of the same version
 * resumes the upgrade (which writes the model at the target); a PUT of the old one rolls back.
 */
export function scaleSetModelRelease(spec: StackSpec, observed: StackObserved | undefined): string {
  const to = spec.guacamole.version;
  const upgrade = observed?.upgrade;
  if (spec.fleet.mode !== "scaleSet" || upgrade?.state !== "failed" || upgrade.to !== to) return to;
  const oldLeft = (observed?.nodes ?? []).some((n) => n.exists !== false && n.guacamoleVersion !== to);
  return oldLeft ? upgrade.from : to;
}

/** What GET /api/stacks/{name} says of the release: the spec's, the fleet's, each node's, and the last upgrade. */
export function releaseStatus(spec: StackSpec, observed: StackObserved | undefined) {
  const deployed = observed?.nodes ?? [];
  return {
    target: spec.guacamole.version,
    running: deployed.length > 0 ? runningVersions(observed, spec.guacamole.version) : [],
    nodes: deployed.map((n) => ({ name: n.name, version: n.guacamoleVersion ?? null })),
    upgrade: observed?.upgrade ?? null,
  };
}
