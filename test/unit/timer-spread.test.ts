// Per-stack timer work spread over the day by a hash of the stack's name (shared/schedule/spread.ts,
// shared/drift/schedule.ts): every stack gets its work exactly as often as before (credentials once
// a day, certificate nudges twice a day 12 hours apart, drift screening once an hour, the full drift
// check once in its period), and a thousand stacks share the hours evenly instead of one minute.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  certificateNudgeDue,
  credentialCheckDue,
  dueThisHour,
  CERTIFICATE_NUDGE_EVERY_HOURS,
  CREDENTIAL_CHECK_EVERY_HOURS,
} from "../../shared/schedule/spread";
import { DRIFT_SLOTS, driftSlotAt, driftSlotOf, fullCheckDue } from "../../shared/drift/schedule";

const STACKS = Array.from({ length: 1000 }, (_, i) => `s${String(i + 1).padStart(4, "0")}`);
const HOUR = 3_600_000;
/** a day starting at an arbitrary hour, not at midnight */
const START = Date.UTC(2026, 11, 7, 15, 23);
const hours = (n: number) => Array.from({ length: n }, (_, h) => new Date(START + h * HOUR));

function perHour(
  due: (stack: string, now: Date) => boolean,
  n: number,
): { counts: number[]; perStack: Map<string, number[]> } {
  const perStack = new Map<string, number[]>(STACKS.map((s) => [s, []]));
  const counts = hours(n).map((now, h) => {
    const these = STACKS.filter((s) => due(s, now));
    for (const s of these) perStack.get(s)!.push(h);
    return these.length;
  });
  return { counts, perStack };
}

describe("timer work spread over the day", () => {
  test("the credential check: each stack exactly once in any 24 hours, ~1/24 of the stacks an hour", () => {
    const { counts, perStack } = perHour(credentialCheckDue, 48);
    for (const [stack, at] of perStack) {
      assert.equal(at.length, 2, `${stack}: once a day for two days`);
      assert.equal(at[1] - at[0], CREDENTIAL_CHECK_EVERY_HOURS, `${stack}: the same hour each day`);
    }
    const mean = STACKS.length / CREDENTIAL_CHECK_EVERY_HOURS;
    assert.ok(
      Math.max(...counts) <= 1.5 * mean,
      `the busiest hour checks ${Math.max(...counts)} (mean ${mean.toFixed(0)})`,
    );
    assert.ok(Math.min(...counts) >= 0.5 * mean, `the quietest hour checks ${Math.min(...counts)}`);
  });

  test("certificate nudges: each stack twice a day, 12 hours apart, ~1/12 of the stacks an hour", () => {
    const { counts, perStack } = perHour(certificateNudgeDue, 24);
    for (const [stack, at] of perStack) {
      assert.equal(at.length, 2, `${stack}: twice a day`);
      assert.equal(at[1] - at[0], CERTIFICATE_NUDGE_EVERY_HOURS, `${stack}: 12 hours apart`);
    }
    const mean = STACKS.length / CERTIFICATE_NUDGE_EVERY_HOURS;
    assert.ok(
      Math.max(...counts) <= 1.5 * mean,
      `the busiest hour nudges ${Math.max(...counts)} (mean ${mean.toFixed(0)})`,
    );
  });

  test("independent hours per kind of work: a stack's credential hour says nothing of its nudge hours", () => {
    const day = hours(24);
    const same = STACKS.filter((s) => {
      const credential = day.findIndex((now) => credentialCheckDue(s, now)) % CERTIFICATE_NUDGE_EVERY_HOURS;
      const nudge = day.findIndex((now) => certificateNudgeDue(s, now));
      return credential === nudge;
    }).length;
    // by chance about 1 in 12 coincide; a shared hash would make them all coincide
    assert.ok(
      same < STACKS.length / 4,
      `${same} of ${STACKS.length} stacks have their credential check in a nudge hour`,
    );
  });

  test("drift: each stack screened in one five-minute slot of every hour, its full check once in its period", () => {
    const slots = new Array<number>(DRIFT_SLOTS).fill(0);
    for (const s of STACKS) slots[driftSlotOf(s)]++;
    const mean = STACKS.length / DRIFT_SLOTS;
    assert.ok(
      Math.max(...slots) <= 1.5 * mean,
      `the busiest slot screens ${Math.max(...slots)} (mean ${mean.toFixed(0)})`,
    );
    for (let minute = 0; minute < 60; minute++) {
      assert.equal(driftSlotAt(new Date(Date.UTC(2026, 0, 1, 0, minute))), Math.floor(minute / 5));
    }
    const { perStack } = perHour((s, now) => fullCheckDue(s, now, 24), 24);
    for (const [stack, at] of perStack) assert.equal(at.length, 1, `${stack}: one full check a day`);
    assert.ok(
      STACKS.every((s) => fullCheckDue(s, new Date(START), 1)),
      "a period of one hour: every hour",
    );
  });

  test("work every hour (or less) is due every hour", () => {
    assert.ok(hours(3).every((now) => dueThisHour("alpha", "any", now, 1) && dueThisHour("alpha", "any", now, 0)));
  });
});
