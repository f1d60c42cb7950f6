// Pure helpers that turn node agent answers into observed state (used inside orchestrators, so no
// I/O and no clock).
import type { AgentCommandResult } from "../../shared/node/run-agent";
import type { ObservedNode } from "../../shared/stack-status";

interface HealthCheck {
  name?: unknown;
  ok?: unknown;
  detail?: unknown;
}

interface HealthJson {
  healthy?: unknown;
  draining?: unknown;
  liveSessions?: unknown;
  certificate?: { serial?: unknown; notAfter?: unknown };
  checks?: unknown;
}

/** The agent answered with a health document (whether healthy or not): the node is up and configured. */
export function agentAnswered(result: AgentCommandResult): boolean {
  return result.reachable && typeof result.json === "object" && result.json !== null && "healthy" in result.json;
}

export function failingChecks(result: AgentCommandResult): string[] {
  if (!result.reachable) return [`unreachable: ${result.error ?? "the VM agent did not answer"}`];
  if (!agentAnswered(result)) {
    return [
      `agent: no health answer (exit ${result.exitCode ?? "?"}${result.stderr ? `: ${lastLine(result.stderr)}` : ""})`,
    ];
  }
  const checks = (result.json as HealthJson).checks;
  if (!Array.isArray(checks)) return [];
  return (checks as HealthCheck[])
    .filter((c) => c.ok === false)
    .map((c) => `${String(c.name)}${typeof c.detail === "string" && c.detail ? `: ${c.detail}` : ""}`);
}

export function isHealthy(result: AgentCommandResult): boolean {
  return agentAnswered(result) && (result.json as HealthJson).healthy === true && result.exitCode === 0;
}

/** True when the database check is the one failing (the node has no working credentials yet). */
export function databaseCheckFails(result: AgentCommandResult): boolean {
  return failingChecks(result).some((p) => p.startsWith("database"));
}

export function observedNode(name: string, id: string, result: AgentCommandResult, at: Date): ObservedNode {
  const json = (agentAnswered(result) ? result.json : {}) as HealthJson;
  const serial = json.certificate?.serial;
  const notAfter = json.certificate?.notAfter;
  return {
    name,
    id,
    healthy: isHealthy(result),
    draining: typeof json.draining === "boolean" ? json.draining : undefined,
    liveSessions: typeof json.liveSessions === "number" ? json.liveSessions : undefined,
    problems: failingChecks(result),
    certificate:
      typeof serial === "string" || typeof notAfter === "string"
        ? {
            serial: typeof serial === "string" ? serial : undefined,
            notAfter: typeof notAfter === "string" ? notAfter : undefined,
          }
        : undefined,
    checkedAt: at.toISOString(),
  };
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop()!.slice(0, 200);
}
