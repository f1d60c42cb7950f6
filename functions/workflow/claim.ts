// One writer per stack, from inside a worker: wait while another operation holds the stack, then
// claim it. The claim is an activity (a registry write under its ETag: functions/stack-claim.ts);
// the waiting is durable timers, each look a step in the worker's history, the holder shown in its
// status. Scale claims differently (once per round, re-deciding in between: scale-stack.ts) but
// with the same claim activity and answer.
import type { StackOperation } from "../../shared/store";
import type { WorkerClaim } from "../stack-claim";
import type { ActivitiesAnswering } from "./activity-map";
import { heldByOther, type Worker, type WorkerStatus } from "./worker";
import type { Step } from "./workflow";

/** The activities that claim the stack for a worker (one per kind of worker, one implementation). */
export type ClaimActivity = ActivitiesAnswering<WorkerClaim>;

export type ClaimOutcome =
  { outcome: "claimed"; waited: boolean } | { outcome: "gone" } | { outcome: "busy"; holder: StackOperation };

export interface WaitOptions {
  /** the operation holding the stack as last read (the worker itself is left out); none: try at once */
  holder: StackOperation | undefined;
  /** looks before giving up: "busy" */
  maxWaits: number;
  /** time between looks */
  retryMs: number;
  /** who waits, for the status: "heal", "the rotation", ... */
  who: string;
}

/** Waits while another operation holds the stack, then claims it with `claim`. */
export function* claimAndWait<S extends WorkerStatus>(
  w: Worker<S>,
  claim: ClaimActivity,
  options: WaitOptions,
): Step<ClaimOutcome> {
  const attempt = () => w.call(claim, { stack: w.stack, instanceId: w.instanceId, at: w.now().toISOString() });
  return yield* waitForStack(w, attempt, options, true);
}

/**
 * Waits while another operation holds the stack, without claiming it: `look` reads who holds it
 * now (ok: nobody but this instance). With nobody holding it as last read, returns at once
 * ("claimed" here means "free").
 */
export function* waitWhileHeld<S extends WorkerStatus>(
  w: Worker<S>,
  look: () => Step<WorkerClaim>,
  options: WaitOptions,
): Step<ClaimOutcome> {
  return yield* waitForStack(w, look, options, false);
}

function* waitForStack<S extends WorkerStatus>(
  w: Worker<S>,
  attempt: () => Step<WorkerClaim>,
  options: WaitOptions,
  claiming: boolean,
): Step<ClaimOutcome> {
  let holder = heldByOther(options.holder, w.instanceId);
  for (let waits = 0; ; waits++) {
    if (waits > 0 || (claiming && !holder)) {
      const answer = yield* attempt();
      if (answer.ok) holder = undefined;
      else if ("gone" in answer) return { outcome: "gone" };
      else holder = answer.running;
    }
    if (!holder) {
      if (waits > 0) {
        w.clearWait();
        w.publish();
      }
      return { outcome: "claimed", waited: waits > 0 };
    }
    if (waits >= options.maxWaits) return { outcome: "busy", holder };
    const until = w.after(options.retryMs);
    w.waiting(
      "waiting-for-stack",
      `${holder.kind} ${holder.instanceId} holds the stack; ${options.who} waits for it to finish`,
      until,
      holder,
    );
    yield* w.sleep(until);
  }
}
