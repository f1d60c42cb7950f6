// The test setup a fresh clone relies on: CI runs the README's test line and nothing else, the
// README names every Debian package the preflight installs, and the preflight's list names what the
// tests run.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), "utf8");
const { packages } = JSON.parse(read("scripts/debian-packages.json")) as {
  packages: { name: string; commands: string[]; tiers: string[]; why: string }[];
};

test("CI runs the README's test line, and nothing else", () => {
  const quickStart = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(read("README.md"))?.[1] ?? "";
  const testLine = quickStart
    .split("\n")
    .find((l) => /# test it/.test(l))
    ?.replace(/\s+#.*$/, "")
    .trim();
  assert.equal(testLine, "npm ci && npm test");
  const commands = read(".ci/run")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && !/^set -|^cd "\$\(dirname/.test(l));
  assert.deepEqual(commands, [testLine]);
});

test("npm test starts with the preflight, which runs before the build and every tier", () => {
  const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts.test, /^node scripts\/preflight\.mjs && /);
  for (const tier of ["unit", "orchestration", "integration"]) {
    assert.match(scripts[`test:${tier}`], new RegExp(`^node scripts/preflight\\.mjs ${tier} && `));
  }
});

test("the README names every Debian package of the preflight's list, each with a tier and a reason", () => {
  const readme = read("README.md");
  const tiers = fs.readdirSync(path.join(ROOT, "test")).filter((d) => !["support", "fixtures"].includes(d));
  for (const p of packages) {
    assert.ok(readme.includes(`\`${p.name}\``), `the README does not name ${p.name}`);
    assert.ok(p.tiers.length > 0 && p.tiers.every((t) => tiers.includes(t)), `${p.name}: tiers ${p.tiers.join(", ")}`);
    assert.ok(p.why.length > 10, `${p.name}: why`);
  }
});
