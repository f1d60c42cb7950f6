// `npm run validators`: writes the precompiled JSON Schema validators (shared/validators/compiled/).
import * as fs from "node:fs";
import * as path from "node:path";
import { compiledValidatorSource, VALIDATORS } from "../dev/validators";
import type { ValidatorName } from "../shared/validators";

const dir = path.join(__dirname, "..", "..", "shared", "validators", "compiled");
for (const name of Object.keys(VALIDATORS) as ValidatorName[]) {
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(file, compiledValidatorSource(name));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
