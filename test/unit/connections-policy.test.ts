// Connections from the inventory, the pure parts: the tag grammar, the desired set from what
// Resource Graph listed (hostile names and tags, scale set instances, reachability, several
// sources, credentials that cannot be used), the credential secret's JSON, and the spec's rules.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  credentialParameters,
  desiredConnections,
  parseConnectTag,
  type InventoryNic,
  type InventoryVm,
} from "../../shared/connections/desired";
import { targetsQuery } from "../../shared/connections/inventory";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";

const SUB = "00000000-0000-0000-0000-0000000000a1";
const OTHER = "00000000-0000-0000-0000-0000000000b2";
const DEVS = "6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f";
const OPS = "0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f";

function specInput() {
  return {
    name: "conn",
    subscriptionId: SUB,
    resourceGroup: "rg-conn",
    location: "westeurope",
    access: {
      tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
      adminGroups: [OPS],
      userGroups: [DEVS],
    },
  };
}

function specWith(connections: unknown, access: unknown = { adminGroups: [OPS], userGroups: [DEVS] }) {
  return validateStackSpec({
    name: "conn",
    subscriptionId: SUB,
    resourceGroup: "rg-conn",
    location: "westeurope",
    ...(access
      ? {
          access: {
            tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
            clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
            ...access,
          },
        }
      : {}),
    connections,
  });
}
const spec = (connections: unknown): StackSpec => {
  const v = specWith(connections);
  assert.ok(v.ok, JSON.stringify(v));
  return v.spec;
};

function vm(name: string, tags: Record<string, unknown>, extra: Partial<InventoryVm> = {}): InventoryVm {
  const rg = extra.resourceGroup ?? "rg-a";
  const sub = extra.subscriptionId ?? SUB;
  return {
    id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`,
    name,
    subscriptionId: sub,
    resourceGroup: rg,
    tags,
    scaleSetId: "",
    powerState: "running",
    ...extra,
  };
}
const nic = (v: InventoryVm, ip: string): InventoryNic => ({ vmId: v.id.toLowerCase(), primary: true, privateIp: ip });

describe("connections policy", () => {
  test("the tag says the protocol and optionally the port", () => {
    assert.deepEqual(parseConnectTag("ssh"), { protocol: "ssh", port: 22 });
    assert.deepEqual(parseConnectTag(" RDP "), { protocol: "rdp", port: 3389 });
    assert.deepEqual(parseConnectTag("vnc:5901"), { protocol: "vnc", port: 5901 });
    for (const bad of ["telnet", "ssh:0", "ssh:70000", "ssh:22:1", "ssh'; DROP TABLE x; --", "", 7])
      assert.ok("problem" in parseConnectTag(bad), String(bad));
    const hostile = parseConnectTag("ssh\u0000\n'; DROP TABLE guacamole_connection; -- and a long tail of text");
    assert.ok("problem" in hostile);
    assert.ok(
      [...hostile.problem].every((c) => c.charCodeAt(0) >= 0x20),
      "the reason quotes no control character",
    );
  });

  test("the desired set: protocol, host, port, groups; hostile and unreachable targets skipped with reasons", () => {
    const s = spec({ sources: [{ subscriptionId: SUB, groups: [DEVS.toUpperCase()] }] });
    const ok = vm("web-1", { "jumpgate-connect": "rdp" });
    const caseTag = vm("web-2", { "JumpGate-Connect": "ssh:2222" });
    const badTag = vm("web-3", { "jumpgate-connect": "ftp" });
    const far = vm("web-4", { "jumpgate-connect": "ssh" });
    const noNic = vm("web-5", { "jumpgate-connect": "ssh" });
    const quoted = vm("x'--", { "jumpgate-connect": "ssh" });
    const untagged = vm("web-6", {});
    const d = desiredConnections(
      s,
      {
        vms: [ok, caseTag, badTag, far, noNic, quoted, untagged],
        scaleSets: [],
        nics: [
          nic(ok, "10.40.5.4"),
          nic(caseTag, "10.70.0.9"),
          nic(badTag, "10.40.5.6"),
          nic(far, "192.168.1.1"),
          nic(quoted, "10.40.5.8"),
        ],
      },
      { reachable: ["10.40.0.0/16", "10.70.0.0/24"], credentials: [] },
    );
    assert.deepEqual(
      d.connections.map((c) => [c.name, c.protocol, c.parameters, c.groups, c.group]),
      [
        [
          "web-1",
          "rdp",
          { hostname: "10.40.5.4", port: "3389", security: "any", "ignore-cert": "true" },
          [DEVS],
          `s/${SUB}/g/rg-a`,
        ],
        ["web-2", "ssh", { hostname: "10.70.0.9", port: "2222" }, [DEVS], `s/${SUB}/g/rg-a`],
      ],
    );
    assert.deepEqual(
      d.groups.map((g) => [g.key, g.name, g.parent]),
      [
        [`s/${SUB}`, SUB, null],
        [`s/${SUB}/g/rg-a`, "rg-a", `s/${SUB}`],
      ],
    );
    const reasons = Object.fromEntries(d.skipped.map((x) => [x.name, x.reason]));
    assert.match(reasons["web-3"], /"ftp" is not ssh, rdp or vnc/);
    assert.match(reasons["web-4"], /192\.168\.1\.1 is not in the stack's virtual network or a peered address space/);
    assert.match(reasons["web-5"], /no private IPv4 address/);
    assert.match(reasons["x'--"], /not a VM id Jumpgate accepts/);
    assert.equal(reasons["web-6"], undefined, "an untagged VM is not a target at all");
  });

  test("recordings: the stack's switch and each source's decide which connections carry guacd's recording parameters", () => {
    const OTHER = "00000000-0000-0000-0000-0000000000b2";
    const withRecordings = (recordings: unknown, sources: unknown[]) => {
      const v = validateStackSpec({ ...specInput(), recordings, connections: { sources } });
      assert.ok(v.ok, JSON.stringify(v));
      return v.spec;
    };
    const a = vm("web-1", { "jumpgate-connect": "ssh" });
    const b = vm("web-2", { "jumpgate-connect": "rdp" }, { subscriptionId: OTHER });
    const run = (s: StackSpec) =>
      Object.fromEntries(
        desiredConnections(
          s,
          { vms: [a, b], scaleSets: [], nics: [nic(a, "10.40.5.4"), nic(b, "10.40.5.5")] },
          { reachable: ["10.40.0.0/16"], credentials: [] },
        ).connections.map((c) => [c.name, c.parameters]),
      );
    const recorded = {
      "recording-path": "/var/lib/guacd/recordings",
      "recording-name": "${HISTORY_UUID}",
      "create-recording-path": "true",
      "recording-include-keys": "false",
      "recording-write-existing": "false",
    };
    // the stack records, the second source opts out
    const on = run(
      withRecordings({}, [
        { subscriptionId: SUB, groups: [DEVS] },
        { subscriptionId: OTHER, groups: [DEVS], recordings: false },
      ]),
    );
    assert.deepEqual(on["web-1"], { hostname: "10.40.5.4", port: "22", ...recorded });
    assert.deepEqual(on["web-2"], { hostname: "10.40.5.5", port: "3389", security: "any", "ignore-cert": "true" });
    // key logging only when asked for
    const keys = run(withRecordings({ includeKeys: true }, [{ subscriptionId: SUB, groups: [DEVS] }]));
    assert.equal(keys["web-1"]["recording-include-keys"], "true");
    // the stack's recordings off (or absent): no source records, even one that says true
    for (const recordings of [{ enabled: false }, undefined]) {
      const off = run(withRecordings(recordings, [{ subscriptionId: SUB, groups: [DEVS], recordings: true }]));
      assert.deepEqual(off["web-1"], { hostname: "10.40.5.4", port: "22" });
    }
    // the switch changes the digest: the next sync applies it
    const digest = (s: StackSpec) =>
      desiredConnections(
        s,
        { vms: [a], scaleSets: [], nics: [nic(a, "10.40.5.4")] },
        { reachable: ["10.40.0.0/16"], credentials: [] },
      ).digest;
    assert.notEqual(
      digest(withRecordings({}, [{ subscriptionId: SUB, groups: [DEVS] }])),
      digest(withRecordings({ enabled: false }, [{ subscriptionId: SUB, groups: [DEVS] }])),
    );
  });

  test("scale set instances inherit the scale set's tag; the first source wins; resource groups narrow a source", () => {
    const s = spec({
      sources: [
        { subscriptionId: SUB, resourceGroups: ["RG-A"], groups: [DEVS] },
        { subscriptionId: SUB, groups: [OPS] },
        { subscriptionId: OTHER, groups: [OPS], tag: "connect-me" },
      ],
    });
    const scaleSetId = `/subscriptions/${SUB}/resourceGroups/rg-b/providers/Microsoft.Compute/virtualMachineScaleSets/pool`;
    const inst = vm("pool_1a2b3c", {}, { resourceGroup: "rg-b", scaleSetId });
    const inA = vm("a-1", { "jumpgate-connect": "ssh" });
    const other = vm("o-1", { "connect-me": "vnc", "jumpgate-connect": "ssh" }, { subscriptionId: OTHER });
    const d = desiredConnections(
      s,
      {
        vms: [inst, inA, other],
        scaleSets: [{ id: scaleSetId, tags: { "jumpgate-connect": "ssh" } }],
        nics: [nic(inst, "10.40.9.1"), nic(inA, "10.40.9.2"), nic(other, "10.40.9.3")],
      },
      { reachable: ["10.40.0.0/16"], credentials: [] },
    );
    assert.deepEqual(
      d.connections.map((c) => [c.name, c.source, c.groups[0], c.protocol]),
      [
        ["a-1", 0, DEVS, "ssh"],
        ["pool_1a2b3c", 1, OPS, "ssh"],
        ["o-1", 2, OPS, "vnc"],
      ],
    );
    assert.ok(
      !d.skipped.some((x) => x.name === "a-1"),
      "the second source's match of a-1 is not a skip: it stopped at the first",
    );
  });

  test("Uniform instances: named <scale set>_<id> from the id, tagged through their scale set; hostile ids, a forged scale set and a name clash skipped", () => {
    const s = spec({ sources: [{ subscriptionId: SUB, groups: [DEVS] }] });
    const setOf = (name: string, rg = "rg-a") =>
      `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
    // what the inventory makes of a computeresources row: no tags of its own, its scale set from its id
    const instance = (set: string, id: string, extra: Partial<InventoryVm> = {}): InventoryVm => ({
      id: `${set}/virtualMachines/${id}`,
      name: `${set.split("/").pop()!}_${id}`,
      subscriptionId: SUB,
      resourceGroup: "rg-a",
      tags: {},
      scaleSetId: set,
      powerState: "deallocated",
      ...extra,
    });
    const pool0 = instance(setOf("Pool"), "0");
    const pool1 = instance(setOf("Pool"), "1");
    const quiet = instance(setOf("quiet"), "0");
    const hostileSet = instance(setOf("evil'--"), "0");
    const notNumber = instance(setOf("Pool"), "x; DROP");
    const forged = instance(setOf("Pool"), "7", { scaleSetId: setOf("other") });
    const renamed = instance(setOf("Pool"), "2", { name: "admin-box" });
    // a VM already named as an instance would be, in the same resource group
    const clash = vm("pool_1", { "jumpgate-connect": "rdp" });
    const all = [pool0, pool1, quiet, hostileSet, notNumber, forged, renamed, clash];
    const d = desiredConnections(
      s,
      {
        vms: all,
        scaleSets: [
          { id: setOf("Pool"), tags: { "jumpgate-connect": "ssh:2200" } },
          { id: setOf("quiet"), tags: { owner: "x" } },
          { id: setOf("evil'--"), tags: { "jumpgate-connect": "ssh" } },
          { id: setOf("other"), tags: { "jumpgate-connect": "ssh" } },
        ],
        nics: all.map((v, i) => nic(v, `10.40.7.${i + 4}`)),
      },
      { reachable: ["10.40.0.0/16"], credentials: [] },
    );
    assert.deepEqual(
      d.connections.map((c) => [c.name, c.key, c.parameters.hostname, c.parameters.port, c.vm.powerState]),
      [
        ["pool_1", clash.id.toLowerCase(), "10.40.7.11", "3389", "running"],
        ["Pool_0", pool0.id.toLowerCase(), "10.40.7.4", "2200", "deallocated"],
      ],
    );
    const reason = (v: InventoryVm) => d.skipped.find((x) => x.vm === v.id)?.reason ?? "";
    assert.match(reason(pool1), /another target in its resource group already has the name/);
    assert.match(reason(hostileSet), /not a VM id Jumpgate accepts/);
    assert.match(reason(notNumber), /not a VM id Jumpgate accepts/);
    assert.match(reason(forged), /not a VM id Jumpgate accepts/);
    assert.match(reason(renamed), /is not a VM name Jumpgate accepts/);
    assert.equal(reason(quiet), "", "an untagged scale set's instances are not targets");
  });

  test("an unusable credential keeps its source's connections as they are; the digest follows versions", () => {
    const s = spec({ sources: [{ subscriptionId: SUB, groups: [DEVS], credential: { secret: "login" } }] });
    const a = vm("a-1", { "jumpgate-connect": "ssh" });
    const inventory = { vms: [a], scaleSets: [], nics: [nic(a, "10.40.1.9")] };
    const broken = desiredConnections(s, inventory, {
      reachable: ["10.40.0.0/16"],
      credentials: [{ key: "c0", secret: "login", problem: "not JSON" }],
    });
    assert.deepEqual(broken.connections, []);
    assert.deepEqual(broken.keep, [a.id.toLowerCase()]);
    assert.match(
      broken.skipped[0].reason,
      /credential login is unusable \(not JSON\): the connection is left as it is/,
    );
    const v1 = desiredConnections(s, inventory, {
      reachable: ["10.40.0.0/16"],
      credentials: [{ key: "c0", secret: "login", version: "v1" }],
    });
    const again = desiredConnections(s, inventory, {
      reachable: ["10.40.0.0/16"],
      credentials: [{ key: "c0", secret: "login", version: "v1" }],
    });
    const v2 = desiredConnections(s, inventory, {
      reachable: ["10.40.0.0/16"],
      credentials: [{ key: "c0", secret: "login", version: "v2" }],
    });
    assert.equal(v1.connections[0].credentialVersion, "login/v1");
    assert.equal(v1.digest, again.digest);
    assert.notEqual(v1.digest, v2.digest, "a new secret version is a change to apply");
  });

  test("the credential secret: username and a password or private key, nothing else, no control characters", () => {
    assert.deepEqual(credentialParameters(JSON.stringify({ username: "u", password: "p'\\" })), {
      parameters: { username: "u", password: "p'\\" },
    });
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\r\nabc\r\n-----END OPENSSH PRIVATE KEY-----\r\n";
    assert.deepEqual(credentialParameters(JSON.stringify({ username: "u", privateKey: key, passphrase: "x" })), {
      parameters: { username: "u", "private-key": key.replace(/\r\n/g, "\n"), passphrase: "x" },
    });
    for (const [value, why] of [
      ["not json", /not JSON/],
      ["[1]", /not a JSON object/],
      [JSON.stringify({ password: "p" }), /no 'username'/],
      [JSON.stringify({ username: "u" }), /neither 'password' nor 'privateKey'/],
      [JSON.stringify({ username: "u", password: "a\nb" }), /'password' is not text/],
      [JSON.stringify({ username: "u", password: "p", token: "t" }), /unknown field/],
    ] as const) {
      const r = credentialParameters(value);
      assert.ok("problem" in r && why.test(r.problem), value);
      assert.ok(!("problem" in r) || !r.problem.includes("a\nb"), "the reason never quotes a value");
    }
  });

  test("spec: connections need access, their groups must be mapped, limits and patterns are 422s", () => {
    const noAccess = specWith({ sources: [{ subscriptionId: SUB, groups: [DEVS] }] }, null);
    assert.ok(!noAccess.ok && noAccess.errors.some((e) => e.keyword === "connectionsNeedAccess"));
    const unmapped = specWith({ sources: [{ subscriptionId: SUB, groups: ["11111111-2222-4333-8444-555555555555"] }] });
    assert.ok(!unmapped.ok);
    assert.deepEqual(
      unmapped.errors.map((e) => [e.pointer, e.keyword]),
      [["/connections/sources/0/groups/0", "connectionGroups"]],
    );
    const bad = specWith({
      sources: [
        {
          subscriptionId: SUB,
          groups: [DEVS],
          tag: "x'; DROP",
          credential: { secret: "a b", vaultId: "https://evil.example/" },
          resourceGroups: ["rg/../x"],
        },
      ],
    });
    assert.ok(!bad.ok);
    assert.deepEqual(bad.errors.map((e) => e.pointer).sort(), [
      "/connections/sources/0/credential/secret",
      "/connections/sources/0/credential/vaultId",
      "/connections/sources/0/resourceGroups/0",
      "/connections/sources/0/tag",
    ]);
    const many = specWith({ sources: Array.from({ length: 21 }, () => ({ subscriptionId: SUB, groups: [DEVS] })) });
    assert.ok(!many.ok && many.errors.some((e) => e.pointer === "/connections/sources"));
    assert.equal(
      spec({ sources: [{ subscriptionId: SUB, groups: [DEVS] }] }).connections!.sources[0].tag,
      "jumpgate-connect",
    );
  });

  test("the inventory query names every source's tag as a KQL string literal", () => {
    const q = targetsQuery(
      spec({
        sources: [
          { subscriptionId: SUB, groups: [DEVS] },
          { subscriptionId: SUB, groups: [DEVS], tag: "team.connect" },
        ],
      }).connections!.sources,
    );
    assert.match(q, /isnotempty\(tags\['jumpgate-connect'\]\) or isnotempty\(tags\['team\.connect'\]\)/);
  });
});
