// One certificate from an ACME CA (RFC 8555) with acme-client, resumable: every step that cannot be
// repeated without cost is recorded first, under Jumpgate's order id, in a store (Key Vault), so an
// activity retried after a crash at any point continues the same order instead of placing another:
//
//   1. a bundle already stored for this order id -> done, nothing is asked of the CA
//   2. the order's new private key (one per certificate) is stored before the order exists
//   3. the order's URL is stored as soon as the CA gives it; a retry fetches that order
//   4. pending authorizations: the solver places the proof (HTTP-01 on every node, or a DNS-01 TXT
//      record), the CA is told, its verdict awaited, the proof removed whatever happened
//   5. ready -> finalize with a CSR from the stored key; valid -> download the chain
//   6. the bundle (key + chain) is checked and stored as a new Key Vault secret version tagged with
//      the order id, serial and dates; the pending key is disabled
//
// acme-client keeps one axios instance per process: its trust store and timeouts are set here from
// the app's settings. Errors carry the CA's problem detail, never key material.
import * as https from "node:https";
import * as tls from "node:tls";
import type * as AcmeClient from "acme-client";
import { onFirstUse } from "../load-on-use";
import { checkBundle, type CertificateFacts } from "./certificate";

/** the ACME client package, loaded when a certificate is first ordered (see load-on-use.ts) */
const acme = onFirstUse<typeof AcmeClient>("acme-client");

export type ChallengeType = "http-01" | "dns-01";

export interface ChallengeProof {
  /** the DNS name being validated */
  identifier: string;
  token: string;
  /** http-01: the key authorization served at /.well-known/acme-challenge/<token>; dns-01: the TXT value */
  value: string;
}

/** Places and removes the proof of control the CA checks. */
export interface ChallengeSolver {
  type: ChallengeType;
  present(proof: ChallengeProof): Promise<void>;
  /** best effort; called whether validation succeeded or not */
  cleanup(proof: ChallengeProof): Promise<void>;
}

/** A stored bundle's metadata (Key Vault version and the facts of its leaf). */
export interface StoredBundle {
  version: string;
  facts: CertificateFacts;
  /** when Key Vault created the version */
  storedAt?: string;
  orderId?: string;
}

/** Where the order's state and results live (Key Vault in the app). Values go in, only metadata comes out. */
export interface OrderStore {
  /** the bundle stored for this order, if any */
  findIssued(orderId: string): Promise<StoredBundle | undefined>;
  /** the ACME account key, created on first use */
  accountKey(): Promise<string>;
  /** the private key made for this order, and the order URL once known */
  pendingKey(orderId: string): Promise<{ keyPem: string; orderUrl?: string } | undefined>;
  savePendingKey(orderId: string, keyPem: string): Promise<void>;
  setOrderUrl(orderId: string, orderUrl: string): Promise<void>;
  storeBundle(orderId: string, bundle: string, facts: CertificateFacts): Promise<string>;
  retirePendingKey(orderId: string): Promise<void>;
}

export interface AcmeTransport {
  /** extra CA (PEM) to trust for the ACME directory, on top of the public ones (a test CA) */
  caPem?: string;
  /** deadline of one HTTP request to the CA */
  requestTimeoutMs: number;
  /** first and longest wait between polls of a pending challenge or order */
  pollMinMs: number;
  pollMaxMs: number;
  /** polls before giving up on a pending challenge or order */
  pollAttempts: number;
}

export interface IssueRequest {
  directoryUrl: string;
  contact?: string;
  hostname: string;
  orderId: string;
  solver: ChallengeSolver;
  store: OrderStore;
  transport: AcmeTransport;
  /** called once when the CA creates an order (to count it against the weekly limit) */
  onOrderCreated?: (orderUrl: string) => Promise<void>;
  now?: () => Date;
}

export interface IssueResult extends StoredBundle {
  /** how far earlier attempts had got: "stored" (nothing asked of the CA), "order" (an order resumed), "new" */
  resumed: "stored" | "order" | "new";
  orderUrl?: string;
}

export class AcmeError extends Error {
  override name = "AcmeError";
}

/** The ACME directory could not be read (the CA is down, unreachable or not trusted). */
export class AcmeUnreachableError extends AcmeError {
  override name = "AcmeUnreachableError";
}

interface Directory {
  newOrder?: string;
  renewalInfo?: string;
  meta?: { termsOfService?: string };
}

export async function issueCertificate(request: IssueRequest): Promise<IssueResult> {
  const { store, transport, hostname, orderId } = request;
  const now = request.now ?? (() => new Date());
  const stored = await store.findIssued(orderId);
  if (stored) return { ...stored, resumed: "stored" };

  configureTransport(transport);
  await readDirectory(request.directoryUrl, transport);
  const client = new (acme().Client)({
    directoryUrl: request.directoryUrl,
    accountKey: await store.accountKey(),
    backoffAttempts: transport.pollAttempts,
    backoffMin: transport.pollMinMs,
    backoffMax: transport.pollMaxMs,
  });
  return withClearErrors(request.directoryUrl, async () => {
    await client.createAccount({
      termsOfServiceAgreed: true,
      ...(request.contact ? { contact: [`mailto:${request.contact}`] } : {}),
    });

    let pending = await store.pendingKey(orderId);
    if (!pending) {
      // a new key per certificate, kept before the CA hears of it
      const keyPem = (await acme().crypto.createPrivateEcdsaKey("P-256")).toString("utf8");
      await store.savePendingKey(orderId, keyPem);
      pending = { keyPem };
    }

    let order: AcmeClient.Order | undefined;
    let resumed: IssueResult["resumed"] = "new";
    if (pending.orderUrl) {
      try {
        order = await client.getOrder({ url: pending.orderUrl } as AcmeClient.Order);
        if (order.status === "invalid") order = undefined;
        else resumed = "order";
      } catch {
        order = undefined; // expired or unknown to the CA: a new order
      }
    }
    if (!order) {
      order = await client.createOrder({ identifiers: [{ type: "dns", value: hostname }] });
      await store.setOrderUrl(orderId, order.url);
      await request.onOrderCreated?.(order.url);
    }

    if (order.status === "pending") {
      for (const authz of await client.getAuthorizations(order)) {
        if (authz.status === "valid") continue;
        if (authz.status !== "pending") {
          throw new AcmeError(`the authorization for ${authz.identifier.value} is ${authz.status}`);
        }
        const challenge = authz.challenges.find((c) => c.type === request.solver.type);
        if (!challenge) {
          throw new AcmeError(
            `the CA offers no ${request.solver.type} challenge for ${authz.identifier.value} (offers ${authz.challenges.map((c) => c.type).join(", ")})`,
          );
        }
        const proof: ChallengeProof = {
          identifier: authz.identifier.value,
          token: challenge.token,
          value: await client.getChallengeKeyAuthorization(challenge),
        };
        try {
          await request.solver.present(proof);
          if (challenge.status === "pending") await client.completeChallenge(challenge);
          await client.waitForValidStatus(challenge);
        } catch (e) {
          throw new AcmeError(`${request.solver.type} validation of ${proof.identifier} failed: ${messageOf(e)}`);
        } finally {
          await request.solver.cleanup(proof).catch(() => undefined);
        }
      }
      order = await client.getOrder(order);
    }
    if (order.status === "ready") {
      const [, csr] = await acme().crypto.createCsr({ commonName: hostname, altNames: [hostname] }, pending.keyPem);
      order = await client.finalizeOrder(order, csr);
    }
    if (order.status === "invalid") throw new AcmeError(`the order for ${hostname} became invalid`);
    const chain = await client.getCertificate(order);

    const bundle = `${pending.keyPem.trim()}\n${chain.trim()}\n`;
    const { leaf } = checkBundle(bundle, hostname, now());
    const version = await store.storeBundle(orderId, bundle, leaf);
    await store.retirePendingKey(orderId);
    return { version, facts: leaf, resumed, orderUrl: order.url };
  });
}

export interface RenewalInfo {
  start: string;
  end: string;
  explanationUrl?: string;
  /** when the CA wants to be asked again (Retry-After), ISO 8601 */
  retryAfter?: string;
}

/**
 * The CA's suggested renewal window for a certificate (RFC 9773), or undefined when the CA does not
 * offer renewal information. Throws when it offers it but the request fails.
 */
export async function fetchRenewalInfo(
  directoryUrl: string,
  certId: string,
  transport: AcmeTransport,
  now: Date = new Date(),
): Promise<RenewalInfo | undefined> {
  const directory = await readDirectory(directoryUrl, transport);
  if (!directory.renewalInfo) return undefined;
  const url = `${directory.renewalInfo.replace(/\/$/, "")}/${certId}`;
  const response = await getJson(url, transport);
  if (response.status !== 200) throw new AcmeError(`renewalInfo answered HTTP ${response.status}`);
  const body = response.body as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown };
  const start = body.suggestedWindow?.start;
  const end = body.suggestedWindow?.end;
  if (typeof start !== "string" || typeof end !== "string" || !(Date.parse(end) > Date.parse(start))) {
    throw new AcmeError("renewalInfo has no valid suggestedWindow");
  }
  const retry = response.retryAfter;
  return {
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    ...(typeof body.explanationURL === "string" ? { explanationUrl: body.explanationURL } : {}),
    ...(retry !== undefined ? { retryAfter: new Date(now.getTime() + retry * 1000).toISOString() } : {}),
  };
}

// ------------------------------------------------------------------------------ transport

/** Sets acme-client's process-wide axios instance: trust store, request deadline, bounded retries. */
export function configureTransport(transport: AcmeTransport): void {
  acme().axios.defaults.timeout = transport.requestTimeoutMs;
  acme().axios.defaults.httpsAgent = agentFor(transport);
  const settings = (acme().axios.defaults as unknown as { acmeSettings: Record<string, number> }).acmeSettings;
  // 5xx and 429 are retried twice (Retry-After honoured); the worker's backoff does the rest
  settings.retryMaxAttempts = 2;
}

const agents = new Map<string, https.Agent>();

function agentFor(transport: AcmeTransport): https.Agent {
  const key = transport.caPem ?? "";
  let agent = agents.get(key);
  if (!agent) {
    agent = new https.Agent(transport.caPem ? { ca: [...tls.rootCertificates, transport.caPem] } : {});
    agents.set(key, agent);
  }
  return agent;
}

/**
 * Reads the directory with a plain request first: when the CA is down or not trusted, acme-client
 * 5.4 reports "Cannot read properties of undefined (reading 'config')" instead of the cause.
 */
async function readDirectory(directoryUrl: string, transport: AcmeTransport): Promise<Directory> {
  let response;
  try {
    response = await getJson(directoryUrl, transport);
  } catch (e) {
    throw new AcmeUnreachableError(`the ACME directory ${directoryUrl} is unreachable: ${messageOf(e)}`);
  }
  if (response.status !== 200 || typeof response.body !== "object" || response.body === null) {
    throw new AcmeUnreachableError(`the ACME directory ${directoryUrl} answered HTTP ${response.status}`);
  }
  const directory = response.body as Directory;
  if (typeof directory.newOrder !== "string") {
    throw new AcmeUnreachableError(`${directoryUrl} is not an ACME directory (no newOrder)`);
  }
  return directory;
}

function getJson(
  url: string,
  transport: AcmeTransport,
): Promise<{ status: number; body: unknown; retryAfter?: number }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: agentFor(transport), timeout: transport.requestTimeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
        if (text.length > 1_000_000) req.destroy(new Error("response too large"));
      });
      res.on("end", () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        const retryAfter = Number(res.headers["retry-after"]);
        resolve({
          status: res.statusCode ?? 0,
          body,
          ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfter } : {}),
        });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${transport.requestTimeoutMs} ms`)));
    req.on("error", reject);
  });
}

async function withClearErrors<T>(directoryUrl: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof AcmeError) throw e;
    const message = messageOf(e);
    if (/reading 'config'/.test(message)) {
      throw new AcmeUnreachableError(`the ACME server of ${directoryUrl} stopped answering (network or TLS error)`);
    }
    throw new AcmeError(message);
  }
}

function messageOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split("\n")[0].slice(0, 400);
}
