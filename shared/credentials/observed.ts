// The registry's copy of the credential state (observed.credentials) and the CredentialsRotated
// condition, from what Key Vault's labels say now and the rotation that just ended. Pure: names,
// versions and times, never a value. Deploy, reconcile and heal read the current app user from it.
import type { StackConditionInput } from "../store/registry";
import type { CredentialsObserved, RotationOutcome } from "../stack-status";
import type { CredentialState } from "./credential-vault";

export function credentialsObserved(
  state: Pick<CredentialState, "app" | "admin">,
  before: CredentialsObserved | undefined,
  outcome: RotationOutcome | undefined,
  at: string,
): CredentialsObserved {
  const { app, admin } = state;
  return {
    database: {
      currentUser: app.current.user,
      slot: app.current.slot,
      version: app.current.version,
      ...(app.current.since ? { since: app.current.since } : {}),
      previousUser: app.previous.user,
      ...(app.pending
        ? {
            pending: {
              user: app.pending.user,
              version: app.pending.version,
              ...(app.pending.rotationId ? { rotationId: app.pending.rotationId } : {}),
              ...(app.pending.createdOn ? { since: app.pending.createdOn } : {}),
            },
          }
        : {}),
    },
    admin: {
      version: admin.current.version,
      ...(admin.current.since ? { since: admin.current.since } : {}),
      ...(admin.pending
        ? {
            pending: {
              version: admin.pending.version,
              ...(admin.pending.rotationId ? { rotationId: admin.pending.rotationId } : {}),
              ...(admin.pending.createdOn ? { since: admin.pending.createdOn } : {}),
            },
          }
        : {}),
    },
    ...(outcome ? { lastRotation: outcome } : before?.lastRotation ? { lastRotation: before.lastRotation } : {}),
    ...(outcome && outcome.outcome !== "succeeded" && outcome.outcome !== "skipped"
      ? { lastFailure: outcome }
      : before?.lastFailure
        ? { lastFailure: before.lastFailure }
        : {}),
    checkedAt: at,
  };
}

export function credentialCondition(c: CredentialsObserved): StackConditionInput | undefined {
  const last = c.lastRotation;
  const pending = c.database.pending ?? c.admin.pending;
  if (pending) {
    return {
      type: "CredentialsRotated",
      status: "Unknown",
      reason: "RotationPending",
      message: `a rotation has not finished (version ${pending.version}${pending.rotationId ? `, rotation ${pending.rotationId}` : ""}); the next rotation run finishes it or rolls it back`,
    };
  }
  if (!last) return undefined;
  if (last.outcome === "succeeded") {
    return {
      type: "CredentialsRotated",
      status: "True",
      reason: "Rotated",
      message: `rotated at ${last.finishedAt}: nodes use ${c.database.currentUser}; ${c.database.previousUser} stays valid until the next rotation`,
    };
  }
  if (last.outcome === "skipped") return undefined;
  return {
    type: "CredentialsRotated",
    status: "False",
    reason: last.outcome === "rolled-back" ? "RotationRolledBack" : "RotationFailed",
    message: `rotation ${last.rotationId} ${last.outcome === "rolled-back" ? "was rolled back" : "failed"} at ${last.finishedAt}: ${last.failure ?? "see the audit trail"}; nodes use ${c.database.currentUser}`,
  };
}
