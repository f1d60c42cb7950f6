// The node image key of a stack's release: its Guacamole version, this app's installer (the node
// files), and the base the builder starts from (the stack's marketplace image and the apt packages
// cloud-init installs). Resolution, build, upgrade and the bench all key images this one way.
import type { StackSpec } from "../spec/types";
import { NODE_APT_PACKAGES } from "./cloud-init";
import { nodeImageKey, type NodeImageKey } from "./image-identity";
import { installerDigest } from "./installer-digest";

export function stackImageKey(spec: Pick<StackSpec, "guacamole" | "fleet">): NodeImageKey {
  return nodeImageKey(spec.guacamole.version, installerDigest(), {
    image: spec.fleet.image,
    packages: NODE_APT_PACKAGES,
  });
}
