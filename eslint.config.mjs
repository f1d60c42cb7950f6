// Lint: typescript-eslint's recommended type-aware rules, plus the ones that catch real bugs in async code,
// and the layering and determinism rules (test/unit/layering-lint.test.ts breaks each one on purpose).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

// ---------------------------------------------------------------------------------------- layering
// Each rule is a pattern on the import's source text (the app's own modules are relative paths). A
// file gets every pattern of every layer it is in (flat config replaces a rule's options per file, so
// each files block below lists its whole set).

/** functions/ and shared/ are the deployed package: they never reach into the tools around it. */
const notOutsideTheApp = {
  regex: String.raw`^\.{1,2}/(.*/)?(emulator|test|dev)(/|$)`,
  message: "functions/ and shared/ are the deployed package: they never import emulator/, test/ or dev/.",
};
/** shared/ is the domain: it knows nothing of the Functions app. */
const notFunctions = {
  regex: String.raw`^\.{1,2}/(.*/)?functions(/|$)`,
  message: "shared/ is the domain: it never imports functions/ (move what both need into shared/).",
};
/** Activities do the I/O orchestrators ask for; they never reach back into an orchestration. */
const notOrchestrators = {
  regex: String.raw`^\.{1,2}/(.*/)?orchestrators(/|$)`,
  message: "activities never import orchestrators (move what both need into shared/).",
};
/** Triggers (HTTP handlers, timers) start and read operations; activity modules are not theirs to import. */
const notActivities = {
  regex: String.raw`^\.{1,2}/(.*/)?activities(/|$)`,
  message: "HTTP handlers and timers never import activity modules: use shared/ or a functions/ service module.",
};
/** Orchestrations replay: no I/O of their own (the Node I/O modules, the Azure SDK, the app's I/O modules). */
const noIo = [
  {
    regex: String.raw`^(node:)?(fs|fs/promises|net|http|https|http2|child_process|dgram|dns|tls|crypto|timers|timers/promises|worker_threads)$`,
    message: "orchestrators and functions/workflow/ replay: no I/O, no randomness; do it in an activity.",
  },
  {
    regex: String.raw`^@azure/`,
    message: "orchestrators and functions/workflow/ replay: the Azure SDK is called from activities only.",
  },
  {
    regex: String.raw`^\.{1,2}/(.*/)?(activities|services)(/|$)`,
    allowTypeImports: true,
    message:
      "orchestrators and functions/workflow/ call activities by name (the typed activity map); import their types only.",
  },
];
const restrictImports = (...patterns) => ["error", { patterns }];

/** Replay-safe time and no randomness: the orchestration's clock and GUIDs (functions/workflow/workflow.ts). */
const deterministic = {
  "no-restricted-syntax": [
    "error",
    {
      selector: "NewExpression[callee.name='Date'][arguments.length=0]",
      message: "new Date() reads the wall clock, which differs on replay: use the orchestration's now().",
    },
    {
      selector: "MemberExpression[object.name='Date'][property.name='now']",
      message: "Date.now reads the wall clock, which differs on replay: use the orchestration's now().",
    },
    {
      selector: "MemberExpression[object.name='Math'][property.name='random']",
      message: "Math.random differs on replay: use the orchestration's guid(), or decide in an activity.",
    },
  ],
  "no-restricted-globals": [
    "error",
    ...["fetch", "setTimeout", "setInterval", "setImmediate", "queueMicrotask", "crypto", "performance", "process"].map(
      (name) => ({ name, message: `${name} is I/O, time or randomness that differs on replay: do it in an activity.` }),
    ),
  ],
};

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "**/*.mjs", "**/*.js", "shared/validators/compiled/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-explicit-any": "error",
      "no-console": ["error", { allow: ["warn", "error"] }],
    },
  },
  {
    files: ["test/**/*.ts", "emulator/cli.ts", "scripts/**/*.ts"],
    rules: {
      "no-console": "off",
      // node:test's test()/describe() return promises the runner itself awaits
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] },
          ],
        },
      ],
    },
  },
  // layering
  { files: ["functions/**/*.ts"], rules: { "no-restricted-imports": restrictImports(notOutsideTheApp) } },
  { files: ["shared/**/*.ts"], rules: { "no-restricted-imports": restrictImports(notOutsideTheApp, notFunctions) } },
  {
    files: ["functions/activities/**/*.ts"],
    rules: { "no-restricted-imports": restrictImports(notOutsideTheApp, notOrchestrators) },
  },
  {
    files: ["functions/http/**/*.ts", "functions/timers/**/*.ts"],
    rules: { "no-restricted-imports": restrictImports(notOutsideTheApp, notActivities) },
  },
  // determinism
  {
    files: ["functions/orchestrators/**/*.ts", "functions/workflow/**/*.ts"],
    rules: { "no-restricted-imports": restrictImports(notOutsideTheApp, ...noIo), ...deterministic },
  },
);
