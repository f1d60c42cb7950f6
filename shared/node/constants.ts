// Facts about a web node that the resource graph, the node template and the node agent must agree on.

/** The load balancer's HTTP probe: NGINX answers it from the agent's health file (503 while draining). */
export const NODE_PROBE = { port: 8081, path: "/jumpgate/health", intervalSeconds: 5, probeThreshold: 2 } as const;

/** Ports NGINX serves to clients through the load balancer. */
export const NODE_HTTPS_PORT = 443;
export const NODE_HTTP_PORT = 80;

/** Where the agent is installed on a node, and its configuration file (both under the node's root). */
export const NODE_AGENT_PATH = "/usr/local/sbin/jumpgate-node";
/** the image builder's half of the agent (`jumpgate-node image-status|image-seal`): bake custom data only */
export const NODE_IMAGE_TOOL_PATH = "/usr/local/sbin/jumpgate-image";
export const NODE_AGENT_CONFIG = "/etc/jumpgate/node.env";

/** The Guacamole database and its two alternating least-privilege application users. */
export const GUACAMOLE_DATABASE = "guacamole";
export const APP_USERS = { a: "guacamole_a", b: "guacamole_b" } as const;
export type AppUserSlot = keyof typeof APP_USERS;

/** The MySQL server administrator login (the password is a Key Vault secret). */
export const DB_ADMIN_LOGIN = "jumpgateadmin";

/**
 * Files and directories on a node (absolute on the VM; the agent prefixes them with its root in
 * tests). The node agent, the NGINX site and the installer all use these exact paths.
 */
export const NODE_PATHS = {
  tlsKey: "/etc/jumpgate/tls/privkey.pem",
  tlsCert: "/etc/jumpgate/tls/fullchain.pem",
  acmeWebroot: "/var/lib/jumpgate/acme",
  drainFlag: "/var/lib/jumpgate/draining",
  probeFile: "/run/jumpgate/probe/healthy",
  guacamoleProperties: "/etc/guacamole/guacamole.properties",
  guacdConf: "/etc/guacd/guacd.conf",
  guacamoleSchema: "/opt/jumpgate/guacamole/schema",
  nginxSite: "/etc/jumpgate/nginx/jumpgate.conf",
  artifacts: "/etc/jumpgate/artifacts.env",
  installer: "/opt/jumpgate/install-node.sh",
  /** Guacamole's OpenID extension, unpacked by the installer where Guacamole does not load it */
  openIdExtensionAvailable: "/opt/jumpgate/guacamole/extensions-available/guacamole-auth-sso-openid.jar",
  /** ... and where `jumpgate-node sign-in` puts it while sign-in with Entra ID is on */
  openIdExtension: "/etc/guacamole/extensions/guacamole-auth-sso-openid.jar",
  /** who runs as which user and what each may touch (shared/node/services.ts), read by the installer */
  services: "/etc/jumpgate/services.json",
} as const;

/** Loopback ports of the services behind NGINX (neither is reachable from the network). */
export const NODE_LOCAL_PORTS = { tomcat: 8080, guacd: 4822 } as const;

/** The systemd unit the agent restarts after switching database credentials. */
export const NODE_TOMCAT_UNIT = "tomcat.service";
