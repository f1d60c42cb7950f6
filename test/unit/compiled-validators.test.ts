// The precompiled JSON Schema validators (shared/validators/compiled/) are what ajv makes from the
// schemas today: a schema change without `npm run validators` fails here, not in production.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { compiledValidatorSource, VALIDATORS } from "../../dev/validators";
import type { ValidatorName } from "../../shared/validators";

const COMPILED = path.join(__dirname, "..", "..", "..", "shared", "validators", "compiled");

describe("precompiled validators", () => {
  test("every validator's committed code is what ajv compiles from its schema now", () => {
    const names = Object.keys(VALIDATORS) as ValidatorName[];
    assert.deepEqual(
      fs.readdirSync(COMPILED).sort(),
      names.map((name) => `${name}.ts`).sort(),
      "one compiled file per validator, none left over",
    );
    for (const name of names) {
      const committed = fs.readFileSync(path.join(COMPILED, `${name}.ts`), "utf8");
      assert.ok(
        committed === compiledValidatorSource(name),
        `shared/validators/compiled/${name}.ts is stale: run npm run validators`,
      );
    }
  });
});
