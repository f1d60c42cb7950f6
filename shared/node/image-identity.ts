// Which node image a fleet of a given Guacamole version boots from, as a pure decision: the identity
// of an image (the Guacamole version and the digest of everything the installer puts on a node:
// the pinned artifacts and the installer itself), the Azure Compute Gallery image version name it
// gets, and whether an existing version can be reused or one must be built. The node image
// resolution (functions/node-image.ts) and the build (functions/orchestrators/build-node-image.ts)
// use it; nothing here does I/O.
//
// An image version's name must be MAJOR.MINOR.PATCH with 32-bit integers (Azure Compute Gallery),
// so the name can't hold a digest: it is the Guacamole major.minor and the first 31 bits of the
// digest, and the whole digest is a tag. The name makes a build idempotent (a PUT of the same version
// is the same version); the tag makes a reuse safe (a version whose tag says another digest is a
// collision of the 31 bits, refused, never booted).
import { createHash } from "node:crypto";
import { nodeArtifacts, type PinnedArtifact } from "./catalog";

/** Tags on an image version: what it was built from. */
export const IMAGE_TAGS = {
  digest: "jumpgate-node-digest",
  guacamole: "jumpgate-guacamole-version",
} as const;

/** What a builder starts from: the marketplace image and the apt packages cloud-init installs on it. */
export interface NodeImageBase {
  image: { publisher: string; offer: string; sku: string; version: string };
  packages: readonly string[];
}

export interface NodeImageKey {
  guacamoleVersion: string;
  /** sha256 hex over the pinned artifacts (URLs and digests), the installer's own digest and the base */
  digest: string;
}

/**
 * The identity of a node image of this Guacamole release. `installerDigest` is the sha256 of the
 * installer the builder runs (infra/node/install-node.sh and what it reads): a changed installer is
 * a new image even with the same artifacts. So is another base: another marketplace image or apt
 * package list (a version "latest" is the one of the bake). Keys are sorted, so the digest does not
 * depend on the catalog's order; the package list is sorted too.
 */
export function nodeImageKey(guacamoleVersion: string, installerDigest: string, base: NodeImageBase): NodeImageKey {
  if (!/^[0-9a-f]{64}$/.test(installerDigest)) {
    throw new Error("installerDigest must be a sha256 hex digest (64 lowercase hex digits)");
  }
  const artifacts = nodeArtifacts(guacamoleVersion);
  const canonical = Object.keys(artifacts)
    .sort()
    .map((name) => [name, pinned(artifacts[name])]);
  const digest = createHash("sha256")
    .update(
      JSON.stringify({
        guacamoleVersion,
        installerDigest,
        artifacts: canonical,
        base: {
          image: [base.image.publisher, base.image.offer, base.image.sku, base.image.version].map((x) =>
            x.toLowerCase(),
          ),
          packages: [...base.packages].sort(),
        },
      }),
    )
    .digest("hex");
  return { guacamoleVersion, digest };
}

function pinned(a: PinnedArtifact): unknown {
  // an artifact without a verified digest makes the image unverifiable: no image of it is built
  if (!a.digest) throw new Error(`an artifact without a verified digest can't go into a node image: ${a.urls[0]}`);
  return { urls: [...a.urls], algorithm: a.digest.algorithm, hex: a.digest.hex.toLowerCase() };
}

/** The gallery image version name of a key: `<major>.<minor>.<first 31 bits of the digest>`. */
export function imageVersionName(key: NodeImageKey): string {
  const m = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(key.guacamoleVersion);
  if (!m) throw new Error(`Guacamole version ${key.guacamoleVersion} is not MAJOR.MINOR[.PATCH]`);
  const patch = parseInt(key.digest.slice(0, 8), 16) & 0x7fffffff;
  return `${Number(m[1])}.${Number(m[2])}.${patch}`;
}

/** An image version as the gallery lists it. */
export interface ImageVersionSeen {
  name: string;
  tags?: Record<string, string>;
  /** ARM's provisioningState: Creating, Succeeded, Failed, Deleting, ... */
  provisioningState?: string;
}

export type ImageChoice =
  /** boot from this version; nothing to build */
  | { action: "reuse"; version: string }
  /** no usable version: build this one (a failed one of that name is deleted first) */
  | { action: "build"; version: string; replacesFailed: boolean }
  /** a build of it is running: boot from source meanwhile, look again later */
  | { action: "wait"; version: string }
  /** a version of that name was built from something else: refuse, say why */
  | { action: "conflict"; version: string; reason: string };

/** Reuse, build, wait or refuse, from the versions the gallery's image definition has now. */
export function chooseNodeImage(key: NodeImageKey, versions: readonly ImageVersionSeen[]): ImageChoice {
  const version = imageVersionName(key);
  const same = versions.find((v) => v.name === version);
  if (!same) return { action: "build", version, replacesFailed: false };
  const digest = same.tags?.[IMAGE_TAGS.digest];
  if (digest !== undefined && digest !== key.digest) {
    return {
      action: "conflict",
      version,
      reason: `image version ${version} was built from node digest ${digest.slice(0, 12)}…, not ${key.digest.slice(0, 12)}…`,
    };
  }
  const state = (same.provisioningState ?? "Succeeded").toLowerCase();
  if (state === "failed") return { action: "build", version, replacesFailed: true };
  if (state !== "succeeded") return { action: "wait", version };
  // a version without the tag was not made by Jumpgate's build: it is not trusted as this image
  if (digest === undefined) {
    return { action: "conflict", version, reason: `image version ${version} has no ${IMAGE_TAGS.digest} tag` };
  }
  return { action: "reuse", version };
}

/** One line for the stack's status: where new nodes boot from, and why. */
export function imageSourceText(choice: ImageChoice | undefined, gallery: string | undefined): string {
  if (!gallery) return "from source: the stack has no node image gallery (each new node builds guacd at first boot)";
  if (!choice) return "from source: the node image has not been looked for yet";
  switch (choice.action) {
    case "reuse":
      return `from the gallery image version ${choice.version} (${gallery})`;
    case "build":
    case "wait":
      return `from source while image version ${choice.version} is built (${gallery})`;
    case "conflict":
      return `from source: ${choice.reason}`;
  }
}
