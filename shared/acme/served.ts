// What each web node serves, as the certificate worker reads it back (the agent's `health` reads its
// own NGINX's certificate), and when that must be read again. Pure: names, serials and dates.
import { nodeHealth } from "../node/model";
import type { AgentCommandResult } from "../node/run-agent";
import { normalizeSerial } from "./certificate";
import type { CertificateState, ServedCertificate } from "./types";

/** What every node serves is read again at least this often, even when nothing is due. */
export const VERIFY_INTERVAL_MS = 24 * 3600_000;

/** One node's line of a rollout or verification report, from its agent's health answer. */
export function servedReport(
  node: string,
  answer: AgentCommandResult,
  serial: string,
  at: string,
  installFailure?: string,
): ServedCertificate {
  const s = servedBy(answer);
  const current = s.serial === serial;
  const detail = current
    ? undefined
    : (installFailure ?? s.problem ?? `serves ${s.serial ?? "nothing readable"}, not ${serial}`);
  return {
    node,
    ...(s.serial ? { serial: s.serial } : {}),
    ...(s.notAfter ? { notAfter: s.notAfter } : {}),
    current,
    checkedAt: at,
    ...(detail ? { detail } : {}),
  };
}

/** The certificate a node's agent reads from its own NGINX, serial normalized. */
function servedBy(answer: AgentCommandResult): { serial?: string; notAfter?: string; problem?: string } {
  const health = nodeHealth(answer);
  if (!health.reachable) return { problem: health.problems[0] };
  const c = health.certificate;
  if (!c?.serial) return { problem: `the agent read no certificate (exit ${answer.exitCode ?? "?"})` };
  const notAfter = c.notAfter !== undefined ? Date.parse(c.notAfter) : NaN;
  return {
    serial: normalizeSerial(c.serial),
    ...(Number.isFinite(notAfter) ? { notAfter: new Date(notAfter).toISOString() } : {}),
  };
}

/** What the nodes serve was last read more than a day ago, or the nodes changed since. */
export function verificationDue(state: CertificateState, nodes: readonly string[], now: Date): boolean {
  const known = state.nodes;
  if (known.length === 0) return nodes.length > 0;
  const names = (list: readonly string[]) =>
    [...list]
      .map((n) => n.toLowerCase())
      .sort()
      .join(",");
  if (names(known.map((n) => n.node)) !== names(nodes)) return true;
  const oldest = Math.min(...known.map((n) => Date.parse(n.checkedAt)));
  return !(oldest + VERIFY_INTERVAL_MS > now.getTime());
}
