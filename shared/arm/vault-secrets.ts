// Key Vault secrets as graph nodes (`<vault id>/secrets/<name>`) and as sources of values for other
// nodes' PUTs. The vault's data-plane URL comes from its ARM document (`properties.vaultUri`).
// Observing a secret reads version metadata only; a value is read only to be put straight into the
// ARM request that needs it, and a generated value goes straight into the vault.
import type { SecretClient } from "@azure/keyvault-secrets";
import { isRestError } from "../azure/rest-error";
import { setTimeout as sleep } from "node:timers/promises";
import type { AzureClientFactory } from "../azure/clients";
import type { SecretGenerator } from "../graph/types";
import type { ArmDocuments, ObservedDocument } from "./arm-documents";
import { isNotFound } from "./errors";
import { getAt } from "./json-path";
import { generateSecretValue } from "./secret-values";

export interface SecretAccessRetry {
  attempts: number;
  delayMs: number;
}

/** What is kept of a secret version: metadata, never the value. */
interface SecretVersionInfo {
  version?: string;
  enabled?: boolean;
  contentType?: string;
  tags?: Record<string, string>;
  createdOn?: string;
}

export function secretAddress(id: string): { vaultId: string; name: string } {
  const m = /^(.*)\/secrets\/([^/]+)$/i.exec(id);
  if (!m) throw new Error(`not a Key Vault secret node id (<vault id>/secrets/<name>): ${id}`);
  return { vaultId: m[1], name: m[2] };
}

export class VaultSecrets {
  constructor(
    private readonly factory: AzureClientFactory,
    private readonly arm: ArmDocuments,
    /** 403s right after a role assignment are retried: Azure RBAC takes minutes to propagate */
    private readonly retry: SecretAccessRetry,
  ) {}

  /** The vault's data-plane client, or undefined when the vault does not exist. */
  async client(vault: { id: string; apiVersion: string }, signal?: AbortSignal): Promise<SecretClient | undefined> {
    const doc = await this.arm.get(vault, signal);
    if (!doc) return undefined;
    const uri = getAt(doc, "properties.vaultUri");
    if (typeof uri !== "string") throw new Error(`vault ${vault.id} has no properties.vaultUri`);
    return this.factory.secrets(uri);
  }

  /** The latest version's metadata, a `deleted: true` marker (soft-deleted), or undefined. */
  async observe(
    client: SecretClient,
    id: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<ObservedDocument | undefined> {
    const versions = await this.withAccess(async () => {
      const found: SecretVersionInfo[] = [];
      try {
        for await (const p of client.listPropertiesOfSecretVersions(name, this.factory.call(signal))) {
          const { version, enabled, contentType, tags } = p;
          found.push({ version, enabled, contentType, tags, createdOn: p.createdOn?.toISOString() });
        }
      } catch (e) {
        if (!isNotFound(e)) throw e; // Key Vault answers 404 or an empty list for a missing secret
      }
      return found;
    }, signal);
    if (versions.length > 0) {
      versions.sort((a, b) => (a.createdOn ?? "").localeCompare(b.createdOn ?? ""));
      return { id, name, properties: { ...versions[versions.length - 1] }, versions: versions.length };
    }
    try {
      const deleted = await this.withAccess(() => client.getDeletedSecret(name, this.factory.call(signal)), signal);
      return { id, name, deleted: true, properties: { recoveryId: deleted.recoveryId ?? null } };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Generates a value and stores it; returns the value only so the caller can scrub errors with it. */
  async generate(
    client: SecretClient,
    name: string,
    generator: SecretGenerator,
    meta: { contentType?: string; tags?: Record<string, string> },
    signal?: AbortSignal,
  ): Promise<string> {
    const value = await generateSecretValue(generator);
    await this.withAccess(() => client.setSecret(name, value, { ...this.factory.call(signal), ...meta }), signal);
    return value;
  }

  async recover(client: SecretClient, name: string, signal?: AbortSignal): Promise<void> {
    await this.withAccess(async () => {
      const poller = await client.beginRecoverDeletedSecret(name, this.pollOptions(signal));
      await poller.pollUntilDone();
    }, signal);
  }

  /** Soft-deletes (purge protection keeps deleted secrets for the retention period). */
  async delete(client: SecretClient, name: string, signal?: AbortSignal): Promise<void> {
    await this.withAccess(async () => {
      const poller = await client.beginDeleteSecret(name, this.pollOptions(signal));
      await poller.pollUntilDone();
    }, signal);
  }

  /** The current value, for the one PUT that needs it. */
  async value(vault: { id: string; apiVersion: string }, name: string, signal?: AbortSignal): Promise<string> {
    const client = await this.client(vault, signal);
    if (!client) throw new Error(`the vault ${vault.id} holding ${name} does not exist`);
    const secret = await this.withAccess(() => client.getSecret(name, this.factory.call(signal)), signal);
    if (typeof secret.value !== "string") throw new Error(`the Key Vault secret ${name} has no value`);
    return secret.value;
  }

  private pollOptions(signal?: AbortSignal) {
    return { ...this.factory.call(signal), intervalInMs: this.factory.settings.lroPollIntervalMs };
  }

  private async withAccess<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (e) {
        const rbacNotYet = isRestError(e) && e.statusCode === 403 && !/disabled/i.test(e.message);
        if (!rbacNotYet || attempt >= this.retry.attempts) throw e;
        await sleep(this.retry.delayMs, undefined, { signal });
      }
    }
  }
}
