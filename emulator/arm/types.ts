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
export type PutStyle = "sync" | "ao" | "body" | "mysql" | "accepted" | "location";
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

/** Who called ARM, as far as the bearer token says (claims read, signature not checked). */
export interface ArmCaller {
  /** the token's `oid` claim (a user's or service principal's object id) */
  objectId?: string;
  /** the token's `tid` claim */
  tenantId?: string;
  /** the token's `upn` (or `unique_name`) claim, for users */
  upn?: string;
}

export interface ActionContext {
  emulator: Emulator;
  /** the resource the action was posted to */
  doc: ResourceDoc;
  body: unknown;
  query: URLSearchParams;
  /** the request's If-Match header (optimistic concurrency on actions such as an immutability policy's lock) */
  ifMatch?: string;
  caller?: ArmCaller;
}

/** A POST on a provider namespace rather than on a resource (`.../providers/Microsoft.Storage/checkNameAvailability`). */
export type ProviderAction = (ctx: {
  emulator: Emulator;
  subscription: string;
  body: unknown;
  query: URLSearchParams;
}) => { status: number; body?: unknown };

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
  /** the request's If-Match header */
  ifMatch?: string;
  /** the request body as sent (some providers echo only what was asked for) */
  requestBody?: Json;
  caller?: ArmCaller;
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
  /** a PUT that carries no body (an on-demand MySQL backup) */
  bodylessPut?: boolean;
  /**
   * The name a PUT stores the resource under, when the service chooses it (an on-demand MySQL backup
   * named `mybackup` becomes `customer_{time}_{uuid}_mybackup`); the request's name otherwise
   */
  assignName?(requestedName: string, ctx: { emulator: Emulator }): string;
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
  /** throw ArmError to refuse the delete (NicInUse...); may look outside the store (a data plane) */
  beforeDelete?(doc: ResourceDoc, emulator: Emulator, request: { ifMatch?: string }): void | Promise<void>;
  /**
   * An error when this resource keeps its resource group from being deleted (a storage account whose
   * containers hold blobs under a locked retention policy); undefined when it does not
   */
  holdsGroupDeletion?(doc: ResourceDoc, emulator: Emulator): Promise<ArmError | undefined>;
  /** the body a synchronous write answers with, when it is not the stored document (what the request asked for) */
  writeResponse?(presented: ResourceDoc, requestBody: Json): ResourceDoc;
  /** the body of a synchronous DELETE's 200 (an immutability policy answers with itself); none by default */
  deleteResponse?(doc: ResourceDoc, emulator: Emulator): unknown;
  /** answers carry the document's `etag` as an ETag header too */
  etagHeader?: boolean;
  /** the latency profile's verb for this write when it is not the plain verb (a point-in-time restore) */
  latencyVerb?(doc: ResourceDoc, verb: "put" | "patch"): string | undefined;
  /** POSTs on the provider namespace, by lower-case action name (`checknameavailability`) */
  providerActions?: Record<string, ProviderAction>;
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
