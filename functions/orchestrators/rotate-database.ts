// rotateDatabaseCredentials: one per stack at a time (instance id `rotate-db-<stack>`), started by
// POST /api/stacks/{name}/rotate/database or the daily credential check. It rotates the Guacamole
// app users' passwords with AWS Secrets Manager's four steps over two alternating users
// (rotate-app-users.ts), and the MySQL admin password through ARM, with Key Vault labels (tags on
// secret versions) as the state:
//
//   wait for the stack (deploy, heal, scale hold it: durable timers), claim it (kind rotate-database)
//   look: Key Vault state (repair labels a cut-short finish left), the web nodes
//   app users: create, set, test, roll, finish (or roll back)
//   admin (when asked): pending version -> ARM PATCH of the flexible server -> real login -> current
//   record: registry copy of the state + CredentialsRotated condition, release the stack, audit
//
// Resume: every step is idempotent and keyed by Key Vault's labels, not by this instance's memory.
// A run that finds a pending version (its own after a crash, or one a killed run left) finishes it:
// set, test and roll again skip what is already done (a node healthy as the new user is not
// touched). If a rollback can't finish, the pending version stays and the next run (the daily check
// starts one) resolves it: never stuck.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { AdminState } from "../../shared/credentials/rotation-state";
import type { RotationOutcome } from "../../shared/stack-status";
import { Names } from "../names";
import { claimAndWait } from "../workflow/claim";
import { succeeded, whyFailed } from "../workflow/node-steps";
import { worker, type WorkerStatus } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";
import {
  observeAll,
  rotateAppUsers,
  TEST_ATTEMPTS,
  testLogin,
  type PartResult,
  type RotationRun,
} from "./rotate-app-users";

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

export interface RotateDatabaseStatus extends WorkerStatus<"rotate-database", RotatePhase> {
  rotationId: string;
  /** e.g. "guacamole_a -> guacamole_b (version 3f2...)"; names and versions only */
  appUsers?: string;
  admin?: string;
  nodes: RotateNodeStatus[];
  failure?: string;
}

export type RotateDatabaseOutput = RotationOutcome & { resumed: boolean };

/** Looks at a stack someone else holds, before giving up for this run (2 hours at the default 60 s). */
const CLAIM_WAITS = 120;

const AUDIT_WHAT: Record<RotationOutcome["outcome"], string> = {
  succeeded: "database credentials rotated",
  "rolled-back": "database credential rotation rolled back",
  failed: "database credential rotation failed",
  skipped: "database credential rotation skipped",
};

export const rotateDatabaseCredentials: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RotateDatabaseInput>();
  const { stack, rotationId } = input;
  const status: RotateDatabaseStatus = { operation: "rotate-database", stack, rotationId, phase: "loading", nodes: [] };
  const w = worker(context, status, { rotationId });
  const startedAt = w.now().toISOString();
  w.publish();

  const target = yield* w.call("loadRotationTarget", { stack });
  if (!target.registered || !target.spec) return finish("skipped", { line: "the stack is not registered" }, false);
  if (!target.deployed) {
    return finish("skipped", { line: "the stack has not been deployed yet: nothing to rotate" }, false);
  }
  const run: RotationRun = {
    w,
    spec: target.spec,
    rotationId,
    nodes: [],
    pollMs: (input.pollSeconds ?? 15) * 1000,
    verifyMinutes: input.verifyMinutes ?? 5,
  };
  const { spec } = run;

  // ---- the stack: one writer at a time
  const claimed = yield* claimAndWait(w, "claimForRotation", {
    holder: target.operation,
    maxWaits: CLAIM_WAITS,
    retryMs: (input.claimRetrySeconds ?? 60) * 1000,
    who: "the rotation",
  });
  if (claimed.outcome !== "claimed") {
    const line =
      claimed.outcome === "gone"
        ? "the stack was torn down meanwhile"
        : `${claimed.holder.kind} ${claimed.holder.instanceId} held the stack for all of ${CLAIM_WAITS} looks; not rotated this time`;
    const output = finish("skipped", { line }, false);
    if (claimed.outcome === "busy") yield* w.audit(AUDIT_WHAT.skipped, line, { reason: input.reason });
    return output;
  }

  let app: PartResult = { outcome: "none", line: "not asked" };
  let admin: PartResult = { outcome: "none", line: "not asked" };
  let output: RotateDatabaseOutput;
  try {
    try {
      yield* rotate();
    } catch (error) {
      app = { ...app, outcome: "failed", failure: failureMessage(error) };
    }
    const failure = [app.failure, admin.failure].filter((f): f is string => !!f).join("; ") || undefined;
    output = finish(combine(app, admin), { line: "", failure }, !!(app.resumed || admin.resumed));
    // recorded while the stack is still held, so no other writer's record races this one
    const { resumed: _resumed, ...outcome } = output;
    yield* w.call("recordCredentials", { stack, spec, at: w.now().toISOString(), outcome });
  } finally {
    yield* w.call("releaseOperation", { stack, instanceId: w.instanceId });
  }
  yield* w.audit(AUDIT_WHAT[output.outcome], [app.line, admin.line, output.failure].filter(Boolean).join("; "), {
    reason: input.reason ?? "requested",
    appUsers: app.line,
    admin: admin.line,
  });
  return output;

  // ============================================================================== helpers

  function* rotate(): Step<void> {
    status.phase = "checking";
    w.publish();
    let state = yield* w.call("readCredentialState", { spec });
    if (state.staleLabels.length > 0) {
      // a finish that was cut short: put the labels in line before anything else reads them
      yield* w.call("normalizeCredentialLabels", { spec });
      yield* w.audit(
        "credential labels repaired",
        "Key Vault labels disagreed with the credential state (a rotation cut short)",
        {
          changes: state.staleLabels.map((c) => `${c.secret}/${c.version}: ${c.from ?? "none"} -> ${c.to}`),
        },
      );
      state = yield* w.call("readCredentialState", { spec });
    }
    run.nodes = yield* w.call("listWebNodes", { spec });
    status.nodes = run.nodes.map((n) => ({ name: n.name, state: "waiting" }));
    w.publish();
    try {
      app = yield* rotateAppUsers(run, state.app, input.appUsers !== false);
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
    w.clearWait();
    const failure = part.failure ?? (outcome === "skipped" && part.line ? part.line : undefined);
    if (failure) status.failure = failure;
    w.publish();
    const result: RotateDatabaseOutput = {
      instanceId: w.instanceId,
      rotationId,
      outcome,
      startedAt,
      finishedAt: w.now().toISOString(),
      ...(status.appUsers ? { appUsers: status.appUsers } : {}),
      ...(status.admin ? { admin: status.admin } : {}),
      ...(failure ? { failure } : {}),
      resumed,
    };
    return result;
  }

  /** The admin password: pending in Key Vault -> ARM PATCH of the server -> a real login -> current. */
  function* rotateAdmin(s: AdminState): Step<PartResult> {
    let pending = s.pending;
    const resumed = !!pending;
    if (!pending) {
      if (!input.admin) return { outcome: "none", line: "admin: not asked" };
      if (s.current.rotationId === rotationId)
        return { outcome: "succeeded", line: `admin: already rotated by ${rotationId}` };
      status.phase = "admin";
      w.publish();
      pending = yield* w.call("createPendingPassword", { spec, kind: "admin", rotationId });
    } else {
      yield* w.audit(
        "interrupted admin rotation found",
        `version ${pending.version} of ${pending.secret} is pending (rotation ${pending.rotationId ?? "unknown"}); finishing it, or rolling it back`,
        { pendingRotationId: pending.rotationId, version: pending.version },
      );
    }
    const { version } = pending;
    status.phase = "admin";
    status.admin = `admin: version ${s.current.version} -> ${version}${resumed ? ", resumed" : ""}`;
    w.publish();
    const via = (yield* observeAll(run)).find((v) => v.answered);
    if (!via) {
      const failure = "no node's agent answers to test a login with the new admin password";
      return { outcome: "failed", line: `admin: version ${version} stays pending`, failure, resumed };
    }
    const login = (v: string, attempts: number) => testLogin(run, via.name, "admin", v, attempts);

    // the server may have it already (a resumed rotation whose ARM update went through)
    let tested = yield* login(version, 1);
    let applyError: string | undefined;
    if (!succeeded(tested)) {
      try {
        yield* w.call("applyAdminPassword", { spec, version });
      } catch (error) {
        applyError = failureMessage(error);
      }
      tested = yield* login(version, TEST_ATTEMPTS);
    }
    if (succeeded(tested)) {
      yield* w.call("finishRotation", { spec, kind: "admin", version, at: w.now().toISOString() });
      return { outcome: "succeeded", line: `admin: version ${version} is current, tested by a real login`, resumed };
    }
    const reason = `the new admin password does not log in${applyError ? ` (ARM update: ${applyError})` : ""}: ${whyFailed(tested)}`;
    if (succeeded(yield* login(s.current.version, 1))) {
      yield* w.call("abandonPending", { spec, kind: "admin", version, reason });
      const line = `admin: version ${version} rolled back; the server keeps version ${s.current.version}`;
      return { outcome: "rolled-back", line, failure: reason, resumed };
    }
    const line = `admin: neither version ${version} nor ${s.current.version} logs in; version ${version} stays pending for the next run`;
    return { outcome: "failed", line, failure: reason, resumed };
  }
};

function combine(app: PartResult, admin: PartResult): RotationOutcome["outcome"] {
  const outcomes = [app.outcome, admin.outcome];
  if (outcomes.includes("failed")) return "failed";
  if (outcomes.includes("rolled-back")) return "rolled-back";
  if (outcomes.includes("succeeded")) return "succeeded";
  return "skipped";
}

df.app.orchestration(Names.orchestrators.rotateDatabaseCredentials, rotateDatabaseCredentials);
