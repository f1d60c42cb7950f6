// The state of a stack's database credentials, as Key Vault holds it: versions of the two app-user
// password secrets and of the MySQL admin password, labelled with tags (AWS Secrets Manager's
// AWSPENDING / AWSCURRENT / AWSPREVIOUS as Key Vault tags on secret versions). Pure functions: the
// activities read the versions' metadata (never values) and this module says what they mean.
//
// Labels (tag `jumpgate-rotation`):
//   pending   a rotation made this version; the database may or may not have it yet
//   current   what the nodes use (app users), or what the server has (admin)
//   previous  the idle app user's settled password: still valid, the rollback target
//   retired   replaced; its password no longer logs in
//   failed    a rolled-back rotation's version; never used
// A version without a label is one the deploy generated before any rotation.
//
// Derivation, robust to a rotation killed between two tag writes:
//   current  = the version labelled current with the highest generation (tag `jumpgate-generation`);
//              none labelled: app user a's latest settled version (what deploy gives the nodes)
//   previous = the other app slot's version labelled current or previous with the highest
//              generation; none: that slot's latest settled version
//   pending  = a version labelled pending in the idle slot (app) / in the admin secret
// A finish writes the new current first (its generation wins at once), then relabels the rest, so
// every prefix of its writes derives the same state; `labelChanges` says which labels are stale.
import { APP_USERS, type AppUserSlot } from "../node/constants";
import { appUserSecretName, SECRET_NAMES } from "../secret-names";

export const ROTATION_TAGS = {
  label: "jumpgate-rotation",
  rotationId: "jumpgate-rotation-id",
  /** the version a pending one replaces in its secret (where a rollback goes back to) */
  replaces: "jumpgate-replaces",
  generation: "jumpgate-generation",
  /** ISO 8601: when the version became current */
  since: "jumpgate-since",
  /** a rolled-back version: why (one line, no secret) */
  failure: "jumpgate-failure",
} as const;

export type RotationLabel = "pending" | "current" | "previous" | "retired" | "failed";
const LABELS: ReadonlySet<string> = new Set(["pending", "current", "previous", "retired", "failed"]);

/** What is known of one secret version: metadata only. */
export interface SecretVersionMeta {
  secret: string;
  version: string;
  /** ISO 8601 */
  createdOn?: string;
  enabled: boolean;
  tags: Record<string, string>;
}

export interface AppUserRef {
  slot: AppUserSlot;
  user: string;
  secret: string;
  version: string;
}

export interface CurrentAppUser extends AppUserRef {
  generation: number;
  /** ISO 8601: when it became current (the version's creation for a never-rotated stack) */
  since?: string;
  rotationId?: string;
}

export interface PendingVersion {
  secret: string;
  version: string;
  rotationId?: string;
  /** the version it replaces in the same secret */
  replaces?: string;
  createdOn?: string;
}

export interface PendingAppUser extends PendingVersion {
  slot: AppUserSlot;
  user: string;
}

export interface AppUserState {
  current: CurrentAppUser;
  previous: AppUserRef;
  pending?: PendingAppUser;
}

export interface AdminState {
  current: { secret: string; version: string; generation: number; since?: string; rotationId?: string };
  pending?: PendingVersion;
}

export interface LabelChange {
  secret: string;
  version: string;
  from?: string;
  to: RotationLabel;
}

export function labelOf(v: SecretVersionMeta): RotationLabel | undefined {
  const label = v.tags[ROTATION_TAGS.label];
  return label !== undefined && LABELS.has(label) ? (label as RotationLabel) : undefined;
}

export function generationOf(v: SecretVersionMeta): number {
  const n = Number(v.tags[ROTATION_TAGS.generation]);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

export function otherSlot(slot: AppUserSlot): AppUserSlot {
  return slot === "a" ? "b" : "a";
}

/** Oldest first by creation time; versions created in the same second keep the order Key Vault listed. */
function byCreation(versions: readonly SecretVersionMeta[]): SecretVersionMeta[] {
  return versions
    .map((v, i) => ({ v, i }))
    .sort((x, y) => (x.v.createdOn ?? "").localeCompare(y.v.createdOn ?? "") || x.i - y.i)
    .map((x) => x.v);
}

/** The newest version no rotation left unsettled (no label, or current / previous). */
function latestSettled(versions: readonly SecretVersionMeta[]): SecretVersionMeta | undefined {
  const settled = byCreation(versions).filter((v) => {
    const label = labelOf(v);
    return v.enabled && (label === undefined || label === "current" || label === "previous");
  });
  return settled.at(-1);
}

function highest(
  versions: readonly SecretVersionMeta[],
  labels: readonly RotationLabel[],
): SecretVersionMeta | undefined {
  const found = byCreation(versions).filter((v) => v.enabled && labels.includes(labelOf(v)!));
  let best: SecretVersionMeta | undefined;
  for (const v of found) if (!best || generationOf(v) >= generationOf(best)) best = v;
  return best;
}

function pendingOf(versions: readonly SecretVersionMeta[]): SecretVersionMeta | undefined {
  return byCreation(versions)
    .filter((v) => v.enabled && labelOf(v) === "pending")
    .at(-1);
}

function pendingRef(v: SecretVersionMeta): PendingVersion {
  return {
    secret: v.secret,
    version: v.version,
    ...(v.tags[ROTATION_TAGS.rotationId] ? { rotationId: v.tags[ROTATION_TAGS.rotationId] } : {}),
    ...(v.tags[ROTATION_TAGS.replaces] ? { replaces: v.tags[ROTATION_TAGS.replaces] } : {}),
    ...(v.createdOn ? { createdOn: v.createdOn } : {}),
  };
}

export class CredentialStateError extends Error {
  override name = "CredentialStateError";
}

/** The app users' state from the versions of both secrets. */
export function deriveAppUserState(versions: { a: SecretVersionMeta[]; b: SecretVersionMeta[] }): AppUserState {
  const all = [
    ...versions.a.map((v) => ({ slot: "a" as const, v })),
    ...versions.b.map((v) => ({ slot: "b" as const, v })),
  ];
  const labelledCurrent = highest(
    all.map((x) => x.v),
    ["current"],
  );
  let current: CurrentAppUser;
  if (labelledCurrent) {
    const slot = all.find((x) => x.v === labelledCurrent)!.slot;
    current = {
      ...ref(slot, labelledCurrent),
      generation: generationOf(labelledCurrent),
      ...(labelledCurrent.tags[ROTATION_TAGS.since] ? { since: labelledCurrent.tags[ROTATION_TAGS.since] } : {}),
      ...(labelledCurrent.tags[ROTATION_TAGS.rotationId]
        ? { rotationId: labelledCurrent.tags[ROTATION_TAGS.rotationId] }
        : {}),
    };
  } else {
    // never rotated: the nodes use app user a, which the deploy gave them
    const initial = latestSettled(versions.a);
    if (!initial) throw new CredentialStateError(`the secret ${SECRET_NAMES.dbAppPasswordA} has no usable version`);
    current = { ...ref("a", initial), generation: 0, ...(initial.createdOn ? { since: initial.createdOn } : {}) };
  }
  const idle = otherSlot(current.slot);
  const idleVersions = versions[idle];
  const previousVersion = highest(idleVersions, ["current", "previous"]) ?? latestSettled(idleVersions);
  if (!previousVersion) throw new CredentialStateError(`the secret ${appUserSecretName(idle)} has no usable version`);
  const pending = pendingOf(idleVersions);
  return {
    current,
    previous: ref(idle, previousVersion),
    ...(pending ? { pending: { ...pendingRef(pending), slot: idle, user: APP_USERS[idle] } } : {}),
  };
}

/** The admin password's state from the versions of its secret. */
export function deriveAdminState(versions: SecretVersionMeta[]): AdminState {
  const pending = pendingOf(versions);
  const labelled = highest(versions, ["current"]);
  const replaced = pending?.tags[ROTATION_TAGS.replaces]
    ? versions.find((v) => v.version === pending.tags[ROTATION_TAGS.replaces])
    : undefined;
  const current = labelled ?? replaced ?? latestSettled(versions);
  if (!current) throw new CredentialStateError(`the secret ${SECRET_NAMES.dbAdminPassword} has no usable version`);
  const since = current.tags[ROTATION_TAGS.since] ?? current.createdOn;
  return {
    current: {
      secret: current.secret,
      version: current.version,
      generation: generationOf(current),
      ...(since ? { since } : {}),
      ...(current.tags[ROTATION_TAGS.rotationId] ? { rotationId: current.tags[ROTATION_TAGS.rotationId] } : {}),
    },
    ...(pending ? { pending: pendingRef(pending) } : {}),
  };
}

function ref(slot: AppUserSlot, v: SecretVersionMeta): AppUserRef {
  return { slot, user: APP_USERS[slot], secret: appUserSecretName(slot), version: v.version };
}

/**
 * Labels that disagree with the derived state: the current and previous versions carry their
 * labels, a pending one keeps its own, and every other version labelled current, previous or pending
 * is retired (a leftover of a finish that was cut short). Unlabelled versions never rotated and
 * failed ones keep their label.
 */
export function appLabelChanges(
  state: AppUserState,
  versions: { a: SecretVersionMeta[]; b: SecretVersionMeta[] },
): LabelChange[] {
  const want = new Map<string, RotationLabel>([
    [key(state.current.secret, state.current.version), "current"],
    [key(state.previous.secret, state.previous.version), "previous"],
  ]);
  if (state.pending) want.set(key(state.pending.secret, state.pending.version), "pending");
  return labelChanges([...versions.a, ...versions.b], want, state.current.generation);
}

export function adminLabelChanges(state: AdminState, versions: SecretVersionMeta[]): LabelChange[] {
  const want = new Map<string, RotationLabel>([[key(state.current.secret, state.current.version), "current"]]);
  if (state.pending) want.set(key(state.pending.secret, state.pending.version), "pending");
  return labelChanges(versions, want, state.current.generation);
}

function labelChanges(
  versions: readonly SecretVersionMeta[],
  want: Map<string, RotationLabel>,
  currentGeneration: number,
): LabelChange[] {
  const changes: LabelChange[] = [];
  for (const v of versions) {
    const label = labelOf(v);
    const wanted = want.get(key(v.secret, v.version));
    if (wanted) {
      // an unlabelled version of a never-rotated stack needs no label until a rotation touches it
      if (label === undefined && currentGeneration === 0 && wanted !== "pending") continue;
      if (label !== wanted) changes.push({ secret: v.secret, version: v.version, from: label, to: wanted });
    } else if (label === "current" || label === "previous" || label === "pending") {
      changes.push({ secret: v.secret, version: v.version, from: label, to: "retired" });
    }
  }
  return changes;
}

function key(secret: string, version: string): string {
  return `${secret}/${version}`;
}

/** Whole days from `since` to `now` (0 when `since` is unknown or in the future). */
export function ageDays(since: string | undefined, now: Date): number {
  const t = since ? Date.parse(since) : NaN;
  if (Number.isNaN(t)) return 0;
  return Math.max(0, Math.floor((now.getTime() - t) / 86_400_000));
}
