// Microsoft.KeyVault vaults (api 2026-02-01 as sent by @azure/arm-keyvault 5.0.0): RBAC mode, soft
// delete with purge protection (a deleted vault keeps its name until purged or recovered), and a
// vault URI that points at the vault's own loopback listener for the secrets data plane.
import { lower } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type TypeDefinition } from "../types";
import { props } from "./common";

const VAULT = "Microsoft.KeyVault/vaults";

const vaults: TypeDefinition = {
  type: VAULT,
  apiVersions: ["2026-02-01", "2024-11-01", "2023-07-01", "2022-07-01"],
  tracked: true,
  put: "body",
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
  },
  afterDelete(doc, emu) {
    emu.deletedVaults.set(lower(doc.name), {
      id: doc.id,
      location: str(doc.location),
      purgeProtection: getPath(doc, ["properties", "enablePurgeProtection"]) === true,
    });
  },
};

export const KEYVAULT_TYPES: TypeDefinition[] = [vaults];
