// The restore drill's activities: the temporary server restored from the live one's backups, its
// deletion (with any an earlier drill left), and the result in the stack's status. The check itself
// is the node agent's `drill-check`, run through runNodeAgent like every other agent command.
import {
  beginRestoreToDrillServer,
  deleteDrillServers,
  pollDrillRestore,
  type DrillTarget,
  type RestoreProgress,
  type StartedRestore,
} from "../../shared/drill/restore-drill";
import type { StackSpec } from "../../shared/spec/types";
import type { DrillObserved, StackObserved } from "../../shared/stack-status";
import { StackNotFoundError } from "../../shared/store";
import { services } from "../services";

export async function restoreDrillServerActivity(input: DrillTarget): Promise<StartedRestore> {
  return beginRestoreToDrillServer(services().factory, input);
}

export interface PollDrillRestoreInput {
  spec: StackSpec;
  restore: Pick<StartedRestore, "name" | "operation">;
}

export async function pollDrillRestoreActivity(input: PollDrillRestoreInput): Promise<RestoreProgress> {
  return pollDrillRestore(services().factory, input.spec, input.restore);
}

export async function deleteDrillServersActivity(
  input: Pick<DrillTarget, "spec" | "instanceId">,
): Promise<{ deleted: string[] }> {
  return { deleted: await deleteDrillServers(services().factory, input) };
}

/** The tables whose rows the condition's message counts (all of them are in observed.drill.tables). */
const SUMMARY_TABLES = ["guacamole_entity", "guacamole_user", "guacamole_user_group", "guacamole_connection"];

/** The condition a drill leaves on the stack: True after a drill that read Guacamole's tables back. */
export const RESTORE_DRILL_CONDITION = "RestoreDrill";

export interface RecordDrillInput {
  stack: string;
  drill: DrillObserved;
}

/** The drill's result in the stack's status (`observed.drill`) and its condition; a stack torn down meanwhile is fine. */
export async function recordDrillActivity(input: RecordDrillInput): Promise<void> {
  const { registry } = services();
  const { drill } = input;
  try {
    await registry.updateObserved(input.stack, (stored: StackObserved | undefined) => ({
      generation: 0,
      resources: [],
      nodes: [],
      ...stored,
      drill,
    }));
    await registry.setConditions(input.stack, [
      drill.outcome === "succeeded"
        ? {
            type: RESTORE_DRILL_CONDITION,
            status: "True",
            reason: "RestoredAndRead",
            message: `the restore point ${drill.restorePointInTime ?? "?"} was restored to ${drill.server ?? "a temporary server"} and Guacamole's tables read back through ${drill.node ?? "a web node"} (${SUMMARY_TABLES.map(
              (t) => `${t.replace(/^guacamole_/, "")} ${drill.tables?.[t] ?? "?"}`,
            ).join(", ")})`,
          }
        : {
            type: RESTORE_DRILL_CONDITION,
            status: "False",
            reason: drill.failure?.reason ?? "DrillFailed",
            message: drill.failure?.message ?? "the restore drill failed",
          },
    ]);
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
}
