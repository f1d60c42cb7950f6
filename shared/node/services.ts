// Who runs on a web node, as which user, and what each service may touch. This is the one list:
// it is rendered into the node (NODE_PATHS.services, JSON), where the installer applies `layout`
// (owners and modes), checks every service's access as that service's user before it starts
// anything, and enables exactly `services`; the layout test checks it again in a sandbox, as each
// user, with the real stand-in binaries. A feature that needs a new path writable (session
// recordings, drives) adds it here and in its unit (ReadWritePaths=), and the tests hold them equal.
//
// Paths are the VM's (the installer and the tests prefix them with JUMPGATE_NODE_ROOT). A `reads`
// entry is a file the service opens or a directory it lists; its last component may be a glob,
// which must match at least one file.
import { RECORDING_LOCAL_DIR, RECORDING_UNITS } from "../recordings/layout";
import { NODE_PATHS } from "./constants";

export type LayoutKind = "dir" | "file" | "tree";

export interface LayoutEntry {
  path: string;
  /** dir: created when missing; file: must exist; tree: a directory and everything in it */
  kind: LayoutKind;
  owner: string;
  group: string;
  /** octal for dir and file; for tree a chmod symbolic mode (X keeps executables executable) */
  mode: string;
  why: string;
}

export interface NodeService {
  unit: string;
  /** the user its requests are handled as (NGINX: the workers; the master runs as root) */
  user: string;
  group: string;
  /** SupplementaryGroups= of the unit (the user's own groups apply too) */
  supplementaryGroups: readonly string[];
  reads: readonly string[];
  executes: readonly string[];
  /** directories it creates files in */
  writes: readonly string[];
  mustNotRead: readonly string[];
  mustNotWrite: readonly string[];
  why: string;
}

/** The node's service users (created by the installer; www-data comes with Ubuntu's NGINX). */
export const NODE_USERS = { guacd: "guacd", tomcat: "tomcat", web: "www-data" } as const;

export const TOMCAT_HOME = "/opt/tomcat";
export const GUACAMOLE_HOME = "/etc/guacamole";
export const GUACD_STATE = "/var/lib/guacd";

/** Files and directories whose owner and mode the installer sets, in this order. */
export const NODE_LAYOUT: readonly LayoutEntry[] = [
  {
    path: "/etc/guacd",
    kind: "dir",
    owner: "root",
    group: NODE_USERS.guacd,
    mode: "0750",
    why: "guacd's own configuration directory (built with --with-guacd-conf): nothing of Tomcat's is here",
  },
  {
    path: NODE_PATHS.guacdConf,
    kind: "file",
    owner: "root",
    group: NODE_USERS.guacd,
    mode: "0640",
    why: "guacd opens it at start-up (an unreadable file is fatal, a missing one is not)",
  },
  {
    path: GUACD_STATE,
    kind: "dir",
    owner: NODE_USERS.guacd,
    group: NODE_USERS.guacd,
    mode: "0750",
    why: "guacd's HOME and StateDirectory=: FreeRDP's certificate store and the font cache",
  },
  {
    path: RECORDING_LOCAL_DIR,
    kind: "dir",
    owner: NODE_USERS.guacd,
    group: NODE_USERS.guacd,
    mode: "0750",
    why: "session recordings (recording-path): inside guacd's StateDirectory=, the one place its sandbox lets it write; the uploader (root) ships and removes them",
  },
  {
    path: GUACAMOLE_HOME,
    kind: "dir",
    owner: "root",
    group: NODE_USERS.tomcat,
    mode: "0750",
    why: "GUACAMOLE_HOME is Tomcat's alone: it holds the database login",
  },
  {
    path: NODE_PATHS.guacamoleProperties,
    kind: "file",
    owner: "root",
    group: NODE_USERS.tomcat,
    mode: "0640",
    why: "the database login (written by db-credentials as root): Tomcat reads it, nobody else",
  },
  {
    path: `${GUACAMOLE_HOME}/extensions`,
    kind: "tree",
    owner: "root",
    group: NODE_USERS.tomcat,
    mode: "u=rwX,g=rX,o=",
    why: "Guacamole loads these jars: readable, never writable, by Tomcat",
  },
  {
    path: `${GUACAMOLE_HOME}/lib`,
    kind: "tree",
    owner: "root",
    group: NODE_USERS.tomcat,
    mode: "u=rwX,g=rX,o=",
    why: "the JDBC driver: readable, never writable, by Tomcat",
  },
  {
    path: NODE_PATHS.openIdExtensionAvailable.replace(/\/[^/]+$/, ""),
    kind: "tree",
    owner: "root",
    group: "root",
    mode: "u=rwX,g=,o=",
    why: "the OpenID extension while sign-in is off: the agent (root) copies it into Guacamole's extensions, Tomcat never loads it from here",
  },
  {
    path: TOMCAT_HOME,
    kind: "dir",
    owner: "root",
    group: NODE_USERS.tomcat,
    mode: "0750",
    why: "CATALINA_HOME and CATALINA_BASE (a link to the versioned directory)",
  },
  ...["bin", "lib", "conf"].map((dir): LayoutEntry => ({
    path: `${TOMCAT_HOME}/${dir}`,
    kind: "tree",
    owner: "root",
    group: NODE_USERS.tomcat,
    mode: "u=rwX,g=rX,o=",
    why: "Apache packs bin/ and lib/ 750/640 (scripts 750) and conf/ 700/600 for the archive's owner: the group must read and run them, and never write",
  })),
  // Tomcat's HostConfig creates conf/<engine>/<host> at start-up when it is missing
  ...["conf/Catalina", "conf/Catalina/localhost"].map((dir): LayoutEntry => ({
    path: `${TOMCAT_HOME}/${dir}`,
    kind: "dir",
    owner: "root",
    group: NODE_USERS.tomcat,
    mode: "0750",
    why: "exists before Tomcat starts, so Tomcat never needs to write conf/",
  })),
  {
    path: `${TOMCAT_HOME}/webapps`,
    kind: "tree",
    owner: "root",
    group: NODE_USERS.tomcat,
    mode: "u=rwX,g=rX,o=",
    why: "not writable by Tomcat: code written here would run. The installer unpacks the WAR itself; server.xml has unpackWARs=false",
  },
  ...["logs", "temp", "work"].map((dir): LayoutEntry => ({
    path: `${TOMCAT_HOME}/${dir}`,
    kind: "dir",
    owner: NODE_USERS.tomcat,
    group: NODE_USERS.tomcat,
    mode: "0750",
    why: "the only directories Tomcat writes (logs, java.io.tmpdir, compiled JSPs and sessions)",
  })),
  {
    path: NODE_PATHS.tlsKey,
    kind: "file",
    owner: "root",
    group: "root",
    mode: "0600",
    why: "NGINX's master process (root) reads it before its workers drop privileges",
  },
];

const SECRETS_OF_THE_WEB_TIER = [NODE_PATHS.guacamoleProperties, NODE_PATHS.tlsKey] as const;

/** Every unit the installer enables and checks, with its user and what it may touch. */
export const NODE_SERVICES: readonly NodeService[] = [
  {
    unit: "guacd.service",
    user: NODE_USERS.guacd,
    group: NODE_USERS.guacd,
    supplementaryGroups: [],
    reads: [NODE_PATHS.guacdConf, "/usr/local/lib/libguac.so.*"],
    executes: ["/usr/local/sbin/guacd"],
    writes: [GUACD_STATE, RECORDING_LOCAL_DIR],
    mustNotRead: [...SECRETS_OF_THE_WEB_TIER],
    mustNotWrite: ["/etc/guacd", "/usr/local/sbin", "/usr/local/lib"],
    why: "parses the remote desktop protocols of every session: the least trusted process on the node, so it sees its own configuration and HOME and nothing of Tomcat's",
  },
  {
    unit: "tomcat.service",
    user: NODE_USERS.tomcat,
    group: NODE_USERS.tomcat,
    supplementaryGroups: [],
    reads: [
      `${TOMCAT_HOME}/bin/catalina.sh`,
      `${TOMCAT_HOME}/bin/setclasspath.sh`,
      `${TOMCAT_HOME}/bin/bootstrap.jar`,
      `${TOMCAT_HOME}/bin/tomcat-juli.jar`,
      `${TOMCAT_HOME}/conf/*`,
      `${TOMCAT_HOME}/conf/Catalina/localhost`,
      `${TOMCAT_HOME}/lib/*.jar`,
      `${TOMCAT_HOME}/webapps/ROOT`,
      `${TOMCAT_HOME}/webapps/ROOT/WEB-INF/web.xml`,
      NODE_PATHS.guacamoleProperties,
      `${GUACAMOLE_HOME}/extensions/*.jar`,
      `${GUACAMOLE_HOME}/lib/*.jar`,
    ],
    executes: [`${TOMCAT_HOME}/bin/catalina.sh`],
    writes: [`${TOMCAT_HOME}/logs`, `${TOMCAT_HOME}/temp`, `${TOMCAT_HOME}/work`],
    mustNotRead: [NODE_PATHS.tlsKey],
    mustNotWrite: [
      `${TOMCAT_HOME}/webapps`,
      `${TOMCAT_HOME}/webapps/ROOT`,
      `${TOMCAT_HOME}/conf`,
      `${TOMCAT_HOME}/bin`,
      `${TOMCAT_HOME}/lib`,
      GUACAMOLE_HOME,
      `${GUACAMOLE_HOME}/extensions`,
      NODE_PATHS.openIdExtensionAvailable.replace(/\/[^/]+$/, ""),
    ],
    why: "runs Guacamole, so it reads the database login; an exploit in it must not be able to change the code Tomcat runs or read the TLS key",
  },
  {
    unit: "nginx.service",
    user: NODE_USERS.web,
    group: NODE_USERS.web,
    supplementaryGroups: [],
    reads: [`${NODE_PATHS.acmeWebroot}/.well-known/acme-challenge`, NODE_PATHS.drainFlag.replace(/\/[^/]+$/, "")],
    executes: [],
    writes: [],
    mustNotRead: [...SECRETS_OF_THE_WEB_TIER],
    mustNotWrite: [
      `${NODE_PATHS.acmeWebroot}/.well-known/acme-challenge`,
      NODE_PATHS.probeFile.replace(/\/[^/]+$/, ""),
      NODE_PATHS.drainFlag.replace(/\/[^/]+$/, ""),
    ],
    why: "faces the internet: its workers serve the probe, the drain flag and ACME tokens and must not forge them or read a secret; the root master reads the TLS key",
  },
  {
    unit: "jumpgate-probe.timer",
    user: "root",
    group: "root",
    supplementaryGroups: [],
    reads: [],
    executes: [],
    writes: [],
    mustNotRead: [],
    mustNotWrite: [],
    why: "runs the node agent's health check (as root: it reads the database login and writes the probe file)",
  },
];

/** Azure's instance metadata service and wire server: no service user needs them (the agent runs as root). */
export const BLOCKED_PLATFORM_ADDRESSES = ["169.254.169.254", "168.63.129.16"] as const;

/**
 * The session-recording uploader's units (infra/node/jumpgate-recordings), enabled on the nodes of
 * a stack with `recordings`: the path unit ships when guacd's directory changes, the timer retries.
 */
export const RECORDING_UPLOADER_SERVICES: readonly NodeService[] = [RECORDING_UNITS.path, RECORDING_UNITS.timer].map(
  (unit) => ({
    unit,
    user: "root",
    group: "root",
    supplementaryGroups: [],
    reads: [],
    executes: [],
    writes: [],
    mustNotRead: [],
    mustNotWrite: [],
    why: "runs the recording uploader (as root: it reads guacd's recordings and /proc/locks, asks IMDS for the node's storage token, removes a shipped copy)",
  }),
);

/** The document the installer reads (NODE_PATHS.services); `recordings`: also the uploader's units. */
export function renderNodeServices(options: { recordings?: boolean } = {}): string {
  const services = options.recordings ? [...NODE_SERVICES, ...RECORDING_UPLOADER_SERVICES] : NODE_SERVICES;
  return `${JSON.stringify({ layout: NODE_LAYOUT, services }, null, 2)}\n`;
}
