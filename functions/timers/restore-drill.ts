// Restore drill timer, hourly at :34: starts `drill-<stack>` for each deployed stack whose drill is
// due (once every 30 days in its own hour, by a hash of its name, shared/schedule/spread.ts; a stack
// whose last drill is over 32 days old catches up in its hour of the day). A stack another operation
// holds, or whose drill runs, is skipped and says why.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { restoreDrillDue } from "../../shared/schedule/spread";
import { startRestoreDrill } from "../drill-start";
import { Names } from "../names";
import { services } from "../services";

export interface RestoreDrillTimerResult {
  started: string[];
  skipped: { stack: string; why: string }[];
}

export async function runRestoreDrillTimer(
  client: df.DurableClient,
  now: Date,
  log: (line: string) => void = () => undefined,
): Promise<RestoreDrillTimerResult> {
  const result: RestoreDrillTimerResult = { started: [], skipped: [] };
  for (const record of await services().registry.list()) {
    if (!restoreDrillDue(record.name, now, record.observed?.drill?.startedAt ?? record.createdAt)) continue;
    const start = await startRestoreDrill(client, record, "timer", now);
    if (start.started) result.started.push(record.name);
    else result.skipped.push({ stack: record.name, why: start.why });
  }
  log(`restore drill: started ${result.started.length}, skipped ${result.skipped.length}`);
  return result;
}

export async function restoreDrillTimer(_timer: Timer, context: InvocationContext): Promise<RestoreDrillTimerResult> {
  return runRestoreDrillTimer(df.getClient(context), new Date(), (line) => context.log(line));
}

app.timer(Names.timers.restoreDrill, {
  schedule: "0 34 * * * *",
  extraInputs: [df.input.durableClient()],
  handler: restoreDrillTimer,
});
