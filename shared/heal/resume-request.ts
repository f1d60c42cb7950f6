// The body of POST /api/stacks/{name}/heal/resume: what a person lets healing do again. Validated
// with ajv like every other input; an empty body means "release the brake, default duration".
import { bodyFieldErrors } from "../http/body-errors";
import type { ProblemFieldError } from "../http/problem";
import { compiledValidator } from "../validators";

export const RESUME_LIMITS = { maxBodyBytes: 4096, maxJsonDepth: 4 };
export const DEFAULT_OVERRIDE_MINUTES = 60;

export interface ResumeRequest {
  /** a suspended web node (VM name) whose repairs may start again */
  node?: string;
  /** how long the fleet brake stays overridden (default 60 minutes) */
  overrideMinutes?: number;
}

export const RESUME_REQUEST_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    node: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$" },
    overrideMinutes: { type: "integer", minimum: 1, maximum: 1440 },
  },
} as const;

/** RESUME_REQUEST_SCHEMA, compiled ahead of time (shared/validators) */
const validator = compiledValidator<ResumeRequest>("resume-request");

export function validateResumeRequest(
  input: unknown,
): { ok: true; request: ResumeRequest } | { ok: false; errors: ProblemFieldError[] } {
  const validate = validator();
  if (validate(input)) return { ok: true, request: input };
  const errors = bodyFieldErrors(validate.errors ?? [], ["node", "overrideMinutes"]);
  return { ok: false, errors };
}
