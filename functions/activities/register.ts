// Registers every activity of the map with the Functions host (imported once, by functions/index.ts).
import * as df from "durable-functions";
import { activities } from "./map";

/** Activities that start an orchestration themselves: they get the durable client input binding. */
const STARTERS: ReadonlySet<string> = new Set<keyof typeof activities>(["startNodeImageBuild", "lookAtUpgradeImage"]);

for (const [name, handler] of Object.entries(activities)) {
  df.app.activity(name, { handler, ...(STARTERS.has(name) ? { extraInputs: [df.input.durableClient()] } : {}) });
}
