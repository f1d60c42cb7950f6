// The image builder's agent commands as the app runs them: `jumpgate-node image-status` and
// `jumpgate-node image-seal` (the real infra/node scripts, jumpgate-node handing over to
// jumpgate-image) in a sandbox root, with cloud-init and waagent stand-ins that record their calls.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { imageBakeStatusOf } from "../../shared/node/agent";
import { nodeFilesDir } from "../../shared/node/cloud-init";
import { NODE_AGENT_PATH, NODE_IMAGE_TOOL_PATH } from "../../shared/node/constants";

let root: string;
const DIGEST = "ab".repeat(32);

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-image-agent-"));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A builder's sandbox: the two scripts, a machine's state, cloud-init saying `cloudStatus`. */
function builder(name: string, cloudStatus: unknown): string {
  const dir = path.join(root, name);
  for (const [file, to] of [
    ["jumpgate-node", NODE_AGENT_PATH],
    ["jumpgate-image", NODE_IMAGE_TOOL_PATH],
  ]) {
    fs.mkdirSync(path.dirname(path.join(dir, to)), { recursive: true });
    fs.copyFileSync(path.join(nodeFilesDir(), file), path.join(dir, to));
    fs.chmodSync(path.join(dir, to), 0o755);
  }
  for (const d of ["etc/ssh", "var/lib/jumpgate", "var/lib/dbus", "var/log/apt"]) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.writeFileSync(path.join(dir, "etc/machine-id"), "0123456789abcdef0123456789abcdef\n");
  fs.writeFileSync(path.join(dir, "var/lib/dbus/machine-id"), "0123456789abcdef0123456789abcdef\n");
  fs.writeFileSync(path.join(dir, "etc/ssh/ssh_host_ed25519_key"), "key\n");
  fs.writeFileSync(path.join(dir, "etc/ssh/ssh_host_ed25519_key.pub"), "key\n");
  fs.writeFileSync(path.join(dir, "var/log/syslog"), "lines\n");
  fs.writeFileSync(path.join(dir, "var/log/syslog.1"), "older\n");
  fs.writeFileSync(path.join(dir, "var/log/apt/history.log.2.gz"), "old\n");
  const calls = path.join(dir, "tool-calls");
  fs.writeFileSync(
    path.join(dir, "cloud-init"),
    `#!/usr/bin/env bash\necho "cloud-init $*" >>'${calls}'\n[[ $1 == status ]] && echo '${JSON.stringify(cloudStatus)}'\nexit 0\n`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(dir, "waagent"), `#!/usr/bin/env bash\necho "waagent $*" >>'${calls}'\n`, {
    mode: 0o755,
  });
  return dir;
}

function agent(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(dir, NODE_AGENT_PATH),
      args,
      {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          JUMPGATE_NODE_ROOT: dir,
          JUMPGATE_CLOUD_INIT: path.join(dir, "cloud-init"),
          JUMPGATE_WAAGENT: path.join(dir, "waagent"),
        },
        timeout: 20_000,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** The agent's one line of JSON. */
const answer = (out: { stdout: string }) => JSON.parse(out.stdout) as Record<string, unknown>;

const calls = (dir: string) =>
  fs.existsSync(path.join(dir, "tool-calls")) ? fs.readFileSync(path.join(dir, "tool-calls"), "utf8").trim() : "";

describe("jumpgate-node image-status / image-seal", () => {
  test("image-status: running, failed, baked, or a baked.json without a digest", async () => {
    const running = builder("running", { status: "running", errors: [] });
    const r1 = await agent(running, "image-status");
    assert.equal(r1.code, 0, r1.stderr);
    assert.deepEqual(imageBakeStatusOf(answer(r1)), { baked: false, digest: null, error: null });

    const failed = builder("failed", { status: "error", errors: ["runcmd: install-node.sh exited 1"] });
    const r2 = imageBakeStatusOf(answer(await agent(failed, "image-status")));
    assert.equal(r2.baked, false);
    assert.equal(r2.error, "cloud-init finished with errors: runcmd: install-node.sh exited 1");

    const done = builder("done", { status: "done", errors: [] });
    assert.match(String(answer(await agent(done, "image-status")).error), /without writing baked.json/);
    fs.writeFileSync(path.join(done, "var/lib/jumpgate/baked.json"), JSON.stringify({ digest: DIGEST }));
    assert.deepEqual(JSON.parse((await agent(done, "image-status")).stdout), {
      baked: true,
      digest: DIGEST,
      error: null,
    });
    fs.writeFileSync(path.join(done, "var/lib/jumpgate/baked.json"), JSON.stringify({ digest: "$(reboot)" }));
    assert.match(String(answer(await agent(done, "image-status")).error), /no sha256 digest/);
  });

  test("image-seal: refused before the bake and on a configured node; otherwise strips the machine and deprovisions", async () => {
    const dir = builder("seal", { status: "done", errors: [] });
    const early = await agent(dir, "image-seal");
    assert.equal(early.code, 1);
    assert.match(early.stderr, /the bake has not finished/);
    assert.equal(calls(dir), "", "nothing ran");

    fs.writeFileSync(path.join(dir, "var/lib/jumpgate/baked.json"), JSON.stringify({ digest: DIGEST }));
    fs.mkdirSync(path.join(dir, "etc/jumpgate"), { recursive: true });
    fs.writeFileSync(path.join(dir, "etc/jumpgate/node.env"), "JUMPGATE_KEY_VAULT_URL=https://kv\n");
    const configured = await agent(dir, "image-seal");
    assert.equal(configured.code, 1);
    assert.match(configured.stderr, /only an image builder is sealed/);
    assert.ok(fs.existsSync(path.join(dir, "etc/ssh/ssh_host_ed25519_key")), "a web node keeps its keys");
    assert.equal(calls(dir), "");

    fs.rmSync(path.join(dir, "etc/jumpgate/node.env"));
    const sealed = await agent(dir, "image-seal");
    assert.equal(sealed.code, 0, sealed.stderr);
    assert.deepEqual(JSON.parse(sealed.stdout), {
      sealed: true,
      removed: ["machine-id", "ssh-host-keys", "cloud-init-state", "logs"],
      deprovisioned: true,
    });
    assert.equal(fs.readFileSync(path.join(dir, "etc/machine-id"), "utf8"), "", "empty: a new id at first boot");
    assert.ok(!fs.existsSync(path.join(dir, "var/lib/dbus/machine-id")));
    assert.deepEqual(fs.readdirSync(path.join(dir, "etc/ssh")), []);
    assert.equal(fs.readFileSync(path.join(dir, "var/log/syslog"), "utf8"), "");
    assert.ok(!fs.existsSync(path.join(dir, "var/log/syslog.1")));
    assert.ok(!fs.existsSync(path.join(dir, "var/log/apt/history.log.2.gz")));
    assert.deepEqual(calls(dir).split("\n"), ["cloud-init clean --logs", "waagent -deprovision+user -force"]);
  });

  test("anything else is a usage error", async () => {
    const dir = builder("usage", { status: "running" });
    const r = await agent(dir, "image-status", "--now");
    assert.equal(r.code, 2);
  });
});
