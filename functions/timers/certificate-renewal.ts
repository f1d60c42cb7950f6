// Twice a day: every registered stack's certificate worker is woken (or started, for a stack that has
// none yet), a bounded number at a time, each with its own random delay within JITTER_SECONDS so
// the stacks do not reach the CA (and Run Command) in one burst. The workers decide for themselves
// whether anything is due (shared/acme/renewal-policy.ts); between sweeps they wake themselves at
// their renewal time or the end of a backoff.
import { randomInt } from "node:crypto";
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { wakeCertificateWorker } from "../certificate-wake";
import { Names } from "../names";
import { services } from "../services";

/** Stacks woken at the same time by one sweep. */
export const SWEEP_CONCURRENCY = 8;
/** Each worker waits a random delay up to this before it looks. */
export const JITTER_SECONDS = 30 * 60;

export async function certificateRenewal(
  _timer: Timer,
  context: InvocationContext,
): Promise<{ started: string[]; signalled: string[]; failed: string[] }> {
  const client = df.getClient(context);
  const records = await services().registry.list();
  const started: string[] = [];
  const signalled: string[] = [];
  const failed: string[] = [];
  const queue = records.map((r) => r.name);
  const worker = async () => {
    for (let stack = queue.shift(); stack !== undefined; stack = queue.shift()) {
      try {
        const woken = await wakeCertificateWorker(client, stack, {
          reason: "timer",
          jitterSeconds: randomInt(JITTER_SECONDS + 1),
        });
        (woken === "started" ? started : signalled).push(stack);
      } catch (error) {
        // one stack's wake-up must not stop the others'
        failed.push(stack);
        const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
        context.warn(`certificate renewal sweep: could not wake the worker of ${stack}: ${message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, queue.length) }, worker));
  context.log(
    `certificate renewal sweep: ${started.length} worker(s) started, ${signalled.length} woken, ${failed.length} failed`,
  );
  return { started, signalled, failed };
}

app.timer(Names.timers.certificateRenewal, {
  // 04:41 and 16:41 UTC: off the hour, when everyone else's timers fire; each stack adds its jitter
  schedule: "0 41 4,16 * * *",
  extraInputs: [df.input.durableClient()],
  handler: certificateRenewal,
});
