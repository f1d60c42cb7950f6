// Activities of the certificate worker: read what is known (ledger, Key Vault, the CA's renewal
// information), issue a certificate through ACME (resumable by order id; shared/acme/issue.ts, the
// challenge solvers shared/acme/solvers.ts), and record what happened. The rollout itself is Run
// Command calls of the node agent (runNodeAgent).
//
// Idempotent by design: issuing again under the same order id finds the stored bundle or resumes
// the CA's order; records are read-change-write of the ledger; the claim is harmless to take again.
// No activity returns or logs a key: only serials, dates, Key Vault version ids and node names.
import { certificatesOf, certificateFacts } from "../../shared/acme/certificate";
import { fetchRenewalInfo, issueCertificate } from "../../shared/acme/issue";
import { backoffMs } from "../../shared/acme/renewal-policy";
import { dnsSolver, httpSolver } from "../../shared/acme/solvers";
import { certificateConditions, nodesBehind } from "../../shared/acme/status";
import type { CertificatePhase, CertificateState, ServedCertificate, StoredCertificate } from "../../shared/acme/types";
import { VaultOrderStore } from "../../shared/acme/vault-store";
import { stackVault } from "../../shared/arm/stack-vault";
import { certificateHostname } from "../../shared/graph/names";
import type { WebNodeRef } from "../../shared/node/model";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import { StackNotFoundError, type StackOperation } from "../../shared/store";
import { acmeDirectoryRefusal } from "../acme-directory";
import { services } from "../services";
import { listWebNodesActivity } from "./nodes";
import { grantTlsBundleReaders } from "./resources";

async function vaultClient(spec: StackSpec) {
  return stackVault(services().factory, spec);
}

function orderStore(client: NonNullable<Awaited<ReturnType<typeof vaultClient>>>): VaultOrderStore {
  const { factory } = services();
  return new VaultOrderStore(client, () => factory.call());
}

/** Ledger writes and the stack's certificate conditions, in one step. */
async function updateLedger(
  stack: string,
  at: string,
  change: (s: CertificateState) => CertificateState,
): Promise<CertificateState> {
  const s = services();
  const now = new Date(at);
  const state = await s.certificates.update(stack, change, { now });
  try {
    await s.registry.setConditions(stack, certificateConditions(state, now));
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
  return state;
}

// ------------------------------------------------------------------------------------ reading

export interface ReadCertificateStateInput {
  stack: string;
  /** the orchestration's time */
  at: string;
}

export type CertificateView =
  | { registered: false }
  | {
      registered: true;
      spec: StackSpec;
      hostname: string;
      operation?: StackOperation;
      /** false: no vault or no web nodes yet (not deployed) */
      ready: boolean;
      why?: string;
      nodes: WebNodeRef[];
      state: CertificateState;
    };

/**
 * The stack's certificate as Key Vault holds it now (the latest enabled `tls-bundle` version is the
 * truth; the ledger follows it), the CA's renewal window for it when the CA offers one, the ledger,
 * and the web nodes.
 */
export async function readCertificateStateActivity(input: ReadCertificateStateInput): Promise<CertificateView> {
  const s = services();
  const record = await s.registry.get(input.stack);
  if (!record) return { registered: false };
  const spec = record.spec;
  const hostname = certificateHostname(spec);
  const base = {
    registered: true as const,
    spec,
    hostname,
    ...(record.operation ? { operation: record.operation } : {}),
  };
  const client = await vaultClient(spec);
  if (!client) {
    const state = await s.certificates.get(input.stack);
    return { ...base, ready: false, why: "the stack's Key Vault does not exist (not deployed yet?)", nodes: [], state };
  }
  const stored = await orderStore(client).current();
  let current: StoredCertificate | undefined;
  if (stored) {
    let facts = stored.facts;
    if (!facts.serial) {
      // a version Jumpgate did not store (uploaded by hand): read its leaf
      const secret = await client.getSecret(SECRET_NAMES.tlsBundle, { ...s.factory.call(), version: stored.version });
      const leaf = certificatesOf(secret.value ?? "")[0];
      if (leaf) facts = certificateFacts(leaf);
    }
    current = {
      version: stored.version,
      serial: facts.serial,
      notBefore: facts.notBefore,
      notAfter: facts.notAfter,
      dnsNames: facts.dnsNames,
      issuer: facts.issuer,
      storedAt: stored.storedAt ?? input.at,
      ...(stored.orderId ? { orderId: stored.orderId } : {}),
      ...(facts.ariCertId ? { ariCertId: facts.ariCertId } : {}),
    };
  }
  const before = await s.certificates.get(input.stack);
  const { ari, checked } = await renewalWindow(spec, before, current, input.at);
  const state = await updateLedger(input.stack, input.at, (st) => {
    const same = st.current?.version === current?.version;
    const next: CertificateState = { ...st };
    if (!current) delete next.current;
    else next.current = same && st.current ? { ...current, storedAt: st.current.storedAt } : current;
    if (!same) next.nodes = st.nodes.map((n) => ({ ...n, current: !!current && n.serial === current.serial }));
    if (ari) next.ari = ari;
    else if (next.ari && next.ari.serial !== current?.serial) delete next.ari;
    if (checked) next.ariCheckedAt = { serial: checked.serial, at: checked.at };
    return next;
  });
  const nodes = await listWebNodesActivity({ spec });
  return {
    ...base,
    ready: nodes.length > 0,
    ...(nodes.length === 0 ? { why: "the stack has no web nodes" } : {}),
    nodes,
    state,
  };
}

const ARI_RECHECK_MS = 6 * 3600_000;

/**
 * The CA's renewal window for `current` (RFC 9773), asked for at most every 6 hours (or as the CA's
 * Retry-After says), also when the CA offers none; errors are not fatal: the 2/3 rule still holds.
 */
async function renewalWindow(
  spec: StackSpec,
  state: CertificateState,
  current: StoredCertificate | undefined,
  at: string,
): Promise<{ ari?: CertificateState["ari"]; checked?: { serial: string; at: string } }> {
  if (!current?.ariCertId || acmeDirectoryRefusal(spec.tls.acme.directoryUrl)) return {};
  const now = new Date(at);
  const known = state.ari && state.ari.serial === current.serial ? state.ari : undefined;
  const lastCheck = state.ariCheckedAt?.serial === current.serial ? Date.parse(state.ariCheckedAt.at) : undefined;
  const again = known?.retryAfter ? Date.parse(known.retryAfter) : (lastCheck ?? -Infinity) + ARI_RECHECK_MS;
  if (again > now.getTime()) return { ...(known ? { ari: known } : {}) };
  const checked = { serial: current.serial, at };
  try {
    const info = await fetchRenewalInfo(spec.tls.acme.directoryUrl, current.ariCertId, services().acme.transport, now);
    if (!info) return { checked };
    return { ari: { ...info, serial: current.serial, checkedAt: at }, checked };
  } catch {
    return { ...(known ? { ari: known } : {}), checked };
  }
}

// ------------------------------------------------------------------------------------ issuance

export interface BeginCertificateOrderInput {
  stack: string;
  /** a fresh id from the orchestration; an order already pending keeps its own */
  orderId: string;
  reason: string;
  at: string;
  /** the person's request this order answers: answered now, so a restarted worker does not order twice */
  forceId?: string;
}

/** Records the order about to be placed (or returns the one a stopped worker left pending). */
export async function beginCertificateOrderActivity(input: BeginCertificateOrderInput): Promise<string> {
  const state = await updateLedger(input.stack, input.at, (st) => {
    const next: CertificateState = st.pending
      ? { ...st }
      : { ...st, pending: { orderId: input.orderId, startedAt: input.at, reason: input.reason } };
    if (input.forceId) next.forceHandled = input.forceId;
    return next;
  });
  return state.pending!.orderId;
}

export interface IssueCertificateInput {
  spec: StackSpec;
  orderId: string;
  at: string;
}

export interface IssueCertificateOutput {
  certificate: StoredCertificate;
  resumed: "stored" | "order" | "new";
}

/**
 * One certificate for the stack's hostname from the spec's ACME directory, stored in Key Vault as a
 * new `tls-bundle` version. Resumes the order `orderId` when an earlier attempt got anywhere.
 */
export async function issueCertificateActivity(input: IssueCertificateInput): Promise<IssueCertificateOutput> {
  const { spec, orderId } = input;
  const refused = acmeDirectoryRefusal(spec.tls.acme.directoryUrl);
  if (refused) throw new Error(refused);
  const s = services();
  const client = await vaultClient(spec);
  if (!client) throw new Error("the stack's Key Vault does not exist");
  const hostname = certificateHostname(spec);
  const solver =
    spec.tls.acme.challenge === "dns-01"
      ? dnsSolver(s.factory, spec, s.acme.dnsWaitSeconds)
      : httpSolver(s.factory, spec, await listWebNodesActivity({ spec }));
  const result = await issueCertificate({
    directoryUrl: spec.tls.acme.directoryUrl,
    contact: spec.tls.acme.contact,
    hostname,
    orderId,
    solver,
    store: orderStore(client),
    transport: s.acme.transport,
    onOrderCreated: async (url) => {
      await s.certificates.update(
        spec.name,
        (st) =>
          st.orders.some((o) => o.url === url)
            ? st
            : { ...st, orders: [...st.orders, { at: input.at, identifiers: [hostname], orderId, url }] },
        { now: new Date(input.at) },
      );
    },
  });
  // the nodes read the bundle with their own identities: a grant on it (once it exists) comes first
  await grantTlsBundleReaders(spec);
  const certificate: StoredCertificate = {
    version: result.version,
    serial: result.facts.serial,
    notBefore: result.facts.notBefore,
    notAfter: result.facts.notAfter,
    dnsNames: result.facts.dnsNames,
    issuer: result.facts.issuer,
    orderId,
    storedAt: input.at,
    ...(result.facts.ariCertId ? { ariCertId: result.facts.ariCertId } : {}),
  };
  await updateLedger(spec.name, input.at, (st) => {
    const next: CertificateState = {
      ...st,
      current: st.current?.version === certificate.version ? st.current : certificate,
      lastRenewedAt: st.current?.version === certificate.version ? st.lastRenewedAt : input.at,
      nodes: st.nodes.map((n) => ({ ...n, current: n.serial === certificate.serial })),
    };
    if (next.pending?.orderId === orderId) delete next.pending;
    if (next.ari && next.ari.serial !== certificate.serial) delete next.ari;
    return next;
  });
  return { certificate, resumed: result.resumed };
}

// ------------------------------------------------------------------------------------ records

export interface RecordCertificateRolloutInput {
  stack: string;
  at: string;
  /** the certificate pushed */
  version: string;
  serial: string;
  /** what each node serves now, read back from it */
  nodes: ServedCertificate[];
}

export interface RecordCertificateRolloutOutput {
  behind: string[];
  failures: number;
  nextAttemptAt?: string;
}

/**
 * What every node serves after a rollout. All current: the rollout is complete and the failure
 * count resets. Some behind: a failed attempt (backoff grows); they keep their previous certificate.
 */
export async function recordCertificateRolloutActivity(
  input: RecordCertificateRolloutInput,
): Promise<RecordCertificateRolloutOutput> {
  const state = await updateLedger(input.stack, input.at, (st) => {
    const behind = input.nodes.filter((n) => !n.current);
    const next: CertificateState = { ...st, nodes: input.nodes };
    if (behind.length === 0) {
      next.rolledOutVersion = input.version;
      next.failures = 0;
      delete next.nextAttemptAt;
      return next;
    }
    const failures = st.failures + 1;
    next.failures = failures;
    next.nextAttemptAt = new Date(
      Date.parse(input.at) + backoffMs(failures, new Date(input.at), st.current?.notAfter),
    ).toISOString();
    next.lastFailure = {
      at: input.at,
      phase: "rollout",
      nodes: behind.map((n) => n.node),
      message: `${behind.map((n) => `${n.node}: ${n.detail ?? `serves ${n.serial ?? "nothing readable"}`}`).join("; ")} (they keep their previous certificate)`,
    };
    return next;
  });
  return {
    behind: nodesBehind(state),
    failures: state.failures,
    ...(state.nextAttemptAt ? { nextAttemptAt: state.nextAttemptAt } : {}),
  };
}

export interface RecordCertificateVerificationInput {
  stack: string;
  at: string;
  nodes: ServedCertificate[];
}

/**
 * What every node serves, read between rollouts (a node heal or scale brought in, or a daily look).
 * Only the nodes change: failures and backoff stay as they are. Returns the nodes behind.
 */
export async function recordCertificateVerificationActivity(
  input: RecordCertificateVerificationInput,
): Promise<string[]> {
  const state = await updateLedger(input.stack, input.at, (st) => ({ ...st, nodes: input.nodes }));
  return nodesBehind(state);
}

export interface RecordCertificateFailureInput {
  stack: string;
  at: string;
  phase: CertificatePhase;
  message: string;
}

/** A failed attempt: the failure count grows, and so does the wait before the next one. */
export async function recordCertificateFailureActivity(
  input: RecordCertificateFailureInput,
): Promise<{ failures: number; nextAttemptAt: string }> {
  const state = await updateLedger(input.stack, input.at, (st) => {
    const failures = st.failures + 1;
    return {
      ...st,
      failures,
      nextAttemptAt: new Date(
        Date.parse(input.at) + backoffMs(failures, new Date(input.at), st.current?.notAfter),
      ).toISOString(),
      lastFailure: { at: input.at, phase: input.phase, message: input.message },
    };
  });
  return { failures: state.failures, nextAttemptAt: state.nextAttemptAt! };
}

export interface RecordCertificateCheckInput {
  stack: string;
  at: string;
  decision: string;
  nextCheckAt: string;
  nextRenewalAt?: string;
}

export async function recordCertificateCheckActivity(input: RecordCertificateCheckInput): Promise<void> {
  try {
    await updateLedger(input.stack, input.at, (st) => {
      const next: CertificateState = { ...st, decision: input.decision, nextCheckAt: input.nextCheckAt };
      if (input.nextRenewalAt) next.nextRenewalAt = input.nextRenewalAt;
      else delete next.nextRenewalAt;
      return next;
    });
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
}
