// Session recordings, the pure parts: the spec section, the storage nodes of the graph, the web
// nodes' role against the operator role derivation, Guacamole's recording parameters and the
// teardown's retention rule.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  RECORDING_DESTRUCTIVE_DATA_ACTIONS,
  RECORDING_KEYS,
  RECORDING_WRITER_ROLE,
  recordingAccountName,
  recordingWriterKey,
} from "../../shared/graph/recordings-graph";
import { buildStackGraph, webNodeGraphKeys, type StackGraphContext } from "../../shared/graph/stack-graph";
import { parseRecordingsQuery, recordingEntries, type ListedRecordingBlob } from "../../shared/recordings/listing";
import { GUACD_RECORDING_PARAMETERS, recordingParameters } from "../../shared/recordings/parameters";
import { retentionHold } from "../../shared/recordings/retention";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";

const ROOT = path.join(__dirname, "..", "..", "..");
const SUB = "00000000-0000-0000-0000-0000000000aa";
const WRITER = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const ctx: StackGraphContext = {
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  renderCustomData: () => "",
  recordingWriterRoleId: WRITER,
};

function spec(extra: Record<string, unknown> = {}): StackSpec {
  const r = validateStackSpec({
    name: "rec-demo",
    subscriptionId: SUB,
    resourceGroup: "rg-rec",
    location: "westeurope",
    ...extra,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

describe("recordings: spec", () => {
  test("absent means off; an empty section takes the defaults", () => {
    assert.equal(spec().recordings, undefined);
    assert.deepEqual(spec({ recordings: {} }).recordings, {
      enabled: true,
      retentionDays: 90,
      includeKeys: false,
      coolAfterDays: 30,
      immutability: "unlocked",
    });
  });

  test("out-of-range and unknown values are 422s that point at the field", () => {
    const r = validateStackSpec({
      name: "rec-demo",
      subscriptionId: SUB,
      resourceGroup: "rg",
      location: "westeurope",
      recordings: { retentionDays: 0, immutability: "sealed", sasUrl: "https://x" },
    });
    assert.ok(!r.ok);
    const pointers = r.errors.map((e) => e.pointer).sort();
    assert.deepEqual(pointers, ["/recordings/immutability", "/recordings/retentionDays", "/recordings/sasUrl"]);
  });
});

describe("recordings: storage in the graph", () => {
  const graph = buildStackGraph(spec({ recordings: { retentionDays: 180, coolAfterDays: 45 } }), ctx);
  const node = (key: string) => graph.nodes.find((n) => n.key === key) ?? assert.fail(`no node ${key}`);

  test("no recordings, no storage and no grant", () => {
    const plain = buildStackGraph(spec(), ctx);
    assert.ok(!plain.nodes.some((n) => n.key.startsWith("storage:") || n.key.endsWith(":recordings")));
  });

  test("the account: shared keys off, TLS 1.2, no public blobs, the web subnet alone through its service endpoint", () => {
    const account = node(RECORDING_KEYS.account);
    assert.equal(account.kind, "storageAccount");
    assert.match(account.id, /\/storageAccounts\/jgrecdemo[0-9a-f]{15}$/);
    assert.ok(recordingAccountName(spec()).length <= 24);
    const p = account.body.properties as Record<string, unknown>;
    assert.equal(p.allowSharedKeyAccess, false);
    assert.equal(p.minimumTlsVersion, "TLS1_2");
    assert.equal(p.allowBlobPublicAccess, false);
    const acls = p.networkAcls as { defaultAction: string; virtualNetworkRules: { id: string }[] };
    assert.equal(acls.defaultAction, "Deny");
    assert.deepEqual(
      acls.virtualNetworkRules.map((r) => r.id.split("/").slice(-3).join("/")),
      ["rec-demo-vnet/subnets/web"],
    );
    const vnet = node("vnet");
    const web = (vnet.body.properties as { subnets: { name: string; properties: { serviceEndpoints?: unknown } }[] })
      .subnets[0];
    assert.deepEqual(web.properties.serviceEndpoints, [{ service: "Microsoft.Storage" }]);
  });

  test("versioning, a version-level immutable container, the spec's retention (unlocked) and the cool-tier rule", () => {
    assert.equal(
      (node(RECORDING_KEYS.blobService).body.properties as Record<string, unknown>).isVersioningEnabled,
      true,
    );
    assert.deepEqual(
      (node(RECORDING_KEYS.container).body.properties as Record<string, unknown>).immutableStorageWithVersioning,
      {
        enabled: true,
      },
    );
    const policy = node(RECORDING_KEYS.policy).body.properties as Record<string, unknown>;
    assert.equal(policy.immutabilityPeriodSinceCreationInDays, 180);
    assert.equal(policy.state, undefined, "Jumpgate never asks for a locked policy by itself");
    assert.match(
      JSON.stringify(node(RECORDING_KEYS.lifecycle).body),
      /"tierToCool":\{"daysAfterModificationGreaterThan":45\}/,
    );
    for (const key of [
      RECORDING_KEYS.blobService,
      RECORDING_KEYS.container,
      RECORDING_KEYS.policy,
      RECORDING_KEYS.lifecycle,
    ])
      assert.equal(node(key).tagOwner?.id, node(RECORDING_KEYS.account).id, `${key}: the account's tag vouches for it`);
  });

  test("each web node gets the recording writer role on the container alone, as part of its own nodes", () => {
    for (const vm of ["vm:web-1", "vm:web-2"]) {
      const grant = node(recordingWriterKey(vm));
      assert.equal(grant.kind, "roleAssignment");
      assert.ok(grant.id.startsWith(`${node(RECORDING_KEYS.container).id}/providers/Microsoft.Authorization/`));
      assert.match(
        String((grant.body.properties as Record<string, unknown>).roleDefinitionId),
        new RegExp(`${WRITER}$`),
      );
    }
    assert.ok(webNodeGraphKeys(graph, "web-1").includes(recordingWriterKey("vm:web-1")));
    const vmss = buildStackGraph(spec({ recordings: {}, fleet: { mode: "scaleSet" } }), ctx);
    assert.ok(vmss.nodes.some((n) => n.key === recordingWriterKey("vmss")));
    assert.throws(
      () => buildStackGraph(spec({ recordings: {} }), { ...ctx, recordingWriterRoleId: undefined }),
      /JUMPGATE_RECORDING_WRITER_ROLE_ID/,
    );
  });
});

describe("recordings: who may do what", () => {
  const writer = JSON.parse(
    fs.readFileSync(path.join(ROOT, "infra", "jumpgate-recording-writer-role.json"), "utf8"),
  ) as {
    actions: string[];
    dataActions: string[];
    notActions: string[];
    notDataActions: string[];
  };
  const operator = JSON.parse(fs.readFileSync(path.join(ROOT, "infra", "jumpgate-operator-role.json"), "utf8")) as {
    actions: string[];
    dataActions: string[];
  };

  test("the web nodes' role is the one the graph names: read and create blobs, nothing that overwrites or deletes", () => {
    assert.deepEqual(writer.dataActions.sort(), [...RECORDING_WRITER_ROLE.dataActions].sort());
    assert.deepEqual([writer.actions, writer.notActions, writer.notDataActions], [[], [], []]);
    for (const destructive of RECORDING_DESTRUCTIVE_DATA_ACTIONS)
      assert.ok(
        !writer.dataActions.some((a) => a === destructive || a.endsWith("/*")),
        `${destructive} is not granted`,
      );
    assert.ok(!writer.dataActions.some((a) => a.includes("*")), "no wildcard");
  });

  test("the operator role (derived from the graph) manages the storage but cannot lock or drop retention, read keys or touch blobs", () => {
    const storage = operator.actions.filter((a) => a.startsWith("Microsoft.Storage/"));
    assert.ok(storage.includes("Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/write"));
    for (const forbidden of [
      "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/lock/action",
      "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/delete",
      "Microsoft.Storage/storageAccounts/listKeys/action",
      "Microsoft.Storage/storageAccounts/regeneratekey/action",
      "Microsoft.Storage/storageAccounts/ListAccountSas/action",
      "Microsoft.Storage/storageAccounts/listServiceSas/action",
    ])
      assert.ok(!operator.actions.includes(forbidden), `the operator role holds no ${forbidden}`);
    assert.deepEqual(operator.dataActions, [], "Jumpgate itself has no data access to recordings");
  });

  test("the Bicep creates the writer role from that file, and the condition lets Jumpgate assign it", () => {
    const bicep = fs.readFileSync(path.join(ROOT, "infra", "app", "recording-writer-role.bicep"), "utf8");
    assert.match(bicep, /loadJsonContent\('\.\.\/jumpgate-recording-writer-role\.json'\)/);
    const main = fs.readFileSync(path.join(ROOT, "infra", "main.bicep"), "utf8");
    assert.match(main, /recordingWriterRoleId: recordingWriter\n/);
  });
});

describe("recordings: guacd's parameters", () => {
  test("named as guacamole-server 1.6.0 names them, recorded under the history entry's uuid", () => {
    const stack = { enabled: true, includeKeys: false };
    for (const protocol of ["ssh", "rdp", "vnc"] as const) {
      const p = recordingParameters(protocol, { stack });
      for (const name of Object.keys(p)) assert.ok(GUACD_RECORDING_PARAMETERS[protocol].includes(name), name);
      assert.equal(p["recording-path"], "/var/lib/guacd/recordings");
      assert.equal(p["recording-name"], "${HISTORY_UUID}");
      assert.equal(p["recording-include-keys"], "false");
      assert.equal(p["recording-write-existing"], "false");
    }
    assert.equal(
      recordingParameters("ssh", { stack: { enabled: true, includeKeys: true } })["recording-include-keys"],
      "true",
    );
  });

  test("a source that opts out, a stack that records nothing, or no recordings at all: no parameters", () => {
    assert.deepEqual(recordingParameters("rdp", { stack: { enabled: true, includeKeys: false }, source: false }), {});
    assert.deepEqual(recordingParameters("rdp", { stack: { enabled: false, includeKeys: false }, source: true }), {});
    assert.deepEqual(recordingParameters("rdp", {}), {});
  });
});

describe("recordings: teardown's retention rule", () => {
  const container = { properties: { immutableStorageWithVersioning: { enabled: true }, hasLegalHold: false } };
  test("a container under retention (or version-level immutability, or a legal hold) is kept, with the reason", () => {
    const policy = { properties: { immutabilityPeriodSinceCreationInDays: 90, state: "Unlocked" } };
    assert.match(
      retentionHold({ container, policy }) ?? "",
      /90-day time-based retention policy \(unlocked\).*never deletes/,
    );
    assert.match(
      retentionHold({ container, policy: { properties: { immutabilityPeriodSinceCreationInDays: 0 } } }) ?? "",
      /version-level/,
    );
    const held = { properties: { hasLegalHold: true } };
    assert.match(retentionHold({ container: held }) ?? "", /legal hold/);
  });
  test("a container without any protection, or none at all, may go", () => {
    assert.equal(
      retentionHold({
        container: { properties: {} },
        policy: { properties: { immutabilityPeriodSinceCreationInDays: 0 } },
      }),
      undefined,
    );
    assert.equal(retentionHold({}), undefined);
  });
});

describe("recordings: the listing", () => {
  const at = (iso: string) => new Date(iso);
  const blobs: ListedRecordingBlob[] = [
    {
      name: "web-1/aaa",
      size: 10,
      createdOn: at("2026-12-01T10:00:00Z"),
      metadata: { node: "web-1", user: "Ann@Example.com", connection: "vm-1" },
    },
    { name: "web-2/bbb", size: 20, createdOn: at("2026-12-02T10:00:00Z"), metadata: { node: "web-2" } },
    // not a recording of ours: another shape of name
    { name: "elsewhere", size: 1, createdOn: at("2026-12-02T10:00:00Z"), metadata: {} },
    { name: "web-1/x/y", size: 1, createdOn: at("2026-12-02T10:00:00Z"), metadata: {} },
  ];
  const list = (q: string) => {
    const parsed = parseRecordingsQuery(new URLSearchParams(q));
    assert.ok(parsed.ok, q);
    return recordingEntries(blobs, 90, parsed.query).recordings.map((r) => r.blob);
  };

  test("newest first, filtered by node, user (any case), connection and time; retention from when it was written", () => {
    assert.deepEqual(list(""), ["web-2/bbb", "web-1/aaa"]);
    assert.deepEqual(list("node=web-1"), ["web-1/aaa"]);
    assert.deepEqual(list("user=ann@example.com"), ["web-1/aaa"]);
    assert.deepEqual(list("connection=vm-1"), ["web-1/aaa"]);
    assert.deepEqual(list("connection=vm-2"), []);
    assert.deepEqual(list("from=2026-12-02"), ["web-2/bbb"]);
    assert.deepEqual(list("to=2026-12-01T23:59:59Z"), ["web-1/aaa"]);
    const [entry] = recordingEntries(blobs.slice(0, 1), 90, {}).recordings;
    assert.equal(entry.retainedUntil, "2027-03-01T10:00:00.000Z");
    assert.equal(entry.session, "aaa");
  });

  test("user and connection as the uploader writes them: percent-encoded UTF-8, decoded; user any case, connection exact", () => {
    const encoded: ListedRecordingBlob[] = [
      {
        name: "web-3/ccc",
        size: 5,
        createdOn: at("2026-12-03T10:00:00Z"),
        // x-ms-meta-* values are ASCII: jq @uri of "Jürgen.Groß@contoso.com" and "Build server (2)"
        metadata: {
          user: "J%C3%BCrgen.Gro%C3%9F%40contoso.com",
          connection: "Build%20server%20(2)",
          connectionid: "7",
        },
      },
      // not the uploader's encoding: left out, never half-read
      {
        name: "web-3/ddd",
        size: 5,
        createdOn: at("2026-12-03T11:00:00Z"),
        metadata: { user: "%E0%A4%A", connectionid: "x" },
      },
    ];
    const entries = (q: string) => {
      const parsed = parseRecordingsQuery(new URLSearchParams(q));
      assert.ok(parsed.ok, q);
      return recordingEntries(encoded, 90, parsed.query).recordings;
    };
    const [, decoded] = entries("");
    assert.equal(decoded.user, "Jürgen.Groß@contoso.com");
    assert.equal(decoded.connection, "Build server (2)");
    assert.equal(decoded.connectionId, 7);
    const [garbled] = entries("");
    assert.equal(garbled.user, undefined);
    assert.equal(garbled.connectionId, undefined);
    assert.deepEqual(
      entries(`user=${encodeURIComponent("jürgen.groß@CONTOSO.com")}`).map((r) => r.blob),
      ["web-3/ccc"],
    );
    assert.deepEqual(
      entries(`connection=${encodeURIComponent("Build server (2)")}`).map((r) => r.blob),
      ["web-3/ccc"],
    );
    assert.deepEqual(entries(`connection=${encodeURIComponent("build server (2)")}`), []);
  });

  test("a hostile or malformed query is refused whole, naming the parameter", () => {
    for (const [q, parameter] of [
      ["bogus=1", "bogus"],
      ["node=a&node=b", "node"],
      ["user=a%0Ab", "user"],
      ["connection=-x", "connection"],
      ["connection=a%27b", "connection"],
      ["connection=a%3Bb", "connection"],
      [`connection=${"a".repeat(129)}`, "connection"],
      ["from=1700000000", "from"],
      ["from=2026-12-02&to=2026-12-01", "from"],
      ["%00=1", "?"],
    ] as const) {
      const parsed = parseRecordingsQuery(new URLSearchParams(q));
      assert.equal(parsed.ok, false, q);
      if (!parsed.ok) assert.equal(parsed.parameter, parameter, q);
    }
  });
});
