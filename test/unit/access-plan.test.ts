// Sign-in with Entra ID, the pure parts (shared/access): the settings rendered for a node, their
// digest (the one the agent reports), the group mapping, and what a deploy or the drift check does
// given what was applied: nothing at all when nothing differs and nothing is due for a look.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { accessGroupArgs, desiredGroups, groupsDigest } from "../../shared/access/groups";
import { ACCESS_VERIFY_HOURS, desiredAccess, planAccess, type AccessDesired } from "../../shared/access/plan";
import { SIGN_IN_KEYS, signInArgs, signInDigest, signInProperties } from "../../shared/access/sign-in";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import type { AccessObserved } from "../../shared/stack-status";

const TENANT = "72F988BF-86F1-41AF-91AB-2D7CD011DB47";
const ADMINS = "0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f";
const USERS = "6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f";

function spec(access?: object): StackSpec {
  const r = validateStackSpec({
    name: "demo",
    subscriptionId: "00000000-0000-0000-0000-000000000001",
    resourceGroup: "rg-demo",
    location: "westeurope",
    ...(access ? { access } : {}),
  });
  assert.ok(r.ok, JSON.stringify(r));
  return r.spec;
}
const WITH = spec({
  tenantId: TENANT,
  clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
  adminGroups: [ADMINS.toUpperCase()],
  userGroups: [USERS],
});
const HOST = { publicHostname: "jump.example.com" };
const NODES = [
  { name: "demo-web-1", id: "/x/demo-web-1" },
  { name: "demo-web-2", id: "/x/demo-web-2" },
];
const NOW = new Date("2026-12-07T12:00:00Z");

describe("the sign-in settings", () => {
  test("Entra's v2.0 endpoints of the tenant, the stack's address, openid first; in the agent's order", () => {
    const properties = signInProperties(WITH.access!, HOST);
    assert.deepEqual(
      properties.map(([k]) => k),
      [...SIGN_IN_KEYS],
    );
    const tenant = TENANT.toLowerCase();
    assert.deepEqual(Object.fromEntries(properties), {
      "openid-issuer": `https://login.microsoftonline.com/${tenant}/v2.0`,
      "openid-authorization-endpoint": `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/authorize`,
      "openid-jwks-endpoint": `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`,
      "openid-client-id": "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
      "openid-redirect-uri": "https://jump.example.com/",
      "openid-username-claim-type": "preferred_username",
      "openid-groups-claim-type": "groups",
      "openid-scope": "openid email profile",
      "extension-priority": "openid, mysql",
    });
    // a sovereign cloud's authority, from JUMPGATE_ENTRA_AUTHORITY
    const us = new Map(signInProperties(WITH.access!, { ...HOST, authority: "https://login.microsoftonline.us/" }));
    assert.equal(us.get("openid-issuer"), `https://login.microsoftonline.us/${tenant}/v2.0`);
  });

  test("the digest is SHA-256 of the lines the agent writes; the arguments carry each setting once", () => {
    const properties = signInProperties(WITH.access!, HOST);
    const text = properties.map(([k, v]) => `${k}: ${v}\n`).join("");
    assert.equal(signInDigest(properties), createHash("sha256").update(text).digest("hex"));
    assert.equal(signInDigest(undefined), null);
    assert.deepEqual(signInArgs(undefined), ["--off"]);
    const args = signInArgs(properties);
    assert.equal(args.filter((a) => a === "--property").length, SIGN_IN_KEYS.length);
    assert.ok(args.includes("extension-priority=openid, mysql"));
  });

  test("groups: one per Entra group id, lower case, sorted; admins get ADMINISTER; the digest follows the mapping", () => {
    const groups = desiredGroups(WITH.access);
    assert.deepEqual(groups, [
      { id: ADMINS, role: "admin", permissions: ["ADMINISTER"] },
      { id: USERS, role: "user", permissions: [] },
    ]);
    assert.deepEqual(accessGroupArgs("demo", groups), [
      "--stack",
      "demo",
      "--group",
      `${ADMINS}:admin`,
      "--group",
      `${USERS}:user`,
    ]);
    assert.notEqual(groupsDigest(groups), groupsDigest(groups.map((g) => ({ ...g, role: "admin" as const }))));
    assert.deepEqual(desiredGroups(undefined), []);
  });
});

describe("what a deploy or the drift check does about sign-in", () => {
  const desired: AccessDesired = desiredAccess(WITH, HOST);
  const applied = (at = NOW.toISOString()): AccessObserved => ({
    signIn: "on",
    digest: desired.digest,
    nodes: NODES.map((n) => ({ ...n, digest: desired.digest, at })),
    groups: {
      digest: desired.groupsDigest,
      mapped: [],
      conflicts: [],
      lastChanges: [],
      at,
      instanceId: "deploy-demo-g1",
    },
    guacadmin: { disabled: true, since: at },
  });

  test("a stack that never had access: nothing, not even a node listing", () => {
    assert.deepEqual(planAccess(desiredAccess(spec(), HOST), undefined, NODES, NOW), { nodes: [], nothing: true });
  });

  test("the first deploy with access: every node, the groups and guacadmin", () => {
    const plan = planAccess(desired, undefined, NODES, NOW);
    assert.deepEqual(
      plan.nodes.map((n) => n.name),
      ["demo-web-1", "demo-web-2"],
    );
    assert.equal(plan.groups, "the groups were never synced");
    assert.equal(plan.guacadmin?.action, "disable");
    assert.equal(plan.nothing, false);
  });

  test("as applied, within a day: nothing at all (no Run Command)", () => {
    const plan = planAccess(desired, applied(), NODES, new Date(NOW.getTime() + 3_600_000));
    assert.deepEqual(plan, { nodes: [], nothing: true });
  });

  test("a node that is new or replaced (same name, another id) is configured; the others are not", () => {
    const nodes = [NODES[0], { name: "demo-web-2", id: "/x/demo-web-2-replaced" }, { name: "demo-web-3", id: "/x/3" }];
    const plan = planAccess(desired, applied(), nodes, NOW);
    assert.deepEqual(
      plan.nodes.map((n) => n.name),
      ["demo-web-2", "demo-web-3"],
    );
    assert.equal(plan.groups, undefined);
  });

  test("a changed mapping syncs the groups (and confirms guacadmin) without touching the nodes", () => {
    const changed = desiredAccess(spec({ ...WITH.access, userGroups: [] }), HOST);
    const plan = planAccess({ ...changed, digest: desired.digest }, applied(), NODES, NOW);
    assert.deepEqual(plan.nodes, []);
    assert.equal(plan.groups, "the group mapping changed");
    assert.equal(plan.guacadmin?.action, "disable");
  });

  test(`after ${ACCESS_VERIFY_HOURS} hours the drift check looks again: the nodes (sign-in --check) and the groups`, () => {
    const later = new Date(NOW.getTime() + ACCESS_VERIFY_HOURS * 3_600_000);
    const plan = planAccess(desired, applied(), NODES, later);
    assert.equal(plan.nodes.length, 2);
    assert.match(plan.groups ?? "", /last synced/);
  });

  test("the next day's full check finds the verification due though it comes a few minutes earlier", () => {
    const nextDay = new Date(NOW.getTime() + ACCESS_VERIFY_HOURS * 3_600_000 - 5 * 60_000);
    const plan = planAccess(desired, applied(), NODES, nextDay);
    assert.equal(plan.nodes.length, 2);
    assert.match(plan.groups ?? "", /last synced/);
    const sameDay = planAccess(desired, applied(), NODES, new Date(NOW.getTime() + 20 * 3_600_000));
    assert.deepEqual(sameDay.nodes, []);
    assert.equal(sameDay.groups, undefined);
  });

  test("an open break-glass window keeps guacadmin enabled until its end", () => {
    const open = applied();
    open.guacadmin = {
      disabled: false,
      since: NOW.toISOString(),
      breakGlass: {
        openedAt: NOW.toISOString(),
        until: new Date(NOW.getTime() + 1_800_000).toISOString(),
        instanceId: "break-glass-demo",
        secret: "guacadmin-password",
        version: "v1",
      },
    };
    assert.equal(planAccess(desired, open, NODES, NOW).guacadmin, undefined);
    const after = planAccess(desired, open, NODES, new Date(NOW.getTime() + 1_900_000));
    assert.equal(after.guacadmin?.action, "disable");
  });

  test("access removed: every node back to local sign-in, guacadmin enabled, the groups lose their permissions", () => {
    const off = desiredAccess(spec(), HOST);
    const plan = planAccess(off, applied(), NODES, NOW);
    assert.equal(plan.nodes.length, 2);
    assert.equal(plan.guacadmin?.action, "enable");
    assert.equal(plan.groups, "the group mapping changed");
    // once applied, a stack without access is not looked at again
    const done: AccessObserved = {
      signIn: "off",
      digest: null,
      nodes: NODES.map((n) => ({ ...n, digest: null, at: NOW.toISOString() })),
      groups: { ...applied().groups!, digest: off.groupsDigest },
      guacadmin: { disabled: false, since: NOW.toISOString() },
    };
    assert.deepEqual(planAccess(off, done, NODES, new Date(NOW.getTime() + 48 * 3_600_000)), {
      nodes: [],
      nothing: true,
    });
  });
});
