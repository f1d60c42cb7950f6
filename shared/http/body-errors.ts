// ajv's errors for the small request bodies (heal resume, database rotation) as RFC 9457 field
// errors: one per problem, each with its JSON pointer; an unknown field names the fields allowed.
import type { ErrorObject } from "ajv/dist/2020";
import type { ProblemFieldError } from "./problem";

export function bodyFieldErrors(errors: readonly ErrorObject[], allowed: readonly string[]): ProblemFieldError[] {
  return errors.map((e) => {
    const unknown = e.keyword === "additionalProperties";
    const pointer = unknown
      ? `${e.instancePath}/${String((e.params as { additionalProperty: string }).additionalProperty)}`
      : e.instancePath;
    const detail = unknown
      ? `unknown field; the body may hold only ${allowed.map((f) => `"${f}"`).join(" and ")}`
      : `${pointer ? pointer.slice(1) : "the body"} ${e.message ?? "is invalid"}`;
    return { pointer, detail };
  });
}
