// breakGlass: the local guacadmin for a bounded time, while sign-in with Entra ID keeps it disabled.
// One instance per stack (`break-glass-<stack>`), Acmebot style: a thin orchestrator over small
// activities (a Key Vault version, one agent command each, a registry record, an audit event).
//
//   open    claim -> guacadmin's password set to the version the request made (handed to the one
//           agent command as a protected parameter) -> enabled -> recorded and audited -> release
//           the claim (nothing else is blocked while the window is open; a deploy leaves guacadmin
//           alone until `until`) -> wait for the deadline or a close request -> close
//   close   claim (waiting while another operation holds the stack) -> disabled -> a new random
//           password (the one handed out no longer works) -> recorded and audited -> release
//   rotate  the close's steps on their own: the daily credential check runs it when the password is
//           older than access.breakGlass.passwordMaxAgeDays, or when a window was left open
//
// Waiting follows the timer rule of graph-runner.ts: the deadline timer that loses to a close
// request is never cancelled (it fires later into a task nobody waits for). Deterministic: time and
// ids from the orchestration, every side effect an activity.
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { guacadminResultOf } from "../../shared/node/agent";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import type { RecordAccessInput } from "../activities/access";
import { Names } from "../names";
import { claimAndWait } from "../workflow/claim";
import { jsonDocumentOf, runAgent } from "../workflow/node-steps";
import { worker, type WorkerStatus } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";

/** The external event a close request raises. */
export const BREAK_GLASS_CLOSE_EVENT = "close";

export interface BreakGlassInput {
  stack: string;
  action: "open" | "rotate";
  /** open: how long, and the password version the request made (its name is guacadmin-password) */
  minutes?: number;
  version?: string;
  /** when the request (or the daily check) asked, by the wall clock: each run's key for its Key Vault versions */
  requestedAt?: string;
  reason?: string;
  /** seconds between looks while another operation holds the stack (default 120) */
  claimPollSeconds?: number;
}

export interface BreakGlassStatus extends WorkerStatus<
  "break-glass",
  "opening" | "open" | "waiting-for-stack" | "closing" | "closed" | "rotated" | "failed"
> {
  action: "open" | "rotate";
  /** the password handed out (names and versions only) */
  secret?: { name: string; version: string };
  openedAt?: string;
  until?: string;
  closedBy?: "timer" | "request";
  failure?: string;
}

/** How long a close waits for the stack at most; a window left open is closed by the daily check. */
const MAX_CLAIM_WAIT_MS = 12 * 3_600_000;

export const breakGlass: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<BreakGlassInput>();
  const { stack } = input;
  const w = worker<BreakGlassStatus>(context, {
    operation: "break-glass",
    stack,
    action: input.action,
    phase: input.action === "open" ? "opening" : "closing",
  });
  const { status, instanceId } = w;
  const publish = () => w.publish();
  const now = () => w.now();
  publish();

  const audit = (what: string, why: string, details: Record<string, unknown>) => w.audit(what, why, details);
  const record = (data: Omit<RecordAccessInput, "stack">) => w.call("recordAccess", { stack, ...data });
  const release = () => w.call("releaseOperation", { stack, instanceId });

  /** One guacadmin command on the first web node that answers. */
  const guacadmin = function* (spec: StackSpec, args: string[]): Step<ReturnType<typeof guacadminResultOf>> {
    const nodes = yield* w.call("listWebNodes", { spec });
    let last: AgentCommandResult | undefined;
    for (const node of nodes) {
      last = yield* runAgent(w, spec, node.name, "guacadmin", args);
      if (!last.reachable) continue;
      const document = jsonDocumentOf(last);
      if (!document) {
        throw new Error(`guacadmin ${args[0]} on ${node.name} failed: ${last.stderr ?? `exit ${last.exitCode}`}`);
      }
      return guacadminResultOf(document);
    }
    throw new Error(`guacadmin ${args[0]}: no web node answered${last?.error ? ` (${last.error})` : ""}`);
  };

  /** Claims the stack, waiting while another operation holds it; the spec as it is now, or undefined when gone. */
  const claim = function* (): Step<StackSpec | undefined> {
    const retryMs = (input.claimPollSeconds ?? 120) * 1000;
    const claimed = yield* claimAndWait(w, "claimForBreakGlass", {
      holder: undefined,
      maxWaits: Math.floor(MAX_CLAIM_WAIT_MS / retryMs),
      retryMs,
      who: "break-glass",
    });
    if (claimed.outcome === "gone") return undefined;
    if (claimed.outcome === "busy") {
      throw new Error(`the stack stayed busy (${claimed.holder.kind} ${claimed.holder.instanceId}) for 12 hours`);
    }
    return (yield* w.call("loadAccessTarget", { stack })).spec;
  };

  /** Disabled (while access is set) and a new password nobody was handed: the end of every window. */
  const closeOrRotate = function* (closedBy?: "timer" | "request"): Step<void> {
    status.phase = "closing";
    publish();
    const spec = yield* claim();
    if (!spec) return;
    try {
      status.phase = "closing";
      publish();
      const at = now().toISOString();
      let disabled = false;
      if (spec.access) disabled = (yield* guacadmin(spec, ["disable"])).disabled;
      const made = yield* w.call("newGuacadminPassword", {
        spec,
        // unique per run (a singleton id runs again), the same on a retry or replay of this one
        requestId: `${instanceId}:${input.requestedAt ?? w.guid(instanceId)}:after`,
      });
      yield* guacadmin(spec, ["set-password", "--version", made.version]);
      const opened = status.openedAt;
      yield* record({
        guacadmin: {
          disabled,
          since: at,
          password: { secret: SECRET_NAMES.guacadminPassword, version: made.version, since: at },
          ...(closedBy && opened ? { lastBreakGlass: { openedAt: opened, closedAt: at, instanceId, closedBy } } : {}),
        },
        closeBreakGlass: true,
      });
      if (closedBy) {
        yield* audit("break-glass closed", closedBy === "timer" ? "the window ended" : "closed on request", {
          user: "guacadmin",
          disabled,
          closedBy,
          secret: SECRET_NAMES.guacadminPassword,
          version: made.version,
        });
      } else {
        yield* audit("guacadmin password rotated", input.reason ?? "scheduled", {
          user: "guacadmin",
          disabled,
          secret: SECRET_NAMES.guacadminPassword,
          version: made.version,
        });
      }
      status.phase = closedBy ? "closed" : "rotated";
      status.closedBy = closedBy;
      publish();
    } finally {
      yield* release();
    }
  };

  try {
    if (input.action === "rotate") {
      yield* closeOrRotate();
      return status;
    }
    const version = input.version;
    if (!version || !input.minutes) throw new Error("break-glass open needs minutes and the password version");
    status.secret = { name: SECRET_NAMES.guacadminPassword, version };
    publish();
    const spec = yield* claim();
    if (!spec) return status;
    let until: string;
    try {
      if (!spec.access)
        throw new Error("the stack has no access section: guacadmin is not disabled, there is no glass to break");
      yield* guacadmin(spec, ["set-password", "--version", version]);
      yield* guacadmin(spec, ["enable"]);
      const openedAt = now();
      until = new Date(openedAt.getTime() + input.minutes * 60_000).toISOString();
      status.openedAt = openedAt.toISOString();
      status.until = until;
      yield* record({
        guacadmin: {
          disabled: false,
          since: status.openedAt,
          password: { secret: SECRET_NAMES.guacadminPassword, version, since: status.openedAt },
          breakGlass: { openedAt: status.openedAt, until, instanceId, secret: SECRET_NAMES.guacadminPassword, version },
        },
      });
      yield* audit("break-glass opened", input.reason ?? "requested", {
        user: "guacadmin",
        minutes: input.minutes,
        until,
        secret: SECRET_NAMES.guacadminPassword,
        version,
      });
      status.phase = "open";
      publish();
    } finally {
      // nothing else waits for the window: deploys leave guacadmin alone until `until`
      yield* release();
    }

    // the deadline or a close request, whichever comes first (the losing timer is not cancelled)
    const woke = yield* w.sleepOrWake(new Date(until), BREAK_GLASS_CLOSE_EVENT);
    yield* closeOrRotate(woke.woken ? "request" : "timer");
    return status;
  } catch (error) {
    status.phase = "failed";
    status.failure = failureMessage(error);
    publish();
    yield* audit(`break-glass ${input.action} failed`, status.failure, { user: "guacadmin" });
    throw error;
  }
};

df.app.orchestration(Names.orchestrators.breakGlass, breakGlass);
