// Jumpgate's table store: the stack registry and the audit trail, in the Function App's own storage
// account (Azurite locally). Build one StoreTables per process and hand it to both.
export {
  StoreTables,
  TABLE_SUFFIXES,
  storeCredential,
  type StoreCallOptions,
  type StoreTablesOptions,
  type TableKind,
} from "./tables";
export {
  storeAccessFromEnv,
  storeSettingsFromEnv,
  validateStoreSettings,
  type StoreAccess,
  type StoreConnectionStringAccess,
  type StoreCredentialKind,
  type StoreIdentityAccess,
  type StoreSettings,
} from "./settings";
export {
  StackRegistry,
  OPERATION_KINDS,
  STACK_DOCUMENT_LIMITS,
  type OperationKind,
  type StackOperation,
  type ConditionStatus,
  type StackConditionInput,
  type StackCondition,
  type StackRecord,
  type StackRegistryOptions,
  type PutDesiredOptions,
  type PutDesiredResult,
  type ClaimOptions,
  type ClaimResult,
  type PutObservedOptions,
  type PutObservedResult,
  type SetOperationOptions,
  type SetOperationResult,
  type DeleteStackOptions,
  type DeleteStackResult,
  type ListStacksOptions,
  type EtagMismatch,
} from "./registry";
export {
  AuditLog,
  AUDIT_LIMITS,
  type AuditEvent,
  type AuditOperationKind,
  type AuditEventInput,
  type AuditLogOptions,
  type RecentEventsOptions,
} from "./audit";
export { StackNotFoundError, StoreContentionError, StoreCorruptionError, StoreLimitError } from "./errors";
export { MAX_ENTITY_BYTES, MAX_PROPERTY_CHARS } from "./json-columns";
export { AlertInbox, IGNORED_PARTITION, type InboxEntry, type PendingOptions } from "./alert-inbox";
export { RepairLedger, MAX_ATTEMPTS } from "./repair-ledger";
export {
  FleetStateStore,
  FLEET_HISTORY_LIMIT,
  type FleetState,
  type FleetChange,
  type FleetMembersInput,
  type FleetMode as FleetStateMode,
} from "./fleet-state";
export { CertificateLedger } from "./certificate-ledger";
export { ConnectionLedger, emptySummary, type ConnectionRow, type ConnectionSyncSummary } from "./connection-ledger";
