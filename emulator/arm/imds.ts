// The managed-identity token endpoint of Azure's Instance Metadata Service, served on the
// emulator's main listener so a node agent in a run-command sandbox can fetch Key Vault secrets the
// way it does on a VM. Like IMDS it insists on the `Metadata: true` header (which a browser or a
// forwarded request cannot set) and answers with string-typed expiry fields; the token itself is
// an opaque random string, since the emulator's Key Vault accepts any bearer token.
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Reply } from "./http";

export const IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token";

const TOKEN_LIFETIME_SECONDS = 86_399;

export function imdsToken(req: IncomingMessage, method: string, query: URLSearchParams): Reply {
  const bad = (error: string, description: string): Reply => ({
    status: 400,
    body: { error, error_description: description },
  });
  if (method !== "GET") return { status: 405, body: { error: "invalid_request", error_description: "GET only" } };
  if ((req.headers.metadata ?? "").toString().toLowerCase() !== "true") {
    return bad("invalid_request", "Required metadata header not specified");
  }
  if (!query.get("api-version")) return bad("invalid_request", "Required query variable 'api-version' is missing");
  const resource = query.get("resource");
  if (!resource) return bad("invalid_resource", "AADSTS500011: The resource principal named was not found.");
  const now = Math.floor(Date.now() / 1000);
  return {
    status: 200,
    body: {
      access_token: `emulator-imds.${randomBytes(24).toString("base64url")}`,
      client_id: "00000000-0000-0000-0000-00000000c11e",
      expires_in: String(TOKEN_LIFETIME_SECONDS),
      expires_on: String(now + TOKEN_LIFETIME_SECONDS),
      ext_expires_in: String(TOKEN_LIFETIME_SECONDS),
      not_before: String(now),
      resource,
      token_type: "Bearer",
    },
  };
}
