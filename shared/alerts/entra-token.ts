// Token mode of the alert route: Azure Monitor's "secure webhook" (an action group webhook with
// `useAadAuth: true`) calls with an Entra ID access token it obtained, as the first-party app "AzNS
// AAD Webhook" (app id 461e8683-5575-4561-ac7f-899cc907d62a), for the Entra application the webhook
// names (`identifierUri`, `objectId`, `tenantId`). A request is accepted only with a token that
//   - is signed (RS256) by a key of the tenant's published key set (JWKS, fetched and cached by
//     jose), unexpired (5 minutes of clock skew, as Microsoft's own validators allow);
//   - was issued by the tenant: v1 `https://sts.windows.net/{tenant}/` or v2
//     `{authority}/{tenant}/v2.0`, with `tid` the tenant;
//   - is for Jumpgate's alerts application (`aud` one of the configured audiences: its identifier
//     URI, or its client id, which v2 tokens carry);
//   - was obtained by Azure Monitor's action groups (`appid` in v1, `azp` in v2), and, when
//     configured, by exactly that service principal in the tenant (`oid`) and with the app role
//     the application grants it (`roles`).
// Anything else is a 401 before the body is read. Signature, expiry and issuer/audience matching
// are jose's (a maintained, dependency-free JOSE library); the Azure-specific claims are checked here.
import { ConfigError, readSetting } from "../config";
import { isLoopback } from "../azure/settings";
import type * as JoseModule from "jose" with { "resolution-mode": "import" };

/** Azure Monitor's action groups sign in to secure webhooks as this first-party application. */
export const ACTION_GROUPS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a";
const CLOCK_TOLERANCE_SECONDS = 300;
const JWKS_TIMEOUT_MS = 5_000;

export interface AlertTokenSettings {
  tenantId: string;
  /** accepted `aud` values: the alerts application's identifier URI and client id */
  audiences: string[];
  /** the Entra authority, e.g. https://login.microsoftonline.com (its JWKS and v2 issuer) */
  authority: string;
  /** the app id the caller must be (appid / azp) */
  callerAppId: string;
  /** when set, the caller's service principal object id (oid) in the tenant */
  callerObjectId?: string;
  /** when set, an app role the token must carry (roles) */
  role?: string;
}

export type TokenVerdict =
  | { ok: true; caller: { appId: string; objectId?: string } }
  /** `unavailable`: the tenant's keys could not be fetched; the caller should be asked to retry */
  | { ok: false; reason: string; unavailable?: boolean };

/** jose's codes for a key set that could not be had (as opposed to a token that is wrong). */
const UNAVAILABLE = new Set(["ERR_JWKS_TIMEOUT", "ERR_JWKS_INVALID"]);

/** The token mode's settings, or undefined when no audience is configured (token mode is off). */
export function alertTokenSettingsFromEnv(tenantId: string | undefined): AlertTokenSettings | undefined {
  const audiences = (readSetting("alertsTokenAudiences") ?? "")
    .split(",")
    .map((a) => a.trim())
    .filter(Boolean);
  if (audiences.length === 0) return undefined;
  if (!tenantId) throw new ConfigError("JUMPGATE_ALERTS_TOKEN_AUDIENCES needs JUMPGATE_TENANT_ID: the tokens' tenant");
  const authority = (readSetting("entraAuthority") ?? "").replace(/\/+$/, "");
  let url: URL;
  try {
    url = new URL(authority);
  } catch {
    throw new ConfigError(`JUMPGATE_ENTRA_AUTHORITY is not a URL: '${authority}'`);
  }
  if (url.protocol !== "https:" && !isLoopback(authority)) {
    throw new ConfigError(`JUMPGATE_ENTRA_AUTHORITY must use https (http only on loopback): '${authority}'`);
  }
  const callerObjectId = readSetting("alertsTokenObjectId");
  const role = readSetting("alertsTokenRole");
  return {
    tenantId,
    audiences,
    authority,
    callerAppId: readSetting("alertsTokenAppId") ?? ACTION_GROUPS_APP_ID,
    ...(callerObjectId ? { callerObjectId } : {}),
    ...(role ? { role } : {}),
  };
}

type Jose = typeof JoseModule;

export class AlertTokenValidator {
  private keys?: ReturnType<Jose["createRemoteJWKSet"]>;
  private jose?: Jose;

  constructor(readonly settings: AlertTokenSettings) {}

  /** The verdict on an Authorization header. Never throws for a bad token; a JWKS outage is a reason too. */
  async verify(authorization: string | null): Promise<TokenVerdict> {
    const token = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(authorization ?? "")?.[1];
    if (!token) return { ok: false, reason: "no bearer token" };
    const { tenantId, audiences, authority } = this.settings;
    const jose = (this.jose ??= await import("jose"));
    this.keys ??= jose.createRemoteJWKSet(new URL(`${authority}/${tenantId}/discovery/v2.0/keys`), {
      timeoutDuration: JWKS_TIMEOUT_MS,
    });
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jose.jwtVerify(token, this.keys, {
        algorithms: ["RS256"],
        issuer: [`https://sts.windows.net/${tenantId}/`, `${authority}/${tenantId}/v2.0`],
        audience: audiences,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp"],
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      const reason = `${code ?? "error"}: ${error instanceof Error ? error.message : String(error)}`;
      // no JOSE code: fetch itself failed (the authority is unreachable), not the token
      return { ok: false, reason, ...(code === undefined || UNAVAILABLE.has(code) ? { unavailable: true } : {}) };
    }
    if (payload.tid !== tenantId) return { ok: false, reason: `tid ${String(payload.tid)} is not the tenant` };
    const appId = typeof payload.appid === "string" ? payload.appid : payload.azp;
    if (appId !== this.settings.callerAppId) {
      return { ok: false, reason: `the caller app ${String(appId)} is not Azure Monitor's action groups` };
    }
    const objectId = typeof payload.oid === "string" ? payload.oid : undefined;
    if (this.settings.callerObjectId && objectId !== this.settings.callerObjectId) {
      return { ok: false, reason: `the caller's object id ${String(objectId)} is not the configured one` };
    }
    const roles = Array.isArray(payload.roles) ? payload.roles : [];
    if (this.settings.role && !roles.includes(this.settings.role)) {
      return { ok: false, reason: `the token lacks the app role ${this.settings.role}` };
    }
    return { ok: true, caller: { appId, ...(objectId ? { objectId } : {}) } };
  }
}
