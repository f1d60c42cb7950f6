// The Azure inventory a connection sync reads: Resource Graph queries over the sources'
// subscriptions (one paged query for the tagged VMs and scale sets, one for the network interfaces
// attached to VMs, one for the stack's virtual network and its peerings), never a GET per VM. Rows
// are checked here: everything in them is set by whoever may tag a VM, so nothing is trusted.
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
  for (const row of nics.rows) {
    const configs = Array.isArray(row.ipConfigurations) ? (row.ipConfigurations as unknown[]) : [];
    const ips = configs.map((c) => {
      const p = (c as { properties?: { privateIPAddress?: unknown; primary?: unknown } } | null)?.properties;
      return { ip: str(p?.privateIPAddress), primary: p?.primary === true };
    });
    const ip = (ips.find((i) => i.primary) ?? ips[0])?.ip ?? "";
    nicRows.push({ vmId: str(row.vmId), primary: row.primary === true, privateIp: ip });
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
    requests: targets.requests + nics.requests + vnet.requests,
  };
}
