// Microsoft.Storage (api 2025-06-01 as sent by @azure/arm-storage 19.1.0; 2025-01-01 and 2022-09-01
// as recorded; 2023-05-01, a stable version templates use): storage accounts (a create answered 202
// with Location only, names unique across Azure, network rules that need the subnet's service
// endpoint), the blob service (versioning, soft delete), containers with time-based retention
// (immutability policy PUT / lock / extend / delete under If-Match, its update history), legal holds
// and version-level immutability, and lifecycle management policies.
//
// Blobs live in a data plane outside ARM (Azurite in tests). ARM asks it which blobs a container
// holds before it deletes the container or its account (`Emulator.storageDataPlane.listBlobs`), and
// refuses as Azure does while blobs are under retention; without a data plane, containers hold nothing.
import { randomBytes } from "node:crypto";
import type { Emulator } from "../emulator";
import { lower } from "../resource-id";
import { getPath, str } from "../store";
import {
  ArmError,
  type ActionDefinition,
  type ArmCaller,
  type Json,
  type ResourceDoc,
  type TypeDefinition,
} from "../types";
import { arrayAt, pairedRegion, props, resolve } from "./common";

const ACCOUNT = "Microsoft.Storage/storageAccounts";
const BLOB_SERVICE = `${ACCOUNT}/blobServices`;
const CONTAINER = `${BLOB_SERVICE}/containers`;
const POLICY = `${CONTAINER}/immutabilityPolicies`;
const MANAGEMENT_POLICY = `${ACCOUNT}/managementPolicies`;

export const STORAGE_API = ["2025-06-01", "2025-01-01", "2023-05-01", "2022-09-01"];

/** One blob (or blob version) a container holds, as the data plane lists it. */
export interface BlobInventoryEntry {
  name: string;
  /** when the blob (version) was created: retention runs from here */
  createdOn: Date | string;
  versionId?: string;
}

/** The blob data plane behind the emulated accounts (tests wire Azurite). */
export interface StorageDataPlane {
  /** the blobs a container holds; without it the emulator knows of no blobs */
  listBlobs?(account: { id: string; name: string }, container: string): Promise<BlobInventoryEntry[]>;
  /** `primaryEndpoints.blob` of an account (default `https://{name}.blob.core.windows.net/`) */
  blobEndpoint?(accountName: string): string;
  /** the clock retention is measured with (default Date.now) */
  now?(): number;
}

const DAY_MS = 86_400_000;
const MAX_RETENTION_DAYS = 146_000; // 400 years (immutable-storage-overview: 1 day to 146,000 days)
const MAX_LOCKED_EXTENSIONS = 5; // "A maximum of five increases ... for a locked policy at the container level"
const KINDS = ["Storage", "StorageV2", "BlobStorage", "BlockBlobStorage", "FileStorage"];
const TLS_VERSIONS = ["TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3"];
const GEO_SKUS = /^(Standard_GRS|Standard_RAGRS|Standard_GZRS|Standard_RAGZRS)$/i;

// ------------------------------------------------------------------------------------ helpers

function invalid(message: string, target?: string): ArmError {
  // storage's validation codes for these fields are not in a recording; ARM's generic one
  return new ArmError(400, "InvalidRequestPropertyValue", message, target ? { target } : {});
}

function now(emu: Emulator): number {
  return emu.storageDataPlane.now?.() ?? Date.now();
}

/** Storage ETags as Azure writes them: a quoted hex counter (`"0x8DDDBE0F6BE5C10"`, `"8dac87609a9dc9a"`). */
function containerEtag(): string {
  return `"0x8D${randomBytes(6).toString("hex").toUpperCase().slice(0, 11)}"`;
}
function policyEtag(): string {
  return `"8d${randomBytes(7).toString("hex").slice(0, 13)}"`;
}

/** `{account id}` of any id below it. */
function accountIdOf(id: string): string {
  const m = /^(.*\/providers\/Microsoft\.Storage\/storageAccounts\/[^/]+)/i.exec(id);
  return m ? m[1] : id;
}

function containerIdOf(id: string): string {
  const m = /^(.*\/blobServices\/[^/]+\/containers\/[^/]+)/i.exec(id);
  return m ? m[1] : id;
}

function blobServiceOf(emu: Emulator, accountId: string): ResourceDoc | undefined {
  return emu.store.get(`${accountId}/blobServices/default`);
}

function policyOf(emu: Emulator, containerId: string): ResourceDoc | undefined {
  return emu.store.get(`${containerId}/immutabilityPolicies/default`);
}

function versionLevelEnabled(doc: ResourceDoc | undefined): boolean {
  return getPath(doc ?? {}, ["properties", "immutableStorageWithVersioning", "enabled"]) === true;
}

function legalHoldTags(container: ResourceDoc): string[] {
  return arrayAt(container, "properties", "legalHold", "tags").map((t) => str(t.tag));
}

function containersOf(emu: Emulator, accountId: string): ResourceDoc[] {
  return emu.store.children(`${accountId}/blobServices/default`, CONTAINER);
}

async function blobsIn(emu: Emulator, account: ResourceDoc, container: string): Promise<BlobInventoryEntry[]> {
  const plane = emu.storageDataPlane;
  return plane.listBlobs ? plane.listBlobs({ id: account.id, name: account.name }, container) : [];
}

/** Blobs whose retention under `days` has not run out at `at`. */
function underRetention(blobs: BlobInventoryEntry[], days: number, at: number): BlobInventoryEntry[] {
  return blobs.filter((b) => new Date(b.createdOn).getTime() + days * DAY_MS > at);
}

function history(emu: Emulator, containerId: string): Json[] {
  return (emu.store.getSecret(containerId, "immutabilityPolicy.updateHistory") as Json[] | undefined) ?? [];
}

function recordHistory(
  emu: Emulator,
  containerId: string,
  update: "put" | "lock" | "extend",
  policy: ResourceDoc,
  caller: ArmCaller | undefined,
): void {
  const entry: Json = {
    update,
    immutabilityPeriodSinceCreationInDays: getPath(policy, ["properties", "immutabilityPeriodSinceCreationInDays"]),
    timestamp: new Date(now(emu)).toISOString(),
    objectIdentifier: caller?.objectId ?? "",
    tenantId: caller?.tenantId ?? emu.tenantId,
    upn: caller?.upn ?? "",
  };
  const allow = getPath(policy, ["properties", "allowProtectedAppendWrites"]);
  if (allow !== undefined) entry.allowProtectedAppendWrites = allow;
  emu.store.setSecret(containerId, "immutabilityPolicy.updateHistory", [...history(emu, containerId), entry]);
}

// ------------------------------------------------------------------ deletion under retention

/**
 * Why a container may not be deleted now, if it may not: Azure deletes an empty container whatever
 * its policy (the recorded lock and extend tests delete theirs), and refuses one whose blobs are
 * protected: by version-level immutability (any blob; immutable-version-level-worm-policies
 * "Deletion"), a legal hold, or a time-based retention policy, locked or not, that has not run out
 * for at least one blob (immutable-storage-overview).
 */
async function containerHold(emu: Emulator, container: ResourceDoc): Promise<string | undefined> {
  const account = emu.store.get(accountIdOf(container.id));
  if (!account) return undefined;
  const blobs = await blobsIn(emu, account, container.name);
  if (blobs.length === 0) return undefined;
  if (versionLevelEnabled(container) || versionLevelEnabled(account)) {
    return `version-level immutability is enabled and the container holds ${blobs.length} blob(s)`;
  }
  if (legalHoldTags(container).length > 0) return `the container has a legal hold and holds ${blobs.length} blob(s)`;
  const policy = policyOf(emu, container.id);
  const days = Number(getPath(policy ?? {}, ["properties", "immutabilityPeriodSinceCreationInDays"]) ?? 0);
  const retained = days > 0 ? underRetention(blobs, days, now(emu)) : [];
  if (retained.length > 0) {
    const state = str(getPath(policy!, ["properties", "state"]));
    return `${retained.length} blob(s) are under its ${state.toLowerCase()} time-based retention policy (${days} days)`;
  }
  return undefined;
}

/**
 * Why an account may not be deleted now: a container with blobs that version-level immutability, a
 * legal hold or a LOCKED retention policy protects ("Unlocked policies don't provide delete
 * protection" for the account); Azure names the containers (azure-powershell#26148).
 */
async function accountHold(emu: Emulator, account: ResourceDoc): Promise<ArmError | undefined> {
  const held: string[] = [];
  let reason = "have a locked immutability policy";
  for (const c of containersOf(emu, account.id)) {
    const blobs = await blobsIn(emu, account, c.name);
    if (blobs.length === 0) continue;
    if (versionLevelEnabled(c) || versionLevelEnabled(account)) {
      held.push(c.name);
      reason = "have version-level immutability enabled and hold blobs";
      continue;
    }
    if (legalHoldTags(c).length > 0) {
      held.push(c.name);
      continue;
    }
    const policy = policyOf(emu, c.id);
    if (str(getPath(policy ?? {}, ["properties", "state"])) !== "Locked") continue;
    const days = Number(getPath(policy!, ["properties", "immutabilityPeriodSinceCreationInDays"]) ?? 0);
    if (underRetention(blobs, days, now(emu)).length > 0) held.push(c.name);
  }
  if (held.length === 0) return undefined;
  return new ArmError(
    409,
    "AccountProtectedFromDeletion",
    `${account.name} is protected from deletion. The container(s) ${held.join(", ")} ${reason}.`,
    { target: account.id },
  );
}

// ------------------------------------------------------------------------------- accounts

function accountNameError(name: string): ArmError {
  return new ArmError(
    400,
    "AccountNameInvalid",
    `${name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.`,
  );
}

/** Another account (any subscription the emulator serves, or the rest of Azure) holds this name. */
function nameTaken(emu: Emulator, name: string, exceptId?: string): boolean {
  if (emu.takenStorageAccountNames.has(lower(name))) return true;
  return emu.store
    .all()
    .some(
      (d) => lower(d.type) === lower(ACCOUNT) && lower(d.name) === lower(name) && lower(d.id) !== lower(exceptId ?? ""),
    );
}

function validateNetworkAcls(emu: Emulator, acls: Json, account: ResourceDoc): void {
  const action = acls.defaultAction;
  if (action !== undefined && action !== "Allow" && action !== "Deny") {
    throw invalid(
      `networkAcls.defaultAction must be Allow or Deny, not '${str(action)}'.`,
      "networkAcls.defaultAction",
    );
  }
  const bare: string[] = [];
  for (const rule of arrayAt(acls, "virtualNetworkRules")) {
    const subnetId = str(rule.id);
    const subnet = subnetId ? resolve(emu, subnetId) : undefined;
    if (!subnet) {
      throw new ArmError(
        400,
        "NetworkAclsValidationFailure",
        `Validation of network acls failure: SubnetsNotExist:Subnets ${subnetId} referenced by storage account ${account.name} do not exist.`,
      );
    }
    const endpoints = arrayAt(subnet, "properties", "serviceEndpoints");
    if (!endpoints.some((e) => /^microsoft\.storage(\.global)?$/i.test(str(e.service)))) bare.push(subnetId);
  }
  if (bare.length > 0) {
    const names = bare.map((id) => id.split("/").pop()).join(",");
    const vnet = bare[0].replace(/\/subnets\/[^/]+$/i, "");
    throw new ArmError(
      400,
      "NetworkAclsValidationFailure",
      `Validation of network acls failure: SubnetsHaveNoServiceEndpointsConfigured:Subnets ${names} of virtual network ${vnet} do not have ServiceEndpoints for Microsoft.Storage resources configured. Add Microsoft.Storage to subnet's ServiceEndpoints collection before trying to ACL Microsoft.Storage resources to these subnets..`,
    );
  }
}

function endpoints(emu: Emulator, name: string, kind: string): Json {
  const blob = emu.storageDataPlane.blobEndpoint?.(name) ?? `https://${name}.blob.core.windows.net/`;
  const classic = {
    blob,
    queue: `https://${name}.queue.core.windows.net/`,
    table: `https://${name}.table.core.windows.net/`,
  };
  if (kind === "Storage") return { ...classic, file: `https://${name}.file.core.windows.net/` };
  if (kind === "BlockBlobStorage")
    return { dfs: `https://${name}.dfs.core.windows.net/`, web: `https://${name}.z6.web.core.windows.net/`, blob };
  if (kind === "FileStorage") return { file: `https://${name}.file.core.windows.net/` };
  return {
    dfs: `https://${name}.dfs.core.windows.net/`,
    web: `https://${name}.z6.web.core.windows.net/`,
    ...classic,
    file: `https://${name}.file.core.windows.net/`,
  };
}

const storageAccounts: TypeDefinition = {
  type: ACCOUNT,
  apiVersions: STORAGE_API,
  tracked: true,
  // recording_storageaccounts_create_test / ExtendImmutabilityPolicy: 202, Location only, Retry-After 17
  put: "location",
  createStatus: 200,
  // recording_storageaccounts_update_test: PATCH answers 200 with the account
  patch: "sync",
  // recording_storageaccounts_delete_test: DELETE answers 200 at once
  delete: "sync",
  validate(doc, ctx) {
    const emu = ctx.emulator;
    if (!/^[a-z0-9]{3,24}$/.test(doc.name)) throw accountNameError(doc.name);
    if (!ctx.existing && nameTaken(emu, doc.name, doc.id)) {
      throw new ArmError(409, "StorageAccountAlreadyTaken", `The storage account named ${doc.name} is already taken.`);
    }
    const skuName = str(getPath(doc, ["sku", "name"]) ?? "");
    if (!skuName) throw invalid("The sku of a storage account is required.", "sku");
    const kind = str(doc.kind ?? "");
    if (!KINDS.includes(kind))
      throw invalid(`The kind '${kind}' is not valid; use one of ${KINDS.join(", ")}.`, "kind");
    const p = props(doc);
    if (p.minimumTlsVersion !== undefined && !TLS_VERSIONS.includes(str(p.minimumTlsVersion))) {
      throw invalid(`minimumTlsVersion must be one of ${TLS_VERSIONS.join(", ")}.`, "minimumTlsVersion");
    }
    if (
      p.publicNetworkAccess !== undefined &&
      !["Enabled", "Disabled", "SecuredByPerimeter"].includes(str(p.publicNetworkAccess))
    ) {
      throw invalid(`publicNetworkAccess must be Enabled, Disabled or SecuredByPerimeter.`, "publicNetworkAccess");
    }
    if (p.networkAcls !== undefined) validateNetworkAcls(emu, p.networkAcls as Json, doc);
    // version-level immutability of a whole account is chosen when it is created, never later
    if (ctx.existing && versionLevelEnabled(doc) !== versionLevelEnabled(ctx.existing)) {
      throw invalid(
        "Version-level immutability can be enabled on an account only when the account is created.",
        "immutableStorageWithVersioning",
      );
    }
  },
  normalize(doc, ctx) {
    const emu = ctx.emulator;
    const p = props(doc);
    const old = ctx.existing ? props(ctx.existing) : {};
    const at = new Date(now(emu)).toISOString();
    const skuName = str(getPath(doc, ["sku", "name"]));
    doc.sku = { name: skuName, tier: /^premium/i.test(skuName) ? "Premium" : "Standard" };
    p.keyCreationTime = old.keyCreationTime ?? { key1: at, key2: at };
    p.allowCrossTenantReplication ??= false;
    p.privateEndpointConnections = old.privateEndpointConnections ?? [];
    p.minimumTlsVersion ??= old.minimumTlsVersion ?? "TLS1_0";
    p.allowBlobPublicAccess ??= old.allowBlobPublicAccess ?? false;
    const acls = { ...((old.networkAcls as Json | undefined) ?? {}), ...((p.networkAcls as Json | undefined) ?? {}) };
    p.networkAcls = {
      ipv6Rules: [],
      bypass: "AzureServices",
      ipRules: [],
      defaultAction: "Allow",
      ...acls,
      virtualNetworkRules: arrayAt(acls, "virtualNetworkRules").map((r) => ({
        id: r.id,
        action: r.action ?? "Allow",
        state: "Succeeded",
      })),
    };
    p.supportsHttpsTrafficOnly ??= old.supportsHttpsTrafficOnly ?? true;
    const enc = (p.encryption ?? old.encryption ?? {}) as Json;
    const services = (enc.services ?? {}) as Json;
    for (const s of ["file", "blob"]) {
      const svc: Json = { keyType: "Account", enabled: true, ...((services[s] as Json | undefined) ?? {}) };
      svc.lastEnabledTime ??= getPath(old, ["encryption", "services", s, "lastEnabledTime"]) ?? at;
      services[s] = svc;
    }
    p.encryption = { ...enc, services, keySource: enc.keySource ?? "Microsoft.Storage" };
    if (["StorageV2", "BlobStorage"].includes(str(doc.kind))) p.accessTier ??= old.accessTier ?? "Hot";
    p.creationTime = old.creationTime ?? at;
    p.primaryLocation = doc.location;
    p.statusOfPrimary = "available";
    const pair = GEO_SKUS.test(skuName) ? pairedRegion(str(doc.location)) : undefined;
    if (pair) {
      p.secondaryLocation = pair;
      p.statusOfSecondary = "available";
    } else {
      delete p.secondaryLocation;
      delete p.statusOfSecondary;
    }
    if (versionLevelEnabled(doc)) {
      (p.immutableStorageWithVersioning as Json).timeStamp ??= at;
    }
  },
  afterCommit(doc, ctx) {
    const id = `${doc.id}/blobServices/default`;
    if (ctx.emulator.store.get(id)) return;
    ctx.emulator.store.set({
      id,
      name: "default",
      type: BLOB_SERVICE,
      properties: {
        cors: { corsRules: [] },
        deleteRetentionPolicy: { allowPermanentDelete: false, enabled: false },
        // an account created with version-level immutability keeps versions of every blob
        ...(versionLevelEnabled(doc) ? { isVersioningEnabled: true } : {}),
      },
    });
  },
  present(doc, _query, emu) {
    // the blob endpoint is wherever the data plane is (Azurite in tests), like a vault's URI
    props(doc).primaryEndpoints = endpoints(emu, doc.name, str(doc.kind));
    return doc;
  },
  async beforeDelete(doc, emu) {
    const held = await accountHold(emu, doc);
    if (held) throw held;
  },
  holdsGroupDeletion: (doc, emu) => accountHold(emu, doc),
  providerActions: {
    // recorded in ExtendImmutabilityPolicy (the .NET test checks the name before creating the account)
    checknameavailability({ emulator, body }) {
      const b = (body ?? {}) as Json;
      const name = str(b.name ?? "");
      if (lower(str(b.type ?? "")) !== lower(ACCOUNT)) {
        throw invalid("type must be Microsoft.Storage/storageAccounts.", "type");
      }
      if (!/^[a-z0-9]{3,24}$/.test(name)) {
        return {
          status: 200,
          body: { nameAvailable: false, reason: "AccountNameInvalid", message: accountNameError(name).message },
        };
      }
      if (nameTaken(emulator, name)) {
        return {
          status: 200,
          body: {
            nameAvailable: false,
            reason: "AlreadyExists",
            message: `The storage account named ${name} is already taken.`,
          },
        };
      }
      return { status: 200, body: { nameAvailable: true } };
    },
  },
};

// --------------------------------------------------------------------------- blob service

const blobServices: TypeDefinition = {
  type: BLOB_SERVICE,
  apiVersions: STORAGE_API,
  put: "sync",
  createStatus: 200,
  provisioningState: false,
  validate(doc, ctx) {
    if (doc.name !== "default") throw invalid("The name of a blob service must be 'default'.", "name");
    const p = props(doc);
    for (const key of ["deleteRetentionPolicy", "containerDeleteRetentionPolicy"]) {
      const policy = p[key] as Json | undefined;
      if (policy?.enabled !== true) continue;
      const days = policy.days;
      if (!Number.isInteger(days) || (days as number) < 1 || (days as number) > 365) {
        throw invalid(`${key}.days must be a whole number from 1 to 365 when ${key} is enabled.`, `${key}.days`);
      }
    }
    const versioning = p.isVersioningEnabled ?? getPath(ctx.existing ?? {}, ["properties", "isVersioningEnabled"]);
    if (versioning !== true) {
      const accountId = accountIdOf(doc.id);
      const account = ctx.emulator.store.get(accountId);
      const immutable = versionLevelEnabled(account) || containersOf(ctx.emulator, accountId).some(versionLevelEnabled);
      if (immutable) {
        throw invalid(
          "Versioning cannot be disabled while the account or one of its containers has version-level immutability enabled.",
          "isVersioningEnabled",
        );
      }
    }
  },
  normalize(doc, ctx) {
    // the service keeps what a PUT does not mention (Set Blob Service Properties semantics)
    doc.properties = { ...(ctx.existing?.properties ?? {}), ...doc.properties };
    delete doc.sku;
  },
  beforeDelete() {
    throw new ArmError(405, "MethodNotAllowed", "The blob service of an account cannot be deleted.");
  },
  present(doc, _query, emu) {
    // as recorded: the blob service carries its account's sku
    const account = emu.store.get(accountIdOf(doc.id));
    if (account?.sku) return { ...doc, sku: structuredClone(account.sku) };
    return doc;
  },
};

// ------------------------------------------------------------------------------ containers

function containerPresented(emu: Emulator, doc: ResourceDoc): ResourceDoc {
  const p = props(doc);
  const policy = policyOf(emu, doc.id);
  const days = Number(getPath(policy ?? {}, ["properties", "immutabilityPeriodSinceCreationInDays"]) ?? 0);
  const tags = legalHoldTags(doc);
  p.hasImmutabilityPolicy = !!policy && days > 0;
  p.hasLegalHold = tags.length > 0;
  p.legalHold = { hasLegalHold: tags.length > 0, tags: arrayAt(doc, "properties", "legalHold", "tags") };
  if (policy && days > 0) {
    p.immutabilityPolicy = {
      etag: policy.etag,
      properties: structuredClone(policy.properties),
      updateHistory: history(emu, doc.id),
    };
  } else {
    delete p.immutabilityPolicy;
  }
  return doc;
}

const CONTAINER_NAME = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

function legalHoldAction(set: boolean): ActionDefinition {
  return {
    style: "sync",
    start({ emulator, doc, body }) {
      const tags = arrayAt((body ?? {}) as Json, "tags") as unknown as unknown[];
      if (
        !Array.isArray((body as Json | undefined)?.tags) ||
        tags.length === 0 ||
        tags.some((t) => typeof t !== "string" || !/^[a-zA-Z0-9]{3,23}$/.test(t))
      ) {
        throw invalid("tags must be a list of 3 to 23 alphanumeric characters each.", "tags");
      }
      if (set && versionLevelEnabled(doc)) {
        throw invalid(
          "A container with version-level immutability takes legal holds on blob versions, not on the container.",
        );
      }
      const current = legalHoldTags(doc);
      const next = set
        ? [...new Set([...current, ...(tags as string[])])]
        : current.filter((t) => !(tags as string[]).includes(t));
      return {
        work: Promise.resolve({ result: { hasLegalHold: next.length > 0, tags: next } }),
        commit: () => {
          const cur = emulator.store.get(doc.id);
          if (!cur) return;
          props(cur).legalHold = {
            hasLegalHold: next.length > 0,
            tags: next.map((tag) => ({ tag, timestamp: new Date(now(emulator)).toISOString() })),
          };
          cur.etag = containerEtag();
        },
      };
    },
  };
}

const containers: TypeDefinition = {
  type: CONTAINER,
  apiVersions: STORAGE_API,
  put: "sync",
  createStatus: 201,
  patch: "sync",
  delete: "sync",
  provisioningState: false,
  etagHeader: true,
  validate(doc, ctx) {
    if (!CONTAINER_NAME.test(doc.name)) {
      throw invalid(
        `Container name '${doc.name}' is invalid: use 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.`,
        "name",
      );
    }
    const emu = ctx.emulator;
    const p = props(doc);
    const account = emu.store.get(accountIdOf(doc.id));
    const access = str(p.publicAccess ?? "None");
    if (access !== "None" && getPath(account ?? {}, ["properties", "allowBlobPublicAccess"]) !== true) {
      throw new ArmError(409, "PublicAccessNotPermitted", "Public access is not permitted on this storage account.");
    }
    const wanted = versionLevelEnabled(doc);
    const had = versionLevelEnabled(ctx.existing);
    if (had && getPath(doc, ["properties", "immutableStorageWithVersioning", "enabled"]) === false) {
      throw invalid(
        "Version-level immutability cannot be disabled on a container once enabled.",
        "immutableStorageWithVersioning",
      );
    }
    if (wanted && !had) {
      if (ctx.existing) {
        throw invalid(
          "Version-level immutability is enabled on an existing container by migrating it (objectLevelWorm), which the emulator does not model; enable it when the container is created.",
          "immutableStorageWithVersioning",
        );
      }
      const service = blobServiceOf(emu, accountIdOf(doc.id));
      if (getPath(service ?? {}, ["properties", "isVersioningEnabled"]) !== true) {
        throw invalid(
          "Version-level immutability requires blob versioning to be enabled on the storage account.",
          "immutableStorageWithVersioning",
        );
      }
    }
  },
  normalize(doc, ctx) {
    const p = props(doc);
    const old = ctx.existing ? props(ctx.existing) : {};
    doc.properties = { ...old, ...p };
    const q = doc.properties;
    q.deleted = false;
    q.remainingRetentionDays = 0;
    q.defaultEncryptionScope ??= "$account-encryption-key";
    q.denyEncryptionScopeOverride ??= false;
    q.publicAccess ??= "None";
    q.leaseStatus = "Unlocked";
    q.leaseState = "Available";
    q.lastModifiedTime = new Date(now(ctx.emulator)).toISOString();
    q.legalHold = old.legalHold ?? { hasLegalHold: false, tags: [] };
    if (versionLevelEnabled(doc)) {
      q.immutableStorageWithVersioning = {
        enabled: true,
        timeStamp: getPath(old, ["immutableStorageWithVersioning", "timeStamp"]) ?? q.lastModifiedTime,
      };
    }
    delete q.immutabilityPolicy;
    delete q.hasImmutabilityPolicy;
    delete q.hasLegalHold;
    doc.etag = containerEtag();
  },
  present(doc, _query, emu) {
    return containerPresented(emu, doc);
  },
  writeResponse(presented, requestBody) {
    // as recorded: a create or update echoes `properties` only when the request sent them
    // (recording_blobcontainers_create_test sent `{}`, CreateDeleteImmutabilityPolicy `{properties: {}}`)
    const out: ResourceDoc = { id: presented.id, name: presented.name, type: presented.type, properties: {} };
    if (requestBody.properties === undefined) {
      delete (out as Partial<ResourceDoc>).properties;
      return out;
    }
    const p = presented.properties;
    out.properties = {
      ...Object.fromEntries(Object.keys(requestBody.properties as Json).map((k) => [k, p[k]])),
      deleted: p.deleted,
      remainingRetentionDays: p.remainingRetentionDays,
      hasImmutabilityPolicy: p.hasImmutabilityPolicy,
      hasLegalHold: p.hasLegalHold,
    };
    return out;
  },
  async beforeDelete(doc, emu) {
    const why = await containerHold(emu, doc);
    if (why) {
      // the code is inferred from AccountProtectedFromDeletion; no public recording shows the container's
      throw new ArmError(
        409,
        "ContainerProtectedFromDeletion",
        `Container ${doc.name} is protected from deletion: ${why}.`,
        {
          target: doc.id,
        },
      );
    }
  },
  actions: {
    setlegalhold: legalHoldAction(true),
    clearlegalhold: legalHoldAction(false),
  },
};

// ------------------------------------------------------------------- immutability policies

function unlockedOnly(): ArmError {
  // the message as Azure answers it (azure-powershell's storage tests); the code is inferred from
  // the data plane's ContainerImmutabilityPolicyLocked
  return new ArmError(
    409,
    "ContainerImmutabilityPolicyLocked",
    "Operation not allowed on immutability policy with current state.",
  );
}

function requireIfMatch(ifMatch: string | undefined, doc: ResourceDoc): void {
  if (ifMatch === undefined) {
    throw new ArmError(400, "MissingRequiredHeader", "The If-Match header with the policy's ETag is required.");
  }
  if (ifMatch !== "*" && ifMatch !== doc.etag) {
    throw new ArmError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.");
  }
}

function retentionDays(value: unknown, field: string): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_RETENTION_DAYS) {
    throw invalid(`${field} must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}.`, field);
  }
  return value as number;
}

/** The policy a container without one reads: 0 days, Unlocked (azure-powershell's storage tests). */
function defaultPolicy(containerId: string): ResourceDoc {
  return {
    id: `${containerId}/immutabilityPolicies/default`,
    name: "default",
    type: POLICY,
    etag: `"8d${Buffer.from(lower(containerId)).toString("hex").slice(-13)}"`,
    properties: { immutabilityPeriodSinceCreationInDays: 0, state: "Unlocked" },
  };
}

function policyChange(update: "lock" | "extend"): ActionDefinition {
  return {
    style: "sync",
    start({ emulator, doc, body, ifMatch, caller }) {
      const stored = emulator.store.get(doc.id);
      if (!stored) throw new ArmError(404, "ImmutabilityPolicyNotFound", "The container has no immutability policy.");
      requireIfMatch(ifMatch, stored);
      const state = str(getPath(stored, ["properties", "state"]));
      const next = structuredClone(stored);
      if (update === "lock") {
        if (state !== "Unlocked") throw unlockedOnly();
        props(next).state = "Locked";
      } else {
        if (state !== "Locked") throw unlockedOnly();
        const days = retentionDays(
          getPath((body ?? {}) as Json, ["properties", "immutabilityPeriodSinceCreationInDays"]),
          "immutabilityPeriodSinceCreationInDays",
        );
        const current = Number(getPath(stored, ["properties", "immutabilityPeriodSinceCreationInDays"]));
        if (days <= current) {
          throw invalid(
            `A locked policy can only be extended: ${days} days is not more than ${current}.`,
            "immutabilityPeriodSinceCreationInDays",
          );
        }
        const containerId = containerIdOf(stored.id);
        const versionLevel = versionLevelEnabled(emulator.store.get(containerId));
        const extensions = history(emulator, containerId).filter((h) => h.update === "extend").length;
        if (!versionLevel && extensions >= MAX_LOCKED_EXTENSIONS) {
          throw new ArmError(
            409,
            "ContainerImmutabilityPolicyLocked",
            `A locked container-level policy can be extended at most ${MAX_LOCKED_EXTENSIONS} times.`,
          );
        }
        props(next).immutabilityPeriodSinceCreationInDays = days;
      }
      next.etag = policyEtag();
      return {
        work: Promise.resolve({ result: presentPolicy(next) }),
        commit: () => {
          emulator.store.set(next);
          recordHistory(emulator, containerIdOf(next.id), update, next, caller);
        },
      };
    },
  };
}

function presentPolicy(doc: ResourceDoc): ResourceDoc {
  return { id: doc.id, name: doc.name, type: doc.type, etag: doc.etag, properties: structuredClone(doc.properties) };
}

const immutabilityPolicies: TypeDefinition = {
  type: POLICY,
  apiVersions: STORAGE_API,
  // CreateDeleteImmutabilityPolicy / LockImmutabilityPolicy: PUT answers 200, also when it creates
  put: "sync",
  createStatus: 200,
  delete: "sync",
  provisioningState: false,
  etagHeader: true,
  lookup(id, emu) {
    const m = /^(.*\/blobServices\/default\/containers\/[^/]+)\/immutabilityPolicies\/default$/i.exec(id);
    return m && emu.store.get(m[1]) ? defaultPolicy(emu.store.get(m[1])!.id) : undefined;
  },
  validate(doc, ctx) {
    if (doc.name !== "default") throw invalid("The name of an immutability policy must be 'default'.", "name");
    const p = props(doc);
    retentionDays(p.immutabilityPeriodSinceCreationInDays, "immutabilityPeriodSinceCreationInDays");
    if (ctx.existing) {
      if (str(getPath(ctx.existing, ["properties", "state"])) === "Locked") throw unlockedOnly();
      if (ctx.ifMatch !== undefined) requireIfMatch(ctx.ifMatch, ctx.existing);
    }
    const container = ctx.emulator.store.get(containerIdOf(doc.id));
    if (container && legalHoldTags(container).length > 0 && versionLevelEnabled(container)) {
      throw invalid("A container with a legal hold cannot take a version-level policy.");
    }
  },
  normalize(doc) {
    const p = props(doc);
    doc.properties = {
      immutabilityPeriodSinceCreationInDays: p.immutabilityPeriodSinceCreationInDays,
      state: "Unlocked",
      ...(p.allowProtectedAppendWrites !== undefined
        ? { allowProtectedAppendWrites: p.allowProtectedAppendWrites }
        : {}),
      ...(p.allowProtectedAppendWritesAll !== undefined
        ? { allowProtectedAppendWritesAll: p.allowProtectedAppendWritesAll }
        : {}),
    };
    doc.etag = policyEtag();
  },
  afterCommit(doc, ctx) {
    recordHistory(ctx.emulator, containerIdOf(doc.id), "put", doc, ctx.caller);
  },
  present(doc) {
    return presentPolicy(doc);
  },
  beforeDelete(doc, _emu, request) {
    if (str(getPath(doc, ["properties", "state"])) === "Locked") throw unlockedOnly();
    requireIfMatch(request.ifMatch, doc);
  },
  deleteResponse(doc) {
    return presentPolicy(doc);
  },
  actions: {
    lock: policyChange("lock"),
    extend: policyChange("extend"),
  },
};

// -------------------------------------------------------------- lifecycle management policy

const TIERING_ACTIONS = ["tierToCool", "tierToCold", "tierToArchive", "enableAutoTierToHotFromCool", "delete"];
const DAY_CONDITIONS = [
  "daysAfterModificationGreaterThan",
  "daysAfterCreationGreaterThan",
  "daysAfterLastAccessTimeGreaterThan",
  "daysAfterLastTierChangeGreaterThan",
];

function validateRule(rule: Json, seen: Set<string>): void {
  const name = str(rule.name ?? "");
  if (!/^[a-zA-Z0-9-]{1,256}$/.test(name)) throw invalid(`Rule name '${name}' is invalid.`, "policy.rules.name");
  if (seen.has(lower(name))) throw invalid(`Rule name '${name}' appears twice.`, "policy.rules.name");
  seen.add(lower(name));
  if (rule.type !== "Lifecycle") throw invalid(`Rule '${name}' must have type 'Lifecycle'.`, "policy.rules.type");
  const definition = (rule.definition ?? {}) as Json;
  const blobTypes = getPath(definition, ["filters", "blobTypes"]);
  if (
    !Array.isArray(blobTypes) ||
    blobTypes.length === 0 ||
    blobTypes.some((t) => t !== "blockBlob" && t !== "appendBlob")
  ) {
    throw invalid(
      `Rule '${name}' needs filters.blobTypes of blockBlob and/or appendBlob.`,
      "policy.rules.definition.filters.blobTypes",
    );
  }
  const actions = (definition.actions ?? {}) as Json;
  const groups = ["baseBlob", "snapshot", "version"].filter((g) => actions[g] !== undefined);
  if (groups.length === 0) throw invalid(`Rule '${name}' has no actions.`, "policy.rules.definition.actions");
  for (const g of groups) {
    for (const [action, condition] of Object.entries(actions[g] as Json)) {
      if (!TIERING_ACTIONS.includes(action)) continue;
      if (action === "enableAutoTierToHotFromCool") continue;
      const days = Object.entries((condition ?? {}) as Json).filter(
        ([k]) => DAY_CONDITIONS.includes(k) || k === "daysAfterCreationGreaterThan",
      );
      if (days.length === 0 || days.some(([, v]) => typeof v !== "number" || v < 0)) {
        throw invalid(
          `Rule '${name}': ${g}.${action} needs a non-negative day condition.`,
          "policy.rules.definition.actions",
        );
      }
    }
  }
}

const managementPolicies: TypeDefinition = {
  type: MANAGEMENT_POLICY,
  apiVersions: STORAGE_API,
  put: "sync",
  createStatus: 200,
  delete: "sync",
  provisioningState: false,
  validate(doc) {
    if (doc.name !== "default") throw invalid("The name of a management policy must be 'default'.", "name");
    const rules = arrayAt(doc, "properties", "policy", "rules");
    if (rules.length === 0) throw invalid("A management policy needs at least one rule.", "policy.rules");
    const seen = new Set<string>();
    for (const rule of rules) validateRule(rule, seen);
  },
  normalize(doc, ctx) {
    props(doc).lastModifiedTime = new Date(now(ctx.emulator)).toISOString();
    for (const rule of arrayAt(doc, "properties", "policy", "rules")) rule.enabled ??= true;
  },
};

export const STORAGE_TYPES: TypeDefinition[] = [
  storageAccounts,
  blobServices,
  containers,
  immutabilityPolicies,
  managementPolicies,
];

/**
 * What a container's immutability is, as the app's own checks read it through ARM (container GET and
 * `immutabilityPolicies/default`): for tests that compare it with what they configured.
 */
export function containerImmutability(
  emu: Emulator,
  containerId: string,
):
  | { versionLevel: boolean; retentionDays: number; state: "Unlocked" | "Locked" | "None"; legalHold: string[] }
  | undefined {
  const container = emu.store.get(containerId);
  if (!container) return undefined;
  const account = emu.store.get(accountIdOf(containerId));
  const policy = policyOf(emu, container.id);
  const days = Number(getPath(policy ?? {}, ["properties", "immutabilityPeriodSinceCreationInDays"]) ?? 0);
  return {
    versionLevel: versionLevelEnabled(container) || versionLevelEnabled(account),
    retentionDays: days,
    state: policy && days > 0 ? (str(getPath(policy, ["properties", "state"])) as "Unlocked" | "Locked") : "None",
    legalHold: legalHoldTags(container),
  };
}

export { ACCOUNT as STORAGE_ACCOUNT, CONTAINER as STORAGE_CONTAINER };
