// `npm run docs`: the README's "Stack spec reference", generated from the stack spec's JSON Schema
// (shared/spec/schema.ts) and the cross-field rules next to the validator, so the reference can't
// drift from what PUT /api/stacks/{name} accepts. `--write` rewrites the block between the
// spec-reference markers in README.md, `--check` exits 1 when it is stale (a unit test checks the
// same). renderSpecReference is pure; the script runs prettier over its output with the repository's
// config, so the README stays what `prettier --check .` wants.
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import { STACK_SPEC_SCHEMA } from "../shared/spec/schema";
import type { StackSpecInput } from "../shared/spec/types";
import { CROSS_FIELD_RULES } from "../shared/spec/validate";

/** The parts of a JSON Schema the reference shows. Any other keyword makes rendering fail. */
export interface SchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: readonly unknown[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  maxProperties?: number;
  items?: SchemaNode;
  required?: readonly string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  propertyNames?: SchemaNode;
}

const SHOWN_KEYWORDS = new Set([
  "type",
  "description",
  "default",
  "enum",
  "format",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "minItems",
  "maxItems",
  "uniqueItems",
  "maxProperties",
  "items",
  "required",
  "properties",
  "additionalProperties",
  "propertyNames",
]);
/** Keywords of the root that say what the document is, not what a field may hold. */
const ROOT_ONLY_KEYWORDS = new Set(["$schema", "$id", "title"]);

/** What each string format means, for the legend; a format missing here makes rendering fail. */
const FORMAT_NOTES: Record<string, string> = {
  uuid: "a GUID such as `00000000-0000-0000-0000-000000000000`",
  "ipv4-cidr": "an IPv4 block in canonical form, without host bits: `10.40.0.0/16`, not `10.40.1.0/16`",
  hostname: "a fully qualified domain name",
  uri: "an absolute URL",
  email: "an email address",
};

export const START_MARKER = "<!-- spec-reference:start -->";
export const END_MARKER = "<!-- spec-reference:end -->";
export const README_PATH = path.join(__dirname, "..", "..", "README.md");

// ---------------------------------------------------------------------------------------------
// Examples: typed against the schema, and a test validates both.

const EXAMPLE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001";

/** The smallest body for `PUT /api/stacks/demo`: the name comes from the URL, everything else defaults. */
export const MINIMAL_SPEC_EXAMPLE: { routeName: string; body: Omit<StackSpecInput, "name"> } = {
  routeName: "demo",
  body: { subscriptionId: EXAMPLE_SUBSCRIPTION, resourceGroup: "rg-demo", location: "westeurope" },
};

/** Every field of the schema set (a test checks that), consistent with every cross-field rule. */
export const FULL_SPEC_EXAMPLE: StackSpecInput = {
  name: "demo",
  subscriptionId: EXAMPLE_SUBSCRIPTION,
  resourceGroup: "rg-demo",
  location: "westeurope",
  tags: { owner: "platform-team", "cost-center": "4711" },
  network: {
    addressSpace: "10.40.0.0/16",
    webSubnet: "10.40.1.0/24",
    databaseSubnet: "10.40.2.0/24",
    adminSourceRanges: ["203.0.113.0/24", "198.51.100.7/32"],
  },
  fleet: {
    mode: "scaleSet",
    size: 3,
    min: 2,
    max: 6,
    vmSize: "Standard_D2s_v5",
    image: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
    zones: ["1", "2", "3"],
  },
  database: {
    skuName: "Standard_D2ds_v4",
    tier: "GeneralPurpose",
    version: "8.0",
    storageGb: 64,
    backupRetentionDays: 14,
    geoRedundantBackup: true,
    highAvailability: "ZoneRedundant",
  },
  tls: {
    hostname: "jump.example.com",
    dnsLabel: "demo-jump",
    acme: {
      directoryUrl: "https://acme-v02.api.letsencrypt.org/directory",
      contact: "ops@example.com",
      challenge: "dns-01",
      dnsZone: { subscriptionId: EXAMPLE_SUBSCRIPTION, resourceGroup: "rg-dns", name: "example.com" },
    },
  },
  // the group the platform team made for the stack beforehand: the stack takes it over
  adopt: [`/subscriptions/${EXAMPLE_SUBSCRIPTION}/resourceGroups/rg-demo`],
  guacamole: { version: "1.6.0" },
  nodeImage: { enabled: true },
  access: {
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
    usernameClaim: "preferred_username",
    adminGroups: ["0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f"],
    userGroups: ["6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f", "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70"],
    breakGlass: { maxMinutes: 240, passwordMaxAgeDays: 30 },
  },
  recordings: { enabled: true, retentionDays: 180, includeKeys: false, coolAfterDays: 30, immutability: "unlocked" },
  connections: {
    sources: [
      {
        subscriptionId: EXAMPLE_SUBSCRIPTION,
        resourceGroups: ["rg-app-prod", "rg-app-test"],
        tag: "jumpgate-connect",
        credential: {
          secret: "targets-login",
          vaultId: `/subscriptions/${EXAMPLE_SUBSCRIPTION}/resourceGroups/rg-app-prod/providers/Microsoft.KeyVault/vaults/kv-app-prod`,
        },
        groups: ["6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f"],
      },
    ],
  },
  policies: {
    repair: {
      enabled: true,
      maxUnhealthyPercent: 50,
      maxRepairsPerHour: 3,
      debounceSeconds: 60,
      suspendAfterFailedRepairs: 3,
    },
    scale: { enabled: true, metric: "sessions", cooldownMinutes: 15, drainTimeoutMinutes: 30 },
    rotation: { databaseCredentialMaxAgeDays: 30, adminPasswordMaxAgeDays: 90 },
  },
};

export interface SpecReferenceExtras {
  rules: readonly { keyword: string; rule: string }[];
  minimal: { routeName: string; body: unknown };
  full: unknown;
}

const DEFAULT_EXTRAS: SpecReferenceExtras = {
  rules: CROSS_FIELD_RULES,
  minimal: MINIMAL_SPEC_EXAMPLE,
  full: FULL_SPEC_EXAMPLE,
};

// ---------------------------------------------------------------------------------------------
// Rendering

/** One object of the schema that has its own table, with its path from the root ([] for the root). */
interface ObjectEntry {
  path: string[];
  node: SchemaNode;
}

/**
 * The reference as Markdown: an introduction, one table per object of the schema (the root first,
 * then every nested object depth-first in schema order, under its dotted path), the cross-field
 * rules and the two examples. Pure: the same schema and extras give the same text. Throws on a
 * schema keyword it does not know how to show, so nothing the validator enforces goes unmentioned.
 */
export function renderSpecReference(schema: SchemaNode, extras: SpecReferenceExtras = DEFAULT_EXTRAS): string {
  const objects: ObjectEntry[] = [];
  const maps: string[] = [];
  const formats = new Set<string>();
  collect(schema, [], { objects, maps, formats }, true);

  const out: string[] = [];
  out.push(
    "<!-- Generated from shared/spec/schema.ts and CROSS_FIELD_RULES in shared/spec/validate.ts by `npm run docs`; edit those, not this block. -->",
  );
  const intro = [
    "The body of `PUT /api/stacks/{name}` and `POST /api/stacks/{name}/plan`, as `validateStackSpec` (`shared/spec/validate.ts`) checks it: the JSON Schema 2020-12 in `shared/spec/schema.ts`, then the cross-field rules below.",
    "A field left out takes its default (an object left out gets the defaults of its fields); a required field must be present whenever its object is.",
  ];
  if (objects.every(({ node }) => node.additionalProperties === false)) {
    const free = maps.length === 0 ? "" : ` (the entries of ${alternatives(maps.map(code))} excepted)`;
    intro.push(`Fields not listed are refused${free}.`);
  }
  out.push(intro.join(" "));
  if (formats.size > 0) {
    const notes = [...formats].map((format) => `\`${format}\` is ${FORMAT_NOTES[format]}`);
    out.push(`Formats: ${notes.join("; ")}.`);
  }

  for (const entry of objects) out.push(...renderObject(entry));

  out.push("### Cross-field rules");
  out.push(
    "Checked after the schema, on the spec with its defaults applied, so defaults take part too: `fleet.size: 5` alone is refused, because the default `fleet.max` is 4. Each error points at a field you wrote where it can.",
  );
  out.push(extras.rules.map(({ rule }) => `- ${rule}`).join("\n"));

  out.push("### Examples");
  out.push(
    `The smallest body, for \`PUT /api/stacks/${extras.minimal.routeName}\` (the name comes from the URL, everything else from the defaults):`,
  );
  out.push(jsonBlock(extras.minimal.body));
  out.push("Every field set:");
  out.push(jsonBlock(extras.full));
  return `${out.join("\n\n")}\n`;
}

interface Found {
  objects: ObjectEntry[];
  /** dotted paths of the objects whose entries are free names (maps, like `tags`) */
  maps: string[];
  formats: Set<string>;
}

function collect(node: SchemaNode, at: string[], found: Found, root = false): void {
  for (const keyword of Object.keys(node))
    if (!SHOWN_KEYWORDS.has(keyword) && !(root && ROOT_ONLY_KEYWORDS.has(keyword)))
      throw new Error(`spec reference: ${where(at)} uses the keyword "${keyword}", which the reference does not show`);
  if (node.format !== undefined) {
    if (FORMAT_NOTES[node.format] === undefined)
      throw new Error(`spec reference: ${where(at)} uses the format "${node.format}", which has no note`);
    found.formats.add(node.format);
  }
  if (node.properties) found.objects.push({ path: at, node });
  else if (node.type === "object" && node.additionalProperties !== false) found.maps.push(at.join("."));
  for (const [key, child] of Object.entries(node.properties ?? {})) collect(child, [...at, key], found);
  if (node.items) collect(node.items, [...at, "[]"], found);
  if (typeof node.additionalProperties === "object") collect(node.additionalProperties, [...at, "*"], found);
  if (node.propertyNames) collect(node.propertyNames, [...at, "(names)"], found);
}

function where(at: string[]): string {
  return at.length === 0 ? "the root" : at.join(".");
}

/** The heading of an object's table. */
function headingOf(at: string[]): string {
  return at.length === 0 ? "Top level" : `\`${at.join(".")}\``;
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as hyphens. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, "")
    .replace(/ /g, "-");
}

function renderObject({ path: at, node }: ObjectEntry): string[] {
  const parts = [`### ${headingOf(at)}`];
  if (node.description) parts.push(inline(node.description));
  const required = new Set(node.required ?? []);
  const rows = Object.entries(node.properties ?? {}).map(([key, child]) => {
    const field = child.properties ? `[\`${key}\`](#${anchorOf(headingOf([...at, key]))})` : `\`${key}\``;
    return [
      field,
      typeOf(child),
      child.default === undefined ? "" : code(JSON.stringify(child.default)),
      required.has(key) ? "yes" : "no",
      child.description === undefined ? "" : inline(child.description),
    ];
  });
  parts.push(table(["field", "type", "default", "required", "description"], rows));
  return parts;
}

/** The type column: the JSON type with every constraint the schema puts on it. */
function typeOf(node: SchemaNode): string {
  if (node.enum) return alternatives(node.enum.map((value) => code(JSON.stringify(value))));
  const parts: string[] = [node.type ?? "any"];
  if (node.format !== undefined) parts.push(`format \`${node.format}\``);
  const length = range(node.minLength, node.maxLength, "characters");
  if (length) parts.push(length);
  if (node.pattern !== undefined) parts.push(`pattern ${code(node.pattern)}`);
  const bounds = range(node.minimum, node.maximum);
  if (bounds) parts.push(bounds);
  if (node.type === "array") {
    parts[0] = `array of ${node.items ? typeOf(node.items) : "any"}`;
    if (node.minItems !== undefined) parts.push(`at least ${node.minItems} item${node.minItems === 1 ? "" : "s"}`);
    if (node.maxItems !== undefined) parts.push(`at most ${node.maxItems} items`);
    if (node.uniqueItems) parts.push("no duplicates");
  }
  if (node.type === "object" && !node.properties) {
    if (node.maxProperties !== undefined) parts.push(`at most ${node.maxProperties} entries`);
    if (node.propertyNames) parts.push(`names: ${typeOf(node.propertyNames)}`);
    if (typeof node.additionalProperties === "object") parts.push(`values: ${typeOf(node.additionalProperties)}`);
    return parts.join("; ");
  }
  return parts.join(", ");
}

function range(min: number | undefined, max: number | undefined, unit?: string): string | undefined {
  const suffix = unit ? ` ${unit}` : "";
  if (min !== undefined && max !== undefined) return `${min} to ${max}${suffix}`;
  if (min !== undefined) return `at least ${min}${suffix}`;
  if (max !== undefined) return `at most ${max}${suffix}`;
  return undefined;
}

function alternatives(options: string[]): string {
  if (options.length <= 1) return options.join("");
  return `${options.slice(0, -1).join(", ")} or ${options[options.length - 1]}`;
}

/** A code span for any text (a backtick inside gets a longer fence). */
function code(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  return longest > 0 ? `${fence} ${text} ${fence}` : `${fence}${text}${fence}`;
}

/** Schema prose as Markdown text on one line: `<` outside code spans would start an HTML tag. */
function inline(text: string): string {
  return text
    .replace(/\s+/g, " ")
    .split(/(`[^`]*`)/)
    .map((piece, index) => (index % 2 === 1 ? piece : piece.replace(/</g, "\\<")))
    .join("");
}

/** A GFM table, aligned; a `|` in a cell (code spans included) is escaped, as GFM requires. */
function table(header: string[], rows: string[][]): string {
  const cells = [header, ...rows].map((row) => row.map((cell) => cell.replace(/\|/g, "\\|")));
  const widths = header.map((_, column) => Math.max(3, ...cells.map((row) => row[column].length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column])).join(" | ")} |`;
  const rule = `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join("\n");
}

function jsonBlock(value: unknown): string {
  return ["```json", JSON.stringify(value, null, 2), "```"].join("\n");
}

// ---------------------------------------------------------------------------------------------
// The README block

/** Markdown as prettier, with the repository's config, would write it into `filepath`. */
export async function formatMarkdown(markdown: string, filepath: string = README_PATH): Promise<string> {
  const config = (await prettier.resolveConfig(filepath)) ?? {};
  return prettier.format(markdown, { ...config, filepath, parser: "markdown" });
}

/** What belongs between the markers for this schema: the rendering, formatted. */
export async function specReferenceBlock(schema: SchemaNode = STACK_SPEC_SCHEMA): Promise<string> {
  return (await formatMarkdown(renderSpecReference(schema))).trim();
}

function markerPositions(readme: string): { start: number; end: number } {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (
    start < 0 ||
    end < start ||
    readme.indexOf(START_MARKER, start + 1) >= 0 ||
    readme.indexOf(END_MARKER, end + 1) >= 0
  )
    throw new Error(`README.md needs exactly one ${START_MARKER} followed by one ${END_MARKER}`);
  return { start: start + START_MARKER.length, end };
}

/** The text between the markers, trimmed. */
export function readReferenceBlock(readme: string): string {
  const { start, end } = markerPositions(readme);
  return readme.slice(start, end).trim();
}

/** The README with `block` between the markers; everything outside them untouched. */
export function withReferenceBlock(readme: string, block: string): string {
  const { start, end } = markerPositions(readme);
  return `${readme.slice(0, start)}\n\n${block.trim()}\n\n${readme.slice(end)}`;
}

async function main(): Promise<void> {
  const mode = process.argv.includes("--write") ? "write" : process.argv.includes("--check") ? "check" : undefined;
  if (!mode) {
    console.error("usage: node dist/scripts/spec-reference.js --write | --check");
    process.exit(2);
  }
  const readme = fs.readFileSync(README_PATH, "utf8");
  const wanted = withReferenceBlock(readme, await specReferenceBlock());
  if (wanted === readme) {
    console.log("README.md: the stack spec reference is up to date");
    return;
  }
  if (mode === "check") {
    console.error("README.md: the stack spec reference is stale; run `npm run docs`");
    process.exit(1);
  }
  fs.writeFileSync(README_PATH, wanted);
  console.log("README.md: stack spec reference rewritten");
}

if (require.main === module)
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
