// Node images, on the node: the real install-node.sh bakes a node in a sandbox (test/support/
// installed-node.ts: upstream stand-ins served over HTTPS on 127.0.0.1, the systemd stand-in running
// units as their User=), the baked tree is generalized (the harness's files, /run, logs and the
// node's state gone, baked.json kept) and booted at the same root with image-mode custom data. The
// image boot is proven to download nothing (the artifact server's request log is empty) and build
// nothing (curl, make, cc, tar, unzip, apt and dpkg are tripwires first on its PATH), and to start
// every unit of services.ts as its user, each reaching what it reads. An image baked for another
// Guacamole release is refused before anything starts. Needs root (setpriv, chown), as CI runs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { renderNodeCloudInit, type NodeTemplateInput } from "../../shared/node/cloud-init";
import { NODE_AGENT_CONFIG, NODE_PATHS } from "../../shared/node/constants";
import { NODE_SERVICES, type NodeService } from "../../shared/node/services";
import { unitProcessGroup } from "../../dev/systemd-standin";
import type { RunResult } from "../../dev/servers/process";
import {
  ensureServiceUsers,
  generalizeBakedNode,
  prepareInstalledNode,
  type InstalledNode,
} from "../support/installed-node";

const INPUT: NodeTemplateInput = {
  stackName: "imaged",
  fleetMode: "scaleSet",
  publicHostname: "jump.example.com",
  keyVaultUrl: "https://kv-imaged.vault.azure.net/",
  dbHost: "127.0.0.1",
  identityResourceId:
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-imaged/providers/Microsoft.ManagedIdentity/userAssignedIdentities/imaged-web",
};
const DIGEST = "5f0c2a9e".repeat(8);
const ARTIFACTS = [
  "GUACAMOLE_SERVER",
  "GUACAMOLE_WAR",
  "GUACAMOLE_AUTH_JDBC",
  "GUACAMOLE_AUTH_SSO",
  "TOMCAT",
  "MYSQL_CONNECTOR_J",
];

if (process.getuid?.() !== 0) {
  throw new Error("node-image.test needs root (setpriv, chown, useradd): run the suite as root, as CI does");
}

let users: ReturnType<typeof ensureServiceUsers>;
let tmp: string;
let root: string;
let image: string;
let bakeNode: InstalledNode;
let baked: RunResult;
let bakeDownloads: string[];
let bakeSystemctl: string;

before(async () => {
  users = ensureServiceUsers();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-image-"));
  fs.chmodSync(tmp, 0o755);
  root = path.join(tmp, "node");
  bakeNode = await prepareInstalledNode(root, renderNodeCloudInit({ ...INPUT, mode: "bake", imageDigest: DIGEST }));
  baked = await bakeNode.install();
  bakeDownloads = bakeNode.downloads();
  bakeSystemctl = read(path.join(root, ".test/systemctl.log"));
  await bakeNode.stop();
});
after(() => {
  users.remove();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function read(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}

function id(...args: string[]): string {
  return spawnSync("id", args, { encoding: "utf8" }).stdout.trim();
}

function gid(group: string): string {
  return spawnSync("getent", ["group", group], { encoding: "utf8" }).stdout.split(":")[2];
}

/** `test -<flag>` on each of the node's paths as the unit's user, its group and groups (as systemd runs it). */
function deniedAs(service: NodeService, rootDir: string, flag: "r" | "x" | "w", vmPaths: readonly string[]): string[] {
  const groups = new Set([...id("-G", service.user).split(/\s+/), ...service.supplementaryGroups.map(gid)]);
  const denied: string[] = [];
  for (const vmPath of vmPaths.filter((p) => !p.includes("*"))) {
    const r = spawnSync(
      "setpriv",
      [
        `--reuid=${id("-u", service.user)}`,
        `--regid=${gid(service.group)}`,
        `--groups=${[...groups].join(",")}`,
        "--",
        "test",
        `-${flag}`,
        path.join(rootDir, vmPath),
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) denied.push(`${service.user} (${service.unit}) cannot ${flag} ${vmPath}`);
  }
  return denied;
}

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: urlPath }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("baking a node image (install-node.sh --bake)", () => {
  test("downloads and verifies every artifact, builds guacd and lays out Tomcat and Guacamole", () => {
    assert.equal(baked.code, 0, baked.stderr);
    for (const name of ARTIFACTS)
      assert.match(baked.stderr, new RegExp(`JUMPGATE_ARTIFACT_${name} verified \\(sha256\\)`));
    assert.equal(bakeDownloads.length, ARTIFACTS.length, bakeDownloads.join(", "));
    assert.match(baked.stderr, /building guacd 1\.6\.0/);
    assert.ok(fs.existsSync(path.join(root, "usr/local/sbin/guacd")));
    assert.ok(fs.existsSync(path.join(root, "opt/tomcat/webapps/ROOT")));
    assert.ok(fs.existsSync(path.join(root, "etc/guacamole/extensions/guacamole-auth-jdbc-mysql-1.6.0.jar")));
    assert.ok(fs.existsSync(path.join(root, "etc/guacamole/lib/mysql-connector-j.jar")));
    // laid out for the services' users already (services.json's owners): tomcat's group owns its jars
    const jar = fs.statSync(path.join(root, "etc/guacamole/extensions/guacamole-auth-jdbc-mysql-1.6.0.jar"));
    assert.equal(String(jar.gid), gid("tomcat"));
  });

  test("writes baked.json with the image digest and release, and keeps no download", () => {
    assert.deepEqual(JSON.parse(read(path.join(root, "var/lib/jumpgate/baked.json"))), {
      digest: DIGEST,
      guacamoleVersion: "1.6.0",
    });
    assert.ok(!fs.existsSync(path.join(root, "var/cache/jumpgate")), "the downloads are not part of the image");
  });

  test("configures no stack and enables or starts nothing: no node.env, site, properties, certificate or marker", () => {
    for (const vmPath of [
      NODE_AGENT_CONFIG,
      NODE_PATHS.nginxSite,
      NODE_PATHS.guacamoleProperties,
      NODE_PATHS.tlsKey,
      "/etc/nginx/conf.d/jumpgate.conf",
      "/var/lib/jumpgate/installed.json",
      "/etc/systemd/system/guacd.service",
    ]) {
      assert.ok(!fs.existsSync(path.join(root, vmPath)), `${vmPath} is not in a baked image`);
    }
    const calls = bakeSystemctl.split("\n").filter((c) => c && !/^(show|is-active)\b/.test(c));
    assert.ok(!calls.some((c) => /^(enable|start|restart|reload-or-restart)\b/.test(c)), calls.join("\n"));
    assert.ok(calls.includes("disable --now nginx.service"), "the package's NGINX is stopped and disabled");
    for (const { unit } of NODE_SERVICES)
      assert.equal(unitProcessGroup(root, unit), undefined, `${unit} is not running`);
  });

  test("bake custom data without an image digest is refused by the installer too", async () => {
    const other = path.join(tmp, "nodigest");
    const node = await prepareInstalledNode(
      other,
      renderNodeCloudInit({ ...INPUT, mode: "bake", imageDigest: DIGEST }),
      {
        edit: (config) => {
          const env = config.write_files.find((f) => f.path === NODE_PATHS.artifacts)!;
          env.content = env.content.replace(/^JUMPGATE_IMAGE_DIGEST=.*\n/m, "");
        },
      },
    );
    try {
      const r = await node.install();
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no JUMPGATE_IMAGE_DIGEST/);
      assert.deepEqual(node.downloads(), [], "refused before any download");
      assert.ok(!fs.existsSync(path.join(other, "var/lib/jumpgate/baked.json")));
    } finally {
      await node.stop();
    }
  });
});

describe("first boot from the image (install-node.sh --from-image)", () => {
  let node: InstalledNode;
  let booted: RunResult;

  before(async () => {
    image = generalizeBakedNode(root);
    node = await prepareInstalledNode(root, renderNodeCloudInit({ ...INPUT, mode: "image" }), {
      baseTree: image,
      tripwires: true,
    });
    booted = await node.install();
  });
  after(async () => {
    await node?.stop();
  });

  test("downloads nothing, builds nothing, runs no package tool", () => {
    assert.equal(booted.code, 0, booted.stderr);
    assert.deepEqual(node.downloads(), [], "no request reached the artifact server");
    assert.deepEqual(node.tripwireCalls(), [], "no download, build, unpack or apt tool ran");
    assert.doesNotMatch(booted.stderr, /verified|building guacd|downloading/);
    assert.match(booted.stderr, /booting from the node image baked for Guacamole 1\.6\.0: configuration only/);
  });

  test("writes the configuration and starts every unit of services.ts, each as its user", async () => {
    const inactive: string[] = [];
    for (const { unit } of NODE_SERVICES) {
      const state = (await node.systemctl(["is-active", unit])).stdout.trim();
      if (state !== "active") inactive.push(`${unit} is ${state}: ${await node.journal(unit)}`);
    }
    assert.deepEqual(inactive, []);
    const calls = read(path.join(root, ".test/systemctl.log"));
    assert.match(calls, new RegExp(`^enable --now ${NODE_SERVICES.map((s) => s.unit).join(" ")}$`, "m"));
    assert.match(await node.journal("guacd.service"), /Listening on host 127\.0\.0\.1, port \d+/);
    assert.match(await node.journal("tomcat.service"), /Server startup/);
    for (const { unit, user } of NODE_SERVICES.filter((s) => s.user !== "root" && s.unit !== "nginx.service")) {
      const pgid = unitProcessGroup(root, unit);
      assert.ok(pgid, `${unit} runs`);
      const uids = spawnSync("ps", ["-o", "uid=", "-g", String(pgid)], { encoding: "utf8" })
        .stdout.split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
      assert.ok(uids.includes(id("-u", user)), `${unit} has a process of ${user}: uids ${uids.join(",")}`);
    }
    const marker = JSON.parse(read(path.join(root, "var/lib/jumpgate/installed.json"))) as { guacamole: string };
    assert.equal(marker.guacamole, "1.6.0");
    assert.match(read(path.join(root, NODE_AGENT_CONFIG)), /^JUMPGATE_STACK=imaged$/m);
  });

  test("each service's user reaches what it reads, runs and writes (checked by the installer and here)", () => {
    assert.match(booted.stderr, /every service reaches what it needs and no more/);
    const denied: string[] = [];
    for (const service of NODE_SERVICES.filter((s) => s.user !== "root")) {
      denied.push(...deniedAs(service, root, "r", service.reads));
      denied.push(...deniedAs(service, root, "x", service.executes));
      denied.push(...deniedAs(service, root, "w", service.writes));
    }
    assert.deepEqual(denied, []);
  });

  test("NGINX serves the probe and the agent reports the node installed", async () => {
    // not healthy yet: the node has no database credentials until it joins
    const probe = await get(node.ports.probe, "/jumpgate/health");
    assert.deepEqual(JSON.parse(probe.body), { healthy: false, draining: false });
    const health = await node.runAgent(["health"]);
    const doc = JSON.parse(health.stdout) as { installed: { guacamole: string } | null };
    assert.equal(doc.installed?.guacamole, "1.6.0");
  });
});

describe("an image baked for another Guacamole release", () => {
  test("is refused loudly before anything is written, downloaded or started", async () => {
    const other = path.join(tmp, "mismatch");
    const node = await prepareInstalledNode(other, renderNodeCloudInit({ ...INPUT, mode: "image" }), {
      baseTree: image,
      tripwires: true,
    });
    try {
      const bakedFile = path.join(other, "var/lib/jumpgate/baked.json");
      fs.writeFileSync(bakedFile, JSON.stringify({ digest: DIGEST, guacamoleVersion: "1.5.5" }));
      const r = await node.install();
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /REFUSED: this image was baked for Guacamole 1\.5\.5, .*configuration is for Guacamole 1\.6\.0/,
      );
      assert.match(r.stderr, /nothing was started/);
      assert.deepEqual(node.downloads(), []);
      assert.deepEqual(node.tripwireCalls(), []);
      const calls = read(path.join(other, ".test/systemctl.log"));
      assert.doesNotMatch(calls, /enable|start/, "no unit enabled or started");
      assert.ok(!fs.existsSync(path.join(other, "var/lib/jumpgate/installed.json")));
      for (const { unit } of NODE_SERVICES) assert.equal(unitProcessGroup(other, unit), undefined);
    } finally {
      await node.stop();
    }
  });

  test("(the tripwires work: a from-source install on the same PATH trips the first download)", async () => {
    const other = path.join(tmp, "source");
    const node = await prepareInstalledNode(other, renderNodeCloudInit(INPUT), { tripwires: true });
    try {
      const r = await node.install();
      assert.notEqual(r.code, 0);
      assert.match(node.tripwireCalls()[0] ?? "", /^curl /);
    } finally {
      await node.stop();
    }
  });

  test("a stock VM given image-mode custom data is refused: nothing to boot from", async () => {
    const other = path.join(tmp, "stock");
    const node = await prepareInstalledNode(other, renderNodeCloudInit({ ...INPUT, mode: "image" }), {
      tripwires: true,
    });
    try {
      const r = await node.install();
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /was not booted from a Jumpgate node image/);
      assert.deepEqual(node.downloads(), []);
      assert.deepEqual(node.tripwireCalls(), []);
    } finally {
      await node.stop();
    }
  });
});
