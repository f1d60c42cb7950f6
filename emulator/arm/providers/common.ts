// Helpers shared by the resource providers.
import { randomUUID } from "node:crypto";
import type { Emulator } from "../emulator";
import { lower } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type Json, type ResourceDoc } from "../types";

export const NETWORK_API = [
  "2025-05-01",
  "2024-05-01",
  "2024-01-01",
  "2023-11-01",
  "2023-09-01",
  "2023-06-01",
  "2023-05-01",
  "2021-04-01", // LoadBalancerTests / PublicIpAddressTests (the .NET SDK's network tests)
];
export const COMPUTE_API = [
  "2026-03-01",
  "2025-04-01",
  "2024-11-01",
  "2024-07-01",
  "2024-03-01",
  "2023-09-01",
  "2023-07-01",
  "2023-03-01",
];

export function arrayAt(doc: Json, ...path: string[]): Json[] {
  const v = getPath(doc, path);
  return Array.isArray(v) ? (v as Json[]) : [];
}

export function idOf(ref: unknown): string | undefined {
  return ref && typeof ref === "object" && typeof (ref as Json).id === "string"
    ? ((ref as Json).id as string)
    : undefined;
}

export function props(doc: Json): Json {
  if (!doc.properties || typeof doc.properties !== "object") doc.properties = {};
  return doc.properties as Json;
}

export function etag(): string {
  return `W/"${randomUUID()}"`;
}

/** Give inline children their server-side id, type, etag and provisioning state. */
export function normalizeChildren(parent: ResourceDoc, prop: string, childType: string, segment: string): Json[] {
  const list = arrayAt(parent, "properties", prop);
  const seen = new Set<string>();
  for (const c of list) {
    if (typeof c.name !== "string" || c.name === "") {
      throw new ArmError(
        400,
        "InvalidRequestFormat",
        `Cannot parse the request: every item of '${prop}' needs a name.`,
      );
    }
    if (seen.has(lower(c.name)))
      throw new ArmError(400, "InvalidRequestFormat", `Duplicate name '${c.name}' in '${prop}'.`);
    seen.add(lower(c.name));
    c.id = `${parent.id}/${segment}/${c.name}`;
    c.type = childType;
    c.etag = etag();
    props(c).provisioningState = "Succeeded";
  }
  return list;
}

/** A reference to a resource that must exist (ARM answers 400 InvalidResourceReference). */
export function requireRef(emu: Emulator, id: string | undefined, from: ResourceDoc, what: string): ResourceDoc {
  const found = id ? resolve(emu, id) : undefined;
  if (!found) {
    throw new ArmError(
      400,
      "InvalidResourceReference",
      `Resource ${id ?? `<${what}>`} referenced by resource ${from.id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
    );
  }
  return found;
}

/** Looks up a resource or an inline child (`{vnet}/subnets/{s}`, `{lb}/backendAddressPools/{p}`). */
export function resolve(emu: Emulator, id: string): ResourceDoc | undefined {
  const direct = emu.store.get(id);
  if (direct) return direct;
  const m = /^(.*)\/([^/]+)\/([^/]+)$/.exec(id);
  if (!m) return undefined;
  const parent = emu.store.get(m[1]);
  if (!parent) return undefined;
  const prop = emu.types.get(parent.type)?.inlineChildren?.[lower(m[2])];
  if (!prop) return undefined;
  return arrayAt(parent, "properties", prop).find((c) => lower(str(c.name)) === lower(m[3])) as ResourceDoc | undefined;
}

/** Adds or removes `{id}` in a list of `{id}` references inside a stored document. */
export function setBackRef(list: Json[] | undefined, id: string, present: boolean): Json[] {
  const rest = (list ?? []).filter((r) => lower(str(r.id)) !== lower(id));
  return present ? [...rest, { id }] : rest;
}

export function stableGuid(seed: string): string {
  // deterministic GUID-shaped value from a seed (principal ids of system-assigned identities)
  let h1 = 0x811c9dc5;
  let h2 = 0x1000193;
  for (const ch of seed) {
    h1 = Math.imul(h1 ^ ch.charCodeAt(0), 16777619) >>> 0;
    h2 = Math.imul(h2 + ch.charCodeAt(0), 2654435761) >>> 0;
  }
  const hex = (h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0")).repeat(2);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Display names and geo pairs of the regions tests use (others display as their name, unpaired). */
const REGIONS: Record<string, { display: string; pair?: string }> = {
  westeurope: { display: "West Europe", pair: "northeurope" },
  northeurope: { display: "North Europe", pair: "westeurope" },
  eastus: { display: "East US", pair: "westus" },
  eastus2: { display: "East US 2", pair: "centralus" },
  westus: { display: "West US", pair: "eastus" },
  westus2: { display: "West US 2", pair: "westcentralus" },
  centralus: { display: "Central US", pair: "eastus2" },
  southeastasia: { display: "Southeast Asia", pair: "eastasia" },
  germanywestcentral: { display: "Germany West Central", pair: "germanynorth" },
  swedencentral: { display: "Sweden Central", pair: "swedensouth" },
  uksouth: { display: "UK South", pair: "ukwest" },
};

/** `westeurope` for any spelling of a region (`West Europe`, `westeurope`). */
export function regionKey(location: string): string {
  return location.replace(/\s+/g, "").toLowerCase();
}

export function regionDisplayName(location: string): string {
  return REGIONS[regionKey(location)]?.display ?? location;
}

export function pairedRegion(location: string): string | undefined {
  return REGIONS[regionKey(location)]?.pair;
}
