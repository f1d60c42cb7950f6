// How a node joins (shared/node/join.ts): the steps from its health as last seen and the stack's
// plan, in the order that keeps the load balancer away from a node not yet fit to serve.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { joinSteps } from "../../shared/node/join";
import { nodeHealth } from "../../shared/node/model";

const signIn = { args: ["--property", "openid-client-id=x"], digest: "d1" };
const healthy = (signInDigest: string | null) =>
  nodeHealth({
    vmName: "web-1",
    reachable: true,
    exitCode: 0,
    json: {
      healthy: true,
      databaseUser: "guacamole_a",
      certificate: { serial: "0A" },
      signIn: { digest: signInDigest, extension: signInDigest !== null },
      checks: [{ name: "database", ok: true }],
    },
  });

void test("a new node gets drain, certificate, sign-in, then database credentials, in that order", () => {
  const steps = joinSteps(undefined, { appUser: "b", certificate: { secret: "tls" }, drained: true, signIn });
  assert.deepEqual(
    steps.map((s) => [s.command, ...s.args]),
    [
      ["drain", "on"],
      ["install-cert", "--secret", "tls"],
      ["sign-in", "--property", "openid-client-id=x"],
      ["db-credentials", "--user", "b"],
    ],
  );
});

void test("a node that has the stack's sign-in settings (by digest) is not given them again", () => {
  assert.deepEqual(joinSteps(healthy("d1"), { appUser: "a", signIn }), []);
  assert.deepEqual(
    joinSteps(healthy("d0"), { appUser: "a", signIn }).map((s) => s.command),
    ["sign-in"],
    "other settings: the stack's",
  );
  assert.deepEqual(
    joinSteps(healthy(null), { appUser: "a", signIn }).map((s) => s.command),
    ["sign-in"],
    "none yet: the stack's",
  );
});

void test("a stack without access: no sign-in step", () => {
  assert.deepEqual(
    joinSteps(undefined, { appUser: "a" }).map((s) => s.command),
    ["db-credentials"],
  );
});
