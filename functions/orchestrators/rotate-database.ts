// rotateDatabaseCredentials: one per stack at a time (instance id `rotate-db-<stack>`), started by
// POST /api/stacks/{name}/rotate/database or the daily credential check. It rotates the Guacamole
// app users' passwords with AWS Secrets Manager's four steps over two alternating users, and the
// MySQL admin password through ARM, with Key Vault labels (tags on secret versions) as the state:
//
//   wait for the stack (deploy, heal, scale hold it: durable timers), claim it (kind rotate-database)
//   look: Key Vault state (repair labels a cut-short finish left), every node's health
//   app users (idle slot Y, current slot X):
//     createSecret   a new version of Y's secret, labelled pending (generated inside the activity)
//     setSecret      ALTER USER Y through one node's agent, as the admin (skipped if Y already takes it)
//     testSecret     a real login as Y with the pending version and a read of Guacamole's schema
//     roll           one node at a time: drain (sessions end, or the drain timeout) -> db-credentials
//                    Y (login tested, Tomcat restarted) -> health with a database query as Y -> undrain
//     finishSecret   pending -> current, X -> previous (still valid), Y's old version -> retired
//   admin (when asked): pending version -> ARM PATCH of the flexible server -> real login -> current
//   record: registry copy of the state + CredentialsRotated condition, audit, release the stack
//
// Resume: every step is idempotent and keyed by Key Vault's labels, not by this instance's memory.
// A run that finds a pending version (its own after a crash, or one a killed run left) finishes it:
// set, test and roll again skip what is already done (a node healthy as Y is not touched). A failed
// set or test, or a node that fails after switching, rolls back: every node on Y goes back to X (one
// at a time, drained), Y's password is put back to the version the pending one replaced, and the
// pending version is labelled failed. If the rollback can't finish (a node does not answer), the
// pending version stays and the next run (the daily check starts one) resolves it: never stuck.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import type { AdminState, AppUserState } from "../../shared/credentials/rotation-state";
import { APP_USERS, type AppUserSlot } from "../../shared/node/constants";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import type { RotationOutcome } from "../../shared/stack-status";
import type { StackOperation } from "../../shared/store";
import type { WebNodeRef } from "../activities/nodes";
import type {
  ClaimForRotationOutput,
  CreatePendingOutput,
  CredentialStateOutput,
  LoadRotationTargetOutput,
} from "../activities/rotation";
import { Names } from "../names";
import { failureMessage } from "./graph-runner";
import { agentAnswered, failingChecks, isHealthy } from "./node-health";
import { orchestrationCalls } from "./activity-retry";

export interface RotateDatabaseInput {
  stack: string;
  /**
   * Idempotency key (like AWS's ClientRequestToken): it labels the pending version, and a re-run
   * with the same id resumes that rotation or, if it finished, only checks it.
   */
  rotationId: string;
  /** rotate the app users' passwords (default true) */
  appUsers?: boolean;
  /** rotate the MySQL admin password through ARM too (default false) */
  admin?: boolean;
  /** who asked: "requested" (POST), "schedule" (daily check) */
  reason?: string;
  /** seconds between health polls while draining and verifying (default 15) */
  pollSeconds?: number;
  /** how long a switched node may take to be healthy as its new user (default 5) */
  verifyMinutes?: number;
  /** seconds between looks at a stack another operation holds (default 60) */
  claimRetrySeconds?: number;
}

export type RotatePhase =
  | "loading"
  | "waiting-for-stack"
  | "checking"
  | "creating"
  | "setting"
  | "testing"
  | "rolling"
  | "finishing"
  | "rolling-back"
  | "admin"
  | "recording"
  | "done";

export interface RotateNodeStatus {
  name: string;
  /** the app user the node logs in as, when it said */
  user?: string;
  state: "waiting" | "draining" | "switching" | "verifying" | "switched" | "rolled-back" | "failed" | "unchanged";
  detail?: string;
}

export interface RotateDatabaseStatus {
  operation: "rotate-database";
  stack: string;
  rotationId: string;
  phase: RotatePhase;
  /** e.g. "guacamole_a -> guacamole_b (version 3f2...)"; names and versions only */
  appUsers?: string;
  admin?: string;
  nodes: RotateNodeStatus[];
  waitingFor?: string;
  waitingUntil?: string;
  failure?: string;
}

export type RotateDatabaseOutput = RotationOutcome & { resumed: boolean };

/** What came of one half (app users or admin). */
interface PartResult {
  outcome: "succeeded" | "rolled-back" | "failed" | "skipped" | "none";
  line: string;
  failure?: string;
  resumed?: boolean;
}

interface NodeView {
  name: string;
  answered: boolean;
  healthy: boolean;
  user?: string;
  draining: boolean;
  sessions: number;
  problems: string[];
}

/** Looks at a stack someone else holds, before giving up for this run (2 hours at the default 60 s). */
const CLAIM_WAITS = 120;
/**
 * Login tests of a new password, a durable timer apart: a password change can take a moment to
 * reach every server of a managed database (testSecret failing the first time is a known failure
 * mode of AWS's rotation functions).
 */
const TEST_ATTEMPTS = 3;
const TEST_PAUSE_MS = 10_000;

export const rotateDatabaseCredentials: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RotateDatabaseInput>();
  const { stack, rotationId } = input;
  const instanceId = context.df.instanceId;
  const now = () => context.df.currentUtcDateTime;
  const startedAt = now().toISOString();
  const status: RotateDatabaseStatus = {
    operation: "rotate-database",
    stack,
    rotationId,
    phase: "loading",
    nodes: [],
  };
  const publish = () => context.df.setCustomStatus(status);
  const { call, audit } = orchestrationCalls(context, stack, { kind: "rotate-database", instanceId }, { rotationId });
  const pollMs = (input.pollSeconds ?? 15) * 1000;
  publish();

  const target = (yield call(Names.activities.loadRotationTarget, { stack })) as LoadRotationTargetOutput;
  if (!target.registered || !target.spec) return finish("skipped", { line: "the stack is not registered" }, false);
  if (!target.deployed) {
    return finish("skipped", { line: "the stack has not been deployed yet: nothing to rotate" }, false);
  }
  const spec: StackSpec = target.spec;
  const agentTarget = (vmName: string) => ({
    subscriptionId: spec.subscriptionId,
    resourceGroup: spec.resourceGroup,
    vmName,
    // whose vault holds the admin password an admin step gets handed (protected parameters)
    stack: spec.name,
  });

  // ---- the stack: one writer at a time
  const claimed = yield* waitAndClaim(target.operation);
  if (claimed !== "claimed") {
    const line =
      claimed === "gone"
        ? "the stack was torn down meanwhile"
        : `${claimed.kind} ${claimed.instanceId} held the stack for all of ${CLAIM_WAITS} looks; not rotated this time`;
    const output = finish("skipped", { line }, false);
    if (claimed !== "gone") yield audit("database credential rotation skipped", line, { reason: input.reason });
    return output;
  }

  let app: PartResult = { outcome: "none", line: "not asked" };
  let admin: PartResult = { outcome: "none", line: "not asked" };
  let nodes: WebNodeRef[] = [];
  let output: RotateDatabaseOutput;
  try {
    try {
      yield* rotate();
    } catch (error) {
      app = { ...app, outcome: "failed", failure: failureMessage(error) };
    }
    const outcome = combine(app, admin);
    const failure = [app.failure, admin.failure].filter((f): f is string => !!f).join("; ") || undefined;
    output = finish(outcome, { line: "", failure }, !!(app.resumed || admin.resumed));
    // recorded while the stack is still held, so no other writer's record races this one
    yield* record(output);
  } finally {
    yield call(Names.activities.releaseOperation, { stack, instanceId });
  }
  const what = {
    succeeded: "database credentials rotated",
    "rolled-back": "database credential rotation rolled back",
    failed: "database credential rotation failed",
    skipped: "database credential rotation skipped",
  }[output.outcome];
  yield audit(what, [app.line, admin.line, output.failure].filter(Boolean).join("; "), {
    reason: input.reason ?? "requested",
    appUsers: app.line,
    admin: admin.line,
  });
  return output;

  // ============================================================================== helpers

  function* rotate(): Generator<Task, void, unknown> {
    status.phase = "checking";
    publish();
    let state = (yield call(Names.activities.readCredentialState, { spec })) as CredentialStateOutput;
    if (state.staleLabels.length > 0) {
      // a finish that was cut short: put the labels in line before anything else reads them
      yield call(Names.activities.normalizeCredentialLabels, { spec });
      yield audit(
        "credential labels repaired",
        "Key Vault labels disagreed with the credential state (a rotation cut short)",
        {
          changes: state.staleLabels.map((c) => `${c.secret}/${c.version}: ${c.from ?? "none"} -> ${c.to}`),
        },
      );
      state = (yield call(Names.activities.readCredentialState, { spec })) as CredentialStateOutput;
    }
    nodes = (yield call(Names.activities.listWebNodes, { spec })) as WebNodeRef[];
    status.nodes = nodes.map((n) => ({ name: n.name, state: "waiting" }));
    publish();

    try {
      app = yield* rotateAppUsers(state.app);
    } catch (error) {
      app = { outcome: "failed", line: "app users: stopped by an error", failure: failureMessage(error) };
    }
    status.appUsers = app.line;
    try {
      admin = yield* rotateAdmin(state.admin);
    } catch (error) {
      admin = { outcome: "failed", line: "admin: stopped by an error", failure: failureMessage(error) };
    }
    status.admin = admin.line;
  }

  function finish(outcome: RotationOutcome["outcome"], part: { line: string; failure?: string }, resumed: boolean) {
    status.phase = "done";
    delete status.waitingFor;
    delete status.waitingUntil;
    if (part.failure) status.failure = part.failure;
    else if (outcome === "skipped" && part.line) status.failure = part.line;
    publish();
    const result: RotateDatabaseOutput = {
      instanceId,
      rotationId,
      outcome,
      startedAt,
      finishedAt: now().toISOString(),
      ...(status.appUsers ? { appUsers: status.appUsers } : {}),
      ...(status.admin ? { admin: status.admin } : {}),
      ...(part.failure ? { failure: part.failure } : outcome === "skipped" && part.line ? { failure: part.line } : {}),
      resumed,
    };
    return result;
  }

  function* record(output: RotateDatabaseOutput): Generator<Task, void, unknown> {
    const { resumed: _resumed, ...outcome } = output;
    yield call(Names.activities.recordCredentials, { stack, spec, at: now().toISOString(), outcome });
  }

  /** Waits while another operation holds the stack, then claims it. */
  function* waitAndClaim(
    first: StackOperation | undefined,
  ): Generator<Task, "claimed" | "gone" | StackOperation, unknown> {
    let holder = first && first.instanceId !== instanceId ? first : undefined;
    for (let looks = 0; ; looks++) {
      if (!holder || looks > 0) {
        const result = (yield call(Names.activities.claimForRotation, {
          stack,
          instanceId,
          at: now().toISOString(),
        })) as ClaimForRotationOutput;
        if (result.ok) {
          delete status.waitingFor;
          delete status.waitingUntil;
          return "claimed";
        }
        if ("gone" in result) return "gone";
        holder = result.running;
      }
      if (looks >= CLAIM_WAITS) return holder;
      status.phase = "waiting-for-stack";
      status.waitingFor = `${holder.kind} ${holder.instanceId} holds the stack; the rotation waits for it to finish`;
      status.waitingUntil = new Date(now().getTime() + (input.claimRetrySeconds ?? 60) * 1000).toISOString();
      publish();
      yield context.df.createTimer(new Date(status.waitingUntil));
    }
  }

  // ------------------------------------------------------------------------------ app users

  function* rotateAppUsers(s: AppUserState): Generator<Task, PartResult, unknown> {
    const from = s.current;
    let pending = s.pending;
    const resumed = !!pending;
    /** the nodes as seen before anything changed them (a fresh rotation only) */
    let fresh: NodeView[] | undefined;
    if (!pending) {
      if (input.appUsers === false) return { outcome: "none", line: "app users: not asked" };
      // every node answers, is healthy and logs in as the current user before anything changes
      const views = yield* observeAll();
      const unfit = views.filter((v) => !v.answered || !v.healthy);
      if (unfit.length > 0) {
        return {
          outcome: "skipped",
          line: "app users: not started",
          failure: `not every node is healthy, so none is switched: ${unfit.map((v) => `${v.name} (${v.problems.join(", ") || "no answer"})`).join("; ")}`,
        };
      }
      for (const v of views.filter((x) => x.user !== from.user)) {
        // a node on the idle user (brought up by hand?) would lose its login when that user changes
        const moved = yield* switchNode(v.name, from.slot, from.version, "rolling", v);
        if (!moved.ok) {
          return {
            outcome: "skipped",
            line: "app users: not started",
            failure: `${v.name} logs in as ${v.user ?? "nobody"}, not ${from.user}, and could not be moved: ${moved.detail}`,
          };
        }
      }
      if (views.every((v) => v.user === from.user)) fresh = views;
      if (from.rotationId === rotationId) {
        return { outcome: "succeeded", line: `app users: already rotated by ${rotationId}; nodes use ${from.user}` };
      }
      status.phase = "creating";
      publish();
      const made = (yield call(Names.activities.createPendingPassword, {
        spec,
        kind: "app",
        rotationId,
      })) as CreatePendingOutput;
      pending = { ...made, slot: made.slot!, user: made.user! };
    } else {
      yield audit(
        "interrupted rotation found",
        `version ${pending.version} of ${pending.secret} is pending (rotation ${pending.rotationId ?? "unknown"}); finishing it, or rolling it back`,
        { pendingRotationId: pending.rotationId, version: pending.version },
      );
    }
    const to = pending;
    const replaced = to.replaces ?? s.previous.version;
    status.appUsers = `${from.user} -> ${to.user} (version ${to.version})${resumed ? ", resumed" : ""}`;
    publish();
    const fail = (why: string) => rollbackApp(from.slot, from.version, to.slot, to.version, replaced, why, resumed);

    // ---- setSecret: through a node that does not log in as the idle user (the agent refuses that)
    status.phase = "setting";
    publish();
    const views = fresh ?? (yield* observeAll());
    const setter = views.find((v) => v.answered && v.user !== to.user);
    const via = setter ?? views.find((v) => v.answered);
    if (!via) return yield* fail("no node's agent answers to set the new password");
    if (setter) {
      const set = yield* agent(setter.name, "db-user", ["set-password", "--user", to.slot, "--version", to.version]);
      if (!ok(set)) return yield* fail(`setting the new password of ${to.user} failed: ${why(set)}`);
    }
    // else every node that answers logs in as the idle user already: the database took the password

    // ---- testSecret: a real login with the pending version, reading Guacamole's schema
    status.phase = "testing";
    publish();
    const test = yield* testLogin(via.name, to.slot, to.version, TEST_ATTEMPTS);
    if (!ok(test)) return yield* fail(`the login test of ${to.user} with the new password failed: ${why(test)}`);

    // ---- roll the nodes, one at a time
    status.phase = "rolling";
    publish();
    for (const node of nodes) {
      // set and test changed no node: what a fresh rotation saw of each is still what it is
      const seen = fresh?.find((v) => v.name === node.name);
      const switched = yield* switchNode(node.name, to.slot, to.version, "rolling", seen);
      if (!switched.ok) return yield* fail(`${node.name} failed after switching to ${to.user}: ${switched.detail}`);
    }

    // ---- finishSecret
    status.phase = "finishing";
    publish();
    yield call(Names.activities.finishRotation, { spec, kind: "app", version: to.version, at: now().toISOString() });
    return {
      outcome: "succeeded",
      line: `app users: ${from.user} -> ${to.user} (version ${to.version}); ${from.user} stays valid until the next rotation`,
      resumed,
    };
  }

  /**
   * Every node on the idle user goes back to the current one; then the idle user's password is put
   * back and the pending version labelled failed. A node that can't be moved back keeps the pending
   * version alive (the database keeps the password that node uses): the next run resolves it.
   */
  function* rollbackApp(
    fromSlot: AppUserSlot,
    fromVersion: string,
    toSlot: AppUserSlot,
    toVersion: string,
    replaced: string,
    reason: string,
    resumed: boolean,
  ): Generator<Task, PartResult, unknown> {
    status.phase = "rolling-back";
    status.failure = reason;
    publish();
    const toUser = APP_USERS[toSlot];
    const fromUser = APP_USERS[fromSlot];
    const stuck: string[] = [];
    /** a node that logs in as the current user now, to put the idle user's password back through */
    let via: string | undefined;
    for (const node of nodes) {
      const v = yield* observe(node.name);
      if (!v.answered) {
        stuck.push(`${node.name}: ${v.problems.join(", ") || "no answer"}`);
        continue;
      }
      if (v.user === toUser) {
        const back = yield* switchNode(node.name, fromSlot, fromVersion, "rolling-back", v);
        // a node whose properties name the old user again is off the new one, healthy or not (a
        // Tomcat that does not come back is heal's business, not a reason to keep the new password)
        const after = back.ok ? undefined : yield* observe(node.name);
        if (back.ok || after?.user === fromUser) {
          setNode(node.name, {
            state: "rolled-back",
            user: fromUser,
            detail: back.ok ? `back on ${fromUser}` : `back on ${fromUser}, but: ${back.detail}`,
          });
        } else stuck.push(`${node.name}: ${back.detail}`);
      } else if (v.draining) {
        // drained for a switch that never happened
        yield* agent(node.name, "drain", ["off"]);
      }
      via ??= stuck.some((x) => x.startsWith(`${node.name}: `)) ? undefined : node.name;
    }
    if (stuck.length > 0) {
      return {
        outcome: "failed",
        line: `app users: ${fromUser} -> ${toUser} failed and could not be rolled back everywhere; version ${toVersion} stays pending for the next run`,
        failure: `${reason}; rollback incomplete: ${stuck.join("; ")}`,
        resumed,
      };
    }
    const restore = via
      ? yield* agent(via, "db-user", ["set-password", "--user", toSlot, "--version", replaced])
      : undefined;
    if (!restore || !ok(restore)) {
      return {
        outcome: "failed",
        line: `app users: ${fromUser} -> ${toUser} failed; every node is back on ${fromUser}, but ${toUser}'s previous password could not be put back; version ${toVersion} stays pending`,
        failure: `${reason}; restoring ${toUser}'s password failed: ${restore ? why(restore) : "no node answers"}`,
        resumed,
      };
    }
    yield call(Names.activities.abandonPending, { spec, kind: "app", version: toVersion, reason });
    return {
      outcome: "rolled-back",
      line: `app users: ${fromUser} -> ${toUser} rolled back; every node is on ${fromUser}, ${toUser} has its previous password`,
      failure: reason,
      resumed,
    };
  }

  /** drain -> db-credentials -> health as the new user -> undrain; a node already there is left alone. */
  function* switchNode(
    name: string,
    slot: AppUserSlot,
    version: string,
    phase: RotatePhase,
    /** what the node said a moment ago, when nothing can have changed it since */
    seen?: NodeView,
  ): Generator<Task, { ok: boolean; detail: string }, unknown> {
    const user = APP_USERS[slot];
    let v = seen ?? (yield* observe(name));
    if (!v.answered) {
      setNode(name, { state: "failed", detail: v.problems.join(", ") });
      return { ok: false, detail: `its agent did not answer (${v.problems.join(", ") || "no answer"})` };
    }
    if (v.healthy && v.user === user) {
      if (v.draining) yield* agent(name, "drain", ["off"]);
      setNode(name, { state: phase === "rolling" ? "switched" : "unchanged", user, detail: `already on ${user}` });
      return { ok: true, detail: `already on ${user}` };
    }
    // drain: the probe answers 503 and live sessions may end (bounded by the scale policy's timeout)
    setNode(name, { state: "draining", user: v.user });
    let sessions = v.sessions;
    if (!v.draining) {
      const drained = yield* agent(name, "drain", ["on"]);
      if (!ok(drained)) return { ok: false, detail: `drain on failed: ${why(drained)}` };
      const live = (drained.json as { liveSessions?: unknown } | undefined)?.liveSessions;
      if (typeof live === "number") sessions = live;
    }
    const deadline = now().getTime() + spec.policies.scale.drainTimeoutMinutes * 60_000;
    while (sessions > 0 && now().getTime() + pollMs <= deadline) {
      status.waitingFor = `${sessions} live session(s) on ${name} to end (at most until ${new Date(deadline).toISOString()})`;
      publish();
      yield context.df.createTimer(new Date(now().getTime() + pollMs));
      v = yield* observe(name);
      sessions = v.answered ? v.sessions : 0;
    }
    delete status.waitingFor;
    setNode(name, { state: "switching", user: v.user });
    const switched = yield* agent(name, "db-credentials", ["--user", slot, "--version", version]);
    if (!ok(switched)) {
      setNode(name, { state: "failed", detail: why(switched) });
      return { ok: false, detail: `db-credentials --user ${slot}: ${why(switched)}` };
    }
    // health, with the database check logging in as the new user
    setNode(name, { state: "verifying", user });
    const until = now().getTime() + (input.verifyMinutes ?? 5) * 60_000;
    for (;;) {
      v = yield* observe(name);
      if (v.healthy && v.user === user) break;
      if (now().getTime() + pollMs > until) {
        const detail = `not healthy as ${user} within ${input.verifyMinutes ?? 5} minutes: ${v.problems.join(", ") || `logs in as ${v.user ?? "nobody"}`}`;
        setNode(name, { state: "failed", user: v.user, detail });
        return { ok: false, detail };
      }
      yield context.df.createTimer(new Date(now().getTime() + pollMs));
    }
    const undrained = yield* agent(name, "drain", ["off"]);
    if (!ok(undrained)) return { ok: false, detail: `drain off failed: ${why(undrained)}` };
    setNode(name, { state: phase === "rolling" ? "switched" : "rolled-back", user });
    return { ok: true, detail: `switched to ${user}` };
  }

  // ------------------------------------------------------------------------------ admin

  function* rotateAdmin(s: AdminState): Generator<Task, PartResult, unknown> {
    let pending = s.pending;
    const resumed = !!pending;
    if (!pending) {
      if (!input.admin) return { outcome: "none", line: "admin: not asked" };
      if (s.current.rotationId === rotationId) {
        return { outcome: "succeeded", line: `admin: already rotated by ${rotationId}` };
      }
      status.phase = "admin";
      publish();
      pending = (yield call(Names.activities.createPendingPassword, {
        spec,
        kind: "admin",
        rotationId,
      })) as CreatePendingOutput;
    } else {
      yield audit(
        "interrupted admin rotation found",
        `version ${pending.version} of ${pending.secret} is pending (rotation ${pending.rotationId ?? "unknown"}); finishing it, or rolling it back`,
        { pendingRotationId: pending.rotationId, version: pending.version },
      );
    }
    status.phase = "admin";
    status.admin = `admin: version ${s.current.version} -> ${pending.version}${resumed ? ", resumed" : ""}`;
    publish();
    const views = yield* observeAll();
    const via = views.find((v) => v.answered);
    if (!via) {
      return {
        outcome: "failed",
        line: `admin: version ${pending.version} stays pending`,
        failure: "no node's agent answers to test a login with the new admin password",
        resumed,
      };
    }
    const login = (version: string, attempts: number) => testLogin(via.name, "admin", version, attempts);

    // the server may have it already (a resumed rotation whose ARM update went through)
    let tested = yield* login(pending.version, 1);
    let applyError: string | undefined;
    if (!ok(tested)) {
      try {
        yield call(Names.activities.applyAdminPassword, { spec, version: pending.version });
      } catch (error) {
        applyError = failureMessage(error);
      }
      tested = yield* login(pending.version, TEST_ATTEMPTS);
    }
    if (ok(tested)) {
      yield call(Names.activities.finishRotation, {
        spec,
        kind: "admin",
        version: pending.version,
        at: now().toISOString(),
      });
      return {
        outcome: "succeeded",
        line: `admin: version ${pending.version} is current, tested by a real login`,
        resumed,
      };
    }
    const reason = `the new admin password does not log in${applyError ? ` (ARM update: ${applyError})` : ""}: ${why(tested)}`;
    const old = yield* login(s.current.version, 1);
    if (ok(old)) {
      yield call(Names.activities.abandonPending, { spec, kind: "admin", version: pending.version, reason });
      return {
        outcome: "rolled-back",
        line: `admin: version ${pending.version} rolled back; the server keeps version ${s.current.version}`,
        failure: reason,
        resumed,
      };
    }
    return {
      outcome: "failed",
      line: `admin: neither version ${pending.version} nor ${s.current.version} logs in; version ${pending.version} stays pending for the next run`,
      failure: reason,
      resumed,
    };
  }

  // ------------------------------------------------------------------------------ nodes

  /** One agent command; a failed activity (Run Command busy or broken) becomes an unreachable answer. */
  function* agent(vmName: string, command: string, args: string[] = []): Generator<Task, AgentCommandResult, unknown> {
    try {
      return (yield call(Names.activities.runNodeAgent, {
        ...agentTarget(vmName),
        command,
        args,
      })) as AgentCommandResult;
    } catch (error) {
      return { vmName, reachable: false, error: failureMessage(error) };
    }
  }

  /** A real login with that secret version through the node's agent, tried `attempts` times. */
  function* testLogin(
    vmName: string,
    user: AppUserSlot | "admin",
    version: string,
    attempts: number,
  ): Generator<Task, AgentCommandResult, unknown> {
    for (let n = 1; ; n++) {
      const r = yield* agent(vmName, "db-user", ["test", "--user", user, "--version", version]);
      if (ok(r) || n >= attempts) return r;
      yield context.df.createTimer(new Date(now().getTime() + TEST_PAUSE_MS));
    }
  }

  function* observe(name: string): Generator<Task, NodeView, unknown> {
    return nodeView(name, yield* agent(name, "health"));
  }

  function* observeAll(): Generator<Task, NodeView[], unknown> {
    const views: NodeView[] = [];
    for (const n of nodes) views.push(yield* observe(n.name));
    return views;
  }

  function setNode(name: string, update: Omit<RotateNodeStatus, "name">) {
    const i = status.nodes.findIndex((n) => n.name === name);
    const next: RotateNodeStatus = { name, ...update };
    if (i >= 0) status.nodes[i] = next;
    else status.nodes.push(next);
    publish();
  }
};

function ok(r: AgentCommandResult): boolean {
  return r.reachable && r.exitCode === 0;
}

/** One line on why an agent command failed (its last stderr line, never a secret: the agent redacts). */
function why(r: AgentCommandResult): string {
  if (!r.reachable) return r.error ?? "the VM agent did not answer";
  const last = (r.stderr ?? "").trim().split("\n").pop() ?? "";
  return (last || `exit ${r.exitCode ?? "?"}`).replace(/^jumpgate-node: (error: )?/, "").slice(0, 300);
}

export function nodeView(name: string, r: AgentCommandResult): NodeView {
  const answered = agentAnswered(r);
  const json = (answered ? r.json : {}) as {
    draining?: unknown;
    liveSessions?: unknown;
    databaseUser?: unknown;
    checks?: { name?: unknown; ok?: unknown; detail?: unknown }[];
  };
  let user = typeof json.databaseUser === "string" ? json.databaseUser : undefined;
  if (!user && Array.isArray(json.checks)) {
    // agents before `databaseUser` said it only in the database check's detail ("SELECT 1 as <user>")
    const detail = json.checks.find((c) => c.name === "database" && c.ok === true)?.detail;
    user = Object.values(APP_USERS).find((u) => typeof detail === "string" && detail.endsWith(` ${u}`));
  }
  return {
    name,
    answered,
    healthy: isHealthy(r),
    ...(user ? { user } : {}),
    draining: json.draining === true,
    sessions: typeof json.liveSessions === "number" ? json.liveSessions : 0,
    problems: failingChecks(r),
  };
}

function combine(app: PartResult, admin: PartResult): RotationOutcome["outcome"] {
  const outcomes = [app.outcome, admin.outcome];
  if (outcomes.includes("failed")) return "failed";
  if (outcomes.includes("rolled-back")) return "rolled-back";
  if (outcomes.includes("succeeded")) return "succeeded";
  return "skipped";
}

df.app.orchestration(Names.orchestrators.rotateDatabaseCredentials, rotateDatabaseCredentials);
