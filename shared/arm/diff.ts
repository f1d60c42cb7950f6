// Desired-vs-observed comparison of ARM documents. Only what the desired document says is compared:
// ARM adds ids, etags, defaults and read-only state that are nobody's business here. Arrays of named
// items (NSG rules, subnets, LB parts) are compared as sets by name, so an item someone added out of
// band (an SSH rule) is a change; other arrays by position. Ids compare case-insensitively (ARM is
// case-preserving, not case-sensitive), locations after normalizing ("West Europe" = "westeurope").
// Maps keyed by ARM id (userAssignedIdentities) match their keys case-insensitively too.
//
// Paths in the result are ARM's own property paths: `properties.securityRules[allow-ssh]` for a named
// item, `properties.addressSpace.addressPrefixes[0]` for a positional one. Skip paths (write-only,
// create-only) are dotted with array positions as numbers: `properties.osProfile`,
// `properties.osProfile.linuxConfiguration.ssh.publicKeys.0.keyData`.
import type { PropertyChange } from "../graph/types";
import { isAtOrBelow, isObject } from "./json-path";

export interface DiffOptions {
  /** dotted paths (and everything below them) that are not compared */
  skip?: readonly string[];
}

export function diffDocuments(desired: unknown, observed: unknown, options: DiffOptions = {}): PropertyChange[] {
  const changes: PropertyChange[] = [];
  compare(desired, observed, { shown: "", plain: "" }, options.skip ?? [], changes);
  return changes;
}

interface At {
  /** path as shown to people (names and [i] for array items) */
  shown: string;
  /** dotted path for skip matching (array positions as segments) */
  plain: string;
}

function key(at: At, k: string): At {
  return { shown: at.shown ? `${at.shown}.${k}` : k, plain: at.plain ? `${at.plain}.${k}` : k };
}

function item(at: At, label: string, index: number): At {
  return { shown: `${at.shown}[${label}]`, plain: at.plain ? `${at.plain}.${index}` : String(index) };
}

function compare(desired: unknown, observed: unknown, at: At, skip: readonly string[], out: PropertyChange[]): void {
  if (at.plain && skip.some((s) => isAtOrBelow(at.plain, s))) return;
  if (Array.isArray(desired)) return compareArrays(desired, observed, at, skip, out);
  if (isObject(desired)) {
    const seen = isObject(observed) ? observed : undefined;
    for (const [k, v] of Object.entries(desired)) {
      if (!ARM_ID.test(k)) {
        compare(v, seen?.[k], key(at, k), skip, out);
        continue;
      }
      // a map keyed by resource id (a scale set's userAssignedIdentities): ARM may change the id's
      // case, and fills the entry in (principalId, clientId); a missing entry is a change even when
      // we ask for nothing inside it
      const found = seen ? Object.keys(seen).find((o) => o.toLowerCase() === k.toLowerCase()) : undefined;
      if (found === undefined) out.push({ path: key(at, k).shown, from: undefined, to: v });
      else compare(v, seen?.[found], key(at, k), skip, out);
    }
    return;
  }
  if (!scalarsEqual(desired, observed, at.plain)) out.push({ path: at.shown, from: observed, to: desired });
}

function nameOf(v: unknown): string | undefined {
  return isObject(v) && typeof v.name === "string" ? v.name : undefined;
}

function compareArrays(
  desired: unknown[],
  observed: unknown,
  at: At,
  skip: readonly string[],
  out: PropertyChange[],
): void {
  if (!Array.isArray(observed)) {
    out.push({ path: at.shown, from: observed, to: desired });
    return;
  }
  const named = desired.length > 0 && desired.every((d) => nameOf(d) !== undefined);
  if (!named) {
    if (desired.length !== observed.length) {
      out.push({ path: at.shown, from: observed, to: desired });
      return;
    }
    desired.forEach((d, i) => compare(d, observed[i], item(at, String(i), i), skip, out));
    return;
  }
  const items: unknown[] = observed;
  const byName = new Map(items.filter((o) => nameOf(o) !== undefined).map((o) => [nameOf(o)!.toLowerCase(), o]));
  const wanted = new Set<string>();
  desired.forEach((d, i) => {
    const name = nameOf(d)!;
    wanted.add(name.toLowerCase());
    const o = byName.get(name.toLowerCase());
    if (o === undefined) out.push({ path: `${at.shown}[${name}]`, from: undefined, to: d });
    else {
      // matched by name already (case-insensitively, as ARM matches names)
      const { name: _matched, ...rest } = d as Record<string, unknown>;
      compare(rest, o, item(at, name, i), skip, out);
    }
  });
  for (const [lowerName, o] of byName) {
    if (!wanted.has(lowerName)) out.push({ path: `${at.shown}[${nameOf(o)!}]`, from: o, to: undefined });
  }
}

const ARM_ID = /^\/subscriptions\//i;

function scalarsEqual(desired: unknown, observed: unknown, plainPath: string): boolean {
  if (desired === observed) return true;
  if (typeof desired !== "string" || typeof observed !== "string") return false;
  if (plainPath === "location") return normalizeLocation(desired) === normalizeLocation(observed);
  if (ARM_ID.test(desired)) return desired.toLowerCase() === observed.toLowerCase();
  return false;
}

/** "West Europe" and "westeurope" are the same region. */
export function normalizeLocation(location: string): string {
  return location.replace(/\s+/g, "").toLowerCase();
}
