// Types derived from the schema: `StackSpec` is what the code sees after validation (defaults
// applied), `StackSpecInput` is what a user may send.
import type { FromSchema } from "json-schema-to-ts";
import type { STACK_SPEC_SCHEMA } from "./schema";

type Schema = typeof STACK_SPEC_SCHEMA;

export type StackSpec = FromSchema<Schema, { keepDefaultedPropertiesOptional: false }>;
export type StackSpecInput = FromSchema<Schema, { keepDefaultedPropertiesOptional: true }>;
export type FleetMode = StackSpec["fleet"]["mode"];
