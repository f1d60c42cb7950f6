// The Retry-After headers of a VM's Run Command and restart, as real Azure sends them and the emulator
// plays them with `recordedRetryAfter` (emulator/arm/retry-after.ts cites the recordings: Run Command
// never sends Retry-After, on its 202 or on any poll; restart answers 10 on its 202 and first poll, then
// 30, none on the last). These decide how soon a client that honours Retry-After sees each end, which
// is what heal's floor in the bench is held against. Raw HTTP, so every header is seen as sent.
import assert from "node:assert/strict";
import https from "node:https";
import { after, before, test } from "node:test";
import { createTestVms, startAzure, type AzureFixture } from "../../dev/azure";

const API = "2024-07-01";
let az: AzureFixture;
let agent: https.Agent;
let vmId = "";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

function request(method: string, url: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: "Bearer test",
          ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? (JSON.parse(text) as unknown) : null,
          });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Starts the action and polls its Azure-AsyncOperation until it ends: each answer's Retry-After in order. */
async function retryAfterOf(
  action: string,
  body?: unknown,
): Promise<{ start: string | undefined; polls: (string | undefined)[] }> {
  const started = await request("POST", `${az.emulator.url}${vmId}/${action}?api-version=${API}`, body ?? {});
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const operation = String(started.headers["azure-asyncoperation"]);
  assert.match(operation, /\/providers\/Microsoft\.Compute\/locations\/[^/]+\/operations\//);
  const polls: (string | undefined)[] = [];
  for (let n = 0; n < 20; n++) {
    const answer = await request("GET", operation);
    assert.equal(answer.status, 200);
    polls.push(answer.headers["retry-after"] as string | undefined);
    if ((answer.body as { status?: string }).status !== "InProgress") {
      assert.equal((answer.body as { status?: string }).status, "Succeeded", JSON.stringify(answer.body));
      return { start: started.headers["retry-after"] as string | undefined, polls };
    }
  }
  throw new Error(`${action} did not end within 20 polls`);
}

before(async () => {
  // three running answers before each end; the recorded Retry-After values are switched on once the
  // VM exists (the setup's SDK pollers would honour them), and the test's raw polls never wait them out
  az = await startAzure({ lro: { mode: "async", pollsBeforeDone: 3 } });
  agent = new https.Agent({ ca: az.emulator.caPem });
  const [vm] = await createTestVms(az, ["web-1"]);
  vmId = vm.id!;
  az.emulator.lro.settings = { ...az.emulator.lro.settings, recordedRetryAfter: true };
});

after(async () => {
  agent?.destroy();
  await az?.stop();
});

test("a VM's Run Command sends no Retry-After: not on its 202, not on a running poll, not on the last", async () => {
  const seen = await retryAfterOf("runCommand", { commandId: "RunShellScript", script: ["echo ok"] });
  assert.equal(seen.start, undefined);
  assert.deepEqual(seen.polls, [undefined, undefined, undefined, undefined]);
});

test("a VM's restart answers Retry-After 10 on its 202 and first poll, then 30, and none on the last", async () => {
  const seen = await retryAfterOf("restart");
  assert.equal(seen.start, "10");
  assert.deepEqual(seen.polls, ["10", "30", "30", undefined]);
});
