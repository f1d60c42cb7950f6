// The desired-subset-of-observed diff and ValueRef resolution, pure.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { diffDocuments, normalizeLocation } from "../../shared/arm/diff";
import { changesOf, replaceReason, tagRefusal, updateBody } from "../../shared/arm/node-rules";
import { findRefs, KNOWN_AFTER_APPLY, resolveRefs } from "../../shared/arm/refs";
import type { GraphNode } from "../../shared/graph/types";
import { splitTopLevel } from "../../shared/arm/top-level-fields";

const rule = (name: string, port: string, extra: Record<string, unknown> = {}) => ({
  name,
  properties: { access: "Allow", destinationPortRange: port, priority: 100, ...extra },
});

describe("diffDocuments", () => {
  test("only paths present in the desired document are compared", () => {
    const desired = { location: "westeurope", properties: { enableRbacAuthorization: true } };
    const observed = {
      id: "/subscriptions/s/x",
      etag: "W/1",
      location: "westeurope",
      properties: { enableRbacAuthorization: true, vaultUri: "https://v/", provisioningState: "Succeeded" },
    };
    assert.deepEqual(diffDocuments(desired, observed), []);
  });

  test("a changed scalar is one change with ARM's path", () => {
    const changes = diffDocuments(
      { properties: { backup: { backupRetentionDays: 14 } } },
      { properties: { backup: { backupRetentionDays: 7, geoRedundantBackup: "Disabled" } } },
    );
    assert.deepEqual(changes, [{ path: "properties.backup.backupRetentionDays", from: 7, to: 14 }]);
  });

  test("a missing observed value is a change from undefined, leaf by leaf", () => {
    assert.deepEqual(diffDocuments({ tags: { a: "1", b: "2" } }, { tags: { a: "1" } }), [
      { path: "tags.b", from: undefined, to: "2" },
    ]);
    assert.deepEqual(diffDocuments({ properties: { x: { y: 1 } } }, {}), [
      { path: "properties.x.y", from: undefined, to: 1 },
    ]);
  });

  test("extra observed keys and extra tags are not changes", () => {
    assert.deepEqual(diffDocuments({ tags: { a: "1" } }, { tags: { a: "1", addedByPolicy: "x" } }), []);
  });

  test("named arrays compare as sets: order does not matter, a changed item shows by name", () => {
    const desired = { properties: { securityRules: [rule("https", "443"), rule("http", "80")] } };
    const observed = {
      properties: {
        securityRules: [
          { ...rule("HTTP", "80"), id: "/subscriptions/s/rg/x/securityRules/http", etag: "e" },
          rule("https", "8443"),
        ],
      },
    };
    assert.deepEqual(diffDocuments(desired, observed), [
      { path: "properties.securityRules[https].properties.destinationPortRange", from: "8443", to: "443" },
    ]);
  });

  test("an extra observed named item (an SSH rule added out of band) is a change", () => {
    const ssh = rule("allow-ssh", "22", { priority: 300 });
    const changes = diffDocuments(
      { properties: { securityRules: [rule("https", "443")] } },
      { properties: { securityRules: [rule("https", "443"), ssh] } },
    );
    assert.deepEqual(changes, [{ path: "properties.securityRules[allow-ssh]", from: ssh, to: undefined }]);
  });

  test("a missing named item is a change to the whole item", () => {
    const https = rule("https", "443");
    assert.deepEqual(diffDocuments({ rules: [https] }, { rules: [] }), [
      { path: "rules[https]", from: undefined, to: https },
    ]);
  });

  test("other arrays compare by position; a different length is one change of the whole array", () => {
    assert.deepEqual(diffDocuments({ zones: ["1", "2"] }, { zones: ["1", "2"] }), []);
    assert.deepEqual(diffDocuments({ zones: ["1", "2"] }, { zones: ["2", "1"] }), [
      { path: "zones[0]", from: "2", to: "1" },
      { path: "zones[1]", from: "1", to: "2" },
    ]);
    assert.deepEqual(diffDocuments({ zones: ["1", "2"] }, { zones: ["1"] }), [
      { path: "zones", from: ["1"], to: ["1", "2"] },
    ]);
    assert.deepEqual(diffDocuments({ accessPolicies: [] }, { accessPolicies: [{ tenantId: "t" }] }), [
      { path: "accessPolicies", from: [{ tenantId: "t" }], to: [] },
    ]);
    // positional objects compare as subsets too
    assert.deepEqual(
      diffDocuments(
        { nics: [{ id: "/subscriptions/S/NIC", properties: { primary: true } }] },
        {
          nics: [{ id: "/subscriptions/s/nic", properties: { primary: true, deleteOption: "Detach" } }],
        },
      ),
      [],
    );
  });

  test("maps keyed by ARM id (userAssignedIdentities): keys match case-insensitively, ARM's filled-in entries are not drift", () => {
    const id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/web-id";
    const desired = { identity: { type: "UserAssigned", userAssignedIdentities: { [id]: {} } } };
    const filled = { principalId: "p", clientId: "c" };
    // as sent, and as ARM may return it (another case), with principalId and clientId filled in
    for (const key of [id, id.replace("resourceGroups", "resourcegroups")]) {
      assert.deepEqual(
        diffDocuments(desired, { identity: { type: "UserAssigned", userAssignedIdentities: { [key]: filled } } }),
        [],
      );
    }
    // another identity someone added is not ours to compare; ours missing is a change
    const other = id.replace("web-id", "other-id");
    assert.deepEqual(
      diffDocuments(desired, {
        identity: { type: "UserAssigned", userAssignedIdentities: { [id]: filled, [other]: filled } },
      }),
      [],
    );
    assert.deepEqual(
      diffDocuments(desired, { identity: { type: "UserAssigned", userAssignedIdentities: { [other]: filled } } }),
      [{ path: `identity.userAssignedIdentities.${id}`, from: undefined, to: {} }],
    );
    assert.deepEqual(diffDocuments(desired, { identity: { type: "SystemAssigned", principalId: "p" } }), [
      { path: "identity.type", from: "SystemAssigned", to: "UserAssigned" },
      { path: `identity.userAssignedIdentities.${id}`, from: undefined, to: {} },
    ]);
  });

  test("ARM ids compare case-insensitively; other strings exactly", () => {
    const id = "/subscriptions/abc/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v";
    assert.deepEqual(diffDocuments({ subnet: { id } }, { subnet: { id: id.toLowerCase() } }), []);
    assert.deepEqual(diffDocuments({ sku: { name: "Standard" } }, { sku: { name: "standard" } }), [
      { path: "sku.name", from: "standard", to: "Standard" },
    ]);
  });

  test("location compares normalized, and only at the top level", () => {
    assert.deepEqual(diffDocuments({ location: "westeurope" }, { location: "West Europe" }), []);
    assert.equal(normalizeLocation("West Europe"), "westeurope");
    assert.equal(
      diffDocuments({ properties: { location: "westeurope" } }, { properties: { location: "West Europe" } }).length,
      1,
    );
  });

  test("skipped paths (write-only, create-only) and everything below them are not compared", () => {
    const desired = {
      properties: {
        osProfile: { customData: "Y2xvdWQ=", adminUsername: "jumpgate" },
        hardwareProfile: { vmSize: "Standard_B2s" },
        keys: [{ path: "/p", keyData: "k" }],
      },
    };
    const observed = {
      properties: {
        osProfile: { adminUsername: "other" },
        hardwareProfile: { vmSize: "Standard_B2s" },
        keys: [{ path: "/p" }],
      },
    };
    assert.deepEqual(
      diffDocuments(desired, observed, { skip: ["properties.osProfile", "properties.keys.0.keyData"] }),
      [],
    );
    assert.equal(diffDocuments(desired, observed).length, 3);
  });

  test("numbers and strings are not the same value", () => {
    assert.equal(diffDocuments({ port: 443 }, { port: "443" }).length, 1);
  });
});

describe("ValueRefs", () => {
  const ref = { $ref: { node: "vm:web-1", path: "identity.principalId", id: "/subscriptions/s/vm", apiVersion: "v" } };

  test("findRefs lists refs with their paths", () => {
    assert.deepEqual(findRefs({ properties: { principalId: ref, other: "x" } }), [
      { path: "properties.principalId", ref },
    ]);
  });

  test("resolveRefs fills values from the target's document and reads each target once", async () => {
    let reads = 0;
    const out = await resolveRefs({ properties: { principalId: ref, again: ref } }, async () => {
      reads++;
      return { identity: { principalId: "p-1" } };
    });
    assert.deepEqual(out, { body: { properties: { principalId: "p-1", again: "p-1" } }, unresolved: [] });
    assert.equal(reads, 1);
  });

  test("a target that does not exist yet is '(known after apply)'", async () => {
    const body = { properties: { principalId: ref } };
    const out = await resolveRefs(body, async () => undefined);
    assert.deepEqual(out.body, { properties: { principalId: KNOWN_AFTER_APPLY } });
    assert.deepEqual(out.unresolved, [
      { path: "properties.principalId", node: "vm:web-1", targetPath: "identity.principalId" },
    ]);
    assert.deepEqual(body.properties.principalId, ref, "the node's own body is not changed");
  });
});

describe("top-level fields the generic model drops", () => {
  test("zones travel beside the model; the model keeps what the SDK serializes", () => {
    const { model, extra } = splitTopLevel({
      location: "l",
      tags: {},
      sku: {},
      identity: {},
      properties: {},
      zones: ["1"],
    });
    assert.deepEqual(Object.keys(model).sort(), ["identity", "location", "properties", "sku", "tags"]);
    assert.deepEqual(extra, { zones: ["1"] });
  });
});

describe("node rules", () => {
  const vm: GraphNode = {
    key: "vm:web-1",
    kind: "virtualMachine",
    id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v",
    apiVersion: "2024-07-01",
    body: {},
    dependsOn: [],
    writeOnly: ["properties.osProfile.customData"],
    createOnly: ["properties.osProfile", "zones"],
  };
  const desired = {
    tags: { "jumpgate-stack": "s" },
    properties: { hardwareProfile: { vmSize: "B2ms" }, osProfile: { adminUsername: "jumpgate", customData: "Yw==" } },
  };
  const observed = {
    tags: { "jumpgate-stack": "s", "added-by-policy": "x" },
    properties: { hardwareProfile: { vmSize: "B2s" }, osProfile: { adminUsername: "jumpgate", secrets: [] } },
  };

  test("an update sends create-only places as ARM has them, no write-only values, and merged tags", () => {
    assert.deepEqual(updateBody(vm, desired, observed), {
      tags: { "jumpgate-stack": "s", "added-by-policy": "x" },
      properties: { hardwareProfile: { vmSize: "B2ms" }, osProfile: { adminUsername: "jumpgate", secrets: [] } },
    });
    assert.deepEqual(changesOf(vm, desired, observed), [
      { path: "properties.hardwareProfile.vmSize", from: "B2s", to: "B2ms" },
    ]);
  });

  test("a write-only value goes again when the place it belongs with changes (a scale set's image and custom data)", () => {
    const set: GraphNode = {
      ...vm,
      writeOnly: ["properties.osProfile.customData"],
      createOnly: ["properties.osProfile"],
      resendWriteOnlyOn: { "properties.osProfile.customData": "properties.storageProfile.imageReference" },
    };
    const marketplace = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" };
    const was = {
      properties: {
        osProfile: { adminUsername: "jumpgate" },
        storageProfile: { imageReference: { ...marketplace, exactVersion: "1.0.1" } },
      },
    };
    const gallery =
      "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.6.5";
    const toImage = {
      properties: {
        osProfile: { adminUsername: "jumpgate", customData: "aW1hZ2U=" },
        storageProfile: { imageReference: { id: gallery } },
      },
    };
    assert.deepEqual(updateBody(set, toImage, was), {
      properties: {
        osProfile: { adminUsername: "jumpgate", customData: "aW1hZ2U=" },
        storageProfile: { imageReference: { id: gallery } },
      },
    });
    // the same image (ARM adds exactVersion): the custom data stays as ARM has it
    const same = { properties: { ...toImage.properties, storageProfile: { imageReference: marketplace } } };
    assert.equal(
      (updateBody(set, same, was).properties as { osProfile: Record<string, unknown> }).osProfile.customData,
      undefined,
    );
  });

  test("a write-only value goes again when any of its places changes (the custom data's digest tag)", () => {
    const set: GraphNode = {
      ...vm,
      writeOnly: ["properties.osProfile.customData"],
      createOnly: ["properties.osProfile"],
      resendWriteOnlyOn: {
        "properties.osProfile.customData": ["properties.storageProfile.imageReference", "tags.digest"],
      },
    };
    const image = { imageReference: { id: "g" } };
    const was = {
      tags: { digest: "old" },
      properties: { osProfile: { adminUsername: "jumpgate" }, storageProfile: image },
    };
    const release = (digest: string) => ({
      tags: { digest },
      properties: { osProfile: { adminUsername: "jumpgate", customData: "bmV3" }, storageProfile: image },
    });
    // the same image, another release: the tag differs, so the diff sees it and the custom data goes again
    assert.deepEqual(changesOf(set, release("new"), was), [{ path: "tags.digest", from: "old", to: "new" }]);
    const body = updateBody(set, release("new"), was) as { properties: { osProfile: Record<string, unknown> } };
    assert.equal(body.properties.osProfile.customData, "bmV3");
    // nothing changed: no change, and the custom data is not sent
    assert.deepEqual(changesOf(set, release("old"), was), []);
    const same = updateBody(set, release("old"), was) as { properties: { osProfile: Record<string, unknown> } };
    assert.equal(same.properties.osProfile.customData, undefined);
  });

  test("a resource left Failed is a change even when its model matches", () => {
    const failed = { ...observed, properties: { ...observed.properties, provisioningState: "Failed" } };
    assert.deepEqual(changesOf(vm, { tags: desired.tags }, failed), [
      { path: "properties.provisioningState", from: "Failed", to: "Succeeded" },
    ]);
  });

  test("a role assignment with another principal is replaced", () => {
    const ra: GraphNode = { ...vm, kind: "roleAssignment", writeOnly: [], createOnly: [] };
    const want = { properties: { principalId: "P2", roleDefinitionId: "/subscriptions/s/r" } };
    assert.match(
      replaceReason(ra, want, { properties: { principalId: "p1", roleDefinitionId: "/subscriptions/s/r" } }) ?? "",
      /principalId/,
    );
    assert.equal(
      replaceReason(ra, want, { properties: { principalId: "p2", roleDefinitionId: "/SUBSCRIPTIONS/s/r" } }),
      undefined,
    );
  });

  test("teardown trusts the stack tag only (tag names are case-insensitive, values are not)", () => {
    const tag = { name: "jumpgate-stack", value: "s" };
    assert.equal(tagRefusal(vm, { tags: { "Jumpgate-Stack": "s" } }, tag), undefined);
    assert.match(tagRefusal(vm, { tags: { "jumpgate-stack": "S" } }, tag) ?? "", /has jumpgate-stack=S/);
    assert.match(tagRefusal(vm, {}, tag) ?? "", /has no jumpgate-stack tag/);
    const child: GraphNode = { ...vm, tagOwner: { id: "/subscriptions/s/vault", apiVersion: "v" } };
    assert.match(tagRefusal(child, undefined, tag) ?? "", /its owner \/subscriptions\/s\/vault does not exist/);
  });
});
