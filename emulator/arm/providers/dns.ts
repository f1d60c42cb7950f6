// Azure DNS zones and record sets (api 2018-05-01, @azure/arm-dns 5.1.0) and private DNS zones with
// virtual network links and record sets (api 2020-06-01, @azure/arm-privatedns 3.2.0).
import { lower } from "../resource-id";
import { getPath, str } from "../store";
import { ArmError, type ResourceDoc, type TypeDefinition } from "../types";
import { idOf, props, requireRef } from "./common";

const RECORD_TYPES = ["A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"];

function recordSets(zoneType: string, apiVersions: string[]): TypeDefinition {
  return {
    type: `${zoneType}/recordsets`,
    apiVersions,
    put: "sync",
    createStatus: 201,
    delete: "sync",
    provisioningState: false,
    typeFromPath: true,
    validate(doc) {
      const recordType = doc.type.split("/").pop()!.toUpperCase();
      if (!RECORD_TYPES.includes(recordType))
        throw new ArmError(400, "BadRequest", `Record type ${recordType} is not supported.`);
      const ttl = props(doc).TTL ?? props(doc).ttl;
      if (ttl !== undefined && (!Number.isInteger(ttl) || (ttl as number) < 0))
        throw new ArmError(400, "BadRequest", "TTL must be a non-negative integer.");
    },
    normalize(doc) {
      const zone = doc.id.split("/").slice(-3)[0];
      const p = props(doc);
      p.fqdn = `${doc.name === "@" ? zone : `${doc.name}.${zone}`}.`;
      p.provisioningState = "Succeeded";
    },
    // a test's real DNS server learns the record before the PUT answers, as Azure DNS serves it
    async work(doc, ctx) {
      if (zoneType !== "Microsoft.Network/dnszones") return;
      await ctx.emulator.dnsRecordSetHook?.({ op: "put", ...recordSetAddress(doc), properties: props(doc) });
    },
    afterDelete(doc, emulator) {
      if (zoneType !== "Microsoft.Network/dnszones" || !emulator.dnsRecordSetHook) return;
      void Promise.resolve(emulator.dnsRecordSetHook({ op: "delete", ...recordSetAddress(doc) })).catch(
        () => undefined,
      );
    },
  };
}

function recordSetAddress(doc: ResourceDoc): { zone: string; name: string; fqdn: string; recordType: string } {
  const parts = doc.id.split("/");
  const zone = parts.slice(-3)[0];
  return {
    zone,
    name: doc.name,
    fqdn: `${doc.name === "@" ? zone : `${doc.name}.${zone}`}.`,
    recordType: parts[parts.length - 2].toUpperCase(),
  };
}

const dnsZones: TypeDefinition = {
  type: "Microsoft.Network/dnszones",
  apiVersions: ["2018-05-01", "2023-07-01-preview"],
  tracked: true,
  put: "sync",
  createStatus: 201,
  delete: "ao+loc",
  provisioningState: false,
  normalize(doc) {
    const p = props(doc);
    p.zoneType ??= "Public";
    p.nameServers = [
      "ns1-01.azure-dns.com.",
      "ns2-01.azure-dns.net.",
      "ns3-01.azure-dns.org.",
      "ns4-01.azure-dns.info.",
    ];
    p.maxNumberOfRecordSets = 10000;
  },
};

const PRIVATE_API = ["2020-06-01", "2024-06-01"];

// TestPrivatednsTestSuite: zone and link writes answer 202 with Azure-AsyncOperation, Location,
// Retry-After and a `{}` body; the client reads the resource once the operation has succeeded
const privateDnsZones: TypeDefinition = {
  type: "Microsoft.Network/privateDnsZones",
  apiVersions: PRIVATE_API,
  tracked: true,
  put: "accepted",
  patch: "accepted",
  delete: "ao+loc",
  normalize(doc, ctx) {
    const p = props(doc);
    p.maxNumberOfRecordSets = 25000;
    p.maxNumberOfVirtualNetworkLinks = 1000;
    p.numberOfVirtualNetworkLinks = ctx.emulator.store.children(
      doc.id,
      "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    ).length;
  },
  beforeDelete(doc, emu) {
    const links = emu.store.children(doc.id, "Microsoft.Network/privateDnsZones/virtualNetworkLinks");
    if (links.length > 0) {
      throw new ArmError(
        409,
        "CannotDeleteResource",
        `Can not delete resource before nested resources are deleted. Private DNS zone ${doc.name} has virtual network links.`,
      );
    }
  },
};

const virtualNetworkLinks: TypeDefinition = {
  type: "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
  apiVersions: PRIVATE_API,
  tracked: true,
  put: "accepted",
  patch: "accepted",
  delete: "ao+loc",
  validate(doc, ctx) {
    requireRef(ctx.emulator, idOf(getPath(doc, ["properties", "virtualNetwork"])), doc, "virtualNetwork");
    const dup = ctx.emulator.store
      .children(doc.id.slice(0, doc.id.toLowerCase().lastIndexOf("/virtualnetworklinks/")), doc.type)
      .find(
        (l) =>
          lower(l.id) !== lower(doc.id) &&
          lower(str(idOf(getPath(l, ["properties", "virtualNetwork"])))) ===
            lower(str(idOf(getPath(doc, ["properties", "virtualNetwork"])))),
      );
    if (dup)
      throw new ArmError(
        409,
        "Conflict",
        `A virtual network cannot be linked to the same private DNS zone twice (link ${dup.name}).`,
      );
  },
  normalize(doc) {
    const p = props(doc);
    p.registrationEnabled ??= false;
    p.virtualNetworkLinkState = "Completed";
  },
  afterCommit(doc: ResourceDoc, ctx) {
    const zone = ctx.emulator.store.get(doc.id.slice(0, doc.id.toLowerCase().lastIndexOf("/virtualnetworklinks/")));
    if (zone) props(zone).numberOfVirtualNetworkLinks = ctx.emulator.store.children(zone.id, doc.type).length;
  },
};

export const DNS_TYPES: TypeDefinition[] = [
  dnsZones,
  recordSets("Microsoft.Network/dnszones", dnsZones.apiVersions),
  privateDnsZones,
  virtualNetworkLinks,
  recordSets("Microsoft.Network/privateDnsZones", PRIVATE_API),
];
