// The resource engine: plans, applies and removes one graph node against ARM. Every node is a raw
// ARM document, written through the generic resources client with the node's own api-version, so
// one diff serves every type and plans show ARM's own property paths. Resource groups go through
// `resourceGroups`, Key Vault secrets through the data plane.
//
// apply reads first and writes only what differs, so a retried or replayed apply is harmless and an
// unchanged stack costs zero writes. It writes only what is the stack's (ownership.ts): a resource
// at one of the stack's ids without its tag is refused before any write, unless the spec adopts it.
// Secret values are read from or written to Key Vault right at the call that needs them and never
// come back out: not in results, plans, errors or logs.
import { isRestError } from "../azure/rest-error";
import { setTimeout as sleep } from "node:timers/promises";
import type { AzureClientFactory } from "../azure/clients";
import { RECORDINGS_CONTAINER } from "../graph/recordings-graph";
import type { GraphNode, NodePlan, PropertyChange } from "../graph/types";
import { ArmDocuments, type ArmAddress, type ObservedDocument } from "./arm-documents";
import { ArmApplyError, toArmApplyError, type EngineVerb } from "./errors";
import { isObject, setAt, type JsonObject } from "./json-path";
import {
  foreignResourceMessage,
  FOREIGN_RESOURCE,
  ownershipOf,
  ownershipVerdict,
  type OwnershipVerdict,
} from "./ownership";
import {
  busyReason,
  changesOf,
  createChanges,
  provisioningState,
  replaceReason,
  tagRefusal,
  unsupportedChange,
  updateBody,
} from "./node-rules";
import { resolveRefs } from "./refs";
import { retentionHold } from "../recordings/retention";
import { secretAddress, VaultSecrets, type SecretAccessRetry } from "./vault-secrets";

export type { ObservedDocument } from "./arm-documents";
export type ApplyAction = "created" | "updated" | "unchanged" | "replaced" | "adopted";
/** `kept`: the stack's own, left in place on purpose (recordings under retention), with the reason */
export type RemoveAction = "deleted" | "absent" | "refused" | "kept";

export interface ApplyResult {
  key: string;
  action: ApplyAction;
  changes: PropertyChange[];
}

export interface RemoveResult {
  key: string;
  action: RemoveAction;
  reason?: string;
}

export interface ResourceEngineOptions {
  /**
   * Key Vault data-plane calls answered 403 right after a role assignment are retried: Azure RBAC
   * takes minutes to propagate. Default 8 attempts, 15 s apart.
   */
  secretAccessRetry?: SecretAccessRetry;
}

export class ResourceEngine {
  private readonly arm: ArmDocuments;
  private readonly secrets: VaultSecrets;

  constructor(
    private readonly factory: AzureClientFactory,
    options: ResourceEngineOptions = {},
  ) {
    this.arm = new ArmDocuments(factory);
    this.secrets = new VaultSecrets(factory, this.arm, options.secretAccessRetry ?? { attempts: 8, delayMs: 15_000 });
  }

  /** The resource's current document (a secret's: metadata only), or undefined when it does not exist. */
  async observe(node: GraphNode, signal?: AbortSignal): Promise<ObservedDocument | undefined> {
    try {
      return await this.read(node, signal);
    } catch (e) {
      throw toArmApplyError(e, node, "read");
    }
  }

  /** What apply would do, from GETs only: never a write. */
  async plan(node: GraphNode, signal?: AbortSignal): Promise<NodePlan> {
    try {
      const observed = await this.read(node, signal);
      const plan = await this.planOf(node, observed, signal);
      const owner = await this.ownership(node, observed, signal);
      if (owner.verdict === "foreign") return { ...plan, action: "conflict", reason: owner.reason };
      // a child of an adopted parent is planned as usual: the parent is what changes hands
      if (owner.verdict === "adopt" && !node.tagOwner) return { ...plan, action: "adopt", reason: owner.reason };
      return plan;
    } catch (e) {
      throw toArmApplyError(e, node, "read");
    }
  }

  private async planOf(
    node: GraphNode,
    observed: ObservedDocument | undefined,
    signal?: AbortSignal,
  ): Promise<NodePlan> {
    const base = { key: node.key, kind: node.kind, id: node.id };
    if (node.kind === "keyVaultSecret") {
      if (!observed)
        return { ...base, action: "create", changes: [{ path: "value", from: undefined, to: "(generated)" }] };
      if (observed.deleted === true)
        return { ...base, action: "create", changes: [], reason: "the soft-deleted secret will be recovered" };
      return { ...base, action: "none", changes: [] };
    }
    const { body: desired } = await this.resolve(node, signal);
    if (!observed) return { ...base, action: "create", changes: createChanges(node, desired) };
    const changes = changesOf(node, desired, observed);
    const replace = replaceReason(node, desired, observed);
    if (replace) return { ...base, action: "replace", changes, reason: replace };
    const reason = unsupportedChange(node, desired, observed) ?? busyReason(observed);
    return {
      ...base,
      action: changes.length > 0 ? "update" : "none",
      changes,
      ...(reason ? { reason } : {}),
    };
  }

  /** Brings the resource to the node's desired state: GET, diff, and a PUT only if they differ. */
  async apply(node: GraphNode, signal?: AbortSignal): Promise<ApplyResult> {
    const handled: string[] = [];
    const stage: { verb: EngineVerb } = { verb: "read" };
    try {
      if (node.kind === "keyVaultSecret") return await this.applySecret(node, stage, handled, signal);
      let observed = await this.read(node, signal);
      const owner = await this.ownership(node, observed, signal);
      if (owner.verdict === "foreign") throw this.foreign(node, owner.reason);
      if (observed && busyReason(observed)) observed = await this.waitUntilSettled(node, signal);
      const { body: desired, unresolved } = await this.resolve(node, signal);
      if (unresolved.length > 0) {
        const what = unresolved.map((u) => `${u.path} <- ${u.node}.${u.targetPath}`).join(", ");
        throw this.error(node, "UnresolvedReference", `values it needs do not exist yet (${what}); apply those first`);
      }
      if (!observed) {
        stage.verb = "write";
        await this.create(node, desired, handled, signal);
        return { key: node.key, action: "created", changes: createChanges(node, desired) };
      }
      const changes = changesOf(node, desired, observed);
      if (replaceReason(node, desired, observed)) {
        // role assignments can't be changed in place: remove the old one, then make the new one
        stage.verb = "delete";
        await this.arm.delete(address(node), signal);
        stage.verb = "write";
        await this.arm.put(address(node), desired, signal);
        return { key: node.key, action: "replaced", changes };
      }
      if (changes.length === 0) return { key: node.key, action: "unchanged", changes };
      const unsupported = unsupportedChange(node, desired, observed);
      if (unsupported) throw this.error(node, "UnsupportedChange", unsupported);
      stage.verb = "write";
      // the merged tags carry ours from now on: an adopted resource is the stack's after this write
      await this.arm.put(address(node), updateBody(node, desired, observed), signal);
      const adopted = owner.verdict === "adopt" && !node.tagOwner;
      return { key: node.key, action: adopted ? "adopted" : "updated", changes };
    } catch (e) {
      throw toArmApplyError(e, node, stage.verb, handled);
    }
  }

  /**
   * Deletes the node's resource if it belongs to the stack: it (or, for untagged kinds, its
   * `tagOwner`) must carry `tag`. A resource group is deleted only once it is empty, so a teardown
   * never takes anything with it that is not the stack's.
   */
  async remove(node: GraphNode, tag: { name: string; value: string }, signal?: AbortSignal): Promise<RemoveResult> {
    const stage: { verb: EngineVerb } = { verb: "read" };
    const result = (action: RemoveAction, reason?: string): RemoveResult => ({
      key: node.key,
      action,
      ...(reason ? { reason } : {}),
    });
    try {
      const observed = await this.read(node, signal);
      if (!observed || observed.deleted === true) return result("absent");
      const owner = node.tagOwner ? await this.arm.get(node.tagOwner, signal) : observed;
      const refusal = tagRefusal(node, owner, tag);
      if (refusal) return result("refused", refusal);
      if (node.kind === "mysqlConfiguration") {
        return result("absent", "a server parameter is not deleted: it goes with its server");
      }
      const goesWith = STORAGE_CHILDREN_KEPT[node.kind];
      if (goesWith) return result("absent", goesWith);
      if (node.kind === "blobContainer" || node.kind === "storageAccount") {
        const hold = await this.recordingsHold(node, signal);
        if (hold) return result("kept", hold);
      }
      if (node.kind === "galleryImage") {
        // ARM deletes a definition only once it has no versions: the stack's go first, anything else stays
        const foreign = await this.removeImageVersions(node, tag, signal);
        if (foreign) return result("refused", foreign);
      }
      if (node.kind === "resourceGroup") {
        const left = await this.arm.listGroup(node.id, signal);
        if (left.length > 0) {
          const shown = left.slice(0, 5).join(", ") + (left.length > 5 ? `, and ${left.length - 5} more` : "");
          return result(
            "refused",
            `the resource group still holds ${left.length} resource(s) that are not the stack's or that the stack keeps: ${shown}`,
          );
        }
      }
      stage.verb = node.kind === "keyVaultSecret" ? "secret" : "delete";
      if (node.kind === "keyVaultSecret") {
        const client = await this.secretClient(node, signal);
        if (!client) return result("absent");
        await this.secrets.delete(client, secretAddress(node.id).name, signal);
      } else {
        await this.arm.delete(address(node), signal);
      }
      return result("deleted");
    } catch (e) {
      throw toArmApplyError(e, node, stage.verb);
    }
  }

  /**
   * Why a recordings container, or the account that holds it, must stay (shared/recordings/retention.ts):
   * two GETs, the container and its retention policy.
   */
  private async recordingsHold(node: GraphNode, signal?: AbortSignal): Promise<string | undefined> {
    const containerId =
      node.kind === "blobContainer" ? node.id : `${node.id}/blobServices/default/containers/${RECORDINGS_CONTAINER}`;
    const container = await this.arm.get({ id: containerId, apiVersion: node.apiVersion }, signal);
    if (!container) return undefined;
    const policy = await this.arm.get(
      { id: `${containerId}/immutabilityPolicies/default`, apiVersion: node.apiVersion },
      signal,
    );
    return retentionHold({ container, policy });
  }

  /**
   * Deletes the image versions of a gallery image definition that carry the stack's tag (the image
   * builds tag each version they capture); the reason to keep the definition when others remain.
   */
  private async removeImageVersions(
    node: GraphNode,
    tag: { name: string; value: string },
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const m =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/galleries\/([^/]+)\/images\/([^/]+)$/i.exec(
        node.id,
      );
    if (!m) return undefined;
    const [, sub, group, gallery, image] = m;
    const compute = this.factory.compute(sub);
    const foreign: string[] = [];
    for await (const v of compute.galleryImageVersions.listByGalleryImage(
      group,
      gallery,
      image,
      this.factory.call(signal),
    )) {
      if (v.tags?.[tag.name] !== tag.value) {
        foreign.push(v.name ?? "?");
        continue;
      }
      await compute.galleryImageVersions.beginDeleteAndWait(group, gallery, image, v.name!, this.factory.lro(signal));
    }
    if (foreign.length === 0) return undefined;
    return `the image definition holds version(s) that are not the stack's: ${foreign.slice(0, 5).join(", ")}`;
  }

  // ------------------------------------------------------------------------------------ steps

  private async read(node: GraphNode, signal?: AbortSignal): Promise<ObservedDocument | undefined> {
    if (node.kind !== "keyVaultSecret") return this.arm.get(address(node), signal);
    const client = await this.secretClient(node, signal);
    return client ? this.secrets.observe(client, node.id, secretAddress(node.id).name, signal) : undefined;
  }

  private secretClient(node: GraphNode, signal?: AbortSignal) {
    return this.secrets.client({ id: secretAddress(node.id).vaultId, apiVersion: node.apiVersion }, signal);
  }

  private resolve(node: GraphNode, signal?: AbortSignal) {
    return resolveRefs(node.body, async (ref) => {
      if (!ref.id || !ref.apiVersion) {
        throw new Error(`the reference to ${ref.node} carries no id and api-version to read it with`);
      }
      return this.arm.get({ id: ref.id, apiVersion: ref.apiVersion }, signal);
    });
  }

  private async create(node: GraphNode, desired: JsonObject, handled: string[], signal?: AbortSignal): Promise<void> {
    const body = structuredClone(desired);
    for (const [path, secretName] of Object.entries(node.secretValues ?? {})) {
      if (!node.secretVault) throw new Error(`${node.key} names secretValues but no secretVault`);
      const value = await this.secrets.value(node.secretVault, secretName, signal);
      handled.push(value);
      setAt(body, path, value);
    }
    try {
      await this.arm.put(address(node), body, signal);
    } catch (e) {
      if (node.kind !== "keyVault" || !isDeletedVaultConflict(e)) throw e;
      // the stack's own vault, soft-deleted by a teardown (purge protection holds its name): take it back
      const recover = structuredClone(body);
      setAt(recover, "properties.createMode", "recover");
      await this.arm.put(address(node), recover, signal);
      const recovered = await this.arm.get(address(node), signal);
      if (recovered && changesOf(node, desired, recovered).length > 0) {
        await this.arm.put(address(node), updateBody(node, desired, recovered), signal);
      }
    }
  }

  /**
   * An existing secret is left alone (its value belongs to rotation); a soft-deleted one is
   * recovered (what the rest of a recovered stack was made with); a missing one is generated.
   */
  private async applySecret(
    node: GraphNode,
    stage: { verb: EngineVerb },
    handled: string[],
    signal?: AbortSignal,
  ): Promise<ApplyResult> {
    const owner = await this.ownership(node, undefined, signal);
    if (owner.verdict === "foreign") throw this.foreign(node, owner.reason);
    const client = await this.secretClient(node, signal);
    if (!client) throw this.error(node, "VaultNotFound", "its vault does not exist yet; apply the vault first", 404);
    const { name } = secretAddress(node.id);
    const observed = await this.secrets.observe(client, node.id, name, signal);
    if (observed && observed.deleted !== true) return { key: node.key, action: "unchanged", changes: [] };
    stage.verb = "secret";
    if (observed) {
      await this.secrets.recover(client, name, signal);
      return { key: node.key, action: "created", changes: [{ path: "deleted", from: true, to: false }] };
    }
    if (!node.generate)
      throw this.error(node, "SecretMissing", "the secret does not exist and nothing says how to make it");
    const meta = {
      contentType: typeof node.body.contentType === "string" ? node.body.contentType : undefined,
      tags: isObject(node.body.tags) ? (node.body.tags as Record<string, string>) : undefined,
    };
    handled.push(await this.secrets.generate(client, name, node.generate, meta, signal));
    return { key: node.key, action: "created", changes: [{ path: "value", from: undefined, to: "(generated)" }] };
  }

  /**
   * Whose the resource is: judged on its own tags, or on its `tagOwner`'s for a node that has one
   * (one more GET). Nodes that say nothing about ownership (older histories' role assignments and
   * MySQL children) are judged by their parent's node, which is applied first.
   */
  private async ownership(
    node: GraphNode,
    observed: ObservedDocument | undefined,
    signal?: AbortSignal,
  ): Promise<OwnershipVerdict> {
    if (!ownershipOf(node)) return { verdict: "ours" };
    if (node.tagOwner) return ownershipVerdict(node, await this.arm.get(node.tagOwner, signal));
    return ownershipVerdict(node, observed?.deleted === true ? undefined : observed);
  }

  private foreign(node: GraphNode, reason: string): ArmApplyError {
    return new ArmApplyError({
      key: node.key,
      id: node.id,
      status: 409,
      code: FOREIGN_RESOURCE,
      message: foreignResourceMessage(node.key, reason),
    });
  }

  /** Waits while another operation (an interrupted earlier attempt's) is still changing the resource. */
  private async waitUntilSettled(node: GraphNode, signal?: AbortSignal): Promise<ObservedDocument | undefined> {
    const { lroPollIntervalMs, lroTimeoutMs } = this.factory.settings;
    const deadline = Date.now() + lroTimeoutMs;
    for (;;) {
      const doc = await this.arm.get(address(node), signal);
      if (!doc || !busyReason(doc)) return doc;
      if (Date.now() > deadline) {
        throw this.error(node, "ResourceBusy", `still ${provisioningState(doc)} after ${lroTimeoutMs} ms`);
      }
      await sleep(Math.max(lroPollIntervalMs, 1), undefined, { signal });
    }
  }

  private error(node: GraphNode, code: string, what: string, status?: number): ArmApplyError {
    return new ArmApplyError({ key: node.key, id: node.id, status, code, message: `${node.key}: ${what}` });
  }
}

/**
 * Storage children that are never deleted on their own: a retention policy goes with its container
 * (Jumpgate never removes the protection of a recording), the blob service and the lifecycle rule go
 * with the account.
 */
const STORAGE_CHILDREN_KEPT: Partial<Record<GraphNode["kind"], string>> = {
  immutabilityPolicy: "a retention policy is never deleted: it goes with its container",
  blobService: "a blob service is not deleted: it goes with its storage account",
  managementPolicy: "the lifecycle rule is not deleted: it goes with its storage account",
};

function address(node: GraphNode): ArmAddress {
  return { id: node.id, apiVersion: node.apiVersion, isResourceGroup: node.kind === "resourceGroup" };
}

function isDeletedVaultConflict(e: unknown): boolean {
  return isRestError(e) && e.statusCode === 409 && /deleted state/i.test(e.message);
}
