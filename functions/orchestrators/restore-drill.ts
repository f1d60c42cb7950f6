// The restore drill `drill-<stack>`: proves the flexible server's backups restore into a database
// Guacamole can serve from. Restore the live server's latest restore point to ONE temporary server,
// have a web node's agent log in to it as Guacamole's app user and read Guacamole's tables back,
// delete the temporary server whatever happened, and record the result (status, condition, audit).
// The live server is only read. A failure is the drill's result, not the orchestration's: it ends
// Completed with outcome "failed" and the reason, and the condition RestoreDrill says why.
// Deterministic: every read and write is an activity; the start time (part of the server's name)
// is the orchestration's.
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";
import type { DrillCheck, StartedRestore } from "../../shared/drill/restore-drill";
import { drillCheckOf, judgeDrillCheck } from "../../shared/drill/restore-drill";
import type { DrillObserved } from "../../shared/stack-status";
import { Names } from "../names";
import { failureMessage, workflow } from "../workflow/workflow";

export interface RestoreDrillInput {
  stack: string;
  trigger: "timer" | "request";
}

export type RestoreDrillOutput = DrillObserved | { outcome: "nothing"; reason: string };

/** How often a running restore is looked at, and how long it may take (Azure gives no figure). */
const RESTORE_POLL_MS = 30_000;
const RESTORE_DEADLINE_MS = 120 * 60_000;

/** A failed step: the condition's reason and one line for people. */
class DrillFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export const restoreDrillOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RestoreDrillInput>();
  const wf = workflow(context);
  const operation = { kind: "restore-drill" as const, instanceId: wf.instanceId };
  const target = yield* wf.call("loadAccessTarget", { stack: input.stack });
  if (!target.spec) return { outcome: "nothing", reason: "the stack is not registered" } satisfies RestoreDrillOutput;
  const spec = target.spec;
  const startedAt = wf.now().toISOString();
  const status: { operation: "restore-drill"; stack: string; phase: string; server?: string; node?: string } = {
    operation: "restore-drill",
    stack: spec.name,
    phase: "restore",
  };
  const phase = (name: string) => {
    status.phase = name;
    context.df.setCustomStatus(status);
  };
  phase("restore");

  let started: StartedRestore | undefined;
  let server: { name: string; fqdn: string; restorePointInTime: string } | undefined;
  let check: DrillCheck | undefined;
  let node: string | undefined;
  let failure: { reason: string; message: string } | undefined;
  try {
    const nodes = yield* wf.call("listWebNodes", { spec });
    if (nodes.length === 0) throw new DrillFailure("NoWebNode", "the stack has no web node to check the restore from");
    try {
      // once: a restore that fails is the drill's finding, and each attempt is a new server's minutes
      started = yield* wf.callOnce("restoreDrillServer", { spec, instanceId: wf.instanceId, startedAt });
    } catch (error) {
      throw new DrillFailure(
        "RestoreFailed",
        `the restore of the latest restore point failed: ${failureMessage(error)}`,
      );
    }
    status.server = started.name;
    phase("restoring");
    // a restore outlasts one function run: polled between durable timers, up to a deadline
    const deadline = wf.after(RESTORE_DEADLINE_MS);
    let fqdn = started.fqdn;
    while (!fqdn) {
      yield* wf.sleep(wf.after(RESTORE_POLL_MS));
      const progress = yield* wf.call("pollDrillRestore", {
        spec,
        restore: { name: started.name, ...(started.operation ? { operation: started.operation } : {}) },
      });
      if (progress.state === "failed")
        throw new DrillFailure("RestoreFailed", `the restore of the latest restore point failed: ${progress.message}`);
      if (progress.state === "ready") fqdn = progress.fqdn;
      else if (wf.now() >= deadline)
        throw new DrillFailure(
          "RestoreFailed",
          `the restore did not finish within ${RESTORE_DEADLINE_MS / 60_000} minutes; the temporary server is deleted`,
        );
    }
    server = { name: started.name, fqdn, restorePointInTime: started.restorePointInTime };
    status.server = server.name;
    phase("check");
    const unreachable: string[] = [];
    for (const candidate of nodes) {
      const result = yield* wf.call("runNodeAgent", {
        subscriptionId: spec.subscriptionId,
        resourceGroup: spec.resourceGroup,
        vmName: candidate.name,
        command: "drill-check",
        args: ["--host", server.fqdn],
        stack: spec.name,
      });
      if (!result.reachable) {
        unreachable.push(candidate.name);
        continue;
      }
      node = candidate.name;
      status.node = node;
      check = drillCheckOf(result.exitCode === 0 ? result.json : undefined);
      if (!check) {
        const said = (result.stderr ?? result.error ?? "").trim().split("\n").pop() ?? "";
        throw new DrillFailure(
          "CheckFailed",
          `drill-check on ${candidate.name} failed (exit ${result.exitCode ?? "?"}): ${said.replace(/^jumpgate-node: (error: )?/, "")}`.slice(
            0,
            500,
          ),
        );
      }
      const verdict = judgeDrillCheck(check);
      if (!verdict.ok)
        throw new DrillFailure(verdict.reason, `the restored server did not read back: ${verdict.message}`);
      break;
    }
    if (!check)
      throw new DrillFailure("NoWebNode", `no web node answered to run the check (${unreachable.join(", ")})`);
  } catch (error) {
    failure =
      error instanceof DrillFailure
        ? { reason: error.reason, message: error.message.slice(0, 500) }
        : { reason: "DrillFailed", message: failureMessage(error) };
  }

  // always: the temporary server (and any an earlier drill left) goes, also after a failure
  phase("cleanup");
  const cleanup: DrillObserved["cleanup"] = { deleted: [] };
  try {
    cleanup.deleted = (yield* wf.call("deleteDrillServers", { spec, instanceId: wf.instanceId })).deleted;
  } catch (error) {
    cleanup.failure = failureMessage(error);
    failure ??= {
      reason: "CleanupFailed",
      message: `the temporary server could not be deleted: ${cleanup.failure}`,
    };
  }

  phase("record");
  const drill: DrillObserved = {
    instanceId: wf.instanceId,
    trigger: input.trigger,
    outcome: failure ? "failed" : "succeeded",
    startedAt,
    finishedAt: wf.now().toISOString(),
    ...(started ? { server: started.name, restorePointInTime: started.restorePointInTime } : {}),
    ...(node ? { node } : {}),
    ...(check ? { tables: check.tables } : {}),
    ...(failure ? { failure } : {}),
    cleanup,
  };
  yield* wf.call("recordDrill", { stack: spec.name, drill });
  yield* wf.call("appendAudit", {
    stack: spec.name,
    what: failure ? "restore drill failed" : "restore drill succeeded",
    why: failure
      ? `${failure.reason}: ${failure.message}`
      : `the latest restore point (${drill.restorePointInTime ?? "?"}) restored to ${drill.server ?? "?"} and Guacamole's tables read back through ${node ?? "?"}`,
    operation,
    details: {
      trigger: input.trigger,
      server: drill.server ?? null,
      restorePointInTime: drill.restorePointInTime ?? null,
      node: node ?? null,
      tables: drill.tables ?? null,
      deleted: cleanup.deleted,
      ...(cleanup.failure ? { cleanupFailure: cleanup.failure } : {}),
    },
  });
  phase("done");
  return drill satisfies RestoreDrillOutput;
};

df.app.orchestration(Names.orchestrators.restoreDrill, restoreDrillOrchestrator);
