// The web node template: a cloud-config document (custom data) that turns a stock Ubuntu 24.04 LTS
// VM into a Jumpgate web node. It carries only non-secret configuration: custom data is readable
// from the VM and through ARM, so secrets stay in Key Vault and the node agent fetches them itself.
//
// The document is `#cloud-config` + JSON (JSON is YAML), built from an object so no YAML escaping
// can go wrong. The agent, installer, NGINX site, systemd units and Tomcat/Guacamole settings are
// read from infra/node/ at render time and embedded with write_files; `{{NAME}}` placeholders in
// them are filled from the constants shared with the agent, so the paths and ports agree.
//
// Ubuntu 24.04 + Apache's Tomcat 9 (not 22.04's tomcat9 package): 24.04 has standard support
// until 2029 where 22.04's ends in 2027, and Guacamole 1.6 needs Tomcat 9 (javax.servlet), which
// 24.04 does not package; the Tomcat tarball is pinned by SHA-512 in catalog.ts and updated with it.
//
// Three modes (`mode`), one installer (infra/node/install-node.sh):
// - "source" (default): a stock Ubuntu VM; apt installs the packages, the installer downloads,
//   verifies and builds everything, writes the configuration and starts the services.
// - "bake": the image builder; apt and the installer's downloads, verification and build, laid out
//   for the services' users, but nothing of a stack: no node.env, no NGINX site, no units enabled.
//   It ends by writing /var/lib/jumpgate/baked.json with `imageDigest` (the node image key).
// - "image": a VM booted from a baked gallery image; no `packages:` and no apt at all, the installer
//   downloads and builds nothing: it checks the image was baked for this Guacamole release, writes
//   the configuration, applies and checks the layout and starts the services.
import * as fs from "node:fs";
import * as path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { SECRET_NAMES } from "../secret-names";
import type { FleetMode } from "../spec/types";
import { MYSQL_CONNECTOR_J, TOMCAT, guacamoleRelease, nodeArtifacts, type PinnedArtifact } from "./catalog";
import {
  APP_USERS,
  DB_ADMIN_LOGIN,
  GUACAMOLE_DATABASE,
  NODE_AGENT_CONFIG,
  NODE_AGENT_PATH,
  NODE_IMAGE_TOOL_PATH,
  NODE_HTTPS_PORT,
  NODE_HTTP_PORT,
  NODE_LOCAL_PORTS,
  NODE_PATHS,
  NODE_PROBE,
  NODE_TOMCAT_UNIT,
} from "./constants";
import { RECORDING_UNITS, RECORDING_UPLOADER_PATH } from "../recordings/layout";
import { renderNodeServices } from "./services";

/** How the node gets its software: built at first boot, baked into an image, or booted from one. */
export type NodeBootMode = "source" | "bake" | "image";

/** The installer's argument per mode (none: from source). */
export const INSTALLER_MODE_ARGS: Record<NodeBootMode, string[]> = {
  source: [],
  bake: ["--bake"],
  image: ["--from-image"],
};

export interface NodeTemplateInput {
  /** default "source"; "bake" needs `imageDigest` and renders nothing of the stack (its fields are not used) */
  mode?: NodeBootMode;
  /** bake: the node image key's digest (sha256 hex, shared/node/image-identity.ts), written to baked.json */
  imageDigest?: string;
  /** the stack's name (informational on the node: logs, health output) */
  stackName: string;
  fleetMode: FleetMode;
  /** the name users browse to; NGINX's server name and the certificate's subject */
  publicHostname: string;
  /** the stack's Key Vault, e.g. https://kv-name.vault.azure.net/ */
  keyVaultUrl: string;
  /** the MySQL flexible server's FQDN (TLS verify-identity checks it) */
  dbHost: string;
  dbPort?: number;
  /**
   * ARM id of the user-assigned identity the node's tokens must stand for (a scale set's instances);
   * unset: the VM's system-assigned identity. Sent to IMDS as `msi_res_id`, so it is known before
   * the identity exists (its client id is not).
   */
  identityResourceId?: string;
  /** a Guacamole release of catalog.ts (default: DEFAULT_GUACAMOLE_VERSION) */
  guacamoleVersion?: string;
  /** let the installer use an artifact that has no pinned digest (never needed with the current catalog) */
  allowUnverifiedArtifacts?: boolean;
  /** NGINX client_max_body_size: the largest file a user can upload through Guacamole */
  maxUploadSize?: string;
  /**
   * Session recordings (the stack's `recordings`): the uploader and its units are installed and
   * enabled, and node.env names the container it ships to. `nodeName`: the blobs' prefix (left out,
   * a scale set's instance: the uploader uses the VM's host name, which Azure sets per instance).
   */
  recordings?: { containerUrl: string; nodeName?: string };
}

export interface CloudConfigFile {
  path: string;
  permissions: string;
  owner: string;
  content: string;
}

export interface NodeCloudConfig {
  /** absent in image mode: a node booted from an image runs no apt at all */
  package_update?: boolean;
  package_upgrade?: boolean;
  packages?: string[];
  write_files: CloudConfigFile[];
  runcmd: string[][];
  ssh_pwauth: boolean;
  disable_root: boolean;
}

export class NodeTemplateError extends Error {
  override name = "NodeTemplateError";
}

/** Azure's limit on custom data (the decoded bytes). */
export const CUSTOM_DATA_MAX_BYTES = 65_535;

const CLOUD_CONFIG_HEADER = "#cloud-config\n";

/**
 * Ubuntu 24.04 packages: runtime, the agent's tools, and what guacamole-server 1.6 builds with. A
 * baked node image holds them, so the list is part of its key (stack-image-key.ts).
 */
export const NODE_APT_PACKAGES: readonly string[] = [
  "nginx",
  "openjdk-21-jre-headless",
  "mysql-client",
  "curl",
  "jq",
  "openssl",
  "ca-certificates",
  "iproute2",
  "unzip",
  "build-essential",
  "pkg-config",
  "libtool-bin",
  "uuid-dev",
  "libcairo2-dev",
  "libjpeg-turbo8-dev",
  "libpng-dev",
  "freerdp2-dev",
  "libpango1.0-dev",
  "libssh2-1-dev",
  "libtelnet-dev",
  "libvncserver-dev",
  "libwebsockets-dev",
  "libpulse-dev",
  "libssl-dev",
  "libvorbis-dev",
  "libwebp-dev",
];

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const STACK = /^[a-z][a-z0-9-]{1,62}$/;
const SIZE = /^[1-9][0-9]{0,5}[km]?$/;
const USER_ASSIGNED_IDENTITY_ID =
  /^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w.()]{1,90}\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[a-zA-Z0-9][-\w]{2,127}$/i;

export function renderNodeCloudInit(input: NodeTemplateInput): string {
  return CLOUD_CONFIG_HEADER + JSON.stringify(buildNodeCloudConfig(input), null, 2) + "\n";
}

/** The custom data Azure takes: the document gzipped (cloud-init unpacks it) and base64-encoded. */
export function customDataBase64(document: string): string {
  const bytes = gzipSync(Buffer.from(document, "utf8"), { level: 9 });
  if (bytes.length > CUSTOM_DATA_MAX_BYTES) {
    throw new NodeTemplateError(`custom data is ${bytes.length} bytes; Azure accepts at most ${CUSTOM_DATA_MAX_BYTES}`);
  }
  return bytes.toString("base64");
}

/** Inverse of customDataBase64 (also reads plain, uncompressed custom data). */
export function decodeCustomData(base64: string): string {
  const bytes = Buffer.from(base64, "base64");
  const gzipped = bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  return (gzipped ? gunzipSync(bytes) : bytes).toString("utf8");
}

/** Reads a document this module rendered back into its object form. */
export function parseNodeCloudConfig(document: string): NodeCloudConfig {
  if (!document.startsWith(CLOUD_CONFIG_HEADER)) throw new NodeTemplateError("not a #cloud-config document");
  return JSON.parse(document.slice(CLOUD_CONFIG_HEADER.length)) as NodeCloudConfig;
}

export function buildNodeCloudConfig(input: NodeTemplateInput): NodeCloudConfig {
  const mode = input.mode ?? "source";
  if (mode === "bake") return buildBakeCloudConfig(input);
  if (mode !== "source" && mode !== "image")
    throw new NodeTemplateError(`mode '${String(mode)}' is not source, bake or image`);
  if (input.imageDigest !== undefined) throw new NodeTemplateError("imageDigest is for bake mode only");
  const v = validate(input);
  const release = guacamoleRelease(v.guacamoleVersion);
  const values: Record<string, string> = {
    PUBLIC_HOSTNAME: v.publicHostname,
    HTTP_PORT: String(NODE_HTTP_PORT),
    HTTPS_PORT: String(NODE_HTTPS_PORT),
    PROBE_PORT: String(NODE_PROBE.port),
    PROBE_PATH: NODE_PROBE.path,
    PROBE_INTERVAL_SECONDS: String(NODE_PROBE.intervalSeconds),
    TOMCAT_PORT: String(NODE_LOCAL_PORTS.tomcat),
    GUACD_PORT: String(NODE_LOCAL_PORTS.guacd),
    TLS_CERT: NODE_PATHS.tlsCert,
    TLS_KEY: NODE_PATHS.tlsKey,
    ACME_WEBROOT: NODE_PATHS.acmeWebroot,
    DRAIN_FLAG: NODE_PATHS.drainFlag,
    PROBE_FILE: NODE_PATHS.probeFile,
    NODE_AGENT_PATH,
    DB_HOST: v.dbHost,
    DB_PORT: String(v.dbPort),
    DB_NAME: GUACAMOLE_DATABASE,
    CLIENT_MAX_BODY_SIZE: v.maxUploadSize,
  };
  const template = (relative: string) => fillTemplate(relative, readNodeFile(relative), values);
  const file = (p: string, permissions: string, content: string): CloudConfigFile => ({
    path: p,
    permissions,
    owner: "root:root",
    content,
  });

  return {
    // an image has every package already: no apt, nothing fetched from a mirror at boot
    ...(mode === "source" ? { ...APT, packages: [...NODE_APT_PACKAGES] } : {}),
    write_files: [
      file(NODE_AGENT_PATH, "0755", readNodeScript("jumpgate-node")),
      file(NODE_AGENT_CONFIG, "0644", nodeEnv(v, release.version)),
      file(NODE_PATHS.artifacts, "0644", artifactsEnv(v.allowUnverifiedArtifacts, release.version)),
      file(NODE_PATHS.installer, "0700", readNodeScript("install-node.sh")),
      file(NODE_PATHS.nginxSite, "0644", template("nginx/jumpgate.conf")),
      file("/etc/systemd/system/guacd.service", "0644", template("systemd/guacd.service")),
      file("/etc/systemd/system/tomcat.service", "0644", template("systemd/tomcat.service")),
      file("/etc/systemd/system/jumpgate-probe.service", "0644", template("systemd/jumpgate-probe.service")),
      file("/etc/systemd/system/jumpgate-probe.timer", "0644", template("systemd/jumpgate-probe.timer")),
      file(
        "/etc/systemd/system/nginx.service.d/jumpgate.conf",
        "0644",
        template("systemd/nginx.service.d/jumpgate.conf"),
      ),
      ...(v.recordings
        ? [
            file(RECORDING_UPLOADER_PATH, "0755", readNodeScript("jumpgate-recordings")),
            ...Object.values(RECORDING_UNITS).map((unit) =>
              file(`/etc/systemd/system/${unit}`, "0644", readNodeFile(`systemd/${unit}`)),
            ),
          ]
        : []),
      // who runs as which user and may touch what: the installer applies and checks it
      file(NODE_PATHS.services, "0644", renderNodeServices({ recordings: v.recordings !== undefined })),
      // 0640 root:root until the installer hands the group to guacd
      file(NODE_PATHS.guacdConf, "0640", template("guacd/guacd.conf")),
      file("/opt/jumpgate/tomcat/server.xml", "0644", template("tomcat/server.xml")),
      // 0640 from the first byte; the installer hands the group to tomcat once that user exists
      file(NODE_PATHS.guacamoleProperties, "0640", template("guacamole/guacamole.properties")),
    ],
    runcmd: [[NODE_PATHS.installer, ...INSTALLER_MODE_ARGS[mode]]],
    ssh_pwauth: false,
    disable_root: true,
  };
}

const APT = { package_update: true, package_upgrade: true } as const;
const DIGEST = /^[0-9a-f]{64}$/;

/**
 * The image builder's document: the packages, the installer, what it downloads (with the image key's
 * digest) and the layout it applies; nothing of a stack (no node.env, NGINX site, units, Guacamole
 * or guacd configuration), so the image can serve any stack of this Guacamole release.
 */
function buildBakeCloudConfig(input: NodeTemplateInput): NodeCloudConfig {
  const digest = input.imageDigest;
  if (digest === undefined || !DIGEST.test(digest)) {
    throw new NodeTemplateError("bake mode needs imageDigest: the node image key's sha256 (64 lowercase hex digits)");
  }
  const release = guacamoleRelease(input.guacamoleVersion);
  const file = (p: string, permissions: string, content: string): CloudConfigFile => ({
    path: p,
    permissions,
    owner: "root:root",
    content,
  });
  const values = { TOMCAT_PORT: String(NODE_LOCAL_PORTS.tomcat) };
  return {
    ...APT,
    packages: [...NODE_APT_PACKAGES],
    write_files: [
      // the agent answers the builder's `image-status` and `image-seal` through Run Command (jumpgate-image)
      file(NODE_AGENT_PATH, "0755", readNodeScript("jumpgate-node")),
      file(NODE_IMAGE_TOOL_PATH, "0755", readNodeScript("jumpgate-image")),
      file(
        NODE_PATHS.artifacts,
        "0644",
        artifactsEnv(input.allowUnverifiedArtifacts === true, release.version, [["JUMPGATE_IMAGE_DIGEST", digest]]),
      ),
      file(NODE_PATHS.installer, "0700", readNodeScript("install-node.sh")),
      file(NODE_PATHS.services, "0644", renderNodeServices({ recordings: false })),
      file(
        "/opt/jumpgate/tomcat/server.xml",
        "0644",
        fillTemplate("tomcat/server.xml", readNodeFile("tomcat/server.xml"), values),
      ),
    ],
    runcmd: [[NODE_PATHS.installer, ...INSTALLER_MODE_ARGS.bake]],
    ssh_pwauth: false,
    disable_root: true,
  };
}

interface ValidInput {
  stackName: string;
  fleetMode: FleetMode;
  publicHostname: string;
  keyVaultUrl: string;
  dbHost: string;
  dbPort: number;
  identityResourceId: string | undefined;
  guacamoleVersion: string | undefined;
  allowUnverifiedArtifacts: boolean;
  maxUploadSize: string;
  recordings: { containerUrl: string; nodeName?: string } | undefined;
}

const RECORDINGS_CONTAINER_URL = /^https:\/\/[a-z0-9]{3,24}\.blob\.core\.windows\.net\/[a-z0-9-]{3,63}$/;
const NODE_NAME = /^[A-Za-z0-9_.-]{1,80}$/;

function validate(input: NodeTemplateInput): ValidInput {
  const fail = (what: string): never => {
    throw new NodeTemplateError(what);
  };
  if (!STACK.test(input.stackName)) fail(`stackName '${input.stackName}' is not a stack name`);
  if (input.fleetMode !== "availabilitySet" && input.fleetMode !== "scaleSet") fail("fleetMode is invalid");
  const publicHostname = input.publicHostname.toLowerCase();
  if (!HOSTNAME.test(publicHostname)) fail(`publicHostname '${input.publicHostname}' is not a DNS name`);
  let vault: URL | undefined;
  try {
    vault = new URL(input.keyVaultUrl);
  } catch {
    fail(`keyVaultUrl '${input.keyVaultUrl}' is not a URL`);
  }
  if (vault!.protocol !== "https:" || vault!.pathname.replace(/\/$/, "") !== "" || vault!.search || vault!.username)
    fail(`keyVaultUrl '${input.keyVaultUrl}' must be https://<vault host>/`);
  const dbHost = input.dbHost.toLowerCase();
  if (!HOSTNAME.test(dbHost) && !IPV4.test(dbHost)) fail(`dbHost '${input.dbHost}' is not a host name`);
  const dbPort = input.dbPort ?? 3306;
  if (!Number.isInteger(dbPort) || dbPort < 1 || dbPort > 65535) fail("dbPort must be 1-65535");
  const maxUploadSize = input.maxUploadSize ?? "512m";
  if (!SIZE.test(maxUploadSize)) fail("maxUploadSize must look like 512m");
  const identityResourceId = input.identityResourceId;
  if (identityResourceId !== undefined && !USER_ASSIGNED_IDENTITY_ID.test(identityResourceId)) {
    fail(`identityResourceId '${identityResourceId}' is not the ARM id of a user-assigned identity`);
  }
  const recordings = input.recordings;
  if (recordings && !RECORDINGS_CONTAINER_URL.test(recordings.containerUrl))
    fail(`recordings.containerUrl '${recordings.containerUrl}' is not the https URL of a blob container`);
  if (recordings?.nodeName !== undefined && !NODE_NAME.test(recordings.nodeName))
    fail(`recordings.nodeName '${recordings.nodeName}' is not a node name`);
  return {
    stackName: input.stackName,
    fleetMode: input.fleetMode,
    publicHostname,
    keyVaultUrl: `${vault!.origin}/`,
    dbHost,
    dbPort,
    identityResourceId,
    guacamoleVersion: input.guacamoleVersion,
    allowUnverifiedArtifacts: input.allowUnverifiedArtifacts === true,
    maxUploadSize,
    recordings: recordings
      ? { containerUrl: recordings.containerUrl, ...(recordings.nodeName ? { nodeName: recordings.nodeName } : {}) }
      : undefined,
  };
}

function envFile(header: string, entries: [string, string][]): string {
  for (const [key, value] of entries) {
    if (!/^JUMPGATE_[A-Z0-9_]+$/.test(key) || /[\r\n]/.test(value)) throw new NodeTemplateError(`bad entry ${key}`);
  }
  return header + entries.map(([k, value]) => `${k}=${value}\n`).join("");
}

/** The agent's configuration: where things are and what the secrets are called (never their values). */
function nodeEnv(v: ValidInput, guacamoleVersion: string): string {
  return envFile(
    "# Jumpgate node configuration, written by cloud-init. Non-secret: secrets stay in Key Vault and\n" +
      "# this file only names the ones this node may read. Read by /usr/local/sbin/jumpgate-node (the\n" +
      "# environment wins).\n",
    [
      ["JUMPGATE_STACK", v.stackName],
      ["JUMPGATE_FLEET_MODE", v.fleetMode],
      ["JUMPGATE_PUBLIC_HOSTNAME", v.publicHostname],
      ["JUMPGATE_KEY_VAULT_URL", v.keyVaultUrl],
      ["JUMPGATE_DB_HOST", v.dbHost],
      ["JUMPGATE_DB_PORT", String(v.dbPort)],
      ["JUMPGATE_DB_NAME", GUACAMOLE_DATABASE],
      ["JUMPGATE_DB_ADMIN_LOGIN", DB_ADMIN_LOGIN],
      ["JUMPGATE_DB_APP_USER_A", APP_USERS.a],
      ["JUMPGATE_DB_APP_USER_B", APP_USERS.b],
      ["JUMPGATE_SECRET_DB_APP_A", SECRET_NAMES.dbAppPasswordA],
      ["JUMPGATE_SECRET_DB_APP_B", SECRET_NAMES.dbAppPasswordB],
      ["JUMPGATE_PROBE_PORT", String(NODE_PROBE.port)],
      ["JUMPGATE_PROBE_PATH", NODE_PROBE.path],
      ["JUMPGATE_TOMCAT_UNIT", NODE_TOMCAT_UNIT],
      ["JUMPGATE_GUACAMOLE_VERSION", guacamoleVersion],
      ...(v.identityResourceId ? [["JUMPGATE_IDENTITY_RESOURCE_ID", v.identityResourceId] as [string, string]] : []),
      // read by jumpgate-recordings
      ...(v.recordings ? [["JUMPGATE_RECORDINGS_CONTAINER_URL", v.recordings.containerUrl] as [string, string]] : []),
      ...(v.recordings?.nodeName ? [["JUMPGATE_NODE_NAME", v.recordings.nodeName] as [string, string]] : []),
    ],
  );
}

/** What the installer downloads and the digest each download must match. */
function artifactsEnv(
  allowUnverifiedArtifacts: boolean,
  guacamoleVersion: string,
  extra: [string, string][] = [],
): string {
  const entries: [string, string][] = [
    ["JUMPGATE_GUACAMOLE_VERSION", guacamoleVersion],
    ["JUMPGATE_TOMCAT_VERSION", TOMCAT.version],
    ["JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS", String(allowUnverifiedArtifacts)],
    ...extra,
  ];
  for (const [name, artifact] of Object.entries(nodeArtifacts(guacamoleVersion))) {
    entries.push([`JUMPGATE_ARTIFACT_${name}_URLS`, artifact.urls.join(" ")]);
    entries.push([`JUMPGATE_ARTIFACT_${name}_DIGEST`, digestOf(artifact)]);
  }
  entries.push(["JUMPGATE_ARTIFACT_MYSQL_CONNECTOR_J_MEMBER", MYSQL_CONNECTOR_J.member]);
  return envFile(
    "# Upstream artifacts of this node and their pinned digests (shared/node/catalog.ts).\n" +
      "# The installer refuses a download that does not match, and one marked none unless\n" +
      "# JUMPGATE_ALLOW_UNVERIFIED_ARTIFACTS=true.\n",
    entries,
  );
}

function digestOf(artifact: PinnedArtifact): string {
  if (!artifact.digest) return "none";
  const { algorithm, hex } = artifact.digest;
  const length = algorithm === "sha256" ? 64 : 128;
  if (!new RegExp(`^[0-9a-f]{${length}}$`).test(hex)) throw new NodeTemplateError(`malformed ${algorithm} digest`);
  return `${algorithm}:${hex}`;
}

function fillTemplate(name: string, text: string, values: Record<string, string>): string {
  return text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new NodeTemplateError(`${name}: no value for {{${key}}}`);
    return value;
  });
}

/** infra/node/ of this checkout: the code runs from dist/, so walk up to the directory with package.json. */
export function nodeFilesDir(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, "infra", "node");
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new NodeTemplateError(`infra/node not found above ${__dirname}`);
    dir = parent;
  }
}

/**
 * A shell script of infra/node/ as a node gets it: without its comment lines. Custom data is capped
 * at 64 KiB and the comments (they say why, for the repository's readers) were a quarter of the
 * gzipped scripts; the shebang, shellcheck directives and heredoc bodies (data, not comments) are kept as they are.
 */
function readNodeScript(relative: string): string {
  return stripShellComments(readNodeFile(relative));
}

export function stripShellComments(script: string): string {
  const kept: string[] = [];
  let heredocEnd: string | undefined;
  script.split("\n").forEach((line, index) => {
    if (heredocEnd !== undefined) {
      kept.push(line);
      if (line.replace(/^\t+/, "") === heredocEnd) heredocEnd = undefined;
      return;
    }
    if (index > 0 && /^\s*#/.test(line) && !/^\s*# shellcheck /.test(line)) return;
    kept.push(line);
    // `<<WORD`, `<<-WORD`, `<<'WORD'` start a heredoc; `<<<` is a here-string
    const heredoc = /(?<!<)<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1(?!<)/.exec(line.replace(/<<</g, "   "));
    if (heredoc) heredocEnd = heredoc[2];
  });
  return kept.join("\n");
}

function readNodeFile(relative: string): string {
  return fs.readFileSync(path.join(nodeFilesDir(), relative), "utf8");
}
