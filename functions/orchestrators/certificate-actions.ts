// What the certificate worker (renew-certificate.ts) does to a stack once it holds it: issue a
// certificate (an ACME order, resumable by its id, attempted once: a failure backs off) and roll it
// out node by node, reading back what every node's NGINX serves; and, between rollouts, read what the
// nodes serve (a node heal or scale brought in, or a day passed).
import { renewalTime, type RenewalDecision } from "../../shared/acme/renewal-policy";
import { servedReport } from "../../shared/acme/served";
import type { StoredCertificate } from "../../shared/acme/types";
import type { WebNodeRef } from "../../shared/node/model";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import type { ActivityOutput } from "../workflow/activity-map";
import { agentTask, runAgent, succeeded, whyFailed } from "../workflow/node-steps";
import type { Worker } from "../workflow/worker";
import { failureMessage, type Step } from "../workflow/workflow";
import type { CertificateWorkerStatus } from "./renew-certificate";

/** The worker's view of a registered stack. */
export type Known = Extract<ActivityOutput<"readCertificateState">, { registered: true }>;

/** What every node's own NGINX serves, read through its agent. */
function* served(
  w: Worker<CertificateWorkerStatus>,
  spec: StackSpec,
  nodes: WebNodeRef[],
  serial: string,
  failures = new Map<string, string>(),
) {
  const answers = yield* w.all(nodes.map((n) => agentTask(w, spec, n.name, "health")));
  const at = w.now().toISOString();
  return { at, report: nodes.map((n, i) => servedReport(n.name, answers[i], serial, at, failures.get(n.name))) };
}

/** Reads what every node serves (no claim: nothing changes); returns the nodes behind. */
export function* verify(
  w: Worker<CertificateWorkerStatus>,
  spec: StackSpec,
  cert: StoredCertificate,
  nodes: WebNodeRef[],
): Step<string[]> {
  w.status.phase = "verifying";
  w.publish();
  const { at, report } = yield* served(w, spec, nodes, cert.serial);
  return yield* w.call("recordCertificateVerification", { stack: w.stack, at, nodes: report });
}

/** A failed attempt: the ledger's failure count (and backoff) grows; the status and audit say why. */
export function* recordFailure(
  w: Worker<CertificateWorkerStatus>,
  phase: "issue" | "rollout",
  what: string,
  message: string,
  why: string,
  details: Record<string, unknown> = {},
): Step<void> {
  const failed = yield* w.call("recordCertificateFailure", {
    stack: w.stack,
    at: w.now().toISOString(),
    phase,
    message,
  });
  w.status.lastFailure = { phase, message, at: w.now().toISOString() };
  w.publish();
  yield* w.audit(what, `${why}; ${message}`, {
    ...details,
    failures: failed.failures,
    nextAttemptAt: failed.nextAttemptAt,
  });
}

/** Orders and stores a certificate; undefined (failure recorded) when it did not work. */
export function* issue(
  w: Worker<CertificateWorkerStatus>,
  v: Known,
  d: RenewalDecision,
  round: number,
): Step<StoredCertificate | undefined> {
  w.status.phase = "issuing";
  w.publish();
  // a person's request is answered by this attempt (recorded with the order, so a restarted worker
  // does not order again for it): a failure is reported, and retries follow the backoff
  const force = v.state.force && v.state.force.id !== v.state.forceHandled ? v.state.force : undefined;
  const orderId = yield* w.call("beginCertificateOrder", {
    stack: w.stack,
    orderId: w.guid(`${w.instanceId}/${round}/order`),
    reason: d.reason,
    at: w.now().toISOString(),
    ...(force ? { forceId: force.id } : {}),
  });
  try {
    // once: a failed attempt is recorded and retried after the policy's backoff
    const issued = yield* w.callOnce("issueCertificate", { spec: v.spec, orderId, at: w.now().toISOString() });
    const c = issued.certificate;
    w.status.lastIssue = {
      serial: c.serial,
      notAfter: c.notAfter,
      orderId,
      resumed: issued.resumed,
      at: w.now().toISOString(),
    };
    w.status.current = { serial: c.serial, notAfter: c.notAfter };
    w.publish();
    yield* w.audit(issued.resumed === "stored" ? "certificate issuance resumed" : "certificate issued", d.reason, {
      serial: c.serial,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      hostname: v.hostname,
      keyVaultVersion: c.version,
      orderId,
      challenge: v.spec.tls.acme.challenge,
      renewAt: renewalTime(c).at.toISOString(),
      ...(issued.resumed !== "new" ? { resumed: issued.resumed } : {}),
    });
    return c;
  } catch (error) {
    const details = { hostname: v.hostname, orderId };
    yield* recordFailure(w, "issue", "certificate issuance failed", failureMessage(error), d.reason, details);
    return undefined;
  }
}

/**
 * Pushes `cert` to every node that does not serve it, one node at a time, then reads back what
 * every node serves. A node whose install fails keeps its previous certificate (the agent rolls
 * back) and is named; the others keep the new one (both are valid for the hostname).
 */
export function* rollout(w: Worker<CertificateWorkerStatus>, spec: StackSpec, cert: StoredCertificate): Step<void> {
  w.status.phase = "rollout";
  w.publish();
  const nodes = yield* w.call("listWebNodes", { spec });
  const before = yield* served(w, spec, nodes, cert.serial);
  const installFailures = new Map<string, string>();
  for (const [i, n] of nodes.entries()) {
    if (before.report[i].serial === cert.serial) continue;
    const args = ["--secret", SECRET_NAMES.tlsBundle, "--version", cert.version];
    const installed = yield* runAgent(w, spec, n.name, "install-cert", args);
    if (!succeeded(installed)) installFailures.set(n.name, `install-cert failed: ${whyFailed(installed)}`);
  }

  // what every node actually serves now, read from its own NGINX
  w.status.phase = "verifying";
  w.publish();
  const { at, report } = yield* served(w, spec, nodes, cert.serial, installFailures);
  const recorded = yield* w.call("recordCertificateRollout", {
    stack: w.stack,
    at,
    version: cert.version,
    serial: cert.serial,
    nodes: report,
  });
  w.status.lastRollout = {
    serial: cert.serial,
    at,
    nodes: report.map((r) => ({
      node: r.node,
      ...(r.serial ? { serial: r.serial } : {}),
      current: r.current,
      ...(r.detail ? { detail: r.detail } : {}),
    })),
  };
  w.publish();
  const details = {
    serial: cert.serial,
    notAfter: cert.notAfter,
    keyVaultVersion: cert.version,
    nodes: report.map((r) => ({ node: r.node, serial: r.serial ?? null, current: r.current })),
  };
  if (recorded.behind.length === 0) {
    yield* w.audit("certificate rolled out", `every node serves ${cert.serial}`, details);
    return;
  }
  const why = report
    .filter((r) => !r.current)
    .map((r) => `${r.node}: ${r.detail}`)
    .join("; ");
  w.status.lastFailure = { phase: "rollout", message: why, at };
  w.publish();
  yield* w.audit(
    "certificate rollout incomplete",
    `${why}; those nodes keep their previous certificate, the others serve ${cert.serial}`,
    { ...details, failures: recorded.failures, nextAttemptAt: recorded.nextAttemptAt },
  );
}
