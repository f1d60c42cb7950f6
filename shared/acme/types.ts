// What Jumpgate knows about a stack's TLS certificate between runs of its certificate worker. Plain
// JSON that travels through orchestration history and the status API: serials, dates, Key Vault
// version ids, node names and reasons, never a key or a certificate body.
import type { AriWindow, ForceRequest, OrderRecord } from "./renewal-policy";

/** The certificate in Key Vault (the latest `tls-bundle` version), as Jumpgate stored it. */
export interface StoredCertificate {
  /** Key Vault secret version id of the bundle */
  version: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  dnsNames: string[];
  issuer: string;
  /** the order that produced it (Jumpgate's id, also a tag on the secret version) */
  orderId?: string;
  /** when it was stored in Key Vault */
  storedAt: string;
  /** RFC 9773 certificate id, for renewal information */
  ariCertId?: string;
}

/** What one node serves, as its agent read it from its own NGINX. */
export interface ServedCertificate {
  node: string;
  serial?: string;
  notAfter?: string;
  /** serves the stored certificate */
  current: boolean;
  checkedAt: string;
  /** why it does not (install failure, unreachable...) */
  detail?: string;
}

export type CertificatePhase = "issue" | "rollout" | "verify";

export interface CertificateFailure {
  at: string;
  phase: CertificatePhase;
  message: string;
  /** nodes the failure is about (rollout) */
  nodes?: string[];
}

/** An order the worker has started and not yet seen stored: a restarted worker resumes it. */
export interface PendingOrder {
  orderId: string;
  startedAt: string;
  reason: string;
}

export interface CertificateOrderRecord extends OrderRecord {
  orderId: string;
  /** the CA's order URL */
  url?: string;
}

export interface CertificateState {
  current?: StoredCertificate;
  pending?: PendingOrder;
  /** the CA's suggested renewal window for the current certificate, when it offers one */
  ari?: AriWindow & { serial: string; checkedAt: string; retryAfter?: string; explanationUrl?: string };
  /** when the CA was last asked for renewal information about the certificate with this serial */
  ariCheckedAt?: { serial: string; at: string };
  /** served certificate per node, from the last rollout or verification */
  nodes: ServedCertificate[];
  /** the version the last complete rollout pushed to every node it reached */
  rolledOutVersion?: string;
  /** failed attempts in a row (issue or rollout) and when the next may start */
  failures: number;
  nextAttemptAt?: string;
  lastFailure?: CertificateFailure;
  /** orders placed, the last 7 days (counted against the per-name weekly limit) */
  orders: CertificateOrderRecord[];
  /** a person asked for a new certificate (POST .../rotate/certificate) */
  force?: ForceRequest;
  /** the id of the last request a new certificate answered */
  forceHandled?: string;
  /** the worker's next look, and why */
  nextCheckAt?: string;
  nextRenewalAt?: string;
  decision?: string;
  lastRenewedAt?: string;
}

export function emptyCertificateState(): CertificateState {
  return { nodes: [], failures: 0, orders: [] };
}
