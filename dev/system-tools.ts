// The commands tests run from Debian packages, named by their package when one is missing:
// scripts/debian-packages.json is the list (npm test's preflight installs it, or says how).
import { spawnSync, type SpawnSyncOptionsWithStringEncoding, type SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

interface DebianPackage {
  name: string;
  commands: string[];
}

let packages: DebianPackage[] | undefined;

function list(): DebianPackage[] {
  if (!packages) {
    // compiled to dist/dev: the repository root is two folders up
    const file = path.resolve(__dirname, "..", "..", "scripts", "debian-packages.json");
    packages = (JSON.parse(fs.readFileSync(file, "utf8")) as { packages: DebianPackage[] }).packages;
  }
  return packages;
}

/** "nginx is not installed (Debian package nginx; npm test installs it when run as root)" */
export function notInstalled(...commands: string[]): string {
  const pkgs = [...new Set(commands.map((c) => list().find((p) => p.commands.includes(c))?.name).filter(Boolean))];
  const what = commands.join(" / ");
  return pkgs.length > 0
    ? `${what} is not installed (Debian package ${pkgs.join(", ")}; npm test installs it when run as root)`
    : `${what} is not installed`;
}

/** spawnSync of a packaged command; a missing command fails with its package's name, not ENOENT or `null !== 0`. */
export function runTool(
  command: string,
  args: readonly string[],
  options: Omit<SpawnSyncOptionsWithStringEncoding, "encoding"> = {},
): SpawnSyncReturns<string> {
  const r = spawnSync(command, args, { ...options, encoding: "utf8" });
  if (r.error && "code" in r.error && r.error.code === "ENOENT") throw new Error(notInstalled(command));
  if (r.error) throw r.error;
  return r;
}
