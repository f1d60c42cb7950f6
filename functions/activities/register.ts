// Registers every activity of the map with the Functions host (imported once, by functions/index.ts).
import * as df from "durable-functions";
import { activities } from "./map";

for (const [name, handler] of Object.entries(activities)) df.app.activity(name, { handler });
