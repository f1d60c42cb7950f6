// Runs before any test: are the Debian packages the requested tiers need installed? The list is
// scripts/debian-packages.json (the only one). Missing packages are installed when this process can
// (root, or sudo without a password, on a machine with apt-get); otherwise it stops with one line
// that names the apt-get command, and no test runs: a tier never passes by skipping its servers.
// Usage: node scripts/preflight.mjs [tier...]   (default: every tier)
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";

const ALL_TIERS = ["unit", "orchestration", "integration", "e2e"];
const tiers = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const requested = tiers.length ? tiers : ALL_TIERS;
const { packages } = JSON.parse(readFileSync(new URL("./debian-packages.json", import.meta.url), "utf8"));
const needed = packages.filter((p) => p.tiers.some((t) => requested.includes(t)));

const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];
const onPath = (command) =>
  [...(process.env.PATH ?? "").split(delimiter), ...SBIN].some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
const hasDpkg = onPath("dpkg-query");

/** Debian's own record when there is one (a package can be half-removed with its files still there); else the commands. */
function installed(pkg) {
  if (!hasDpkg) return pkg.commands.every(onPath);
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg.name], { encoding: "utf8" });
  return r.status === 0 && / installed$/.test(r.stdout.trim());
}

const missingOf = () => needed.filter((p) => !installed(p));
let missing = missingOf();
if (missing.length === 0) process.exit(0);

const names = missing.map((p) => p.name);
const blocked = requested.filter((t) => missing.some((p) => p.tiers.includes(t)));
const tierList = blocked.length === 1 ? `the ${blocked[0]} tier needs` : `the ${listOf(blocked)} tiers need`;
const command = `apt-get update && apt-get install -y --no-install-recommends ${names.join(" ")}`;

const root = process.getuid?.() === 0;
const sudo = !root && onPath("sudo") && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;
if (!onPath("apt-get") || !(root || sudo)) {
  const how = onPath("apt-get")
    ? `install them as root: ${command}`
    : `this machine has no apt-get: install their equivalents`;
  console.error(`preflight: no test ran: missing Debian packages ${names.join(" ")} (${tierList} them); ${how}`);
  process.exit(1);
}

console.error(`preflight: installing the Debian packages the tests need: ${names.join(" ")}`);
const asRoot = (args) => (root ? args : ["sudo", "-n", ...args]);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
const run = (args) => spawnSync(args[0], args.slice(1), { stdio: ["ignore", "ignore", "inherit"], env }).status;
if (
  run(asRoot(["apt-get", "update", "-qq"])) !== 0 ||
  run(asRoot(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...names])) !== 0
) {
  console.error(`preflight: no test ran: installing ${names.join(" ")} failed; try it yourself as root: ${command}`);
  process.exit(1);
}
// Debian starts the servers it installs; the tests start their own on free loopback ports, so the
// system's copies are stopped (and kept from starting at boot) to leave the default ports alone
for (const service of ["mariadb", "nginx"].filter((s) => names.some((n) => n.startsWith(s)))) {
  const systemd = existsSync("/run/systemd/system");
  run(asRoot(systemd ? ["systemctl", "disable", "--now", service] : ["service", service, "stop"]));
}
missing = missingOf();
if (missing.length > 0) {
  console.error(`preflight: no test ran: ${missing.map((p) => p.name).join(" ")} still missing after apt-get install`);
  process.exit(1);
}

function listOf(items) {
  return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}
