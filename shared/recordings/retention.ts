// Whether the recordings' storage may go, pure: decided from what ARM says of the container (its
// version-level immutability, legal hold) and of its time-based retention policy. Jumpgate holds no
// right to list the blobs (the app's identity has no data access), so a container that may hold
// recordings under retention is kept whole, and so is its account; a person deletes them once the
// retention has run out. Azure would refuse the delete anyway (ContainerProtectedFromDeletion,
// AccountProtectedFromDeletion); deciding it here makes teardown say so instead of failing.
import type { ObservedDocument } from "../arm/arm-documents";
import { getAt } from "../arm/json-path";

export interface RetentionView {
  /** the container as ARM reads it (undefined: it does not exist) */
  container?: ObservedDocument;
  /** `immutabilityPolicies/default` of the container (a container without one reads 0 days) */
  policy?: ObservedDocument;
}

/** Why the container (and its account) must stay, or undefined when nothing in it can be protected. */
export function retentionHold(view: RetentionView): string | undefined {
  const { container, policy } = view;
  if (!container) return undefined;
  const days = Number(getAt(policy ?? {}, "properties.immutabilityPeriodSinceCreationInDays") ?? 0);
  const stated = getAt(policy ?? {}, "properties.state");
  const state = typeof stated === "string" ? stated : "Unlocked";
  const versionLevel = getAt(container, "properties.immutableStorageWithVersioning.enabled") === true;
  const legalHold = getAt(container, "properties.hasLegalHold") === true;
  const reasons: string[] = [];
  if (days > 0) reasons.push(`a ${days}-day time-based retention policy (${state.toLowerCase()})`);
  if (legalHold) reasons.push("a legal hold");
  if (reasons.length === 0 && !versionLevel) return undefined;
  const why = reasons.length > 0 ? reasons.join(" and ") : "version-level immutability";
  return (
    `the recordings container is under ${why}: recordings are evidence and Jumpgate never deletes them. ` +
    `Delete it by hand once its newest recording is past retention${legalHold ? " and the legal hold is cleared" : ""} (Azure refuses earlier)`
  );
}
