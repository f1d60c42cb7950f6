// The pure guards behind the HTTP routes' refusals: which ACME directory hosts are public, which
// operation ids belong to a stack, which spec changes move a stack, and how big a field-error
// problem may get.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isOperationOf } from "../../functions/names";
import { nonPublicHostReason } from "../../shared/acme/directory-host";
import { PROBLEM_LIMITS, invalidAlertProblem, validationProblem } from "../../shared/http/problem";
import { placementChanges } from "../../shared/spec/placement";

describe("ACME directory hosts", () => {
  test("loopback, link-local, private and special-use addresses and local names are not public", () => {
    for (const url of [
      "https://127.0.0.1/dir",
      "https://127.8.9.10:14000/dir",
      "https://2130706433/dir",
      "https://0x7f.1/dir",
      "https://0.0.0.0/dir",
      "https://10.0.0.1/dir",
      "https://172.16.0.1/dir",
      "https://172.31.255.255/dir",
      "https://192.168.0.1/dir",
      "https://169.254.169.254/metadata/instance",
      "https://168.63.129.16.nip.io.local/x",
      "https://100.64.1.1/dir",
      "https://198.18.0.1/dir",
      "https://224.0.0.1/dir",
      "https://255.255.255.255/dir",
      "https://[::1]/dir",
      "https://[::]/dir",
      "https://[fe80::1]/dir",
      "https://[fd12:3456::1]/dir",
      "https://[fc00::1]/dir",
      "https://[ff02::1]/dir",
      "https://[::ffff:127.0.0.1]/dir",
      "https://[::ffff:a9fe:a9fe]/dir",
      "https://[64:ff9b::10.0.0.1]/dir",
      "https://[2001:db8::1]/dir",
      "https://localhost/dir",
      "https://LOCALHOST./dir",
      "https://ca.localhost/dir",
      "https://pebble/dir",
      "https://printer.local/dir",
      "https://metadata.google.internal/dir",
      "https://router.home.arpa/dir",
      "https://vm1.internal.cloudapp.net/dir",
    ]) {
      assert.ok(nonPublicHostReason(url), `${url} is not public`);
    }
  });

  test("public names and addresses are", () => {
    for (const url of [
      "https://acme-v02.api.letsencrypt.org/directory",
      "https://acme-staging-v02.api.letsencrypt.org/directory",
      "https://acme.zerossl.com/v2/DV90",
      "https://8.8.8.8/dir",
      "https://172.32.0.1/dir",
      "https://100.128.0.1/dir",
      "https://[2606:4700::1111]/dir",
      "https://[::ffff:8.8.8.8]/dir",
      "https://localhost.example.org/dir",
    ]) {
      assert.equal(nonPublicHostReason(url), undefined, url);
    }
  });
});

describe("operation ids", () => {
  const t = "20261121T101500123Z";
  test("an id belongs to exactly the stack it was built for", () => {
    for (const id of [
      `deploy-web-g1-${t}`,
      `deploy-web-g12-${t}`,
      `teardown-web-${t}`,
      `plan-web-${t}`,
      `reconcile-web-${t}`,
      `reconcile-web-${t}-apply`,
      "heal-web",
      "scale-web",
      "rotate-db-web",
      "cert-web",
    ]) {
      assert.ok(isOperationOf("web", id), id);
    }
    for (const id of [
      `deploy-x-web-g1-${t}`,
      `teardown-x-web-${t}`,
      `deploy-web-g1-${t}x`,
      `deploy-web-g1-${t}-apply`,
      `deploy-web-g0-${t}`,
      `deploy-web-g1-x`,
      `deploy-web-${t}`,
      "heal-x-web",
      "heal-web-x",
      "cert-web2",
      "",
      "web",
    ]) {
      assert.equal(isOperationOf("web", id), false, id);
    }
    assert.ok(isOperationOf("x-web", `deploy-x-web-g1-${t}`));
    assert.equal(isOperationOf("web.*", `deploy-webx-g1-${t}`), false, "a stack name is never a pattern");
  });
});

describe("stack placement", () => {
  const placed = {
    subscriptionId: "00000000-0000-0000-0000-0000000000aa",
    resourceGroup: "rg-demo",
    location: "westeurope",
  };
  test("subscription, resource group and region are compared as ARM compares them", () => {
    assert.deepEqual(
      placementChanges(placed, {
        ...placed,
        resourceGroup: "RG-Demo",
        subscriptionId: placed.subscriptionId.toUpperCase(),
      }),
      [],
    );
    assert.deepEqual(placementChanges(placed, { ...placed, resourceGroup: "rg-other", location: "northeurope" }), [
      { field: "resourceGroup", from: "rg-demo", to: "rg-other" },
      { field: "location", from: "westeurope", to: "northeurope" },
    ]);
  });
});

describe("field-error problems", () => {
  test("at most 20 errors and 16 KiB, whatever the input; the detail says how many there were", () => {
    const hostile = Array.from({ length: 500 }, (_, i) => ({
      pointer: `/${"\u0001".repeat(2000)}${i}`,
      detail: `${"\u0002".repeat(5000)} bad`,
    }));
    for (const problem of [validationProblem(hostile), invalidAlertProblem(hostile)]) {
      const bytes = Buffer.byteLength(JSON.stringify(problem));
      assert.ok(bytes <= PROBLEM_LIMITS.maxBytes, `${bytes} bytes`);
      assert.ok(problem.errors!.length >= 1 && problem.errors!.length <= PROBLEM_LIMITS.maxErrors);
      assert.match(problem.detail!, /has 500 errors; 'errors' lists the first \d+/);
    }
    const plain = Array.from({ length: 25 }, (_, i) => ({ pointer: `/f${i}`, detail: "unknown field" }));
    const capped = validationProblem(plain);
    assert.deepEqual(capped.errors, plain.slice(0, 20));
    assert.match(capped.detail!, /has 25 errors; 'errors' lists the first 20/);
    const few = validationProblem(plain.slice(0, 3));
    assert.equal(
      few.detail,
      "The request content has 3 errors; each entry of 'errors' points at the field and says what is wrong.",
    );
  });
});
