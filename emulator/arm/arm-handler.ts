// ARM verbs over the generic store: PUT / PATCH / GET / list / DELETE / HEAD / POST actions, each
// answering with the status codes and long-running-operation shape the pinned SDKs expect
// (research/arm-contract.md §2.2-2.6) for the resource type's profile.
import { randomUUID } from "node:crypto";
import type { Emulator } from "./emulator";
import type { FaultEffect } from "./faults";
import { errorReply, isObject, type Reply } from "./http";
import type { Operation } from "./operations";
import { recordedRetryAfter, retryAfterAt, retryAfterHeader } from "./retry-after";
import { lower, parseArmPath, resourceGroupIdOf, typeKey, type ArmPath } from "./resource-id";
import { deletePath, getPath, mergePatch, parentOf } from "./store";
import {
  ArmError,
  type ActionOutcome,
  type ArmCaller,
  type Json,
  type ResourceDoc,
  type TypeDefinition,
  type WriteContext,
} from "./types";

export interface ArmRequest {
  method: string;
  path: ArmPath;
  query: URLSearchParams;
  body: unknown;
  apiVersion: string;
  fault?: FaultEffect;
  /** the If-Match header, for types with optimistic concurrency */
  ifMatch?: string;
  caller?: ArmCaller;
}

type Verb = "put" | "patch" | "delete" | "action";

export class ArmHandler {
  constructor(private readonly emu: Emulator) {}

  async handle(r: ArmRequest): Promise<Reply> {
    const p = r.path;
    if (p.trailing !== undefined) {
      if (r.method === "GET") return this.listOrView(r);
      if (r.method === "POST") return p.providerOnly ? this.providerAction(r) : this.action(r);
      throw new ArmError(405, "MethodNotAllowed", `The ${r.method} method is not allowed on a collection.`);
    }
    switch (r.method) {
      case "GET": {
        const doc = this.mustGet(p);
        return { status: 200, body: this.present(doc, r.query), headers: this.etagHeaders(doc) };
      }
      case "HEAD":
        return { status: this.find(p) ? 204 : 404 };
      case "PUT":
        return this.put(r);
      case "PATCH":
        return this.patch(r);
      case "DELETE":
        return this.delete(r);
      default:
        throw new ArmError(405, "MethodNotAllowed", `The ${r.method} method is not allowed.`);
    }
  }

  // ---------------------------------------------------------------- reads

  private find(p: ArmPath): ResourceDoc | undefined {
    return (
      this.emu.store.get(p.id) ?? this.inlineChild(p)?.child ?? this.emu.types.get(p.type)?.lookup?.(p.id, this.emu)
    );
  }

  private mustGet(p: ArmPath): ResourceDoc {
    const doc = this.find(p);
    if (doc) return doc;
    throw this.notFound(p);
  }

  notFound(p: ArmPath): ArmError {
    if (p.resourceGroup && !this.emu.store.has(`/subscriptions/${p.subscription}/resourceGroups/${p.resourceGroup}`)) {
      return new ArmError(404, "ResourceGroupNotFound", `Resource group '${p.resourceGroup}' could not be found.`);
    }
    if (lower(p.type) === "microsoft.resources/resourcegroups") {
      return new ArmError(404, "ResourceGroupNotFound", `Resource group '${p.name}' could not be found.`);
    }
    const own = p.name !== undefined ? this.emu.types.get(p.type)?.notFound?.(p.name) : undefined;
    if (own) return own;
    const shortType = p.type.split("/").slice(0, 2).join("/");
    return new ArmError(
      404,
      "ResourceNotFound",
      `The Resource '${shortType}/${p.id.split("/").slice(-1)[0]}' under resource group '${p.resourceGroup ?? ""}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }

  /** ETag header for types that send one (storage containers and their immutability policies) */
  private etagHeaders(doc: ResourceDoc | undefined): Record<string, string> | undefined {
    if (!doc || typeof doc.etag !== "string" || !this.emu.types.get(doc.type)?.etagHeader) return undefined;
    return { etag: doc.etag };
  }

  present(doc: ResourceDoc, query: URLSearchParams = new URLSearchParams()): ResourceDoc {
    const def = this.emu.types.get(doc.type);
    let out = structuredClone(doc);
    for (const path of def?.writeOnly ?? []) deletePath(out, path);
    if (def?.present) out = def.present(out, query, this.emu);
    return out;
  }

  /** A child resource with a location of its own (a type ARM tracks), not an extension resource. */
  private isTrackedChild(d: ResourceDoc): boolean {
    if (!this.emu.types.get(d.type)?.tracked) return false;
    const segments = lower(d.id).split("/");
    return segments.lastIndexOf("providers") === segments.indexOf("providers");
  }

  private listOrView(r: ArmRequest): Reply {
    const p = r.path;
    const trailing = p.trailing!;
    let docs: ResourceDoc[];
    // ARM's docs: with a tag filter, `$expand`'s extra properties may not come back; the emulator never
    // returns them then, so nothing relies on them
    let expandable = true;
    if (p.type === "" && lower(trailing) === "resourcegroups") {
      docs = this.emu.store.children(`/subscriptions/${p.subscription}`, "Microsoft.Resources/resourceGroups");
    } else if (lower(trailing) === "resources" && !p.providerOnly) {
      // Resources - List: the tracked resources ARM keeps (top-level ones and tracked children such as
      // private DNS zone virtual network links), not proxy children (MySQL configurations, databases)
      // nor extension resources (role assignments)
      const filter = resourcesFilter(r.query.get("$filter"));
      docs = this.emu.store
        .all()
        .filter((d) => lower(d.type) !== "microsoft.resources/resourcegroups")
        .filter((d) => (p.resourceGroup ? resourceGroupIdOf(d.id)?.toLowerCase() === lower(p.id) : true))
        .filter((d) => parentOf(d.id) === lower(resourceGroupIdOf(d.id) ?? "") || this.isTrackedChild(d))
        .filter(filter.matches);
      if (filter.byTag) expandable = false;
    } else if (p.providerOnly) {
      const type = `${p.type}/${trailing}`;
      docs = this.emu.store
        .all()
        .filter((d) => lower(d.type) === lower(type))
        .filter((d) => lower(d.id).startsWith(lower(p.id) + "/"));
    } else {
      const parent = this.emu.store.get(p.id);
      if (!parent) throw this.notFound(p);
      const def = this.emu.types.get(parent.type);
      const view = def?.views?.[lower(trailing)];
      if (view) return { status: 200, body: view(parent, this.emu) };
      const inlineProp = def?.inlineChildren?.[lower(trailing)];
      if (inlineProp) {
        docs = (getPath(parent, ["properties", inlineProp]) as ResourceDoc[] | undefined) ?? [];
      } else {
        docs = this.emu.store
          .children(p.id)
          .filter((d) => lower(d.type) === lower(`${parent.type}/${trailing}`) || isExtensionOf(d, trailing));
        if (lower(trailing) === "providers") docs = [];
      }
    }
    // Resources - List: `$expand=changedTime,createdTime` adds ARM's own times (no Resource Graph lag)
    const expand = (r.query.get("$expand") ?? "")
      .toLowerCase()
      .split(",")
      .map((x) => x.trim());
    const withTimes =
      expandable &&
      lower(trailing) === "resources" &&
      (expand.includes("changedtime") || expand.includes("createdtime"));
    // documents changed in place since they were last written count as written now
    if (withTimes) this.emu.resourceGraph.sync();
    return {
      status: 200,
      body: this.page(
        docs.map((d) => {
          const presented = this.present(d);
          if (!withTimes) return presented;
          const times = this.emu.resourceGraph.times(d.id);
          return {
            ...presented,
            ...(expand.includes("changedtime") && times.changedTime ? { changedTime: times.changedTime } : {}),
            ...(expand.includes("createdtime") && times.createdTime ? { createdTime: times.createdTime } : {}),
          };
        }),
        r.query,
      ),
    };
  }

  /** `{value, nextLink}` paging; the skip token is an offset into the stable id order. */
  private page(items: ResourceDoc[], query: URLSearchParams): Json {
    const size = this.emu.pageSize;
    items.sort((a, b) => lower(a.id).localeCompare(lower(b.id)));
    const start = Number(query.get("$skiptoken") ?? "0") || 0;
    const value = items.slice(start, start + size);
    const out: Json = { value };
    if (start + size < items.length) {
      const q = new URLSearchParams(query);
      q.set("$skiptoken", String(start + size));
      out.nextLink = `${this.emu.url}${this.currentPath}?${q.toString()}`;
    }
    return out;
  }

  /** set by the emulator before each request: the decoded request path (for nextLink) */
  currentPath = "";

  // ---------------------------------------------------------------- writes

  private definitionFor(p: ArmPath, apiVersion: string): TypeDefinition {
    const def = this.emu.types.get(p.type);
    if (!def) {
      const ns = p.type.split("/")[0];
      throw new ArmError(
        400,
        "InvalidResourceType",
        `The resource type '${p.type.split("/").slice(1).join("/")}' could not be found in the namespace '${ns}' for api version '${apiVersion}'.`,
      );
    }
    requireApiVersion(def, apiVersion);
    return def;
  }

  /** A child kept inline in its parent's properties (subnets, LB pools, NSG rules). */
  private inlineChild(
    p: ArmPath,
  ): { parent: ResourceDoc; prop: string; index: number; child?: ResourceDoc } | undefined {
    if (!p.parentId || !p.name) return undefined;
    const parent = this.emu.store.get(p.parentId);
    if (!parent) return undefined;
    const childSeg = p.type.split("/").slice(-1)[0];
    const prop = this.emu.types.get(parent.type)?.inlineChildren?.[lower(childSeg)];
    if (!prop || lower(p.type) !== lower(`${parent.type}/${childSeg}`)) return undefined;
    const list = (getPath(parent, ["properties", prop]) as ResourceDoc[] | undefined) ?? [];
    const index = list.findIndex((c) => lower(String(c.name)) === lower(p.name!));
    return { parent, prop, index, child: index >= 0 ? list[index] : undefined };
  }

  private parentOfNew(p: ArmPath): ResourceDoc | undefined {
    if (lower(p.type) === "microsoft.resources/resourcegroups") return undefined;
    const parentId = p.parentId ?? `/subscriptions/${p.subscription}`;
    if (lower(parentId) === lower(`/subscriptions/${p.subscription}`)) return undefined;
    // a Key Vault secret is a scope role assignments can name, though it lives in the data plane
    const parent = this.emu.store.get(parentId) ?? this.emu.keyVault.scopeDocument(parentId);
    if (!parent) {
      if (
        p.resourceGroup &&
        !this.emu.store.has(`/subscriptions/${p.subscription}/resourceGroups/${p.resourceGroup}`)
      ) {
        throw new ArmError(404, "ResourceGroupNotFound", `Resource group '${p.resourceGroup}' could not be found.`);
      }
      throw new ArmError(
        404,
        "ParentResourceNotFound",
        `Can not perform requested operation on nested resource. Parent resource '${parentId.split("/").slice(-1)[0]}' not found.`,
      );
    }
    return parent;
  }

  private async put(r: ArmRequest): Promise<Reply> {
    const p = r.path;
    const inline = this.inlineChild(p);
    if (inline) return this.putInlineChild(r, inline);
    const def = this.definitionFor(p, r.apiVersion);
    if (def.canPut === false) throw new ArmError(405, "MethodNotAllowed", `PUT is not supported for ${def.type}.`);
    if (def.bodylessPut && r.body === undefined) r = { ...r, body: {} };
    if (!isObject(r.body))
      throw new ArmError(
        400,
        "InvalidRequestContent",
        "The request content was invalid and could not be deserialized.",
      );
    const parent = this.parentOfNew(p);
    const name = def.assignName ? def.assignName(p.name!, { emulator: this.emu }) : p.name!;
    const id = name === p.name ? p.id : `${p.id.slice(0, p.id.length - p.name!.length)}${name}`;
    const existing = this.emu.store.get(id);
    const body = structuredClone(r.body);
    const doc: ResourceDoc = {
      ...body,
      id,
      name,
      type: def.typeFromPath ? p.type : def.type,
      properties: isObject(body.properties) ? body.properties : {},
    };
    if (def.tracked && typeof doc.location !== "string") {
      throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
    }
    return this.write(r, "put", def, doc, {
      emulator: this.emu,
      existing,
      parent,
      query: r.query,
      ifMatch: r.ifMatch,
      requestBody: r.body,
      caller: r.caller,
    });
  }

  private async patch(r: ArmRequest): Promise<Reply> {
    const p = r.path;
    const def = this.definitionFor(p, r.apiVersion);
    const existing = this.emu.store.get(p.id);
    if (!existing) throw this.notFound(p);
    if (!isObject(r.body))
      throw new ArmError(
        400,
        "InvalidRequestContent",
        "The request content was invalid and could not be deserialized.",
      );
    const body = r.body;
    const doc = structuredClone(existing);
    for (const [k, v] of Object.entries(body)) {
      if (k === "tags")
        doc.tags = v as Record<string, string>; // tags are replaced wholesale
      else if (["id", "name", "type"].includes(k)) continue;
      else doc[k] = mergePatch(doc[k], v);
    }
    const parent = this.parentOfNew(p);
    return this.write(r, "patch", def, doc, {
      emulator: this.emu,
      existing,
      parent,
      query: r.query,
      ifMatch: r.ifMatch,
      requestBody: body,
      caller: r.caller,
    });
  }

  private async write(
    r: ArmRequest,
    verb: "put" | "patch",
    def: TypeDefinition,
    doc: ResourceDoc,
    ctx: WriteContext,
    /** an inline child's DELETE: network answers it with both Azure-AsyncOperation and Location (as recorded) */
    withLocation = false,
  ): Promise<Reply> {
    // write-only values never reach the stored document; a PUT that omits one keeps the old value
    const written = new Set<string>();
    const previous = new Map<string, unknown>();
    for (const path of def.writeOnly ?? []) {
      const v = deletePath(doc, path);
      if (v === undefined) continue;
      const key = path.join(".");
      previous.set(key, this.emu.store.getSecret(doc.id, key));
      this.emu.store.setSecret(doc.id, key, v);
      written.add(key);
    }
    try {
      def.validate?.(doc, ctx);
      await def.normalize?.(doc, ctx);
    } catch (e) {
      for (const [key, v] of previous) this.emu.store.setSecret(doc.id, key, v);
      throw e;
    }
    if (ctx.existing && !("etag" in doc) && "etag" in ctx.existing) doc.etag = ctx.existing.etag;
    if (lower(def.type).startsWith("microsoft.network/")) doc.etag = `W/"${randomUUID()}"`;

    const style = (verb === "patch" ? (def.patch ?? def.put) : def.put) ?? "sync";
    const latencyVerb = def.latencyVerb?.(doc, verb) ?? verb;
    const created = !ctx.existing;
    const syncStatus = created ? (def.createStatus ?? 201) : 200;
    const commit = (d: ResourceDoc) => {
      setProvisioningState(def, d, "Succeeded");
      this.emu.store.set(d);
      def.afterCommit?.(d, ctx);
    };
    const external = def.work ? def.work(doc, ctx, written) : Promise.resolve();
    if (this.emu.lro.settings.mode === "instant" || style === "sync") {
      await delay(this.emu.latencyFor(def.type, latencyVerb));
      if (r.fault?.kind === "failOperation" || r.fault?.kind === "cancelOperation") {
        throw new ArmError(
          400,
          r.fault.kind === "failOperation" ? (r.fault.code ?? "OperationFailed") : "Canceled",
          "The operation failed (injected).",
        );
      }
      try {
        await external;
      } catch (e) {
        for (const [key, v] of previous) this.emu.store.setSecret(doc.id, key, v);
        // an ARM error of the outside effect (a VM agent that does not answer) keeps its code
        if (e instanceof ArmError) throw e;
        throw new ArmError(400, "OperationFailed", e instanceof Error ? e.message : String(e));
      }
      commit(doc);
      const stored = this.emu.store.get(doc.id)!;
      const headers = {
        ...(created && def.locationOnCreate
          ? { location: doc.id.replace(/\/resourceGroups\//i, "/resourcegroups/") }
          : {}),
        ...this.etagHeaders(stored),
      };
      const presented = this.present(stored);
      const body = def.writeResponse ? def.writeResponse(presented, ctx.requestBody ?? {}) : presented;
      return { status: syncStatus, body, headers };
    }
    setProvisioningState(def, doc, created ? (def.creatingState ?? "Creating") : "Updating");
    this.emu.store.set(doc);
    let externalFailed = false;
    const op = this.startOperation(r, verb, def, doc.id, {
      latencyVerb,
      work: external.then(
        () => ({}),
        (e: unknown) => {
          externalFailed = true;
          throw e;
        },
      ),
      onSucceeded: () => {
        const cur = this.emu.store.get(doc.id);
        if (cur) commit(cur);
      },
      onFailed: () => {
        const cur = this.emu.store.get(doc.id);
        // A type without provisioningState has no way to show a failed create, and ARM reads a
        // resource without one as Succeeded: the failed create is rolled back (as in instant mode)
        // instead of leaving a resource that looks ready and never was (a MySQL server "Ready"
        // without its configurations or admin password).
        if (cur && created && def.provisioningState === false) {
          this.emu.store.delete(doc.id);
          return;
        }
        // A write-only value whose outside effect failed (the admin password never reached the
        // database) is the old one again. Otherwise ARM keeps the model the request sent, write-only
        // values included, and marks it Failed: a VM whose provisioning failed keeps its custom data.
        if (externalFailed) for (const [key, v] of previous) this.emu.store.setSecret(doc.id, key, v);
        if (cur) setProvisioningState(def, cur, "Failed");
      },
    });
    const presented = this.present(doc);
    switch (style) {
      case "ao":
        return {
          status: syncStatus === 201 ? 201 : 200,
          body: presented,
          headers: this.asyncHeaders(op, withLocation),
        };
      case "body":
        return { status: syncStatus, body: presented };
      case "accepted":
        return { status: 202, body: {}, headers: this.asyncHeaders(op, true) };
      case "location":
        // storage accounts: 202 with an empty body and only Location, polled until it answers the resource
        return { status: 202, headers: this.asyncHeaders(op, true, true) };
      case "mysql":
        return {
          status: 202,
          body: {
            operation: verb === "put" ? "UpsertServerManagementOperationV2" : "UpdateServerManagementOperationV2",
            startTime: op.startTime,
          },
          headers: this.asyncHeaders(op, true),
        };
    }
  }

  private async putInlineChild(
    r: ArmRequest,
    inline: { parent: ResourceDoc; prop: string; index: number },
  ): Promise<Reply> {
    const parentDef = this.emu.types.get(inline.parent.type)!;
    if (!parentDef.apiVersions.includes(r.apiVersion))
      this.definitionFor(parseArmPath(inline.parent.id)!, r.apiVersion);
    if (!isObject(r.body))
      throw new ArmError(
        400,
        "InvalidRequestContent",
        "The request content was invalid and could not be deserialized.",
      );
    const child = { ...structuredClone(r.body), name: r.path.name!, id: r.path.id } as ResourceDoc;
    const parentDoc = structuredClone(inline.parent);
    const list = [...((getPath(parentDoc, ["properties", inline.prop]) as ResourceDoc[] | undefined) ?? [])];
    if (inline.index >= 0) list[inline.index] = child;
    else list.push(child);
    parentDoc.properties[inline.prop] = list;
    const reply = await this.write(r, "put", parentDef, parentDoc, {
      emulator: this.emu,
      existing: inline.parent,
      query: r.query,
    });
    const stored = this.inlineChild(r.path)!.child!;
    return {
      ...reply,
      status: inline.index >= 0 ? 200 : 201,
      body: reply.status === 202 ? reply.body : this.present(stored),
    };
  }

  private async delete(r: ArmRequest): Promise<Reply> {
    const p = r.path;
    const inline = this.inlineChild(p);
    if (inline) return this.deleteInlineChild(r, inline);
    const def = this.definitionFor(p, r.apiVersion);
    const existing = this.emu.store.get(p.id);
    if (!existing) {
      const nf = this.notFound(p);
      if (nf.code === "ResourceGroupNotFound") throw nf;
      return { status: 204 };
    }
    const isGroup = lower(def.type) === "microsoft.resources/resourcegroups";
    if (!isGroup) await def.beforeDelete?.(existing, this.emu, { ifMatch: r.ifMatch });
    // a resource that protects itself from deletion (a storage account holding locked blobs) keeps
    // its resource group too: the group's delete fails and deletes nothing
    const held = isGroup ? await this.groupDeletionHold(existing) : undefined;
    const commit = () => this.emu.deleteCascade(existing.id);
    const style = def.delete ?? "sync";
    if (this.emu.lro.settings.mode === "instant" || style === "sync") {
      await delay(this.emu.latencyFor(def.type, "delete"));
      if (r.fault?.kind === "failOperation" || r.fault?.kind === "cancelOperation") {
        throw new ArmError(400, "OperationFailed", "The operation failed (injected).");
      }
      if (held) throw held;
      const answer = def.deleteResponse?.(this.present(existing), this.emu);
      commit();
      return { status: 200, ...(answer !== undefined ? { body: answer } : {}) };
    }
    const previousState = getPath(existing, ["properties", "provisioningState"]);
    setProvisioningState(def, existing, "Deleting");
    const op = this.startOperation(r, "delete", def, existing.id, {
      ...(held ? { work: Promise.reject(held) } : {}),
      onSucceeded: commit,
      onFailed: () => {
        const cur = this.emu.store.get(existing.id);
        if (cur && previousState !== undefined) cur.properties.provisioningState = held ? previousState : "Failed";
      },
    });
    if (style === "loc") return { status: 202, headers: this.asyncHeaders(op, true, true) };
    return { status: 202, headers: this.asyncHeaders(op, true) };
  }

  /** The first resource directly in the group that keeps the group from being deleted. */
  private async groupDeletionHold(group: ResourceDoc): Promise<ArmError | undefined> {
    for (const doc of this.emu.store.children(group.id)) {
      const held = await this.emu.types.get(doc.type)?.holdsGroupDeletion?.(doc, this.emu);
      if (held) return held;
    }
    return undefined;
  }

  private async deleteInlineChild(
    r: ArmRequest,
    inline: { parent: ResourceDoc; prop: string; index: number; child?: ResourceDoc },
  ): Promise<Reply> {
    if (!inline.child) return { status: 204 };
    const parentDef = this.emu.types.get(inline.parent.type)!;
    parentDef.validateChildDelete?.(inline.parent, inline.prop, inline.child, this.emu);
    const parentDoc = structuredClone(inline.parent);
    const list = (getPath(parentDoc, ["properties", inline.prop]) as ResourceDoc[]).filter(
      (_, i) => i !== inline.index,
    );
    parentDoc.properties[inline.prop] = list;
    const reply = await this.write(
      r,
      "put",
      parentDef,
      parentDoc,
      { emulator: this.emu, existing: inline.parent, query: r.query },
      true,
    );
    if (reply.headers?.["azure-asyncoperation"]) return { status: 202, headers: reply.headers };
    return { status: 200 };
  }

  private action(r: ArmRequest): Reply | Promise<Reply> {
    const p = r.path;
    const name = p.trailing!;
    const doc = this.emu.store.get(p.id) ?? this.emu.types.get(p.type)?.lookup?.(p.id, this.emu);
    if (!doc) throw this.notFound(p);
    const def = this.definitionFor(parseArmPath(doc.id)!, r.apiVersion);
    const action = def.actions?.[lower(name)];
    if (!action) throw new ArmError(404, "NotFound", `The action '${name}' is not supported on ${def.type}.`);
    const started = action.start({
      emulator: this.emu,
      doc,
      body: r.body,
      query: r.query,
      ifMatch: r.ifMatch,
      caller: r.caller,
    });
    const work: Promise<ActionOutcome> = started.work ?? Promise.resolve({});
    work.catch(() => undefined);
    const commit = started.commit ?? (() => undefined);
    const style = action.style ?? "ao+loc";
    if (this.emu.lro.settings.mode === "instant" || style === "sync") {
      if (r.fault?.kind === "failOperation" || r.fault?.kind === "cancelOperation") {
        throw new ArmError(400, "OperationFailed", "The operation failed (injected).");
      }
      const latency = this.emu.latencyFor(def.type, lower(name));
      return delay(latency)
        .then(() => work)
        .then((outcome) => {
          commit(outcome);
          const after = this.emu.store.get(doc.id) ?? doc;
          return {
            status: 200,
            body: outcome.result,
            headers: outcome.result !== undefined ? this.etagHeaders(after) : undefined,
          };
        });
    }
    const op = this.startOperation(r, "action", def, doc.id, {
      work,
      action: lower(name),
      onSucceeded: commit,
      onFailed: () => undefined,
    });
    return { status: 202, headers: this.asyncHeaders(op, true, style === "loc") };
  }

  /** A POST on a provider namespace (`/subscriptions/{s}/providers/Microsoft.Storage/checkNameAvailability`). */
  private providerAction(r: ArmRequest): Reply {
    const p = r.path;
    const name = lower(p.trailing!);
    const def = this.emu.types
      .all()
      .find((d) => lower(d.type.split("/")[0]) === lower(p.type) && d.providerActions?.[name]);
    if (!def) throw this.notFound(p);
    requireApiVersion(def, r.apiVersion);
    return def.providerActions![name]({
      emulator: this.emu,
      subscription: p.subscription,
      body: r.body,
      query: r.query,
    });
  }

  // ---------------------------------------------------------------- long-running operations

  private startOperation(
    r: ArmRequest,
    verb: Verb,
    def: TypeDefinition,
    resourceId: string,
    x: {
      work?: Promise<ActionOutcome>;
      action?: string;
      /** the latency profile's verb, when it is not the operation's own */
      latencyVerb?: string;
      onSucceeded: (o: ActionOutcome) => void;
      onFailed: () => void;
    },
  ): Operation {
    const ns =
      lower(def.type) === "microsoft.resources/resourcegroups" ? "Microsoft.Resources" : def.type.split("/")[0];
    const forcedEnd =
      r.fault?.kind === "failOperation"
        ? {
            status: "Failed" as const,
            error: {
              code: r.fault.code ?? "OperationFailed",
              message: r.fault.message ?? "The operation failed (injected).",
            },
          }
        : r.fault?.kind === "cancelOperation"
          ? {
              status: "Canceled" as const,
              error: { code: "Canceled", message: "The operation was canceled (injected)." },
            }
          : undefined;
    const doc = this.emu.store.get(resourceId) ?? def.lookup?.(resourceId, this.emu);
    // a soft-deleted vault keeps its location in its properties
    const location = doc?.location ?? doc?.properties?.location;
    return this.emu.lro.create({
      subscription: r.path.subscription,
      namespace: ns,
      // the addressed type (a subnet's, not its network's) and the request's verb (an inline child's
      // DELETE is a write of its parent) decide the recorded Retry-After values
      typeKey: typeKey(r.path.type),
      requestVerb: r.method === "POST" ? (x.action ?? "action") : lower(r.method),
      apiVersion: r.apiVersion,
      location: typeof location === "string" ? location : undefined,
      verb,
      resourceId,
      action: x.action,
      latencyMs: this.emu.latencyFor(def.type, x.latencyVerb ?? (verb === "action" ? (x.action ?? "action") : verb)),
      work: x.work,
      forcedEnd,
      // what the operation changed in place besides its own resource (a related resource's references)
      onSucceeded: (o) => {
        x.onSucceeded(o);
        this.emu.resourceGraph.sync(resourceId);
      },
      onFailed: () => {
        x.onFailed();
        this.emu.resourceGraph.sync(resourceId);
      },
    });
  }

  /** Azure-AsyncOperation and/or Location headers pointing back at the emulator. */
  asyncHeaders(
    op: Operation,
    withLocation: boolean,
    locationOnly = false,
    step: "start" | "running" = "start",
  ): Record<string, string> {
    const base = `${this.emu.url}/subscriptions/${op.subscription}`;
    const api = `api-version=${encodeURIComponent(op.apiVersion)}`;
    const headers: Record<string, string> = {};
    const ns = lower(op.namespace);
    let ao: string;
    let loc: string;
    if (ns === "microsoft.resources") {
      ao = "";
      loc = `${base}/operationresults/${op.id}?${api}`;
    } else if (ns === "microsoft.dbformysql") {
      ao = `${base}/providers/Microsoft.DBforMySQL/locations/${op.location}/azureAsyncOperation/${op.id}?${api}`;
      loc = `${base}/providers/Microsoft.DBforMySQL/locations/${op.location}/operationResults/${op.id}?${api}`;
    } else if (ns === "microsoft.compute" && /\/providers\/microsoft\.compute\/galleries\//i.test(op.resourceId)) {
      // galleries, image definitions and versions: capsOperations, Location = the same URL with monitor=true
      // (TestGalleryTestSuite, GalleryImageCollectionTests)
      ao = `${base}/providers/Microsoft.Compute/locations/${op.location}/capsOperations/${op.id}?${api}`;
      loc = `${base}/providers/Microsoft.Compute/locations/${op.location}/capsOperations/${op.id}?monitor=true&${api}`;
    } else if (ns === "microsoft.compute") {
      const kind = /\/providers\/microsoft\.compute\/disks\//i.test(op.resourceId) ? "DiskOperations" : "operations";
      ao = `${base}/providers/Microsoft.Compute/locations/${op.location}/${kind}/${op.id}?p=${randomUUID()}&${api}`;
      loc = `${ao}&monitor=true`;
    } else if (ns === "microsoft.storage") {
      // storage accounts answer 202 with Location only: asyncoperations/{id}?monitor=true (ExtendImmutabilityPolicy)
      ao = `${base}/providers/Microsoft.Storage/locations/${op.location}/asyncoperations/${op.id}?${api}`;
      loc = `${base}/providers/Microsoft.Storage/locations/${op.location}/asyncoperations/${op.id}?monitor=true&${api}`;
    } else if (isPrivateDns(op.typeKey)) {
      // private DNS keeps its operations under the resource group (TestPrivatednsTestSuite)
      const group = `${this.emu.url}${resourceGroupIdOf(op.resourceId) ?? `/subscriptions/${op.subscription}`}`;
      ao = `${group}/providers/Microsoft.Network/privateDnsOperationStatuses/${op.id}?${api}`;
      loc = `${group}/providers/Microsoft.Network/privateDnsOperationResults/${op.id}?${api}`;
    } else {
      ao = `${base}/providers/${op.namespace}/locations/${op.location}/operations/${op.id}?${api}`;
      loc = `${base}/providers/${op.namespace}/locations/${op.location}/operationResults/${op.id}?${api}`;
    }
    if (!locationOnly && ao) headers["azure-asyncoperation"] = ao;
    if (withLocation || locationOnly || !ao) headers["location"] = loc;
    const ra = this.retryAfter(op, step === "start" ? "start" : op.runningAnswers - 1);
    if (ra !== undefined) headers["retry-after"] = ra;
    return headers;
  }

  /**
   * The Retry-After of one answer of an operation: a fixed value on running answers when the test
   * set one, else the recorded value for the operation's type, verb and step when asked for.
   */
  private retryAfter(op: Operation, step: "start" | "done" | number): string | undefined {
    const settings = this.emu.lro.settings;
    if (settings.retryAfterSeconds !== undefined) {
      return step === "done" ? undefined : String(settings.retryAfterSeconds);
    }
    if (!settings.recordedRetryAfter) return undefined;
    const seconds = retryAfterAt(recordedRetryAfter(op.typeKey, op.requestVerb), step);
    return seconds === undefined ? undefined : retryAfterHeader(seconds, this.emu.latency.scale);
  }

  /** GET on an Azure-AsyncOperation or Location URL. */
  pollOperation(op: Operation, asLocation: boolean, requestUrl: string): Reply {
    this.emu.lro.poll(op);
    const running = op.status === "InProgress";
    if (running) op.runningAnswers++;
    const ra = this.retryAfter(op, running ? op.runningAnswers - 1 : "done");
    const retry: Record<string, string> = ra !== undefined ? { "retry-after": ra } : {};
    if (!asLocation) {
      // private DNS answers a running operation's status URL with 202 and its headers again
      if (running && isPrivateDns(op.typeKey)) {
        return { status: 202, body: this.statusDocument(op), headers: this.asyncHeaders(op, true, false, "running") };
      }
      return { status: 200, body: this.statusDocument(op), headers: retry };
    }
    if (running) return { status: 202, headers: { location: requestUrl, ...retry } };
    if (op.status !== "Succeeded")
      return errorReply(
        new ArmError(400, op.error?.code ?? "OperationFailed", op.error?.message ?? "The operation failed."),
      );
    if (op.verb === "delete") return { status: 200 };
    if (op.verb === "action") return { status: 200, body: op.outcome?.result, headers: retry };
    const doc = this.emu.store.get(op.resourceId);
    return { status: 200, body: doc ? this.present(doc) : undefined, headers: retry };
  }

  /** The status document in each provider's own shape (keys as recorded from live Azure). */
  private statusDocument(op: Operation): Json {
    const ns = lower(op.namespace);
    const doc: Json = {};
    if (ns === "microsoft.network") {
      doc.status = op.status;
    } else if (ns === "microsoft.compute") {
      doc.startTime = op.startTime;
      if (op.endTime) doc.endTime = op.endTime;
      doc.status = op.status;
      doc.name = op.id;
    } else if (ns === "microsoft.dbformysql") {
      // recording_configurations_begincreateorupdateandwait_test: no endTime, not even when done
      doc.name = op.id;
      doc.status = op.status;
      doc.startTime = op.startTime;
    } else {
      doc.name = op.id;
      doc.status = op.status;
      doc.startTime = op.startTime;
      if (op.endTime) doc.endTime = op.endTime;
    }
    if (op.error) doc.error = op.error;
    return doc;
  }
}

/** ARM refuses an api-version the resource type does not have. */
function requireApiVersion(def: TypeDefinition, apiVersion: string): void {
  if (def.apiVersions.includes(apiVersion)) return;
  throw new ArmError(
    400,
    "NoRegisteredProviderFound",
    `No registered resource provider found for location 'westeurope' and API version '${apiVersion}' for type '${def.type.split("/").slice(1).join("/")}'. The supported api-versions are '${def.apiVersions.join(", ")}'.`,
  );
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

function setProvisioningState(def: TypeDefinition, doc: ResourceDoc, state: string): void {
  if (def.provisioningState === false) return;
  doc.properties.provisioningState = state;
}

function isPrivateDns(typeKeyOfOp: string): boolean {
  return typeKeyOfOp.startsWith("microsoft.network/privatednszones");
}

function isExtensionOf(d: ResourceDoc, trailing: string): boolean {
  return lower(d.type).endsWith("/" + lower(trailing)) && lower(d.id).includes("/providers/");
}

/** `$filter=tagName eq 'x' and tagValue eq 'y'` (the only filter the resources list needs) */
/**
 * Resources - List's `$filter` as ARM documents it: `tagName eq` (with `tagValue eq`), `resourceType eq`,
 * `name eq`, `resourceGroup eq`, `location eq` and `substringof('text', name|resourceGroup)`, joined by
 * `and` / `or` (`and` binds first). Comparisons ignore case, as ARM's do. Anything else is ARM's 400.
 */
function resourcesFilter(filter: string | null): { matches: (d: ResourceDoc) => boolean; byTag: boolean } {
  if (!filter || filter.trim() === "") return { matches: () => true, byTag: false };
  type Atom = (d: ResourceDoc) => boolean;
  let byTag = false;
  const clauses = filter.split(/\s+or\s+/i).map((clause) => {
    let tagName: string | undefined;
    let tagValue: string | undefined;
    const atoms: Atom[] = [];
    for (const raw of clause.split(/\s+and\s+/i)) {
      const text = raw
        .trim()
        .replace(/^\((.*)\)$/, "$1")
        .trim();
      const eq = /^(tagName|tagValue|resourceType|name|resourceGroup|location)\s+eq\s+'((?:[^']|'')*)'$/i.exec(text);
      const sub = /^substringof\(\s*'((?:[^']|'')*)'\s*,\s*(name|resourceGroup)\s*\)$/i.exec(text);
      if (eq) {
        const [field, value] = [lower(eq[1]), eq[2].replace(/''/g, "'")];
        if (field === "tagname") tagName = value;
        else if (field === "tagvalue") tagValue = value;
        else atoms.push((d) => lower(fieldOf(d, field)) === lower(value));
      } else if (sub) {
        const [value, field] = [lower(sub[1].replace(/''/g, "'")), lower(sub[2])];
        atoms.push((d) => lower(fieldOf(d, field)).includes(value));
      } else {
        throw new ArmError(
          400,
          "InvalidFilterInQueryString",
          `Invalid $filter '${filter}' specified in the query string.`,
        );
      }
    }
    if (tagValue !== undefined && tagName === undefined) {
      throw new ArmError(400, "InvalidFilterInQueryString", `Invalid $filter '${filter}': tagValue needs tagName.`);
    }
    if (tagName !== undefined) {
      byTag = true;
      const [name, value] = [tagName, tagValue];
      atoms.push((d) => {
        const tags = d.tags ?? {};
        const key = Object.keys(tags).find((k) => lower(k) === lower(name));
        return key !== undefined && (value === undefined || tags[key] === value);
      });
    }
    return atoms;
  });
  return { matches: (d) => clauses.some((atoms) => atoms.every((a) => a(d))), byTag };
}

function fieldOf(d: ResourceDoc, field: string): string {
  switch (field) {
    case "resourcetype":
      return d.type;
    case "name":
      return d.name;
    case "resourcegroup":
      return resourceGroupIdOf(d.id)?.split("/").pop() ?? "";
    case "location":
      return typeof d.location === "string" ? d.location : "";
    default:
      return "";
  }
}

export { typeKey };
