// The Azure inventory a connection sync reads: Resource Graph queries over the sources'
// subscriptions (one paged query for the tagged VMs and scale sets, one for the network interfaces
// attached to VMs, one for the stack's virtual network and its peerings, and, when a tagged scale
// set was listed, one for Uniform scale sets' instances and their network interfaces), never a GET
// per VM. Rows are checked here: everything in them is set by whoever may tag a VM, so nothing is
// trusted.
//
// Uniform instances are not in the `resources` table: Resource Graph keeps them, and their NICs, in
// `computeresources` as `microsoft.compute/virtualmachinescalesets/virtualmachines` and
// `.../virtualmachines/networkinterfaces` (https://learn.microsoft.com/azure/governance/resource-graph/reference/supported-tables-resources#computeresources;
// the power state at properties.extended.instanceView.powerState.code, as Microsoft's "Virtual
// Machine Scale Set Uniform orchestration" sample reads it: https://learn.microsoft.com/azure/governance/resource-graph/samples/samples-by-table#computeresources).
// Flexible instances are ordinary VMs in `resources`. What is not documented is not read: whether
// an instance's row carries tags (the scale set's tag is what selects its instances). The
// connection's name is the documented Uniform VM name, `{scale-set-name}_{instance-id}` ("Understand
// names and instance IDs for Azure Virtual Machine Scale Set VMs",
// https://learn.microsoft.com/azure/virtual-machine-scale-sets/virtual-machine-scale-sets-instance-ids),
// built from the id, which ARM sets, rather than taken from the row.
import type { AzureClientFactory } from "../azure/clients";
import { kqlString, queryResourceGraph } from "../azure/resource-graph";
import type { StackSpec } from "../spec/types";
import type { InventoryNic, InventoryScaleSet, InventoryVm } from "./desired";

export interface Inventory {
  vms: InventoryVm[];
  scaleSets: InventoryScaleSet[];
  nics: InventoryNic[];
  /** address prefixes of the stack's VNet's connected peerings */
  peeredPrefixes: string[];
  /** Resource Graph requests (pages) this took */
  requests: number;
}

type Sources = NonNullable<StackSpec["connections"]>["sources"];

/** The KQL of the tagged VMs and scale sets: `tags` kept whole, the tag names are matched here. */
export function targetsQuery(sources: Sources): string {
  const tags = [...new Set(sources.map((s) => s.tag))];
  const tagged = tags.map((t) => `isnotempty(tags[${kqlString(t)}])`).join(" or ");
  return [
    "resources",
    "| where type in~ ('microsoft.compute/virtualmachines', 'microsoft.compute/virtualmachinescalesets')",
    // a scale set's instances are found through the scale set's tag too: they are all listed
    `| where (${tagged}) or type =~ 'microsoft.compute/virtualmachines' and isnotempty(properties.virtualMachineScaleSet.id)`,
    "| project id, name, type, subscriptionId, resourceGroup, tags, scaleSetId = tostring(properties.virtualMachineScaleSet.id), powerState = tostring(properties.extended.instanceView.powerState.code)",
  ].join(" ");
}

export const NICS_QUERY = [
  "resources",
  "| where type =~ 'microsoft.network/networkinterfaces' and isnotempty(properties.virtualMachine.id)",
  "| project id, vmId = tolower(tostring(properties.virtualMachine.id)), primary = properties.primary, ipConfigurations = properties.ipConfigurations",
].join(" ");

/** Uniform scale sets' instances with their power state, and their NICs with their addresses. */
export const UNIFORM_INSTANCES_QUERY = [
  "computeresources",
  "| where type in~ ('microsoft.compute/virtualmachinescalesets/virtualmachines', 'microsoft.compute/virtualmachinescalesets/virtualmachines/networkinterfaces')",
  "| project id, type, subscriptionId, resourceGroup, powerState = tostring(properties.extended.instanceView.powerState.code), primary = properties.primary, ipConfigurations = properties.ipConfigurations",
].join(" ");

const INSTANCE_ID = /^(.*\/virtualmachinescalesets\/([^/]+))\/virtualmachines\/([^/]+)$/i;
const INSTANCE_NIC_ID = /^(.*\/virtualmachinescalesets\/[^/]+\/virtualmachines\/[^/]+)\/networkinterfaces\/[^/]+$/i;

export function vnetQuery(vnetId: string): string {
  return `resources | where type =~ 'microsoft.network/virtualnetworks' and id =~ ${kqlString(vnetId)} | project id, peerings = properties.virtualNetworkPeerings`;
}

const str = (v: unknown) => (typeof v === "string" ? v : "");

/** Reads the inventory of every source (their subscriptions together) and the stack's VNet. */
export async function readInventory(
  factory: AzureClientFactory,
  spec: StackSpec,
  vnetId: string,
  signal?: AbortSignal,
): Promise<Inventory> {
  const sources = spec.connections?.sources ?? [];
  const subscriptions = [...new Set(sources.map((s) => s.subscriptionId.toLowerCase()))];
  const targets = await queryResourceGraph<Record<string, unknown>>(factory, targetsQuery(sources), {
    subscriptions,
    signal,
  });
  const nics = await queryResourceGraph<Record<string, unknown>>(factory, NICS_QUERY, { subscriptions, signal });
  // Uniform instances only ever count through their scale set's tag: no tagged scale set, no query
  const anyScaleSet = targets.rows.some(
    (r) => str(r.type).toLowerCase() === "microsoft.compute/virtualmachinescalesets",
  );
  const uniform = anyScaleSet
    ? await queryResourceGraph<Record<string, unknown>>(factory, UNIFORM_INSTANCES_QUERY, { subscriptions, signal })
    : { rows: [] as Record<string, unknown>[], requests: 0 };
  const vnet = await queryResourceGraph<Record<string, unknown>>(factory, vnetQuery(vnetId), {
    subscriptions: [spec.subscriptionId],
    signal,
  });
  const vms: InventoryVm[] = [];
  const scaleSets: InventoryScaleSet[] = [];
  for (const row of targets.rows) {
    const tags = row.tags !== null && typeof row.tags === "object" && !Array.isArray(row.tags) ? row.tags : {};
    const base = { id: str(row.id), tags: tags as Record<string, unknown> };
    if (str(row.type).toLowerCase() === "microsoft.compute/virtualmachinescalesets") scaleSets.push(base);
    else
      vms.push({
        ...base,
        name: str(row.name),
        subscriptionId: str(row.subscriptionId),
        resourceGroup: str(row.resourceGroup),
        scaleSetId: str(row.scaleSetId),
        powerState: str(row.powerState).replace(/^PowerState\//i, ""),
      });
  }
  const nicRows: InventoryNic[] = [];
  for (const row of nics.rows)
    nicRows.push({ vmId: str(row.vmId), primary: row.primary === true, privateIp: primaryAddress(row) });
  for (const row of uniform.rows) {
    const id = str(row.id);
    if (str(row.type).toLowerCase() === "microsoft.compute/virtualmachinescalesets/virtualmachines") {
      const m = INSTANCE_ID.exec(id);
      vms.push({
        id,
        name: m ? `${m[2]}_${m[3]}` : "",
        subscriptionId: str(row.subscriptionId),
        resourceGroup: str(row.resourceGroup),
        tags: {},
        scaleSetId: m?.[1] ?? "",
        powerState: str(row.powerState).replace(/^PowerState\//i, ""),
      });
    } else {
      // the instance a NIC belongs to is the start of its id (Network Interfaces - Get Virtual Machine
      // Scale Set Network Interface's path), not a property a row might lack
      const m = INSTANCE_NIC_ID.exec(id);
      if (m) nicRows.push({ vmId: m[1].toLowerCase(), primary: row.primary === true, privateIp: primaryAddress(row) });
    }
  }
  const peeredPrefixes: string[] = [];
  for (const row of vnet.rows) {
    for (const peering of Array.isArray(row.peerings) ? (row.peerings as unknown[]) : []) {
      const p = (peering as { properties?: Record<string, unknown> } | null)?.properties ?? {};
      if (str(p.peeringState) !== "Connected") continue;
      const space = p.remoteAddressSpace as { addressPrefixes?: unknown } | undefined;
      for (const prefix of Array.isArray(space?.addressPrefixes) ? space.addressPrefixes : [])
        if (typeof prefix === "string") peeredPrefixes.push(prefix);
    }
  }
  return {
    vms,
    scaleSets,
    nics: nicRows,
    peeredPrefixes,
    requests: targets.requests + nics.requests + uniform.requests + vnet.requests,
  };
}

/** A NIC row's primary IP configuration's private address ("" if none). */
function primaryAddress(row: Record<string, unknown>): string {
  const configs = Array.isArray(row.ipConfigurations) ? (row.ipConfigurations as unknown[]) : [];
  const ips = configs.map((c) => {
    const p = (c as { properties?: { privateIPAddress?: unknown; primary?: unknown } } | null)?.properties;
    return { ip: str(p?.privateIPAddress), primary: p?.primary === true };
  });
  return (ips.find((i) => i.primary) ?? ips[0])?.ip ?? "";
}
