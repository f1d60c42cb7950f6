// Azure Compute Gallery (api 2025-03-03 as sent by @azure/arm-compute 24.1.0; 2022-03-03 as
// recorded): galleries, image definitions and image versions captured from a generalized VM or a
// managed image, replicated to target regions in a long-running operation; and managed images
// (`Microsoft.Compute/images`, api as the VMs'). VMs and scale sets boot from these (compute.ts).
//
// As recorded (GalleryImageCollectionTests, TestGalleryTestSuite): writes answer 201/200 with
// Azure-AsyncOperation on `capsOperations` and provisioningState Creating/Updating, deletes 202 with
// Azure-AsyncOperation and Location, no Retry-After; an image version's create answers Retry-After 60
// on the start and every running poll (the Python SDK's gallery recording, see retry-after.ts).
import type { Emulator } from "../emulator";
import { lower, parseArmPath } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type Json, type ResourceDoc, type TypeDefinition } from "../types";
import { COMPUTE_API, props, regionDisplayName, regionKey } from "./common";

export const GALLERY_API = ["2025-03-03", "2022-03-03"];

const GALLERY = "Microsoft.Compute/galleries";
const DEFINITION = `${GALLERY}/images`;
const VERSION = `${GALLERY}/images/versions`;
const MANAGED_IMAGE = "Microsoft.Compute/images";
const VM = "Microsoft.Compute/virtualMachines";

/** osState / hyperVGeneration of what a VM runs, kept beside the VM (compute.ts writes them). */
export function vmOsState(emu: Emulator, vmId: string): "Generalized" | "Specialized" {
  return emu.store.getSecret(vmId, "osState") === "Generalized" ? "Generalized" : "Specialized";
}

export function vmHyperVGeneration(emu: Emulator, vm: ResourceDoc): "V1" | "V2" {
  const recorded = emu.store.getSecret(vm.id, "hyperVGeneration") as "V1" | "V2" | undefined;
  return recorded ?? "V2";
}

function invalidParameter(message: string, target?: string): ArmError {
  return new ArmError(400, "InvalidParameter", message, target ? { target } : {});
}

/** "Can not delete resource before nested resources are deleted." */
function nestedResources(doc: ResourceDoc, emu: Emulator, childType: string): void {
  if (emu.store.children(doc.id, childType).length > 0) {
    throw new ArmError(409, "CannotDeleteResource", "Can not delete resource before nested resources are deleted.", {
      target: doc.id,
    });
  }
}

/** A property the service does not let an update change. */
function unchangeable(doc: ResourceDoc, existing: ResourceDoc | undefined, path: string[], what: string): void {
  if (!existing) return;
  const before = JSON.stringify(getPath(existing, path) ?? null);
  const after = JSON.stringify(getPath(doc, path) ?? null);
  if (before !== after) {
    throw new ArmError(409, "PropertyChangeNotAllowed", `Changing property '${what}' is not allowed.`, {
      target: what,
    });
  }
}

const galleries: TypeDefinition = {
  type: GALLERY,
  apiVersions: GALLERY_API,
  tracked: true,
  put: "ao",
  patch: "ao",
  delete: "ao+loc",
  validate(doc) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9._]{0,78}[a-zA-Z0-9]$/.test(doc.name)) {
      throw invalidParameter(
        `The gallery name '${doc.name}' is invalid: use letters, digits, dots and underscores, up to 80 characters, not starting or ending with a dot or underscore.`,
        "galleryName",
      );
    }
  },
  normalize(doc) {
    const sub = parseArmPath(doc.id)!.subscription;
    // as recorded: the unique name is the subscription and the gallery's name in capitals
    props(doc).identifier = { uniqueName: `${sub}-${doc.name.toUpperCase()}` };
    doc.tags ??= {};
  },
  beforeDelete(doc, emu) {
    nestedResources(doc, emu, DEFINITION);
  },
};

const definitions: TypeDefinition = {
  type: DEFINITION,
  apiVersions: GALLERY_API,
  tracked: true,
  put: "ao",
  patch: "ao",
  delete: "ao+loc",
  validate(doc, ctx) {
    const p = props(doc);
    if (!["Linux", "Windows"].includes(str(p.osType)))
      throw invalidParameter("osType must be Linux or Windows.", "osType");
    const osState = str(p.osState ?? "Generalized");
    if (!["Generalized", "Specialized"].includes(osState)) {
      throw invalidParameter("osState must be Generalized or Specialized.", "osState");
    }
    for (const part of ["publisher", "offer", "sku"]) {
      if (typeof getPath(p, ["identifier", part]) !== "string") {
        throw invalidParameter(`identifier.${part} is required.`, `identifier.${part}`);
      }
    }
    const gen = str(p.hyperVGeneration ?? "V1");
    if (!["V1", "V2"].includes(gen)) throw invalidParameter("hyperVGeneration must be V1 or V2.", "hyperVGeneration");
    const security = (Array.isArray(p.features) ? (p.features as Json[]) : []).find((f) => f.name === "SecurityType");
    if (security && gen !== "V2") {
      throw invalidParameter("The SecurityType feature requires hyperVGeneration V2.", "features");
    }
    // the identifier names one definition per gallery
    const siblings = ctx.emulator.store.children(ctx.parent?.id ?? "", DEFINITION);
    const same = siblings.find(
      (d) =>
        lower(d.id) !== lower(doc.id) &&
        ["publisher", "offer", "sku"].every(
          (k) => lower(str(getPath(d, ["properties", "identifier", k]))) === lower(str(getPath(p, ["identifier", k]))),
        ),
    );
    if (same) {
      throw new ArmError(
        409,
        "GalleryImageAlreadyExists",
        `An image definition with the same publisher, offer and sku already exists in the gallery: ${same.name}.`,
      );
    }
    for (const [path, what] of [
      [["properties", "osType"], "galleryImage.properties.osType"],
      [["properties", "osState"], "galleryImage.properties.osState"],
      [["properties", "hyperVGeneration"], "galleryImage.properties.hyperVGeneration"],
      [["properties", "identifier"], "galleryImage.properties.identifier"],
    ] as const) {
      unchangeable(doc, ctx.existing, [...path], what);
    }
  },
  normalize(doc) {
    const p = props(doc);
    // as recorded: a definition without them is Gen1, x64, generalized
    p.hyperVGeneration ??= "V1";
    p.architecture ??= "x64";
    p.osState ??= "Generalized";
    doc.tags ??= {};
  },
  beforeDelete(doc, emu) {
    nestedResources(doc, emu, VERSION);
  },
};

/** `MajorVersion.MinorVersion.Patch`, each a 32-bit integer. */
const VERSION_NAME = /^\d{1,10}\.\d{1,10}\.\d{1,10}$/;

function sourceIdOf(doc: ResourceDoc): string | undefined {
  const source = getPath(doc, ["properties", "storageProfile", "source"]) as Json | undefined;
  return (source?.virtualMachineId as string | undefined) ?? (source?.id as string | undefined);
}

/** What an image version is captured from: a VM or a managed image, which must fit its definition. */
function checkSource(doc: ResourceDoc, definition: ResourceDoc, emu: Emulator): void {
  const sourceId = sourceIdOf(doc);
  if (!sourceId) throw invalidParameter("storageProfile.source.virtualMachineId (or source.id) is required.", "source");
  const source = emu.store.get(sourceId);
  if (!source) {
    throw new ArmError(404, "NotFound", `The source resource ${sourceId} was not found.`, { target: "source" });
  }
  const wantState = str(getPath(definition, ["properties", "osState"]));
  let haveState: string;
  if (lower(source.type) === lower(VM)) haveState = vmOsState(emu, source.id);
  else if (lower(source.type) === lower(MANAGED_IMAGE)) haveState = "Generalized";
  else throw invalidParameter(`The source ${sourceId} is not a virtual machine or a managed image.`, "source");
  if (haveState !== wantState) {
    // azure-cli#24972: a specialized VM captured into a generalized definition
    throw new ArmError(
      400,
      "BadRequest",
      `The resource with id '${source.id}' has a different OS state ['${haveState}'] than the parent gallery image OS state ['${wantState}'].`,
    );
  }
}

/** Checked while the version replicates: Azure fails the operation (MicrosoftDocs/azure-docs#118774). */
function hyperVMismatch(doc: ResourceDoc, definition: ResourceDoc, emu: Emulator): ArmError | undefined {
  const source = emu.store.get(sourceIdOf(doc) ?? "");
  if (!source) return undefined;
  const have =
    lower(source.type) === lower(VM)
      ? vmHyperVGeneration(emu, source)
      : str(getPath(source, ["properties", "hyperVGeneration"]) ?? "V1");
  const want = str(getPath(definition, ["properties", "hyperVGeneration"]));
  if (have === want) return undefined;
  return new ArmError(
    409,
    "Conflict",
    `The resource with id '${source.id}' has a different Hypervisor generation ['${have}'] than the parent gallery image Hypervisor generation ['${want}'].`,
  );
}

const versions: TypeDefinition = {
  type: VERSION,
  apiVersions: GALLERY_API,
  tracked: true,
  put: "ao",
  patch: "ao",
  delete: "ao+loc",
  validate(doc, ctx) {
    if (!VERSION_NAME.test(doc.name) || doc.name.split(".").some((n) => Number(n) > 2147483647)) {
      throw invalidParameter(
        `The gallery image version name '${doc.name}' is invalid. It must be MajorVersion.MinorVersion.Patch, each a 32-bit integer.`,
        "galleryImageVersionName",
      );
    }
    const definition = ctx.parent!;
    const p = props(doc);
    const publishing = (p.publishingProfile ?? {}) as Json;
    const count = publishing.replicaCount;
    if (count !== undefined && (!Number.isInteger(count) || (count as number) < 1 || (count as number) > 100)) {
      throw invalidParameter("publishingProfile.replicaCount must be from 1 to 100.", "replicaCount");
    }
    for (const r of Array.isArray(publishing.targetRegions) ? (publishing.targetRegions as Json[]) : []) {
      if (typeof r.name !== "string") throw invalidParameter("Every target region needs a name.", "targetRegions");
    }
    if (!ctx.existing) {
      checkSource(doc, definition, ctx.emulator);
    } else {
      unchangeable(
        doc,
        ctx.existing,
        ["properties", "storageProfile", "source"],
        "galleryImageVersion.properties.storageProfile.source",
      );
    }
  },
  normalize(doc, ctx) {
    const p = props(doc);
    const old = ctx.existing ? props(ctx.existing) : {};
    const publishing = {
      ...((old.publishingProfile as Json | undefined) ?? {}),
      ...((p.publishingProfile as Json | undefined) ?? {}),
    };
    const replicaCount = Number(publishing.replicaCount ?? 1);
    const storageAccountType = str(publishing.storageAccountType ?? "Standard_LRS");
    const regions =
      Array.isArray(publishing.targetRegions) && (publishing.targetRegions as Json[]).length > 0
        ? (publishing.targetRegions as Json[])
        : [{ name: str(doc.location) }];
    publishing.targetRegions = regions.map((r) => ({
      name: regionDisplayName(str(r.name)),
      regionalReplicaCount: r.regionalReplicaCount ?? replicaCount,
      storageAccountType: r.storageAccountType ?? storageAccountType,
    }));
    publishing.replicaCount = replicaCount;
    publishing.excludeFromLatest = publishing.excludeFromLatest ?? false;
    publishing.publishedDate = getPath(old, ["publishingProfile", "publishedDate"]) ?? new Date().toISOString();
    publishing.storageAccountType = storageAccountType;
    p.publishingProfile = publishing;
    const storage = {
      ...((old.storageProfile as Json | undefined) ?? {}),
      ...((p.storageProfile as Json | undefined) ?? {}),
    };
    storage.osDiskImage = { hostCaching: "ReadOnly", ...(storage.osDiskImage ?? {}) };
    p.storageProfile = storage;
    p.safetyProfile = {
      reportedForPolicyViolation: false,
      allowDeletionOfReplicatedLocations: false,
      ...(p.safetyProfile ?? {}),
    };
  },
  async work(doc, ctx) {
    // replication: a source whose hypervisor generation does not fit fails the operation, not the request
    const mismatch = ctx.existing ? undefined : hyperVMismatch(doc, ctx.parent!, ctx.emulator);
    if (mismatch) throw mismatch;
  },
  afterCommit(doc, ctx) {
    // the OS disk's size is known once the version is captured (as recorded: absent while Creating)
    const source = ctx.emulator.store.get(sourceIdOf(doc) ?? "");
    const osDisk = getPath(doc, ["properties", "storageProfile", "osDiskImage"]) as Json;
    osDisk.sizeInGB ??= source ? osDiskSize(ctx.emulator, source) : 30;
  },
  present(doc, query) {
    if (/replicationstatus/i.test(query.get("$expand") ?? "")) {
      const regions = (getPath(doc, ["properties", "publishingProfile", "targetRegions"]) as Json[] | undefined) ?? [];
      const done = str(getPath(doc, ["properties", "provisioningState"])) === "Succeeded";
      props(doc).replicationStatus = {
        aggregatedState: done ? "Completed" : "InProgress",
        summary: regions.map((r) => ({
          region: r.name,
          state: done ? "Completed" : "Replicating",
          progress: done ? 100 : 0,
        })),
      };
    }
    return doc;
  },
};

function osDiskSize(emu: Emulator, source: ResourceDoc): number {
  if (lower(source.type) === lower(MANAGED_IMAGE)) {
    return Number(getPath(source, ["properties", "storageProfile", "osDisk", "diskSizeGB"]) ?? 30);
  }
  const disk = emu.store.get(str(getPath(source, ["properties", "storageProfile", "osDisk", "managedDisk", "id"])));
  return Number(getPath(disk ?? {}, ["properties", "diskSizeGB"]) ?? 30);
}

/** A managed image captured from a generalized VM ("The operation 'Create Image' requires the Virtual Machine ... to be Generalized"). */
const managedImages: TypeDefinition = {
  type: MANAGED_IMAGE,
  apiVersions: COMPUTE_API,
  tracked: true,
  put: "ao",
  patch: "ao",
  delete: "ao+loc",
  validate(doc, ctx) {
    const vmId = str(getPath(doc, ["properties", "sourceVirtualMachine", "id"]) ?? "");
    if (!vmId) throw invalidParameter("properties.sourceVirtualMachine.id is required.", "sourceVirtualMachine");
    const vm = ctx.emulator.store.get(vmId);
    if (!vm) throw new ArmError(404, "NotFound", `The virtual machine ${vmId} was not found.`);
    if (!ctx.existing && vmOsState(ctx.emulator, vm.id) !== "Generalized") {
      throw new ArmError(
        409,
        "OperationNotAllowed",
        `The operation 'Create Image' requires the Virtual Machine '${vm.name}' to be Generalized.`,
      );
    }
  },
  normalize(doc, ctx) {
    const vm = ctx.emulator.store.get(str(getPath(doc, ["properties", "sourceVirtualMachine", "id"])));
    const p = props(doc);
    p.hyperVGeneration ??= vm ? vmHyperVGeneration(ctx.emulator, vm) : "V1";
    p.storageProfile ??= {
      osDisk: {
        osType: "Linux",
        osState: "Generalized",
        diskSizeGB: vm ? osDiskSize(ctx.emulator, vm) : 30,
        caching: "ReadWrite",
        storageAccountType: "Premium_LRS",
      },
      dataDisks: [],
    };
  },
};

export const GALLERY_TYPES: TypeDefinition[] = [galleries, definitions, versions, managedImages];

/** What a VM is made from, resolved when it is created (a definition means its latest version). */
export type BootImage =
  | { kind: "gallery"; imageVersionId: string; imageDefinitionId: string; version: string; requested: string }
  | { kind: "managedImage"; imageId: string }
  | { kind: "marketplace"; publisher: string; offer: string; sku: string; version: string };

/** A version a VM in `location` can boot from: created, and replicated there. */
function bootable(v: ResourceDoc, location: string): boolean {
  if (str(getPath(v, ["properties", "provisioningState"])) !== "Succeeded") return false;
  const regions = (getPath(v, ["properties", "publishingProfile", "targetRegions"]) as Json[] | undefined) ?? [];
  return regions.some((r) => regionKey(str(r.name)) === regionKey(location));
}

function galleryImageNotFound(id: string, location: string): ArmError {
  return new ArmError(
    404,
    "GalleryImageNotFound",
    `The gallery image ${id} is not available in ${regionKey(location)} region. Please contact image owner to replicate to this region, or change your requested region.`,
  );
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/**
 * The image an `imageReference` names, for a VM in `location`: a gallery image version, a gallery
 * image definition (its newest version not excluded from latest), a managed image, or a marketplace
 * image. Throws ARM's errors for one that does not exist or is not replicated to the region.
 */
export function resolveBootImage(emu: Emulator, imageReference: Json, location: string): BootImage {
  const id = imageReference.id as string | undefined;
  if (!id) {
    const version = str(imageReference.version ?? "latest");
    return {
      kind: "marketplace",
      publisher: str(imageReference.publisher),
      offer: str(imageReference.offer),
      sku: str(imageReference.sku),
      version,
    };
  }
  const target = emu.store.get(id);
  const type = lower(target?.type ?? parseArmPath(id)?.type ?? "");
  if (type === lower(MANAGED_IMAGE)) {
    if (!target) throw new ArmError(404, "NotFound", `The image ${id} was not found.`);
    return { kind: "managedImage", imageId: target.id };
  }
  if (type === lower(VERSION)) {
    if (!target || !bootable(target, location)) throw galleryImageNotFound(id, location);
    return {
      kind: "gallery",
      imageVersionId: target.id,
      imageDefinitionId: target.id.replace(/\/versions\/[^/]+$/i, ""),
      version: target.name,
      requested: id,
    };
  }
  if (type === lower(DEFINITION)) {
    const candidates = target
      ? emu.store
          .children(target.id, VERSION)
          .filter((v) => getPath(v, ["properties", "publishingProfile", "excludeFromLatest"]) !== true)
          .filter((v) => bootable(v, location))
          .sort((a, b) => compareVersions(b.name, a.name))
      : [];
    const latest = candidates[0];
    if (!latest) throw galleryImageNotFound(id, location);
    return {
      kind: "gallery",
      imageVersionId: latest.id,
      imageDefinitionId: target!.id,
      version: latest.name,
      requested: id,
    };
  }
  throw invalidParameter(
    `The image reference ${id} is not a gallery image, an image version or a managed image.`,
    "imageReference.id",
  );
}

/** osState / hyperVGeneration of a gallery image or managed image a VM boots from. */
export function bootImageTraits(
  emu: Emulator,
  image: BootImage,
): { osState: string; hyperVGeneration: "V1" | "V2" } | undefined {
  if (image.kind === "gallery") {
    const d = emu.store.get(image.imageDefinitionId);
    return {
      osState: str(getPath(d ?? {}, ["properties", "osState"]) ?? "Generalized"),
      hyperVGeneration: str(getPath(d ?? {}, ["properties", "hyperVGeneration"]) ?? "V1") as "V1" | "V2",
    };
  }
  if (image.kind === "managedImage") {
    const i = emu.store.get(image.imageId);
    return {
      osState: "Generalized",
      hyperVGeneration: str(getPath(i ?? {}, ["properties", "hyperVGeneration"]) ?? "V1") as "V1" | "V2",
    };
  }
  return undefined;
}
