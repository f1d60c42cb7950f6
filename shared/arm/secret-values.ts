// Values of generated secrets. They go straight into Key Vault and nowhere else: not into results,
// errors or logs.
import { generateKeyPair, randomInt } from "node:crypto";
import { promisify } from "node:util";
import type { SecretGenerator } from "../graph/types";

const LOWER = "abcdefghijkmnopqrstuvwxyz";
const UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS = "23456789";
// no quotes, backslash, $, & or / : the value must survive shells, sed, URLs and properties files
const SYMBOLS = "-_.~";
const CLASSES = [LOWER, UPPER, DIGITS, SYMBOLS];

/**
 * A random password with at least one character of each class (MySQL wants three of four), drawn
 * with a uniform CSPRNG (`randomInt` rejects biased samples).
 */
export function generatePassword(length: number): string {
  if (!Number.isInteger(length) || length < CLASSES.length || length > 256)
    throw new RangeError(`password length must be ${CLASSES.length}-256, got ${length}`);
  const all = CLASSES.join("");
  const chars = CLASSES.map((c) => c[randomInt(c.length)]);
  while (chars.length < length) chars.push(all[randomInt(all.length)]);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join("");
}

const generateRsaKeyPair = promisify(generateKeyPair);

/**
 * An RSA 3072 public key in OpenSSH format (`ssh-rsa AAAA...`). Azure requires one admin key on a
 * Linux VM without password login; the private half is dropped here, so nobody can use it. Made on
 * the thread pool: the synchronous call blocks the event loop (every other node's polling) for up
 * to a second.
 */
export async function generateSshPublicKey(comment = "jumpgate"): Promise<string> {
  const { publicKey } = await generateRsaKeyPair("rsa", { modulusLength: 3072, publicExponent: 0x10001 });
  const jwk = publicKey.export({ format: "jwk" });
  const blob = Buffer.concat([
    sshString(Buffer.from("ssh-rsa")),
    sshMpint(Buffer.from(jwk.e!, "base64url")),
    sshMpint(Buffer.from(jwk.n!, "base64url")),
  ]);
  return `ssh-rsa ${blob.toString("base64")} ${comment}`;
}

function sshString(bytes: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/** RFC 4251 mpint: big-endian, with a leading zero byte when the high bit is set (it is positive). */
function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  return sshString(trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export async function generateSecretValue(generator: SecretGenerator): Promise<string> {
  return generator.kind === "password" ? generatePassword(generator.length) : generateSshPublicKey();
}
