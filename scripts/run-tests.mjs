// Runs the compiled test files with node's own test runner.
// Why a script: Node 20 and 22 disagree on how `node --test <dir>` expands its arguments,
// so we list the files ourselves. Usage: node scripts/run-tests.mjs [tier...] [--soak]
//   tiers: unit orchestration integration e2e (default: all). --soak runs only *.soak.test.js.
import { readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
const soak = args.includes("--soak");
const tiers = args.filter((a) => !a.startsWith("--"));
const roots = (tiers.length ? tiers : ["unit", "orchestration", "integration", "e2e"]).map((t) =>
  join("dist", "test", t),
);

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const files = roots
  .flatMap(walk)
  .filter((f) => f.endsWith(".test.js"))
  .filter((f) => f.endsWith(".soak.test.js") === soak)
  .sort();
if (files.length === 0) {
  console.error(`no test files under ${roots.join(", ")}${soak ? " (soak)" : ""}; did the build run?`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--enable-source-maps", "--test", "--test-concurrency=2", ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
