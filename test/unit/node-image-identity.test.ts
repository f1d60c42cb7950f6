// The identity of a node image and the reuse-or-build decision (shared/node/image-identity.ts):
// the same inputs give the same gallery version, any change to a pinned artifact or the installer
// gives another, and a version is reused only when its tag proves it was built from the same digest.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { GUACAMOLE_RELEASES } from "../../shared/node/catalog";
import {
  chooseNodeImage,
  IMAGE_TAGS,
  imageSourceText,
  imageVersionName,
  nodeImageKey,
} from "../../shared/node/image-identity";

const installer = createHash("sha256").update("install-node.sh v1").digest("hex");
const otherInstaller = createHash("sha256").update("install-node.sh v2").digest("hex");

describe("node image identity", () => {
  test("the same release and installer give the same key and version name; another installer another", () => {
    const a = nodeImageKey("1.6.0", installer);
    const b = nodeImageKey("1.6.0", installer);
    assert.deepEqual(a, b);
    assert.match(a.digest, /^[0-9a-f]{64}$/);
    const c = nodeImageKey("1.6.0", otherInstaller);
    assert.notEqual(c.digest, a.digest);
    assert.notEqual(imageVersionName(c), imageVersionName(a));
  });

  test("a gallery version name is MAJOR.MINOR.PATCH with 32-bit integers", () => {
    const name = imageVersionName(nodeImageKey("1.6.0", installer));
    const m = /^1\.6\.(\d+)$/.exec(name);
    assert.ok(m, name);
    assert.ok(Number(m[1]) <= 0x7fffffff);
  });

  test("a changed artifact digest changes the key", () => {
    const release = GUACAMOLE_RELEASES["1.6.0"];
    const before = nodeImageKey("1.6.0", installer);
    const saved = release.war.digest!;
    try {
      (release.war as { digest: typeof saved }).digest = { ...saved, hex: saved.hex.replace(/^./, "0") };
      assert.notEqual(nodeImageKey("1.6.0", installer).digest, before.digest);
    } finally {
      (release.war as { digest: typeof saved }).digest = saved;
    }
  });

  test("bad inputs are refused: an installer digest that is not sha256 hex, an unknown release", () => {
    assert.throws(() => nodeImageKey("1.6.0", "abc"), /sha256 hex/);
    assert.throws(() => nodeImageKey("0.9.9", installer), /not in the catalog/);
  });
});

describe("reuse or build", () => {
  const key = nodeImageKey("1.6.0", installer);
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
