// The app users' half of rotateDatabaseCredentials (rotate-database.ts): AWS Secrets Manager's four
// steps on the idle user Y while every node logs in as the current user X, then the roll.
//
//   createSecret   a new version of Y's secret, labelled pending (generated inside the activity)
//   setSecret      ALTER USER Y through one node's agent, as the admin (skipped if Y already takes it)
//   testSecret     a real login as Y with the pending version and a read of Guacamole's schema
//   roll           one node at a time: drain -> db-credentials Y (login tested, Tomcat restarted) ->
//                  health with a database query as Y -> undrain
//   finishSecret   pending -> current, X -> previous (still valid), Y's old version -> retired
//
// A failed set or test, or a node that fails after switching, rolls back: every node on Y goes back
// to X (one at a time, drained), Y's password is put back to the version the pending one replaced,
// and the pending version is labelled failed. A node that can't be moved back keeps the pending
// version alive (the database keeps the password that node uses): the next run resolves it.
import type { AppUserState } from "../../shared/credentials/rotation-state";
import { APP_USERS, type AppUserSlot } from "../../shared/node/constants";
import { nodeHealth, type NodeHealth, type WebNodeRef } from "../../shared/node/model";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import { drainNode, liveSessionsOf, runAgent, succeeded, verifyHealthy, whyFailed } from "../workflow/node-steps";
import type { Worker } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";
import type { RotateDatabaseStatus, RotateNodeStatus, RotatePhase } from "./rotate-database";

/** What came of one half (app users or admin). */
export interface PartResult {
  outcome: "succeeded" | "rolled-back" | "failed" | "skipped" | "none";
  line: string;
  failure?: string;
  resumed?: boolean;
}

/** A node's health with its name. */
export type Seen = NodeHealth & { name: string };

/** One rotation's view of the stack and its nodes, and the steps both halves take on them. */
export interface RotationRun {
  w: Worker<RotateDatabaseStatus>;
  spec: StackSpec;
  rotationId: string;
  nodes: WebNodeRef[];
  pollMs: number;
  verifyMinutes: number;
}

/**
 * Login tests of a new password, a durable timer apart: a password change can take a moment to
 * reach every server of a managed database (testSecret failing the first time is a known failure
 * mode of AWS's rotation functions).
 */
export const TEST_ATTEMPTS = 3;
const TEST_PAUSE_MS = 10_000;

/** One agent command; a failed activity (Run Command busy or broken) becomes an unreachable answer. */
export function* agent(r: RotationRun, vmName: string, command: string, args: string[] = []): Step<AgentCommandResult> {
  try {
    return yield* runAgent(r.w, r.spec, vmName, command, args);
  } catch (error) {
    return { vmName, reachable: false, error: failureMessage(error) };
  }
}

export function* observe(r: RotationRun, name: string): Step<Seen> {
  return { name, ...nodeHealth(yield* agent(r, name, "health")) };
}

/** Every node's health, one after the other. */
export function* observeAll(r: RotationRun): Step<Seen[]> {
  const seen: Seen[] = [];
  for (const n of r.nodes) seen.push(yield* observe(r, n.name));
  return seen;
}

/** A real login with that secret version through the node's agent, tried `attempts` times. */
export function* testLogin(
  r: RotationRun,
  vmName: string,
  user: AppUserSlot | "admin",
  version: string,
  attempts: number,
): Step<AgentCommandResult> {
  for (let n = 1; ; n++) {
    const answer = yield* agent(r, vmName, "db-user", ["test", "--user", user, "--version", version]);
    if (succeeded(answer) || n >= attempts) return answer;
    yield* r.w.sleep(r.w.after(TEST_PAUSE_MS));
  }
}

function setNode(r: RotationRun, name: string, update: Omit<RotateNodeStatus, "name">) {
  const { status } = r.w;
  const i = status.nodes.findIndex((n) => n.name === name);
  const next: RotateNodeStatus = { name, ...update };
  if (i >= 0) status.nodes[i] = next;
  else status.nodes.push(next);
  r.w.publish();
}

function phase(r: RotationRun, p: RotatePhase) {
  r.w.status.phase = p;
  r.w.publish();
}

// ------------------------------------------------------------------------------------ the four steps

export function* rotateAppUsers(r: RotationRun, s: AppUserState, asked: boolean): Step<PartResult> {
  const { w, spec, rotationId } = r;
  const from = s.current;
  let pending = s.pending;
  const resumed = !!pending;
  /** the nodes as seen before anything changed them (a fresh rotation only) */
  let fresh: Seen[] | undefined;
  if (!pending) {
    if (!asked) return { outcome: "none", line: "app users: not asked" };
    // every node answers, is healthy and logs in as the current user before anything changes
    const seen = yield* observeAll(r);
    const unfit = seen.filter((v) => !v.answered || !v.healthy);
    if (unfit.length > 0) {
      const which = unfit.map((v) => `${v.name} (${v.problems.join(", ") || "no answer"})`).join("; ");
      const failure = `not every node is healthy, so none is switched: ${which}`;
      return { outcome: "skipped", line: "app users: not started", failure };
    }
    for (const v of seen.filter((x) => x.databaseUser !== from.user)) {
      // a node on the idle user (brought up by hand?) would lose its login when that user changes
      const moved = yield* switchNode(r, v.name, from.slot, from.version, "rolling", v);
      if (!moved.ok) {
        const failure = `${v.name} logs in as ${v.databaseUser ?? "nobody"}, not ${from.user}, and could not be moved: ${moved.detail}`;
        return { outcome: "skipped", line: "app users: not started", failure };
      }
    }
    if (seen.every((v) => v.databaseUser === from.user)) fresh = seen;
    if (from.rotationId === rotationId) {
      return { outcome: "succeeded", line: `app users: already rotated by ${rotationId}; nodes use ${from.user}` };
    }
    phase(r, "creating");
    const made = yield* w.call("createPendingPassword", { spec, kind: "app", rotationId });
    pending = { ...made, slot: made.slot!, user: made.user! };
  } else {
    yield* w.audit(
      "interrupted rotation found",
      `version ${pending.version} of ${pending.secret} is pending (rotation ${pending.rotationId ?? "unknown"}); finishing it, or rolling it back`,
      { pendingRotationId: pending.rotationId, version: pending.version },
    );
  }
  const to = pending;
  const replaced = to.replaces ?? s.previous.version;
  w.status.appUsers = `${from.user} -> ${to.user} (version ${to.version})${resumed ? ", resumed" : ""}`;
  w.publish();
  const fail = (why: string) => rollback(r, { from, to, replaced, reason: why, resumed });

  // ---- setSecret: through a node that does not log in as the idle user (the agent refuses that)
  phase(r, "setting");
  const seen = fresh ?? (yield* observeAll(r));
  const setter = seen.find((v) => v.answered && v.databaseUser !== to.user);
  const via = setter ?? seen.find((v) => v.answered);
  if (!via) return yield* fail("no node's agent answers to set the new password");
  if (setter) {
    const set = yield* agent(r, setter.name, "db-user", ["set-password", "--user", to.slot, "--version", to.version]);
    if (!succeeded(set)) return yield* fail(`setting the new password of ${to.user} failed: ${whyFailed(set)}`);
  }
  // else every node that answers logs in as the idle user already: the database took the password

  // ---- testSecret: a real login with the pending version, reading Guacamole's schema
  phase(r, "testing");
  const test = yield* testLogin(r, via.name, to.slot, to.version, TEST_ATTEMPTS);
  if (!succeeded(test))
    return yield* fail(`the login test of ${to.user} with the new password failed: ${whyFailed(test)}`);

  // ---- roll the nodes, one at a time
  phase(r, "rolling");
  for (const node of r.nodes) {
    // set and test changed no node: what a fresh rotation saw of each is still what it is
    const switched = yield* switchNode(
      r,
      node.name,
      to.slot,
      to.version,
      "rolling",
      fresh?.find((v) => v.name === node.name),
    );
    if (!switched.ok) return yield* fail(`${node.name} failed after switching to ${to.user}: ${switched.detail}`);
  }

  // ---- finishSecret
  phase(r, "finishing");
  yield* w.call("finishRotation", { spec, kind: "app", version: to.version, at: w.now().toISOString() });
  return {
    outcome: "succeeded",
    line: `app users: ${from.user} -> ${to.user} (version ${to.version}); ${from.user} stays valid until the next rotation`,
    resumed,
  };
}

/**
 * Every node on the idle user goes back to the current one; then the idle user's password is put
 * back and the pending version labelled failed.
 */
function* rollback(
  r: RotationRun,
  p: {
    from: { slot: AppUserSlot; version: string };
    to: { slot: AppUserSlot; version: string };
    replaced: string;
    reason: string;
    resumed: boolean;
  },
): Step<PartResult> {
  const { w, spec } = r;
  const { reason, resumed } = p;
  w.status.phase = "rolling-back";
  w.status.failure = reason;
  w.publish();
  const toUser = APP_USERS[p.to.slot];
  const fromUser = APP_USERS[p.from.slot];
  const stuck: string[] = [];
  /** a node that logs in as the current user now, to put the idle user's password back through */
  let via: string | undefined;
  for (const node of r.nodes) {
    const v = yield* observe(r, node.name);
    if (!v.answered) {
      stuck.push(`${node.name}: ${v.problems.join(", ") || "no answer"}`);
      continue;
    }
    if (v.databaseUser === toUser) {
      const back = yield* switchNode(r, node.name, p.from.slot, p.from.version, "rolling-back", v);
      // a node whose properties name the old user again is off the new one, healthy or not (a
      // Tomcat that does not come back is heal's business, not a reason to keep the new password)
      const after = back.ok ? undefined : yield* observe(r, node.name);
      if (back.ok || after?.databaseUser === fromUser) {
        const detail = back.ok ? `back on ${fromUser}` : `back on ${fromUser}, but: ${back.detail}`;
        setNode(r, node.name, { state: "rolled-back", user: fromUser, detail });
      } else stuck.push(`${node.name}: ${back.detail}`);
    } else if (v.draining) {
      // drained for a switch that never happened
      yield* agent(r, node.name, "drain", ["off"]);
    }
    via ??= stuck.some((x) => x.startsWith(`${node.name}: `)) ? undefined : node.name;
  }
  if (stuck.length > 0) {
    return {
      outcome: "failed",
      line: `app users: ${fromUser} -> ${toUser} failed and could not be rolled back everywhere; version ${p.to.version} stays pending for the next run`,
      failure: `${reason}; rollback incomplete: ${stuck.join("; ")}`,
      resumed,
    };
  }
  const restore = via
    ? yield* agent(r, via, "db-user", ["set-password", "--user", p.to.slot, "--version", p.replaced])
    : undefined;
  if (!restore || !succeeded(restore)) {
    return {
      outcome: "failed",
      line: `app users: ${fromUser} -> ${toUser} failed; every node is back on ${fromUser}, but ${toUser}'s previous password could not be put back; version ${p.to.version} stays pending`,
      failure: `${reason}; restoring ${toUser}'s password failed: ${restore ? whyFailed(restore) : "no node answers"}`,
      resumed,
    };
  }
  yield* w.call("abandonPending", { spec, kind: "app", version: p.to.version, reason });
  return {
    outcome: "rolled-back",
    line: `app users: ${fromUser} -> ${toUser} rolled back; every node is on ${fromUser}, ${toUser} has its previous password`,
    failure: reason,
    resumed,
  };
}

/** drain -> db-credentials -> health as the new user -> undrain; a node already there is left alone. */
function* switchNode(
  r: RotationRun,
  name: string,
  slot: AppUserSlot,
  version: string,
  phase: RotatePhase,
  /** what the node said a moment ago, when nothing can have changed it since */
  seen?: Seen,
): Step<{ ok: boolean; detail: string }> {
  const user = APP_USERS[slot];
  let v = seen ?? (yield* observe(r, name));
  if (!v.answered) {
    setNode(r, name, { state: "failed", detail: v.problems.join(", ") });
    return { ok: false, detail: `its agent did not answer (${v.problems.join(", ") || "no answer"})` };
  }
  if (v.healthy && v.databaseUser === user) {
    if (v.draining) yield* agent(r, name, "drain", ["off"]);
    setNode(r, name, { state: phase === "rolling" ? "switched" : "unchanged", user, detail: `already on ${user}` });
    return { ok: true, detail: `already on ${user}` };
  }
  // drain: the probe answers 503 and live sessions may end (bounded by the scale policy's timeout)
  setNode(r, name, { state: "draining", user: v.databaseUser });
  const drained = yield* drainNode(r.w, r.spec, name, {
    draining: v.draining === true,
    required: true,
    run: (command, args) => agent(r, name, command, args),
    sessions: (answer) => (answer && liveSessionsOf(answer)) ?? v.liveSessions ?? 0,
    look: function* () {
      v = yield* observe(r, name);
      return v.answered ? (v.liveSessions ?? 0) : 0;
    },
    timeoutMs: r.spec.policies.scale.drainTimeoutMinutes * 60_000,
    pollMs: r.pollMs,
    lastWait: "whole-polls",
  });
  if (drained.outcome === "failed") return { ok: false, detail: `drain on failed: ${drained.detail}` };
  setNode(r, name, { state: "switching", user: v.databaseUser });
  const switched = yield* agent(r, name, "db-credentials", ["--user", slot, "--version", version]);
  if (!succeeded(switched)) {
    setNode(r, name, { state: "failed", detail: whyFailed(switched) });
    return { ok: false, detail: `db-credentials --user ${slot}: ${whyFailed(switched)}` };
  }
  // health, with the database check logging in as the new user
  setNode(r, name, { state: "verifying", user });
  const healthy = yield* verifyHealthy(
    r.w,
    () => observe(r, name),
    (h) => h.healthy && h.databaseUser === user,
    {
      deadline: r.w.after(r.verifyMinutes * 60_000),
      pollMs: r.pollMs,
    },
  );
  if (!healthy.ok) {
    const h = healthy.seen;
    const detail = `not healthy as ${user} within ${r.verifyMinutes} minutes: ${h.problems.join(", ") || `logs in as ${h.databaseUser ?? "nobody"}`}`;
    setNode(r, name, { state: "failed", user: h.databaseUser, detail });
    return { ok: false, detail };
  }
  const undrained = yield* agent(r, name, "drain", ["off"]);
  if (!succeeded(undrained)) return { ok: false, detail: `drain off failed: ${whyFailed(undrained)}` };
  setNode(r, name, { state: phase === "rolling" ? "switched" : "rolled-back", user });
  return { ok: true, detail: `switched to ${user}` };
}
