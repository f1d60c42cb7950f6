// Validation of the stack spec a user sends: the JSON Schema (ajv, defaults applied) plus the rules a
// schema can't express (CIDR arithmetic, cross-field constraints), reported together as
// {pointer, detail} pairs that become the `errors` of an RFC 9457 problem. Also reads the raw
// request body into JSON safely, because hostile bodies must end in a 4xx, never in a 5xx.
//
// Pointers (RFC 6901) always address the body as the client sent it: an unknown field points at
// the field itself, a missing required property at the place it should be (e.g. "/subscriptionId",
// whose parent exists), and a cross-field rule at the field the client actually wrote, so a client
// can highlight it. A value that came from a default is marked "(default)" in the detail.
import Ajv2020 from "ajv/dist/2020";
import type { ErrorObject } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import {
  malformedBodyProblem,
  payloadTooLargeProblem,
  unsupportedMediaTypeProblem,
  type Problem,
} from "../http/problem";
import { cidrContains, cidrOverlaps, formatIpv4, parseCidr, parseIpv4, type Cidr } from "../ipv4";
import { ACCESS_CROSS_FIELD_RULES, accessRules } from "./access-rules";
import { ARM_RESOURCE_ID_PATTERN, STACK_NAME_PATTERN, STACK_SPEC_SCHEMA } from "./schema";
import type { StackSpec } from "./types";

export interface SpecError {
  /** RFC 6901 JSON pointer into the request body ("" is the whole body) */
  pointer: string;
  /** what is wrong and how to fix it, for a human */
  detail: string;
  /** the JSON Schema keyword that failed, or the name of the semantic rule */
  keyword?: string;
}

export type StackSpecValidation = { ok: true; spec: StackSpec } | { ok: false; errors: SpecError[] };

export const STACK_SPEC_LIMITS = {
  /** a full spec is about 2 KiB; anything near this is not a stack spec */
  maxBodyBytes: 64 * 1024,
  /** the spec nests 4 levels; deeper bodies are refused before parsing */
  maxJsonDepth: 32,
} as const;

/** Azure reserves the first four addresses and the last one of every subnet. */
const AZURE_RESERVED_ADDRESSES_PER_SUBNET = 5;
/** Tag Jumpgate puts on every resource of a stack; teardown trusts it, so users can't set it. */
const STACK_TAG_NAME = "jumpgate-stack";
/** Keys that change an object's prototype or constructor when copied with plain assignment. */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

// ---------------------------------------------------------------------------------------------
// The compiled schema: one ajv instance, compiled once at module load.

const ajv = new Ajv2020({
  strict: true,
  allErrors: true,
  useDefaults: true,
  coerceTypes: false,
  removeAdditional: false,
  // keeps the failing value and its schema on each error, so details can quote bounds and values
  verbose: true,
});
addFormats(ajv, ["uri", "email", "hostname"]);
// ajv-formats' "uuid" also accepts "urn:uuid:…", which is not a subscription id ARM accepts.
ajv.addFormat("uuid", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
ajv.addFormat("ipv4-cidr", { type: "string", validate: isCanonicalCidr });
const validateAgainstSchema = ajv.compile(STACK_SPEC_SCHEMA);

/** Only the canonical form: parseCidr alone would accept " 10.0.0.0/8" and "10.0.0.0/08". */
function isCanonicalCidr(text: string): boolean {
  const cidr = parseCidr(text);
  return cidr !== undefined && `${formatIpv4(cidr.network)}/${cidr.prefix}` === text;
}

// ---------------------------------------------------------------------------------------------
// validateStackSpec

/**
 * Validates a stack spec and returns it with every default applied, or every error found (schema
 * and semantic, deduplicated, in schema order). Never mutates `input`. With `routeName` (the
 * {name} of PUT /api/stacks/{name}) a body without `name` takes the route's, and a body whose
 * `name` differs is an error.
 */
export function validateStackSpec(input: unknown, options: { routeName?: string } = {}): StackSpecValidation {
  let sent: unknown;
  let working: unknown;
  try {
    sent = structuredClone(input);
    working = structuredClone(sent);
  } catch {
    const detail = "the stack spec must be plain JSON data: objects, arrays, strings, numbers, booleans and null";
    return { ok: false, errors: [{ pointer: "", detail, keyword: "type" }] };
  }

  const errors: SpecError[] = [];
  let nameFromRoute = false;
  const { routeName } = options;
  if (routeName !== undefined && isObject(working)) {
    if (working.name === undefined) {
      working.name = routeName;
      nameFromRoute = true;
    } else if (typeof working.name === "string" && working.name !== routeName) {
      errors.push({
        pointer: "/name",
        detail: `name ${quote(working.name)} does not match the stack name ${quote(routeName)} in the URL; make them equal or leave name out`,
        keyword: "routeName",
      });
    }
  }

  const context = new Context(sent, nameFromRoute);
  validateAgainstSchema(working);
  const schemaErrors = (validateAgainstSchema.errors ?? []).flatMap((error) => describeSchemaError(error, context));
  errors.push(...schemaErrors);
  if (isObject(working)) {
    const rules = new RuleContext(working as unknown as StackSpec, context, schemaErrors);
    for (const rule of SEMANTIC_RULES) errors.push(...rule(rules));
  }

  if (errors.length === 0) return { ok: true, spec: working as StackSpec };
  return { ok: false, errors: inStableOrder(deduplicated(errors)) };
}

/** What the messages need to know about the body as sent (before defaults). */
class Context {
  constructor(
    readonly sent: unknown,
    readonly nameFromRoute: boolean,
  ) {}

  /** Whether the client wrote this pointer (as opposed to a default filling it in). */
  provided(pointer: string): boolean {
    return resolvePointer(this.sent, pointer).found;
  }

  /** Human name of a location: "network.webSubnet", "network.adminSourceRanges[2]", 'tags["a b"]'. */
  label(pointer: string): string {
    if (pointer === "") return "the stack spec";
    if (pointer === "/name" && this.nameFromRoute) return "the stack name in the URL";
    return splitPointer(pointer)
      .map((whole, index) => {
        const segment = truncate(whole, 64);
        if (/^(0|[1-9][0-9]*)$/.test(segment)) return `[${segment}]`;
        if (/^[A-Za-z_$][\w$-]*$/.test(segment)) return index === 0 ? segment : `.${segment}`;
        return `[${JSON.stringify(segment)}]`;
      })
      .join("");
  }
}

// ---------------------------------------------------------------------------------------------
// ajv errors, made human

/** The parts of a JSON Schema the messages read (the schema is `as const`, so keys are known). */
interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
  enum?: readonly unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  description?: string;
}
const ROOT_SCHEMA: SchemaNode = STACK_SPEC_SCHEMA;

function describeSchemaError(error: ErrorObject, context: Context): SpecError[] {
  const at = error.instancePath;
  const schema = (error.parentSchema ?? {}) as SchemaNode;
  const data = error.data;
  const label = context.label(at);
  const params = error.params as Record<string, unknown>;
  const make = (pointer: string, detail: string): SpecError[] => [{ pointer, detail, keyword: error.keyword }];

  // errors of a `propertyNames` subschema: the key itself is what's wrong
  if (error.propertyName !== undefined) {
    const pointer = childPointer(at, error.propertyName);
    return make(pointer, propertyNameDetail(label, error.propertyName, error));
  }

  switch (error.keyword) {
    case "additionalProperties": {
      const field = String(params.additionalProperty);
      return make(childPointer(at, field), unknownFieldDetail(field, at === "" ? "" : ` in ${label}`, schema));
    }
    case "required": {
      const pointer = childPointer(at, String(params.missingProperty));
      return make(pointer, `${context.label(pointer)} is required`);
    }
    case "propertyNames":
      return []; // the failing keyword inside propertyNames is reported with the key itself
    case "type":
      return make(at, `${label} must be ${expectedType(schema)}, got ${describeValue(data)}`);
    case "enum": {
      const allowed = (params.allowedValues as unknown[]) ?? [];
      const options = allowed.map((value) => JSON.stringify(value));
      const expected = options.length === 1 ? options[0] : `one of ${options.join(", ")}`;
      return make(at, `${label} must be ${expected}, got ${describeValue(data)}${suggestion(data, allowed)}`);
    }
    case "pattern":
    case "format":
      return make(at, stringRuleDetail(label, String(data), error, schema));
    case "minimum":
    case "maximum":
      return make(at, `${label} must be ${expectedType(schema)}, got ${describeValue(data)}`);
    case "minLength":
    case "maxLength": {
      const length = typeof data === "string" ? data.length : 0;
      if (schema.minLength === 1 && length === 0) return make(at, `${label} must not be empty`);
      return make(at, `${label} must be ${lengthRange(schema)}, got ${length} characters`);
    }
    case "maxItems":
      return make(at, `${label} may list at most ${String(params.limit)} entries, got ${countOf(data)}`);
    case "maxProperties":
      return make(at, `${label} may have at most ${String(params.limit)} entries, got ${countOf(data)}`);
    case "uniqueItems": {
      const [first, second] = [Number(params.j), Number(params.i)].sort((a, b) => a - b);
      const duplicate = Array.isArray(data) ? (data[second] as unknown) : undefined;
      return make(
        childPointer(at, String(second)),
        `${label} lists ${typeof duplicate === "string" ? quote(duplicate) : describeValue(duplicate)} twice (entries ${first} and ${second}); remove the duplicate`,
      );
    }
    default:
      return make(at, `${label} ${error.message ?? "is not valid"}`);
  }
}

function unknownFieldDetail(field: string, where: string, schema: SchemaNode): string {
  const allowed = Object.keys(schema.properties ?? {});
  const guess = closestName(field, allowed);
  const hint = guess === undefined ? "." : `; did you mean '${guess}'?`;
  return `unknown field '${printable(truncate(field, 64))}'${where}${hint} Allowed fields: ${allowed.join(", ")}`;
}

function expectedType(schema: SchemaNode): string {
  switch (schema.type) {
    case "integer":
      return `a whole number${numberRange(schema)}`;
    case "number":
      return `a number${numberRange(schema)}`;
    case "string":
      return "a string";
    case "boolean":
      return "true or false";
    case "object":
      return "an object";
    case "array":
      return "an array";
    default:
      return schema.type ?? "valid";
  }
}

function numberRange(schema: SchemaNode): string {
  const { minimum, maximum } = schema;
  if (minimum !== undefined && maximum !== undefined) return ` from ${minimum} to ${maximum}`;
  if (minimum !== undefined) return ` of at least ${minimum}`;
  if (maximum !== undefined) return ` of at most ${maximum}`;
  return "";
}

function lengthRange(schema: SchemaNode): string {
  const { minLength, maxLength } = schema;
  if (minLength !== undefined && maxLength !== undefined) return `${minLength} to ${maxLength} characters`;
  if (maxLength !== undefined) return `at most ${maxLength} characters`;
  return `at least ${minLength ?? 0} characters`;
}

/**
 * Pattern and format failures, explained by the rule behind them rather than by the regex. A field
 * with both a format and a pattern (hostnames) gets the same sentence from both, so it is reported
 * once.
 */
function stringRuleDetail(label: string, value: string, error: ErrorObject, schema: SchemaNode): string {
  const got = `got ${describeValue(value)}`;
  if (error.keyword === "format") {
    switch ((error.params as { format?: string }).format) {
      case "ipv4-cidr":
        return cidrDetail(label, value);
      case "hostname":
        return `${label} must be a fully qualified domain name in lowercase, e.g. "jump.example.com", ${got}`;
      case "uuid":
        return `${label} must be a GUID such as "00000000-0000-0000-0000-000000000000", ${got}`;
      case "uri":
        return `${label} must be an absolute URL, ${got}`;
      case "email":
        return `${label} must be an email address, ${got}`;
      default:
        return `${label} ${error.message ?? "is not valid"}, ${got}`;
    }
  }
  const pattern = String((error.params as { pattern?: unknown }).pattern);
  const explain = PATTERN_RULES.get(pattern);
  if (explain) return explain(label, value, schema);
  const rule = schema.description ? `: ${schema.description}` : ` the pattern ${pattern}`;
  return `${label} does not match${rule} (${got})`;
}

function cidrDetail(label: string, value: string): string {
  const loose = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(value);
  const address = loose ? parseIpv4(loose[1]) : undefined;
  const prefix = loose ? Number(loose[2]) : NaN;
  if (address !== undefined && prefix <= 32) {
    const size = 2 ** (32 - prefix);
    const network = Math.floor(address / size) * size;
    if (network !== address)
      return `${label} ${quote(value)} has host bits set; the /${prefix} block that contains it is "${formatIpv4(network)}/${prefix}"`;
  }
  return `${label} must be an IPv4 CIDR block such as "10.40.0.0/16", got ${describeValue(value)}`;
}

type PatternExplainer = (label: string, value: string, schema: SchemaNode) => string;

const FQDN_RULE: PatternExplainer = (label, value) =>
  `${label} must be a fully qualified domain name in lowercase, e.g. "jump.example.com", got ${describeValue(value)}`;
const IMAGE_PART_RULE: PatternExplainer = (label, value) =>
  `${label} must start with a letter or digit and contain only letters, digits, ".", "_" and "-" (at most 64 characters), got ${describeValue(value)}`;
const SIZE_NAME_RULE: PatternExplainer = (label, value, schema) =>
  `${label} must be an Azure size name such as ${JSON.stringify(schema.default ?? "Standard_B2s")}, got ${describeValue(value)}`;

const SCHEMA_PROPERTIES = STACK_SPEC_SCHEMA.properties;
/** Every pattern of the schema, keyed by the pattern itself, so a schema edit can't leave one unexplained silently (a test walks the schema). */
const PATTERN_RULES = new Map<string, PatternExplainer>([
  [STACK_NAME_PATTERN, explainStackName],
  [SCHEMA_PROPERTIES.resourceGroup.pattern, explainResourceGroupName],
  [
    SCHEMA_PROPERTIES.location.pattern,
    (label, value) =>
      `${label} must be an Azure region name: lowercase letters and digits without spaces, e.g. "westeurope", got ${describeValue(value)}`,
  ],
  [SCHEMA_PROPERTIES.fleet.properties.vmSize.pattern, SIZE_NAME_RULE],
  [SCHEMA_PROPERTIES.database.properties.skuName.pattern, SIZE_NAME_RULE],
  [SCHEMA_PROPERTIES.fleet.properties.image.properties.publisher.pattern, IMAGE_PART_RULE],
  [
    SCHEMA_PROPERTIES.fleet.properties.image.properties.version.pattern,
    (label, value) => `${label} must be "latest" or a version number such as "1.2.3", got ${describeValue(value)}`,
  ],
  [SCHEMA_PROPERTIES.tls.properties.hostname.pattern, FQDN_RULE],
  [
    SCHEMA_PROPERTIES.tls.properties.dnsLabel.pattern,
    (label, value) =>
      `${label} must be 3-63 characters: lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit, got ${describeValue(value)}`,
  ],
  [
    ARM_RESOURCE_ID_PATTERN,
    (label, value) =>
      `${label} must be the ARM id of a resource group or of a resource in one, e.g. "/subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.Network/networkSecurityGroups/<name>", got ${describeValue(value)}`,
  ],
  [
    SCHEMA_PROPERTIES.tags.additionalProperties.pattern,
    (label, value) =>
      `${label} must not contain control characters (U+0000-U+001F, U+007F-U+009F: line breaks, tabs, escapes), got ${describeValue(value)}`,
  ],
  [
    SCHEMA_PROPERTIES.tls.properties.acme.properties.directoryUrl.pattern,
    (label, value) => `${label} must be an https:// URL, got ${describeValue(value)}`,
  ],
]);

/** Says which naming rule a stack name breaks, since users can't be expected to read the regex. */
function explainStackName(label: string, value: string): string {
  const broken: string[] = [];
  if (value.length < 3 || value.length > 15) broken.push(`is ${value.length} characters long`);
  if (/[A-Z]/.test(value)) broken.push("has uppercase letters");
  if (/[^A-Za-z0-9-]/.test(value)) broken.push("has characters other than letters, digits and hyphens");
  if (value !== "" && !/^[A-Za-z]/.test(value)) broken.push("does not start with a letter");
  if (value.endsWith("-")) broken.push("ends with a hyphen");
  if (value.includes("--")) broken.push("has two hyphens in a row");
  const what = broken.length > 0 ? `${broken.join(", ")}; ` : "";
  return `${label} ${quote(value)} ${what}stack names are 3-15 characters of lowercase letters, digits and single hyphens, starting with a letter and ending with a letter or digit (every Azure resource of the stack is named after it)`;
}

function explainResourceGroupName(label: string, value: string): string {
  if (value === "") return `${label} must not be empty`; // the same sentence as minLength's, so it is reported once
  const broken: string[] = [];
  if (/[^-\w.()]/.test(value)) broken.push("has characters other than letters, digits, '-', '_', '.', '(' and ')'");
  if (value.endsWith(".")) broken.push("ends with a period");
  const what = broken.length > 0 ? `${broken.join(" and ")}; ` : "";
  return `${label} ${quote(value)} ${what}resource group names are 1-90 letters, digits, '-', '_', '.', '(' and ')', not ending with a period`;
}

function propertyNameDetail(objectLabel: string, key: string, error: ErrorObject): string {
  const tagRule = `tag names are 1-512 characters and may not contain < > % & \\ ? / or control characters`;
  if (error.keyword === "pattern" && objectLabel === "tags")
    return `tag name '${printable(truncate(key, 64))}' is not allowed: ${tagRule}`;
  return `${objectLabel} key '${printable(truncate(key, 64))}' ${error.message ?? "is not allowed"}`;
}

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

class RuleContext {
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
];

const SEMANTIC_RULES: readonly SemanticRule[] = [
  networkLayout,
  adminSourceRanges,
  fleetBounds,
  zonesNeedScaleSet,
  highAvailabilityNeedsTier,
  skuMatchesTier,
  acmeChallenge,
  adoptScope,
  tagNames,
  // shared/spec/access-rules.ts
  accessRules,
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

// ---------------------------------------------------------------------------------------------
// Order and deduplication

function deduplicated(errors: readonly SpecError[]): SpecError[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = `${error.pointer}\u0000${error.detail}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Sorts by where the field is declared in the schema (unknown fields after known ones, by name;
 * array entries by index), so the order doesn't depend on the order of keys in the body. The sort
 * is stable: errors at the same pointer keep the order they were found in.
 */
function inStableOrder(errors: readonly SpecError[]): SpecError[] {
  const keyed = errors.map((error) => ({ error, key: schemaOrderKey(error.pointer) }));
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  return keyed.map(({ error }) => error);
}

type OrderKey = [number, string][];

function schemaOrderKey(pointer: string): OrderKey {
  const key: OrderKey = [];
  let node: SchemaNode | undefined = ROOT_SCHEMA;
  for (const segment of splitPointer(pointer)) {
    const names = Object.keys(node?.properties ?? {});
    const index = names.indexOf(segment);
    if (index >= 0 && node?.properties) {
      key.push([index, ""]);
      node = node.properties[segment];
    } else if (/^[0-9]+$/.test(segment) && node?.items) {
      key.push([Number(segment), ""]);
      node = node.items;
    } else {
      key.push([names.length, segment]);
      node = typeof node?.additionalProperties === "object" ? node.additionalProperties : undefined;
    }
  }
  return key;
}

function compareKeys(a: OrderKey, b: OrderKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i][0] !== b[i][0]) return a[i][0] - b[i][0];
    if (a[i][1] !== b[i][1]) return a[i][1] < b[i][1] ? -1 : 1;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// JSON pointers and small helpers

function escapeSegment(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

function splitPointer(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function childPointer(pointer: string, segment: string): string {
  return `${pointer}/${escapeSegment(segment)}`;
}

function parentPointer(pointer: string): string {
  return pointer.slice(0, Math.max(0, pointer.lastIndexOf("/")));
}

/** Whether `inner` lies strictly inside `outer`. */
function isInside(inner: string, outer: string): boolean {
  return inner.startsWith(`${outer}/`);
}

/** Own properties only: "/constructor" must not resolve to Object.prototype.constructor. */
function resolvePointer(document: unknown, pointer: string): { found: boolean; value?: unknown } {
  let value = document;
  for (const segment of splitPointer(pointer)) {
    if (Array.isArray(value)) {
      if (!/^(0|[1-9][0-9]*)$/.test(segment) || Number(segment) >= value.length) return { found: false };
      value = value[Number(segment)];
    } else if (isObject(value) && Object.hasOwn(value, segment)) {
      value = value[segment];
    } else return { found: false };
  }
  return { found: true, value };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** Control characters of a user's text as \\u escapes, so a detail never carries them into a log or a terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A user value for a message, JSON-quoted and cut short: a detail must never carry a whole body. */
function quote(text: string): string {
  // JSON escapes C0 controls; DEL and C1 controls are escaped by hand
  return text.length <= 64
    ? printable(JSON.stringify(text))
    : `${printable(JSON.stringify(`${text.slice(0, 48)}…`))} (${text.length} characters)`;
}

function describeValue(value: unknown): string {
  if (typeof value === "string") return `the string ${quote(value)}`;
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    return Number.isFinite(value) ? String(value) : "a number too large to represent";
  }
  if (typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

function countOf(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  return isObject(value) ? Object.keys(value).length : 0;
}

/** "did you mean" for enums: the allowed value equal ignoring case, if any. */
function suggestion(value: unknown, allowed: readonly unknown[]): string {
  if (typeof value !== "string") return "";
  const match = allowed.find((option) => typeof option === "string" && option.toLowerCase() === value.toLowerCase());
  return match === undefined ? "" : `; did you mean ${JSON.stringify(match)}?`;
}

/** The allowed field a typo most likely meant: same letters ignoring case, or at most 2 edits away. */
function closestName(field: string, allowed: readonly string[]): string | undefined {
  const lower = field.toLowerCase();
  const exact = allowed.find((name) => name.toLowerCase() === lower);
  if (exact !== undefined || field.length < 4 || field.length > 64) return exact;
  let best: { name: string; distance: number } | undefined;
  for (const name of allowed) {
    const distance = editDistance(lower, name.toLowerCase());
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

// ---------------------------------------------------------------------------------------------
// parseJsonBody

export type JsonBodyResult = { ok: true; value: unknown } | { ok: false; problem: Problem };

/** Limits of one route's JSON body; parseJsonBody defaults to the stack spec's. */
export interface JsonBodyLimits {
  maxBodyBytes: number;
  maxJsonDepth: number;
  /** what the route expects, for the "empty body" message, e.g. "the stack spec" */
  expected: string;
}

const STACK_SPEC_BODY: JsonBodyLimits = { ...STACK_SPEC_LIMITS, expected: "the stack spec" };

/**
 * Reads a request body as JSON, refusing what a JSON API must not process: a non-JSON content type
 * (415), more than `limits.maxBodyBytes` (413), an empty body, bytes that are not UTF-8, invalid
 * JSON, duplicate keys, or nesting deeper than `limits.maxJsonDepth` (400). The limits default to
 * STACK_SPEC_LIMITS. The text is checked by a non-recursive scanner before JSON.parse sees it, so
 * the error says where (line and column) on every Node version, and no message ever quotes the body.
 * Accepts a string or bytes (a Buffer is a Uint8Array).
 */
export function parseJsonBody(
  raw: string | Uint8Array | null | undefined,
  contentType: string | null | undefined,
  limits: JsonBodyLimits = STACK_SPEC_BODY,
): JsonBodyResult {
  const fail = (problem: Problem): JsonBodyResult => ({ ok: false, problem });
  const empty = `The request body is empty; send ${limits.expected} as a JSON object.`;
  if (raw === null || raw === undefined || raw.length === 0) return fail(malformedBodyProblem(empty));
  if (!isJsonMediaType(contentType)) return fail(unsupportedMediaTypeProblem(contentType));
  const bytes = typeof raw === "string" ? Buffer.byteLength(raw, "utf8") : raw.byteLength;
  if (bytes > limits.maxBodyBytes) return fail(payloadTooLargeProblem(limits.maxBodyBytes, bytes));

  let text: string;
  if (typeof raw === "string") text = raw.startsWith("\uFEFF") ? raw.slice(1) : raw;
  else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw); // drops a leading byte order mark
    } catch {
      return fail(malformedBodyProblem("The request body is not valid UTF-8."));
    }
  }
  if (text.trim() === "") return fail(malformedBodyProblem(empty));

  const syntaxError = findJsonSyntaxError(text, limits.maxJsonDepth);
  if (syntaxError !== undefined)
    return fail(malformedBodyProblem(`The request body is not valid JSON: ${syntaxError}.`));
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return fail(malformedBodyProblem("The request body is not valid JSON.")); // the scanner and V8 disagree: refuse
  }
}

/** application/json or any application/*+json, optionally with charset=utf-8 (JSON is UTF-8, RFC 8259). */
function isJsonMediaType(contentType: string | null | undefined): boolean {
  if (!contentType) return false;
  const [essence, ...parameters] = contentType.split(";");
  const mediaType = essence.trim().toLowerCase();
  if (mediaType !== "application/json" && !/^application\/[a-z0-9!#$&^_.+-]+\+json$/.test(mediaType)) return false;
  return parameters.every((parameter) => {
    const [name, ...rest] = parameter.split("=");
    if (name.trim().toLowerCase() !== "charset") return true;
    const charset = rest
      .join("=")
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
    return charset === "utf-8" || charset === "utf8";
  });
}

type Expecting =
  | "value" // after ':' or at the start
  | "valueOrEnd" // after '['
  | "valueAfterComma" // after ',' in an array
  | "keyOrEnd" // after '{'
  | "keyAfterComma" // after ',' in an object
  | "colon"
  | "commaOrEnd"
  | "nothing"; // after the top-level value

interface Container {
  kind: "object" | "array";
  keys: Set<string>;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * RFC 8259 syntax check with an explicit stack (no recursion, so no stack overflow on hostile
 * input), plus two refusals JSON.parse doesn't make: duplicate keys (JSON.parse silently keeps the
 * last one, so two readers of the same body could disagree) and excessive depth.
 * Returns a description with line and column, or undefined when the text is fine.
 */
function findJsonSyntaxError(text: string, maxDepth: number): string | undefined {
  const stack: Container[] = [];
  let expecting: Expecting = "value";
  let i = 0;
  const at = (position: number) => describePosition(text, position);
  const afterValue = (): Expecting => (stack.length === 0 ? "nothing" : "commaOrEnd");

  while (true) {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
    if (i >= text.length) {
      if (expecting === "nothing") return undefined;
      return `unexpected end of the body at ${at(i)}${stack.length > 0 ? ` (an ${stack[stack.length - 1].kind} is not closed)` : ""}`;
    }
    const c = text[i];
    switch (expecting) {
      case "nothing":
        return `unexpected ${describeChar(c)} after the end of the JSON value at ${at(i)}`;
      case "colon":
        if (c !== ":") return `expected ':' after a property name at ${at(i)}, found ${describeChar(c)}`;
        i++;
        expecting = "value";
        continue;
      case "commaOrEnd": {
        const top = stack[stack.length - 1];
        const close = top.kind === "object" ? "}" : "]";
        if (c === ",") expecting = top.kind === "object" ? "keyAfterComma" : "valueAfterComma";
        else if (c === close) {
          stack.pop();
          expecting = afterValue();
        } else return `expected ',' or '${close}' at ${at(i)}, found ${describeChar(c)}`;
        i++;
        continue;
      }
      case "keyOrEnd":
      case "keyAfterComma": {
        if (c === "}") {
          if (expecting === "keyAfterComma") return `trailing comma before '}' at ${at(i)}`;
          stack.pop();
          expecting = afterValue();
          i++;
          continue;
        }
        if (c !== '"') return `expected a property name in double quotes at ${at(i)}, found ${describeChar(c)}`;
        const end = scanString(text, i);
        if (typeof end === "string") return end;
        const key = JSON.parse(text.slice(i, end)) as string;
        const keys = stack[stack.length - 1].keys;
        if (keys.has(key)) return `duplicate property name '${truncate(key, 64)}' at ${at(i)}`;
        keys.add(key);
        i = end;
        expecting = "colon";
        continue;
      }
      case "value":
      case "valueOrEnd":
      case "valueAfterComma": {
        if (c === "]" && expecting !== "value") {
          if (expecting === "valueAfterComma") return `trailing comma before ']' at ${at(i)}`;
          stack.pop();
          expecting = afterValue();
          i++;
          continue;
        }
        if (c === "{" || c === "[") {
          if (stack.length >= maxDepth)
            return `objects and arrays are nested deeper than ${maxDepth} levels at ${at(i)}`;
          stack.push({ kind: c === "{" ? "object" : "array", keys: new Set() });
          expecting = c === "{" ? "keyOrEnd" : "valueOrEnd";
          i++;
          continue;
        }
        if (c === '"') {
          const end = scanString(text, i);
          if (typeof end === "string") return end;
          i = end;
        } else if (c === "-" || (c >= "0" && c <= "9")) {
          NUMBER.lastIndex = i;
          if (!NUMBER.test(text) || /[0-9.eE]/.test(text[NUMBER.lastIndex] ?? "")) return `invalid number at ${at(i)}`;
          i = NUMBER.lastIndex;
        } else {
          const literal = ["true", "false", "null"].find((word) => text.startsWith(word, i));
          if (literal === undefined) return `expected a value at ${at(i)}, found ${describeChar(c)}`;
          i += literal.length;
        }
        expecting = afterValue();
        continue;
      }
    }
  }
}

/** Scans the string starting at the quote at `start`; returns the index after its closing quote, or an error. */
function scanString(text: string, start: number): number | string {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20)
      return `control character ${describeChar(text[i])} inside a string at ${describePosition(text, i)} (escape it)`;
    if (c === 0x5c) {
      const next = text[i + 1];
      if (next === "u") {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6)))
          return `invalid \\u escape at ${describePosition(text, i)}`;
        i += 5;
      } else if (next !== undefined && `"\\/bfnrt`.includes(next)) i++;
      else return `invalid escape sequence at ${describePosition(text, i)}`;
    }
  }
  return `string starting at ${describePosition(text, start)} is not terminated`;
}

function describePosition(text: string, position: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++)
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  return `line ${line}, column ${position - lineStart + 1}`;
}

/** One character of the body, printable ASCII shown as is and anything else as a code point. */
function describeChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code >= 0x21 && code <= 0x7e ? `'${c}'` : `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}
