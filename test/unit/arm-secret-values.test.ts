// Generated secret values and the engine's error type: passwords meet MySQL's rules, SSH keys are
// valid OpenSSH RSA keys, and errors are plain data with no secret in them.
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { describe, test } from "node:test";
import { RestError } from "@azure/core-rest-pipeline";
import { ArmApplyError, scrub, toArmApplyError } from "../../shared/arm/errors";
import { generatePassword, generateSshPublicKey } from "../../shared/arm/secret-values";

describe("generated secrets", () => {
  test("passwords have the asked length, every character class, and only shell-safe symbols", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassword(32);
      assert.equal(p.length, 32);
      assert.match(p, /[a-z]/);
      assert.match(p, /[A-Z]/);
      assert.match(p, /[0-9]/);
      assert.match(p, /[-_.~]/);
      assert.match(p, /^[A-Za-z0-9_.~-]+$/);
      seen.add(p);
    }
    assert.equal(seen.size, 200);
    assert.throws(() => generatePassword(3), RangeError);
  });

  test("the SSH key is an OpenSSH RSA 3072 public key that parses back", async () => {
    const key = await generateSshPublicKey();
    const [type, blob, comment] = key.split(" ");
    assert.equal(type, "ssh-rsa");
    assert.equal(comment, "jumpgate");
    const bytes = Buffer.from(blob, "base64");
    let offset = 0;
    const next = () => {
      const len = bytes.readUInt32BE(offset);
      const part = bytes.subarray(offset + 4, offset + 4 + len);
      offset += 4 + len;
      return part;
    };
    assert.equal(next().toString(), "ssh-rsa");
    const e = next();
    const n = next();
    assert.equal(offset, bytes.length);
    const strip = (b: Buffer) => (b[0] === 0 ? b.subarray(1) : b);
    const jwk = { kty: "RSA", e: strip(e).toString("base64url"), n: strip(n).toString("base64url") };
    const parsed = createPublicKey({ key: jwk, format: "jwk" });
    assert.equal(parsed.asymmetricKeyDetails?.modulusLength, 3072);
    assert.notEqual(await generateSshPublicKey(), key);
  });
});

describe("ArmApplyError", () => {
  const node = { key: "vnet", id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v" };

  test("wraps an ARM answer with status, code and message, serializable as JSON", () => {
    const e = toArmApplyError(
      new RestError("Resource x referenced by resource y was not found.", {
        statusCode: 400,
        code: "InvalidResourceReference",
      }),
      node,
      "write",
    );
    assert.ok(e instanceof ArmApplyError);
    assert.equal(e.status, 400);
    assert.equal(e.code, "InvalidResourceReference");
    const json = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json).sort(), ["code", "id", "key", "message", "name", "status"]);
    assert.match(
      String(json.message),
      /^vnet: write \/subscriptions\/.* failed: 400 InvalidResourceReference: Resource x/,
    );
  });

  test("reads code and message out of a failed long-running operation", () => {
    const e = toArmApplyError(
      new Error("The long-running operation has failed. InternalServerError. boom"),
      node,
      "write",
    );
    assert.equal(e.status, undefined);
    assert.equal(e.code, "InternalServerError");
    assert.match(e.message, /InternalServerError: boom$/);
  });

  test("secret values the engine handled are scrubbed from messages", () => {
    const e = toArmApplyError(new Error("bad password Sup3r-Secret~value"), node, "write", ["Sup3r-Secret~value"]);
    assert.ok(!e.message.includes("Sup3r-Secret~value"));
    assert.match(e.message, /<redacted>/);
    assert.equal(scrub("abc", ["ab"]), "abc", "values shorter than 4 characters are not worth a false match");
  });
});
