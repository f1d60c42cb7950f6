// The credential state derived from Key Vault labels: never rotated, each step of a rotation, a
// finish cut short after each of its writes, a rolled-back version, and the admin password.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  adminLabelChanges,
  ageDays,
  appLabelChanges,
  deriveAdminState,
  deriveAppUserState,
  ROTATION_TAGS as T,
  type SecretVersionMeta,
} from "../../shared/credentials/rotation-state";
import { validateRotateRequest } from "../../shared/credentials/rotate-request";
import { APP_USERS } from "../../shared/node/constants";
import { SECRET_NAMES } from "../../shared/secret-names";

const A = SECRET_NAMES.dbAppPasswordA;
const B = SECRET_NAMES.dbAppPasswordB;
const ADMIN = SECRET_NAMES.dbAdminPassword;

function v(secret: string, version: string, createdOn: string, tags: Record<string, string> = {}): SecretVersionMeta {
  return { secret, version, createdOn, enabled: true, tags };
}

const a1 = v(A, "a1", "2026-01-01T00:00:00.000Z");
const b1 = v(B, "b1", "2026-01-01T00:00:00.000Z");

describe("app users' state from Key Vault labels", () => {
  test("never rotated: the nodes use a (its latest version), b is the idle previous", () => {
    const s = deriveAppUserState({ a: [a1], b: [b1] });
    assert.deepEqual(s.current, {
      slot: "a",
      user: APP_USERS.a,
      secret: A,
      version: "a1",
      generation: 0,
      since: a1.createdOn,
    });
    assert.deepEqual(s.previous, { slot: "b", user: APP_USERS.b, secret: B, version: "b1" });
    assert.equal(s.pending, undefined);
    assert.deepEqual(appLabelChanges(s, { a: [a1], b: [b1] }), [], "a never-rotated stack needs no labels");
  });

  test("a pending version of the idle user is the rotation in flight; the current user does not change", () => {
    const b2 = v(B, "b2", "2026-02-01T00:00:00.000Z", {
      [T.label]: "pending",
      [T.rotationId]: "r1",
      [T.replaces]: "b1",
    });
    const s = deriveAppUserState({ a: [a1], b: [b1, b2] });
    assert.equal(s.current.version, "a1");
    assert.equal(s.previous.version, "b1", "the previous is the settled version, not the pending one");
    assert.deepEqual(s.pending, {
      slot: "b",
      user: APP_USERS.b,
      secret: B,
      version: "b2",
      rotationId: "r1",
      replaces: "b1",
      createdOn: b2.createdOn,
    });
  });

  test("a finish cut short after each of its writes derives the finished state, and the stale labels are named", () => {
    const pending = { [T.label]: "pending", [T.rotationId]: "r1", [T.replaces]: "b1" };
    const promoted = { ...pending, [T.label]: "current", [T.generation]: "1", [T.since]: "2026-02-01T01:00:00.000Z" };
    // 1. only the new current written
    let versions = { a: [a1], b: [b1, v(B, "b2", "2026-02-01T00:00:00.000Z", promoted)] };
    let s = deriveAppUserState(versions);
    assert.deepEqual([s.current.slot, s.current.version, s.current.generation], ["b", "b2", 1]);
    assert.equal(s.previous.version, "a1");
    assert.equal(s.pending, undefined);
    assert.deepEqual(appLabelChanges(s, versions), [{ secret: A, version: "a1", from: undefined, to: "previous" }]);
    // 2. old current demoted too: consistent, the replaced version's label is the finish's own step
    versions = { a: [v(A, "a1", a1.createdOn!, { [T.label]: "previous" })], b: versions.b };
    s = deriveAppUserState(versions);
    assert.deepEqual(appLabelChanges(s, versions), []);
    // the second rotation: a's new version, then every step of its finish
    const a2p = { [T.label]: "pending", [T.rotationId]: "r2", [T.replaces]: "a1" };
    versions = { a: [...versions.a, v(A, "a2", "2026-03-01T00:00:00.000Z", a2p)], b: versions.b };
    s = deriveAppUserState(versions);
    assert.deepEqual([s.current.version, s.previous.version, s.pending?.version], ["b2", "a1", "a2"]);
    const a2c = { ...a2p, [T.label]: "current", [T.generation]: "2", [T.since]: "2026-03-01T01:00:00.000Z" };
    versions = { a: [versions.a[0], v(A, "a2", "2026-03-01T00:00:00.000Z", a2c)], b: versions.b };
    s = deriveAppUserState(versions);
    assert.deepEqual([s.current.version, s.current.generation, s.previous.version], ["a2", 2, "b2"]);
    assert.deepEqual(
      appLabelChanges(s, versions).map((c) => `${c.version}:${c.from}->${c.to}`),
      ["a1:previous->retired", "b2:current->previous"],
    );
  });

  test("a rolled-back (failed) version is never current, previous or pending", () => {
    const b2 = v(B, "b2", "2026-02-01T00:00:00.000Z", { [T.label]: "failed", [T.replaces]: "b1" });
    const s = deriveAppUserState({ a: [a1], b: [b1, b2] });
    assert.deepEqual([s.current.version, s.previous.version, s.pending], ["a1", "b1", undefined]);
  });
});

describe("admin password state", () => {
  const x1 = v(ADMIN, "x1", "2026-01-01T00:00:00.000Z");
  test("never rotated, pending, promoted, failed", () => {
    assert.equal(deriveAdminState([x1]).current.version, "x1");
    const x2 = v(ADMIN, "x2", "2026-01-01T00:00:00.000Z", { [T.label]: "pending", [T.replaces]: "x1" });
    // created in the same second: the pending one's `replaces` says which is current
    let s = deriveAdminState([x1, x2]);
    assert.deepEqual([s.current.version, s.pending?.version], ["x1", "x2"]);
    const x2c = v(ADMIN, "x2", x2.createdOn!, { [T.label]: "current", [T.generation]: "1", [T.replaces]: "x1" });
    s = deriveAdminState([x1, x2c]);
    assert.deepEqual([s.current.version, s.current.generation, s.pending], ["x2", 1, undefined]);
    assert.deepEqual(adminLabelChanges(s, [x1, x2c]), []);
    const x2f = v(ADMIN, "x2", x2.createdOn!, { [T.label]: "failed" });
    assert.equal(deriveAdminState([x1, x2f]).current.version, "x1");
  });
});

test("ages in whole days, never negative", () => {
  const now = new Date("2026-03-31T12:00:00.000Z");
  assert.equal(ageDays("2026-03-01T12:00:00.000Z", now), 30);
  assert.equal(ageDays("2026-04-01T00:00:00.000Z", now), 0);
  assert.equal(ageDays(undefined, now), 0);
});

test("the rotate request: defaults, strict fields, something to rotate", () => {
  assert.deepEqual(validateRotateRequest({}), { ok: true, request: { appUsers: true, admin: false } });
  assert.deepEqual(validateRotateRequest({ admin: true }), { ok: true, request: { appUsers: true, admin: true } });
  assert.equal(validateRotateRequest({ appUsers: false, admin: false }).ok, false);
  assert.equal(validateRotateRequest({ admin: "yes" }).ok, false);
  assert.equal(validateRotateRequest({ password: "x" }).ok, false);
  assert.equal(validateRotateRequest([]).ok, false);
});
