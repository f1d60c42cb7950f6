// Runs one node agent command on a web VM through VM Run Command and reads its answer. Azure
// returns both output streams inside one status message (only their tails), with the exit status in
// the failure text; the agent prints one JSON document on stdout, which is parsed here.
import type { AzureClientFactory } from "../azure/clients";
import { agentScript } from "./agent";

export interface AgentCommandResult {
  vmName: string;
  /** false when the VM agent did not answer (the VM is off, hung or has no network) */
  reachable: boolean;
  exitCode?: number;
  /** the agent's JSON answer, when it printed one */
  json?: unknown;
  /** last lines of stderr: the agent's human messages (never secret values) */
  stderr?: string;
  error?: string;
}

export interface RunAgentInput {
  subscriptionId: string;
  resourceGroup: string;
  vmName: string;
  command: string;
  args?: string[];
}

const UNREACHABLE_CODES = new Set([
  "VMAgentStatusCommunicationError",
  "OperationNotAllowed",
  "VMNotRunning",
  "RunCommandExtensionNotReady",
]);

export async function runAgentCommand(
  factory: AzureClientFactory,
  input: RunAgentInput,
  signal?: AbortSignal,
): Promise<AgentCommandResult> {
  const compute = factory.compute(input.subscriptionId);
  try {
    const result = await compute.virtualMachines.runCommand(
      input.resourceGroup,
      input.vmName,
      { commandId: "RunShellScript", script: [agentScript(input.command, input.args ?? [])] },
      factory.lro(signal),
    );
    const status = result.value?.[0];
    return { vmName: input.vmName, reachable: true, ...parseRunCommandMessage(status?.message ?? "", status?.code) };
  } catch (e) {
    const code = errorCode(e);
    if (UNREACHABLE_CODES.has(code)) {
      return { vmName: input.vmName, reachable: false, error: `${code}: ${firstLine(e)}` };
    }
    throw e;
  }
}

/**
 * The ARM error code of a failed call. A long-running operation that failed reaches the caller as a
 * plain Error whose message carries the code ("The long-running operation has failed. <code>. ..."):
 * that is how Run Command reports a VM whose agent does not answer.
 */
export function errorCode(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && code) return code;
  const message = e instanceof Error ? e.message : String(e);
  return /^The long-running operation has failed\. ([A-Za-z][A-Za-z0-9]*)\./.exec(message)?.[1] ?? "";
}

export function parseRunCommandMessage(
  message: string,
  code?: string,
): { exitCode: number; json?: unknown; stderr: string } {
  const exit = /exit status=(\d+)/.exec(message);
  const failed = code ? /failed/i.test(code) : /^Enable failed/.test(message);
  const exitCode = exit ? Number(exit[1]) : failed ? 1 : 0;
  const stdout = between(message, "[stdout]\n", "\n[stderr]");
  const stderr = message.split("[stderr]\n")[1] ?? "";
  return { exitCode, json: lastJsonLine(stdout), stderr: stderr.trim().split("\n").slice(-10).join("\n") };
}

function between(text: string, start: string, end: string): string {
  const i = text.indexOf(start);
  if (i < 0) return "";
  const j = text.indexOf(end, i + start.length);
  return text.slice(i + start.length, j < 0 ? undefined : j);
}

/** The agent prints one JSON document; take the last line that parses, in case something chatted. */
function lastJsonLine(stdout: string): unknown {
  const whole = stdout.trim();
  if (!whole) return undefined;
  try {
    return JSON.parse(whole) as unknown;
  } catch {
    for (const line of whole.split("\n").reverse()) {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        // keep looking
      }
    }
  }
  return undefined;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 300);
}
