// What resolving a stack's node image answers (functions/activities/images.ts resolveNodeImage):
// off, or the image key, the choice (image-identity.ts chooseNodeImage) and, when the choice is to
// reuse a version, the boot image deploy, scale-out and heal's join path give new web nodes.
import type { BootImage } from "../graph/stack-graph";
import type { ImageChoice, NodeImageKey } from "./image-identity";

export type NodeImageResolution =
  | { enabled: false }
  | {
      enabled: true;
      key: NodeImageKey;
      choice: ImageChoice;
      /** set when the choice is `reuse` */
      bootImage?: BootImage;
    };

/** The version new nodes boot from, when the resolution found one to reuse. */
export function bootImageOf(resolution: NodeImageResolution): BootImage | undefined {
  return resolution.enabled ? resolution.bootImage : undefined;
}
