// What a web node's guacamole.properties says about signing in with Entra ID. Pure: the app renders
// the settings here, the node agent (`jumpgate-node sign-in`) checks each value and writes them, and
// both hash the same "key: value" lines, so the app can tell from a node's health report (or from
// what it recorded) whether the node has them without rewriting anything.
//
// Property names and accepted values are Guacamole 1.6.0's own (apache/guacamole-client, tag 1.6.0):
// - openid-* : org.apache.guacamole.auth.openid.conf.ConfigurationService
//   (extensions/guacamole-auth-sso/modules/guacamole-auth-sso-openid). issuer, authorization and
//   JWKS endpoints, client id and redirect URI are required (getRequiredProperty); the claim types
//   and the scope have defaults ("email", "groups", "openid email profile") that we set anyway, so
//   the node's file says what it does. The extension uses the implicit flow: AuthenticationProvider-
//   Service.getLoginURI asks for response_type=id_token, and TokenValidationService checks the
//   token's signature against the JWKS endpoint, its issuer, its audience (the client id), a subject,
//   an expiry and our nonce, then reads the username and groups from the two claims named here.
// - extension-priority : org.apache.guacamole.extension.ExtensionModule.EXTENSION_PRIORITY, an
//   ExtensionOrderProperty: extension namespaces split on ",\s*" ("openid" is the namespace in the
//   OpenID extension's guac-manifest.json, "mysql" the JDBC MySQL extension's). Listing openid first
//   is what makes Entra ID the sign-in page: org.apache.guacamole.rest.auth.AuthenticationService
//   tries the providers in this order and answers a request without credentials with the first
//   provider's refusal, the OpenID extension's redirect to the authorization endpoint (a
//   RedirectField). Users of the MySQL extension (the break-glass guacadmin) still sign in by posting
//   their password to /api/tokens, which that service hands to the next provider.
import { createHash } from "node:crypto";
import { readSetting } from "../config";
import { stackNames } from "../graph/names";
import type { StackSpec } from "../spec/types";

/** Microsoft Entra ID's public cloud; JUMPGATE_ENTRA_AUTHORITY names another (sovereign clouds). */
export const ENTRA_AUTHORITY = "https://login.microsoftonline.com";

/** The authority whose tenant endpoints the nodes' settings name (the alerts' token check uses it too). */
export function signInAuthority(): string {
  return (readSetting("entraAuthority") ?? ENTRA_AUTHORITY).replace(/\/+$/, "");
}

/** The name the stack answers on: its own hostname, or the public IP's (as the node template says). */
export function publicHostnameOf(spec: StackSpec): string {
  return spec.tls.hostname ?? stackNames(spec).publicFqdn;
}

/** The Entra group ids arrive in this ID token claim (the app registration's groupMembershipClaims). */
export const GROUPS_CLAIM = "groups";

/** Guacamole's default scope; profile brings preferred_username, email the mail address. */
export const SIGN_IN_SCOPE = "openid email profile";

/** Extension namespaces, highest priority first (see the header). */
export const EXTENSION_PRIORITY = "openid, mysql";

/** Every key the agent writes, in the order it writes them (infra/node/jumpgate-node SIGN_IN_KEYS). */
export const SIGN_IN_KEYS = [
  "openid-issuer",
  "openid-authorization-endpoint",
  "openid-jwks-endpoint",
  "openid-client-id",
  "openid-redirect-uri",
  "openid-username-claim-type",
  "openid-groups-claim-type",
  "openid-scope",
  "extension-priority",
] as const;
export type SignInKey = (typeof SIGN_IN_KEYS)[number];

export type StackAccess = NonNullable<StackSpec["access"]>;

/** A tenant's v2.0 endpoints, as its discovery document ({issuer}/.well-known/openid-configuration) lists them. */
export interface TenantEndpoints {
  issuer: string;
  authorizationEndpoint: string;
  jwksEndpoint: string;
}

export function tenantEndpoints(tenantId: string, authority: string = ENTRA_AUTHORITY): TenantEndpoints {
  const base = `${authority.replace(/\/+$/, "")}/${tenantId.toLowerCase()}`;
  return {
    issuer: `${base}/v2.0`,
    authorizationEndpoint: `${base}/oauth2/v2.0/authorize`,
    jwksEndpoint: `${base}/discovery/v2.0/keys`,
  };
}

/** Where Entra sends users back: the stack's own address, which is where Guacamole is served. */
export function redirectUri(publicHostname: string): string {
  return `https://${publicHostname.toLowerCase()}/`;
}

/** The settings of a stack with `access`, in SIGN_IN_KEYS order. */
export function signInProperties(
  access: StackAccess,
  options: { publicHostname: string; authority?: string },
): [SignInKey, string][] {
  const endpoints = tenantEndpoints(access.tenantId, options.authority);
  const values: Record<SignInKey, string> = {
    "openid-issuer": endpoints.issuer,
    "openid-authorization-endpoint": endpoints.authorizationEndpoint,
    "openid-jwks-endpoint": endpoints.jwksEndpoint,
    "openid-client-id": access.clientId.toLowerCase(),
    "openid-redirect-uri": redirectUri(options.publicHostname),
    "openid-username-claim-type": access.usernameClaim,
    "openid-groups-claim-type": GROUPS_CLAIM,
    "openid-scope": SIGN_IN_SCOPE,
    "extension-priority": EXTENSION_PRIORITY,
  };
  return SIGN_IN_KEYS.map((key) => [key, values[key]]);
}

/** The lines as guacamole.properties holds them. */
export function propertiesText(properties: readonly (readonly [string, string])[]): string {
  return properties.map(([key, value]) => `${key}: ${value}\n`).join("");
}

/** SHA-256 (hex) of the lines, what `jumpgate-node health` reports as signIn.digest; null: no sign-in. */
export function signInDigest(properties: readonly (readonly [string, string])[] | undefined): string | null {
  if (!properties || properties.length === 0) return null;
  return createHash("sha256").update(propertiesText(properties), "utf8").digest("hex");
}

/** The agent's arguments: `sign-in --property k=v ...`, or `sign-in --off` without access. */
export function signInArgs(properties: readonly (readonly [string, string])[] | undefined): string[] {
  if (!properties || properties.length === 0) return ["--off"];
  return properties.flatMap(([key, value]) => ["--property", `${key}=${value}`]);
}
