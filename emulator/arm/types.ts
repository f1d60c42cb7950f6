// Shared types of the Azure emulator: stored documents, per-type definitions and their hooks.
import type { Emulator } from "./emulator";

export type Json = Record<string, unknown>;

/** An ARM resource as it goes over the wire: envelope plus `properties`. */
export interface ResourceDoc extends Json {
  id: string;
  name: string;
  type: string;
  location?: string;
  tags?: Record<string, string>;
  properties: Json;
}

/** How a verb answers when the LRO mode is `async` or `manual` (in `instant` mode every verb answers synchronously). */
export type PutStyle = "sync" | "ao" | "body" | "mysql" | "accepted";
export type DeleteStyle = "sync" | "ao+loc" | "loc" | "mysql";
export type ActionStyle = "sync" | "ao+loc" | "loc" | "mysql";

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Json = {},
  ) {
    super(message);
  }
}

export interface ActionOutcome {
  /** the body the client gets from the final Location GET (or the synchronous 200), e.g. a RunCommandResult */
  result?: unknown;
}

export interface ActionContext {
  emulator: Emulator;
  /** the resource the action was posted to */
  doc: ResourceDoc;
  body: unknown;
  query: URLSearchParams;
}

export interface ActionDefinition {
  style?: ActionStyle;
  /**
   * Runs when the request arrives (validation errors thrown here answer the request directly);
   * returns the work, which the LRO engine waits for before the operation may complete, and the
   * state change applied when it completes successfully.
   */
  start(ctx: ActionContext): { work?: Promise<ActionOutcome>; commit?: (outcome: ActionOutcome) => void };
}

export interface WriteContext {
  emulator: Emulator;
  /** the stored document before this write, if any */
  existing?: ResourceDoc;
  /** parent resource (for child resources), resource group for top-level ones */
  parent?: ResourceDoc;
  query: URLSearchParams;
}

export interface TypeDefinition {
  /** e.g. "Microsoft.Network/virtualNetworks" (case as Azure writes it) */
  type: string;
  apiVersions: string[];
  /** tracked resources need a location */
  tracked?: boolean;
  put?: PutStyle;
  /** status of a synchronous create (availabilitySets answer 200 only) */
  createStatus?: 200 | 201;
  /** a synchronous create answers with `Location: {resource id}` (managed identities) */
  locationOnCreate?: boolean;
  /** provisioningState while a create runs (default "Creating"; a new Key Vault says "RegisteringDns") */
  creatingState?: string;
  patch?: PutStyle;
  delete?: DeleteStyle;
  /** answered with 405 when false */
  canPut?: boolean;
  /** the stored type comes from the request path (DNS record sets: `.../dnszones/TXT`) */
  typeFromPath?: boolean;
  /** child collections kept inline in the parent's properties (network resources) */
  inlineChildren?: Record<string, string>;
  /** false for types whose documents carry no provisioningState (role assignments) */
  provisioningState?: false;
  /** paths of write-only values that are kept out of responses and journals, e.g. ["properties","osProfile","adminPassword"] */
  writeOnly?: string[][];
  actions?: Record<string, ActionDefinition>;
  /** throw ArmError to reject the write; may read the store for references */
  validate?(doc: ResourceDoc, ctx: WriteContext): void;
  /** fill server-side values (ids of children, IPs, FQDNs, defaults) before the doc is stored */
  normalize?(doc: ResourceDoc, ctx: WriteContext): void | Promise<void>;
  /**
   * An outside effect the write depends on (e.g. a MySQL admin password reaching the real database);
   * the write fails if it rejects. `written` holds the write-only paths this request set.
   */
  work?(doc: ResourceDoc, ctx: WriteContext, written: Set<string>): Promise<void>;
  /** side effects once the write has succeeded (back-references, instances, default children) */
  afterCommit?(doc: ResourceDoc, ctx: WriteContext): void;
  /** throw ArmError to refuse the delete (NicInUse...) */
  beforeDelete?(doc: ResourceDoc, emulator: Emulator): void;
  /** throw ArmError to refuse deleting an inline child (a subnet in use) */
  validateChildDelete?(parent: ResourceDoc, prop: string, child: ResourceDoc, emulator: Emulator): void;
  afterDelete?(doc: ResourceDoc, emulator: Emulator): void;
  /** GET of a resource (e.g. VM `$expand=instanceView`) */
  present?(doc: ResourceDoc, query: URLSearchParams, emulator: Emulator): ResourceDoc;
  /**
   * Documents of this type that live outside the store (a soft-deleted Key Vault, kept by the
   * emulator under its name): GET and POST actions find them here.
   */
  lookup?(id: string, emulator: Emulator): ResourceDoc | undefined;
  /** the 404 of a missing document of this type, when it is not ARM's generic ResourceNotFound */
  notFound?(name: string): ArmError;
  /** GET of `{id}/{trailing}` sub-resources that are not collections (VM instanceView) */
  views?: Record<string, (doc: ResourceDoc, emulator: Emulator) => unknown>;
}
