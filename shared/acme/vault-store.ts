// The issuance's state in the stack's Key Vault (decision 4: secrets live only there):
//
//   acme-account-key  the ACME account key (PEM), created on first use, one per stack
//   tls-pending-key   one version per order in progress: the new certificate's private key, tagged
//                     with Jumpgate's order id and, once the CA made it, the order URL; disabled
//                     when the bundle is stored
//   tls-bundle        one version per certificate: key + chain (PEM), tagged with the order id,
//                     serial, validity, names and issuer. The latest enabled version is the stack's
//                     current certificate: heal, scale and deploy install it with
//                     `jumpgate-node install-cert --secret tls-bundle` (no version: the latest).
//
// Only metadata leaves this module: tags, version ids. Values are read only to use them here.
import type { SecretClient, SecretProperties } from "@azure/keyvault-secrets";
import { isRestError } from "../azure/rest-error";
import type * as AcmeClient from "acme-client";
import { onFirstUse } from "../load-on-use";
import { SECRET_NAMES } from "../secret-names";
import type { CertificateFacts } from "./certificate";
import type { OrderStore, StoredBundle } from "./issue";

/** the ACME client package, loaded when a certificate is first ordered (see load-on-use.ts) */
const acme = onFirstUse<typeof AcmeClient>("acme-client");

export const PEM_CONTENT_TYPE = "application/x-pem-file";

/** Tags of a bundle version (Key Vault: at most 15 tags, values up to 256 characters). */
export const BUNDLE_TAGS = {
  orderId: "jumpgate-order",
  orderUrl: "acme-order-url",
  serial: "serial",
  notBefore: "not-before",
  notAfter: "not-after",
  dnsNames: "dns-names",
  issuer: "issuer",
  ariCertId: "ari-cert-id",
} as const;

export class VaultOrderStore implements OrderStore {
  constructor(
    private readonly client: SecretClient,
    /** per-call options (deadline) */
    private readonly call: () => { abortSignal: AbortSignal },
  ) {}

  async findIssued(orderId: string): Promise<StoredBundle | undefined> {
    const version = (await this.versions(SECRET_NAMES.tlsBundle)).find(
      (p) => p.enabled !== false && p.tags?.[BUNDLE_TAGS.orderId] === orderId,
    );
    return version ? bundleOf(version) : undefined;
  }

  /** The latest enabled bundle version: the stack's current certificate. */
  async current(): Promise<StoredBundle | undefined> {
    const versions = (await this.versions(SECRET_NAMES.tlsBundle)).filter((p) => p.enabled !== false);
    versions.sort((a, b) => (a.createdOn?.getTime() ?? 0) - (b.createdOn?.getTime() ?? 0));
    const latest = versions.at(-1);
    return latest ? bundleOf(latest) : undefined;
  }

  async accountKey(): Promise<string> {
    try {
      const secret = await this.client.getSecret(SECRET_NAMES.acmeAccountKey, this.call());
      if (secret.value) return secret.value;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const key = (await acme().crypto.createPrivateEcdsaKey("P-256")).toString("utf8");
    await this.client.setSecret(SECRET_NAMES.acmeAccountKey, key, {
      ...this.call(),
      contentType: PEM_CONTENT_TYPE,
      tags: { purpose: "ACME account key" },
    });
    // two workers creating it at once: both use whichever version is latest now
    const secret = await this.client.getSecret(SECRET_NAMES.acmeAccountKey, this.call());
    return secret.value ?? key;
  }

  async pendingKey(orderId: string): Promise<{ keyPem: string; orderUrl?: string } | undefined> {
    const version = (await this.versions(SECRET_NAMES.tlsPendingKey)).find(
      (p) => p.enabled !== false && p.tags?.[BUNDLE_TAGS.orderId] === orderId,
    );
    if (!version?.version) return undefined;
    const secret = await this.client.getSecret(SECRET_NAMES.tlsPendingKey, {
      ...this.call(),
      version: version.version,
    });
    if (!secret.value) return undefined;
    const orderUrl = version.tags?.[BUNDLE_TAGS.orderUrl];
    return { keyPem: secret.value, ...(orderUrl ? { orderUrl } : {}) };
  }

  async savePendingKey(orderId: string, keyPem: string): Promise<void> {
    await this.client.setSecret(SECRET_NAMES.tlsPendingKey, keyPem, {
      ...this.call(),
      contentType: PEM_CONTENT_TYPE,
      tags: { [BUNDLE_TAGS.orderId]: orderId },
    });
  }

  async setOrderUrl(orderId: string, orderUrl: string): Promise<void> {
    const version = await this.pendingVersion(orderId);
    await this.client.updateSecretProperties(SECRET_NAMES.tlsPendingKey, version.version!, {
      ...this.call(),
      tags: { ...version.tags, [BUNDLE_TAGS.orderUrl]: orderUrl.slice(0, 256) },
    });
  }

  async storeBundle(orderId: string, bundle: string, facts: CertificateFacts): Promise<string> {
    const stored = await this.client.setSecret(SECRET_NAMES.tlsBundle, bundle, {
      ...this.call(),
      contentType: PEM_CONTENT_TYPE,
      tags: bundleTags(orderId, facts),
    });
    if (!stored.properties.version) throw new Error("Key Vault returned no version for the stored bundle");
    return stored.properties.version;
  }

  async retirePendingKey(orderId: string): Promise<void> {
    const version = (await this.versions(SECRET_NAMES.tlsPendingKey)).find(
      (p) => p.enabled !== false && p.tags?.[BUNDLE_TAGS.orderId] === orderId,
    );
    if (!version?.version) return;
    await this.client.updateSecretProperties(SECRET_NAMES.tlsPendingKey, version.version, {
      ...this.call(),
      enabled: false,
    });
  }

  private async pendingVersion(orderId: string): Promise<SecretProperties> {
    const version = (await this.versions(SECRET_NAMES.tlsPendingKey)).find(
      (p) => p.enabled !== false && p.tags?.[BUNDLE_TAGS.orderId] === orderId,
    );
    if (!version?.version) throw new Error(`no pending key for order ${orderId}`);
    return version;
  }

  private async versions(name: string): Promise<SecretProperties[]> {
    const found: SecretProperties[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecretVersions(name, this.call())) found.push(p);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return found;
  }
}

export function bundleTags(orderId: string, facts: CertificateFacts): Record<string, string> {
  return {
    [BUNDLE_TAGS.orderId]: orderId,
    [BUNDLE_TAGS.serial]: facts.serial,
    [BUNDLE_TAGS.notBefore]: facts.notBefore,
    [BUNDLE_TAGS.notAfter]: facts.notAfter,
    [BUNDLE_TAGS.dnsNames]: facts.dnsNames.join(",").slice(0, 256),
    [BUNDLE_TAGS.issuer]: facts.issuer.slice(0, 256),
    ...(facts.ariCertId ? { [BUNDLE_TAGS.ariCertId]: facts.ariCertId.slice(0, 256) } : {}),
  };
}

/** A bundle version's metadata from its tags (a version Jumpgate did not store has few: serial unknown). */
export function bundleOf(p: SecretProperties): StoredBundle {
  const t = p.tags ?? {};
  return {
    version: p.version ?? "",
    facts: {
      serial: t[BUNDLE_TAGS.serial] ?? "",
      notBefore: t[BUNDLE_TAGS.notBefore] ?? "",
      notAfter: t[BUNDLE_TAGS.notAfter] ?? "",
      dnsNames: (t[BUNDLE_TAGS.dnsNames] ?? "").split(",").filter(Boolean),
      issuer: t[BUNDLE_TAGS.issuer] ?? "",
      ...(t[BUNDLE_TAGS.ariCertId] ? { ariCertId: t[BUNDLE_TAGS.ariCertId] } : {}),
    },
    ...(p.createdOn ? { storedAt: p.createdOn.toISOString() } : {}),
    ...(t[BUNDLE_TAGS.orderId] ? { orderId: t[BUNDLE_TAGS.orderId] } : {}),
  };
}

function isNotFound(e: unknown): boolean {
  return isRestError(e) && e.statusCode === 404;
}
