// Microsoft.ManagedIdentity user-assigned identities (api 2023-01-31): a synchronous PUT (201, then
// 200) whose server fills in properties.principalId, clientId and tenantId (stable for the
// identity's life), and a synchronous DELETE. Resources that carry identities (VMs, scale sets)
// refer to them in `identity.userAssignedIdentities`, keyed by ARM id; ARM fills each entry with the
// identity's principalId and clientId, and refuses an id that does not exist.
import { randomUUID } from "node:crypto";
import type { Emulator } from "../emulator";
import { lower, parseArmPath } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type Json, type ResourceDoc, type TypeDefinition } from "../types";
import { props } from "./common";

export const USER_ASSIGNED_IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities";

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/;

const userAssignedIdentities: TypeDefinition = {
  type: USER_ASSIGNED_IDENTITY,
  apiVersions: ["2024-11-30", "2023-07-31-preview", "2023-01-31", "2018-11-30"],
  tracked: true,
  put: "sync",
  createStatus: 201,
  // UserAssignedIdentityCollectionTests / MSIIdentityManagementTests: the 201 names the identity in Location
  locationOnCreate: true,
  delete: "sync",
  provisioningState: false,
  validate(doc) {
    if (!NAME.test(doc.name)) {
      throw new ArmError(
        400,
        "InvalidResourceName",
        `Resource name ${doc.name} is invalid. The name can be 3-128 characters long, contain only letters, digits, hyphens and underscores, and must start with a letter or digit.`,
      );
    }
  },
  normalize(doc, ctx) {
    const p = props(doc);
    const old = ctx.existing ? props(ctx.existing) : {};
    // the service principal behind the identity is made once and kept until the identity is deleted
    p.tenantId = ctx.emulator.tenantId;
    doc.tags ??= {};
    p.principalId = old.principalId ?? randomUUID();
    p.clientId = old.clientId ?? randomUUID();
  },
};

export const MANAGED_IDENTITY_TYPES: TypeDefinition[] = [userAssignedIdentities];

/** One user-assigned identity a resource carries, as ARM shows it in `identity.userAssignedIdentities`. */
export interface AttachedIdentity {
  id: string;
  principalId: string;
  clientId: string;
}

/** The `identity.userAssignedIdentities` ids of a document (none when it has no such map). */
export function userAssignedIds(doc: Json): string[] {
  const map = getPath(doc, ["identity", "userAssignedIdentities"]);
  return map && typeof map === "object" ? Object.keys(map) : [];
}

/**
 * Checks and fills a document's user-assigned identities the way ARM does on a VM or scale set PUT:
 * every id must name an existing identity (400 FailedIdentityOperation otherwise), and each entry
 * gets that identity's principalId and clientId.
 */
export function attachUserAssigned(emu: Emulator, doc: ResourceDoc): void {
  const identity = doc.identity as Json | undefined;
  if (!identity || typeof identity !== "object") return;
  const type = lower(str(identity.type ?? ""));
  const ids = userAssignedIds(doc);
  if (type.includes("userassigned") && ids.length === 0) {
    throw new ArmError(
      400,
      "InvalidParameter",
      "The identity type 'UserAssigned' needs at least one user-assigned identity in identity.userAssignedIdentities.",
      { target: "identity.userAssignedIdentities" },
    );
  }
  if (!type.includes("userassigned") && ids.length > 0) {
    throw new ArmError(
      400,
      "InvalidParameter",
      `identity.userAssignedIdentities must not be set when the identity type is '${str(identity.type)}'.`,
      { target: "identity.userAssignedIdentities" },
    );
  }
  const filled: Json = {};
  for (const id of ids) {
    const found = emu.store.get(id);
    if (!found || lower(found.type) !== lower(USER_ASSIGNED_IDENTITY)) {
      const p = parseArmPath(id);
      throw new ArmError(
        400,
        "FailedIdentityOperation",
        `Identity operation for resource '${doc.id}' failed with error 'Failed to perform resource identity operation. ` +
          `Status: 'NotFound'. Response: '{"error":{"code":"ResourceNotFound","message":"The Resource ` +
          `'${USER_ASSIGNED_IDENTITY}/${id.split("/").pop() ?? ""}' under resource group '${p?.resourceGroup ?? ""}' was not found."}}'.'`,
      );
    }
    filled[id] = { principalId: props(found).principalId, clientId: props(found).clientId };
  }
  if (ids.length > 0) identity.userAssignedIdentities = filled;
}

/** The user-assigned identities a document carries, with their principal and client ids. */
export function attachedIdentities(doc: Json | undefined): AttachedIdentity[] {
  if (!doc) return [];
  const map = getPath(doc, ["identity", "userAssignedIdentities"]) as Json | undefined;
  if (!map || typeof map !== "object") return [];
  return Object.entries(map).map(([id, v]) => ({
    id,
    principalId: str(getPath(v as Json, ["principalId"]) ?? ""),
    clientId: str(getPath(v as Json, ["clientId"]) ?? ""),
  }));
}
