// Who an ARM request came from. The emulator accepts any bearer token (it checks no signature), but
// when the token is a JWT its claims say who the caller claims to be, and ARM records that caller
// where Azure does (an immutability policy's update history names who locked or extended it).
import type { ArmCaller } from "./types";

export function armCallerOf(authorization: string | undefined): ArmCaller | undefined {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1];
  const payload = token?.split(".")[1];
  if (!payload) return undefined;
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!claims || typeof claims !== "object") return undefined;
  const text = (v: unknown) => (typeof v === "string" && v.length > 0 && v.length <= 256 ? v : undefined);
  const caller: ArmCaller = {
    objectId: text(claims.oid),
    tenantId: text(claims.tid),
    upn: text(claims.upn) ?? text(claims.unique_name),
  };
  return caller.objectId || caller.upn ? caller : undefined;
}
