// The database credentials as Key Vault keeps them: each secret version's rotation label (a tag),
// read and written here, with the state derived from them by rotation-state.ts. Every write reads the
// labels first and writes only what differs, so a retried or re-run step is harmless (AWS Secrets
// Manager's createSecret / finishSecret, idempotent by the rotation id the way AWS uses
// ClientRequestToken). A generated password goes straight into Key Vault; no value is ever returned,
// thrown or logged: results carry secret names and versions only.
import type { SecretClient } from "@azure/keyvault-secrets";
import { generatePassword } from "../arm/secret-values";
import { APP_USERS, type AppUserSlot } from "../node/constants";
import { appUserSecretName, SECRET_NAMES } from "../secret-names";
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
} from "./rotation-state";

const PASSWORD_LENGTH = 32;

export type CredentialKind = "app" | "admin";

export interface CredentialState {
  app: AppUserState;
  admin: AdminState;
  /** labels that disagree with the derived state (a finish cut short); `normalize` fixes them */
  staleLabels: LabelChange[];
}

export type PendingPassword = PendingVersion & { slot?: AppUserSlot; user?: string; created: boolean };

interface Versions {
  a: SecretVersionMeta[];
  b: SecretVersionMeta[];
  admin: SecretVersionMeta[];
}

export class CredentialVault {
  constructor(
    private readonly client: SecretClient,
    /** the options of every call: its deadline (AzureClientFactory.call) */
    private readonly options: () => { abortSignal: AbortSignal },
  ) {}

  async state(): Promise<CredentialState> {
    const versions = await this.versions();
    const app = deriveAppUserState(versions);
    const admin = deriveAdminState(versions.admin);
    return { app, admin, staleLabels: staleLabels(versions) };
  }

  /** Brings every label in line with the derived state; returns what it changed. */
  async normalize(): Promise<LabelChange[]> {
    const versions = await this.versions();
    const changes = staleLabels(versions);
    await this.applyLabels(versions, changes);
    return changes;
  }

  /**
   * A new version of the idle app user's secret (or of the admin password), labelled pending, with a
   * generated value that goes nowhere else. A pending version already there (this rotation's,
   * retried, or an interrupted one's) is returned instead: there is never more than one.
   */
  async createPending(kind: CredentialKind, rotationId: string): Promise<PendingPassword> {
    const versions = await this.versions();
    let secret: string;
    let replaces: string;
    let slot: AppUserSlot | undefined;
    if (kind === "app") {
      const state = deriveAppUserState(versions);
      if (state.pending) return { ...state.pending, created: false };
      ({ slot, secret, version: replaces } = state.previous);
    } else {
      const state = deriveAdminState(versions.admin);
      if (state.pending) return { ...state.pending, created: false };
      secret = SECRET_NAMES.dbAdminPassword;
      replaces = state.current.version;
    }
    const tags = {
      [ROTATION_TAGS.label]: "pending",
      [ROTATION_TAGS.rotationId]: rotationId,
      [ROTATION_TAGS.replaces]: replaces,
    };
    const made = await this.client.setSecret(secret, generatePassword(PASSWORD_LENGTH), {
      contentType: "password",
      tags,
      ...this.options(),
    });
    const version = made.properties.version;
    if (!version) throw new Error(`Key Vault returned no version for the new ${secret}`);
    return {
      secret,
      version,
      rotationId,
      replaces,
      ...(made.properties.createdOn ? { createdOn: made.properties.createdOn.toISOString() } : {}),
      ...(slot ? { slot, user: APP_USERS[slot] } : {}),
      created: true,
    };
  }

  /**
   * Promotes the pending version: it becomes current (generation + 1) first, so the state derives
   * right after any prefix of these writes; then the old current becomes previous (app users: still
   * valid) or retired (admin: the server no longer takes it), the version the pending one replaced
   * is retired, and any other stale label is fixed. Already promoted: only the relabelling runs.
   */
  async finish(kind: CredentialKind, version: string, at: string): Promise<LabelChange[]> {
    let versions = await this.versions();
    const changes: LabelChange[] = [];
    const target = this.version(versions, kind, version);
    const label = target.tags[ROTATION_TAGS.label];
    if (label === "pending") {
      const before = kind === "admin" ? deriveAdminState(versions.admin).current : deriveAppUserState(versions).current;
      await this.setTags(target.secret, target.version, {
        ...target.tags,
        [ROTATION_TAGS.label]: "current",
        [ROTATION_TAGS.generation]: String(before.generation + 1),
        [ROTATION_TAGS.since]: at,
      });
      changes.push({ secret: target.secret, version: target.version, from: "pending", to: "current" });
      // the old current: previous (app users) or retired (admin)
      const demoted = kind === "admin" ? "retired" : "previous";
      await this.setTags(before.secret, before.version, {
        ...tagsOf(versions, before.secret, before.version),
        [ROTATION_TAGS.label]: demoted,
      });
      changes.push({ secret: before.secret, version: before.version, to: demoted });
    } else if (label !== "current") {
      throw new Error(`version ${version} of ${target.secret} is ${label ?? "unlabelled"}, not pending`);
    }
    // the version the new one replaced no longer logs in (a never-rotated one has no label to go stale)
    const replaced = target.tags[ROTATION_TAGS.replaces];
    const replacedTags = replaced ? tagsOf(versions, target.secret, replaced) : {};
    if (replaced && replacedTags[ROTATION_TAGS.label] !== "retired") {
      await this.setTags(target.secret, replaced, { ...replacedTags, [ROTATION_TAGS.label]: "retired" });
      changes.push({ secret: target.secret, version: replaced, to: "retired" });
    }
    versions = await this.versions();
    const rest =
      kind === "admin"
        ? adminLabelChanges(deriveAdminState(versions.admin), versions.admin)
        : appLabelChanges(deriveAppUserState(versions), versions);
    await this.applyLabels(versions, rest);
    return [...changes, ...rest];
  }

  /** A rolled-back rotation's version is labelled failed (and says why); it is never used again. */
  async abandon(kind: CredentialKind, version: string, reason: string): Promise<boolean> {
    const target = this.version(await this.versions(), kind, version);
    const label = target.tags[ROTATION_TAGS.label];
    if (label === "failed") return false;
    if (label !== "pending") {
      throw new Error(`version ${version} of ${target.secret} is ${label ?? "unlabelled"}, not pending`);
    }
    await this.setTags(target.secret, target.version, {
      ...target.tags,
      [ROTATION_TAGS.label]: "failed",
      [ROTATION_TAGS.failure]: reason.split("\n")[0].trim().slice(0, 250),
    });
    return true;
  }

  /** The value of one version of the admin password, for the one place it is sent (ARM). */
  async adminPassword(version: string): Promise<string> {
    const secret = await this.client.getSecret(SECRET_NAMES.dbAdminPassword, { version, ...this.options() });
    if (typeof secret.value !== "string" || secret.value.length === 0) {
      throw new Error(`version ${version} of ${SECRET_NAMES.dbAdminPassword} has no value`);
    }
    return secret.value;
  }

  private version(versions: Versions, kind: CredentialKind, version: string): SecretVersionMeta {
    const all = kind === "admin" ? versions.admin : [...versions.a, ...versions.b];
    const found = all.find((v) => v.version === version);
    if (!found) throw new Error(`version ${version} of the ${kind} password is not in Key Vault`);
    return found;
  }

  private async versions(): Promise<Versions> {
    const [a, b, admin] = await Promise.all([
      this.versionsOf(appUserSecretName("a")),
      this.versionsOf(appUserSecretName("b")),
      this.versionsOf(SECRET_NAMES.dbAdminPassword),
    ]);
    return { a, b, admin };
  }

  private async versionsOf(secret: string): Promise<SecretVersionMeta[]> {
    const found: SecretVersionMeta[] = [];
    for await (const p of this.client.listPropertiesOfSecretVersions(secret, this.options())) {
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

  /** Replaces one version's tags with `tags` (Key Vault PATCH replaces the whole tag set). */
  private async setTags(secret: string, version: string, tags: Record<string, string>): Promise<void> {
    await this.client.updateSecretProperties(secret, version, { tags, ...this.options() });
  }

  private async applyLabels(versions: Versions, changes: LabelChange[]): Promise<void> {
    for (const c of changes) {
      await this.setTags(c.secret, c.version, {
        ...tagsOf(versions, c.secret, c.version),
        [ROTATION_TAGS.label]: c.to,
      });
    }
  }
}

function staleLabels(versions: Versions): LabelChange[] {
  return [
    ...appLabelChanges(deriveAppUserState(versions), versions),
    ...adminLabelChanges(deriveAdminState(versions.admin), versions.admin),
  ];
}

function tagsOf(versions: Versions, secret: string, version: string): Record<string, string> {
  const all = [...versions.a, ...versions.b, ...versions.admin];
  return { ...(all.find((v) => v.secret === secret && v.version === version)?.tags ?? {}) };
}
