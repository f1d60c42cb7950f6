// Regenerates local.settings.sample.json from shared/config.ts (run after `npm run build`), so the
// sample always lists exactly the settings the code reads. A unit test fails when they drift.
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { SETTINGS, HOST_SETTINGS } = require("../dist/shared/config.js");

const values = {};
const help = {};
for (const s of [...HOST_SETTINGS, ...Object.values(SETTINGS)]) {
  values[s.name] = s.sample ?? s.default ?? "";
  help[s.name] = s.description;
}
const sample = { IsEncrypted: false, Values: values, Comments: help };
writeFileSync("local.settings.sample.json", JSON.stringify(sample, null, 2) + "\n");
console.log(`wrote local.settings.sample.json (${Object.keys(values).length} settings)`);
