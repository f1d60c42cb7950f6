// Microsoft.Network: virtual networks (inline subnets with delegations), NSGs, public IPs (DNS label
// -> FQDN), load balancers (inline pools, probes, rules) and NICs, with the back-references ARM keeps
// (subnet <- ipConfigurations, pool <- backendIPConfigurations) and its in-use refusals.
import {
  cidrContains,
  cidrOverlaps,
  firstFreeAzureAddress,
  formatIpv4,
  parseCidr,
  parseIpv4,
  type Cidr,
} from "../../../shared/ipv4";
import type { Emulator } from "../emulator";
import { lower } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type Json, type ResourceDoc, type TypeDefinition } from "../types";
import {
  arrayAt,
  idOf,
  NETWORK_API,
  normalizeChildren,
  pairedRegion,
  props,
  regionKey,
  requireRef,
  resolve,
  setBackRef,
} from "./common";

const VNET = "Microsoft.Network/virtualNetworks";
const NIC = "Microsoft.Network/networkInterfaces";
const LB = "Microsoft.Network/loadBalancers";

const DEFAULT_NSG_RULES: [string, string, number, string, string, string][] = [
  ["AllowVnetInBound", "Inbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow"],
  ["AllowAzureLoadBalancerInBound", "Inbound", 65001, "AzureLoadBalancer", "*", "Allow"],
  ["DenyAllInBound", "Inbound", 65500, "*", "*", "Deny"],
  ["AllowVnetOutBound", "Outbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow"],
  ["AllowInternetOutBound", "Outbound", 65001, "*", "Internet", "Allow"],
  ["DenyAllOutBound", "Outbound", 65500, "*", "*", "Deny"],
];

function cidr(text: unknown, what: string): Cidr {
  const c = typeof text === "string" ? parseCidr(text) : undefined;
  if (!c)
    throw new ArmError(
      400,
      "InvalidAddressPrefixFormat",
      `Address prefix ${str(text)} of ${what} does not have a valid format.`,
    );
  return c;
}

const virtualNetworks: TypeDefinition = {
  type: VNET,
  apiVersions: NETWORK_API,
  tracked: true,
  put: "ao",
  delete: "ao+loc",
  inlineChildren: { subnets: "subnets" },
  validate(doc, ctx) {
    const space = arrayAt(doc, "properties", "addressSpace", "addressPrefixes") as unknown as string[];
    if (!Array.isArray(getPath(doc, ["properties", "addressSpace", "addressPrefixes"])) || space.length === 0) {
      throw new ArmError(
        400,
        "InvalidRequestFormat",
        "Cannot parse the request: addressSpace.addressPrefixes is required.",
      );
    }
    const blocks = space.map((s) => cidr(s, doc.name));
    const subnets = arrayAt(doc, "properties", "subnets");
    const seen: { name: string; c: Cidr }[] = [];
    for (const s of subnets) {
      const c = cidr(getPath(s, ["properties", "addressPrefix"]), `subnet ${str(s.name)}`);
      if (!blocks.some((b) => cidrContains(b, c))) {
        throw new ArmError(
          400,
          "NetcfgSubnetRangeOutsideVnet",
          `Subnet '${str(s.name)}' is not valid because its IP address range is outside the IP address range of virtual network '${doc.name}'.`,
        );
      }
      const clash = seen.find((o) => cidrOverlaps(o.c, c));
      if (clash) {
        throw new ArmError(
          400,
          "NetcfgSubnetRangesOverlap",
          `Subnet '${str(s.name)}' is not valid because its IP address range overlaps with that of an existing subnet '${clash.name}' in virtual network '${doc.name}'.`,
        );
      }
      seen.push({ name: str(s.name), c });
      // ARM checks a subnet's NSG exists (400 InvalidResourceReference), so it must be created first
      const nsg = idOf(getPath(s, ["properties", "networkSecurityGroup"]));
      if (nsg) requireRef(ctx.emulator, nsg, doc, "networkSecurityGroup");
    }
    // a subnet that NICs still use cannot disappear with a PUT of the whole network
    for (const old of arrayAt(ctx.existing ?? { properties: {} }, "properties", "subnets")) {
      const kept = subnets.find((s) => lower(str(s.name)) === lower(str(old.name)));
      if (!kept && arrayAt(old, "properties", "ipConfigurations").length > 0) {
        throw new ArmError(
          400,
          "InUseSubnetCannotBeDeleted",
          `Subnet ${str(old.name)} is in use by ${str(idOf(arrayAt(old, "properties", "ipConfigurations")[0]))} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.`,
        );
      }
    }
  },
  normalize(doc, ctx) {
    const subnets = normalizeChildren(doc, "subnets", `${VNET}/subnets`, "subnets");
    for (const s of subnets) {
      const old = arrayAt(ctx.existing ?? { properties: {} }, "properties", "subnets").find(
        (o) => lower(str(o.name)) === lower(str(s.name)),
      );
      const p = props(s);
      const refs = old ? arrayAt(old, "properties", "ipConfigurations") : [];
      if (refs.length) p.ipConfigurations = refs;
      else delete p.ipConfigurations;
      for (const d of arrayAt(s, "properties", "delegations")) {
        d.id = `${str(s.id)}/delegations/${str(d.name)}`;
        d.type = `${VNET}/subnets/delegations`;
        const dp = props(d);
        if (typeof dp.serviceName !== "string")
          throw new ArmError(400, "InvalidRequestFormat", "delegation.serviceName is required.");
        dp.provisioningState = "Succeeded";
        if (lower(dp.serviceName) === "microsoft.dbformysql/flexibleservers")
          dp.actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"];
      }
      // a service endpoint (storage accounts' network rules need Microsoft.Storage here) serves the
      // network's region and its pair unless told otherwise
      for (const e of arrayAt(s, "properties", "serviceEndpoints")) {
        if (typeof e.service !== "string")
          throw new ArmError(400, "InvalidRequestFormat", "serviceEndpoints[].service is required.");
        const pair = pairedRegion(str(doc.location));
        e.locations ??= [regionKey(str(doc.location)), ...(pair ? [pair] : [])];
        e.provisioningState = "Succeeded";
      }
      p.privateEndpointNetworkPolicies ??= "Disabled";
      p.privateLinkServiceNetworkPolicies ??= "Enabled";
    }
    props(doc).enableDdosProtection ??= false;
  },
  validateChildDelete(_parent, _prop, child) {
    const refs = arrayAt(child, "properties", "ipConfigurations");
    if (refs.length > 0) {
      // ARM's 400, word for word as deployments quote it (e.g. microsoft/nav-arm-templates#161)
      throw new ArmError(
        400,
        "InUseSubnetCannotBeDeleted",
        `Subnet ${str(child.name)} is in use by ${str(idOf(refs[0]))} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.`,
      );
    }
  },
  beforeDelete(doc) {
    for (const s of arrayAt(doc, "properties", "subnets"))
      virtualNetworks.validateChildDelete!(doc, "subnets", s as ResourceDoc, undefined as unknown as Emulator);
  },
};

const networkSecurityGroups: TypeDefinition = {
  type: "Microsoft.Network/networkSecurityGroups",
  apiVersions: NETWORK_API,
  tracked: true,
  put: "ao",
  delete: "ao+loc",
  inlineChildren: { securityrules: "securityRules" },
  validate(doc) {
    const used = new Map<string, string>();
    for (const r of arrayAt(doc, "properties", "securityRules")) {
      const p = props(r);
      for (const f of ["protocol", "access", "direction", "priority"]) {
        if (p[f] === undefined)
          throw new ArmError(400, "SecurityRuleParameterMissing", `Security rule ${str(r.name)} is missing '${f}'.`);
      }
      const prio = Number(p.priority);
      if (!Number.isInteger(prio) || prio < 100 || prio > 4096) {
        throw new ArmError(
          400,
          "SecurityRuleInvalidPriority",
          `Security rule ${str(r.name)} has invalid Priority. Value provided: ${str(p.priority)} Allowed range 100-4096.`,
        );
      }
      const key = `${lower(str(p.direction))}:${prio}`;
      if (used.has(key)) {
        throw new ArmError(
          400,
          "SecurityRuleConflict",
          `Security rule ${str(r.name)} conflicts with rule ${used.get(key)}. Rules cannot have the same Priority and Direction.`,
        );
      }
      used.set(key, str(r.name));
    }
  },
  normalize(doc) {
    normalizeChildren(doc, "securityRules", "Microsoft.Network/networkSecurityGroups/securityRules", "securityRules");
    props(doc).defaultSecurityRules = DEFAULT_NSG_RULES.map(([name, direction, priority, src, dst, access]) => ({
      name,
      id: `${doc.id}/defaultSecurityRules/${name}`,
      type: "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
      properties: {
        protocol: "*",
        sourcePortRange: "*",
        destinationPortRange: "*",
        sourceAddressPrefix: src,
        destinationAddressPrefix: dst,
        access,
        priority,
        direction,
        provisioningState: "Succeeded",
      },
    }));
  },
};

const publicIPAddresses: TypeDefinition = {
  type: "Microsoft.Network/publicIPAddresses",
  apiVersions: NETWORK_API,
  tracked: true,
  put: "ao",
  delete: "ao+loc",
  validate(doc, ctx) {
    const p = props(doc);
    const sku = lower(str(getPath(doc, ["sku", "name"]) ?? "Basic"));
    if (
      sku === "standard" &&
      p.publicIPAllocationMethod !== undefined &&
      lower(str(p.publicIPAllocationMethod)) !== "static"
    ) {
      throw new ArmError(
        400,
        "StandardSkuPublicIPAddressesCannotBeDynamic",
        "Standard sku publicIp /subscriptions/... must be allocated statically.",
      );
    }
    const label = getPath(doc, ["properties", "dnsSettings", "domainNameLabel"]);
    if (label !== undefined) {
      if (typeof label !== "string" || !/^[a-z][a-z0-9-]{1,61}[a-z0-9]$/.test(label)) {
        throw new ArmError(
          400,
          "InvalidDomainNameLabel",
          `The domain name label ${str(label)} is invalid. It must conform to the following regular expression: ^[a-z][a-z0-9-]{1,61}[a-z0-9]$.`,
        );
      }
      const region = lower(str(doc.location)).replace(/\s+/g, "");
      // someone else's public IP in this region (the emulator's "rest of Azure"), or another one here
      const clash =
        (ctx.emulator.takenDnsLabels.has(label) &&
          getPath(ctx.existing ?? { properties: {} }, ["properties", "dnsSettings", "domainNameLabel"]) !== label) ||
        ctx.emulator.store
          .all()
          .some(
            (d) =>
              lower(d.type) === "microsoft.network/publicipaddresses" &&
              lower(d.id) !== lower(doc.id) &&
              lower(str(d.location)).replace(/\s+/g, "") === region &&
              getPath(d, ["properties", "dnsSettings", "domainNameLabel"]) === label,
          );
      if (clash)
        throw new ArmError(
          400,
          "DnsRecordInUse",
          `DNS record ${label}.${str(doc.location)}.cloudapp.azure.com is already used by another public IP.`,
        );
    }
  },
  normalize(doc, ctx) {
    const p = props(doc);
    doc.sku ??= { name: "Basic", tier: "Regional" }; // PublicIpAddressTests: ARM answers with the default SKU
    const sku = lower(str(getPath(doc, ["sku", "name"]) ?? "Basic"));
    p.publicIPAllocationMethod ??= sku === "standard" ? "Static" : "Dynamic";
    p.publicIPAddressVersion ??= "IPv4";
    p.idleTimeoutInMinutes ??= 4;
    p.ipAddress =
      getPath(ctx.existing ?? { properties: {} }, ["properties", "ipAddress"]) ?? allocatePublicIp(ctx.emulator);
    const label = getPath(doc, ["properties", "dnsSettings", "domainNameLabel"]);
    if (typeof label === "string")
      (p.dnsSettings as Json).fqdn =
        `${label}.${str(doc.location).replace(/\s+/g, "").toLowerCase()}.cloudapp.azure.com`;
    const ipConfiguration = getPath(ctx.existing ?? { properties: {} }, ["properties", "ipConfiguration"]);
    if (ipConfiguration) p.ipConfiguration = ipConfiguration;
  },
  beforeDelete(doc) {
    const used = getPath(doc, ["properties", "ipConfiguration", "id"]);
    if (used)
      throw new ArmError(
        400,
        "PublicIPAddressInUse",
        `Public IP address ${doc.id} can not be deleted since it is still allocated to resource ${str(used)}.`,
      );
  },
};

function allocatePublicIp(emu: Emulator): string {
  // TEST-NET-3 (RFC 5737): documentation addresses, never routed
  const used = new Set(emu.store.all().map((d) => getPath(d, ["properties", "ipAddress"])));
  for (let i = 10; i < 255; i++) if (!used.has(`203.0.113.${i}`)) return `203.0.113.${i}`;
  throw new ArmError(400, "PublicIPCountLimitReached", "No more public IP addresses in the emulator's range.");
}

const LB_CHILDREN: Record<string, string> = {
  frontendipconfigurations: "frontendIPConfigurations",
  backendaddresspools: "backendAddressPools",
  probes: "probes",
  loadbalancingrules: "loadBalancingRules",
  outboundrules: "outboundRules",
  inboundnatrules: "inboundNatRules",
};

const loadBalancers: TypeDefinition = {
  type: LB,
  apiVersions: NETWORK_API,
  tracked: true,
  put: "ao",
  delete: "ao+loc",
  inlineChildren: LB_CHILDREN,
  validate(doc, ctx) {
    for (const fe of arrayAt(doc, "properties", "frontendIPConfigurations")) {
      const pip = idOf(getPath(fe, ["properties", "publicIPAddress"]));
      if (pip) {
        const target = requireRef(ctx.emulator, pip, doc, "publicIPAddress");
        const owner = getPath(target, ["properties", "ipConfiguration", "id"]) as string | undefined;
        if (owner && !lower(owner).startsWith(lower(doc.id) + "/")) {
          throw new ArmError(400, "PublicIPAddressInUse", `Public IP address ${pip} is already in use by ${owner}.`);
        }
      }
    }
    // rules may only point at this load balancer's own children
    const own = (prop: string) =>
      new Set(arrayAt(doc, "properties", prop).map((c) => lower(`${doc.id}/${prop}/${str(c.name)}`)));
    const refs: [string, string, string][] = [
      ["loadBalancingRules", "frontendIPConfiguration", "frontendIPConfigurations"],
      ["loadBalancingRules", "backendAddressPool", "backendAddressPools"],
      ["loadBalancingRules", "probe", "probes"],
      ["outboundRules", "backendAddressPool", "backendAddressPools"],
    ];
    for (const [prop, field, target] of refs) {
      const ids = own(target);
      for (const rule of arrayAt(doc, "properties", prop)) {
        const ref = idOf(getPath(rule, ["properties", field]));
        if (ref && !ids.has(lower(ref))) {
          throw new ArmError(
            400,
            "InvalidResourceReference",
            `Resource ${ref} referenced by resource ${doc.id}/${prop}/${str(rule.name)} was not found.`,
          );
        }
      }
    }
    for (const rule of arrayAt(doc, "properties", "outboundRules")) {
      for (const fe of arrayAt(rule, "properties", "frontendIPConfigurations")) {
        if (!own("frontendIPConfigurations").has(lower(str(fe.id)))) {
          throw new ArmError(
            400,
            "InvalidResourceReference",
            `Resource ${str(fe.id)} referenced by resource ${doc.id} was not found.`,
          );
        }
      }
    }
  },
  normalize(doc, ctx) {
    doc.sku ??= { name: "Basic", tier: "Regional" }; // LoadBalancerTests: ARM answers with the default SKU
    for (const prop of Object.values(LB_CHILDREN)) normalizeChildren(doc, prop, `${LB}/${prop}`, prop);
    // backend pool membership is owned by the NICs; keep it across PUTs of the load balancer
    for (const pool of arrayAt(doc, "properties", "backendAddressPools")) {
      const old = arrayAt(ctx.existing ?? { properties: {} }, "properties", "backendAddressPools").find(
        (o) => lower(str(o.name)) === lower(str(pool.name)),
      );
      const refs = old ? arrayAt(old, "properties", "backendIPConfigurations") : [];
      if (refs.length) props(pool).backendIPConfigurations = refs;
      else delete props(pool).backendIPConfigurations;
    }
  },
  afterCommit(doc, ctx) {
    const now = new Set(
      arrayAt(doc, "properties", "frontendIPConfigurations")
        .map((fe) => idOf(getPath(fe, ["properties", "publicIPAddress"])))
        .filter((x): x is string => !!x)
        .map(lower),
    );
    const before = arrayAt(ctx.existing ?? { properties: {} }, "properties", "frontendIPConfigurations");
    for (const fe of arrayAt(doc, "properties", "frontendIPConfigurations")) {
      const pip = idOf(getPath(fe, ["properties", "publicIPAddress"]));
      const target = pip ? ctx.emulator.store.get(pip) : undefined;
      if (target) props(target).ipConfiguration = { id: str(fe.id) };
    }
    for (const fe of before) {
      const pip = idOf(getPath(fe, ["properties", "publicIPAddress"]));
      const target = pip && !now.has(lower(pip)) ? ctx.emulator.store.get(pip) : undefined;
      if (target) delete props(target).ipConfiguration;
    }
  },
  beforeDelete(doc) {
    for (const pool of arrayAt(doc, "properties", "backendAddressPools")) {
      const refs = arrayAt(pool, "properties", "backendIPConfigurations");
      if (refs.length) {
        throw new ArmError(
          400,
          "LoadBalancerInUseByNetworkInterface",
          `Load balancer ${doc.id} backend address pool ${str(pool.name)} is in use by ${str(idOf(refs[0]))}.`,
        );
      }
    }
  },
  afterDelete(doc, emu) {
    for (const fe of arrayAt(doc, "properties", "frontendIPConfigurations")) {
      const pip = idOf(getPath(fe, ["properties", "publicIPAddress"]));
      const target = pip ? emu.store.get(pip) : undefined;
      if (target) delete props(target).ipConfiguration;
    }
  },
};

const networkInterfaces: TypeDefinition = {
  type: NIC,
  apiVersions: NETWORK_API,
  tracked: true,
  put: "sync", // recorded: a NIC PUT answers 201 with no Azure-AsyncOperation, already Succeeded
  delete: "ao+loc",
  inlineChildren: { ipconfigurations: "ipConfigurations" },
  validate(doc, ctx) {
    const ipcs = arrayAt(doc, "properties", "ipConfigurations");
    if (ipcs.length === 0)
      throw new ArmError(
        400,
        "InvalidRequestFormat",
        `Network interface ${doc.name} must have at least one IP configuration.`,
      );
    for (const ipc of ipcs) {
      requireRef(ctx.emulator, idOf(getPath(ipc, ["properties", "subnet"])), doc, "subnet");
      for (const pool of arrayAt(ipc, "properties", "loadBalancerBackendAddressPools"))
        requireRef(ctx.emulator, idOf(pool), doc, "backend pool");
    }
    const nsg = idOf(getPath(doc, ["properties", "networkSecurityGroup"]));
    if (nsg) requireRef(ctx.emulator, nsg, doc, "networkSecurityGroup");
  },
  normalize(doc, ctx) {
    const ipcs = normalizeChildren(doc, "ipConfigurations", `${NIC}/ipConfigurations`, "ipConfigurations");
    ipcs.forEach((ipc, i) => {
      const p = props(ipc);
      p.primary ??= i === 0;
      p.privateIPAddressVersion ??= "IPv4";
      const subnetId = idOf(p.subnet)!;
      const old = arrayAt(ctx.existing ?? { properties: {} }, "properties", "ipConfigurations").find(
        (o) => lower(str(o.name)) === lower(str(ipc.name)),
      );
      const oldSubnet = old ? idOf(getPath(old, ["properties", "subnet"])) : undefined;
      const requested =
        typeof p.privateIPAddress === "string" && lower(str(p.privateIPAllocationMethod ?? "Dynamic")) === "static";
      if (!requested) {
        const keep =
          old && oldSubnet && lower(oldSubnet) === lower(subnetId)
            ? getPath(old, ["properties", "privateIPAddress"])
            : undefined;
        p.privateIPAddress = keep ?? allocatePrivateIp(ctx.emulator, subnetId, doc.id);
        p.privateIPAllocationMethod ??= "Dynamic";
      } else {
        const subnet = resolve(ctx.emulator, subnetId)!;
        const block = parseCidr(str(getPath(subnet, ["properties", "addressPrefix"])));
        const ip = parseIpv4(str(p.privateIPAddress));
        if (!block || ip === undefined || ip < block.first + 4 || ip >= block.last) {
          throw new ArmError(
            400,
            "PrivateIPAddressNotInSubnet",
            `IP address ${str(p.privateIPAddress)} does not belong to subnet ${subnetId}.`,
          );
        }
      }
    });
    const p = props(doc);
    const vm = getPath(ctx.existing ?? { properties: {} }, ["properties", "virtualMachine"]);
    if (vm) p.virtualMachine = vm;
    p.enableAcceleratedNetworking ??= false;
    p.enableIPForwarding ??= false;
    p.nicType ??= "Standard";
    doc.kind ??= "Regular";
  },
  afterCommit(doc, ctx) {
    syncNicBackRefs(ctx.emulator, doc, ctx.existing);
  },
  beforeDelete(doc, emu) {
    const vm = idOf(getPath(doc, ["properties", "virtualMachine"]));
    if (vm && emu.store.get(vm)) {
      throw new ArmError(
        400,
        "NicInUse",
        `Network Interface ${doc.id} is used by existing resource ${vm}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.`,
      );
    }
  },
  afterDelete(doc, emu) {
    syncNicBackRefs(emu, undefined, doc);
  },
};

/** A Uniform scale set instance's NIC (Microsoft.Network serves it under the instance's id). */
export const SCALE_SET_INSTANCE_NIC = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces";

/** The subnet's first free address, counting standalone NICs and Uniform scale set instances' NICs. */
export function allocatePrivateIp(emu: Emulator, subnetId: string, nicId: string): string {
  const subnet = resolve(emu, subnetId)!;
  const block = cidr(getPath(subnet, ["properties", "addressPrefix"]), subnetId);
  const used = new Set<number>();
  for (const d of emu.store.all()) {
    const type = lower(d.type);
    if ((type !== lower(NIC) && type !== lower(SCALE_SET_INSTANCE_NIC)) || lower(d.id) === lower(nicId)) continue;
    for (const ipc of arrayAt(d, "properties", "ipConfigurations")) {
      if (lower(str(idOf(getPath(ipc, ["properties", "subnet"])))) !== lower(subnetId)) continue;
      const ip = parseIpv4(str(getPath(ipc, ["properties", "privateIPAddress"]) ?? ""));
      if (ip !== undefined) used.add(ip);
    }
  }
  const free = firstFreeAzureAddress(block, used);
  if (free === undefined) throw new ArmError(400, "SubnetIsFull", `Subnet ${subnetId} has no free IP addresses.`);
  return formatIpv4(free);
}

/** Keeps subnet.ipConfigurations and pool.backendIPConfigurations in step with a NIC's current state. */
function syncNicBackRefs(emu: Emulator, now: ResourceDoc | undefined, before: ResourceDoc | undefined): void {
  const links = (doc: ResourceDoc | undefined) => {
    const out: { ipc: string; subnet?: string; pools: string[] }[] = [];
    for (const ipc of arrayAt(doc ?? { properties: {} }, "properties", "ipConfigurations")) {
      out.push({
        ipc: str(ipc.id),
        subnet: idOf(getPath(ipc, ["properties", "subnet"])),
        pools: arrayAt(ipc, "properties", "loadBalancerBackendAddressPools").map((p) => str(idOf(p))),
      });
    }
    return out;
  };
  const update = (childId: string, prop: string, ipcId: string, present: boolean) => {
    const m = /^(.*)\/([^/]+)\/([^/]+)$/.exec(childId);
    if (!m) return;
    const parent = emu.store.get(m[1]);
    if (!parent) return;
    const child = arrayAt(parent, "properties", emu.types.get(parent.type)?.inlineChildren?.[lower(m[2])] ?? "").find(
      (c) => lower(str(c.name)) === lower(m[3]),
    );
    if (!child) return;
    const next = setBackRef(arrayAt(child, "properties", prop), ipcId, present);
    if (next.length) props(child)[prop] = next;
    else delete props(child)[prop];
  };
  for (const l of links(before)) {
    if (l.subnet) update(l.subnet, "ipConfigurations", l.ipc, false);
    for (const p of l.pools) update(p, "backendIPConfigurations", l.ipc, false);
  }
  for (const l of links(now)) {
    if (l.subnet) update(l.subnet, "ipConfigurations", l.ipc, true);
    for (const p of l.pools) update(p, "backendIPConfigurations", l.ipc, true);
  }
}

export const NETWORK_TYPES: TypeDefinition[] = [
  virtualNetworks,
  networkSecurityGroups,
  publicIPAddresses,
  loadBalancers,
  networkInterfaces,
];
export { LB, NIC, VNET };
