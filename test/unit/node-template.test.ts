// The web node template: the rendered cloud-config passes `cloud-init schema`, every shell script in
// infra/node and in the document passes shellcheck, the rendered NGINX site passes `nginx -t`, the
// document carries no secret, and the installer refuses downloads that do not match their pins.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { stackNames } from "../../shared/graph/names";
import { recordingStorageIds } from "../../shared/graph/recordings-graph";
import { RECORDING_UNITS, RECORDING_UPLOADER_PATH } from "../../shared/recordings/layout";
import { shellQuote } from "../../shared/node/agent";
import { GUACAMOLE_RELEASES, MYSQL_CONNECTOR_J, TOMCAT, nodeArtifacts } from "../../shared/node/catalog";
import {
  CUSTOM_DATA_MAX_BYTES,
  NodeTemplateError,
  customDataBase64,
  decodeCustomData,
  nodeFilesDir,
  parseNodeCloudConfig,
  renderNodeCloudInit,
  stripShellComments,
  type NodeTemplateInput,
} from "../../shared/node/cloud-init";
import {
  NODE_AGENT_CONFIG,
  NODE_AGENT_PATH,
  NODE_IMAGE_TOOL_PATH,
  NODE_LOCAL_PORTS,
  NODE_PATHS,
  NODE_PROBE,
  NODE_TOMCAT_UNIT,
} from "../../shared/node/constants";
import { BLOCKED_PLATFORM_ADDRESSES, NODE_SERVICES, renderNodeServices } from "../../shared/node/services";
import { renderWebNodeCustomData } from "../../shared/node/web-node-template";
import { SECRET_NAMES } from "../../shared/secret-names";
import { validateStackSpec } from "../../shared/spec/validate";
import { relocateNginxSite, repoRoot } from "../../dev/node-sandbox";
import { nginxCommand } from "../../dev/servers/nginx";
import { freePort } from "../../dev/servers/ports";
import { runCommand } from "../../dev/servers/process";
import { runTool } from "../../dev/system-tools";
import { TestCa } from "../../dev/servers/test-ca";

const INPUTS: NodeTemplateInput[] = [
  {
    stackName: "prod",
    fleetMode: "availabilitySet",
    publicHostname: "jump.example.com",
    keyVaultUrl: "https://kv-prod-7f3a.vault.azure.net/",
    dbHost: "prod-mysql-7f3a.mysql.database.azure.com",
  },
  {
    stackName: "lab-2",
    fleetMode: "scaleSet",
    publicHostname: "lab-2.westeurope.cloudapp.azure.com",
    keyVaultUrl: "https://kv-lab-2.vault.azure.net",
    dbHost: "lab-2-mysql.private.mysql.database.azure.com",
    dbPort: 3306,
  },
];

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-node-template-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function fileOf(document: string, p: string): string {
  const f = parseNodeCloudConfig(document).write_files.find((w) => w.path === p);
  assert.ok(f, `the document writes ${p}`);
  return f.content;
}

function envOf(content: string): Map<string, string> {
  return new Map(
    content
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as [string, string]),
  );
}

function shellcheck(file: string): { status: number | null; output: string } {
  const r = runTool("shellcheck", ["--shell=bash", "--severity=style", file]);
  return { status: r.status, output: r.stdout + r.stderr };
}

describe("web node template", () => {
  for (const input of INPUTS) {
    test(`${input.fleetMode} / ${input.publicHostname}: cloud-init schema accepts the document`, () => {
      const document = renderNodeCloudInit(input);
      assert.ok(document.startsWith("#cloud-config\n"));
      const file = path.join(tmp, `${input.stackName}.yaml`);
      fs.writeFileSync(file, document);
      const r = runTool("cloud-init", ["schema", "--config-file", file]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Valid cloud-config/);

      const config = parseNodeCloudConfig(document);
      assert.deepEqual(config.runcmd, [[NODE_PATHS.installer]]);
      assert.equal(config.ssh_pwauth, false);
      const packages = config.packages ?? [];
      assert.ok(packages.includes("nginx") && packages.includes("openjdk-21-jre-headless"));
      assert.ok(!packages.some((p) => /tomcat|openssh/.test(p)), "Tomcat comes pinned from Apache, no SSH");
      for (const f of config.write_files) {
        assert.match(f.permissions, /^0[0-7]{3}$/);
        assert.doesNotMatch(f.content, /\{\{[A-Z0-9_]+\}\}/, `${f.path} has an unfilled placeholder`);
      }
      assert.equal(config.write_files.find((f) => f.path === NODE_PATHS.guacamoleProperties)?.permissions, "0640");

      const env = envOf(fileOf(document, NODE_AGENT_CONFIG));
      assert.equal(env.get("JUMPGATE_FLEET_MODE"), input.fleetMode);
      assert.equal(env.get("JUMPGATE_PUBLIC_HOSTNAME"), input.publicHostname);
      assert.equal(env.get("JUMPGATE_KEY_VAULT_URL"), input.keyVaultUrl.replace(/\/?$/, "/"));
      assert.equal(env.get("JUMPGATE_DB_HOST"), input.dbHost);
      const site = fileOf(document, NODE_PATHS.nginxSite);
      assert.match(site, new RegExp(`server_name ${input.publicHostname.replace(/\./g, "\\.")};`));
      assert.match(site, new RegExp(`return 301 https://${input.publicHostname.replace(/\./g, "\\.")}\\$request_uri;`));
      assert.match(site, new RegExp(`listen ${NODE_PROBE.port};`));
      assert.match(site, new RegExp(`location = ${NODE_PROBE.path} \\{`));
    });
  }

  test("the fleet modes differ only in the mode the node is told", () => {
    const [a, b] = ["availabilitySet", "scaleSet"].map((fleetMode) =>
      renderNodeCloudInit({ ...INPUTS[0], fleetMode: fleetMode as NodeTemplateInput["fleetMode"] }),
    );
    const diff = a.split("\n").filter((line, i) => line !== b.split("\n")[i]);
    assert.deepEqual(diff.length, 1);
    assert.match(diff[0], /JUMPGATE_FLEET_MODE=availabilitySet/);
  });

  test("a scale set's nodes are told their user-assigned identity; an availability set's VMs use their own", () => {
    const id =
      "/subscriptions/00000000-0000-0000-0000-00000000a001/resourceGroups/rg-lab/providers/Microsoft.ManagedIdentity/userAssignedIdentities/lab-2-web-id";
    const env = envOf(fileOf(renderNodeCloudInit({ ...INPUTS[1], identityResourceId: id }), NODE_AGENT_CONFIG));
    assert.equal(env.get("JUMPGATE_IDENTITY_RESOURCE_ID"), id);
    assert.equal(
      envOf(fileOf(renderNodeCloudInit(INPUTS[1]), NODE_AGENT_CONFIG)).has("JUMPGATE_IDENTITY_RESOURCE_ID"),
      false,
    );
    // the stack's own custom data: the scale set names the identity of its graph, the availability set nothing
    const base = {
      name: "lab2",
      subscriptionId: "00000000-0000-0000-0000-00000000a001",
      resourceGroup: "rg-lab",
      location: "westeurope",
    };
    for (const mode of ["scaleSet", "availabilitySet"] as const) {
      const checked = validateStackSpec({ ...base, fleet: { mode } });
      assert.ok(checked.ok);
      const custom = renderWebNodeCustomData(checked.spec, { name: "x", index: 0 });
      const document = decodeCustomData(custom);
      const nodeEnv = envOf(fileOf(document, NODE_AGENT_CONFIG));
      assert.equal(
        nodeEnv.get("JUMPGATE_IDENTITY_RESOURCE_ID"),
        mode === "scaleSet" ? stackNames(checked.spec).webIdentityId : undefined,
      );
    }
  });

  test("shellcheck passes on every script in infra/node and every script the document embeds or runs", () => {
    const dir = nodeFilesDir();
    const scripts = fs
      .readdirSync(dir, { recursive: true, encoding: "utf8" })
      .map((f) => path.join(dir, f))
      .filter((f) => fs.statSync(f).isFile() && /^#!.*\b(bash|sh)\b/.test(fs.readFileSync(f, "utf8").split("\n")[0]));
    assert.deepEqual(scripts.map((f) => path.basename(f)).sort(), [
      "install-node.sh",
      "jumpgate-image",
      "jumpgate-node",
      "jumpgate-recordings",
    ]);

    for (const input of INPUTS) {
      const config = parseNodeCloudConfig(renderNodeCloudInit(input));
      const embedded = config.write_files.filter((f) => f.content.startsWith("#!"));
      assert.deepEqual(embedded.map((f) => f.path).sort(), [NODE_PATHS.installer, NODE_AGENT_PATH].sort());
      embedded.forEach((f, i) => {
        const file = path.join(tmp, `embedded-${input.stackName}-${i}`);
        fs.writeFileSync(file, f.content);
        scripts.push(file);
      });
      const runcmd = path.join(tmp, `runcmd-${input.stackName}.sh`);
      fs.writeFileSync(
        runcmd,
        "#!/bin/bash\nset -euo pipefail\n" +
          config.runcmd.map((argv) => argv.map(shellQuote).join(" ")).join("\n") +
          "\n",
      );
      scripts.push(runcmd);
    }
    for (const script of scripts) {
      const r = shellcheck(script);
      assert.equal(r.status, 0, `${script}:\n${r.output}`);
    }
  });

  test("embedded scripts lose their comment lines, not their shebang, shellcheck directives or heredoc data", () => {
    const script = [
      "#!/usr/bin/env bash",
      "# why this script exists",
      "  # an indented comment",
      "# shellcheck disable=SC2016",
      "echo '# not a comment line' # trailing",
      "cat <<SQL",
      "# kept: heredoc data",
      "SQL",
      "cat <<-'EOF'",
      "\t# kept too",
      "\tEOF",
      'read -r a <<<"$x"',
      "# gone again",
      "done",
    ].join("\n");
    assert.equal(
      stripShellComments(script),
      [
        "#!/usr/bin/env bash",
        "# shellcheck disable=SC2016",
        "echo '# not a comment line' # trailing",
        "cat <<SQL",
        "# kept: heredoc data",
        "SQL",
        "cat <<-'EOF'",
        "\t# kept too",
        "\tEOF",
        'read -r a <<<"$x"',
        "done",
      ].join("\n"),
    );
  });

  test("the agent, the installer and the NGINX site use the shared paths", () => {
    const agent = fs.readFileSync(path.join(nodeFilesDir(), "jumpgate-node"), "utf8");
    const agentPaths: [string, string][] = [
      ["TLS_KEY", NODE_PATHS.tlsKey],
      ["TLS_CERT", NODE_PATHS.tlsCert],
      ["GUAC_PROPERTIES", NODE_PATHS.guacamoleProperties],
      ["SCHEMA_DIR", NODE_PATHS.guacamoleSchema],
      ["ACME_WEBROOT", NODE_PATHS.acmeWebroot],
      ["DRAIN_FLAG", NODE_PATHS.drainFlag],
      ["PROBE_FILE", NODE_PATHS.probeFile],
      ["CONFIG_FILE", NODE_AGENT_CONFIG],
    ];
    for (const [variable, p] of agentPaths) {
      assert.ok(agent.includes(`readonly ${variable}="$ROOT${p}"\n`), `the agent's ${variable} is ${p}`);
    }
    const installer = fs.readFileSync(path.join(nodeFilesDir(), "install-node.sh"), "utf8");
    assert.ok(installer.includes(`readonly AGENT="$ROOT${NODE_AGENT_PATH}"\n`));
    assert.ok(installer.includes(`readonly ARTIFACTS="$ROOT${NODE_PATHS.artifacts}"\n`));
    assert.ok(installer.includes(`readonly SCHEMA_DIR="$ROOT${NODE_PATHS.guacamoleSchema}"\n`));
    assert.ok(installer.includes(`ln -sfn "$ROOT"${NODE_PATHS.nginxSite} "$ROOT"/etc/nginx/conf.d/jumpgate.conf`));
  });

  test("nginx -t accepts the rendered site in a temporary prefix", async () => {
    const document = renderNodeCloudInit(INPUTS[0]);
    const root = path.join(tmp, "nginx-root");
    const ports = { http: await freePort(), https: await freePort(), probe: await freePort() };
    const site = relocateNginxSite(fileOf(document, NODE_PATHS.nginxSite), root, ports);
    assert.doesNotMatch(site, /listen (80|443|8081)\b/);
    const sitePath = path.join(root, NODE_PATHS.nginxSite);
    fs.mkdirSync(path.dirname(sitePath), { recursive: true });
    fs.writeFileSync(sitePath, site);
    const leaf = TestCa.create(path.join(tmp, "nginx-ca")).issue({
      commonName: INPUTS[0].publicHostname,
      dnsNames: [INPUTS[0].publicHostname],
    });
    fs.mkdirSync(path.dirname(path.join(root, NODE_PATHS.tlsCert)), { recursive: true });
    fs.copyFileSync(leaf.certPath, path.join(root, NODE_PATHS.tlsCert));
    fs.copyFileSync(leaf.keyPath, path.join(root, NODE_PATHS.tlsKey));
    const { command } = nginxCommand(path.join(tmp, "nginx-prefix"), [sitePath]);
    const r = await runCommand(command[0], [...command.slice(1), "-t"], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /test is successful/);

    assert.throws(
      () => relocateNginxSite("server { listen 80; root /srv/www; }", root, ports),
      /outside the node's directories/,
    );
  });

  test("the document carries no secret: credentials arrive later through the agent", () => {
    const document = renderNodeCloudInit(INPUTS[0]);
    const properties = fileOf(document, NODE_PATHS.guacamoleProperties);
    assert.doesNotMatch(properties, /^\s*mysql-(username|password)\s*[:=]/m);
    assert.match(properties, /^mysql-ssl-mode: verify-identity$/m);
    const env = envOf(fileOf(document, NODE_AGENT_CONFIG));
    const secretNames = new Set<string>(Object.values(SECRET_NAMES));
    for (const [key, value] of env) {
      if (key.startsWith("JUMPGATE_SECRET_")) assert.ok(secretNames.has(value), `${key} names a Key Vault secret`);
      else assert.doesNotMatch(key, /PASSWORD|TOKEN|KEY$/, `${key} looks like a secret value`);
    }
    // configuration (not the agent's and installer's code, which handle secrets at run time)
    for (const f of parseNodeCloudConfig(document).write_files.filter((w) => !w.content.startsWith("#!"))) {
      const hit = /PRIVATE KEY|password\s*[:=]|IDENTIFIED BY|Bearer /i.exec(f.content);
      assert.equal(hit, null, `${f.path} contains '${hit?.[0]}'`);
    }
  });

  test("custom data: gzip + base64, well under Azure's limit, and it round-trips", () => {
    for (const input of INPUTS) {
      const document = renderNodeCloudInit(input);
      const customData = customDataBase64(document);
      // headroom for what nodes will carry next: ~36 KB of Azure's 64 KiB with the sign-in commands,
      // ~42 KB with the connections command
      const bytes = Buffer.from(customData, "base64").length;
      assert.ok(bytes < CUSTOM_DATA_MAX_BYTES * 0.7, `${bytes} bytes of custom data`);
      assert.equal(decodeCustomData(customData), document);
    }
    assert.equal(decodeCustomData(Buffer.from("#cloud-config\n").toString("base64")), "#cloud-config\n");
  });

  test("recordings: the uploader and its units are installed and enabled, node.env names the container and the node", () => {
    const containerUrl = "https://jgprod7f3a0123456789abcd.blob.core.windows.net/recordings";
    const document = renderNodeCloudInit({ ...INPUTS[0], recordings: { containerUrl, nodeName: "prod-web-1" } });
    const config = parseNodeCloudConfig(document);
    const uploader = config.write_files.find((f) => f.path === RECORDING_UPLOADER_PATH);
    assert.equal(uploader?.permissions, "0755");
    assert.equal(uploader?.owner, "root:root");
    assert.equal(
      uploader?.content,
      stripShellComments(fs.readFileSync(path.join(nodeFilesDir(), "jumpgate-recordings"), "utf8")),
    );
    for (const unit of Object.values(RECORDING_UNITS)) {
      assert.equal(
        fileOf(document, `/etc/systemd/system/${unit}`),
        fs.readFileSync(path.join(nodeFilesDir(), "systemd", unit), "utf8"),
      );
    }
    // the installer enables what services.json lists: the path unit and the timer join the node's units
    const services = JSON.parse(fileOf(document, NODE_PATHS.services)) as { services: { unit: string }[] };
    assert.deepEqual(
      services.services.map((x) => x.unit),
      [...NODE_SERVICES.map((x) => x.unit), RECORDING_UNITS.path, RECORDING_UNITS.timer],
    );
    assert.equal(fileOf(document, NODE_PATHS.services), renderNodeServices({ recordings: true }));
    const env = envOf(fileOf(document, NODE_AGENT_CONFIG));
    assert.equal(env.get("JUMPGATE_RECORDINGS_CONTAINER_URL"), containerUrl);
    assert.equal(env.get("JUMPGATE_NODE_NAME"), "prod-web-1");
    // the uploader reads the names node.env gives it
    const script = uploader.content;
    for (const name of ["JUMPGATE_RECORDINGS_CONTAINER_URL", "JUMPGATE_NODE_NAME"])
      assert.ok(script.includes(name), name);
    assert.ok(script.includes(`readonly CONFIG_FILE="$ROOT${NODE_AGENT_CONFIG}"`));

    // without recordings: none of it
    const plain = renderNodeCloudInit(INPUTS[0]);
    assert.equal(
      parseNodeCloudConfig(plain).write_files.some(
        (f) => f.path === RECORDING_UPLOADER_PATH || /jumpgate-recordings/.test(f.path),
      ),
      false,
    );
    assert.equal(envOf(fileOf(plain, NODE_AGENT_CONFIG)).has("JUMPGATE_RECORDINGS_CONTAINER_URL"), false);

    // from the stack's spec: the stack's own container; an availability set's VM is named, a scale set's
    // instances (one custom data for all) use their host name
    const base = {
      name: "lab2",
      subscriptionId: "00000000-0000-0000-0000-00000000a001",
      resourceGroup: "rg-lab",
      location: "westeurope",
      recordings: {},
    };
    for (const mode of ["scaleSet", "availabilitySet"] as const) {
      const checked = validateStackSpec({ ...base, fleet: { mode } });
      assert.ok(checked.ok);
      const nodeEnv = envOf(
        fileOf(
          decodeCustomData(renderWebNodeCustomData(checked.spec, { name: "lab2-web-0", index: 0 })),
          NODE_AGENT_CONFIG,
        ),
      );
      const account = recordingStorageIds(checked.spec, stackNames(checked.spec)).account;
      assert.equal(
        nodeEnv.get("JUMPGATE_RECORDINGS_CONTAINER_URL"),
        `https://${account}.blob.core.windows.net/recordings`,
      );
      assert.equal(nodeEnv.get("JUMPGATE_NODE_NAME"), mode === "availabilitySet" ? "lab2-web-0" : undefined);
      const off = validateStackSpec({ ...base, recordings: { enabled: false }, fleet: { mode } });
      assert.ok(off.ok);
      const offEnv = envOf(
        fileOf(
          decodeCustomData(renderWebNodeCustomData(off.spec, { name: "lab2-web-0", index: 0 })),
          NODE_AGENT_CONFIG,
        ),
      );
      assert.equal(offEnv.has("JUMPGATE_RECORDINGS_CONTAINER_URL"), false);
    }

    // the largest custom data a node gets: recordings and the schema upgrade on top of everything else,
    // its scripts without their comment lines: still under 3/4 of Azure's limit
    const bytes = Buffer.from(customDataBase64(document), "base64").length;
    assert.ok(bytes < CUSTOM_DATA_MAX_BYTES * 0.75, `${bytes} bytes of custom data`);
  });

  test("invalid inputs are refused", () => {
    const bad: Partial<NodeTemplateInput>[] = [
      { publicHostname: "not a host" },
      { publicHostname: "evil.example.com;\n  return 200" },
      { keyVaultUrl: "http://kv.vault.azure.net/" },
      { keyVaultUrl: "https://kv.vault.azure.net/secrets/x" },
      { dbHost: "db.example.com\nJUMPGATE_DB_PORT=1" },
      { dbPort: 0 },
      { stackName: "Bad_Name" },
      { guacamoleVersion: "0.9.14" },
      { maxUploadSize: "1g; root /" },
      { identityResourceId: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm" },
      { identityResourceId: "lab-2-web-id\nJUMPGATE_DB_PORT=1" },
      { recordings: { containerUrl: "http://acct.blob.core.windows.net/recordings" } },
      { recordings: { containerUrl: "https://evil.example.com/recordings" } },
      { recordings: { containerUrl: "https://acct.blob.core.windows.net/recordings\nJUMPGATE_DB_PORT=1" } },
      { recordings: { containerUrl: "https://acct.blob.core.windows.net/recordings", nodeName: "../x" } },
    ];
    for (const change of bad) {
      assert.throws(
        () => renderNodeCloudInit({ ...INPUTS[0], ...change }),
        (e) => {
          return e instanceof NodeTemplateError || (e instanceof Error && /not in the catalog/.test(e.message));
        },
        JSON.stringify(change),
      );
    }
  });
});

describe("web node template: boot modes (source, bake, image)", () => {
  const DIGEST = "0123456789abcdef".repeat(4);
  const validates = (name: string, document: string) => {
    const file = path.join(tmp, `${name}.yaml`);
    fs.writeFileSync(file, document);
    const r = runTool("cloud-init", ["schema", "--config-file", file]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  };

  test("source is the default and renders what it always did; image is the same files without apt", () => {
    const source = renderNodeCloudInit(INPUTS[0]);
    assert.equal(renderNodeCloudInit({ ...INPUTS[0], mode: "source" }), source);
    const image = renderNodeCloudInit({ ...INPUTS[0], mode: "image" });
    validates("image", image);
    const s = parseNodeCloudConfig(source);
    const i = parseNodeCloudConfig(image);
    assert.equal(s.package_update, true);
    assert.ok((s.packages ?? []).includes("build-essential"));
    for (const key of ["packages", "package_update", "package_upgrade"]) {
      assert.ok(!(key in i), `image mode has no ${key}: no apt at boot`);
    }
    assert.doesNotMatch(image, /"packages"|package_update|package_upgrade/);
    // the same configuration, byte for byte, written the same way
    assert.deepEqual(i.write_files, s.write_files);
    assert.deepEqual(i.runcmd, [[NODE_PATHS.installer, "--from-image"]]);
    assert.deepEqual(s.runcmd, [[NODE_PATHS.installer]]);
    assert.equal(i.ssh_pwauth, false);
  });

  test("bake: packages, the installer and what it downloads with the image digest; nothing of a stack", () => {
    const bake = renderNodeCloudInit({ ...INPUTS[0], mode: "bake", imageDigest: DIGEST });
    validates("bake", bake);
    const b = parseNodeCloudConfig(bake);
    assert.deepEqual(b.runcmd, [[NODE_PATHS.installer, "--bake"]]);
    assert.equal(b.package_update, true);
    assert.deepEqual(b.packages, parseNodeCloudConfig(renderNodeCloudInit(INPUTS[0])).packages);
    assert.deepEqual(
      b.write_files.map((f) => f.path),
      [
        NODE_AGENT_PATH,
        NODE_IMAGE_TOOL_PATH,
        NODE_PATHS.artifacts,
        NODE_PATHS.installer,
        NODE_PATHS.services,
        "/opt/jumpgate/tomcat/server.xml",
      ],
    );
    const artifacts = envOf(fileOf(bake, NODE_PATHS.artifacts));
    assert.equal(artifacts.get("JUMPGATE_IMAGE_DIGEST"), DIGEST);
    assert.equal(artifacts.get("JUMPGATE_GUACAMOLE_VERSION"), "1.6.0");
    // the source document's artifacts.env, plus the digest
    const source = envOf(fileOf(renderNodeCloudInit(INPUTS[0]), NODE_PATHS.artifacts));
    assert.deepEqual(new Map([...artifacts].filter(([k]) => k !== "JUMPGATE_IMAGE_DIGEST")), source);
    // nothing of the stack: its names, vault, database and host name appear nowhere
    for (const value of [INPUTS[0].stackName, INPUTS[0].publicHostname, INPUTS[0].keyVaultUrl, INPUTS[0].dbHost]) {
      assert.ok(!bake.includes(value.replace(/\/$/, "")), `the bake document does not mention ${value}`);
    }
    // one image serves every stack of the release: other stack inputs, the same document
    assert.equal(renderNodeCloudInit({ ...INPUTS[1], mode: "bake", imageDigest: DIGEST }), bake);
    assert.ok(!bake.includes("{{"), "no unfilled placeholder");
  });

  test("bake needs a well-formed image digest; the other modes take none", () => {
    for (const imageDigest of [undefined, "", "ABC", "0".repeat(63), `${"0".repeat(63)}\n`]) {
      assert.throws(() => renderNodeCloudInit({ ...INPUTS[0], mode: "bake", imageDigest }), NodeTemplateError);
    }
    assert.throws(() => renderNodeCloudInit({ ...INPUTS[0], mode: "image", imageDigest: DIGEST }), NodeTemplateError);
    assert.throws(
      () => renderNodeCloudInit({ ...INPUTS[0], mode: "golden" as NodeTemplateInput["mode"] }),
      NodeTemplateError,
    );
  });

  test("the web node template renders image mode when the graph boots the node from an image", () => {
    const checked = validateStackSpec({
      name: "lab2",
      subscriptionId: "00000000-0000-0000-0000-000000000001",
      resourceGroup: "rg-lab2",
      location: "westeurope",
    });
    assert.ok(checked.ok);
    const vm = { name: "lab2-web-1", index: 1 };
    const doc = (boot?: "source" | "image") =>
      parseNodeCloudConfig(decodeCustomData(renderWebNodeCustomData(checked.spec, { ...vm, boot })));
    assert.deepEqual(doc("image").runcmd, [[NODE_PATHS.installer, "--from-image"]]);
    assert.equal(doc("image").packages, undefined);
    assert.deepEqual(doc().runcmd, [[NODE_PATHS.installer]]);
    assert.deepEqual(doc("source"), doc());
  });
});

/** A unit file's [Service] directives: every value of each key, in order (an empty value resets). */
function serviceDirectives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  for (const raw of unit.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    if (section !== "Service") continue;
    const key = line.slice(0, line.indexOf("="));
    const value = line.slice(line.indexOf("=") + 1);
    out.set(key, value === "" ? [] : [...(out.get(key) ?? []), value]);
  }
  return out;
}

describe("web node units and the services list", () => {
  const document = renderNodeCloudInit(INPUTS[0]);
  const unit = (name: string) => serviceDirectives(fileOf(document, `/etc/systemd/system/${name}`));
  const service = (name: string) => NODE_SERVICES.find((s) => s.unit === name)!;

  test("the document carries services.ts, and the installer enables exactly its units, applies and checks it", () => {
    assert.equal(fileOf(document, NODE_PATHS.services), renderNodeServices());
    const installer = fs.readFileSync(path.join(nodeFilesDir(), "install-node.sh"), "utf8");
    assert.ok(installer.includes(`readonly SERVICES="$ROOT${NODE_PATHS.services}"\n`));
    assert.match(installer, /mapfile -t units < <\(jq -r '\.services\[\]\.unit' "\$SERVICES"\)/);
    assert.match(installer, /enable --now "\$\{units\[@\]\}"/);
    assert.match(installer, /^ {2}apply_layout\n {2}check_service_access$/m);
    assert.match(installer, /^ {2}verify_services "\$\{units\[@\]\}"$/m);
    assert.deepEqual(
      NODE_SERVICES.map((s) => s.unit),
      ["guacd.service", NODE_TOMCAT_UNIT, "nginx.service", "jumpgate-probe.timer"],
    );
  });

  test("guacd and Tomcat run as the users services.ts names, writing only what it lists", () => {
    for (const name of ["guacd.service", NODE_TOMCAT_UNIT]) {
      const d = unit(name);
      assert.deepEqual(d.get("User"), [service(name).user], name);
      assert.deepEqual(d.get("Group"), [service(name).group], name);
      assert.equal(d.get("SupplementaryGroups"), undefined, `${name} has no extra groups`);
      assert.deepEqual(d.get("ProtectSystem"), ["strict"], `${name} writes only what it declares`);
      const writable = [
        ...(d.get("StateDirectory") ?? []).map((dir) => `/var/lib/${dir}`),
        ...(d.get("ReadWritePaths") ?? []).flatMap((v) => v.split(/\s+/)),
      ];
      // every writable place of the unit is listed, and every listed place lies in one (recordings in guacd's state)
      const writes = service(name).writes;
      for (const place of writable) assert.ok(writes.includes(place), `${name}: services.ts lists ${place}`);
      for (const place of writes)
        assert.ok(
          writable.some((w) => place === w || place.startsWith(`${w}/`)),
          `${name}: the unit lets it write ${place}`,
        );
    }
  });

  test("guacd keeps its state under StateDirectory= with HOME there, logs once, reads its own guacd.conf", () => {
    const d = unit("guacd.service");
    assert.deepEqual(d.get("StateDirectory"), ["guacd"]);
    assert.ok(d.get("Environment")?.includes("HOME=/var/lib/guacd"));
    const [execStart] = d.get("ExecStart")!;
    assert.match(execStart, /^\/usr\/local\/sbin\/guacd -f$/, "the settings live in guacd.conf");
    // -f logs each line to syslog and to stderr: stderr reaches the journal, syslog is cut off
    assert.ok(d.get("InaccessiblePaths")?.includes("-/run/systemd/journal/dev-log"));
    assert.equal(d.get("StandardError"), undefined, "stderr (early errors, FreeRDP) goes to the journal");
    assert.ok(d.get("InaccessiblePaths")?.includes("/etc/guacamole"), "Tomcat's configuration is out of reach");
    const conf = fileOf(document, NODE_PATHS.guacdConf);
    assert.match(conf, /^bind_host = 127\.0\.0\.1$/m);
    assert.match(conf, new RegExp(`^bind_port = ${NODE_LOCAL_PORTS.guacd}$`, "m"));
    const installer = fs.readFileSync(path.join(nodeFilesDir(), "install-node.sh"), "utf8");
    assert.ok(installer.includes(`readonly GUACD_CONF="$ROOT${NODE_PATHS.guacdConf}"\n`));
    assert.match(installer, /\.\/configure --prefix="\$ROOT"\/usr\/local --with-guacd-conf="\$GUACD_CONF"/);
  });

  test("every unit of ours runs with a UTF-8 locale", () => {
    for (const name of ["guacd.service", NODE_TOMCAT_UNIT, "jumpgate-probe.service"]) {
      assert.ok(unit(name).get("Environment")?.includes("LANG=C.UTF-8"), name);
    }
  });

  test("tomcat, guacd and NGINX cannot reach IMDS or the wire server; loopback and the network stay open", () => {
    const dropIn = serviceDirectives(fileOf(document, "/etc/systemd/system/nginx.service.d/jumpgate.conf"));
    for (const [name, d] of [
      ["guacd.service", unit("guacd.service")],
      [NODE_TOMCAT_UNIT, unit(NODE_TOMCAT_UNIT)],
      ["nginx.service (drop-in)", dropIn],
    ] as const) {
      const denied = (d.get("IPAddressDeny") ?? []).flatMap((v) => v.split(/\s+/));
      assert.deepEqual(denied.sort(), [...BLOCKED_PLATFORM_ADDRESSES].sort(), name);
      assert.equal(d.get("IPAddressAllow"), undefined, `${name}: nothing else is filtered`);
    }
    assert.equal(unit("jumpgate-probe.service").get("IPAddressDeny"), undefined, "the agent (root) uses IMDS");
  });

  test("README's Web nodes section names every unit, its user and what it writes", () => {
    const readme = fs.readFileSync(path.join(repoRoot(), "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Web nodes"), readme.indexOf("## Security model"));
    for (const s of NODE_SERVICES) {
      const row = section.split("\n").find((line) => line.startsWith(`| \`${s.unit}`));
      assert.ok(row, `README lists ${s.unit}`);
      assert.ok(row.includes(`\`${s.user}\``), `README says ${s.unit} runs as ${s.user}`);
      for (const w of s.writes)
        assert.ok(row.includes(w.replace(/^\/opt\/tomcat\/(?!logs)/, "")), `${s.unit} writes ${w}`);
    }
  });

  test("Tomcat never writes webapps/: the installer unpacks the WAR, server.xml neither unpacks nor auto-deploys", () => {
    const serverXml = fileOf(document, "/opt/jumpgate/tomcat/server.xml");
    assert.match(serverXml, /<Host [^>]*unpackWARs="false"/);
    assert.match(serverXml, /<Host [^>]*autoDeploy="false"/);
    const installer = fs.readFileSync(path.join(nodeFilesDir(), "install-node.sh"), "utf8");
    assert.match(installer, /unzip -q "\$CACHE\/guacamole\.war" -d "\$staging"/);
    assert.ok(service(NODE_TOMCAT_UNIT).mustNotWrite.includes("/opt/tomcat/webapps"));
  });
});

describe("artifact catalog and the installer's verification", () => {
  test("every artifact is pinned to https locations and a well-formed digest with its source", () => {
    for (const [name, artifact] of Object.entries(nodeArtifacts())) {
      assert.ok(artifact.urls.length > 0 && artifact.urls.every((u) => u.startsWith("https://")), name);
      assert.ok(artifact.digest, `${name} has a verified digest`);
      const length = artifact.digest.algorithm === "sha256" ? 64 : 128;
      assert.match(artifact.digest.hex, new RegExp(`^[0-9a-f]{${length}}$`), name);
      assert.ok(artifact.digest.source.length > 20, `${name} names where its digest comes from`);
    }
    assert.ok(GUACAMOLE_RELEASES["1.6.0"].war.urls[0].endsWith("/guacamole-1.6.0.war"));
    assert.match(TOMCAT.version, /^9\.0\.\d+$/, "Guacamole 1.6 needs Tomcat 9 (javax)");
    assert.ok(MYSQL_CONNECTOR_J.member.endsWith(`mysql-connector-j-${MYSQL_CONNECTOR_J.version}.jar`));

    const env = envOf(fileOf(renderNodeCloudInit(INPUTS[0]), NODE_PATHS.artifacts));
    assert.equal(env.get("JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS"), "false");
    for (const name of Object.keys(nodeArtifacts())) {
      assert.match(env.get(`JUMPGATE_ARTIFACT_${name}_DIGEST`) ?? "", /^sha(256|512):[0-9a-f]+$/, name);
    }
    const allowed = envOf(
      fileOf(renderNodeCloudInit({ ...INPUTS[0], allowUnverifiedArtifacts: true }), NODE_PATHS.artifacts),
    );
    assert.equal(allowed.get("JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS"), "true");
  });

  test("fetch_verified accepts a matching download and refuses a mismatching or unpinned one", async () => {
    const ca = TestCa.create(path.join(tmp, "mirror-ca"));
    const cert = ca.issue({ commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"] });
    const payload = Buffer.from("pretend guacamole-server tarball\n");
    const requests: string[] = [];
    const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      requests.push(req.url ?? "");
      if (req.url === "/artifact.tar.gz") res.end(payload);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const installer = path.join(nodeFilesDir(), "install-node.sh");
    const dest = path.join(tmp, "download");
    const fetch = (urls: string, digest: string, allow = "false") =>
      runCommand("bash", ["-c", 'source "$1"; fetch_verified JUMPGATE_ARTIFACT_TEST "$2"', "_", installer, dest], {
        env: {
          PATH: process.env.PATH,
          CURL_CA_BUNDLE: ca.certPath,
          JUMPGATE_INSTALL_CACHE: path.join(tmp, "cache"),
          JUMPGATE_ARTIFACT_TEST_URLS: urls,
          JUMPGATE_ARTIFACT_TEST_DIGEST: digest,
          JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS: allow,
        },
        timeoutMs: 20_000,
      });
    const sha256 = createHash("sha256").update(payload).digest("hex");
    const sha512 = createHash("sha512").update(payload).digest("hex");
    try {
      const good = await fetch(`${base}/missing ${base}/artifact.tar.gz`, `sha256:${sha256}`);
      assert.equal(good.code, 0, good.stderr);
      assert.deepEqual(fs.readFileSync(dest), payload);
      assert.match(good.stderr, /trying the next location/);
      assert.equal((await fetch(`${base}/artifact.tar.gz`, `sha512:${sha512}`)).code, 0);

      const tampered = await fetch(`${base}/artifact.tar.gz`, `sha256:${"0".repeat(64)}`);
      assert.equal(tampered.code, 1);
      assert.match(tampered.stderr, /does not match its pinned SHA256 digest/);
      assert.equal(fs.existsSync(dest), false, "a mismatching download is deleted");

      const before = requests.length;
      const unpinned = await fetch(`${base}/artifact.tar.gz`, "none");
      assert.equal(unpinned.code, 1);
      assert.match(unpinned.stderr, /refusing to install an unverified artifact/);
      assert.equal(requests.length, before, "nothing is downloaded for an unpinned artifact");
      const allowed = await fetch(`${base}/artifact.tar.gz`, "none", "true");
      assert.equal(allowed.code, 0);
      assert.match(allowed.stderr, /WARNING: installing JUMPGATE_ARTIFACT_TEST without a checksum/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
