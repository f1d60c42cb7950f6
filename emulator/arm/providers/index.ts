// Every resource type the emulator knows.
import type { TypeDefinition } from "../types";
import { AUTHORIZATION_TYPES } from "./authorization";
import { COMPUTE_TYPES } from "./compute";
import { DNS_TYPES } from "./dns";
import { GALLERY_TYPES } from "./gallery";
import { INSIGHTS_TYPES } from "./insights";
import { KEYVAULT_TYPES } from "./keyvault";
import { MANAGED_IDENTITY_TYPES } from "./managed-identity";
import { MYSQL_TYPES } from "./mysql";
import { NETWORK_TYPES } from "./network";
import { RESOURCE_TYPES } from "./resources";
import { RUN_COMMAND_TYPES } from "./run-commands";
import { STORAGE_TYPES } from "./storage";

export const ALL_TYPES: TypeDefinition[] = [
  ...RESOURCE_TYPES,
  ...NETWORK_TYPES,
  ...DNS_TYPES,
  ...MANAGED_IDENTITY_TYPES,
  ...COMPUTE_TYPES,
  ...GALLERY_TYPES,
  ...RUN_COMMAND_TYPES,
  ...MYSQL_TYPES,
  ...KEYVAULT_TYPES,
  ...AUTHORIZATION_TYPES,
  ...INSIGHTS_TYPES,
  ...STORAGE_TYPES,
];
