// ajv's errors, made human: one SpecError per schema failure, pointing at the field the client wrote
// (an unknown field at the field itself, a missing property where it should be), with the bounds,
// the allowed values or the pattern's rule in words.
import type { ErrorObject } from "ajv/dist/2020";
import { formatIpv4, parseIpv4 } from "../ipv4";
import { ARM_RESOURCE_ID_PATTERN, STACK_NAME_PATTERN, STACK_SPEC_SCHEMA } from "./schema";
import {
  Context,
  type SpecError,
  childPointer,
  closestName,
  countOf,
  describeValue,
  printable,
  quote,
  suggestion,
  truncate,
} from "./spec-errors";

/** The parts of a JSON Schema the messages read (the schema is `as const`, so keys are known). */
export interface SchemaNode {
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
export const ROOT_SCHEMA: SchemaNode = STACK_SPEC_SCHEMA;

export function describeSchemaError(error: ErrorObject, context: Context): SpecError[] {
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
  [
    SCHEMA_PROPERTIES.guacamole.properties.version.pattern,
    (label, value) =>
      `${label} must be a Guacamole release such as "1.6.0" (three numbers), got ${describeValue(value)}`,
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
