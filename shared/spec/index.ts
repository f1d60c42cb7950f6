// The stack spec: its JSON Schema, the types derived from it, and its validation.
export { STACK_NAME_PATTERN, STACK_SPEC_SCHEMA } from "./schema";
export type { FleetMode, StackSpec, StackSpecInput } from "./types";
export {
  STACK_SPEC_LIMITS,
  parseStackSpecBody,
  validateStackSpec,
  type SpecError,
  type StackSpecValidation,
} from "./validate";
