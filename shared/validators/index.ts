// The app's JSON Schema validators, compiled ahead of time (ajv standalone code in compiled/, made by
// `npm run validators` from dev/validators.ts; a unit test fails when a schema changed and they were
// not remade). Compiling at run time cost the entry module ~0.3 s of ajv code generation on every
// cold start; the precompiled code loads when a validator is first used.
import { createRequire } from "node:module";
import type { ValidateFunction } from "ajv";

const requireFromHere = createRequire(__filename);

/** The names of the compiled validators: compiled/<name>.ts. */
export type ValidatorName = "stack-spec" | "common-alert" | "rotate-request" | "break-glass-request" | "resume-request";

/** `() => the validator`, its code loaded the first time it is called. */
export function compiledValidator<T = unknown>(name: ValidatorName): () => ValidateFunction<T> {
  let loaded: ValidateFunction<T> | undefined;
  return () => (loaded ??= (requireFromHere(`./compiled/${name}`) as { validate: ValidateFunction<T> }).validate);
}
