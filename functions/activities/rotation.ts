// Activities of the database credential rotation (rotateDatabaseCredentials). Key Vault is the state:
// each step reads the secret versions' labels (tags) first and writes only what differs, so a
// retried or re-run step is harmless (AWS Secrets Manager's createSecret / finishSecret, idempotent
// by the rotation id the way AWS uses ClientRequestToken). A generated password goes straight into
// Key Vault; the one step that must send a value somewhere else (the admin password, to ARM) reads
// it from Key Vault itself. No value is ever returned, thrown or logged: results carry secret
// names and versions only.
import type { SecretClient } from "@azure/keyvault-secrets";
import { generatePassword } from "../../shared/arm/secret-values";
import {
  adminLabelChanges,
  appLabelChanges,
  deriveAdminState,
  deriveAppUserState,
  ROTATION_TAGS,
  type AdminState,
  type AppUserState,
  type LabelChange,
  type PendingVersion,
  type SecretVersionMeta,
} from "../../shared/credentials/rotation-state";
import { stackNames } from "../../shared/graph/names";
import { APP_USERS } from "../../shared/node/constants";
import { appUserSecretName, SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import type { CredentialsObserved, RotationOutcome, StackObserved } from "../../shared/stack-status";
import { StackNotFoundError, type StackConditionInput, type StackOperation } from "../../shared/store";
import { services } from "../services";

const PASSWORD_LENGTH = 32;

export type CredentialKind = "app" | "admin";

// ------------------------------------------------------------------------------------ Key Vault

async function vaultClient(spec: StackSpec): Promise<SecretClient> {
  const { factory } = services();
  const names = stackNames(spec);
  const vault = await factory
    .keyVaultManagement(spec.subscriptionId)
    .vaults.get(spec.resourceGroup, names.keyVault, factory.call());
  const uri = vault.properties.vaultUri;
  if (!uri) throw new Error(`the vault ${names.keyVault} has no vault URI`);
  return factory.secrets(uri);
}

async function versionsOf(client: SecretClient, secret: string): Promise<SecretVersionMeta[]> {
  const found: SecretVersionMeta[] = [];
  for await (const p of client.listPropertiesOfSecretVersions(secret, services().factory.call())) {
    if (!p.version) continue;
    found.push({
      secret,
      version: p.version,
      ...(p.createdOn ? { createdOn: p.createdOn.toISOString() } : {}),
      enabled: p.enabled !== false,
      tags: { ...(p.tags ?? {}) },
    });
  }
  return found;
}

interface Versions {
  a: SecretVersionMeta[];
  b: SecretVersionMeta[];
  admin: SecretVersionMeta[];
}

async function readVersions(client: SecretClient): Promise<Versions> {
  const [a, b, admin] = await Promise.all([
    versionsOf(client, appUserSecretName("a")),
    versionsOf(client, appUserSecretName("b")),
    versionsOf(client, SECRET_NAMES.dbAdminPassword),
  ]);
  return { a, b, admin };
}

/** Replaces one version's tags with `tags` (Key Vault PATCH replaces the whole tag set). */
async function setTags(client: SecretClient, secret: string, version: string, tags: Record<string, string>) {
  await client.updateSecretProperties(secret, version, { tags, ...services().factory.call() });
}

function tagsOf(versions: Versions, secret: string, version: string): Record<string, string> {
  const all = [...versions.a, ...versions.b, ...versions.admin];
  return { ...(all.find((v) => v.secret === secret && v.version === version)?.tags ?? {}) };
}

async function applyLabels(client: SecretClient, versions: Versions, changes: LabelChange[]): Promise<void> {
  for (const c of changes) {
    await setTags(client, c.secret, c.version, {
      ...tagsOf(versions, c.secret, c.version),
      [ROTATION_TAGS.label]: c.to,
    });
  }
}

// ------------------------------------------------------------------------------------ reading

export interface CredentialStateOutput {
  app: AppUserState;
  admin: AdminState;
  /** labels that disagree with the derived state (a finish cut short); normalizeCredentialLabels fixes them */
  staleLabels: LabelChange[];
}

export async function readCredentialStateActivity(input: { spec: StackSpec }): Promise<CredentialStateOutput> {
  const versions = await readVersions(await vaultClient(input.spec));
  const app = deriveAppUserState(versions);
  const admin = deriveAdminState(versions.admin);
  return { app, admin, staleLabels: [...appLabelChanges(app, versions), ...adminLabelChanges(admin, versions.admin)] };
}

/** Brings every label in line with the derived state; returns what it changed. */
export async function normalizeCredentialLabelsActivity(input: {
  spec: StackSpec;
}): Promise<{ changes: LabelChange[] }> {
  const client = await vaultClient(input.spec);
  const versions = await readVersions(client);
  const changes = [
    ...appLabelChanges(deriveAppUserState(versions), versions),
    ...adminLabelChanges(deriveAdminState(versions.admin), versions.admin),
  ];
  await applyLabels(client, versions, changes);
  return { changes };
}

// ------------------------------------------------------------------------------------ createSecret

export interface CreatePendingInput {
  spec: StackSpec;
  kind: CredentialKind;
  rotationId: string;
}

export type CreatePendingOutput = PendingVersion & { slot?: "a" | "b"; user?: string; created: boolean };

/**
 * A new version of the idle app user's secret (or of the admin password), labelled pending, with a
 * generated value that goes nowhere else. A pending version already there (this rotation's, retried,
 * or an interrupted one's) is returned instead: there is never more than one.
 */
export async function createPendingPasswordActivity(input: CreatePendingInput): Promise<CreatePendingOutput> {
  const client = await vaultClient(input.spec);
  const versions = await readVersions(client);
  let secret: string;
  let replaces: string;
  let slot: "a" | "b" | undefined;
  if (input.kind === "app") {
    const state = deriveAppUserState(versions);
    if (state.pending) return { ...state.pending, created: false };
    slot = state.previous.slot;
    secret = state.previous.secret;
    replaces = state.previous.version;
  } else {
    const state = deriveAdminState(versions.admin);
    if (state.pending) return { ...state.pending, created: false };
    secret = SECRET_NAMES.dbAdminPassword;
    replaces = state.current.version;
  }
  const tags = {
    [ROTATION_TAGS.label]: "pending",
    [ROTATION_TAGS.rotationId]: input.rotationId,
    [ROTATION_TAGS.replaces]: replaces,
  };
  const made = await client.setSecret(secret, generatePassword(PASSWORD_LENGTH), {
    contentType: "password",
    tags,
    ...services().factory.call(),
  });
  const version = made.properties.version;
  if (!version) throw new Error(`Key Vault returned no version for the new ${secret}`);
  return {
    secret,
    version,
    rotationId: input.rotationId,
    replaces,
    ...(made.properties.createdOn ? { createdOn: made.properties.createdOn.toISOString() } : {}),
    ...(slot ? { slot, user: APP_USERS[slot] } : {}),
    created: true,
  };
}

function versionsOfKind(versions: Versions, kind: CredentialKind): SecretVersionMeta[] {
  return kind === "admin" ? versions.admin : [...versions.a, ...versions.b];
}

// ------------------------------------------------------------------------------------ finishSecret

export interface FinishInput {
  spec: StackSpec;
  kind: CredentialKind;
  /** the pending version to promote */
  version: string;
  /** ISO 8601, the orchestration's time */
  at: string;
}

/**
 * Promotes the pending version: it becomes current (generation + 1) first, so the state derives
 * right after any prefix of these writes; then the old current becomes previous (app users: still
 * valid) or retired (admin: the server no longer takes it), the version the pending one replaced is
 * retired, and any other stale label is fixed. Already promoted: only the relabelling runs.
 */
export async function finishRotationActivity(input: FinishInput): Promise<{ changes: LabelChange[] }> {
  const client = await vaultClient(input.spec);
  let versions = await readVersions(client);
  const changes: LabelChange[] = [];
  const target = versionsOfKind(versions, input.kind).find((v) => v.version === input.version);
  if (!target) throw new Error(`version ${input.version} of the ${input.kind} password is not in Key Vault`);
  const label = target.tags[ROTATION_TAGS.label];
  if (label === "pending") {
    const before =
      input.kind === "admin" ? deriveAdminState(versions.admin).current : deriveAppUserState(versions).current;
    const tags = {
      ...target.tags,
      [ROTATION_TAGS.label]: "current",
      [ROTATION_TAGS.generation]: String(before.generation + 1),
      [ROTATION_TAGS.since]: input.at,
    };
    await setTags(client, target.secret, target.version, tags);
    changes.push({ secret: target.secret, version: target.version, from: "pending", to: "current" });
    // the old current: previous (app users) or retired (admin)
    const demoted = input.kind === "admin" ? "retired" : "previous";
    await setTags(client, before.secret, before.version, {
      ...tagsOf(versions, before.secret, before.version),
      [ROTATION_TAGS.label]: demoted,
    });
    changes.push({ secret: before.secret, version: before.version, to: demoted });
  } else if (label !== "current") {
    throw new Error(`version ${input.version} of ${target.secret} is ${label ?? "unlabelled"}, not pending`);
  }
  // the version the new one replaced no longer logs in (a never-rotated one has no label to go stale)
  const replaced = target.tags[ROTATION_TAGS.replaces];
  const replacedTags = replaced ? tagsOf(versions, target.secret, replaced) : {};
  if (replaced && replacedTags[ROTATION_TAGS.label] !== "retired") {
    await setTags(client, target.secret, replaced, { ...replacedTags, [ROTATION_TAGS.label]: "retired" });
    changes.push({ secret: target.secret, version: replaced, to: "retired" });
  }
  versions = await readVersions(client);
  const rest =
    input.kind === "admin"
      ? adminLabelChanges(deriveAdminState(versions.admin), versions.admin)
      : appLabelChanges(deriveAppUserState(versions), versions);
  await applyLabels(client, versions, rest);
  return { changes: [...changes, ...rest] };
}

export interface AbandonInput {
  spec: StackSpec;
  kind: CredentialKind;
  version: string;
  /** one line, no secret */
  reason: string;
}

/** A rolled-back rotation's version is labelled failed (and says why); it is never used again. */
export async function abandonPendingActivity(input: AbandonInput): Promise<{ changed: boolean }> {
  const client = await vaultClient(input.spec);
  const versions = await readVersions(client);
  const target = versionsOfKind(versions, input.kind).find((v) => v.version === input.version);
  if (!target) throw new Error(`version ${input.version} of the ${input.kind} password is not in Key Vault`);
  const label = target.tags[ROTATION_TAGS.label];
  if (label === "failed") return { changed: false };
  if (label !== "pending")
    throw new Error(`version ${input.version} of ${target.secret} is ${label ?? "unlabelled"}, not pending`);
  await setTags(client, target.secret, target.version, {
    ...target.tags,
    [ROTATION_TAGS.label]: "failed",
    [ROTATION_TAGS.failure]: oneLine(input.reason, 250),
  });
  return { changed: true };
}

// ------------------------------------------------------------------------------------ admin via ARM

export interface ApplyAdminPasswordInput {
  spec: StackSpec;
  /** the admin secret's pending version: its value becomes the server's administrator password */
  version: string;
}

/**
 * PATCHes the flexible server's administratorLoginPassword (az mysql flexible-server update
 * --admin-password) with the value of that Key Vault version, read here and sent nowhere else. The
 * same value again is harmless, so a retry may repeat it. Errors are re-thrown as one line with the
 * value scrubbed out, whatever the SDK put into them.
 */
export async function applyAdminPasswordActivity(input: ApplyAdminPasswordInput): Promise<{ applied: true }> {
  const { spec } = input;
  const { factory } = services();
  const client = await vaultClient(spec);
  const secret = await client.getSecret(SECRET_NAMES.dbAdminPassword, { version: input.version, ...factory.call() });
  const value = secret.value;
  if (typeof value !== "string" || value.length === 0) {
    throw new Error(`version ${input.version} of ${SECRET_NAMES.dbAdminPassword} has no value`);
  }
  const names = stackNames(spec);
  try {
    await factory
      .mysql(spec.subscriptionId)
      .servers.beginUpdateAndWait(
        spec.resourceGroup,
        names.mysqlServer,
        { administratorLoginPassword: value },
        factory.lro(),
      );
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const text = (e instanceof Error ? e.message : String(e)).split(value).join("[redacted]");
    // eslint-disable-next-line preserve-caught-error -- the SDK's error may carry the request, and with it the password
    throw new Error(
      `updating the administrator password of ${names.mysqlServer} failed: ${typeof code === "string" ? `${code}: ` : ""}${oneLine(text, 400)}`,
    );
  }
  return { applied: true };
}

// ------------------------------------------------------------------------------------ the stack

export interface LoadRotationTargetOutput {
  registered: boolean;
  /** a deploy has run (there are nodes and secrets to rotate) */
  deployed?: boolean;
  spec?: StackSpec;
  operation?: StackOperation;
}

export async function loadRotationTargetActivity(input: { stack: string }): Promise<LoadRotationTargetOutput> {
  const record = await services().registry.get(input.stack);
  if (!record) return { registered: false };
  return {
    registered: true,
    deployed: !!record.observed && record.observedGeneration > 0,
    spec: record.spec,
    ...(record.operation ? { operation: record.operation } : {}),
  };
}

export interface RecordCredentialsInput {
  stack: string;
  spec: StackSpec;
  /** ISO 8601, the orchestration's time */
  at: string;
  /** the rotation that just ended, if one did */
  outcome?: RotationOutcome;
}

/**
 * Copies the credential state from Key Vault into the registry (observed.credentials), with the
 * rotation's outcome, and sets the CredentialsRotated condition. Deploy, reconcile and heal read the
 * current app user from this copy.
 */
export async function recordCredentialsActivity(input: RecordCredentialsInput): Promise<CredentialsObserved> {
  const { registry } = services();
  const state = await readCredentialStateActivity({ spec: input.spec });
  const record = await registry.get(input.stack);
  if (!record) throw new StackNotFoundError(input.stack);
  const before = record.observed?.credentials;
  const { app, admin } = state;
  const credentials: CredentialsObserved = {
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
    ...(input.outcome
      ? { lastRotation: input.outcome }
      : before?.lastRotation
        ? { lastRotation: before.lastRotation }
        : {}),
    ...(input.outcome && input.outcome.outcome !== "succeeded" && input.outcome.outcome !== "skipped"
      ? { lastFailure: input.outcome }
      : before?.lastFailure
        ? { lastFailure: before.lastFailure }
        : {}),
    checkedAt: input.at,
  };
  if (!record.observed)
    throw new Error(`stack '${input.stack}' has not been deployed: no observed state to add credentials to`);
  const observed: StackObserved = { ...record.observed, credentials };
  await registry.putObserved(input.stack, observed, { generation: Math.max(record.observedGeneration, 1) });
  const condition = credentialCondition(credentials);
  if (condition) await registry.setConditions(input.stack, [condition]);
  return credentials;
}

function credentialCondition(c: CredentialsObserved): StackConditionInput | undefined {
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

function oneLine(text: string, max: number): string {
  return text.split("\n")[0].trim().slice(0, max);
}
