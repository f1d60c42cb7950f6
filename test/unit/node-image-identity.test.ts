// The identity of a node image and the reuse-or-build decision (shared/node/image-identity.ts):
// the same inputs give the same gallery version, any change to a pinned artifact, the installer or
// the base (marketplace image, apt packages) gives another, and a version is reused only when its tag proves it was built from the same digest.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { GUACAMOLE_RELEASES } from "../../shared/node/catalog";
import { NODE_APT_PACKAGES } from "../../shared/node/cloud-init";
import { installerDigest } from "../../shared/node/installer-digest";
import { stackImageKey } from "../../shared/node/stack-image-key";
import {
  chooseNodeImage,
  IMAGE_TAGS,
  imageSourceText,
  imageVersionName,
  nodeImageKey,
} from "../../shared/node/image-identity";

const installer = createHash("sha256").update("install-node.sh v1").digest("hex");
const otherInstaller = createHash("sha256").update("install-node.sh v2").digest("hex");
const BASE = {
  image: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
  packages: ["nginx", "jq", "curl"],
};

describe("node image identity", () => {
  test("the same release and installer give the same key and version name; another installer another", () => {
    const a = nodeImageKey("1.6.0", installer, BASE);
    const b = nodeImageKey("1.6.0", installer, BASE);
    assert.deepEqual(a, b);
    assert.match(a.digest, /^[0-9a-f]{64}$/);
    const c = nodeImageKey("1.6.0", otherInstaller, BASE);
    assert.notEqual(c.digest, a.digest);
    assert.notEqual(imageVersionName(c), imageVersionName(a));
  });

  test("a gallery version name is MAJOR.MINOR.PATCH with 32-bit integers", () => {
    const name = imageVersionName(nodeImageKey("1.6.0", installer, BASE));
    const m = /^1\.6\.(\d+)$/.exec(name);
    assert.ok(m, name);
    assert.ok(Number(m[1]) <= 0x7fffffff);
  });

  test("a changed artifact digest changes the key", () => {
    const release = GUACAMOLE_RELEASES["1.6.0"];
    const before = nodeImageKey("1.6.0", installer, BASE);
    const saved = release.war.digest!;
    try {
      (release.war as { digest: typeof saved }).digest = { ...saved, hex: saved.hex.replace(/^./, "0") };
      assert.notEqual(nodeImageKey("1.6.0", installer, BASE).digest, before.digest);
    } finally {
      (release.war as { digest: typeof saved }).digest = saved;
    }
  });

  test("another base is another image: the marketplace image, its version, or the apt package list", () => {
    const a = nodeImageKey("1.6.0", installer, BASE);
    const variants = [
      { ...BASE, image: { ...BASE.image, sku: "server-arm64" } },
      { ...BASE, image: { ...BASE.image, version: "24.04.202411030" } },
      { ...BASE, packages: [...BASE.packages, "libssh2-1-dev"] },
    ];
    for (const base of variants) assert.notEqual(nodeImageKey("1.6.0", installer, base).digest, a.digest);
    // the same packages in another order, and the image's names in another case, are the same base
    const same = {
      image: { ...BASE.image, publisher: "canonical" },
      packages: [...BASE.packages].reverse(),
    };
    assert.equal(nodeImageKey("1.6.0", installer, same).digest, a.digest);
  });

  test("a stack's key covers its marketplace image and the packages cloud-init installs", () => {
    const spec = { guacamole: { version: "1.6.0" }, fleet: { image: BASE.image } } as Parameters<
      typeof stackImageKey
    >[0];
    assert.equal(
      stackImageKey(spec).digest,
      nodeImageKey("1.6.0", installerDigest(), { image: BASE.image, packages: NODE_APT_PACKAGES }).digest,
    );
    const otherImage = { ...spec, fleet: { ...spec.fleet, image: { ...BASE.image, sku: "minimal" } } };
    assert.notEqual(stackImageKey(otherImage).digest, stackImageKey(spec).digest);
  });

  test("bad inputs are refused: an installer digest that is not sha256 hex, an unknown release", () => {
    assert.throws(() => nodeImageKey("1.6.0", "abc", BASE), /sha256 hex/);
    assert.throws(() => nodeImageKey("0.9.9", installer, BASE), /not in the catalog/);
  });
});

describe("reuse or build", () => {
  const key = nodeImageKey("1.6.0", installer, BASE);
  const version = imageVersionName(key);
  const tags = { [IMAGE_TAGS.digest]: key.digest, [IMAGE_TAGS.guacamole]: "1.6.0" };

  test("no version: build it", () => {
    assert.deepEqual(chooseNodeImage(key, [{ name: "1.6.1", tags }]), {
      action: "build",
      version,
      replacesFailed: false,
    });
  });

  test("a succeeded version with the same digest is reused; one being created is waited for", () => {
    assert.deepEqual(chooseNodeImage(key, [{ name: version, tags, provisioningState: "Succeeded" }]), {
      action: "reuse",
      version,
    });
    assert.deepEqual(chooseNodeImage(key, [{ name: version, tags, provisioningState: "Creating" }]), {
      action: "wait",
      version,
    });
  });

  test("a failed build is built again", () => {
    assert.deepEqual(chooseNodeImage(key, [{ name: version, tags, provisioningState: "Failed" }]), {
      action: "build",
      version,
      replacesFailed: true,
    });
  });

  test("a version of that name with another digest, or without the tag, is never booted", () => {
    const other = chooseNodeImage(key, [{ name: version, tags: { [IMAGE_TAGS.digest]: "f".repeat(64) } }]);
    assert.equal(other.action, "conflict");
    assert.match((other as { reason: string }).reason, /built from node digest ffffffffffff/);
    const untagged = chooseNodeImage(key, [{ name: version, provisioningState: "Succeeded" }]);
    assert.equal(untagged.action, "conflict");
  });

  test("the status line says where new nodes boot from", () => {
    assert.match(imageSourceText(undefined, undefined), /^from source: the stack has no node image gallery/);
    assert.match(
      imageSourceText({ action: "reuse", version }, "gal"),
      new RegExp(`^from the gallery image version ${version}`),
    );
    assert.match(imageSourceText({ action: "build", version, replacesFailed: false }, "gal"), /^from source while/);
  });
});
