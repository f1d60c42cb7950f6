// Stack spec validation: defaults, schema errors made human, semantic rules, hostile input, and
// reading the request body. Every error any test sees must carry a JSON pointer that resolves in
// the body as sent (or, for a missing property, whose parent does).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import {
  STACK_SPEC_LIMITS,
  STACK_SPEC_SCHEMA,
  parseStackSpecBody,
  validateStackSpec,
  type SpecError,
  type StackSpec,
} from "../../shared/spec";

const SUBSCRIPTION = "2f0c6b1e-8d2a-4c55-9a43-1f6f3d9c2b10";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function minimal(extra: JsonObject = {}): JsonObject {
  return { name: "jump", subscriptionId: SUBSCRIPTION, resourceGroup: "rg-jump", location: "westeurope", ...extra };
}

/** Every field of the schema set, valid: the fixture for "unknown field at every level". */
function complete(): JsonObject {
  return {
    name: "jump-prod",
    subscriptionId: SUBSCRIPTION,
    resourceGroup: "rg-jump.prod(1)",
    location: "westeurope",
    tags: { owner: "platform", "cost center": "42" },
    network: {
      addressSpace: "10.50.0.0/16",
      webSubnet: "10.50.1.0/24",
      databaseSubnet: "10.50.2.0/28",
      adminSourceRanges: ["203.0.113.0/24", "198.51.100.7/32"],
    },
    fleet: {
      mode: "scaleSet",
      size: 3,
      min: 2,
      max: 6,
      vmSize: "Standard_D2s_v5",
      image: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "24.4.202404230" },
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
      dnsLabel: "jump-prod",
      acme: {
        directoryUrl: "https://acme-staging-v02.api.letsencrypt.org/directory",
        contact: "ops@example.com",
        challenge: "dns-01",
        dnsZone: { subscriptionId: SUBSCRIPTION, resourceGroup: "rg-dns", name: "example.com" },
      },
    },
    guacamole: { version: "1.6.0" },
    access: {
      tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
      usernameClaim: "email",
      adminGroups: ["0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f"],
      userGroups: ["6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f"],
      breakGlass: { maxMinutes: 60, passwordMaxAgeDays: 14 },
    },
    connections: {
      sources: [
        {
          subscriptionId: SUBSCRIPTION,
          resourceGroups: ["rg-targets"],
          tag: "connect",
          credential: {
            secret: "targets-login",
            vaultId: `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-targets/providers/Microsoft.KeyVault/vaults/kv-targets`,
          },
          groups: ["6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f"],
        },
      ],
    },
    policies: {
      repair: {
        enabled: true,
        maxUnhealthyPercent: 40,
        maxRepairsPerHour: 2,
        debounceSeconds: 120,
        suspendAfterFailedRepairs: 2,
      },
      scale: { enabled: true, metric: "sessions", cooldownMinutes: 15, drainTimeoutMinutes: 30 },
      rotation: { databaseCredentialMaxAgeDays: 14, adminPasswordMaxAgeDays: 60 },
    },
  };
}

// --- pointer checks, written independently of the code under test ---------------------------

function pointerSegments(pointer: string): string[] {
  assert.match(pointer, /^(\/([^~/]|~[01])*)*$/, `'${pointer}' is an RFC 6901 JSON pointer`);
  return pointer === ""
    ? []
    : pointer
        .slice(1)
        .split("/")
        .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function resolves(document: unknown, segments: string[]): boolean {
  let value = document;
  for (const segment of segments) {
    if (Array.isArray(value) && /^(0|[1-9][0-9]*)$/.test(segment) && Number(segment) < value.length)
      value = value[Number(segment)] as unknown;
    else if (typeof value === "object" && value !== null && !Array.isArray(value) && Object.hasOwn(value, segment))
      value = (value as Record<string, unknown>)[segment];
    else return false;
  }
  return true;
}

function assertPointersResolve(input: unknown, errors: readonly SpecError[]): void {
  for (const error of errors) {
    const segments = pointerSegments(error.pointer);
    assert.ok(
      resolves(input, segments) || resolves(input, segments.slice(0, -1)),
      `pointer '${error.pointer}' (${error.detail}) resolves in the input, or its parent does`,
    );
    assert.ok(error.detail.length > 10 && error.detail.length < 600, `detail is human-sized: ${error.detail}`);
  }
}

function errorsOf(input: unknown, routeName?: string): SpecError[] {
  const result = validateStackSpec(input, routeName === undefined ? {} : { routeName });
  if (result.ok) assert.fail(`expected the spec to be rejected: ${JSON.stringify(result.spec)}`);
  const { errors } = result;
  assert.ok(errors.length > 0);
  assertPointersResolve(input, errors);
  const keys = errors.map((e) => `${e.pointer} ${e.detail}`);
  assert.equal(new Set(keys).size, keys.length, "errors are deduplicated");
  return errors;
}

/** The input fails with exactly one error, at `pointer`, from `keyword`; returns its detail. */
function onlyError(input: unknown, pointer: string, keyword: string, routeName?: string): string {
  const errors = errorsOf(input, routeName);
  assert.deepEqual(
    errors.map((e) => [e.pointer, e.keyword]),
    [[pointer, keyword]],
    JSON.stringify(errors, null, 2),
  );
  return errors[0].detail;
}

function accepted(input: unknown, routeName?: string): StackSpec {
  const result = validateStackSpec(input, routeName === undefined ? {} : { routeName });
  assert.ok(result.ok, `expected the spec to be accepted: ${JSON.stringify(result.ok ? [] : result.errors, null, 2)}`);
  return result.spec;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Sets a value at a path of object keys, creating objects on the way. */
function withValue(document: JsonObject, path: readonly string[], value: Json): JsonObject {
  let node = document;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as JsonObject;
  }
  node[path[path.length - 1]] = value;
  return document;
}

interface SchemaNode {
  type?: string;
  pattern?: string;
  additionalProperties?: unknown;
  properties?: Record<string, SchemaNode>;
  propertyNames?: SchemaNode;
}
const SCHEMA = STACK_SPEC_SCHEMA as unknown as SchemaNode;

function walkSchema(visit: (node: SchemaNode, path: string[]) => void, node = SCHEMA, path: string[] = []): void {
  visit(node, path);
  for (const [key, child] of Object.entries(node.properties ?? {})) walkSchema(visit, child, [...path, key]);
}

// --- the schema --------------------------------------------------------------------------------

describe("schema", () => {
  test("compiles in ajv strict mode with the formats it names", () => {
    const ajv = new Ajv2020({ strict: true, strictTypes: true, strictTuples: true, strictRequired: true });
    addFormats(ajv, ["uuid", "uri", "email", "hostname"]);
    ajv.addFormat("ipv4-cidr", /./);
    assert.equal(typeof ajv.compile(STACK_SPEC_SCHEMA), "function");
  });

  test("a minimal spec gets every default", () => {
    const spec = accepted(minimal());
    assert.deepEqual(spec, {
      name: "jump",
      subscriptionId: SUBSCRIPTION,
      resourceGroup: "rg-jump",
      location: "westeurope",
      tags: {},
      network: {
        addressSpace: "10.40.0.0/16",
        webSubnet: "10.40.1.0/24",
        databaseSubnet: "10.40.2.0/24",
        adminSourceRanges: [],
      },
      fleet: {
        mode: "availabilitySet",
        size: 2,
        min: 2,
        max: 4,
        vmSize: "Standard_B2s",
        image: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
        zones: [],
      },
      database: {
        skuName: "Standard_B1ms",
        tier: "Burstable",
        version: "8.0",
        storageGb: 20,
        backupRetentionDays: 7,
        geoRedundantBackup: false,
        highAvailability: "Disabled",
      },
      tls: {
        acme: { directoryUrl: "https://acme-v02.api.letsencrypt.org/directory", challenge: "http-01" },
      },
      guacamole: { version: "1.6.0" },
      policies: {
        repair: {
          enabled: true,
          maxUnhealthyPercent: 50,
          maxRepairsPerHour: 3,
          debounceSeconds: 60,
          suspendAfterFailedRepairs: 3,
        },
        scale: { enabled: false, metric: "cpu", cooldownMinutes: 10, drainTimeoutMinutes: 60 },
        rotation: { databaseCredentialMaxAgeDays: 30, adminPasswordMaxAgeDays: 90 },
      },
    });
  });

  test("a spec that sets every field comes back unchanged", () => {
    assert.deepEqual(accepted(complete()), complete());
  });

  test("a partly given image keeps its fields and defaults only the version", () => {
    const spec = accepted(minimal({ fleet: { image: { publisher: "Debian", offer: "debian-12", sku: "12-gen2" } } }));
    assert.deepEqual(spec.fleet.image, { publisher: "Debian", offer: "debian-12", sku: "12-gen2", version: "latest" });
  });
});

// --- never mutating the caller -----------------------------------------------------------------

describe("the caller's object", () => {
  test("is not mutated, even when it is frozen", () => {
    const input = deepFreeze(minimal({ network: { webSubnet: "10.40.8.0/24" } }));
    const before = JSON.stringify(input);
    const spec = accepted(input);
    assert.equal(JSON.stringify(input), before);
    assert.equal(spec.network.databaseSubnet, "10.40.2.0/24");
  });

  test("is not mutated when it is invalid, nor when the name comes from the route", () => {
    const input = minimal({ bogus: true, fleet: { size: 99 } });
    delete input.name;
    const before = structuredClone(input);
    errorsOf(input, "jump");
    assert.deepEqual(input, before);
  });

  test("shares nothing with the result, and defaults are fresh for every call", () => {
    const input = minimal({ tags: { owner: "a" } });
    const first = accepted(input);
    first.tags.owner = "changed";
    first.network.adminSourceRanges.push("192.0.2.0/24");
    assert.equal((input.tags as JsonObject).owner, "a");
    assert.deepEqual(accepted(minimal()).network.adminSourceRanges, []);
  });

  test("inherited properties are not fields: only own data is read", () => {
    const input = Object.assign(Object.create({ bogus: 1, name: "inherited" }) as JsonObject, minimal());
    assert.equal(accepted(input).name, "jump");
  });

  test("data JSON can't hold is refused as a whole, not thrown", () => {
    const detail = onlyError({ ...minimal(), hook: () => 1 }, "", "type");
    assert.match(detail, /plain JSON data/);
  });
});

// --- schema errors, made human -------------------------------------------------------------------

describe("unknown fields", () => {
  const objects: string[][] = [];
  walkSchema((node, path) => {
    if (node.type === "object" && node.additionalProperties === false) objects.push(path);
  });

  test("the schema closes every object of the spec", () => {
    assert.equal(objects.length, 18);
  });

  for (const path of objects) {
    const pointer = `/${[...path, "bogus"].join("/")}`;
    test(`are refused at ${pointer}`, () => {
      const input = withValue(complete(), [...path, "bogus"], 1);
      const detail = onlyError(input, pointer, "additionalProperties");
      assert.match(detail, /^unknown field 'bogus'/);
      assert.match(detail, /Allowed fields: /);
    });
  }

  test("point at the field itself, escaped per RFC 6901", () => {
    const input = minimal({ network: { "a/b~c": 1 } });
    onlyError(input, "/network/a~1b~0c", "additionalProperties");
  });

  test("suggest the field a typo meant", () => {
    const detail = onlyError(
      minimal({ network: { webSubnets: "10.40.1.0/24" } }),
      "/network/webSubnets",
      "additionalProperties",
    );
    assert.match(detail, /did you mean 'webSubnet'\?/);
    const caseOnly = onlyError(minimal({ Fleet: {} }), "/Fleet", "additionalProperties");
    assert.match(caseOnly, /did you mean 'fleet'\?/);
  });

  test("__proto__ and constructor are unknown fields, at the top and nested, and pollute nothing", () => {
    const body = `{"name":"jump","subscriptionId":"${SUBSCRIPTION}","resourceGroup":"rg","location":"westeurope",
      "__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},
      "network":{"__proto__":{"polluted":true}},"tls":{"acme":{"constructor":"x"}}}`;
    const parsed = parseStackSpecBody(body, "application/json");
    assert.ok(parsed.ok);
    const errors = errorsOf(parsed.value);
    assert.deepEqual(
      errors.map((e) => [e.pointer, e.keyword]),
      [
        ["/network/__proto__", "additionalProperties"],
        ["/tls/acme/constructor", "additionalProperties"],
        ["/__proto__", "additionalProperties"],
        ["/constructor", "additionalProperties"],
      ],
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.hasOwn(Object.prototype, "polluted"), false);
  });

  test("an own __proto__ key in an object literal is refused the same way", () => {
    const input: JsonObject = { ...minimal(), ["__proto__"]: { polluted: true } };
    onlyError(input, "/__proto__", "additionalProperties");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("wrong types", () => {
  const cases: [string, string[], Json, RegExp][] = [
    ["name", ["name"], 5, /must be a string, got 5/],
    ["subscriptionId", ["subscriptionId"], null, /must be a string, got null/],
    ["tags", ["tags"], ["a"], /must be an object, got an array/],
    ["tag value", ["tags", "owner"], 1, /tags\.owner must be a string/],
    ["network", ["network"], "10.0.0.0/8", /network must be an object, got the string/],
    ["a quoted number", ["fleet", "size"], "3", /fleet\.size must be a whole number from 1 to 50, got the string "3"/],
    ["a fraction", ["fleet", "size"], 2.5, /must be a whole number from 1 to 50, got 2\.5/],
    ["a boolean as text", ["database", "geoRedundantBackup"], "yes", /must be true or false/],
    ["a list as text", ["network", "adminSourceRanges"], "10.0.0.0/8", /must be an array/],
  ];
  for (const [what, path, value, detail] of cases)
    test(what, () => {
      assert.match(onlyError(withValue(minimal(), path, value), `/${path.join("/")}`, "type"), detail);
    });

  test("a body that is not an object", () => {
    for (const body of [[], null, "jump", 42, true])
      assert.match(onlyError(body, "", "type"), /the stack spec must be an object/);
  });

  test("numbers out of range name both bounds", () => {
    assert.match(onlyError(minimal({ fleet: { max: 51 } }), "/fleet/max", "maximum"), /from 1 to 50, got 51/);
    assert.match(
      onlyError(minimal({ database: { storageGb: 10 } }), "/database/storageGb", "minimum"),
      /from 20 to 16384/,
    );
  });

  test("enums list the allowed values and catch case slips", () => {
    const detail = onlyError(minimal({ fleet: { mode: "scaleset" } }), "/fleet/mode", "enum");
    assert.match(detail, /one of "availabilitySet", "scaleSet"/);
    assert.match(detail, /did you mean "scaleSet"\?/);
    assert.match(
      onlyError(minimal({ database: { version: 8 } }), "/database/version", "enum"),
      /must be "8\.0", got 8/,
    );
    onlyError(minimal({ fleet: { mode: "scaleSet", zones: ["4"] } }), "/fleet/zones/0", "enum");
  });

  test("missing required properties point where they belong", () => {
    const errors = errorsOf({ name: "jump" });
    assert.deepEqual(
      errors.map((e) => [e.pointer, e.keyword, e.detail]),
      [
        ["/subscriptionId", "required", "subscriptionId is required"],
        ["/resourceGroup", "required", "resourceGroup is required"],
        ["/location", "required", "location is required"],
      ],
    );
    const nested = onlyError(
      minimal({
        tls: { hostname: "jump.example.com", acme: { challenge: "dns-01", dnsZone: { name: "example.com" } } },
      }),
      "/tls/acme/dnsZone/resourceGroup",
      "required",
    );
    assert.equal(nested, "tls.acme.dnsZone.resourceGroup is required");
  });
});

describe("names Azure would reject", () => {
  const badNames: [string, RegExp][] = [
    ["Jump", /has uppercase letters/],
    ["jump--box", /two hyphens in a row/],
    ["jump-box-is-too-long", /is 20 characters long/],
    ["1jump", /does not start with a letter/],
    ["jump-", /ends with a hyphen/],
    ["jb", /is 2 characters long/],
    ["jump_box", /characters other than letters, digits and hyphens/],
  ];
  for (const [name, reason] of badNames)
    test(`stack name ${JSON.stringify(name)}`, () => {
      const detail = onlyError(minimal({ name }), "/name", "pattern");
      assert.match(detail, reason);
      assert.match(detail, /stack names are 3-15 characters/);
      assert.doesNotMatch(detail, /\(\?!|\^|\$/, "explains the rule instead of quoting the regex");
    });

  test("good stack names", () => {
    for (const name of ["abc", "a1-b2", "jump-prod-0001x"]) accepted(minimal({ name }));
  });

  test("resource groups", () => {
    assert.match(onlyError(minimal({ resourceGroup: "rg." }), "/resourceGroup", "pattern"), /ends with a period/);
    assert.match(onlyError(minimal({ resourceGroup: "rg/x" }), "/resourceGroup", "pattern"), /characters other than/);
    assert.match(onlyError(minimal({ resourceGroup: "r".repeat(91) }), "/resourceGroup", "maxLength"), /1 to 90/);
    const empty = errorsOf(minimal({ resourceGroup: "" }));
    assert.ok(empty.some((e) => e.keyword === "minLength" && /must not be empty/.test(e.detail)));
    accepted(minimal({ resourceGroup: "My.RG(prod)_x-1" }));
  });

  test("subscription ids are bare GUIDs", () => {
    onlyError(minimal({ subscriptionId: `urn:uuid:${SUBSCRIPTION}` }), "/subscriptionId", "format");
    onlyError(minimal({ subscriptionId: "not-a-guid" }), "/subscriptionId", "format");
  });

  test("a hostname that breaks both its format and its pattern is one error", () => {
    const errors = errorsOf(minimal({ tls: { hostname: "Jump..Example.com" } }));
    assert.deepEqual(
      errors.map((e) => e.pointer),
      ["/tls/hostname"],
    );
    assert.match(errors[0].detail, /fully qualified domain name in lowercase/);
  });

  test("every pattern in the schema is explained in words", () => {
    const patterned: string[][] = [];
    walkSchema((node, path) => {
      if (node.pattern !== undefined) patterned.push(path);
    });
    assert.equal(patterned.length, 15, "patterned fields found");
    for (const path of patterned) {
      const input = withValue(complete(), path, "!bad value!");
      const errors = errorsOf(input).filter((e) => e.keyword === "pattern" || e.keyword === "format");
      assert.ok(errors.length > 0, `${path.join(".")} rejects "!bad value!"`);
      for (const { detail } of errors) assert.doesNotMatch(detail, /does not match|must match pattern/, detail);
    }
    const tagDetail = onlyError(minimal({ tags: { "a<b": "x" } }), "/tags/a<b", "pattern");
    assert.match(tagDetail, /tag name 'a<b' is not allowed/);
  });
});

describe("tags", () => {
  test("tag names and values may not carry control characters; the detail shows them escaped", () => {
    for (const bad of ["a\nb", "tab\t", "\u001b[2J", "del\u007f", "next\u0085line", "\u0000"]) {
      const detail = onlyError(minimal({ tags: { owner: bad } }), "/tags/owner", "pattern");
      assert.match(detail, /must not contain control characters/);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(detail, /[\u0000-\u001f\u007f-\u009f]/, "the detail carries no control character");
      const nameErrors = errorsOf(minimal({ tags: { [`own${bad}er`]: "x" } }));
      assert.equal(nameErrors.length, 1, JSON.stringify(nameErrors));
      assert.match(nameErrors[0].detail, /tag name 'own.*er' is not allowed: .*control characters/);
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(nameErrors[0].detail, /[\u0000-\u001f\u007f-\u009f]/);
    }
    accepted(minimal({ tags: { owner: "Zoë Müller — ops, 🚀", "cost-center": "4711" } }));
  });
});

describe("CIDR blocks", () => {
  test("host bits set: says which block was meant", () => {
    const detail = onlyError(minimal({ network: { webSubnet: "10.40.1.7/24" } }), "/network/webSubnet", "format");
    assert.match(detail, /has host bits set; the \/24 block that contains it is "10\.40\.1\.0\/24"/);
  });

  test("only the canonical form is a CIDR block", () => {
    for (const text of [
      " 10.40.1.0/24",
      "10.40.01.0/24",
      "10.40.1.0/024",
      "10.40.1.0",
      "300.0.0.0/8",
      "10.0.0.0/33",
      "",
    ])
      onlyError(minimal({ network: { webSubnet: text } }), "/network/webSubnet", "format");
  });

  test("a subnet outside the address space", () => {
    const detail = onlyError(
      minimal({ network: { webSubnet: "10.41.1.0/24" } }),
      "/network/webSubnet",
      "subnetInAddressSpace",
    );
    assert.match(detail, /"10\.41\.1\.0\/24" is outside network\.addressSpace "10\.40\.0\.0\/16" \(default\)/);
  });

  test("moving only the address space blames the address space for the defaulted subnets", () => {
    const errors = errorsOf(minimal({ network: { addressSpace: "192.168.0.0/16" } }));
    assert.deepEqual(
      errors.map((e) => [e.pointer, e.keyword]),
      [
        ["/network/addressSpace", "subnetInAddressSpace"],
        ["/network/addressSpace", "subnetInAddressSpace"],
      ],
    );
    assert.match(errors[0].detail, /network\.webSubnet "10\.40\.1\.0\/24" \(default\) is outside/);
    assert.match(errors[1].detail, /network\.databaseSubnet "10\.40\.2\.0\/24" \(default\) is outside/);
  });

  test("overlapping subnets", () => {
    const network = { webSubnet: "10.40.1.0/24", databaseSubnet: "10.40.1.128/28" };
    const detail = onlyError(minimal({ network }), "/network/databaseSubnet", "subnetOverlap");
    assert.match(detail, /overlaps network\.webSubnet/);
    onlyError(minimal({ network: { databaseSubnet: "10.40.1.0/24" } }), "/network/databaseSubnet", "subnetOverlap");
    accepted(minimal({ network: { webSubnet: "10.40.1.0/25", databaseSubnet: "10.40.1.128/28" } }));
  });

  test("the address space is a /8 to /24", () => {
    const large = { addressSpace: "8.0.0.0/7", webSubnet: "8.0.1.0/24", databaseSubnet: "8.0.2.0/24" };
    assert.match(onlyError(minimal({ network: large }), "/network/addressSpace", "addressSpacePrefix"), /too large/);
    const small = { addressSpace: "10.9.0.0/25", webSubnet: "10.9.0.0/26", databaseSubnet: "10.9.0.64/28" };
    assert.match(onlyError(minimal({ network: small }), "/network/addressSpace", "addressSpacePrefix"), /too small/);
    accepted(
      minimal({ network: { addressSpace: "10.0.0.0/8", webSubnet: "10.1.0.0/24", databaseSubnet: "10.2.0.0/28" } }),
    );
    accepted(
      minimal({ network: { addressSpace: "10.9.0.0/24", webSubnet: "10.9.0.0/25", databaseSubnet: "10.9.0.128/28" } }),
    );
  });

  test("the web subnet is a /28 or larger and fits fleet.max nodes twice over", () => {
    assert.match(
      onlyError(minimal({ network: { webSubnet: "10.40.1.0/29" } }), "/network/webSubnet", "subnetSize"),
      /must be a \/28 or larger/,
    );
    // a /28 has 16 - 5 = 11 usable addresses: enough for max 5 (10), not for max 6 (12)
    accepted(minimal({ network: { webSubnet: "10.40.1.0/28" }, fleet: { max: 5 } }));
    const detail = onlyError(
      minimal({ network: { webSubnet: "10.40.1.0/28" }, fleet: { max: 6 } }),
      "/network/webSubnet",
      "subnetSize",
    );
    assert.match(detail, /has 11 usable addresses \(Azure reserves 5\); fleet\.max 6 needs 12.*Use a \/27 or larger/);
    accepted(minimal({ network: { webSubnet: "10.40.1.0/27" }, fleet: { max: 13 } }));
    onlyError(
      minimal({ network: { webSubnet: "10.40.1.0/27" }, fleet: { max: 14 } }),
      "/network/webSubnet",
      "subnetSize",
    );
  });

  test("the database subnet is a /28 or larger", () => {
    assert.match(
      onlyError(minimal({ network: { databaseSubnet: "10.40.2.0/29" } }), "/network/databaseSubnet", "subnetSize"),
      /delegated to MySQL flexible server must be a \/28 or larger/,
    );
    accepted(minimal({ network: { databaseSubnet: "10.40.2.0/28" } }));
  });

  test("0.0.0.0/0 among the admin ranges is refused: it is the default already", () => {
    const ranges = ["203.0.113.0/24", "0.0.0.0/0"];
    const detail = onlyError(
      minimal({ network: { adminSourceRanges: ranges } }),
      "/network/adminSourceRanges/1",
      "adminSourceRange",
    );
    assert.match(detail, /already what an empty adminSourceRanges means/);
  });

  test("a duplicate admin range points at the second copy", () => {
    const ranges = ["203.0.113.0/24", "198.51.100.0/24", "203.0.113.0/24"];
    const detail = onlyError(
      minimal({ network: { adminSourceRanges: ranges } }),
      "/network/adminSourceRanges/2",
      "uniqueItems",
    );
    assert.match(detail, /lists "203\.0\.113\.0\/24" twice \(entries 0 and 2\)/);
  });

  test("semantic rules don't run over fields that failed the schema", () => {
    const network = { addressSpace: "10.40.0.0/16", webSubnet: "garbage", databaseSubnet: "10.50.0.0/29" };
    const errors = errorsOf(minimal({ network, fleet: { max: "many" } }));
    assert.deepEqual(
      errors.map((e) => [e.pointer, e.keyword]),
      [
        ["/network/webSubnet", "format"],
        ["/network/databaseSubnet", "subnetInAddressSpace"],
        ["/network/databaseSubnet", "subnetSize"],
        ["/fleet/max", "type"],
      ],
    );
  });
});

describe("cross-field rules", () => {
  test("fleet.min <= fleet.size <= fleet.max, naming defaults", () => {
    assert.match(
      onlyError(minimal({ fleet: { size: 6 } }), "/fleet/size", "fleetBounds"),
      /6 is above fleet\.max 4 \(default\)/,
    );
    assert.match(
      onlyError(minimal({ fleet: { size: 1 } }), "/fleet/size", "fleetBounds"),
      /1 is below fleet\.min 2 \(default\)/,
    );
    assert.match(
      onlyError(minimal({ fleet: { min: 5 } }), "/fleet/min", "fleetBounds"),
      /fleet\.min 5 is above fleet\.max 4 \(default\)/,
    );
    onlyError(minimal({ fleet: { max: 1 } }), "/fleet/max", "fleetBounds");
    accepted(minimal({ fleet: { min: 1, size: 1, max: 1 } }));
    accepted(minimal({ fleet: { min: 3, size: 3, max: 3 } }));
  });

  test("zones only with a scale set", () => {
    const detail = onlyError(minimal({ fleet: { zones: ["1", "2"] } }), "/fleet/zones", "zonesNeedScaleSet");
    assert.match(detail, /the mode is "availabilitySet" \(default\)/);
    onlyError(minimal({ fleet: { mode: "availabilitySet", zones: ["1"] } }), "/fleet/zones", "zonesNeedScaleSet");
    accepted(minimal({ fleet: { mode: "scaleSet", zones: ["1", "2"] } }));
    accepted(minimal({ fleet: { mode: "availabilitySet", zones: [] } }));
  });

  test("high availability is not offered on Burstable", () => {
    for (const highAvailability of ["ZoneRedundant", "SameZone"]) {
      const detail = onlyError(
        minimal({ database: { highAvailability } }),
        "/database/highAvailability",
        "highAvailabilityTier",
      );
      assert.match(detail, /tier "Burstable" \(default\)/);
    }
    const explicitTier = { tier: "Burstable", highAvailability: "SameZone" };
    onlyError(minimal({ database: explicitTier }), "/database/highAvailability", "highAvailabilityTier");
    accepted(
      minimal({ database: { tier: "GeneralPurpose", skuName: "Standard_D2ds_v4", highAvailability: "ZoneRedundant" } }),
    );
    accepted(minimal({ database: { tier: "Burstable", highAvailability: "Disabled" } }));
  });

  test("the database size belongs to the tier", () => {
    const detail = onlyError(minimal({ database: { tier: "GeneralPurpose" } }), "/database/tier", "skuMatchesTier");
    assert.match(detail, /"Standard_B1ms" \(default\) is a Burstable size, but database.tier is "GeneralPurpose"/);
    onlyError(minimal({ database: { skuName: "Standard_D2ds_v4" } }), "/database/skuName", "skuMatchesTier");
    onlyError(
      minimal({ database: { skuName: "Standard_X9", tier: "Burstable" } }),
      "/database/skuName",
      "skuMatchesTier",
    );
    accepted(minimal({ database: { skuName: "Standard_E4ds_v5", tier: "MemoryOptimized" } }));
    accepted(minimal({ database: { skuName: "Standard_B2s", tier: "Burstable" } }));
  });

  const zone = { resourceGroup: "rg-dns", name: "example.com" };

  test("dns-01 needs a DNS zone", () => {
    const detail = onlyError(
      minimal({ tls: { hostname: "jump.example.com", acme: { challenge: "dns-01" } } }),
      "/tls/acme/dnsZone",
      "acmeDnsZone",
    );
    assert.match(detail, /required with the "dns-01" challenge/);
  });

  test("dns-01 needs a custom hostname in the zone", () => {
    onlyError(minimal({ tls: { acme: { challenge: "dns-01", dnsZone: zone } } }), "/tls/hostname", "acmeHostname");
    for (const hostname of ["jump.other.com", "notexample.com", "example.com.evil.net"]) {
      const detail = onlyError(
        minimal({ tls: { hostname, acme: { challenge: "dns-01", dnsZone: zone } } }),
        "/tls/hostname",
        "acmeHostname",
      );
      assert.match(detail, /is not in the DNS zone "example\.com"/);
    }
    for (const hostname of ["example.com", "jump.example.com", "a.b.example.com"])
      accepted(minimal({ tls: { hostname, acme: { challenge: "dns-01", dnsZone: zone } } }));
  });

  test("dns-01 with neither zone nor hostname reports both", () => {
    const errors = errorsOf(minimal({ tls: { acme: { challenge: "dns-01" } } }));
    assert.deepEqual(
      errors.map((e) => e.pointer),
      ["/tls/hostname", "/tls/acme/dnsZone"],
    );
  });

  test("a DNS zone with http-01 is ambiguous", () => {
    const detail = onlyError(minimal({ tls: { acme: { dnsZone: zone } } }), "/tls/acme/dnsZone", "acmeDnsZone");
    assert.match(detail, /tls\.acme\.challenge is "http-01" \(default\)/);
    onlyError(minimal({ tls: { acme: { challenge: "http-01", dnsZone: zone } } }), "/tls/acme/dnsZone", "acmeDnsZone");
    accepted(minimal({ tls: { hostname: "jump.example.com", acme: { challenge: "http-01" } } }));
  });

  test("tag names: no prototype keys, not Jumpgate's own tag, no duplicates ignoring case", () => {
    const parsed = parseStackSpecBody(
      JSON.stringify(minimal()).replace(/}$/, ',"tags":{"__proto__":"x"}}'),
      "application/json",
    );
    assert.ok(parsed.ok);
    onlyError(parsed.value, "/tags/__proto__", "tagName");
    onlyError(minimal({ tags: { constructor: "x" } }), "/tags/constructor", "tagName");
    assert.match(
      onlyError(minimal({ tags: { "Jumpgate-Stack": "x" } }), "/tags/Jumpgate-Stack", "tagName"),
      /reserved/,
    );
    assert.match(onlyError(minimal({ tags: { Env: "a", env: "b" } }), "/tags/env", "tagName"), /differ only in case/);
    const many = Object.fromEntries(Array.from({ length: 41 }, (_, i) => [`tag${i}`, "x"]));
    assert.match(onlyError(minimal({ tags: many }), "/tags", "maxProperties"), /at most 40 entries, got 41/);
  });
});

describe("the route's stack name", () => {
  test("must equal the body's name", () => {
    const detail = onlyError(minimal({ name: "jump" }), "/name", "routeName", "other");
    assert.match(detail, /name "jump" does not match the stack name "other" in the URL/);
    assert.equal(accepted(minimal(), "jump").name, "jump");
  });

  test("fills in a missing name", () => {
    const input = minimal();
    delete input.name;
    assert.equal(accepted(input, "from-route").name, "from-route");
    assert.equal(input.name, undefined);
  });

  test("is validated like a name, and the error says it came from the URL", () => {
    const input = minimal();
    delete input.name;
    const detail = onlyError(input, "/name", "pattern", "Bad_Name");
    assert.match(detail, /^the stack name in the URL "Bad_Name" has uppercase letters/);
  });

  test("a body that is not an object stays a type error", () => {
    onlyError([], "", "type", "jump");
  });
});

describe("every error, in a stable order", () => {
  const messy = (): JsonObject => ({
    zzz: 1,
    location: "West Europe",
    policies: { scale: { metric: "memory" }, repair: { enabled: "yes" } },
    fleet: { size: 0, bogus: true },
    network: { webSubnet: "10.40.1.1/24" },
    name: "Jump",
    tls: { acme: { challenge: "dns-01" } },
    tags: { "a/b": "x" },
  });

  test("reports all of them, schema and semantic, ordered by the schema", () => {
    const errors = errorsOf(messy());
    assert.deepEqual(
      errors.map((e) => [e.pointer, e.keyword]),
      [
        ["/name", "pattern"],
        ["/subscriptionId", "required"],
        ["/resourceGroup", "required"],
        ["/location", "pattern"],
        ["/tags/a~1b", "pattern"],
        ["/network/webSubnet", "format"],
        ["/fleet/size", "minimum"],
        ["/fleet/bogus", "additionalProperties"],
        ["/tls/hostname", "acmeHostname"],
        ["/tls/acme/dnsZone", "acmeDnsZone"],
        ["/policies/repair/enabled", "type"],
        ["/policies/scale/metric", "enum"],
        ["/zzz", "additionalProperties"],
      ],
    );
  });

  test("the order does not depend on the order of keys in the body", () => {
    const reversed = (value: Json): Json => {
      if (Array.isArray(value) || typeof value !== "object" || value === null) return value;
      return Object.fromEntries(
        Object.entries(value)
          .reverse()
          .map(([k, v]) => [k, reversed(v)]),
      );
    };
    assert.deepEqual(errorsOf(reversed(messy())), errorsOf(messy()));
  });
});

describe("hostile values", () => {
  test("1e309 is not a number anything can use", () => {
    const parsed = parseStackSpecBody(
      JSON.stringify(minimal()).replace(/}$/, ',"fleet":{"size":1e309}}'),
      "application/json",
    );
    assert.ok(parsed.ok);
    const detail = onlyError(parsed.value, "/fleet/size", "type");
    assert.match(detail, /got a number too large to represent/);
    onlyError(minimal({ fleet: { size: Number.NaN } }), "/fleet/size", "type");
  });

  test("any value of any type in any field is an error, never an exception", () => {
    const values: Json[] = [null, 0, -1, 1.5, 1e300, "", "x", true, [], [null], {}, { a: null }];
    const paths: string[][] = [];
    walkSchema((_node, path) => {
      if (path.length > 0) paths.push(path);
    });
    assert.ok(paths.length > 50, `walked ${paths.length} fields`);
    for (const path of paths)
      for (const value of values)
        for (const base of [complete(), minimal()]) {
          const input = withValue(base, path, value);
          const result = validateStackSpec(input);
          if (!result.ok) assertPointersResolve(input, result.errors);
        }
  });

  test("very long strings are refused quickly and never echoed whole", () => {
    const long = "a".repeat(60_000);
    const input = minimal({
      name: long,
      resourceGroup: `${long}.`,
      location: long,
      [long]: 1,
      tags: { [long]: long },
      tls: {
        hostname: `${"a.".repeat(30_000)}!`,
        acme: { contact: `${long}@${long}`, directoryUrl: `https://${long}` },
      },
    });
    const errors = errorsOf(input);
    assert.ok(errors.length >= 7, JSON.stringify(errors.map((e) => e.pointer.slice(0, 40))));
    for (const { detail } of errors) assert.ok(detail.length < 600, `short detail: ${detail.slice(0, 200)}`);
  });
});

// --- reading the request body ----------------------------------------------------------------

describe("parseJsonBody", () => {
  const ok = (raw: string | Uint8Array, contentType = "application/json"): unknown => {
    const result = parseStackSpecBody(raw, contentType);
    assert.ok(result.ok, JSON.stringify(result));
    return result.value;
  };
  const problem = (
    raw: string | Uint8Array | null | undefined,
    contentType: string | null | undefined = "application/json",
  ) => {
    const result = parseStackSpecBody(raw, contentType);
    assert.equal(result.ok, false);
    return (result as { ok: false; problem: { status: number; detail?: string; type: string } }).problem;
  };

  test("reads JSON from a string or bytes", () => {
    assert.deepEqual(ok('{"a":[1,true,null,"x"]}'), { a: [1, true, null, "x"] });
    assert.deepEqual(ok(Buffer.from('{"a":"é"}')), { a: "é" });
    assert.deepEqual(ok(Buffer.from('\uFEFF{"a":1}')), { a: 1 }, "a byte order mark is ignored");
    assert.deepEqual(ok('\uFEFF{"a":1}'), { a: 1 });
  });

  test("accepts application/json and application/*+json, in any case, with a UTF-8 charset", () => {
    for (const type of [
      "application/json",
      "Application/JSON",
      "application/json; charset=utf-8",
      'application/json;charset="UTF-8"',
      "application/merge-patch+json",
      "application/vnd.jumpgate.stack+json; charset=utf-8",
    ])
      ok("{}", type);
  });

  test("415 for anything else", () => {
    for (const type of [
      null,
      undefined,
      "",
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/jsonp",
      "text/json",
      "application/json; charset=iso-8859-1",
      "multipart/form-data; boundary=x",
    ]) {
      const result = parseStackSpecBody("{}", type); // not through problem(): its default would replace undefined
      assert.ok(!result.ok, String(type));
      assert.equal(result.problem.status, 415, String(type));
      assert.equal(result.problem.type, "about:blank");
    }
  });

  test("413 above 64 KiB, counted in bytes", () => {
    assert.equal(STACK_SPEC_LIMITS.maxBodyBytes, 65_536);
    const padded = (bytes: number, filler = " ") => `{}${filler.repeat(bytes - 2)}`;
    ok(padded(65_536));
    assert.equal(problem(padded(65_537)).status, 413);
    assert.equal(problem(Buffer.from(padded(65_537))).status, 413);
    const multibyte = `{"a":"${"é".repeat(32_766)}"}`; // 32_774 characters, 65_540 bytes
    assert.equal(problem(multibyte).status, 413);
    assert.match(problem(padded(100_000)).detail ?? "", /100000 bytes.*65536/);
  });

  test("400 for an empty body", () => {
    for (const raw of [null, undefined, "", "  \n\t", Buffer.alloc(0)]) {
      const p = problem(raw);
      assert.equal(p.status, 400);
      assert.match(p.detail ?? "", /empty/);
    }
  });

  test("400 for invalid JSON, saying where, never quoting the body", () => {
    const cases: [string, RegExp][] = [
      ['{"password": "SECRET-VALUE" "x"}', /expected ',' or '}' at line 1, column 29/],
      ['{\n  "password": SECRET-VALUE\n}', /expected a value at line 2, column 15/],
      ['{"a":1,}', /trailing comma before '}'/],
      ["[1,]", /trailing comma before '\]'/],
      ['{"a":"SECRET-VALUE', /string starting at line 1, column 6 is not terminated/],
      ['{"a":"SECRET\nVALUE"}', /control character U\+000A inside a string/],
      ['{"a":"\\q SECRET-VALUE"}', /invalid escape sequence/],
      ['{"a":"\\u12G4"}', /invalid \\u escape/],
      ['{"a":01}', /invalid number/],
      ['{"a":1.}', /invalid number/],
      ['{"a":-}', /invalid number/],
      ["{'a':1}", /expected a property name in double quotes/],
      ['{"a":1} {"b":2}', /after the end of the JSON value/],
      ['{"a":[1,2', /unexpected end of the body .*an array is not closed/],
      ["NaN", /expected a value/],
      ['{"a":1,"a":2}', /duplicate property name 'a'/],
      ['{"a":1,"\\u0061":2}', /duplicate property name 'a'/],
    ];
    for (const [raw, detail] of cases) {
      const p = problem(raw);
      assert.equal(p.status, 400, raw);
      assert.equal(p.type, "https://jumpgate.dev/problems/malformed-body");
      assert.match(p.detail ?? "", detail, raw);
      assert.doesNotMatch(p.detail ?? "", /SECRET/, "the body is never echoed");
    }
  });

  test("400 for bytes that are not UTF-8", () => {
    assert.match(problem(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])).detail ?? "", /not valid UTF-8/);
  });

  test("400 for nesting deeper than 32 levels, without recursing", () => {
    const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
    ok(nested(STACK_SPEC_LIMITS.maxJsonDepth));
    assert.match(problem(nested(33)).detail ?? "", /nested deeper than 32 levels at line 1, column 33/);
    assert.equal(problem(nested(30_000)).status, 400);
    assert.equal(problem(`${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`).status, 400);
  });

  test("__proto__ in a body stays an own key and pollutes nothing", () => {
    const value = ok('{"__proto__":{"polluted":true},"a":{"__proto__":{"polluted":true}}}') as Record<string, unknown>;
    assert.ok(Object.hasOwn(value, "__proto__"));
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("a whole PUT body through parse and validation", () => {
    const body = JSON.stringify(complete(), null, 2);
    const value = ok(body, "application/json; charset=utf-8");
    assert.deepEqual(accepted(value, "jump-prod"), complete());
  });
});

describe("access (sign-in with Entra ID)", () => {
  const ACCESS = {
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
    adminGroups: ["0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f"],
  };
  const errorsOf = (access: Json): SpecError[] => {
    const input = minimal({ access });
    const result = validateStackSpec(input);
    assert.ok(!result.ok, "refused");
    assertPointersResolve(input, result.errors);
    return result.errors;
  };

  test("is optional: a spec without it has none, and one with it gets its defaults", () => {
    const without = validateStackSpec(minimal());
    assert.ok(without.ok);
    assert.equal(without.spec.access, undefined);
    const withAccess = validateStackSpec(minimal({ access: ACCESS }));
    assert.ok(withAccess.ok, JSON.stringify(withAccess));
    assert.deepEqual(withAccess.spec.access, {
      ...ACCESS,
      usernameClaim: "preferred_username",
      userGroups: [],
      breakGlass: { maxMinutes: 240, passwordMaxAgeDays: 30 },
    });
  });

  test("ids are GUIDs, the claim one of two, the lists bounded: each error points at its field", () => {
    const errors = errorsOf({
      tenantId: "common",
      clientId: "urn:uuid:8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
      usernameClaim: "upn",
      adminGroups: ["not-a-guid"],
      userGroups: Array.from({ length: 51 }, (_, i) => `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`),
      breakGlass: { maxMinutes: 100000 },
    });
    assert.deepEqual(
      errors.map((e) => e.pointer),
      [
        "/access/tenantId",
        "/access/clientId",
        "/access/usernameClaim",
        "/access/adminGroups/0",
        "/access/userGroups",
        "/access/breakGlass/maxMinutes",
      ],
    );
    assert.match(errors[0].detail, /access\.tenantId must be a GUID/);
    assert.match(errors[2].detail, /"preferred_username", "email"/);
    assert.match(errors[4].detail, /at most 50 entries, got 51/);
    assert.match(errors[5].detail, /from 5 to 1440/);
  });

  test("tenant, client and at least one admin group are required; unknown fields are refused", () => {
    const missing = errorsOf({ bogus: true });
    assert.deepEqual(missing.map((e) => e.pointer).sort(), [
      "/access/adminGroups",
      "/access/bogus",
      "/access/clientId",
      "/access/tenantId",
    ]);
    const empty = errorsOf({ ...ACCESS, adminGroups: [] });
    assert.deepEqual(
      empty.map((e) => [e.pointer, e.keyword]),
      [["/access/adminGroups", "accessAdminGroup"]],
    );
  });

  test("a group has one role: listed twice, in any case, it is refused at its second place", () => {
    const errors = errorsOf({
      ...ACCESS,
      userGroups: ["6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f", ACCESS.adminGroups[0].toUpperCase()],
    });
    assert.deepEqual(
      errors.map((e) => [e.pointer, e.keyword]),
      [["/access/userGroups/1", "accessGroups"]],
    );
    assert.match(errors[0].detail, /already listed as access\.adminGroups\[0\]/);
  });
});
