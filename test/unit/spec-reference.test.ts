// The README's stack spec reference (scripts/spec-reference.ts): generated from the schema and in
// step with it, showing every field, with examples that validate and cross-field rules that say
// what validate.ts really enforces.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  FULL_SPEC_EXAMPLE,
  MINIMAL_SPEC_EXAMPLE,
  README_PATH,
  readReferenceBlock,
  renderSpecReference,
  specReferenceBlock,
  type SchemaNode,
} from "../../scripts/spec-reference";
import { STACK_SPEC_SCHEMA } from "../../shared/spec/schema";
import { CROSS_FIELD_RULES, validateStackSpec, type SpecError } from "../../shared/spec/validate";

const SCHEMA: SchemaNode = STACK_SPEC_SCHEMA;
const VALIDATE_SOURCE = path.join(__dirname, "..", "..", "..", "shared", "spec", "validate.ts");
const RULES_SOURCE = path.join(__dirname, "..", "..", "..", "shared", "spec", "cross-field-rules.ts");
/** the access section's rules, which validate.ts lists and runs with its own */
const ACCESS_RULES_SOURCE = path.join(__dirname, "..", "..", "..", "shared", "spec", "access-rules.ts");
const CONNECTION_RULES_SOURCE = path.join(__dirname, "..", "..", "..", "shared", "spec", "connection-rules.ts");

/** Every object of the schema with fields, and every field, with their paths. */
function walk(visit: (node: SchemaNode, at: string[]) => void, node: SchemaNode = SCHEMA, at: string[] = []): void {
  visit(node, at);
  for (const [key, child] of Object.entries(node.properties ?? {})) walk(visit, child, [...at, key]);
}

/** The lines of the rendered section under the heading of the object at `at`, up to the next heading. */
function sectionOf(markdown: string, at: string[]): string[] {
  const heading = at.length === 0 ? "### Top level" : `### \`${at.join(".")}\``;
  const lines = markdown.split("\n");
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, `the reference has a heading "${heading}"`);
  const next = lines.findIndex((line, index) => index > start && line.startsWith("#"));
  return lines.slice(start + 1, next < 0 ? undefined : next);
}

function firstDifference(actual: string, expected: string): string {
  const a = actual.split("\n");
  const e = expected.split("\n");
  const line = a.findIndex((text, index) => text !== e[index]);
  const at = line < 0 ? a.length : line;
  return `first difference at line ${at + 1} of the block:\n  README:    ${a[at] ?? "(end)"}\n  generated: ${e[at] ?? "(end)"}`;
}

describe("stack spec reference", () => {
  test("README.md's block is the rendering of the current schema", async () => {
    const readme = fs.readFileSync(README_PATH, "utf8");
    const actual = readReferenceBlock(readme);
    const expected = await specReferenceBlock(SCHEMA);
    if (actual !== expected)
      assert.fail(
        `README.md's stack spec reference is stale: run \`npm run docs\`\n${firstDifference(actual, expected)}`,
      );
  });

  test("the section sits between the HTTP API and the sandbox", () => {
    const headings = fs
      .readFileSync(README_PATH, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("## "));
    const at = headings.indexOf("## Stack spec reference");
    assert.ok(at > 0, "README.md has a '## Stack spec reference' section");
    assert.deepEqual(headings.slice(at - 1, at + 2), ["## HTTP API", "## Stack spec reference", "## The sandbox"]);
  });

  test("every field of the schema has a row in its object's table, with type, description and default", () => {
    const markdown = renderSpecReference(SCHEMA);
    let fields = 0;
    walk((node, at) => {
      if (!node.properties) return;
      const section = sectionOf(markdown, at);
      for (const [key, child] of Object.entries(node.properties)) {
        fields++;
        const field = [...at, key].join(".");
        assert.ok(child.description, `${field} has a description in the schema`);
        const row = section.find((line) => line.startsWith(`| \`${key}\` `) || line.startsWith(`| [\`${key}\`](`));
        assert.ok(row, `${field} has a row in the table of ${at.join(".") || "the top level"}`);
        const cells = row
          .slice(2, -2)
          .split(" | ")
          .map((cell) => cell.trim());
        assert.ok(cells[1].length > 0, `${field} has a type`);
        if (child.default !== undefined) assert.equal(cells[2], `\`${JSON.stringify(child.default)}\``, field);
        assert.equal(cells[3], node.required?.includes(key) ? "yes" : "no", field);
        if (child.properties) assert.ok(cells[0].startsWith(`[\``), `${field} links to its own table`);
      }
    });
    assert.ok(fields > 50, `walked ${fields} fields`);
  });

  test("constraints show up in the type column", () => {
    const markdown = renderSpecReference(SCHEMA);
    const rowOf = (at: string[], key: string) =>
      sectionOf(markdown, at).find((line) => line.startsWith(`| \`${key}\` `)) ?? assert.fail(`row ${key}`);
    assert.match(rowOf(["fleet"], "mode"), /`"availabilitySet"` or `"scaleSet"`/);
    assert.match(rowOf(["fleet"], "size"), /integer, 1 to 50/);
    assert.match(rowOf(["fleet"], "zones"), /array of `"1"`, `"2"` or `"3"`, no duplicates/);
    assert.match(rowOf(["network"], "adminSourceRanges"), /array of string, format `ipv4-cidr`, at most 50 items/);
    assert.match(rowOf([], "resourceGroup"), /1 to 90 characters, pattern `\^\[-\\w\.\(\)\]\*\[-\\w\(\)\]\$`/);
    assert.match(rowOf(["fleet", "image"], "version"), /pattern `\^\(latest\\\|\[0-9\]/, "a | in a cell is escaped");
    assert.match(rowOf([], "tags"), /at most 40 entries; names: string, pattern .*; values: string, at most 256/);
    assert.match(rowOf(["tls", "acme"], "contact"), /format `email`, at most 254 characters/);
  });

  test("a schema keyword the reference can't show fails the rendering instead of going unmentioned", () => {
    const schema: SchemaNode = { type: "object", properties: { a: { type: "string", const: "x" } as SchemaNode } };
    assert.throws(() => renderSpecReference(schema), /a uses the keyword "const"/);
    const format: SchemaNode = { type: "object", properties: { a: { type: "string", format: "ipv6" } } };
    assert.throws(() => renderSpecReference(format), /format "ipv6"/);
  });

  test("the minimal example validates with the name from the URL, and is minimal", () => {
    const result = validateStackSpec(MINIMAL_SPEC_EXAMPLE.body, { routeName: MINIMAL_SPEC_EXAMPLE.routeName });
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(
      Object.keys(MINIMAL_SPEC_EXAMPLE.body).sort(),
      SCHEMA.required?.filter((k) => k !== "name").sort(),
    );
  });

  test("the full example validates as it is and sets every field of the schema", () => {
    const result = validateStackSpec(FULL_SPEC_EXAMPLE);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.spec, FULL_SPEC_EXAMPLE, "no default was needed");
    walk((_node, at) => {
      let value: unknown = FULL_SPEC_EXAMPLE;
      for (const key of at) value = (value as Record<string, unknown> | undefined)?.[key];
      assert.notEqual(value, undefined, `the full example sets ${at.join(".")}`);
    });
  });

  test("every rule the validation reports is listed in CROSS_FIELD_RULES, and nothing else", () => {
    const source = fs.readFileSync(RULES_SOURCE, "utf8");
    const withoutList = `${source.replace(/export const CROSS_FIELD_RULES[\s\S]*?\n\];\n/, "")}\n${fs.readFileSync(VALIDATE_SOURCE, "utf8")}`;
    assert.ok(
      !withoutList.includes("export const CROSS_FIELD_RULES"),
      "found CROSS_FIELD_RULES in cross-field-rules.ts",
    );
    const accessSource = fs
      .readFileSync(ACCESS_RULES_SOURCE, "utf8")
      .replace(/export const ACCESS_CROSS_FIELD_RULES[\s\S]*?\n\];\n/, "");
    const connectionSource = fs
      .readFileSync(CONNECTION_RULES_SOURCE, "utf8")
      .replace(/export const CONNECTION_CROSS_FIELD_RULES[\s\S]*?\n\];\n/, "");
    const reported = new Set(
      [...`${withoutList}\n${accessSource}\n${connectionSource}`.matchAll(/keyword: "([A-Za-z]+)"/g)].map((m) => m[1]),
    );
    reported.delete("type"); // a body that is not plain JSON data, not a rule between fields
    assert.deepEqual([...new Set(CROSS_FIELD_RULES.map((r) => r.keyword))].sort(), [...reported].sort());
    assert.equal(new Set(CROSS_FIELD_RULES.map((r) => r.keyword)).size, CROSS_FIELD_RULES.length, "one entry a rule");
    const markdown = renderSpecReference(SCHEMA);
    for (const { rule } of CROSS_FIELD_RULES) assert.ok(markdown.includes(`- ${rule}`), rule);
  });

  // One spec per documented rule, breaking it and nothing else the schema checks.
  const base = {
    name: "demo",
    subscriptionId: FULL_SPEC_EXAMPLE.subscriptionId,
    resourceGroup: "rg",
    location: "westeurope",
  };
  const ACCESS = {
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
    adminGroups: ["0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f"],
  };
  const violations: Record<string, { input: object; routeName?: string }> = {
    routeName: { input: { ...base, name: "other" }, routeName: "demo" },
    addressSpacePrefix: { input: { ...base, network: { addressSpace: "10.0.0.0/7" } } },
    subnetInAddressSpace: { input: { ...base, network: { webSubnet: "10.41.1.0/24" } } },
    subnetOverlap: { input: { ...base, network: { databaseSubnet: "10.40.1.0/25" } } },
    subnetSize: { input: { ...base, network: { webSubnet: "10.40.1.0/29" } } },
    adminSourceRange: { input: { ...base, network: { adminSourceRanges: ["0.0.0.0/0"] } } },
    fleetBounds: { input: { ...base, fleet: { size: 5 } } },
    zonesNeedScaleSet: { input: { ...base, fleet: { zones: ["1"] } } },
    catalogVersion: { input: { ...base, guacamole: { version: "1.5.5" } } },
    highAvailabilityTier: { input: { ...base, database: { highAvailability: "ZoneRedundant" } } },
    skuMatchesTier: { input: { ...base, database: { skuName: "Standard_D2ds_v4" } } },
    acmeDnsZone: { input: { ...base, tls: { hostname: "jump.example.com", acme: { challenge: "dns-01" } } } },
    acmeHostname: {
      input: { ...base, tls: { acme: { challenge: "dns-01", dnsZone: { resourceGroup: "rg", name: "example.com" } } } },
    },
    tagName: { input: { ...base, tags: { "Jumpgate-Stack": "mine" } } },
    accessAdminGroup: { input: { ...base, access: { ...ACCESS, adminGroups: [] } } },
    accessGroups: { input: { ...base, access: { ...ACCESS, userGroups: [ACCESS.adminGroups[0].toUpperCase()] } } },
    connectionsNeedAccess: {
      input: {
        ...base,
        connections: { sources: [{ subscriptionId: base.subscriptionId, groups: ACCESS.adminGroups }] },
      },
    },
    connectionGroups: {
      input: {
        ...base,
        access: ACCESS,
        connections: {
          sources: [{ subscriptionId: base.subscriptionId, groups: ["11111111-2222-4333-8444-555555555555"] }],
        },
      },
    },
    adoptScope: {
      input: { ...base, adopt: [`/subscriptions/${FULL_SPEC_EXAMPLE.subscriptionId}/resourceGroups/someone-elses`] },
    },
  };
  for (const { keyword, rule } of CROSS_FIELD_RULES)
    test(`the rule "${keyword}" rejects what it describes`, () => {
      const violation = violations[keyword] ?? assert.fail(`no violating spec for ${keyword}: ${rule}`);
      const result = validateStackSpec(violation.input, violation.routeName ? { routeName: violation.routeName } : {});
      const errors: SpecError[] = result.ok ? [] : result.errors;
      assert.ok(
        errors.some((e) => e.keyword === keyword),
        `${keyword} reported: ${JSON.stringify(errors)}`,
      );
      assert.ok(
        errors.every((e) => CROSS_FIELD_RULES.some((r) => r.keyword === e.keyword)),
        `only cross-field rules fail: ${JSON.stringify(errors)}`,
      );
    });
});
