// The rolling upgrade's pure decisions (shared/upgrade/policy.ts): which PUT is an upgrade, which
// node goes next, and whether a new node comes first, the old one first, or neither.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { compareVersions, useExtraGuacamoleReleases, GUACAMOLE_RELEASES } from "../../shared/node/catalog";
import type { NodeSummary } from "../../shared/node/model";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import type { StackObserved } from "../../shared/stack-status";
import {
  classifyPut,
  nodesToReplace,
  releaseStatus,
  scaleSetModelRelease,
  upgradeRoom,
} from "../../shared/upgrade/policy";

let undo: () => void;
before(() => {
  undo = useExtraGuacamoleReleases([{ ...GUACAMOLE_RELEASES["1.6.0"], version: "1.99.0" }]);
});
after(() => undo());

function spec(version: string, extra: Record<string, unknown> = {}): StackSpec {
  const r = validateStackSpec({
    name: "pol",
    subscriptionId: "00000000-0000-0000-0000-000000000001",
    resourceGroup: "rg-pol",
    location: "westeurope",
    fleet: { mode: "availabilitySet", size: 3, min: 2, max: 4 },
    guacamole: { version },
    ...extra,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

const node = (name: string, version: string | undefined, extra: Partial<NodeSummary> = {}): NodeSummary => ({
  name,
  id: `/vm/${name}`,
  healthy: true,
  problems: [],
  checkedAt: "2026-12-07T00:00:00Z",
  ...(version ? { guacamoleVersion: version } : {}),
  ...extra,
});

const observed = (nodes: NodeSummary[]): StackObserved => ({ generation: 1, resources: [], nodes });

describe("which PUT is an upgrade", () => {
  test("nothing deployed yet: a deploy, whatever the version", () => {
    assert.deepEqual(classifyPut(undefined, spec("1.99.0")), { kind: "deploy" });
    assert.deepEqual(
      classifyPut({ spec: spec("1.6.0"), observed: observed([]), observedGeneration: 1 }, spec("1.99.0")),
      { kind: "deploy" },
    );
  });

  test("a deployed fleet on another release: an upgrade from the oldest release running", () => {
    const stored = {
      spec: spec("1.6.0"),
      observed: observed([node("a", "1.6.0"), node("b", undefined)]),
      observedGeneration: 1,
    };
    assert.deepEqual(classifyPut(stored, spec("1.99.0")), { kind: "upgrade", from: "1.6.0", to: "1.99.0" });
    // the same release everywhere: a deploy as before, other changes allowed
    assert.deepEqual(classifyPut(stored, spec("1.6.0", { tags: { team: "x" } })), { kind: "deploy" });
  });

  test("a fleet left mixed by a failed upgrade: the same spec resumes, the old release rolls back", () => {
    const stored = {
      spec: spec("1.99.0"),
      observed: observed([node("a", "1.99.0"), node("b", "1.6.0")]),
      observedGeneration: 2,
    };
    assert.deepEqual(classifyPut(stored, spec("1.99.0")), { kind: "upgrade", from: "1.6.0", to: "1.99.0" });
    assert.deepEqual(classifyPut(stored, spec("1.6.0")), { kind: "upgrade", from: "1.99.0", to: "1.6.0" });
  });

  test("an upgrade with another change is refused; a scale set upgrades like an availability set", () => {
    const stored = { spec: spec("1.6.0"), observed: observed([node("a", "1.6.0")]), observedGeneration: 1 };
    const mixed = classifyPut(stored, spec("1.99.0", { tags: { team: "x" } }));
    assert.equal(mixed.kind, "refused");
    assert.match((mixed as { detail: string }).detail, /change guacamole.version on its own/);
    const vmss = classifyPut(
      {
        spec: spec("1.6.0", { fleet: { mode: "scaleSet", size: 2 } }),
        observed: observed([node("a", "1.6.0")]),
        observedGeneration: 1,
      },
      spec("1.99.0", { fleet: { mode: "scaleSet", size: 2 } }),
    );
    assert.deepEqual(vmss, { kind: "upgrade", from: "1.6.0", to: "1.99.0" });
  });
});

describe("which node next, and how", () => {
  test("old nodes (and nodes of unknown release) go, fewest live sessions first", () => {
    const nodes = [
      node("w-1", "1.6.0", { liveSessions: 4 }),
      node("w-2", "1.99.0"),
      node("w-3", undefined, { liveSessions: 1 }),
      node("w-4", "1.6.0", { liveSessions: 1, exists: false }),
    ];
    assert.deepEqual(
      nodesToReplace(nodes, "1.99.0").map((n) => n.name),
      ["w-3", "w-1"],
    );
  });

  test("surge below fleet.max; at fleet.max the old node first only while fleet.min others serve", () => {
    const nodes = [node("w-1", "1.6.0"), node("w-2", "1.6.0"), node("w-3", "1.6.0")];
    assert.deepEqual(upgradeRoom({ min: 2, max: 4 }, 3, nodes, "w-1"), { mode: "surge" });
    assert.deepEqual(upgradeRoom({ min: 2, max: 3 }, 3, nodes, "w-1"), { mode: "remove-first" });
    const drained = [node("w-1", "1.6.0"), node("w-2", "1.6.0", { draining: true }), node("w-3", "1.6.0")];
    const blocked = upgradeRoom({ min: 2, max: 3 }, 3, drained, "w-1");
    assert.equal(blocked.mode, "blocked");
    assert.match((blocked as { reason: string }).reason, /leave 1 serving node\(s\), fewer than fleet.min \(2\)/);
    assert.equal(upgradeRoom({ min: 3, max: 3 }, 3, nodes, "w-1").mode, "blocked");
  });
});

test("status: target, releases running (oldest first), each node's release", () => {
  const s = releaseStatus(
    spec("1.99.0"),
    observed([node("w-1", "1.99.0"), node("w-10", "1.6.0"), node("w-2", undefined)]),
  );
  assert.equal(s.target, "1.99.0");
  assert.deepEqual(s.running, ["1.6.0", "1.99.0"]);
  assert.deepEqual(
    s.nodes.map((n) => n.version),
    ["1.99.0", "1.6.0", null],
  );
  assert.ok(compareVersions("1.6.0", "1.10.0") < 0, "numeric, not text order");
});

test("the production catalog cannot be overridden, and an unknown version is refused by the spec", () => {
  assert.throws(() => useExtraGuacamoleReleases([GUACAMOLE_RELEASES["1.6.0"]]), /pinned in the production catalog/);
  const r = validateStackSpec({
    name: "pol",
    subscriptionId: "00000000-0000-0000-0000-000000000001",
    resourceGroup: "rg-pol",
    location: "westeurope",
    guacamole: { version: "1.5.5" },
  });
  assert.equal(r.ok, false);
});

describe("the release a scale set's model is written at outside the upgrade", () => {
  const vmss = (version: string) => spec(version, { fleet: { mode: "scaleSet", size: 3, min: 2, max: 4 } });
  const failed = (nodes: NodeSummary[], state: "failed" | "running" | "succeeded" = "failed") =>
    ({
      ...observed(nodes),
      upgrade: {
        from: "1.6.0",
        to: "1.99.0",
        instanceId: "upgrade-pol",
        startedAt: "x",
        state,
        step: "drain",
        replaced: [],
      },
    }) as StackObserved;
  test("after a failed upgrade with old nodes left: the old release; else the spec's", () => {
    const mixed = [node("a", "1.6.0"), node("b", "1.99.0")];
    assert.equal(scaleSetModelRelease(vmss("1.99.0"), failed(mixed)), "1.6.0");
    // every node runs the target: the spec's
    assert.equal(scaleSetModelRelease(vmss("1.99.0"), failed([node("b", "1.99.0")])), "1.99.0");
    // a running or finished upgrade, an availability set, or a spec at another release: the spec's
    assert.equal(scaleSetModelRelease(vmss("1.99.0"), failed(mixed, "running")), "1.99.0");
    assert.equal(scaleSetModelRelease(vmss("1.99.0"), failed(mixed, "succeeded")), "1.99.0");
    assert.equal(scaleSetModelRelease(spec("1.99.0"), failed(mixed)), "1.99.0");
    assert.equal(scaleSetModelRelease(vmss("1.6.0"), failed(mixed)), "1.6.0");
    assert.equal(scaleSetModelRelease(vmss("1.99.0"), undefined), "1.99.0");
  });
});
