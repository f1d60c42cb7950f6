// The ARM budget (shared/azure/arm-budget.ts) on a virtual clock: nothing here waits for real time.
// Sleeping advances the clock only when the test says so, so which request goes when is decided by
// the budget alone: token buckets with ARM's refill rates, the reserve timer work leaves to heal and
// deploy, a 429 pausing that kind of request for every caller of the subscription (background work a
// little longer), ARM's remaining-requests headers, and the pipeline policy every ARM client carries.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createHttpHeaders, createPipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import {
  ArmBudget,
  armBudgetPolicy,
  asBackgroundWork,
  classifyArmRequest,
  currentArmPriority,
  retryAfterMs,
  type ArmBudgetSettings,
} from "../../shared/azure/arm-budget";

const SUB = "00000000-0000-0000-0000-0000000b0d6e";
const OTHER = "00000000-0000-0000-0000-0000000b0d6f";

/** A clock that moves only when told; sleepers wake when it passes their time. */
class VirtualTime {
  now = 1_800_000_000_000;
  private sleepers: { until: number; wake: () => void }[] = [];
  readonly clock = () => this.now;
  readonly sleep = (ms: number) =>
    new Promise<void>((wake) => {
      this.sleepers.push({ until: this.now + ms, wake });
    });
  /** requests asleep now */
  get asleep(): number {
    return this.sleepers.length;
  }
  /** moves the clock and wakes whoever's time has come; lets their continuations run */
  async advance(ms: number): Promise<void> {
    this.now += ms;
    const due = this.sleepers.filter((s) => s.until <= this.now);
    this.sleepers = this.sleepers.filter((s) => s.until > this.now);
    for (const s of due) s.wake();
    await settle();
  }
}

/** Lets every promise continuation that can run, run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

const SMALL: ArmBudgetSettings = {
  reads: { capacity: 10, perSecond: 2 },
  writes: { capacity: 4, perSecond: 1 },
  deletes: { capacity: 4, perSecond: 1 },
  resourceGraph: { capacity: 3, perSecond: 1 },
  backgroundReserve: 0.5,
};

function budgetOn(time: VirtualTime, settings: ArmBudgetSettings | null = SMALL): ArmBudget {
  return new ArmBudget(settings ?? undefined, { clock: time.clock, sleep: time.sleep });
}

/** Starts an acquire and reports whether it has completed. */
function track(p: Promise<void>): { done: () => boolean; promise: Promise<void> } {
  let finished = false;
  const promise = p.then(() => {
    finished = true;
  });
  return { done: () => finished, promise };
}

describe("ARM budget", () => {
  test("a bucket gives its capacity at once, then one token per refill interval", async () => {
    const time = new VirtualTime();
    const budget = budgetOn(time);
    for (let i = 0; i < 10; i++) await budget.acquire(SUB, "read", "interactive");
    assert.equal(budget.status(SUB).read.available, 0);
    const eleventh = track(budget.acquire(SUB, "read", "interactive"));
    await settle();
    assert.equal(eleventh.done(), false, "the bucket is empty");
    assert.equal(budget.status(SUB).read.waiting.interactive, 1);
    await time.advance(499);
    assert.equal(eleventh.done(), false, "half a token is not a token");
    await time.advance(1);
    assert.equal(eleventh.done(), true, "2 per second: a token after 500 ms");
    const status = budget.status(SUB);
    assert.deepEqual(status.waited, { requests: 1, ms: 500 });
    assert.equal(status.read.waiting.interactive, 0);
    // writes, deletes and other subscriptions have buckets of their own
    await budget.acquire(SUB, "write", "interactive");
    await budget.acquire(OTHER, "read", "interactive");
    assert.equal(budget.status(SUB).write.available, 3);
    assert.equal(budget.status(OTHER).read.available, 9);
  });

  test("timer work leaves the reserve to heal and deploy: heal goes first", async () => {
    const time = new VirtualTime();
    const budget = budgetOn(time);
    // background work may spend down to the reserve (half of 10) and no further
    for (let i = 0; i < 5; i++) await budget.acquire(SUB, "read", "background");
    const timerWork = track(budget.acquire(SUB, "read", "background"));
    await settle();
    assert.equal(timerWork.done(), false, "the reserve is not for timer work");
    const waitingSince = budget.status(SUB).read.waitingSince;
    assert.equal(waitingSince, new Date(time.now).toISOString());
    // heal takes the reserve at once, while the timer work waits
    for (let i = 0; i < 5; i++) await budget.acquire(SUB, "read", "interactive");
    assert.equal(budget.status(SUB).read.available, 0);
    assert.equal(timerWork.done(), false);
    assert.deepEqual(budget.status(SUB).read.waiting, { interactive: 0, background: 1 });
    // refilled to the reserve plus one token, the timer work goes
    await time.advance(2500);
    assert.equal(timerWork.done(), false, "5 tokens back: still only the reserve");
    await time.advance(500);
    assert.equal(timerWork.done(), true);
  });

  test("asBackgroundWork marks every request made inside it, and only those", async () => {
    assert.equal(currentArmPriority(), "interactive");
    const seen = await asBackgroundWork(async () => {
      await settle();
      return currentArmPriority();
    });
    assert.equal(seen, "background");
    assert.equal(currentArmPriority(), "interactive");
  });

  test("a 429 pauses that kind of request for every caller of the subscription until Retry-After has passed", async () => {
    const time = new VirtualTime();
    const budget = budgetOn(time);
    budget.throttled(SUB, "read", 7000);
    const status = budget.status(SUB);
    assert.equal(status.read.pausedUntil, new Date(time.now + 7000).toISOString());
    assert.deepEqual(status.lastThrottled, { at: new Date(time.now).toISOString(), kind: "read", retryAfterMs: 7000 });
    const heal = track(budget.acquire(SUB, "read", "interactive"));
    const timer = track(budget.acquire(SUB, "read", "background"));
    const write = track(budget.acquire(SUB, "write", "interactive"));
    const elsewhere = track(budget.acquire(OTHER, "read", "interactive"));
    await settle();
    assert.deepEqual([heal.done(), timer.done(), write.done(), elsewhere.done()], [false, false, true, true]);
    await time.advance(7000);
    // the bucket was emptied by the 429; refilled tokens go to the interactive caller first
    await time.advance(500);
    assert.equal(heal.done(), true, "interactive work resumes once the pause is over and a token is back");
    assert.equal(timer.done(), false, "background work waits longer");
    await time.advance(3000);
    assert.equal(timer.done(), true);
  });

  test("a 429 without Retry-After pauses for ten seconds; a later, shorter one never shortens a pause", async () => {
    const time = new VirtualTime();
    const budget = budgetOn(time);
    budget.throttled(SUB, "write", undefined);
    assert.equal(budget.status(SUB).write.pausedUntil, new Date(time.now + 10_000).toISOString());
    budget.throttled(SUB, "write", 1000);
    assert.equal(budget.status(SUB).write.pausedUntil, new Date(time.now + 10_000).toISOString());
  });

  test("ARM's remaining-requests count brings the model down, never up", async () => {
    const time = new VirtualTime();
    const budget = budgetOn(time);
    budget.remaining(SUB, "read", 2);
    assert.equal(budget.status(SUB).read.available, 2);
    budget.remaining(SUB, "read", 9);
    assert.equal(budget.status(SUB).read.available, 2);
  });

  test("a request aborted while it waits for budget gives up at once", async () => {
    const time = new VirtualTime();
    const budget = new ArmBudget(SMALL, { clock: time.clock });
    for (let i = 0; i < 10; i++) await budget.acquire(SUB, "read", "interactive");
    const controller = new AbortController();
    const waiting = budget.acquire(SUB, "read", "interactive", controller.signal);
    controller.abort();
    await assert.rejects(waiting, /aborted while it waited for ARM budget/);
    assert.equal(budget.status(SUB).read.waiting.interactive, 0);
  });

  test("without settings there is no pacing, but a 429 still pauses", async () => {
    const time = new VirtualTime();
    const budget = budgetOn(time, null);
    for (let i = 0; i < 1000; i++) await budget.acquire(SUB, "read", "background");
    budget.throttled(SUB, "read", 2000);
    const after = track(budget.acquire(SUB, "read", "interactive"));
    await settle();
    assert.equal(after.done(), false);
    await time.advance(2000);
    assert.equal(after.done(), true);
  });

  test("what a request costs: reads, writes, deletes per subscription; Resource Graph's own quota", () => {
    const base = "https://management.azure.com";
    const vm = `${base}/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm?api-version=2024-07-01`;
    assert.deepEqual(classifyArmRequest("GET", vm), { subscription: SUB, kind: "read" });
    assert.deepEqual(classifyArmRequest("HEAD", vm), { subscription: SUB, kind: "read" });
    assert.deepEqual(classifyArmRequest("PUT", vm), { subscription: SUB, kind: "write" });
    assert.deepEqual(classifyArmRequest("PATCH", vm), { subscription: SUB, kind: "write" });
    assert.deepEqual(classifyArmRequest("POST", `${vm.split("?")[0]}/restart`), { subscription: SUB, kind: "write" });
    assert.deepEqual(classifyArmRequest("DELETE", vm), { subscription: SUB, kind: "delete" });
    assert.deepEqual(
      classifyArmRequest("POST", `${base}/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01`),
      { subscription: "(tenant)", kind: "resourceGraph" },
    );
  });

  test("Retry-After in seconds, as an HTTP date, or in milliseconds", () => {
    const response = (headers: Record<string, string>): PipelineResponse => ({
      request: createPipelineRequest({ url: "https://management.azure.com/" }),
      status: 429,
      headers: createHttpHeaders(headers),
    });
    assert.equal(retryAfterMs(response({ "retry-after": "17" })), 17_000);
    assert.equal(retryAfterMs(response({ "retry-after-ms": "250" })), 250);
    assert.equal(retryAfterMs(response({ "x-ms-retry-after-ms": "1200", "retry-after": "5" })), 1200);
    const at = retryAfterMs(response({ "retry-after": new Date(Date.now() + 60_000).toUTCString() }))!;
    assert.ok(at > 55_000 && at <= 60_000, String(at));
    assert.equal(retryAfterMs(response({})), undefined);
    assert.equal(retryAfterMs(response({ "retry-after": "soon" })), undefined);
  });

  test("the pipeline policy: each attempt takes a token, a 429 pauses the bucket for every client, ARM's count is kept", async () => {
    const time = new VirtualTime();
    const budget = budgetOn(time);
    const policy = armBudgetPolicy(budget);
    const url = `https://management.azure.com/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg?api-version=2024-05-01`;
    const answer =
      (status: number, headers: Record<string, string> = {}) =>
      async (request: ReturnType<typeof createPipelineRequest>): Promise<PipelineResponse> => ({
        request,
        status,
        headers: createHttpHeaders(headers),
      });
    // ARM says 4 reads are left: the model believes it
    await policy.sendRequest(
      createPipelineRequest({ url }),
      answer(200, { "x-ms-ratelimit-remaining-subscription-reads": "4" }),
    );
    assert.equal(budget.status(SUB).read.available, 4);
    // a 429 with Retry-After: 3 pauses every read of the subscription, whichever client sends it
    await policy.sendRequest(createPipelineRequest({ url }), answer(429, { "retry-after": "3" }));
    assert.equal(budget.status(SUB).read.pausedUntil, new Date(time.now + 3000).toISOString());
    const computeRead = track(
      policy
        .sendRequest(
          createPipelineRequest({
            url: url.replace("Microsoft.Network/networkSecurityGroups/nsg", "Microsoft.Compute/disks/d"),
          }),
          answer(200),
        )
        .then(() => undefined),
    );
    const write = track(
      policy.sendRequest(createPipelineRequest({ url, method: "PUT" }), answer(200)).then(() => undefined),
    );
    await settle();
    assert.equal(computeRead.done(), false, "another client's read waits out the pause");
    assert.equal(write.done(), true, "writes are another bucket");
    await time.advance(3000);
    await time.advance(500);
    assert.equal(computeRead.done(), true);
    // timer work marked as background goes through the same policy, behind the reserve
    const timer = track(
      asBackgroundWork(() => policy.sendRequest(createPipelineRequest({ url }), answer(200))).then(() => undefined),
    );
    await settle();
    assert.equal(timer.done(), false, "the bucket is below its reserve");
    assert.equal(budget.status(SUB).read.waiting.background, 1);
    await time.advance(3000);
    assert.equal(timer.done(), true);
  });
});
