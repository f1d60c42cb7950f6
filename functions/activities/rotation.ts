// Activities of the database credential rotation (rotateDatabaseCredentials): thin adapters over the
// credential vault (shared/credentials/credential-vault.ts: Key Vault's labels are the state, every
// step idempotent) and the registry (functions/credential-store.ts). The one step that must send a
// value somewhere else (the admin password, to ARM) reads it from Key Vault itself. No value is ever
// returned, thrown or logged: results carry secret names and versions only.
import type { CredentialKind, CredentialState, PendingPassword } from "../../shared/credentials/credential-vault";
import type { LabelChange } from "../../shared/credentials/rotation-state";
import { stackNames } from "../../shared/graph/names";
import type { StackSpec } from "../../shared/spec/types";
import type { CredentialsObserved } from "../../shared/stack-status";
import type { StackOperation } from "../../shared/store";
import { credentialVault, recordCredentials, type RecordCredentialsInput } from "../credential-store";
import { services } from "../services";

export async function readCredentialStateActivity(input: { spec: StackSpec }): Promise<CredentialState> {
  return (await credentialVault(input.spec)).state();
}

/** Brings every label in line with the derived state; returns what it changed. */
export async function normalizeCredentialLabelsActivity(input: {
  spec: StackSpec;
}): Promise<{ changes: LabelChange[] }> {
  return { changes: await (await credentialVault(input.spec)).normalize() };
}

export interface CreatePendingInput {
  spec: StackSpec;
  kind: CredentialKind;
  rotationId: string;
}

/** createSecret: a new version labelled pending (or the one already pending). */
export async function createPendingPasswordActivity(input: CreatePendingInput): Promise<PendingPassword> {
  return (await credentialVault(input.spec)).createPending(input.kind, input.rotationId);
}

export interface FinishInput {
  spec: StackSpec;
  kind: CredentialKind;
  /** the pending version to promote */
  version: string;
  /** ISO 8601, the orchestration's time */
  at: string;
}

/** finishSecret: the pending version becomes current, the old ones previous and retired. */
export async function finishRotationActivity(input: FinishInput): Promise<{ changes: LabelChange[] }> {
  return { changes: await (await credentialVault(input.spec)).finish(input.kind, input.version, input.at) };
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
  return { changed: await (await credentialVault(input.spec)).abandon(input.kind, input.version, input.reason) };
}

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
  const value = await (await credentialVault(spec)).adminPassword(input.version);
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

/** Copies the credential state into the registry with the rotation's outcome. */
export async function recordCredentialsActivity(input: RecordCredentialsInput): Promise<CredentialsObserved> {
  return recordCredentials(input);
}

function oneLine(text: string, max: number): string {
  return text.split("\n")[0].trim().slice(0, max);
}
