// Fault injection against the real SDK clients: throttling with and without Retry-After, transient
// 5xx, connection resets, hangs (ended by the factory's per-request deadline), failed and cancelled
// long-running operations, conflicts, and `manual` operations completed by the test.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { AzureRequestTimeoutError } from "../../shared/azure/request-timeout";
import { LOCATION, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";

describe("fault injection through the real SDK clients", () => {
  let az: AzureFixture;
  const rg = () => az.factory.resources(SUB).resourceGroups;
  const vnetBody = { location: LOCATION, addressSpace: { addressPrefixes: ["10.0.0.0/16"] } };

  before(async () => {
    az = await startAzure(
      { lro: { mode: "async", pollsBeforeDone: 1 } },
      { requestTimeoutMs: 300, retry: { maxRetries: 2, retryDelayInMs: 5, maxRetryDelayInMs: 1_500 } },
    );
  });
  after(() => az.stop());
  beforeEach(async () => {
    az.emulator.reset();
    az.emulator.lro.settings.mode = "async";
    await rg().createOrUpdate(RG, { location: LOCATION }, az.factory.call());
    az.emulator.journal.clear();
  });

  test("429 with Retry-After is retried after the wait and succeeds", async () => {
    az.emulator.faults.add({
      match: { method: "GET", type: "Microsoft.Resources/resourceGroups" },
      effect: { kind: "status", status: 429, retryAfterSeconds: 1 },
    });
    const started = Date.now();
    const got = await rg().get(RG, az.factory.call());
    const elapsed = Date.now() - started;
    assert.equal(got.name, RG);
    assert.ok(elapsed >= 900, `waited ${elapsed} ms for Retry-After: 1`);
    assert.deepEqual(
      az.emulator.journal.list({ method: "GET" }).map((e) => e.status),
      [429, 200],
    );
  });

  test("429 without Retry-After is not retried by the SDK and surfaces as a 429", async () => {
    az.emulator.faults.add({ match: { method: "GET" }, effect: { kind: "status", status: 429 } });
    await assert.rejects(rg().get(RG, az.factory.call()), (e: { statusCode?: number }) => e.statusCode === 429);
    assert.equal(az.emulator.journal.list({ method: "GET" }).length, 1);
  });

  test("transient 500s and a connection reset are retried with backoff", async () => {
    az.emulator.faults.add({ match: { method: "PUT" }, effect: { kind: "status", status: 500 }, times: 1 });
    az.emulator.faults.add({ match: { method: "PUT" }, effect: { kind: "reset" }, times: 1 });
    const vnet = await az.factory
      .network(SUB)
      .virtualNetworks.beginCreateOrUpdateAndWait(RG, "v", vnetBody, az.factory.lro());
    assert.equal(vnet.provisioningState, "Succeeded");
    assert.deepEqual(
      az.emulator.journal.list({ method: "PUT" }).map((e) => e.fault ?? e.status),
      ["status", "reset", 201],
    );
  });

  test("a hanging endpoint aborts at the configured timeout with a clear error, not a hang", async () => {
    az.emulator.faults.add({ match: { method: "GET" }, effect: { kind: "hang" }, times: 0 });
    const started = Date.now();
    await assert.rejects(rg().get(RG, az.factory.call()), (e: Error) => {
      assert.ok(e instanceof AzureRequestTimeoutError, `got ${e.name}: ${e.message}`);
      assert.match(e.message, /got no answer within 300 ms/);
      return true;
    });
    assert.ok(Date.now() - started < 3_000, "bounded by timeout x attempts");
  });

  test("a failing long-running operation ends in a clear failure and leaves the resource Failed", async () => {
    az.emulator.faults.add({
      match: { method: "PUT", type: "Microsoft.Network/virtualNetworks" },
      effect: { kind: "failOperation", code: "InternalServerError", message: "boom" },
    });
    await assert.rejects(
      az.factory.network(SUB).virtualNetworks.beginCreateOrUpdateAndWait(RG, "v", vnetBody, az.factory.lro()),
      /long-running operation has failed.*InternalServerError/i,
    );
    assert.equal(
      az.emulator.get(`/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/v`)
        ?.properties.provisioningState,
      "Failed",
    );
    // running it again converges
    const again = await az.factory
      .network(SUB)
      .virtualNetworks.beginCreateOrUpdateAndWait(RG, "v", vnetBody, az.factory.lro());
    assert.equal(again.provisioningState, "Succeeded");
  });

  test("a cancelled long-running operation is reported as canceled", async () => {
    az.emulator.faults.add({ match: { method: "DELETE" }, effect: { kind: "cancelOperation" } });
    await az.factory.network(SUB).virtualNetworks.beginCreateOrUpdateAndWait(RG, "v", vnetBody, az.factory.lro());
    await assert.rejects(
      az.factory.network(SUB).virtualNetworks.beginDeleteAndWait(RG, "v", az.factory.lro()),
      /cancel/i,
    );
  });

  test("a failing poll is retried by the SDK like any transient error", async () => {
    az.emulator.faults.add({ match: { operation: "poll" }, effect: { kind: "status", status: 503 }, times: 1 });
    const vnet = await az.factory
      .network(SUB)
      .virtualNetworks.beginCreateOrUpdateAndWait(RG, "v", vnetBody, az.factory.lro());
    assert.equal(vnet.provisioningState, "Succeeded");
    assert.ok(az.emulator.journal.list({ operation: "poll" }).some((e) => e.status === 503));
  });

  test("409 conflicts surface with the ARM error code", async () => {
    az.emulator.faults.add({
      match: { method: "PUT" },
      effect: { kind: "status", status: 409, code: "AnotherOperationInProgress", message: "busy" },
    });
    await assert.rejects(
      az.factory.network(SUB).virtualNetworks.beginCreateOrUpdateAndWait(RG, "v", vnetBody, az.factory.lro()),
      (e: { statusCode?: number; code?: string }) => e.statusCode === 409 && e.code === "AnotherOperationInProgress",
    );
  });

  test("manual mode: the operation runs until the test completes it; the resource shows Creating meanwhile", async () => {
    az.emulator.lro.settings.mode = "manual";
    const poller = az.factory
      .network(SUB)
      .virtualNetworks.beginCreateOrUpdateAndWait(RG, "v", vnetBody, az.factory.lro());
    let done = false;
    void poller.then(
      () => (done = true),
      () => (done = true),
    );
    while (az.emulator.lro.list().length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false);
    const id = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/v`;
    assert.equal(az.emulator.get(id)?.properties.provisioningState, "Creating");
    az.emulator.completeOperation(az.emulator.lro.list()[0].id);
    assert.equal((await poller).provisioningState, "Succeeded");
  });

  test("an operation nobody polls still completes on its own, as in Azure", async () => {
    const id = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/v`;
    const poller = await az.factory
      .network(SUB)
      .virtualNetworks.beginCreateOrUpdate(RG, "v", vnetBody, az.factory.lro());
    assert.equal(az.emulator.get(id)?.properties.provisioningState, "Creating");
    void poller; // the caller crashed: nobody polls
    await new Promise((r) => setTimeout(r, az.emulator.lro.settings.unpolledGraceMs + 100));
    assert.equal(az.emulator.get(id)?.properties.provisioningState, "Succeeded");
  });
});
