// Which node image a stack's new nodes boot from, and whether one must be built: the image key of
// this app's installer and the stack's Guacamole release, against the versions the stack's gallery
// lists. Shared by the resolveNodeImage activity and the HTTP route that starts a build, so a
// trigger never goes through an activity module.
import { isNotFound } from "../shared/arm/errors";
import { nodeImageEnabled } from "../shared/graph/image-graph";
import { nodeImageNames, nodeImageVersionId } from "../shared/graph/names";
import { chooseNodeImage, type ImageVersionSeen } from "../shared/node/image-identity";
import type { NodeImageResolution } from "../shared/node/image-resolution";
import { stackImageKey } from "../shared/node/stack-image-key";
import type { StackSpec } from "../shared/spec/types";
import { services } from "./services";

export async function resolveNodeImage(spec: StackSpec): Promise<NodeImageResolution> {
  if (!nodeImageEnabled(spec)) return { enabled: false };
  const key = stackImageKey(spec);
  const choice = chooseNodeImage(key, await listImageVersions(spec));
  return {
    enabled: true,
    key,
    choice,
    ...(choice.action === "reuse"
      ? { bootImage: { id: nodeImageVersionId(spec, choice.version), version: choice.version } }
      : {}),
  };
}

/** The definition's versions as the gallery lists them; none while the gallery or definition does not exist. */
async function listImageVersions(spec: StackSpec): Promise<ImageVersionSeen[]> {
  const { factory } = services();
  const ids = nodeImageNames(spec);
  const seen: ImageVersionSeen[] = [];
  try {
    const list = factory
      .compute(spec.subscriptionId)
      .galleryImageVersions.listByGalleryImage(spec.resourceGroup, ids.gallery, ids.imageDefinition, factory.call());
    for await (const v of list) {
      seen.push({
        name: v.name ?? "",
        ...(v.tags ? { tags: v.tags } : {}),
        ...(v.provisioningState ? { provisioningState: v.provisioningState } : {}),
      });
    }
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  return seen;
}
