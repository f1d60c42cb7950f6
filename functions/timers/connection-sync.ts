// Connection sync timer, every 5 minutes (a minute before the drift check's slots): starts
// `connections-<stack>` for every deployed stack with a `connections` section that no other
// operation holds. An unchanged inventory costs each stack its Resource Graph pages and Key Vault
// reads, and no Run Command, SQL or Table write (see the orchestration).
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { startConnectionSync } from "../connection-wake";
import { Names } from "../names";
import { services } from "../services";

export interface ConnectionTimerResult {
  started: string[];
  skipped: { stack: string; why: string }[];
}

export async function runConnectionTimer(
  client: df.DurableClient,
  now: Date,
  log: (line: string) => void = () => undefined,
): Promise<ConnectionTimerResult> {
  const result: ConnectionTimerResult = { started: [], skipped: [] };
  for (const record of await services().registry.list()) {
    if (!record.spec.connections) continue;
    const start = await startConnectionSync(client, record, { trigger: "timer" }, now);
    if (start.started) result.started.push(record.name);
    else result.skipped.push({ stack: record.name, why: start.why });
  }
  log(`connection sync: started ${result.started.length}, skipped ${result.skipped.length}`);
  return result;
}

export async function connectionTimer(_timer: Timer, context: InvocationContext): Promise<ConnectionTimerResult> {
  return runConnectionTimer(df.getClient(context), new Date(), (line) => context.log(line));
}

app.timer(Names.timers.connectionSync, {
  schedule: "0 1-59/5 * * * *",
  extraInputs: [df.input.durableClient()],
  handler: connectionTimer,
});
