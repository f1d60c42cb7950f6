// ARM documents by id: GET, PUT (create or update, waiting for the long-running operation), DELETE
// and "what is in this resource group", through the generic resources client with an explicit
// api-version, so every resource type goes through the same four calls. Resource groups use the
// `resourceGroups` operations (the SDK's own api-version). A missing resource reads as undefined.
import type { ResourceManagementClient } from "@azure/arm-resources";
import type { AzureClientFactory } from "../azure/clients";
import { isNotFound } from "./errors";
import { isObject, type JsonObject } from "./json-path";
import { carryTopLevel, splitTopLevel, withTopLevelFields } from "./top-level-fields";

export type ObservedDocument = JsonObject;

/** A resource as the engine addresses it; `resourceGroup` ids go through `resourceGroups`. */
export interface ArmAddress {
  id: string;
  apiVersion: string;
  isResourceGroup?: boolean;
}

export class ArmDocuments {
  constructor(private readonly factory: AzureClientFactory) {}

  private client(id: string): ResourceManagementClient {
    return withTopLevelFields(this.factory.resources(subscriptionOf(id)));
  }

  async get(at: ArmAddress, signal?: AbortSignal): Promise<ObservedDocument | undefined> {
    const client = this.client(at.id);
    try {
      const doc = at.isResourceGroup
        ? await client.resourceGroups.get(lastSegment(at.id), this.factory.call(signal))
        : await client.resources.getById(at.id, at.apiVersion, this.factory.call(signal));
      // the SDK's model objects, as the plain JSON ARM sent
      return JSON.parse(JSON.stringify(doc)) as ObservedDocument;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Creates or updates, and waits until ARM says the operation succeeded. */
  async put(at: ArmAddress, body: JsonObject, signal?: AbortSignal): Promise<void> {
    const client = this.client(at.id);
    if (at.isResourceGroup) {
      const tags = isObject(body.tags) ? (body.tags as Record<string, string>) : undefined;
      await client.resourceGroups.createOrUpdate(
        lastSegment(at.id),
        { location: String(body.location), tags },
        this.factory.call(signal),
      );
      return;
    }
    const { model, extra } = splitTopLevel(body);
    await client.resources.beginCreateOrUpdateByIdAndWait(at.id, at.apiVersion, model, {
      ...this.factory.lro(signal),
      requestOptions: carryTopLevel(extra),
    });
  }

  async delete(at: ArmAddress, signal?: AbortSignal): Promise<void> {
    const client = this.client(at.id);
    if (at.isResourceGroup) {
      await client.resourceGroups.beginDeleteAndWait(lastSegment(at.id), this.factory.lro(signal));
      return;
    }
    await client.resources.beginDeleteByIdAndWait(at.id, at.apiVersion, this.factory.lro(signal));
  }

  /** Ids of the top-level resources in a resource group. */
  async listGroup(resourceGroupId: string, signal?: AbortSignal): Promise<string[]> {
    const ids: string[] = [];
    const list = this.client(resourceGroupId).resources.listByResourceGroup(
      lastSegment(resourceGroupId),
      this.factory.call(signal),
    );
    for await (const r of list) ids.push(r.id ?? r.name ?? "?");
    return ids;
  }
}

function subscriptionOf(id: string): string {
  const m = /^\/subscriptions\/([^/]+)/i.exec(id);
  if (!m) throw new Error(`not an ARM id: ${id}`);
  return m[1];
}

function lastSegment(id: string): string {
  return id.split("/").filter(Boolean).pop()!;
}
