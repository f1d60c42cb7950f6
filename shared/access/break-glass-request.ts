// The body of POST /api/stacks/{name}/break-glass: how long guacadmin stays enabled. Validated with
// ajv like every other input; the upper bound is the stack's access.breakGlass.maxMinutes.
import { bodyFieldErrors } from "../http/body-errors";
import type { ProblemFieldError } from "../http/problem";
import { compiledValidator } from "../validators";

export const BREAK_GLASS_LIMITS = { maxBodyBytes: 1024, maxJsonDepth: 3 };

/** The window when the body names none. */
export const DEFAULT_BREAK_GLASS_MINUTES = 60;

export const BREAK_GLASS_REQUEST_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    minutes: {
      type: "integer",
      minimum: 1,
      maximum: 1440,
      description: `How long guacadmin stays enabled (default ${DEFAULT_BREAK_GLASS_MINUTES}); at most the stack's access.breakGlass.maxMinutes.`,
    },
    reason: {
      type: "string",
      maxLength: 200,
      pattern: "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
      description: "Why, for the audit trail (no control characters).",
    },
  },
} as const;

export interface BreakGlassRequest {
  minutes: number;
  reason?: string;
}

/** BREAK_GLASS_REQUEST_SCHEMA, compiled ahead of time (shared/validators) */
const validator = compiledValidator<{ minutes?: number; reason?: string }>("break-glass-request");

export function validateBreakGlassRequest(
  input: unknown,
  maxMinutes: number,
): { ok: true; request: BreakGlassRequest } | { ok: false; errors: ProblemFieldError[] } {
  const validate = validator();
  if (!validate(input)) return { ok: false, errors: bodyFieldErrors(validate.errors ?? [], ["minutes", "reason"]) };
  const minutes = input.minutes ?? Math.min(DEFAULT_BREAK_GLASS_MINUTES, maxMinutes);
  if (minutes > maxMinutes) {
    return {
      ok: false,
      errors: [
        {
          pointer: "/minutes",
          detail: `minutes ${minutes} is above this stack's access.breakGlass.maxMinutes ${maxMinutes}; ask for ${maxMinutes} or less, or raise the bound in the spec`,
        },
      ],
    };
  }
  return { ok: true, request: { minutes, ...(input.reason !== undefined ? { reason: input.reason } : {}) } };
}
