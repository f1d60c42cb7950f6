// A worker that could not even look (Azure or storage trouble after the retries) pauses and looks
// again in a new execution, rather than failing: it is the stack's only heal, scale or certificate
// worker. After `giveUpAfter` failures in a row it gives up, if the worker has a point where giving
// up is right (heal consumes its signals; the certificate worker never gives up).
import type { Worker, WorkerStatus } from "./worker";
import type { Step } from "./workflow";

export interface PauseOptions<Phase extends string> {
  /** what failed, one line */
  message: string;
  /** failures in a row, this one included */
  failures: number;
  giveUpAfter?: number;
  pauseMs: number;
  /** the phase the status shows while it pauses */
  phase: Phase;
}

/** Pauses after a failed look ("paused": the caller continues as new), or says to give up. */
export function* pauseAfterFailure<S extends WorkerStatus>(
  w: Worker<S>,
  options: PauseOptions<S["phase"]>,
): Step<"paused" | "give-up"> {
  const { failures, giveUpAfter } = options;
  if (giveUpAfter !== undefined && failures >= giveUpAfter) return "give-up";
  const until = w.after(options.pauseMs);
  const count = giveUpAfter !== undefined ? ` (${failures}/${giveUpAfter})` : "";
  w.waiting(options.phase, `another look after a failed one${count}: ${options.message}`, until);
  yield* w.sleep(until);
  return "paused";
}
