// The digest of the node installer: sha256 over every file the node template embeds from infra/node/
// (the installer, the agent, the recording uploader, the NGINX, Tomcat, Guacamole, guacd and systemd
// files), each by its path relative to infra/node and its bytes, in path order. It feeds nodeImageKey
// (image-identity.ts): a changed installer or configuration file is a new image even with the same
// pinned artifacts. Read once per process: the files are part of the deployed app and do not change.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { nodeFilesDir } from "./cloud-init";

/** Documentation beside the node files, which no node receives. */
const NOT_EMBEDDED = new Set(["README.md"]);

let cached: string | undefined;

/** sha256 hex of infra/node/ as the template embeds it. */
export function installerDigest(dir = nodeFilesDir()): string {
  if (cached !== undefined && dir === nodeFilesDir()) return cached;
  const hash = createHash("sha256");
  for (const relative of nodeFiles(dir)) {
    const bytes = fs.readFileSync(path.join(dir, relative));
    // length-prefixed, so no two different file sets hash alike
    hash.update(`${relative}\0${bytes.length}\0`).update(bytes);
  }
  const digest = hash.digest("hex");
  if (dir === nodeFilesDir()) cached = digest;
  return digest;
}

function nodeFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...nodeFiles(dir, relative));
    else if (entry.isFile() && !NOT_EMBEDDED.has(relative)) out.push(relative);
  }
  return out.sort();
}
