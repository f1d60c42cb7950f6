// Runs one node agent command on a web VM through VM Run Command and reads its answer. Azure
// returns both output streams inside one status message (only their tails), with the exit status in
// the failure text; the agent prints one JSON document on stdout, which is parsed here.
//
// A command that needs a password the node may not read itself (the database admin's, guacadmin's)
// gets it through *managed* Run Command instead (`virtualMachines/runCommands`): the value travels in
// `protectedParameters`, which Azure keeps encrypted, never returns on a GET and hands to the script
// as an environment variable. The run command is a resource with a unique name, read back once for
// its instance view (exit code, output) and deleted at once, so the parameters do not stay on the VM's
// extension configuration.
import { randomBytes } from "node:crypto";
import { armFailure } from "../arm/errors";
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
  /** text on the agent's stdin (a quoted here-doc in the script) */
  stdin?: string;
}

/** A named value for the agent's environment that no GET, log or history may show. */
export interface ProtectedParameter {
  name: string;
  value: string;
}

export interface ProtectedRun {
  protectedParameters: ProtectedParameter[];
  /** the VM's region: a managed run command is a tracked resource beside its VM */
  location: string;
}

/** How long a managed run command's script may take (Azure's default is 90 minutes). */
const MANAGED_RUN_TIMEOUT_SECONDS = 15 * 60;

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
  handed?: ProtectedRun,
): Promise<AgentCommandResult> {
  if (handed) return runManaged(factory, input, handed, signal);
  const compute = factory.compute(input.subscriptionId);
  try {
    const result = await compute.virtualMachines.runCommand(
      input.resourceGroup,
      input.vmName,
      { commandId: "RunShellScript", script: [agentScript(input.command, input.args ?? [], stdinOf(input))] },
      factory.lro(signal),
    );
    const status = result.value?.[0];
    return { vmName: input.vmName, reachable: true, ...parseRunCommandMessage(status?.message ?? "", status?.code) };
  } catch (e) {
    // the code is on an HTTP error, or only in the text of a failed long-running operation (core-lro),
    // which is how Azure reports a VM agent that does not answer
    const { code, message } = armFailure(e);
    if (UNREACHABLE_CODES.has(code)) {
      return { vmName: input.vmName, reachable: false, error: `${code}: ${firstLine(message)}` };
    }
    throw e;
  }
}

/** The same command as a managed run command whose protected parameters carry what it needs. */
async function runManaged(
  factory: AzureClientFactory,
  input: RunAgentInput,
  handed: ProtectedRun,
  signal?: AbortSignal,
): Promise<AgentCommandResult> {
  const compute = factory.compute(input.subscriptionId);
  // letters, digits and hyphens: a valid resource name whatever the command is
  const name = `jumpgate-${input.command.replace(/[^a-z0-9-]/gi, "")}-${randomBytes(6).toString("hex")}`;
  try {
    await compute.virtualMachineRunCommands.createOrUpdate(
      input.resourceGroup,
      input.vmName,
      name,
      {
        location: handed.location,
        source: { script: agentScript(input.command, input.args ?? [], stdinOf(input)) },
        protectedParameters: handed.protectedParameters,
        asyncExecution: false,
        // the exit status is the agent's answer, read from the instance view: not a provisioning failure
        treatFailureAsDeploymentFailure: false,
        timeoutInSeconds: MANAGED_RUN_TIMEOUT_SECONDS,
      },
      factory.lro(signal),
    );
    const done = await compute.virtualMachineRunCommands.getByVirtualMachine(input.resourceGroup, input.vmName, name, {
      expand: "instanceView",
      ...factory.call(signal),
    });
    const view = done.instanceView ?? {};
    const finished = view.executionState === "Succeeded" || view.executionState === "Failed";
    const exitCode = typeof view.exitCode === "number" ? view.exitCode : 1;
    const stderr = [view.error ?? "", finished ? "" : `run command ${view.executionState ?? "Unknown"}`]
      .filter(Boolean)
      .join("\n");
    return {
      vmName: input.vmName,
      reachable: true,
      exitCode: finished ? exitCode : exitCode || 1,
      json: lastJsonLine(view.output ?? ""),
      stderr: stderr.trim().split("\n").slice(-10).join("\n"),
    };
  } catch (e) {
    const { code, message } = armFailure(e);
    if (UNREACHABLE_CODES.has(code)) {
      return { vmName: input.vmName, reachable: false, error: `${code}: ${firstLine(message)}` };
    }
    throw e;
  } finally {
    try {
      await compute.virtualMachineRunCommands.delete(input.resourceGroup, input.vmName, name, factory.lro(signal));
    } catch {
      // a run command that never got made, or a delete that failed: it holds no readable value
      // (ARM never returns protected parameters) and the next admin step uses a new name
    }
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

function stdinOf(input: RunAgentInput): { stdin?: string } {
  return input.stdin === undefined ? {} : { stdin: input.stdin };
}

function firstLine(text: string): string {
  return text.split("\n")[0].slice(0, 300);
}
