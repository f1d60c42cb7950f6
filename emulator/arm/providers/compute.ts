// Microsoft.Compute: availability sets (sync, 200 only), VMs (identity, NIC and availability-set
// links, OS disk, power state through restart / redeploy / start / powerOff / deallocate / reimage,
// generalize, run command), scale sets whose capacity creates and removes instances (Flexible mode:
// real VM + NIC resources; Uniform mode: the scale set's own `virtualMachines/{instanceId}` children,
// each with its `networkInterfaces/{name}`), and managed disks. A VM (or scale set instance) records the image it booted from
// (`bootImageOf`): a gallery image version, a managed image or a marketplace image.
import { randomBytes, randomUUID } from "node:crypto";
import type { Emulator } from "../emulator";
import { lower, parseArmPath } from "../resource-id";
import { runCommandResultBody, type RunCommandInput } from "../run-command";
import { getPath, str } from "../store";
import {
  ArmError,
  type ActionDefinition,
  type Json,
  type ResourceDoc,
  type TypeDefinition,
  type WriteContext,
} from "../types";
import { arrayAt, COMPUTE_API, idOf, NETWORK_API, props, requireRef, setBackRef, stableGuid } from "./common";
import { bootImageTraits, resolveBootImage, vmOsState, type BootImage } from "./gallery";
import { attachUserAssigned } from "./managed-identity";
import { allocatePrivateIp, SCALE_SET_INSTANCE_NIC } from "./network";

const VM = "Microsoft.Compute/virtualMachines";
const VMSS = "Microsoft.Compute/virtualMachineScaleSets";
const AVSET = "Microsoft.Compute/availabilitySets";
const DISK = "Microsoft.Compute/disks";
const NIC = "Microsoft.Network/networkInterfaces";
const VMSS_VM = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines";

export type PowerState = "running" | "stopped" | "deallocated";
export type VmPowerAction = "restart" | "redeploy" | "start" | "powerOff" | "deallocate" | "reimage";

/** `exactVersion` of a marketplace image asked for as `latest`: the emulator's one published version. */
export const MARKETPLACE_LATEST_VERSION = "1.0.20250114";

/** When the VM was last provisioned from its image (its create or reimage operation ended), epoch ms. */
export function provisionedAtOf(emu: Emulator, vmId: string): number | undefined {
  return emu.store.getSecret(vmId, "provisionedAt") as number | undefined;
}

function provisioned(emu: Emulator, vmId: string): void {
  emu.store.setSecret(vmId, "provisionedAt", Date.now());
  const vm = emu.store.get(vmId);
  if (vm) emu.vmProvisionedHook?.(vm);
}

/** The image a VM booted from, as resolved when it was created (or last reimaged). */
export function bootImageOf(emu: Emulator, vmId: string): BootImage | undefined {
  return emu.store.getSecret(vmId, "bootImage") as BootImage | undefined;
}

/** Actions a generalized VM refuses: it cannot run again (generalize.md). */
const REFUSED_WHEN_GENERALIZED = new Set(["start", "restart", "redeploy", "reimage", "runCommand"]);

function refuseIfGeneralized(emu: Emulator, vm: ResourceDoc, action: string): void {
  if (REFUSED_WHEN_GENERALIZED.has(action) && vmOsState(emu, vm.id) === "Generalized") {
    throw new ArmError(
      409,
      "OperationNotAllowed",
      `Operation '${action}' is not allowed on VM '${vm.name}' since the VM is generalized.`,
    );
  }
}

/** Marketplace images are Gen2 unless their SKU says gen1 (Ubuntu 24.04's `server` is Gen2, `server-gen1` Gen1). */
function marketplaceGeneration(sku: string): "V1" | "V2" {
  return /gen1/i.test(sku) ? "V1" : "V2";
}

/** Power state and action counters live beside the document (they are instance-view data, not model). */
export function powerStateOf(emu: Emulator, vmId: string): PowerState {
  return (emu.store.getSecret(vmId, "powerState") as PowerState | undefined) ?? "running";
}

export function actionCount(emu: Emulator, vmId: string, action: string): number {
  return (emu.store.getSecret(vmId, `count.${action}`) as number | undefined) ?? 0;
}

function bump(emu: Emulator, vmId: string, action: string): void {
  emu.store.setSecret(vmId, `count.${action}`, actionCount(emu, vmId, action) + 1);
}

function setPower(emu: Emulator, vmId: string, state: PowerState): void {
  emu.store.setSecret(vmId, "powerState", state);
}

const availabilitySets: TypeDefinition = {
  type: AVSET,
  apiVersions: COMPUTE_API,
  tracked: true,
  put: "sync",
  createStatus: 200,
  delete: "sync",
  provisioningState: false,
  validate(doc) {
    const fd = getPath(doc, ["properties", "platformFaultDomainCount"]);
    if (fd !== undefined && (!Number.isInteger(fd) || (fd as number) < 1 || (fd as number) > 3)) {
      throw new ArmError(400, "InvalidParameter", "The specified fault domain count must fall in the range 1 to 3.", {
        target: "platformFaultDomainCount",
      });
    }
  },
  normalize(doc, ctx) {
    const p = props(doc);
    p.platformFaultDomainCount ??= 2;
    p.platformUpdateDomainCount ??= 5;
    doc.sku ??= { name: "Classic" }; // as recorded: an availability set without a sku answers sku.name Classic
    const vms = getPath(ctx.existing ?? { properties: {} }, ["properties", "virtualMachines"]);
    if (vms) p.virtualMachines = vms;
  },
  beforeDelete(doc) {
    if (arrayAt(doc, "properties", "virtualMachines").length > 0) {
      throw new ArmError(
        409,
        "OperationNotAllowed",
        `Availability set ${doc.name} cannot be deleted. Before deleting an availability set please ensure that it does not contain any VM.`,
      );
    }
  },
};

function stateChange(action: VmPowerAction, state: PowerState, needsRunning = false): ActionDefinition {
  return {
    start({ emulator, doc }) {
      refuseIfGeneralized(emulator, doc, action);
      // a VM made from a gallery image definition is reimaged from its latest version
      const image =
        action === "reimage" && getPath(doc, ["properties", "storageProfile", "imageReference"])
          ? resolveBootImage(
              emulator,
              getPath(doc, ["properties", "storageProfile", "imageReference"]) as Json,
              str(doc.location),
            )
          : undefined;
      if (needsRunning && powerStateOf(emulator, doc.id) !== "running") {
        throw new ArmError(
          409,
          "OperationNotAllowed",
          `Operation '${action}' is not allowed on VM '${doc.name}' since the VM is ${powerStateOf(emulator, doc.id)}.`,
        );
      }
      const hook = emulator.vmPowerHook;
      return {
        // what runs in the VM follows the action before the operation completes
        ...(hook ? { work: Promise.resolve(hook(doc, action)).then(() => ({})) } : {}),
        commit: () => {
          bump(emulator, doc.id, action);
          setPower(emulator, doc.id, state);
          if (image) recordBootImage(emulator, doc.id, image);
          if (action === "reimage") provisioned(emulator, doc.id);
        },
      };
    },
  };
}

function recordBootImage(emu: Emulator, vmId: string, image: BootImage): void {
  emu.store.setSecret(vmId, "bootImage", image);
  const vm = emu.store.get(vmId);
  const ref = vm ? (getPath(vm, ["properties", "storageProfile", "imageReference"]) as Json | undefined) : undefined;
  if (ref && image.kind === "gallery") ref.exactVersion = image.version;
}

/** POST generalize: 200 at once (not a long-running operation); the VM must not be running. */
const generalize: ActionDefinition = {
  style: "sync",
  start({ emulator, doc }) {
    const power = powerStateOf(emulator, doc.id);
    if (power === "running") {
      throw new ArmError(
        409,
        "OperationNotAllowed",
        `Operation 'generalize' is not allowed on VM '${doc.name}' since the VM is running. Stop or deallocate the VM first.`,
      );
    }
    return {
      commit: () => {
        bump(emulator, doc.id, "generalize");
        emulator.store.setSecret(doc.id, "osState", "Generalized");
      },
    };
  },
};

const runCommandsInFlight = new WeakMap<Emulator, Set<string>>();

const runCommand: ActionDefinition = {
  start({ emulator, doc, body }) {
    refuseIfGeneralized(emulator, doc, "runCommand");
    if (powerStateOf(emulator, doc.id) !== "running") {
      throw new ArmError(
        409,
        "OperationNotAllowed",
        `The operation requires the VM to be running (or set to run). VM '${doc.name}' is ${powerStateOf(emulator, doc.id)}.`,
      );
    }
    const b = (body ?? {}) as Json;
    if (b.commandId !== "RunShellScript" || !Array.isArray(b.script)) {
      throw new ArmError(400, "InvalidParameter", "The emulator runs only commandId 'RunShellScript' with a script.", {
        target: "commandId",
      });
    }
    const inFlight = runCommandsInFlight.get(emulator) ?? new Set<string>();
    runCommandsInFlight.set(emulator, inFlight);
    if (inFlight.has(lower(doc.id))) {
      throw new ArmError(
        409,
        "Conflict",
        "Run command extension execution is in progress. Please wait for completion before invoking a run command.",
      );
    }
    inFlight.add(lower(doc.id));
    const input: RunCommandInput = {
      commandId: "RunShellScript",
      script: (b.script as unknown[]).map(String),
      parameters: Array.isArray(b.parameters)
        ? (b.parameters as Json[]).map((p) => ({
            name: typeof p.name === "string" ? p.name : undefined,
            value: str(p.value ?? ""),
          }))
        : [],
    };
    bump(emulator, doc.id, "runCommand");
    const work = emulator.runCommand
      .run(doc, input)
      .then((raw) => ({ result: runCommandResultBody(raw) }))
      .finally(() => inFlight.delete(lower(doc.id)));
    return { work };
  },
};

const virtualMachines: TypeDefinition = {
  type: VM,
  apiVersions: COMPUTE_API,
  tracked: true,
  put: "ao",
  patch: "ao",
  delete: "ao+loc",
  writeOnly: [
    ["properties", "osProfile", "adminPassword"],
    ["properties", "osProfile", "customData"],
  ],
  validate(doc, ctx) {
    const p = props(doc);
    if (!getPath(p, ["hardwareProfile", "vmSize"])) throw required("hardwareProfile.vmSize");
    if (!p.storageProfile) throw required("storageProfile");
    const attach = lower(str(getPath(p, ["storageProfile", "osDisk", "createOption"]) ?? "FromImage")) === "attach";
    if (!ctx.existing && !attach) {
      const ref = getPath(p, ["storageProfile", "imageReference"]) as Json | undefined;
      if (!ref) throw required("storageProfile.imageReference");
      const image = resolveBootImage(ctx.emulator, ref, str(doc.location));
      if (bootImageTraits(ctx.emulator, image)?.osState === "Specialized") {
        // a specialized image keeps its users and host name: no OS profile (GalleryImageVersion docs)
        if (p.osProfile)
          throw new ArmError(400, "InvalidParameter", "Parameter 'osProfile' is not allowed.", { target: "osProfile" });
      } else {
        if (!getPath(p, ["osProfile", "adminUsername"])) throw required("osProfile.adminUsername");
        if (!getPath(p, ["osProfile", "computerName"])) throw required("osProfile.computerName");
      }
    }
    const nics = arrayAt(p, "networkProfile", "networkInterfaces");
    if (nics.length === 0) throw required("networkProfile.networkInterfaces");
    for (const n of nics) {
      const nic = requireRef(ctx.emulator, idOf(n), doc, "networkInterface");
      const owner = idOf(getPath(nic, ["properties", "virtualMachine"]));
      if (owner && lower(owner) !== lower(doc.id) && ctx.emulator.store.get(owner)) {
        throw new ArmError(
          400,
          "NicInUse",
          `Network interface ${nic.id} is already attached to virtual machine ${owner}.`,
        );
      }
    }
    const avset = idOf(p.availabilitySet);
    if (avset) {
      requireRef(ctx.emulator, avset, doc, "availabilitySet");
      if (Array.isArray(doc.zones) && doc.zones.length > 0) {
        throw new ArmError(
          400,
          "InvalidParameter",
          "Virtual Machine cannot be in an availability set and an availability zone at the same time.",
        );
      }
    }
    const vmss = idOf(p.virtualMachineScaleSet);
    if (vmss) {
      const set = requireRef(ctx.emulator, vmss, doc, "virtualMachineScaleSet");
      if (lower(str(getPath(set, ["properties", "orchestrationMode"]))) !== "flexible") {
        throw new ArmError(400, "InvalidParameter", "Only Flexible scale sets accept standalone virtual machines.");
      }
    }
    if (ctx.existing) {
      const oldSet = idOf(getPath(ctx.existing, ["properties", "availabilitySet"]));
      if (lower(oldSet ?? "") !== lower(avset ?? "")) {
        throw new ArmError(
          409,
          "OperationNotAllowed",
          "Changing the availability set of a VM is not allowed. Delete and recreate the VM.",
        );
      }
    }
  },
  normalize(doc, ctx) {
    const p = props(doc);
    const old = ctx.existing ? props(ctx.existing) : {};
    p.vmId = old.vmId ?? randomUUID();
    p.timeCreated = old.timeCreated ?? new Date().toISOString();
    const osDisk = (getPath(p, ["storageProfile", "osDisk"]) ?? {}) as Json;
    (p.storageProfile as Json).osDisk = osDisk;
    const oldDisk = getPath(old, ["storageProfile", "osDisk"]) as Json | undefined;
    osDisk.name ??= oldDisk?.name ?? `${doc.name}_OsDisk_1_${randomBytes(16).toString("hex")}`;
    osDisk.osType ??= "Linux";
    osDisk.caching ??= "ReadWrite";
    osDisk.deleteOption ??= "Detach";
    const rg = parseArmPath(doc.id)!;
    osDisk.managedDisk = {
      ...(osDisk.managedDisk ?? {}),
      id: `/subscriptions/${rg.subscription}/resourceGroups/${rg.resourceGroup}/providers/Microsoft.Compute/disks/${str(osDisk.name)}`,
    };
    // which image version the VM boots from (read-only; it differs from `version` only for `latest`)
    const ref = getPath(p, ["storageProfile", "imageReference"]) as Json | undefined;
    const oldRef = getPath(old, ["storageProfile", "imageReference"]) as Json | undefined;
    if (ref && oldRef?.exactVersion !== undefined) ref.exactVersion = oldRef.exactVersion;
    else if (ref && !ctx.existing) {
      const image = resolveBootImage(ctx.emulator, ref, str(doc.location));
      if (image.kind === "gallery") ref.exactVersion = image.version;
      else if (image.kind === "marketplace") {
        ref.exactVersion = image.version === "latest" ? MARKETPLACE_LATEST_VERSION : image.version;
      }
    }
    if (doc.identity && typeof doc.identity === "object") {
      const id = doc.identity as Json;
      if (/systemassigned/i.test(str(id.type))) {
        id.principalId =
          getPath(ctx.existing ?? {}, ["identity", "principalId"]) ?? stableGuid(`${lower(doc.id)}#${str(p.vmId)}`);
        id.tenantId = ctx.emulator.tenantId;
      }
      attachUserAssigned(ctx.emulator, doc);
    }
  },
  afterCommit(doc, ctx) {
    const emu = ctx.emulator;
    const p = props(doc);
    if (!ctx.existing) {
      setPower(emu, doc.id, "running");
      const ref = getPath(p, ["storageProfile", "imageReference"]) as Json | undefined;
      if (ref) {
        const image = resolveBootImage(emu, ref, str(doc.location));
        emu.store.setSecret(doc.id, "bootImage", image);
        emu.store.setSecret(
          doc.id,
          "hyperVGeneration",
          bootImageTraits(emu, image)?.hyperVGeneration ??
            (image.kind === "marketplace" ? marketplaceGeneration(image.sku) : "V1"),
        );
      }
      provisioned(emu, doc.id);
    }
    for (const n of arrayAt(p, "networkProfile", "networkInterfaces")) {
      const nic = emu.store.get(idOf(n)!);
      if (nic) props(nic).virtualMachine = { id: doc.id };
    }
    const avset = idOf(p.availabilitySet);
    const set = avset ? emu.store.get(avset) : undefined;
    if (set)
      props(set).virtualMachines = setBackRef(
        arrayAt(set, "properties", "virtualMachines"),
        doc.id.toUpperCase(),
        true,
      );
    const diskId = str(getPath(p, ["storageProfile", "osDisk", "managedDisk", "id"]));
    if (!emu.store.get(diskId)) {
      emu.store.set({
        id: diskId,
        name: diskId.split("/").pop()!,
        type: DISK,
        location: doc.location,
        tags: doc.tags,
        ...(Array.isArray(doc.zones) ? { zones: doc.zones } : {}),
        managedBy: doc.id,
        sku: { name: "Premium_LRS", tier: "Premium" },
        properties: {
          osType: "Linux",
          diskSizeGB: 30,
          diskState: "Attached",
          provisioningState: "Succeeded",
          timeCreated: new Date().toISOString(),
        },
      });
    }
  },
  afterDelete(doc, emu) {
    // what ran inside the VM goes with it: its Run Command sandbox is forgotten, the hook stops it
    emu.runCommand.forgetVm(doc);
    void Promise.resolve(emu.vmDeleteHook?.(doc)).catch(() => undefined);
    const p = props(doc);
    for (const n of arrayAt(p, "networkProfile", "networkInterfaces")) {
      const nic = emu.store.get(idOf(n)!);
      if (!nic) continue;
      delete props(nic).virtualMachine;
      if (lower(str(getPath(n, ["properties", "deleteOption"]) ?? "")) === "delete") emu.deleteCascade(nic.id);
    }
    const set = emu.store.get(idOf(p.availabilitySet) ?? "");
    if (set) props(set).virtualMachines = setBackRef(arrayAt(set, "properties", "virtualMachines"), doc.id, false);
    const disk = emu.store.get(str(getPath(p, ["storageProfile", "osDisk", "managedDisk", "id"])));
    if (disk) {
      if (lower(str(getPath(p, ["storageProfile", "osDisk", "deleteOption"]))) === "delete") emu.deleteCascade(disk.id);
      else {
        delete disk.managedBy;
        props(disk).diskState = "Unattached";
      }
    }
  },
  present(doc, query, emu) {
    if (/instanceview/i.test(query.get("$expand") ?? "")) props(doc).instanceView = instanceView(doc, emu);
    return doc;
  },
  views: { instanceview: (doc, emu) => instanceView(doc, emu) },
  actions: {
    restart: stateChange("restart", "running", true),
    redeploy: stateChange("redeploy", "running"),
    start: stateChange("start", "running"),
    poweroff: stateChange("powerOff", "stopped"),
    deallocate: stateChange("deallocate", "deallocated"),
    reimage: stateChange("reimage", "running"),
    generalize,
    runcommand: runCommand,
  },
};

function instanceView(doc: ResourceDoc, emu: Emulator): Json {
  const power = powerStateOf(emu, doc.id);
  const display = { running: "VM running", stopped: "VM stopped", deallocated: "VM deallocated" }[power];
  const generalized = vmOsState(emu, doc.id) === "Generalized";
  return {
    computerName: getPath(doc, ["properties", "osProfile", "computerName"]),
    osName: "ubuntu",
    osVersion: "24.04",
    hyperVGeneration: emu.store.getSecret(doc.id, "hyperVGeneration") ?? "V2",
    vmAgent: {
      vmAgentVersion: "2.9.1.1",
      statuses: [
        {
          code: "ProvisioningState/succeeded",
          level: "Info",
          displayStatus: power === "running" ? "Ready" : "Not Ready",
          time: new Date().toISOString(),
        },
      ],
    },
    statuses: [
      {
        code: `ProvisioningState/${lower(str(getPath(doc, ["properties", "provisioningState"]) ?? "succeeded"))}`,
        level: "Info",
        displayStatus: "Provisioning succeeded",
        time: new Date().toISOString(),
      },
      ...(generalized ? [{ code: "OSState/generalized", level: "Info", displayStatus: "VM generalized" }] : []),
      { code: `PowerState/${power}`, level: "Info", displayStatus: display },
    ],
  };
}

function required(field: string): ArmError {
  return new ArmError(400, "InvalidParameter", `Required parameter '${field}' is missing (null).`, { target: field });
}

// ------------------------------------------------------------------------------- scale sets

function isUniform(vmss: ResourceDoc): boolean {
  return lower(str(getPath(vmss, ["properties", "orchestrationMode"]) ?? "")) === "uniform";
}

/** A scale set's instances: Flexible mode's VMs, or Uniform mode's children by instance id. */
function scaleSetVms(emu: Emulator, vmss: ResourceDoc): ResourceDoc[] {
  if (isUniform(vmss)) {
    const prefix = `${lower(vmss.id)}/virtualmachines/`;
    return emu.store
      .all()
      .filter((d) => lower(d.type) === lower(VMSS_VM) && lower(d.id).startsWith(prefix))
      .sort((a, b) => Number(a.instanceId) - Number(b.instanceId));
  }
  return emu.store
    .all()
    .filter(
      (d) =>
        lower(d.type) === lower(VM) &&
        lower(idOf(getPath(d, ["properties", "virtualMachineScaleSet"])) ?? "") === lower(vmss.id),
    )
    .sort(
      (a, b) =>
        str(getPath(a, ["properties", "timeCreated"])).localeCompare(str(getPath(b, ["properties", "timeCreated"]))) ||
        a.name.localeCompare(b.name),
    );
}

/** Creates one VM (and its NIC) from the scale set's profile, the way the platform does in Flexible mode. */
function createInstance(emu: Emulator, vmss: ResourceDoc): void {
  const profile = getPath(vmss, ["properties", "virtualMachineProfile"]) as Json;
  const p = parseArmPath(vmss.id)!;
  const rgId = `/subscriptions/${p.subscription}/resourceGroups/${p.resourceGroup}`;
  const suffix = randomBytes(4).toString("hex");
  const vmName = `${vmss.name}_${suffix}`;
  const nicIds: Json[] = [];
  for (const cfg of arrayAt(profile, "networkProfile", "networkInterfaceConfigurations")) {
    const nicName = `${vmss.name}_${suffix}-${str(cfg.name)}`;
    const nic: ResourceDoc = {
      id: `${rgId}/providers/Microsoft.Network/networkInterfaces/${nicName}`,
      name: nicName,
      type: NIC,
      location: vmss.location,
      tags: vmss.tags,
      properties: {
        ipConfigurations: arrayAt(cfg, "properties", "ipConfigurations").map((ipc) => ({
          name: ipc.name,
          properties: {
            subnet: getPath(ipc, ["properties", "subnet"]),
            loadBalancerBackendAddressPools: getPath(ipc, ["properties", "loadBalancerBackendAddressPools"]) ?? [],
            primary: getPath(ipc, ["properties", "primary"]),
          },
        })),
        networkSecurityGroup: getPath(cfg, ["properties", "networkSecurityGroup"]),
      },
    };
    if (!nic.properties.networkSecurityGroup) delete nic.properties.networkSecurityGroup;
    internalCreate(emu, nic);
    nicIds.push({
      id: nic.id,
      properties: { primary: getPath(cfg, ["properties", "primary"]) ?? nicIds.length === 0, deleteOption: "Delete" },
    });
  }
  const prefix = str(getPath(profile, ["osProfile", "computerNamePrefix"]) ?? vmss.name);
  const vm: ResourceDoc = {
    id: `${rgId}/providers/Microsoft.Compute/virtualMachines/${vmName}`,
    name: vmName,
    type: VM,
    location: vmss.location,
    tags: vmss.tags,
    ...(Array.isArray(vmss.zones)
      ? { zones: [(vmss.zones as string[])[scaleSetVms(emu, vmss).length % (vmss.zones as string[]).length]] }
      : {}),
    // an instance carries its scale set's identities (a Flexible scale set has user-assigned ones only)
    ...(vmss.identity ? { identity: structuredClone(vmss.identity) } : {}),
    properties: {
      virtualMachineScaleSet: { id: vmss.id },
      hardwareProfile: { vmSize: getPath(vmss, ["sku", "name"]) },
      storageProfile: {
        ...structuredClone(profile.storageProfile ?? {}),
        osDisk: { createOption: "FromImage", deleteOption: "Delete" },
      },
      osProfile: {
        computerName: `${prefix}${suffix}`,
        adminUsername: getPath(profile, ["osProfile", "adminUsername"]) ?? "azureuser",
        linuxConfiguration: getPath(profile, ["osProfile", "linuxConfiguration"]),
      },
      networkProfile: { networkInterfaces: nicIds },
    },
  };
  const customData = emu.store.getSecret(vmss.id, "properties.virtualMachineProfile.osProfile.customData");
  if (customData !== undefined) emu.store.setSecret(vm.id, "properties.osProfile.customData", customData);
  internalCreate(emu, vm);
}

/**
 * Creates one Uniform instance: the scale set's child `virtualMachines/{instanceId}`, named
 * `{scale-set-name}_{instance-id}` with a decimal instance id ("Understand names and instance IDs for
 * Azure Virtual Machine Scale Set VMs", https://learn.microsoft.com/azure/virtual-machine-scale-sets/virtual-machine-scale-sets-instance-ids;
 * Azure may reuse an id, the emulator counts up) with, per NIC configuration of the profile, a child
 * `networkInterfaces/{configuration name}` holding the address the subnet gave it. The shapes are
 * the Virtual Machine Scale Set VMs - Get and Network Interfaces - Get Virtual Machine Scale Set
 * Network Interface responses (https://learn.microsoft.com/rest/api/compute/virtual-machine-scale-set-vms/get,
 * https://learn.microsoft.com/rest/api/virtualnetwork/network-interfaces/get-virtual-machine-scale-set-network-interface);
 * no tags are set on them, since the documentation does not say an instance carries any.
 */
function createUniformInstance(emu: Emulator, vmss: ResourceDoc): void {
  const profile = getPath(vmss, ["properties", "virtualMachineProfile"]) as Json;
  const next = (emu.store.getSecret(vmss.id, "nextInstanceId") as number | undefined) ?? 0;
  emu.store.setSecret(vmss.id, "nextInstanceId", next + 1);
  const id = `${vmss.id}/virtualMachines/${next}`;
  const nics: Json[] = [];
  for (const [i, cfg] of arrayAt(profile, "networkProfile", "networkInterfaceConfigurations").entries()) {
    const nicId = `${id}/networkInterfaces/${str(cfg.name)}`;
    const primary = getPath(cfg, ["properties", "primary"]) ?? i === 0;
    const nic: ResourceDoc = {
      id: nicId,
      name: str(cfg.name),
      type: SCALE_SET_INSTANCE_NIC,
      location: vmss.location,
      properties: {
        provisioningState: "Succeeded",
        primary,
        ipConfigurations: arrayAt(cfg, "properties", "ipConfigurations").map((ipc, j) => {
          const subnet = getPath(ipc, ["properties", "subnet"]);
          return {
            name: ipc.name,
            id: `${nicId}/ipConfigurations/${str(ipc.name)}`,
            properties: {
              privateIPAddress: allocatePrivateIp(emu, str(idOf(subnet)), nicId),
              privateIPAllocationMethod: "Dynamic",
              privateIPAddressVersion: "IPv4",
              subnet,
              primary: getPath(ipc, ["properties", "primary"]) ?? j === 0,
            },
          };
        }),
        virtualMachine: { id },
      },
    };
    emu.store.set(nic);
    nics.push({ id: nicId, properties: { primary } });
  }
  const prefix = str(getPath(profile, ["osProfile", "computerNamePrefix"]) ?? vmss.name);
  const instance: ResourceDoc = {
    id,
    name: `${vmss.name}_${next}`,
    type: VMSS_VM,
    location: vmss.location,
    instanceId: String(next),
    sku: { name: getPath(vmss, ["sku", "name"]), tier: "Standard" },
    ...(Array.isArray(vmss.zones) ? { zones: [(vmss.zones as string[])[next % (vmss.zones as string[]).length]] } : {}),
    properties: {
      latestModelApplied: true,
      vmId: randomUUID(),
      hardwareProfile: {},
      osProfile: {
        // the emulator's choice (the prefix and the instance id in base 36): nothing reads it
        computerName: `${prefix}${next.toString(36).padStart(6, "0")}`,
        adminUsername: getPath(profile, ["osProfile", "adminUsername"]) ?? "azureuser",
      },
      networkProfile: { networkInterfaces: nics },
      provisioningState: "Succeeded",
    },
  };
  emu.store.set(instance);
}

/** Runs a type's validate/normalize/afterCommit for a resource the platform itself creates. */
function internalCreate(emu: Emulator, doc: ResourceDoc): void {
  const def = emu.types.get(doc.type)!;
  const ctx: WriteContext = { emulator: emu, query: new URLSearchParams() };
  def.validate?.(doc, ctx);
  void def.normalize?.(doc, ctx);
  props(doc).provisioningState = "Succeeded";
  emu.store.set(doc);
  def.afterCommit?.(doc, ctx);
}

function reconcileCapacity(emu: Emulator, vmss: ResourceDoc): void {
  const want = Number(getPath(vmss, ["sku", "capacity"]) ?? 0);
  let have = scaleSetVms(emu, vmss);
  while (have.length < want) {
    if (isUniform(vmss)) createUniformInstance(emu, vmss);
    else createInstance(emu, vmss);
    have = scaleSetVms(emu, vmss);
  }
  // scale-in removes the newest instances first (Uniform: the highest instance ids)
  for (const vm of have.slice(want).reverse()) emu.deleteCascade(vm.id);
}

function instanceIds(emu: Emulator, vmss: ResourceDoc, body: unknown): ResourceDoc[] {
  const ids = Array.isArray((body as Json | undefined)?.instanceIds)
    ? ((body as Json).instanceIds as unknown[]).map(String)
    : undefined;
  const vms = scaleSetVms(emu, vmss);
  if (!ids) return vms;
  return ids.map((id) => {
    const vm = vms.find((v) => lower(v.name) === lower(id) || lower(v.id) === lower(id) || v.instanceId === id);
    if (!vm)
      throw new ArmError(
        400,
        "InvalidParameter",
        `Instance id '${id}' is not a virtual machine of scale set ${vmss.name}.`,
        { target: "instanceIds" },
      );
    return vm;
  });
}

function scaleSetAction(action: string, state: PowerState): ActionDefinition {
  return {
    start({ emulator, doc, body }) {
      const vms = instanceIds(emulator, doc, body);
      return {
        commit: () => {
          for (const vm of vms) {
            bump(emulator, vm.id, action);
            setPower(emulator, vm.id, state);
            if (action === "reimage") provisioned(emulator, vm.id);
          }
        },
      };
    },
  };
}

const virtualMachineScaleSets: TypeDefinition = {
  type: VMSS,
  apiVersions: COMPUTE_API,
  tracked: true,
  put: "ao",
  patch: "ao",
  delete: "ao+loc",
  writeOnly: [
    ["properties", "virtualMachineProfile", "osProfile", "adminPassword"],
    ["properties", "virtualMachineProfile", "osProfile", "customData"],
  ],
  validate(doc, ctx) {
    const p = props(doc);
    const mode = lower(str(p.orchestrationMode ?? ""));
    if (mode !== "flexible" && mode !== "uniform") {
      throw new ArmError(
        400,
        "InvalidParameter",
        "The emulator models the Flexible and Uniform orchestration modes; set properties.orchestrationMode to one of them.",
        { target: "orchestrationMode" },
      );
    }
    const existingMode = lower(str(getPath(ctx.existing ?? {}, ["properties", "orchestrationMode"]) ?? mode));
    if (existingMode !== mode) {
      throw new ArmError(400, "PropertyChangeNotAllowed", "Changing property 'orchestrationMode' is not allowed.", {
        target: "orchestrationMode",
      });
    }
    // Flexible orchestration takes user-assigned identities only; ARM's own words for anything else
    const identityType = str(getPath(doc, ["identity", "type"]) ?? "");
    if (mode === "flexible" && /systemassigned/i.test(identityType)) {
      throw new ArmError(
        400,
        "InvalidParameter",
        `The value '${identityType}' of parameter 'identity' is not allowed. Allowed values are: UserAssigned, None.`,
        { target: "identity" },
      );
    }
    if (mode === "flexible" && p.platformFaultDomainCount === undefined) throw required("platformFaultDomainCount");
    const capacity = Number(getPath(doc, ["sku", "capacity"]) ?? 0);
    if (!Number.isInteger(capacity) || capacity < 0 || capacity > 1000) {
      throw new ArmError(400, "InvalidParameter", "sku.capacity must be an integer from 0 to 1000.", {
        target: "sku.capacity",
      });
    }
    if (capacity > 0) {
      if (!p.virtualMachineProfile) throw required("virtualMachineProfile");
      if (!getPath(doc, ["sku", "name"])) throw required("sku.name");
    }
    // the profile's image must exist where the set is (a gallery image replicated to its region)
    const ref = getPath(p, ["virtualMachineProfile", "storageProfile", "imageReference"]) as Json | undefined;
    if (ref) resolveBootImage(ctx.emulator, ref, str(doc.location));
    // ARM checks the profile's subnet and backend pools when the scale set is written
    for (const cfg of arrayAt(p, "virtualMachineProfile", "networkProfile", "networkInterfaceConfigurations")) {
      for (const ipc of arrayAt(cfg, "properties", "ipConfigurations")) {
        requireRef(ctx.emulator, idOf(getPath(ipc, ["properties", "subnet"])), doc, "subnet");
        for (const pool of arrayAt(ipc, "properties", "loadBalancerBackendAddressPools"))
          requireRef(ctx.emulator, idOf(pool), doc, "backend pool");
      }
    }
  },
  normalize(doc, ctx) {
    const p = props(doc);
    p.uniqueId = getPath(ctx.existing ?? {}, ["properties", "uniqueId"]) ?? randomUUID();
    p.timeCreated = getPath(ctx.existing ?? {}, ["properties", "timeCreated"]) ?? new Date().toISOString();
    attachUserAssigned(ctx.emulator, doc);
  },
  afterCommit(doc, ctx) {
    reconcileCapacity(ctx.emulator, doc);
  },
  afterDelete(doc, emu) {
    for (const vm of scaleSetVms(emu, doc)) emu.deleteCascade(vm.id);
  },
  actions: {
    delete: {
      start({ emulator, doc, body }) {
        const vms = instanceIds(emulator, doc, body);
        if (!Array.isArray((body as Json | undefined)?.instanceIds)) throw required("instanceIds");
        return {
          commit: () => {
            for (const vm of vms) emulator.deleteCascade(vm.id);
            const cur = emulator.store.get(doc.id);
            if (cur && cur.sku && typeof cur.sku === "object")
              (cur.sku as Json).capacity = scaleSetVms(emulator, cur).length;
          },
        };
      },
    },
    reimage: scaleSetAction("reimage", "running"),
    reimageall: scaleSetAction("reimage", "running"),
    restart: scaleSetAction("restart", "running"),
    redeploy: scaleSetAction("redeploy", "running"),
    start: scaleSetAction("start", "running"),
    poweroff: scaleSetAction("powerOff", "stopped"),
    deallocate: scaleSetAction("deallocate", "deallocated"),
    manualupgrade: scaleSetAction("manualUpgrade", "running"),
  },
};

/**
 * A Uniform scale set's instance and its NIC: made and removed by the scale set's capacity and
 * `delete` action (deleteInstances) only, so no PUT; listed by Resource Graph's `computeresources`.
 */
const scaleSetInstances: TypeDefinition = {
  type: VMSS_VM,
  apiVersions: COMPUTE_API,
  canPut: false,
  delete: "ao+loc",
  provisioningState: false,
  // Virtual Machine Scale Set VMs - Delete: the scale set's capacity drops by one
  afterDelete(doc, emu) {
    const vmss = emu.store.get(doc.id.replace(/\/virtualMachines\/[^/]+$/i, ""));
    if (vmss && vmss.sku && typeof vmss.sku === "object") (vmss.sku as Json).capacity = scaleSetVms(emu, vmss).length;
  },
};

const scaleSetInstanceNics: TypeDefinition = {
  type: SCALE_SET_INSTANCE_NIC,
  apiVersions: NETWORK_API,
  canPut: false,
  provisioningState: false,
};

const disks: TypeDefinition = {
  type: DISK,
  apiVersions: ["2025-01-02", "2024-03-02", "2023-10-02", "2023-04-02"],
  tracked: true,
  put: "ao",
  patch: "ao",
  delete: "ao+loc",
  beforeDelete(doc) {
    if (doc.managedBy)
      throw new ArmError(409, "OperationNotAllowed", `Disk ${doc.name} is attached to VM ${str(doc.managedBy)}.`);
  },
};

export const COMPUTE_TYPES: TypeDefinition[] = [
  availabilitySets,
  virtualMachines,
  virtualMachineScaleSets,
  scaleSetInstances,
  scaleSetInstanceNics,
  disks,
];
export { VM, VMSS, VMSS_VM };
