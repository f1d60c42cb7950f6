// When each stack's timer work happens: spread over the hour and the day by a hash of the stack's
// name, so a thousand stacks do not all reach ARM at minute 17. The drift check runs every
// 60 / DRIFT_SLOTS minutes and screens the stacks of that slot (each stack once an hour); a stack's
// full check (every resource through ARM) falls in one hour of every `fullCheckHours`, that hour
// also chosen by its hash. The hash is fixed, so the spread is even and a stack's times stable;
// the budget's pacing adds the jitter of real request times on top.
import { dueThisHour, stackHash } from "../schedule/spread";

/** Drift runs per hour; each screens the stacks of its slot. */
export const DRIFT_SLOTS = 12;

/** The slot (0 .. DRIFT_SLOTS-1) of the hour in which the stack's drift is screened. */
export function driftSlotOf(stack: string): number {
  return stackHash(stack, "drift-slot") % DRIFT_SLOTS;
}

/** The slot a drift run at `now` screens. */
export function driftSlotAt(now: Date): number {
  return Math.floor(now.getUTCMinutes() / (60 / DRIFT_SLOTS)) % DRIFT_SLOTS;
}

/** Whether the stack's full check (every resource through ARM) falls in the hour of `now`. */
export function fullCheckDue(stack: string, now: Date, fullCheckHours: number): boolean {
  return dueThisHour(stack, "drift-full", now, fullCheckHours);
}
