// What the emulator holds, as a value two runs can be compared by: every resource (id, type, tags,
// sku, identity and properties, write-only values included), every Key Vault secret with its number
// of versions, and the role assignments by (scope, role, holder). Fields that differ between two
// equal deploys are normalized: etags, timestamps and server-made GUIDs are dropped; a managed
// identity's principal id becomes "<identity of NAME>" (so a role assignment names the resource
// whose identity holds it, and one left behind for a deleted identity shows as "<unknown principal>");
// a value that is a current secret's value becomes "<secret NAME>" (an old version's: "<old version
// of a secret>"), so "the VM got the key in the vault" is part of the comparison and no value is
// shown. Lists of bare references ({id} only) that ARM keeps in creation order are sorted, and
// dynamic private addresses are compared as a set.
import { createHash } from "node:crypto";
import type { Emulator } from "../../emulator/arm/emulator";
import type { ResourceDoc } from "../../emulator/arm/types";
import type { AzureClientFactory } from "../../shared/azure/clients";

type Json = Record<string, unknown>;

export interface ResourceSnapshot {
  id: string;
  type: string;
  /** the document without volatile fields, principal ids and secret values replaced */
  doc: Json;
  /** write-only values the emulator holds for the resource (passwords, custom data), normalized */
  writeOnly: Record<string, string>;
}

export interface SecretSnapshot {
  vault: string;
  name: string;
  versions: number;
  enabled: boolean;
}

export interface RoleAssignmentSnapshot {
  scope: string;
  role: string;
  holder: string;
}

export interface EmulatorSnapshot {
  resources: ResourceSnapshot[];
  /** dynamically allocated private addresses (shown as "<dynamic>" in the documents) */
  dynamicIps: string[];
  secrets: SecretSnapshot[];
  deletedSecrets: string[];
  roleAssignments: RoleAssignmentSnapshot[];
}

/** Fields ARM fills anew on every create or write: they differ between two equal deploys. */
const VOLATILE = new Set([
  "etag",
  "timeCreated",
  "createdOn",
  "updatedOn",
  "vmId",
  "resourceGuid",
  "systemData",
  "completedTime",
]);
/**
 * A MySQL server's automatic first backup is named after the second the server was created
 * (`daily_20261207t154924`): the same backup in two equal deploys made at different times.
 */
const AUTOMATIC_BACKUP = /^(daily_)\d{8}t\d{6}$/i;
const stableName = (name: string) => name.replace(AUTOMATIC_BACKUP, "$1<created>");
const stableId = (id: string) =>
  /\/backups\/[^/]+$/i.test(id) ? id.replace(/[^/]+$/, (name) => stableName(name)) : id;

const ROLE_ASSIGNMENT = "microsoft.authorization/roleassignments";
const VAULT = "microsoft.keyvault/vaults";

export async function snapshotEmulator(
  emulator: Emulator,
  factory: AzureClientFactory,
  /** principals that are not emulated resources (the Function App's identity), by id: their label */
  knownPrincipals: Record<string, string> = {},
): Promise<EmulatorSnapshot> {
  const docs = emulator.store
    .all()
    .map((d) => structuredClone(d))
    .sort((a, b) => a.id.toLowerCase().localeCompare(b.id.toLowerCase()));

  // secrets through the data plane, as the app sees them
  const secrets: SecretSnapshot[] = [];
  const deletedSecrets: string[] = [];
  const values = new Map<string, string>();
  for (const vault of docs.filter((d) => d.type.toLowerCase() === VAULT)) {
    const uri = (vault.properties as { vaultUri?: string }).vaultUri;
    if (typeof uri !== "string") continue;
    const client = factory.secrets(uri);
    for await (const p of client.listPropertiesOfSecrets()) {
      let versions = 0;
      for await (const v of client.listPropertiesOfSecretVersions(p.name)) if (v) versions++;
      const current = await client.getSecret(p.name);
      if (typeof current.value === "string") values.set(current.value, `<secret ${p.name}>`);
      secrets.push({ vault: vault.name, name: p.name, versions, enabled: p.enabled !== false });
    }
    for await (const d of client.listDeletedSecrets()) deletedSecrets.push(`${vault.name}/${d.name}`);
  }
  // values of earlier versions are told apart from current ones
  const current = new Set(values.keys());
  for (const vault of docs.filter((d) => d.type.toLowerCase() === VAULT)) {
    for (const v of emulator.keyVault.secretValues(vault.name)) {
      if (!current.has(v)) values.set(v, "<old version of a secret>");
    }
  }

  const principals = new Map<string, string>(
    Object.entries(knownPrincipals).map(([id, label]) => [id.toLowerCase(), `<${label}>`]),
  );
  for (const d of docs) {
    const principalId = (d.identity as { principalId?: unknown } | undefined)?.principalId;
    if (typeof principalId === "string") principals.set(principalId.toLowerCase(), `<identity of ${d.name}>`);
  }
  const dynamicIps: string[] = [];
  const normalize = (value: unknown, key?: string): unknown => {
    if (typeof value === "string") {
      if (key === "principalId") return principals.get(value.toLowerCase()) ?? "<unknown principal>";
      return values.get(value) ?? value;
    }
    if (Array.isArray(value)) {
      const items = value.map((v) => normalize(v));
      // lists of bare references ARM keeps (an availability set's VMs, a pool's IP configurations)
      // follow the order things were made in, which a re-run may change
      return isReferenceList(items) ? items.sort((a, b) => a.id.localeCompare(b.id)) : items;
    }
    if (value && typeof value === "object") {
      const out: Json = {};
      for (const [k, v] of Object.entries(value as Json)) if (!VOLATILE.has(k)) out[k] = normalize(v, k);
      // a dynamic private address depends on the order NICs were made in; the set of them is kept
      if (out.privateIPAllocationMethod === "Dynamic" && typeof out.privateIPAddress === "string") {
        dynamicIps.push(out.privateIPAddress);
        out.privateIPAddress = "<dynamic>";
      }
      return out;
    }
    return value;
  };

  const resources: ResourceSnapshot[] = docs.map((d) => {
    const writeOnly: Record<string, string> = {};
    for (const path of emulator.types.get(d.type)?.writeOnly ?? []) {
      const v = emulator.store.getSecret(d.id, path.join("."));
      if (v === undefined) continue;
      const text = typeof v === "string" ? v : JSON.stringify(v);
      writeOnly[path.join(".")] = values.get(text) ?? `<sha256 ${createHash("sha256").update(text).digest("hex")}>`;
    }
    const doc = normalize(withoutId(d)) as Json;
    if (typeof doc.name === "string") doc.name = stableName(doc.name);
    return { id: stableId(d.id.toLowerCase()), type: d.type, doc, writeOnly };
  });

  const roleAssignments = docs
    .filter((d) => d.type.toLowerCase() === ROLE_ASSIGNMENT)
    .map((d) => {
      const p = d.properties as { scope?: string; roleDefinitionId?: string; principalId?: string };
      const scope = (p.scope ?? d.id.replace(/\/providers\/Microsoft\.Authorization\/roleAssignments\/.*$/i, ""))
        .toLowerCase()
        .replace(/\/$/, "");
      return {
        scope,
        role: String(p.roleDefinitionId ?? "")
          .split("/")
          .pop()!
          .toLowerCase(),
        holder: String(normalize(p.principalId ?? "", "principalId")),
      };
    })
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

  return { resources, dynamicIps: dynamicIps.sort(), secrets, deletedSecrets, roleAssignments };
}

function isReferenceList(items: unknown[]): items is { id: string }[] {
  return items.every(
    (v) => v !== null && typeof v === "object" && Object.keys(v).join() === "id" && typeof (v as Json).id === "string",
  );
}

function withoutId(d: ResourceDoc): Json {
  const { id: _id, ...rest } = d;
  void _id;
  return rest;
}

/** Role assignments that grant the same role to the same holder on the same scope more than once. */
export function duplicateRoleAssignments(snapshot: EmulatorSnapshot): string[] {
  const seen = new Map<string, number>();
  for (const a of snapshot.roleAssignments) {
    const k = `${a.holder} ${a.role} on ${a.scope}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${n}x ${k}`);
}

/** Ids present in one snapshot and not the other, for a readable assertion message. */
export function resourceIdDiff(
  expected: EmulatorSnapshot,
  actual: EmulatorSnapshot,
): { extra: string[]; missing: string[] } {
  const want = new Set(expected.resources.map((r) => r.id));
  const have = new Set(actual.resources.map((r) => r.id));
  return {
    extra: [...have].filter((id) => !want.has(id)),
    missing: [...want].filter((id) => !have.has(id)),
  };
}
