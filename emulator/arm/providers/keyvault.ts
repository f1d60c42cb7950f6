// Microsoft.KeyVault vaults (api 2026-02-01 as sent by @azure/arm-keyvault 5.0.0): RBAC mode, soft
// delete with purge protection (a deleted vault keeps its name until purged or recovered; ARM reads
// it under `locations/{location}/deletedVaults/{name}` and purges it there), and a vault URI that
// points at the vault's own loopback listener for the secrets data plane.
import { lower } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type ResourceDoc, type TypeDefinition } from "../types";
import { props } from "./common";

const VAULT = "Microsoft.KeyVault/vaults";

const vaults: TypeDefinition = {
  type: VAULT,
  apiVersions: ["2026-02-01", "2024-11-01", "2023-07-01", "2022-07-01"],
  tracked: true,
  put: "body",
  // VaultTests.canEnableSoftDeleteAndPurge: a create answers 200 while its DNS name registers
  createStatus: 200,
  creatingState: "RegisteringDns",
  patch: "sync",
  delete: "sync",
  validate(doc, ctx) {
    const p = props(doc);
    if (!/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/.test(doc.name) || doc.name.includes("--")) {
      throw new ArmError(
        400,
        "VaultNameNotValid",
        `The vault name '${doc.name}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.`,
      );
    }
    if (typeof p.tenantId !== "string")
      throw new ArmError(400, "BadRequest", "The parameter properties.tenantId is required.");
    if (!getPath(doc, ["properties", "sku", "name"]))
      throw new ArmError(400, "BadRequest", "The parameter properties.sku is required.");
    if (
      ctx.existing &&
      getPath(ctx.existing, ["properties", "enablePurgeProtection"]) === true &&
      p.enablePurgeProtection === false
    ) {
      throw new ArmError(
        400,
        "BadRequest",
        'The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.',
      );
    }
    const deleted = ctx.emulator.deletedVaults.get(lower(doc.name));
    if (!ctx.existing && deleted && lower(str(p.createMode ?? "default")) !== "recover") {
      throw new ArmError(
        409,
        "ConflictError",
        `A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 for more information on soft delete.`,
      );
    }
  },
  async normalize(doc, ctx) {
    const p = props(doc);
    const old = ctx.existing ? props(ctx.existing) : {};
    if (old.enablePurgeProtection === true) p.enablePurgeProtection = true;
    p.enableSoftDelete ??= true;
    p.softDeleteRetentionInDays ??= 90;
    p.enableRbacAuthorization ??= false;
    p.accessPolicies ??= [];
    p.publicNetworkAccess ??= "Enabled";
    delete p.createMode;
    p.vaultUri = await ctx.emulator.keyVault.ensureVault(doc.name, p.enablePurgeProtection === true);
    ctx.emulator.deletedVaults.delete(lower(doc.name));
    const now = new Date().toISOString();
    const created = getPath(ctx.existing ?? {}, ["systemData"]) as Record<string, unknown> | undefined;
    doc.systemData = {
      createdBy: created?.createdBy ?? "jumpgate-emulator",
      createdByType: created?.createdByType ?? "Application",
      createdAt: created?.createdAt ?? now,
      lastModifiedBy: "jumpgate-emulator",
      lastModifiedByType: "Application",
      lastModifiedAt: now,
    };
  },
  afterDelete(doc, emu) {
    emu.deletedVaults.set(lower(doc.name), {
      id: doc.id,
      location: str(doc.location),
      purgeProtection: getPath(doc, ["properties", "enablePurgeProtection"]) === true,
      deletionDate: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      tags: doc.tags,
    });
  },
};

const DELETED =
  /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.KeyVault\/locations\/([^/]+)\/deletedVaults\/([^/]+)$/i;

/**
 * A soft-deleted vault as ARM shows it (VaultTests.canEnableSoftDeleteAndPurge): read by its
 * location and name, purged with a Location-only operation. Its name stays taken until then.
 */
const deletedVaults: TypeDefinition = {
  type: "Microsoft.KeyVault/locations/deletedVaults",
  apiVersions: vaults.apiVersions,
  canPut: false,
  provisioningState: false,
  lookup(id, emu): ResourceDoc | undefined {
    const m = DELETED.exec(id);
    const held = m ? emu.deletedVaults.get(lower(m[3])) : undefined;
    if (!m || !held) return undefined;
    const sameSubscription = lower(held.id).startsWith(`/subscriptions/${lower(m[1])}/`);
    if (!sameSubscription || lower(held.location).replace(/\s+/g, "") !== lower(m[2])) return undefined;
    const deletionDate = held.deletionDate ?? new Date().toISOString();
    const retentionDays = 90;
    return {
      id,
      name: m[3],
      type: "Microsoft.KeyVault/deletedVaults",
      properties: {
        vaultId: held.id,
        location: held.location,
        tags: held.tags ?? {},
        deletionDate,
        scheduledPurgeDate: new Date(Date.parse(deletionDate) + retentionDays * 86400_000)
          .toISOString()
          .replace(/\.\d+Z$/, "Z"),
        ...(held.purgeProtection ? { purgeProtectionEnabled: true } : {}),
      },
    };
  },
  notFound(name) {
    return new ArmError(
      404,
      "DeletedVaultNotFound",
      `The specified deleted vault '${name}' does not exist. Ensure that the vault was indeed deleted and that it is in recoverable state. If soft delete was not enabled then the vault is permanently deleted.`,
    );
  },
  actions: {
    purge: {
      style: "loc",
      start({ emulator, doc }) {
        const held = emulator.deletedVaults.get(lower(doc.name));
        if (held?.purgeProtection) {
          throw new ArmError(405, "MethodNotAllowed", "Operation 'DeletedVaultPurge' is not allowed.");
        }
        const createdDateTime = keyVaultTime(new Date());
        return {
          work: Promise.resolve({
            result: { createdDateTime, lastActionDateTime: keyVaultTime(new Date()), status: "Succeeded" },
          }),
          commit: () => emulator.deletedVaults.delete(lower(doc.name)),
        };
      },
    },
  },
};

/** Key Vault's operation times: "2023-10-24 04:41:39Z" */
function keyVaultTime(d: Date): string {
  return d
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

export const KEYVAULT_TYPES: TypeDefinition[] = [vaults, deletedVaults];
