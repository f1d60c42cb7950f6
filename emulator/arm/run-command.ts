// VM Run Command (`RunShellScript`) in the emulator. By default the submitted script runs with bash
// in a sandbox directory of its own per VM, so tests run the real node agent through the same ARM
// call the app makes: `prepareSandbox` lays out a VM's sandbox (e.g. from its custom data) before
// its first command and may return environment for that VM alone (its own ports and stand-ins), and
// `{sandbox}` in an `env` value becomes that VM's sandbox directory (e.g. JUMPGATE_NODE_ROOT). A
// test can switch a VM (or all) to `unreachable` (the VM agent does not answer) or plug in its own
// handler.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ArmError, type ResourceDoc } from "./types";

export interface RunCommandInput {
  commandId: string;
  script: string[];
  parameters: { name?: string; value: string }[];
}

export interface RunCommandResultRaw {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type RunCommandHandler = (
  vm: ResourceDoc,
  input: RunCommandInput,
  sandboxDir: string,
) => Promise<RunCommandResultRaw>;

export type RunCommandMode = "bash" | "unreachable";

export interface RunCommandOptions {
  /** where per-VM sandbox directories are made */
  root: string;
  mode: RunCommandMode;
  timeoutMs: number;
  /** extra environment for every script (e.g. endpoints the node agent should use); `{sandbox}` is replaced */
  env: Record<string, string>;
  /**
   * called once per VM sandbox, before that VM's first run command; what it returns is extra
   * environment for that VM's scripts (over `env`, `{sandbox}` replaced the same way)
   */
  prepareSandbox?: (
    vm: ResourceDoc,
    sandboxDir: string,
  ) => Promise<Record<string, string> | void> | Record<string, string> | void;
}

/** Azure keeps only the tail of each stream. */
const STREAM_LIMIT = 4096;

export class RunCommandService {
  readonly options: RunCommandOptions;
  private readonly perVm = new Map<string, RunCommandMode | RunCommandHandler>();
  private readonly children = new Set<ChildProcess>();
  /** sandbox directory -> the environment its prepareSandbox returned */
  private readonly prepared = new Map<string, Record<string, string>>();

  constructor(options: Partial<RunCommandOptions> = {}) {
    this.options = {
      root: options.root ?? fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-run-command-")),
      mode: options.mode ?? "bash",
      timeoutMs: options.timeoutMs ?? 60_000,
      env: options.env ?? {},
      prepareSandbox: options.prepareSandbox,
    };
  }

  /** How a VM without its own `setVm` answers, when set (the node stand-ins answer for every VM). */
  fallback?: RunCommandHandler;

  /** Sets how one VM (by name, case-insensitive) answers; `undefined` restores the default. */
  setVm(vmName: string, how: RunCommandMode | RunCommandHandler | undefined): void {
    if (how === undefined) this.perVm.delete(vmName.toLowerCase());
    else this.perVm.set(vmName.toLowerCase(), how);
  }

  sandboxDir(vm: ResourceDoc): string {
    const dir = this.sandboxPath(vm);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * The VM was deleted: a VM made again with its name is a new machine (a new disk, its own custom
   * data), so its first command prepares a new sandbox. The directory itself is left to whoever
   * prepared it (it may still be stopping what ran there).
   */
  forgetVm(vm: ResourceDoc): void {
    this.prepared.delete(this.sandboxPath(vm));
  }

  private sandboxPath(vm: ResourceDoc): string {
    const rg = /resourceGroups\/([^/]+)/i.exec(vm.id)?.[1] ?? "_";
    return path.join(this.options.root, rg.toLowerCase(), vm.name.toLowerCase());
  }

  /** Runs the command; rejects with a VM-agent error when the VM is unreachable. */
  async run(vm: ResourceDoc, input: RunCommandInput): Promise<RunCommandResultRaw> {
    const how = this.perVm.get(vm.name.toLowerCase()) ?? this.fallback ?? this.options.mode;
    if (how === "unreachable") {
      // an ARM error, so both answer styles carry the code: the failed operation (async) and the
      // error response (instant)
      throw new ArmError(
        409,
        "VMAgentStatusCommunicationError",
        `VM '${vm.name}' has not reported status for VM agent or extensions. Verify that the OS is up and healthy, the VM has a running VM agent, and that it can establish outbound connections to Azure storage.`,
      );
    }
    const dir = this.sandboxDir(vm);
    if (this.options.prepareSandbox && !this.prepared.has(dir)) {
      this.prepared.set(dir, (await this.options.prepareSandbox(vm, dir)) ?? {});
    }
    if (typeof how === "function") return how(vm, input, dir);
    return this.bash(vm, input, dir);
  }

  private bash(vm: ResourceDoc, input: RunCommandInput, dir: string): Promise<RunCommandResultRaw> {
    const script = input.script.join("\n");
    const named = Object.fromEntries(input.parameters.filter((p) => p.name).map((p) => [p.name!, p.value]));
    const positional = input.parameters.map((p) => p.value);
    return new Promise((resolve) => {
      const child = spawn("bash", ["-c", script, "run-command", ...positional], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: dir,
          LANG: "C.UTF-8",
          RUN_COMMAND_VM_NAME: vm.name,
          RUN_COMMAND_VM_ID: vm.id,
          RUN_COMMAND_SANDBOX: dir,
          ...withSandbox(this.options.env, dir),
          ...withSandbox(this.prepared.get(dir) ?? {}, dir),
          ...named,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      this.children.add(child);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout = tail(stdout + d.toString("utf8"))));
      child.stderr.on("data", (d: Buffer) => (stderr = tail(stderr + d.toString("utf8"))));
      const timer = setTimeout(() => child.kill("SIGKILL"), this.options.timeoutMs);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        this.children.delete(child);
        resolve({ exitCode: code ?? (signal ? 137 : 1), stdout, stderr });
      });
      child.on("error", (e) => {
        clearTimeout(timer);
        this.children.delete(child);
        resolve({ exitCode: 127, stdout, stderr: tail(stderr + e.message) });
      });
    });
  }

  stopAll(): void {
    for (const c of this.children) c.kill("SIGKILL");
    this.children.clear();
  }
}

function withSandbox(env: Record<string, string>, dir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.split("{sandbox}").join(dir)]));
}

function tail(s: string): string {
  return s.length > STREAM_LIMIT ? s.slice(s.length - STREAM_LIMIT) : s;
}

/** The RunCommandResult body Azure returns: one InstanceViewStatus whose message carries both streams. */
export function runCommandResultBody(r: RunCommandResultRaw): { value: unknown[] } {
  const ok = r.exitCode === 0;
  const head = ok
    ? "Enable succeeded: "
    : `Enable failed: failed to execute command: command terminated with exit status=${r.exitCode}`;
  return {
    value: [
      {
        code: ok ? "ProvisioningState/succeeded" : "ProvisioningState/failed/1",
        level: ok ? "Info" : "Error",
        displayStatus: ok ? "Provisioning succeeded" : "Provisioning failed",
        message: `${head}\n[stdout]\n${r.stdout}\n[stderr]\n${r.stderr}`,
      },
    ],
  };
}
