// What GET /api/stacks/{name} says about a stack's database credentials: who the nodes log in as,
// how old the passwords are against the rotation policy, the last rotation and the last failure.
// Built from the registry's copy of the Key Vault state (names, versions, times: never a value).
import { APP_USERS } from "../node/constants";
import type { StackSpec } from "../spec/types";
import type { CredentialsObserved, RotationOutcome, StackObserved } from "../stack-status";
import { appUserForNewNode } from "../node/join";
import { ageDays } from "./rotation-state";

export interface CredentialSummary {
  database: {
    currentUser: string;
    previousUser: string | null;
    /** ISO 8601: when the current password became current; null until the first check */
    since: string | null;
    ageDays: number | null;
    maxAgeDays: number;
    due: boolean;
    pending: CredentialsObserved["database"]["pending"] | null;
  };
  admin: {
    since: string | null;
    ageDays: number | null;
    maxAgeDays: number;
    due: boolean;
    pending: CredentialsObserved["admin"]["pending"] | null;
  };
  lastRotation: RotationOutcome | null;
  lastFailure: RotationOutcome | null;
  /** when the copy was taken from Key Vault; null: not yet (the daily credential check takes it) */
  checkedAt: string | null;
}

export function credentialSummary(
  observed: StackObserved | undefined,
  policy: StackSpec["policies"]["rotation"],
  now: Date,
): CredentialSummary {
  const c = observed?.credentials;
  const appAge = c?.database.since ? ageDays(c.database.since, now) : null;
  const adminAge = c?.admin.since ? ageDays(c.admin.since, now) : null;
  return {
    database: {
      currentUser: c?.database.currentUser ?? APP_USERS[appUserForNewNode(observed)],
      previousUser: c?.database.previousUser ?? null,
      since: c?.database.since ?? null,
      ageDays: appAge,
      maxAgeDays: policy.databaseCredentialMaxAgeDays,
      due: appAge !== null && appAge >= policy.databaseCredentialMaxAgeDays,
      pending: c?.database.pending ?? null,
    },
    admin: {
      since: c?.admin.since ?? null,
      ageDays: adminAge,
      maxAgeDays: policy.adminPasswordMaxAgeDays,
      due: adminAge !== null && adminAge >= policy.adminPasswordMaxAgeDays,
      pending: c?.admin.pending ?? null,
    },
    lastRotation: c?.lastRotation ?? null,
    lastFailure: c?.lastFailure ?? null,
    checkedAt: c?.checkedAt ?? null,
  };
}
