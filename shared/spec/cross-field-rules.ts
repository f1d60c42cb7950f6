// The rules a JSON Schema can't express (CIDR arithmetic, cross-field constraints), evaluated after the
// schema on the defaulted spec, only over fields that passed it; CROSS_FIELD_RULES says them in words
// for the README's spec reference.
import { cidrContains, cidrOverlaps, parseCidr, type Cidr } from "../ipv4";
import { ACCESS_CROSS_FIELD_RULES, accessRules } from "./access-rules";
import { CONNECTION_CROSS_FIELD_RULES, connectionRules } from "./connection-rules";
import { catalogVersions } from "../node/catalog";
import type { StackSpec } from "./types";
import {
  Context,
  type SpecError,
  childPointer,
  isInside,
  parentPointer,
  quote,
  resolvePointer,
  truncate,
} from "./spec-errors";

/** Azure reserves the first four addresses and the last one of every subnet. */
const AZURE_RESERVED_ADDRESSES_PER_SUBNET = 5;
/** Tag Jumpgate puts on every resource of a stack; teardown trusts it, so users can't set it. */
const STACK_TAG_NAME = "jumpgate-stack";
/** Keys that change an object's prototype or constructor when copied with plain assignment. */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

// ---------------------------------------------------------------------------------------------
// Semantic rules: evaluated after the schema, on the defaulted spec, only over fields that passed.

const P = {
  addressSpace: "/network/addressSpace",
  webSubnet: "/network/webSubnet",
  databaseSubnet: "/network/databaseSubnet",
  adminSourceRanges: "/network/adminSourceRanges",
  fleetMode: "/fleet/mode",
  fleetSize: "/fleet/size",
  fleetMin: "/fleet/min",
  fleetMax: "/fleet/max",
  fleetZones: "/fleet/zones",
  databaseSku: "/database/skuName",
  databaseTier: "/database/tier",
  highAvailability: "/database/highAvailability",
  hostname: "/tls/hostname",
  challenge: "/tls/acme/challenge",
  dnsZone: "/tls/acme/dnsZone",
  dnsZoneName: "/tls/acme/dnsZone/name",
  tags: "/tags",
  adopt: "/adopt",
  subscriptionId: "/subscriptionId",
  resourceGroup: "/resourceGroup",
} as const;

export class RuleContext {
  private readonly failed: string[];

  constructor(
    readonly spec: StackSpec,
    private readonly context: Context,
    schemaErrors: readonly SpecError[],
  ) {
    this.failed = schemaErrors.map((error) => error.pointer);
  }

  /** No schema error at these locations, above them or inside them: their values are as typed. */
  usable(...pointers: string[]): boolean {
    return pointers.every((p) => !this.failed.some((f) => f === p || isInside(p, f) || isInside(f, p)));
  }

  /** No schema error at this location or above it (errors inside it are fine). */
  present(pointer: string): boolean {
    return !this.failed.some((f) => f === pointer || isInside(pointer, f));
  }

  label(pointer: string): string {
    return this.context.label(pointer);
  }

  /** A value for a message, marked when a default supplied it. */
  shown(pointer: string, value: unknown): string {
    return `${JSON.stringify(value)}${this.context.provided(pointer) ? "" : " (default)"}`;
  }

  /** Where to point a cross-field error: the first candidate the client wrote, else the first whose parent exists. */
  locate(...candidates: string[]): string {
    return (
      candidates.find((p) => this.context.provided(p)) ??
      candidates.find((p) => this.context.provided(parentPointer(p))) ??
      candidates[0]
    );
  }
}

type SemanticRule = (rules: RuleContext) => SpecError[];

/**
 * What the rules below (and the route-name check in validateStackSpec) enforce, in words, for the
 * README's spec reference; `keyword` is the SpecError keyword each one reports. Change it with the
 * rules: a test checks that every keyword the rules report is listed here and that each entry's
 * rule really rejects what it says.
 */
export const CROSS_FIELD_RULES: readonly { keyword: string; rule: string }[] = [
  {
    keyword: "routeName",
    rule: "`name` may be left out of a body sent to `/api/stacks/{name}`, which supplies it; when given, it must equal the name in the URL.",
  },
  { keyword: "addressSpacePrefix", rule: "`network.addressSpace` is a /8 to /24 block." },
  {
    keyword: "subnetInAddressSpace",
    rule: "`network.webSubnet` and `network.databaseSubnet` lie inside `network.addressSpace`.",
  },
  { keyword: "subnetOverlap", rule: "`network.webSubnet` and `network.databaseSubnet` do not overlap." },
  {
    keyword: "subnetSize",
    rule: `Both subnets are a /28 or larger, and \`network.webSubnet\` has at least 2 × \`fleet.max\` usable addresses (Azure reserves ${AZURE_RESERVED_ADDRESSES_PER_SUBNET} of every subnet): one per node plus one per replacement.`,
  },
  {
    keyword: "adminSourceRange",
    rule: '`network.adminSourceRanges` does not list `"0.0.0.0/0"`: an empty list already admits the whole Internet.',
  },
  { keyword: "fleetBounds", rule: "`fleet.min` ≤ `fleet.size` ≤ `fleet.max`." },
  { keyword: "zonesNeedScaleSet", rule: '`fleet.zones` may only be set with `fleet.mode` `"scaleSet"`.' },
  {
    keyword: "catalogVersion",
    rule: "`guacamole.version` is a version of the pinned, checksummed catalog (today 1.6.0).",
  },
  {
    keyword: "highAvailabilityTier",
    rule: '`database.highAvailability` other than `"Disabled"` needs `database.tier` `"GeneralPurpose"` or `"MemoryOptimized"`.',
  },
  {
    keyword: "skuMatchesTier",
    rule: "`database.skuName` belongs to `database.tier`: `Standard_B…` sizes are Burstable, `Standard_D…` GeneralPurpose, `Standard_E…` MemoryOptimized; other families are refused.",
  },
  {
    keyword: "acmeDnsZone",
    rule: '`tls.acme.dnsZone` is required with `tls.acme.challenge` `"dns-01"` and refused with `"http-01"`.',
  },
  {
    keyword: "acmeHostname",
    rule: 'With `"dns-01"`, `tls.hostname` is required and must be `tls.acme.dnsZone.name` or a name under it.',
  },
  {
    keyword: "adoptScope",
    rule: "Every id in `adopt` is the stack's resource group (`/subscriptions/<subscriptionId>/resourceGroups/<resourceGroup>`) or a resource in it; ids are compared case-insensitively, as ARM does.",
  },
  {
    keyword: "tagName",
    rule: `No tag may be named \`${STACK_TAG_NAME}\` (in any case: Jumpgate sets it itself), \`__proto__\`, \`constructor\` or \`prototype\`, and no two tag names may differ only in case (Azure tag names are case-insensitive).`,
  }, // the access section's rules live beside it (shared/spec/access-rules.ts)
  ...ACCESS_CROSS_FIELD_RULES,
  // and the connections section's (shared/spec/connection-rules.ts)
  ...CONNECTION_CROSS_FIELD_RULES,
];

export const SEMANTIC_RULES: readonly SemanticRule[] = [
  networkLayout,
  adminSourceRanges,
  fleetBounds,
  zonesNeedScaleSet,
  catalogVersion,
  highAvailabilityNeedsTier,
  skuMatchesTier,
  acmeChallenge,
  adoptScope,
  tagNames,
  // shared/spec/access-rules.ts
  accessRules,
  // shared/spec/connection-rules.ts
  connectionRules,
];

/** A CIDR field that passed the schema, with its text as the client (or the default) wrote it. */
interface Block {
  cidr: Cidr;
  text: string;
}

function networkLayout(rules: RuleContext): SpecError[] {
  const errors: SpecError[] = [];
  // read through the pointer, after the check: `network` itself may be a wrong type (null, a string)
  const blockAt = (pointer: string): Block | undefined => {
    const text = rules.usable(pointer) ? resolvePointer(rules.spec, pointer).value : undefined;
    const cidr = typeof text === "string" ? parseCidr(text) : undefined;
    return cidr && typeof text === "string" ? { cidr, text } : undefined;
  };
  const space = blockAt(P.addressSpace);
  const web = blockAt(P.webSubnet);
  const database = blockAt(P.databaseSubnet);
  const shown = (pointer: string, block: Block) => rules.shown(pointer, block.text);

  if (space && (space.cidr.prefix < 8 || space.cidr.prefix > 24)) {
    const size = space.cidr.prefix < 8 ? "too large" : "too small";
    errors.push({
      pointer: P.addressSpace,
      detail: `network.addressSpace ${shown(P.addressSpace, space)} is ${size}: a virtual network's address space must be a /8 to /24 block`,
      keyword: "addressSpacePrefix",
    });
  }
  const subnets: [Block | undefined, string][] = [
    [web, P.webSubnet],
    [database, P.databaseSubnet],
  ];
  for (const [subnet, pointer] of subnets) {
    if (space && subnet && !cidrContains(space.cidr, subnet.cidr))
      errors.push({
        pointer: rules.locate(pointer, P.addressSpace),
        detail: `${rules.label(pointer)} ${shown(pointer, subnet)} is outside network.addressSpace ${shown(P.addressSpace, space)}; every subnet must lie inside the address space`,
        keyword: "subnetInAddressSpace",
      });
  }
  if (web && database && cidrOverlaps(web.cidr, database.cidr))
    errors.push({
      pointer: rules.locate(P.databaseSubnet, P.webSubnet),
      detail: `network.databaseSubnet ${shown(P.databaseSubnet, database)} overlaps network.webSubnet ${shown(P.webSubnet, web)}; the two subnets must not share addresses`,
      keyword: "subnetOverlap",
    });

  if (web && web.cidr.prefix > 28)
    errors.push({
      pointer: P.webSubnet,
      detail: `network.webSubnet ${shown(P.webSubnet, web)} is too small: the web subnet must be a /28 or larger`,
      keyword: "subnetSize",
    });
  else if (web && rules.usable(P.fleetMax)) {
    const max = rules.spec.fleet.max;
    const needed = 2 * max; // every node, plus a replacement for each while it is being swapped
    const usableAddresses = 2 ** (32 - web.cidr.prefix) - AZURE_RESERVED_ADDRESSES_PER_SUBNET;
    if (usableAddresses < needed) {
      let prefix = web.cidr.prefix;
      while (2 ** (32 - prefix) - AZURE_RESERVED_ADDRESSES_PER_SUBNET < needed) prefix--;
      errors.push({
        pointer: rules.locate(P.webSubnet, P.fleetMax),
        detail: `network.webSubnet ${shown(P.webSubnet, web)} has ${usableAddresses} usable addresses (Azure reserves ${AZURE_RESERVED_ADDRESSES_PER_SUBNET}); fleet.max ${rules.shown(P.fleetMax, max)} needs ${needed}: one per node plus one per surge replacement. Use a /${prefix} or larger`,
        keyword: "subnetSize",
      });
    }
  }
  if (database && database.cidr.prefix > 28)
    errors.push({
      pointer: P.databaseSubnet,
      detail: `network.databaseSubnet ${shown(P.databaseSubnet, database)} is too small: the subnet delegated to MySQL flexible server must be a /28 or larger`,
      keyword: "subnetSize",
    });
  return errors;
}

function adminSourceRanges(rules: RuleContext): SpecError[] {
  const ranges: readonly unknown[] = rules.present(P.adminSourceRanges) ? rules.spec.network.adminSourceRanges : [];
  return ranges.flatMap((range, index) => {
    const pointer = childPointer(P.adminSourceRanges, String(index));
    if (range !== "0.0.0.0/0" || !rules.usable(pointer)) return [];
    return [
      {
        pointer,
        detail: `${rules.label(pointer)} "0.0.0.0/0" admits the whole Internet, which is already what an empty adminSourceRanges means; remove it, or list only the ranges your admins connect from`,
        keyword: "adminSourceRange",
      },
    ];
  });
}

function fleetBounds(rules: RuleContext): SpecError[] {
  if (!rules.usable(P.fleetMin, P.fleetSize, P.fleetMax)) return [];
  const { min, size, max } = rules.spec.fleet;
  const minText = rules.shown(P.fleetMin, min);
  const sizeText = rules.shown(P.fleetSize, size);
  const maxText = rules.shown(P.fleetMax, max);
  const error = (pointer: string, detail: string): SpecError[] => [{ pointer, detail, keyword: "fleetBounds" }];
  if (min > max)
    return error(rules.locate(P.fleetMin, P.fleetMax), `fleet.min ${minText} is above fleet.max ${maxText}`);
  if (size < min)
    return error(
      rules.locate(P.fleetSize, P.fleetMin),
      `fleet.size ${sizeText} is below fleet.min ${minText}; lower fleet.min too`,
    );
  if (size > max)
    return error(
      rules.locate(P.fleetSize, P.fleetMax),
      `fleet.size ${sizeText} is above fleet.max ${maxText}; raise fleet.max too`,
    );
  return [];
}

function zonesNeedScaleSet(rules: RuleContext): SpecError[] {
  if (!rules.usable(P.fleetZones, P.fleetMode)) return [];
  const { zones, mode } = rules.spec.fleet;
  if (zones.length === 0 || mode === "scaleSet") return [];
  return [
    {
      pointer: rules.locate(P.fleetZones),
      detail: `fleet.zones needs fleet.mode "scaleSet", but the mode is ${rules.shown(P.fleetMode, mode)}; an availability set spreads nodes over fault domains instead of zones`,
      keyword: "zonesNeedScaleSet",
    },
  ];
}

function catalogVersion(rules: RuleContext): SpecError[] {
  const pointer = "/guacamole/version";
  if (!rules.usable(pointer)) return [];
  const { version } = rules.spec.guacamole;
  const known = catalogVersions();
  if (known.includes(version)) return [];
  return [
    {
      pointer,
      detail: `guacamole.version ${rules.shown(pointer, version)} is not in the pinned catalog; known versions: ${known.join(", ")}`,
      keyword: "catalogVersion",
    },
  ];
}

function highAvailabilityNeedsTier(rules: RuleContext): SpecError[] {
  if (!rules.usable(P.highAvailability, P.databaseTier)) return [];
  const { highAvailability, tier } = rules.spec.database;
  if (highAvailability === "Disabled" || tier !== "Burstable") return [];
  return [
    {
      pointer: rules.locate(P.highAvailability, P.databaseTier),
      detail: `database.highAvailability ${rules.shown(P.highAvailability, highAvailability)} needs database.tier "GeneralPurpose" or "MemoryOptimized" (with a matching skuName); Azure offers no high availability on tier ${rules.shown(P.databaseTier, tier)}`,
      keyword: "highAvailabilityTier",
    },
  ];
}

/** MySQL flexible server SKU families by tier: B = Burstable, D = GeneralPurpose, E = MemoryOptimized. */
const TIER_OF_SKU_FAMILY: Record<string, string> = { B: "Burstable", D: "GeneralPurpose", E: "MemoryOptimized" };

function skuMatchesTier(rules: RuleContext): SpecError[] {
  if (!rules.usable(P.databaseSku, P.databaseTier)) return [];
  const { skuName, tier } = rules.spec.database;
  const family = /^Standard_([A-Za-z])/.exec(skuName)?.[1]?.toUpperCase() ?? "";
  const expected = TIER_OF_SKU_FAMILY[family];
  if (expected === tier) return [];
  return [
    {
      pointer: rules.locate(P.databaseSku, P.databaseTier),
      detail: expected
        ? `database.skuName ${rules.shown(P.databaseSku, skuName)} is a ${expected} size, but database.tier is ${rules.shown(P.databaseTier, tier)}; Azure refuses the pair (B sizes are Burstable, D GeneralPurpose, E MemoryOptimized)`
        : `database.skuName ${rules.shown(P.databaseSku, skuName)} is not a MySQL flexible server size: B sizes are Burstable, D GeneralPurpose, E MemoryOptimized (e.g. Standard_B1ms, Standard_D2ds_v4, Standard_E2ds_v4)`,
      keyword: "skuMatchesTier",
    },
  ];
}

/** Adoption reaches no further than the stack's own resource group. */
function adoptScope(rules: RuleContext): SpecError[] {
  if (!rules.present(P.adopt) || !rules.usable(P.subscriptionId, P.resourceGroup)) return [];
  const adopt: readonly unknown[] = rules.spec.adopt ?? [];
  const group = `/subscriptions/${rules.spec.subscriptionId}/resourceGroups/${rules.spec.resourceGroup}`.toLowerCase();
  return adopt.flatMap((id, index) => {
    const pointer = childPointer(P.adopt, String(index));
    if (typeof id !== "string" || !rules.usable(pointer)) return [];
    const lower = id.toLowerCase();
    if (lower === group || lower.startsWith(`${group}/providers/`)) return [];
    return [
      {
        pointer,
        detail: `${rules.label(pointer)} ${quote(truncate(id, 200))} is not in the stack's resource group ${quote(`/subscriptions/${rules.spec.subscriptionId}/resourceGroups/${rules.spec.resourceGroup}`)}; a stack adopts only the group itself or resources in it`,
        keyword: "adoptScope",
      },
    ];
  });
}

function acmeChallenge(rules: RuleContext): SpecError[] {
  if (!rules.usable(P.challenge)) return [];
  const { tls } = rules.spec;
  const { challenge, dnsZone } = tls.acme;
  const errors: SpecError[] = [];
  const zoneGiven = dnsZone !== undefined && rules.present(P.dnsZone);
  if (challenge === "http-01") {
    if (zoneGiven)
      errors.push({
        pointer: P.dnsZone,
        detail: `tls.acme.dnsZone is only used by the "dns-01" challenge, but tls.acme.challenge is ${rules.shown(P.challenge, challenge)}; set the challenge to "dns-01" or remove dnsZone`,
        keyword: "acmeDnsZone",
      });
    return errors;
  }
  if (dnsZone === undefined)
    errors.push({
      pointer: P.dnsZone,
      detail: `tls.acme.dnsZone is required with the "dns-01" challenge: the Azure DNS zone (resourceGroup and name) where Jumpgate writes the _acme-challenge TXT record`,
      keyword: "acmeDnsZone",
    });
  if (tls.hostname === undefined)
    errors.push({
      pointer: P.hostname,
      detail: `tls.hostname is required with the "dns-01" challenge: the certificate is for your own domain in tls.acme.dnsZone, not for the public IP's cloudapp.azure.com name`,
      keyword: "acmeHostname",
    });
  else if (dnsZone !== undefined && rules.usable(P.hostname, P.dnsZoneName)) {
    const zone = dnsZone.name;
    if (tls.hostname !== zone && !tls.hostname.endsWith(`.${zone}`))
      errors.push({
        pointer: P.hostname,
        detail: `tls.hostname ${quote(tls.hostname)} is not in the DNS zone ${quote(zone)} (tls.acme.dnsZone.name); it must be the zone apex or a name under it`,
        keyword: "acmeHostname",
      });
  }
  return errors;
}

function tagNames(rules: RuleContext): SpecError[] {
  if (!rules.present(P.tags)) return [];
  const errors: SpecError[] = [];
  const seen = new Map<string, string>();
  for (const name of Object.keys(rules.spec.tags)) {
    const pointer = childPointer(P.tags, name);
    if (!rules.usable(pointer)) continue;
    const lower = name.toLowerCase();
    const quoted = `'${truncate(name, 64)}'`;
    if (PROTOTYPE_KEYS.has(name))
      errors.push({
        pointer,
        detail: `tag name ${quoted} is not allowed: it names a JavaScript object internal and is unsafe to copy`,
        keyword: "tagName",
      });
    else if (lower === STACK_TAG_NAME)
      errors.push({
        pointer,
        detail: `tag name ${quoted} is reserved: Jumpgate sets it on every resource to mark what the stack owns`,
        keyword: "tagName",
      });
    const earlier = seen.get(lower);
    if (earlier !== undefined)
      errors.push({
        pointer,
        detail: `tag names ${quoted} and '${truncate(earlier, 64)}' differ only in case; Azure tag names are case-insensitive, so one would overwrite the other`,
        keyword: "tagName",
      });
    else seen.set(lower, name);
  }
  return errors;
}
