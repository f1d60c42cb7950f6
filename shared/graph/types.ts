// The stack as a resource graph: nodes are desired ARM documents (the wire shape ARM templates use),
// edges are dependencies. One engine runs the four verbs over it: deploy, plan, teardown, reconcile.
// Everything here is plain JSON, because nodes travel through orchestration inputs and history:
// they carry secret *names*, never secret values.
import type { SecretName } from "../secret-names";

export type ResourceKind =
  | "resourceGroup"
  | "networkSecurityGroup"
  | "virtualNetwork"
  | "publicIpAddress"
  | "loadBalancer"
  | "privateDnsZone"
  | "privateDnsZoneLink"
  | "keyVault"
  | "keyVaultSecret"
  | "roleAssignment"
  | "mysqlServer"
  | "mysqlDatabase"
  | "mysqlConfiguration"
  | "availabilitySet"
  | "userAssignedIdentity"
  | "virtualMachineScaleSet"
  | "networkInterface"
  | "virtualMachine"
  | "metricAlert"
  | "activityLogAlert"
  // session recordings' storage (shared/graph/recordings-graph.ts)
  | "storageAccount"
  | "blobService"
  | "blobContainer"
  | "immutabilityPolicy"
  | "managementPolicy"
  // the node image's gallery and image definition (shared/graph/image-graph.ts)
  | "gallery"
  | "galleryImage"
  // an image builder's OS disk, when a teardown removes what a build left (shared/graph/image-graph.ts)
  | "disk";

/** A value known only at apply time: read from a dependency's current ARM document. */
export interface ValueRef {
  $ref: {
    node: string;
    path: string;
    /** the target node's ARM id and api-version, so the engine can read it with this node alone */
    id?: string;
    apiVersion?: string;
  };
}

/** JSON that may contain ValueRefs anywhere a value goes. */
export type DesiredJson = string | number | boolean | null | ValueRef | DesiredJson[] | { [k: string]: DesiredJson };

export interface GraphNode {
  /** stable key within the stack, e.g. "vnet", "nic:web-1"; used in dependsOn and progress */
  key: string;
  kind: ResourceKind;
  /** ARM resource id (for keyVaultSecret: the vault's id + "/secrets/<name>", a data-plane object) */
  id: string;
  apiVersion: string;
  /** desired document: location, tags, sku, zones, identity, properties ... */
  body: { [k: string]: DesiredJson };
  dependsOn: string[];
  /** dotted paths ARM never returns on GET (customData, passwords): sent on create, never compared */
  writeOnly?: string[];
  /** dotted paths ARM can't change after creation: sent on create, never compared (osProfile) */
  createOnly?: string[];
  /**
   * write-only path -> compared path(s): an update that changes a compared place sends the write-only
   * value again (a scale set's custom data goes with its image and with the digest of the custom data
   * kept as a tag: instances made after a new release or image get the custom data of what they boot)
   */
  resendWriteOnlyOn?: Record<string, string | readonly string[]>;
  /** dotted path -> Key Vault secret whose value the apply activity puts there (never stored here) */
  secretValues?: Record<string, SecretName>;
  /** the Key Vault that holds the `secretValues` secrets (its ARM id and api-version) */
  secretVault?: { id: string; apiVersion: string };
  /** keyVaultSecret nodes: how to generate the value when the secret does not exist yet */
  generate?: SecretGenerator;
  /**
   * for nodes that carry no tags of their own (role assignments, secrets, MySQL children): the
   * resource whose stack tag vouches for them, so teardown can refuse what is not the stack's
   */
  tagOwner?: { id: string; apiVersion: string };
  /** relative duration class for plans and the bench (ARM's typical time for this type) */
  latencyClass?: "fast" | "medium" | "slow";
  /**
   * role assignments an earlier version of Jumpgate made that this node replaces (a vault-wide grant
   * now given per secret): deleted once this node is applied, and on teardown
   */
  supersedes?: { id: string; apiVersion: string }[];
  /**
   * Whose the resource must be before the engine writes it (shared/arm/ownership.ts): the stack's
   * tag, and whether the spec adopts it (for a node with a `tagOwner`: adopts that owner). Absent
   * on nodes built before ownership was checked (graphs in the history of older instances).
   */
  ownership?: StackOwnership;
}

export interface StackOwnership {
  tag: { name: string; value: string };
  /** the spec's `adopt` lists this resource (or, for a child, its `tagOwner`) */
  adopt?: true;
}

export interface StackGraph {
  stack: string;
  /** tag every resource of the stack carries; teardown refuses anything without it */
  tag: { name: string; value: string };
  nodes: GraphNode[];
}

/** A password, or an SSH public key whose private half is thrown away at once: Linux VMs need one
 * key when password login is off, and nobody is meant to log in (management is Run Command). */
export type SecretGenerator = { kind: "password"; length: number } | { kind: "sshPublicKey" };

/** One property difference between desired and observed, by dotted path. */
export interface PropertyChange {
  path: string;
  from: unknown;
  to: unknown;
}

/**
 * `conflict`: the resource exists and is not the stack's (no stack tag, or another stack's): a deploy
 * refuses it. `adopt`: it exists without a stack tag and the spec's `adopt` lists it: a deploy
 * takes it over (tags it, then manages it like its own).
 */
export type PlannedAction = "create" | "update" | "replace" | "none" | "delete" | "conflict" | "adopt";

export interface NodePlan {
  key: string;
  kind: ResourceKind;
  id: string;
  action: PlannedAction;
  changes: PropertyChange[];
  /** why a replace or a refusal, in words */
  reason?: string;
}
