// The generic resource model of @azure/arm-resources serializes only location, tags, sku, identity,
// plan, kind, managedBy, extendedLocation and properties: it silently drops any other top-level key,
// such as a scale set's `zones`. The engine hands such keys to this pipeline policy in a request
// header; the policy folds them back into the serialized PUT body (after the serializer, before
// retries) and removes the header, so ARM receives the document the graph describes.
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from "@azure/core-rest-pipeline";
import type { ResourceManagementClient } from "@azure/arm-resources";
import { isObject } from "./json-path";

const HEADER = "x-jumpgate-top-level-fields";
const POLICY_NAME = "jumpgateTopLevelFields";

/** Keys the GenericResource model keeps; everything else must travel through the policy. */
const MODEL_KEYS = new Set([
  "location",
  "extendedLocation",
  "tags",
  "plan",
  "properties",
  "kind",
  "managedBy",
  "sku",
  "identity",
]);

/** Splits a document into what the model serializes and the top-level keys it would drop. */
export function splitTopLevel(doc: Record<string, unknown>): {
  model: Record<string, unknown>;
  extra: Record<string, unknown>;
} {
  const model: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) (MODEL_KEYS.has(k) ? model : extra)[k] = v;
  return { model, extra };
}

/** Request options that carry `extra` to the policy (none when there is nothing to carry). */
export function carryTopLevel(extra: Record<string, unknown>): { customHeaders?: Record<string, string> } {
  return Object.keys(extra).length > 0 ? { customHeaders: { [HEADER]: JSON.stringify(extra) } } : {};
}

export const topLevelFieldsPolicy: PipelinePolicy = {
  name: POLICY_NAME,
  async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
    const carried = request.headers.get(HEADER);
    if (carried !== undefined) {
      request.headers.delete(HEADER);
      if (request.method === "PUT" && typeof request.body === "string") {
        const body: unknown = JSON.parse(request.body);
        const extra: unknown = JSON.parse(carried);
        if (isObject(body) && isObject(extra)) request.body = JSON.stringify({ ...body, ...extra });
      }
    }
    return next(request);
  },
};

/** Adds the policy to a (cached, shared) client once; it acts only on requests that carry the header. */
export function withTopLevelFields(client: ResourceManagementClient): ResourceManagementClient {
  if (!client.pipeline.getOrderedPolicies().some((p) => p.name === POLICY_NAME)) {
    client.pipeline.addPolicy(topLevelFieldsPolicy);
  }
  return client;
}
