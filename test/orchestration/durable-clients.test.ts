import { sampleHost } from "../support/durable-sample-host";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { HttpRequest, HttpResponse, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import {
  durableClientContextFor,
  fromRegistry,
  InMemoryDurableClient,
  startDurableRpcServer,
} from "../../emulator/durable";
import { httpStart, SampleNames } from "../support/durable-sample-app";

const S = df.OrchestrationRuntimeStatus;

function startRequest(orchestratorName: string, input: unknown): HttpRequest {
  return new HttpRequest({
    method: "POST",
    url: `http://localhost:7071/api/samples/${orchestratorName}`,
    params: { orchestratorName },
    body: { string: JSON.stringify(input) },
  });
}

void test("in-memory client: the HTTP starter answers 202 with the real management URLs", async () => {
  const host = sampleHost();
  const client = new InMemoryDurableClient(host);
  const response = await httpStart(startRequest(SampleNames.FanOut, { count: 2 }), client, new InvocationContext());
  assert.equal(response.status, 202);
  const body = (await response.json()) as { id: string; statusQueryGetUri: string; sendEventPostUri: string };
  assert.equal(
    body.statusQueryGetUri,
    `http://localhost:7071/runtime/webhooks/durabletask/instances/${body.id}?taskHub=TestHubName&connection=Storage&code=systemkey`,
  );
  assert.equal(response.headers.get("Location"), body.statusQueryGetUri);
  assert.match(body.sendEventPostUri, /\/raiseEvent\/\{eventName\}\?/);
  assert.deepEqual(client.createHttpManagementPayload(body.id), body, "same URLs without a request");

  await host.runUntilIdle();
  const status = await client.getStatus(body.id, { showHistory: true });
  assert.equal(status.runtimeStatus, S.Completed);
  assert.deepEqual((status.output as { upper: string[] }).upper, ["ITEM-1", "ITEM-2"]);
  assert.ok((status.history?.length ?? 0) > 0, "showHistory returns the history");
  assert.deepEqual(
    client.calls.map((c) => c.method),
    ["startNew", "getStatus"],
  );
});

void test("in-memory client: queries, events, terminate and purge behave like the real client", async () => {
  const host = sampleHost();
  const client = new InMemoryDurableClient(host);
  const approvalId = await client.startNew(SampleNames.Approval, {
    input: { timeoutMs: 60 * 60 * 1000 },
    instanceId: "approve-1",
  });
  const fanOutId = await client.startNew(SampleNames.FanOut, { input: { count: 1 } });
  await host.runUntilIdle({ until: () => host.getStatus(fanOutId)?.runtimeStatus === "Completed" });

  const ids = (statuses: df.DurableOrchestrationStatus[]): string[] => statuses.map((s) => s.instanceId).sort();
  assert.deepEqual(ids(await client.getStatusBy({ runtimeStatus: [S.Running] })), [approvalId]);
  assert.deepEqual(ids(await client.getStatusBy({ runtimeStatus: [S.Completed] })), [fanOutId]);
  assert.deepEqual(ids(await client.getStatusAll()), [approvalId, fanOutId].sort());

  await assert.rejects(client.startNew(SampleNames.Approval, { instanceId: approvalId }), /already exists/);
  await assert.rejects(client.raiseEvent("nope", "Approval", 1), /No instance with ID 'nope' found\./);
  await assert.rejects(client.getStatus("nope"), /replied with HTTP 404/);

  await client.raiseEvent(approvalId, "Approval", "carol");
  await host.runUntilIdle();
  assert.equal((await client.getStatus(approvalId)).runtimeStatus, S.Completed);
  // Finished: the extension answers 410 Gone, which the client treats as success.
  await client.raiseEvent(approvalId, "Approval", "late");
  await client.terminate(approvalId, "late");

  assert.deepEqual(await client.purgeInstanceHistory(approvalId), { instancesDeleted: 1 });
  assert.deepEqual(await client.purgeInstanceHistory(approvalId), { instancesDeleted: 0 });
  await assert.rejects(client.getStatus(approvalId), /replied with HTTP 404/);
});

void test("real DurableClient via the RPC server: registered starter, status, events, terminate, 410", async (t) => {
  const host = sampleHost();
  const server = await startDurableRpcServer(host);
  t.after(() => server.close());

  // The registered handler, called the way the worker calls it, with a context whose durable client
  // input points at the RPC server: df.getClient(context) inside it is the real client.
  const registration = fromRegistry().http[SampleNames.HttpStart];
  assert.ok(registration);
  const context = durableClientContextFor(registration, server.clientData());
  const response = (await registration.handler(
    startRequest(SampleNames.Approval, { timeoutMs: 60 * 60 * 1000 }),
    context,
  )) as HttpResponse;
  assert.equal(response.status, 202);
  const { id, statusQueryGetUri } = (await response.json()) as { id: string; statusQueryGetUri: string };
  assert.match(statusQueryGetUri, new RegExp(`/runtime/webhooks/durabletask/instances/${id}\\?taskHub=TestHubName`));

  const client = df.getClient(context);
  assert.equal((await client.getStatus(id)).runtimeStatus, S.Pending);
  await host.runUntilIdle({ until: () => host.getStatus(id)?.customStatus === "awaiting-approval" });
  const running = await client.getStatus(id);
  assert.equal(running.runtimeStatus, S.Running);
  assert.equal(running.customStatus, "awaiting-approval");
  assert.deepEqual(running.input, { timeoutMs: 3600000 });

  await client.raiseEvent(id, "Approval", { by: "dave" });
  await host.runUntilIdle();
  const done = await client.getStatus(id);
  assert.equal(done.runtimeStatus, S.Completed);
  assert.deepEqual((done.output as { by: unknown }).by, { by: "dave" });
  await client.raiseEvent(id, "Approval", "late"); // 410, swallowed by the client
  await client.terminate(id, "late"); // 410 as well

  const second = await client.startNew(SampleNames.Approval, {
    input: { timeoutMs: 60 * 60 * 1000 },
    instanceId: "rpc-2",
  });
  await assert.rejects(client.startNew(SampleNames.Approval, { instanceId: "rpc-2" }), /status code: 409/);
  await host.runUntilIdle({ until: () => host.getStatus(second)?.runtimeStatus === "Running" });
  await client.terminate(second, "enough");
  await host.runUntilIdle();
  const terminated = await client.getStatusBy({ runtimeStatus: [S.Terminated] });
  assert.deepEqual(
    terminated.map((s) => [s.instanceId, s.output]),
    [["rpc-2", "enough"]],
  );
  assert.equal((await client.getStatusAll()).length, 2);

  await assert.rejects(client.getStatus("missing"), /replied with HTTP 404/);
  await assert.rejects(client.raiseEvent("missing", "Approval", 1), /No instance with ID 'missing' found\./);
  await assert.rejects(client.terminate("missing", "why"), /No instance with ID 'missing' found\./);
  await assert.rejects(client.startNew("NoSuchOrchestrator"), /status code: 400/);
  assert.deepEqual({ ...(await client.purgeInstanceHistory(second)) }, { instancesDeleted: 1 });
  assert.deepEqual({ ...(await client.purgeInstanceHistory(second)) }, { instancesDeleted: 0 });

  for (const expected of [
    `POST /durabletask/orchestrators/${SampleNames.Approval} -> 202`,
    `GET /durabletask/instances/${id} -> 202`,
    `POST /durabletask/instances/${id}/raiseEvent/Approval -> 202`,
    `GET /durabletask/instances/${id} -> 200`,
    `POST /durabletask/instances/${id}/raiseEvent/Approval -> 410`,
    `POST /durabletask/instances/${id}/terminate?reason=late -> 410`,
    `POST /durabletask/orchestrators/${SampleNames.Approval}/rpc-2 -> 409`,
    "POST /durabletask/instances/rpc-2/terminate?reason=enough -> 202",
    "GET /durabletask/instances/?runtimeStatus=Terminated -> 200",
    "DELETE /durabletask/instances/rpc-2 -> 200",
    "DELETE /durabletask/instances/rpc-2 -> 404",
  ]) {
    assert.ok(server.requests.includes(expected), `expected request ${expected} in\n${server.requests.join("\n")}`);
  }
});
