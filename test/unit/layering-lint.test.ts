// The layering and determinism rules are lint rules, not discipline: each rule of eslint.config.mjs is
// broken on purpose here, in a small snippet linted with ESLint's Node API as if it were a file in the
// folder the rule guards, and lint must fail with that rule; the same snippet's lawful form passes.
// The repository's own config is used as it is; only type information is left out (a snippet is no
// file of the TypeScript project, and these rules read syntax, not types).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { findRepoRoot } from "../../emulator/durable";

const ROOT = findRepoRoot();
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: [
    tseslint.configs.disableTypeChecked,
    { languageOptions: { parserOptions: { projectService: false, project: false } } },
  ],
});

interface Case {
  rule: string;
  /** a file that does not exist, in the folder the rule guards */
  file: string;
  broken: string;
  lawful: string;
  /** a word of the rule's message */
  says: RegExp;
}

const CASES: Case[] = [
  {
    rule: "functions/ never imports emulator/",
    file: "functions/http/probe.ts",
    broken: `import { Emulator } from "../../emulator/arm/emulator";\nexport const e = Emulator;\n`,
    lawful: `import { Names } from "../names";\nexport const n = Names;\n`,
    says: /deployed package/,
  },
  {
    rule: "functions/ never imports test/",
    file: "functions/probe.ts",
    broken: `import { TENANT_ID } from "../dev/jumpgate-env";\nexport const t = TENANT_ID;\n`,
    lawful: `import { Names } from "./names";\nexport const n = Names;\n`,
    says: /deployed package/,
  },
  {
    rule: "shared/ never imports dev/",
    file: "shared/node/probe.ts",
    broken: `import { freePort } from "../../dev/servers/ports";\nexport const f = freePort;\n`,
    lawful: `import { APP_USERS } from "./constants";\nexport const u = APP_USERS;\n`,
    says: /deployed package/,
  },
  {
    rule: "shared/ never imports functions/",
    file: "shared/scale/probe.ts",
    broken: `import { Names } from "../../functions/names";\nexport const n = Names;\n`,
    lawful: `import { lowestFreeOrdinal } from "./fleet";\nexport const f = lowestFreeOrdinal;\n`,
    says: /never imports functions\//,
  },
  {
    rule: "activities never import orchestrators",
    file: "functions/activities/probe.ts",
    broken: `import { healStack } from "../orchestrators/heal-stack";\nexport const h = healStack;\n`,
    lawful: `import { services } from "../services";\nexport const s = services;\n`,
    says: /activities never import orchestrators/,
  },
  {
    rule: "activities never import orchestrators (types neither)",
    file: "functions/activities/probe.ts",
    broken: `import type { HealStatus } from "../orchestrators/heal-stack";\nexport type H = HealStatus;\n`,
    lawful: `import type { NodeHealth } from "../../shared/node/model";\nexport type H = NodeHealth;\n`,
    says: /activities never import orchestrators/,
  },
  {
    rule: "HTTP handlers never import activity modules",
    file: "functions/http/probe.ts",
    broken: `import { listWebNodesActivity } from "../activities/nodes";\nexport const l = listWebNodesActivity;\n`,
    lawful: `import { certificateHostname } from "../../shared/graph/names";\nexport const c = certificateHostname;\n`,
    says: /never import activity modules/,
  },
  {
    rule: "timers never import activity modules",
    file: "functions/timers/probe.ts",
    broken: `import { recordCredentialsActivity } from "../activities/rotation";\nexport const r = recordCredentialsActivity;\n`,
    lawful: `import { recordCredentials } from "../credential-store";\nexport const r = recordCredentials;\n`,
    says: /never import activity modules/,
  },
  {
    rule: "orchestrators: no Date.now",
    file: "functions/orchestrators/probe.ts",
    broken: `export const at = () => Date.now();\n`,
    lawful: `export const at = (now: Date) => now.getTime();\n`,
    says: /wall clock/,
  },
  {
    rule: "orchestrators: no new Date()",
    file: "functions/orchestrators/probe.ts",
    broken: `export const at = () => new Date();\n`,
    lawful: `export const at = (iso: string) => new Date(iso);\n`,
    says: /wall clock/,
  },
  {
    rule: "workflow: no Math.random",
    file: "functions/workflow/probe.ts",
    broken: `export const pick = () => Math.random();\n`,
    lawful: `export const pick = (n: number) => Math.floor(n);\n`,
    says: /differs on replay/,
  },
  {
    rule: "workflow: no I/O globals",
    file: "functions/workflow/probe.ts",
    broken: `export const wait = (f: () => void) => setTimeout(f, 10);\n`,
    lawful: `export const wait = (f: () => void) => f();\n`,
    says: /differs on replay/,
  },
  {
    rule: "orchestrators: no fs",
    file: "functions/orchestrators/probe.ts",
    broken: `import * as fs from "node:fs";\nexport const read = () => fs.readFileSync("x");\n`,
    lawful: `import * as df from "durable-functions";\nexport const r = df.RetryOptions;\n`,
    says: /no I\/O/,
  },
  {
    rule: "orchestrators: no child_process",
    file: "functions/orchestrators/probe.ts",
    broken: `import { execFileSync } from "child_process";\nexport const run = () => execFileSync("ls");\n`,
    lawful: `import { failureMessage } from "../workflow/workflow";\nexport const f = failureMessage;\n`,
    says: /no I\/O/,
  },
  {
    rule: "workflow: no net or http",
    file: "functions/workflow/probe.ts",
    broken: `import * as http from "node:http";\nexport const h = http.STATUS_CODES;\n`,
    lawful: `import type { Step } from "./workflow";\nexport type S = Step<void>;\n`,
    says: /no I\/O/,
  },
  {
    rule: "orchestrators: no Azure SDK",
    file: "functions/orchestrators/probe.ts",
    broken: `import { SecretClient } from "@azure/keyvault-secrets";\nexport const c = SecretClient;\n`,
    lawful: `import { Names } from "../names";\nexport const n = Names;\n`,
    says: /Azure SDK/,
  },
  {
    rule: "orchestrators: activity modules by type only",
    file: "functions/orchestrators/probe.ts",
    broken: `import { runNodeAgentActivity } from "../activities/nodes";\nexport const r = runNodeAgentActivity;\n`,
    lawful: `import type { ScaleView } from "../activities/scale";\nexport type V = ScaleView;\n`,
    says: /typed activity map/,
  },
];

const LAYERING = new Set(["no-restricted-imports", "no-restricted-syntax", "no-restricted-globals"]);

async function lint(file: string, code: string) {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result.messages;
}

for (const c of CASES) {
  void test(`lint fails on a broken layering or determinism rule: ${c.rule}`, async () => {
    const broken = await lint(c.file, c.broken);
    const hit = broken.filter((m) => m.ruleId !== null && LAYERING.has(m.ruleId));
    assert.ok(
      hit.some((m) => m.severity === 2 && c.says.test(m.message)),
      `${c.file}: expected an error saying ${c.says}, got ${JSON.stringify(broken.map((m) => [m.ruleId, m.message]))}`,
    );
    const lawful = await lint(c.file, c.lawful);
    assert.deepEqual(
      lawful.filter((m) => m.ruleId === null || LAYERING.has(m.ruleId)).map((m) => m.message),
      [],
      `${c.file}: the lawful form passes`,
    );
  });
}
