// Managed Run Command: `Microsoft.Compute/virtualMachines/runCommands` (api 2026-03-01 as sent by
// @azure/arm-compute 24.x; the REST reference "Virtual Machine Run Commands"). A tracked child of a
// VM whose PUT runs `properties.source.script` on the VM and, with asyncExecution false (the
// default), completes its long-running operation only when the script has ended, like any compute
// PUT: 201 (create) or 200 with Azure-AsyncOperation. The result is the instance view, on
// `GET ...?$expand=instanceView`: executionState, exitCode, output (stdout) and error (stderr), each
// stream's tail only.
//
// Parameters reach the script the way Azure's Linux handler (Azure/run-command-handler-linux,
// internal/exec) passes them: a named parameter, protected or not, becomes an environment variable
// of the script, an unnamed one a positional argument. `protectedParameters` (and `runAsPassword`)
// are write-only: kept out of every GET, list and the journal, as Azure never returns them.
//
// The script runs through the emulator's Run Command service (its per-VM sandbox, stand-ins and
// `unreachable` mode), so a VM whose agent does not answer fails the operation with
// VMAgentStatusCommunicationError. Scale set instances of Uniform scale sets
// (`virtualMachineScaleSets/virtualMachines/runCommands`) are not modelled: the emulator's scale sets
// are Flexible, whose instances are plain VMs.
import type { Emulator } from "../emulator";
import type { RunCommandInput } from "../run-command";
import { getPath, str } from "../store";
import { ArmError, type Json, type ResourceDoc, type TypeDefinition } from "../types";
import { COMPUTE_API, props } from "./common";
import { powerStateOf } from "./compute";

export const RUN_COMMAND = "Microsoft.Compute/virtualMachines/runCommands";

/** Where the instance view of a run command's last execution is kept beside its document. */
const INSTANCE_VIEW = "instanceView";
const PROTECTED = "properties.protectedParameters";

interface Parameter {
  name?: string;
  value: string;
}

function parameters(value: unknown, field: string): Parameter[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`properties.${field} must be an array of {name, value}.`, field);
  return value.map((p: unknown) => {
    if (!p || typeof p !== "object" || typeof (p as Json).value !== "string") {
      throw invalid(`Every entry of properties.${field} needs a string value.`, field);
    }
    const name = (p as Json).name;
    if (name !== undefined && typeof name !== "string")
      throw invalid(`properties.${field}[].name must be a string.`, field);
    return { ...(name ? { name } : {}), value: (p as Json).value as string };
  });
}

function invalid(message: string, target: string): ArmError {
  return new ArmError(400, "InvalidParameter", message, { target });
}

function instanceView(state: string, extra: Json = {}): Json {
  return { executionState: state, executionMessage: "", ...extra, statuses: [] };
}

async function execute(emu: Emulator, doc: ResourceDoc, vm: ResourceDoc): Promise<void> {
  const p = props(doc);
  const script = str(getPath(p, ["source", "script"]));
  const named = [
    ...parameters(p.parameters, "parameters"),
    ...parameters(emu.store.getSecret(doc.id, PROTECTED), "protectedParameters"),
  ];
  const input: RunCommandInput = { commandId: "RunShellScript", script: [script], parameters: named };
  const startTime = new Date().toISOString();
  emu.store.setSecret(doc.id, INSTANCE_VIEW, instanceView("Running", { startTime }));
  const raw = await emu.runCommand.run(vm, input).catch((e: unknown) => {
    // a VM agent that does not answer (a test's handler may throw a plain error with a code)
    const code = (e as { code?: unknown }).code;
    if (e instanceof ArmError || typeof code !== "string") throw e;
    throw new ArmError(409, code, e instanceof Error ? e.message : String(e));
  });
  const ok = raw.exitCode === 0;
  emu.store.setSecret(
    doc.id,
    INSTANCE_VIEW,
    instanceView(ok ? "Succeeded" : "Failed", {
      exitCode: raw.exitCode,
      output: raw.stdout,
      error: raw.stderr,
      startTime,
      endTime: new Date().toISOString(),
    }),
  );
  if (!ok && p.treatFailureAsDeploymentFailure === true) {
    throw new ArmError(
      400,
      "VMExtensionProvisioningError",
      `The run command '${doc.name}' failed: the script exited with status ${raw.exitCode} (treatFailureAsDeploymentFailure is set).`,
    );
  }
}

const runCommands: TypeDefinition = {
  type: RUN_COMMAND,
  apiVersions: COMPUTE_API,
  tracked: true,
  put: "ao",
  patch: "ao",
  delete: "ao+loc",
  writeOnly: [
    ["properties", "protectedParameters"],
    ["properties", "runAsPassword"],
  ],
  validate(doc, ctx) {
    const p = props(doc);
    const source = p.source as Json | undefined;
    if (!source || typeof source.script !== "string" || source.script === "") {
      // commandId and scriptUri sources exist in Azure; the emulator runs inline scripts only
      throw invalid("The emulator runs inline scripts only: set properties.source.script.", "source.script");
    }
    parameters(p.parameters, "parameters");
    parameters(ctx.emulator.store.getSecret(doc.id, PROTECTED), "protectedParameters");
    const vm = ctx.parent;
    if (vm && powerStateOf(ctx.emulator, vm.id) !== "running") {
      throw new ArmError(
        409,
        "OperationNotAllowed",
        `The operation requires the VM to be running (or set to run). VM '${vm.name}' is ${powerStateOf(ctx.emulator, vm.id)}.`,
      );
    }
  },
  normalize(doc) {
    const p = props(doc);
    p.asyncExecution ??= false;
    p.treatFailureAsDeploymentFailure ??= false;
    p.timeoutInSeconds ??= 0;
    delete p.instanceView;
  },
  work(doc, ctx) {
    const vm = ctx.parent;
    if (!vm) return Promise.reject(new ArmError(404, "ParentResourceNotFound", "The virtual machine was not found."));
    const run = execute(ctx.emulator, doc, vm);
    if (props(doc).asyncExecution === true) {
      // provisioning completes as soon as the script starts; the instance view follows it
      run.catch(() => undefined);
      return Promise.resolve();
    }
    return run;
  },
  present(doc, query, emu) {
    if (/instanceview/i.test(query.get("$expand") ?? "")) {
      props(doc).instanceView = emu.store.getSecret(doc.id, INSTANCE_VIEW) ?? instanceView("Pending");
    }
    return doc;
  },
};

export const RUN_COMMAND_TYPES: TypeDefinition[] = [runCommands];
