// Twice a day per stack, spread over the day: the timer fires every hour and wakes the certificate
// workers (or starts them, for a stack that has none yet) of the stacks whose hour it is (two hours
// a day per stack, 12 hours apart, by a hash of its name: shared/schedule/spread.ts), a bounded
// number at a time, each with its own random delay within JITTER_SECONDS, so a thousand stacks do
// not reach the CA (and Key Vault, and Run Command) in one burst. The workers decide for themselves
// whether anything is due (shared/acme/renewal-policy.ts); between sweeps they wake themselves at
// their renewal time or the end of a backoff.
import { randomInt } from "node:crypto";
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { certificateNudgeDue } from "../../shared/schedule/spread";
import { wakeCertificateWorker } from "../certificate-wake";
import { Names } from "../names";
import { services } from "../services";

/** Stacks woken at the same time by one sweep. */
export const SWEEP_CONCURRENCY = 8;
/** Each worker waits a random delay up to this before it looks. */
export const JITTER_SECONDS = 30 * 60;

export interface RenewalSweepResult {
  started: string[];
  signalled: string[];
  failed: string[];
}

export async function certificateRenewal(_timer: Timer, context: InvocationContext): Promise<RenewalSweepResult> {
  return sweepCertificateWorkers(df.getClient(context), new Date(), context);
}

/** The sweep of the stacks whose nudge hour `now` is (every stack with `all`: tests, a sweep by hand). */
export async function sweepCertificateWorkers(
  client: df.DurableClient,
  now: Date,
  context: Pick<InvocationContext, "log" | "warn">,
  options: { all?: boolean } = {},
): Promise<RenewalSweepResult> {
  const records = await services().registry.list();
  const started: string[] = [];
  const signalled: string[] = [];
  const failed: string[] = [];
  const queue = records.map((r) => r.name).filter((stack) => options.all || certificateNudgeDue(stack, now));
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
    `certificate renewal sweep (this hour's stacks): ${started.length} worker(s) started, ${signalled.length} woken, ${failed.length} failed`,
  );
  return { started, signalled, failed };
}

app.timer(Names.timers.certificateRenewal, {
  // every hour at minute 41 (off the hour, when everyone else's timers fire): each stack twice a day,
  // in its own two hours, plus its jitter
  schedule: "0 41 * * * *",
  extraInputs: [df.input.durableClient()],
  handler: certificateRenewal,
});
