// Waking a stack's heal or scale worker (functions/alert-wake.ts) through a DurableClient on the
// durable test host: start when there is none, raise the "signal" event while it runs, start again
// once it finished, and fall back to the event when a concurrent start wins the race.
import assert from "node:assert/strict";
import { test } from "node:test";
import type * as df from "durable-functions";
import { DurableTestHost, InMemoryDurableClient, orchestratorHandler } from "../../emulator/durable";
import { SIGNAL_EVENT, wakeStackWorker } from "../../functions/alert-wake";
import { InstanceIds, Names } from "../../functions/names";

/** Takes one wake-up event and finishes, reporting what it saw. */
const oneShotWorker = orchestratorHandler(function* (context: df.OrchestrationContext) {
  const input = context.df.getInput<{ stack: string }>();
  context.df.setCustomStatus({ stack: input.stack, waiting: true });
  const ids: unknown = yield context.df.waitForExternalEvent(SIGNAL_EVENT);
  return { stack: input.stack, ids };
});

function host(orchestrators: string[] = [Names.orchestrators.healStack, Names.orchestrators.scaleStack]) {
  return new DurableTestHost({
    orchestrators: Object.fromEntries(orchestrators.map((name) => [name, oneShotWorker])),
    activities: {},
  });
}

void test("start when none runs, signal while it runs, start again after it finished", async () => {
  const h = host();
  const client = new InMemoryDurableClient(h);
  const id = InstanceIds.heal("web1");

  assert.equal(await wakeStackWorker(client, "web1", "heal", ["a"]), "started");
  await h.runUntilIdle();
  assert.equal(h.getStatus(id)?.runtimeStatus, "Running");
  assert.deepEqual(h.getStatus(id)?.input, { stack: "web1" });
  assert.equal(h.getStatus(id)?.name, Names.orchestrators.healStack);

  assert.equal(await wakeStackWorker(client, "web1", "heal", ["b", "c"]), "signalled");
  await h.runUntilIdle();
  assert.equal(h.getStatus(id)?.runtimeStatus, "Completed");
  assert.deepEqual(h.getStatus(id)?.output, { stack: "web1", ids: ["b", "c"] });

  assert.equal(await wakeStackWorker(client, "web1", "heal", ["d"]), "started");
  await h.runUntilIdle();
  assert.equal(h.getStatus(id)?.runtimeStatus, "Running");
  assert.deepEqual(
    client.calls.filter((c) => c.method !== "getStatus").map((c) => c.method),
    ["startNew", "raiseEvent", "startNew"],
  );
});

void test("scale-out and scale-in wake the one scale worker of the stack", async () => {
  const h = host();
  const client = new InMemoryDurableClient(h);
  assert.equal(await wakeStackWorker(client, "fleet", "scale-out", ["x"]), "started");
  assert.equal(await wakeStackWorker(client, "fleet", "scale-in", ["y"]), "signalled");
  await h.runUntilIdle();
  const scale = h.getStatus(InstanceIds.scale("fleet"));
  assert.equal(scale?.name, Names.orchestrators.scaleStack);
  assert.deepEqual(scale?.output, { stack: "fleet", ids: ["y"] });
  assert.equal(h.getStatus(InstanceIds.heal("fleet")), undefined);
});

void test("a start that loses the race to a concurrent request raises the event instead", async () => {
  const h = host();
  // another request started the worker after this one looked: its first status read still says "none"
  h.startNew(Names.orchestrators.healStack, { instanceId: InstanceIds.heal("web1"), input: { stack: "web1" } });
  let reads = 0;
  class LateClient extends InMemoryDurableClient {
    override async getStatus(instanceId: string, options?: df.GetStatusOptions) {
      if (reads++ === 0) throw new Error("DurableClient error: Durable Functions extension replied with HTTP 404");
      return super.getStatus(instanceId, options);
    }
  }
  const client = new LateClient(h);
  assert.equal(await wakeStackWorker(client, "web1", "heal", ["late"]), "signalled");
  await h.runUntilIdle();
  assert.deepEqual(h.getStatus(InstanceIds.heal("web1"))?.output, { stack: "web1", ids: ["late"] });
  assert.equal(h.listInstances().length, 1);
});

void test("a start that fails for another reason is an error for the caller (it answers 503)", async () => {
  const client = new InMemoryDurableClient(host([Names.orchestrators.healStack]));
  await assert.rejects(wakeStackWorker(client, "fleet", "scale-out", ["x"]), /scaleStack/);
});
