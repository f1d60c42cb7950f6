// The body of POST /api/stacks/{name}/rotate/database: which credentials to rotate. Validated with
// ajv like every other input; an empty body rotates the app users' passwords.
import { bodyFieldErrors } from "../http/body-errors";
import type { ProblemFieldError } from "../http/problem";
import { compiledValidator } from "../validators";

export const ROTATE_LIMITS = { maxBodyBytes: 1024, maxJsonDepth: 3 };

export interface RotateRequest {
  /** the Guacamole app users' passwords, by alternating users (default true) */
  appUsers?: boolean;
  /** the MySQL server admin password, through ARM (default false) */
  admin?: boolean;
}

export const ROTATE_REQUEST_SCHEMA = {
  type: "object",
  additionalProperties: false,
  properties: {
    appUsers: { type: "boolean" },
    admin: { type: "boolean" },
  },
} as const;

/** ROTATE_REQUEST_SCHEMA, compiled ahead of time (shared/validators) */
const validator = compiledValidator<RotateRequest>("rotate-request");

export function validateRotateRequest(
  input: unknown,
): { ok: true; request: Required<RotateRequest> } | { ok: false; errors: ProblemFieldError[] } {
  const validate = validator();
  if (!validate(input)) {
    const errors = bodyFieldErrors(validate.errors ?? [], ["appUsers", "admin"]);
    return { ok: false, errors };
  }
  const request = { appUsers: input.appUsers ?? true, admin: input.admin ?? false };
  if (!request.appUsers && !request.admin) {
    return { ok: false, errors: [{ pointer: "", detail: "nothing to rotate: appUsers and admin are both false" }] };
  }
  return { ok: true, request };
}
