// Per-stack timer work spread over the hours by a hash of the stack's name: a timer that fires every
// hour does each stack's work only in that stack's own hours, so a thousand stacks reach ARM (and Key
// Vault, and the CA) a share at a time instead of all at one minute. The hash is fixed, so the spread
// is even and each stack's hours are stable from day to day; a salt per kind of work keeps one
// stack's drift, credential and certificate hours independent of each other.
import { createHash } from "node:crypto";

/** A stable 32-bit hash of the stack's name for one kind of work. */
export function stackHash(stack: string, salt: string): number {
  return createHash("sha256").update(`${salt}:${stack}`).digest().readUInt32BE(0);
}

/**
 * Whether the hour of `now` is one of the stack's hours for work done once every `everyHours` hours
 * (24: once a day; 12: twice a day, 12 hours apart). Every stack is due exactly once in any
 * `everyHours` consecutive hours.
 */
export function dueThisHour(stack: string, salt: string, now: Date, everyHours: number): boolean {
  if (everyHours <= 1) return true;
  const hour = Math.floor(now.getTime() / 3_600_000);
  return hour % everyHours === stackHash(stack, salt) % everyHours;
}

/** The daily credential check of a stack happens in one hour of the day (credentialRotation). */
export const CREDENTIAL_CHECK_EVERY_HOURS = 24;
/** A stack's certificate worker is nudged twice a day, 12 hours apart (certificateRenewal). */
export const CERTIFICATE_NUDGE_EVERY_HOURS = 12;

export function credentialCheckDue(stack: string, now: Date): boolean {
  return dueThisHour(stack, "credential-check", now, CREDENTIAL_CHECK_EVERY_HOURS);
}

export function certificateNudgeDue(stack: string, now: Date): boolean {
  return dueThisHour(stack, "certificate-nudge", now, CERTIFICATE_NUDGE_EVERY_HOURS);
}

/**
 * A stack's restore drill is due once every 30 days (720 hours), in its own hour of that period;
 * a stack whose last drill (or registration) is more than 32 days old catches up in its own hour of
 * any day (a missed slot: the app was down, or another operation held the stack then).
 */
export const RESTORE_DRILL_EVERY_HOURS = 720;
const RESTORE_DRILL_CATCH_UP_MS = 32 * 86_400_000;

export function restoreDrillDue(stack: string, now: Date, lastDrillOrCreated: string | undefined): boolean {
  if (dueThisHour(stack, "restore-drill", now, RESTORE_DRILL_EVERY_HOURS)) return true;
  const last = lastDrillOrCreated ? Date.parse(lastDrillOrCreated) : NaN;
  return (
    Number.isFinite(last) &&
    now.getTime() - last > RESTORE_DRILL_CATCH_UP_MS &&
    dueThisHour(stack, "restore-drill", now, 24)
  );
}
