// Stand-ins for a booted web node's agent, where no VM boots.
//
// `standInAgentRoot()`: a bash stand-in that is always healthy, with no sessions, every other command
// a no-op. The sandbox, the benchmark and the HTTP e2e test point the emulator's Run Command at it
// with JUMPGATE_NODE_ROOT; the real agent is tested in node-agent.test.ts.
//
// `StandInFleet`: scriptable nodes for the heal tests. A test breaks a VM (hung, Tomcat dead, database
// unreachable) and says what ends the fault: a restart (or anything stronger: redeploy, reimage,
// replacement), a redeploy, a reimage, a replacement (a new VM), or nothing. The fault belongs to the
// VM as it is now (its `vmId` and action counts in the emulator), so a replacement VM with the same
// name starts clean. A dead Tomcat comes back when the agent's `restart-services` restarts its unit;
// a crash-looping one does not (it needs the VM restarted). Faulted VMs answer Run Command through a handler that speaks the agent's
// contract (health JSON, exit 1 when unhealthy; drain; db-credentials; install-cert), and the
// emulator's load balancer probe metric follows the same model. A new disk (a replacement or a
// reimage) has no database credentials until `db-credentials` runs, like a real first boot.
//
// First boot: a VM provisioned (created or reimaged) after the fleet attached installs itself for
// NODE_FIRST_BOOT_MS (emulator/arm/latency.ts) at the emulator's latency scale: from source unless it
// booted a gallery image version (the emulator's `bootImageOf`, from its or its scale set's
// imageReference). Until then `health` says it is still installing (`installed: null`), the probe
// sees it down and the other commands fail; scale 0 (the tests' default) makes it ready at once. A
// from-source boot logs the catalog's download URLs to `downloads` (the Apache and MySQL archives a
// real one fetches); a boot from an image logs none. `everyVm`: the fleet answers for VMs it was
// never told about too (a surge node, a scale-out's new instances), so they boot the same way.
// Custom data and image must agree, as install-node.sh insists: image-mode custom data on a VM that
// did not boot a node image fails its first boot for good (the installer refuses); source-mode
// custom data on an image boots from source all the same (the installer downloads again).
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Emulator } from "../emulator/arm/emulator";
import { NODE_FIRST_BOOT_MS } from "../emulator/arm/latency";
import { actionCount, bootImageOf } from "../emulator/arm/providers/compute";
import type { RunCommandInput, RunCommandResultRaw } from "../emulator/arm/run-command";
import type { ResourceDoc } from "../emulator/arm/types";
import { nodeArtifacts } from "../shared/node/catalog";
import { decodeCustomData, INSTALLER_MODE_ARGS, parseNodeCloudConfig } from "../shared/node/cloud-init";
import { APP_USERS, NODE_AGENT_PATH, NODE_IMAGE_TOOL_PATH, NODE_TOMCAT_UNIT } from "../shared/node/constants";

/** Makes a node root holding the stand-in agent; remove it with fs.rmSync(root, {recursive: true}). */
export function standInAgentRoot(prefix = "jumpgate-node-"): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const agent = path.join(root, NODE_AGENT_PATH);
  fs.mkdirSync(path.dirname(agent), { recursive: true });
  fs.writeFileSync(
    agent,
    [
      "#!/usr/bin/env bash",
      "# stand-in for a booted web node: healthy, no sessions",
      'case "$1" in',
      '  health) echo \'{"healthy":true,"draining":false,"liveSessions":0,"checks":[]}\' ;;',
      // a database that needs nothing: the read-only check finds no difference
      '  bootstrap-db) if [[ "${2:-}" == --check ]]; then echo \'{"differences":[]}\'; else echo \'{"changed":[]}\'; fi ;;',
      // no bake happens here: an image build on it fails at once, saying why (StandInImageBuilders bake)
      '  image-status) echo \'{"baked":false,"digest":null,"error":"a stand-in node bakes nothing"}\' ;;',
      "  image-seal) echo 'jumpgate-node: not baked' >&2; exit 1 ;;",
      "  *) echo '{\"changed\":[]}' ;;",
      "esac",
    ].join("\n"),
    { mode: 0o755 },
  );
  return root;
}

/**
 * hung: Run Command and the probe get no answer. tomcat-down: Tomcat died (its check fails, systemd
 * shows its unit failed); a restart of its unit brings it back. tomcat-crash-loop: Tomcat comes back
 * at a restart of its unit and dies again at once (its check keeps failing): only a VM restart (or
 * stronger) ends it. database-unreachable: the database check fails (an outside dependency).
 */
export type NodeFault = "hung" | "tomcat-down" | "tomcat-crash-loop" | "database-unreachable";
/**
 * What ends a fault: that action on the VM or a stronger one (restart-services, the agent restarting
 * the failed service's unit < restart < redeploy < reimage < replace).
 */
export type FaultEnd = "restart-services" | "restart" | "redeploy" | "reimage" | "replace" | "never";

const STRENGTH: Record<Exclude<FaultEnd, "never">, number> = {
  "restart-services": 0,
  restart: 1,
  redeploy: 2,
  reimage: 3,
  replace: 4,
};
const ACTIONS = ["restart", "redeploy", "reimage"] as const;
const DEFAULT_END: Record<NodeFault, FaultEnd> = {
  hung: "replace",
  "tomcat-down": "restart-services",
  "tomcat-crash-loop": "restart",
  "database-unreachable": "never",
};
/** The node's own service units, in the order the agent restarts them (infra/node/jumpgate-node). */
const SERVICE_UNITS = ["guacd.service", NODE_TOMCAT_UNIT, "nginx.service"] as const;
const TOMCAT_FAULTS: readonly NodeFault[] = ["tomcat-down", "tomcat-crash-loop"];

interface ActiveFault {
  fault: NodeFault;
  end: FaultEnd;
  vmId: string;
  counts: Record<(typeof ACTIONS)[number] | "restart-services", number>;
}

/** A disk: one VM instance between reimages. Draining and credentials live on it. */
interface DiskState {
  draining: boolean;
  dbUser?: string;
  certificate?: string;
}

export interface AgentCall {
  vm: string;
  vmId: string;
  command: string;
  args: string[];
}

interface FirstBoot {
  from: "image" | "source";
  /** epoch ms */
  readyAt: number;
  /** it never ends: why */
  failed?: string;
}

/** The installer mode a VM's custom data runs ("bake", "image", "source"), if it is a node's document. */
function customDataMode(emulator: Emulator, vm: ResourceDoc): string | undefined {
  const data = emulator.store.getSecret(vm.id, "properties.osProfile.customData");
  if (typeof data !== "string" || data === "") return undefined;
  try {
    const runcmd = parseNodeCloudConfig(decodeCustomData(data)).runcmd?.[0] ?? [];
    const args = JSON.stringify(runcmd.slice(1));
    return Object.entries(INSTALLER_MODE_ARGS).find(([, a]) => JSON.stringify(a) === args)?.[0];
  } catch {
    return undefined; // not a node's cloud-config (a test's own custom data)
  }
}

/** One URL a booting node would fetch from outside Azure. */
export interface NodeDownload {
  vm: string;
  vmId: string;
  url: string;
  at: string;
}

export interface StandInFleetOptions {
  /** answer for every VM of the emulator, not only the adopted and broken ones (default false) */
  everyVm?: boolean;
  /** a new node is ready as soon as it is provisioned, whatever the latency scale (downloads are still logged) */
  instantBoot?: boolean;
}

export class StandInFleet {
  /** every command a scripted VM received, in order */
  readonly calls: AgentCall[] = [];
  /** what first boots from source would download, in order (a boot from an image adds nothing) */
  readonly downloads: NodeDownload[] = [];
  private readonly faults = new Map<string, ActiveFault[]>();
  private readonly disks = new Map<string, DiskState>();
  private readonly sessions = new Map<string, number>();
  private readonly drainRecordings = new Map<string, unknown>();
  private readonly scripted = new Set<string>();
  /** disks that existed when the fleet was attached: deployed nodes have credentials */
  private readonly known = new Set<string>();
  /** disk -> when its first boot ends (epoch ms) and from what */
  private readonly boots = new Map<string, FirstBoot>();

  constructor(
    private readonly emulator: Emulator,
    private readonly options: StandInFleetOptions = {},
  ) {
    emulator.metrics.probeOf = (vm) => this.probe(vm);
    const previous = emulator.vmProvisionedHook;
    emulator.vmProvisionedHook = (vm) => {
      previous?.(vm);
      this.provisioned(vm);
    };
    if (options.everyVm) {
      this.everyVm = true;
      emulator.runCommand.fallback = (vm, input) => this.answer(vm, input);
    }
  }

  /**
   * How a VM's first boot goes: from the image or from source, whether it has ended, and why it
   * never will (`failed`). Undefined for a VM booted before the fleet attached.
   */
  firstBoot(
    vmName: string,
  ): { from: "image" | "source"; done: boolean; readyAt?: string; failed?: string } | undefined {
    const vm = this.emulator.store.all().find((d) => isVm(d) && d.name.toLowerCase() === vmName.toLowerCase());
    const boot = vm && this.bootOf(vm);
    if (!vm || !boot) return undefined;
    return {
      from: boot.from,
      done: this.booted(vm),
      ...(boot.failed ? { failed: boot.failed } : { readyAt: new Date(boot.readyAt).toISOString() }),
    };
  }

  /**
   * The stack's database as the fleet shares it, for `schema-upgrade`: the release its schema is at,
   * whether an upgrade is under way, and every run of upgrade scripts (the real command's guard and
   * scripts are tested against MariaDB in schema-upgrade.test.ts; this keeps the same contract).
   */
  readonly schema: {
    version: string;
    state: "ready" | "upgrading" | "failed";
    runs: { vm: string; from: string; to: string }[];
  } = {
    version: "1.6.0",
    state: "ready",
    runs: [],
  };
  /** commands that fail (exit 1) on a VM (or any VM: "*"), each while its count lasts */
  private readonly failing = new Map<string, number>();
  /** called with every command before it is answered (a test samples the fleet there) */
  onCommand?: (call: AgentCall) => void;

  /** Scripts every VM created from now on too (new VMs of a scale-out, surge or upgrade): they start with no database credentials. */
  scriptNewVms(): void {
    this.emulator.runCommand.fallback = (vm, input) => this.answer(vm, input);
    for (const vm of this.emulator.store.all().filter(isVm)) this.scripted.add(vm.name.toLowerCase());
    this.everyVm = true;
  }
  private everyVm = false;

  /** `command` fails on `vmName` ("*": any VM) the next `times` times, as the agent fails: exit 1, a reason on stderr. */
  failCommand(command: string, vmName = "*", times = Number.POSITIVE_INFINITY): void {
    this.failing.set(`${vmName.toLowerCase()} ${command}`, times);
  }

  /** The Guacamole release a VM was created to run: the version its custom data installs (1.6.0 when it says none). */
  releaseOf(vmName: string): string {
    return this.release(this.vm(vmName));
  }

  /** Whether the load balancer sends the VM clients: its agent is healthy and it is not drained. */
  inService(vmName: string): boolean {
    const vm = this.emulator.store.all().find((d) => isVm(d) && d.name.toLowerCase() === vmName.toLowerCase());
    return vm !== undefined && this.probe(vm) === 100;
  }

  private release(vm: ResourceDoc): string {
    const data = this.emulator.store.getSecret(vm.id, "properties.osProfile.customData");
    if (typeof data !== "string") return "1.6.0";
    return /JUMPGATE_GUACAMOLE_VERSION=['"]?([0-9.]+)/.exec(decodeCustomData(data))?.[1] ?? "1.6.0";
  }

  private injectedFailure(vm: ResourceDoc, command: string): RunCommandResultRaw | undefined {
    for (const key of [`${vm.name.toLowerCase()} ${command}`, `* ${command}`]) {
      const left = this.failing.get(key);
      if (left === undefined || left <= 0) continue;
      this.failing.set(key, left - 1);
      return { exitCode: 1, stdout: "", stderr: `jumpgate-node: error: ${command} failed (injected by the test)\n` };
    }
    return undefined;
  }

  /** Scripts every VM that exists now (their disks count as set up by the deploy). */
  adopt(vmNames: readonly string[]): void {
    for (const name of vmNames) {
      const vm = this.vm(name);
      this.known.add(this.diskKey(vm));
      this.script(name);
    }
  }

  /**
   * Breaks a VM until `end` (default: hung until replaced, a dead Tomcat until its unit restarts, a
   * crash-looping one until the VM restarts, the database never).
   */
  break(vmName: string, fault: NodeFault, end: FaultEnd = DEFAULT_END[fault]): void {
    const vm = this.vm(vmName);
    const counts = {
      ...(Object.fromEntries(ACTIONS.map((a) => [a, actionCount(this.emulator, vm.id, a)])) as Record<
        (typeof ACTIONS)[number],
        number
      >),
      "restart-services": this.unitRestarts(vm, NODE_TOMCAT_UNIT),
    };
    const list = this.faults.get(vmName.toLowerCase()) ?? [];
    list.push({ fault, end, vmId: vmIdOf(vm), counts });
    this.faults.set(vmName.toLowerCase(), list);
    this.script(vmName);
  }

  /** Ends every fault of a VM (someone fixed it by hand). */
  repair(vmName: string): void {
    this.faults.delete(vmName.toLowerCase());
  }

  /** what `drain on` on this VM says of its session recordings (the uploader's `ship --final` answer) */
  setDrainRecordings(vmName: string, recordings: { shipped: unknown[]; pending: unknown[]; lost: unknown[] }): void {
    this.drainRecordings.set(vmName.toLowerCase(), recordings);
  }

  setSessions(vmName: string, n: number): void {
    this.sessions.set(vmName.toLowerCase(), n);
  }

  /** The faults of the VM as it is now (ended ones are gone). */
  activeFaults(vmName: string): NodeFault[] {
    const vm = this.emulator.store.all().find((d) => isVm(d) && d.name.toLowerCase() === vmName.toLowerCase());
    return vm ? this.active(vm).map((f) => f.fault) : [];
  }

  callsTo(vmName: string, command?: string): AgentCall[] {
    return this.calls.filter((c) => c.vm.toLowerCase() === vmName.toLowerCase() && (!command || c.command === command));
  }

  // ---------------------------------------------------------------------------------------------

  private script(vmName: string): void {
    if (this.scripted.has(vmName.toLowerCase())) return;
    this.scripted.add(vmName.toLowerCase());
    this.emulator.runCommand.setVm(vmName, (vm, input) => this.answer(vm, input));
  }

  private vm(name: string): ResourceDoc {
    const vm = this.emulator.store.all().find((d) => isVm(d) && d.name.toLowerCase() === name.toLowerCase());
    if (!vm) throw new Error(`no VM named ${name} in the emulator`);
    return vm;
  }

  private active(vm: ResourceDoc): ActiveFault[] {
    const list = this.faults.get(vm.name.toLowerCase()) ?? [];
    return list.filter((f) => {
      if (f.end === "never") return true;
      if (f.vmId !== vmIdOf(vm)) return false; // a new VM: every fault of the old one is gone
      if (f.end === "restart-services" && this.unitRestarts(vm, NODE_TOMCAT_UNIT) > f.counts["restart-services"]) {
        return false;
      }
      return !ACTIONS.some(
        (a) =>
          STRENGTH[a] >= STRENGTH[f.end as keyof typeof STRENGTH] && actionCount(this.emulator, vm.id, a) > f.counts[a],
      );
    });
  }

  /** `restart-services` restarts of `unit` on this VM (its vmId) so far. */
  private unitRestarts(vm: ResourceDoc, unit: string): number {
    return this.restartedUnits.get(`${vmIdOf(vm)} ${unit}`) ?? 0;
  }
  private readonly restartedUnits = new Map<string, number>();

  private bootsFromImage(vm: ResourceDoc): boolean {
    return bootImageOf(this.emulator, vm.id)?.kind === "gallery";
  }

  /** the VM's first boot (undefined: provisioned before the fleet attached, or adopted: booted) */
  private bootOf(vm: ResourceDoc): FirstBoot | undefined {
    const key = this.diskKey(vm);
    return this.known.has(key) ? undefined : this.boots.get(key);
  }

  private booted(vm: ResourceDoc): boolean {
    const boot = this.bootOf(vm);
    return boot === undefined || (!boot.failed && Date.now() >= boot.readyAt);
  }

  /**
   * A new disk boots: from the image when it booted a node image and its custom data is not the
   * from-source kind; its first boot takes its time at the latency scale of now.
   */
  private provisioned(vm: ResourceDoc): void {
    const image = this.bootsFromImage(vm);
    const mode = customDataMode(this.emulator, vm);
    const from = image && mode !== "source" ? "image" : "source";
    const ms = from === "image" ? NODE_FIRST_BOOT_MS.fromImage : NODE_FIRST_BOOT_MS.fromSource;
    this.boots.set(this.diskKey(vm), {
      from,
      readyAt: Date.now() + (this.options.instantBoot ? 0 : ms * this.emulator.latency.scale),
      ...(mode === "image" && !image
        ? { failed: "custom data for a node image on a VM that did not boot one: the installer refused" }
        : {}),
    });
    if (from === "image" || mode === "image") return;
    const at = new Date().toISOString();
    for (const artifact of Object.values(nodeArtifacts())) {
      this.downloads.push({ vm: vm.name, vmId: vmIdOf(vm), url: artifact.urls[0], at });
    }
  }

  private installing(vm: ResourceDoc, command: string): RunCommandResultRaw {
    const boot = this.bootOf(vm);
    return installingAnswer(vm, command, boot?.from ?? "source", boot?.failed);
  }

  private diskKey(vm: ResourceDoc): string {
    return `${vm.name.toLowerCase()}#${vmIdOf(vm)}#${actionCount(this.emulator, vm.id, "reimage")}`;
  }

  private disk(vm: ResourceDoc): DiskState {
    const key = this.diskKey(vm);
    let disk = this.disks.get(key);
    if (!disk) {
      disk = { draining: false, ...(this.known.has(key) ? { dbUser: APP_USERS.a } : {}) };
      this.disks.set(key, disk);
    }
    return disk;
  }

  private probe(vm: ResourceDoc): number | undefined {
    if (!this.everyVm && !this.scripted.has(vm.name.toLowerCase())) return undefined;
    if (!this.booted(vm)) return 0;
    const h = this.health(vm);
    return h.healthy && !h.faults.includes("hung") && !this.disk(vm).draining ? 100 : 0;
  }

  private health(vm: ResourceDoc) {
    const faults = this.active(vm).map((f) => f.fault);
    const disk = this.disk(vm);
    const database = !faults.includes("database-unreachable") && disk.dbUser !== undefined;
    const tomcatDown = faults.some((f) => TOMCAT_FAULTS.includes(f));
    const crashLoop = faults.includes("tomcat-crash-loop");
    // what the agent says of the unit behind a failed service check (add_service_check)
    const failingUnits = tomcatDown
      ? [
          {
            unit: NODE_TOMCAT_UNIT,
            activeState: crashLoop ? "activating" : "failed",
            subState: crashLoop ? "auto-restart" : "failed",
            restarts: crashLoop ? 5 : 0,
            log: [crashLoop ? "java.lang.OutOfMemoryError: Java heap space" : "tomcat.service: Main process exited"],
          },
        ]
      : [];
    const checks = [
      { name: "nginx", ok: true, detail: "http 301, https handshake ok" },
      { name: "certificate", ok: true, detail: "serial 01, valid until 2099-01-01T00:00:00Z" },
      {
        name: "tomcat",
        ok: !tomcatDown,
        detail: tomcatDown
          ? `GET http://127.0.0.1:8080/api/languages answered '000'; ${NODE_TOMCAT_UNIT} is ${crashLoop ? "activating (auto-restart)" : "failed (failed)"}`
          : "GET /api/languages: 200",
      },
      { name: "guacd", ok: true, detail: "accepting connections on 127.0.0.1:4822" },
      {
        name: "database",
        ok: database,
        detail: database
          ? `SELECT 1 as ${disk.dbUser}`
          : disk.dbUser === undefined
            ? "no database credentials installed yet (db-credentials)"
            : `login as ${disk.dbUser} failed: ERROR 2003 (HY000): Can't connect to MySQL server`,
      },
    ];
    return { healthy: checks.every((c) => c.ok), checks, faults, failingUnits };
  }

  private async answer(vm: ResourceDoc, input: RunCommandInput): Promise<RunCommandResultRaw> {
    const [command = "", ...args] = agentWords(input.script.join("\n"));
    const call = { vm: vm.name, vmId: vmIdOf(vm), command, args };
    this.onCommand?.(call);
    this.calls.push(call);
    const injected = this.injectedFailure(vm, command);
    if (injected) return injected;
    const faults = this.active(vm).map((f) => f.fault);
    if (faults.includes("hung")) {
      throw Object.assign(new Error(`VM '${vm.name}' has not reported status for VM agent or extensions.`), {
        code: "VMAgentStatusCommunicationError",
      });
    }
    if (!this.booted(vm)) return this.installing(vm, command);
    const disk = this.disk(vm);
    const ok = (json: unknown, stderr = ""): RunCommandResultRaw => ({
      exitCode: 0,
      stdout: JSON.stringify(json) + "\n",
      stderr,
    });
    switch (command) {
      case "health": {
        const h = this.health(vm);
        const json = {
          healthy: h.healthy,
          draining: disk.draining,
          liveSessions: this.sessions.get(vm.name.toLowerCase()) ?? 0,
          nginx: true,
          tomcat: h.checks[2].ok,
          guacd: true,
          database: h.checks[4].ok,
          certificate: {
            serial: "01",
            notAfter: "2099-01-01T00:00:00Z",
            subject: "CN=x",
            issuer: "CN=x",
            selfSigned: true,
          },
          checks: h.checks,
          failingUnits: h.failingUnits,
          installed: { guacamole: this.release(vm), tomcat: "9.0", installedAt: "2026-01-01T00:00:00Z" },
          node: vm.name,
          time: new Date().toISOString(),
        };
        return { exitCode: h.healthy ? 0 : 1, stdout: JSON.stringify(json) + "\n", stderr: "" };
      }
      case "drain": {
        disk.draining = args[0] === "on";
        const sessions = this.sessions.get(vm.name.toLowerCase()) ?? 0;
        const recordings = args[0] === "on" ? this.drainRecordings.get(vm.name.toLowerCase()) : undefined;
        return ok({
          draining: disk.draining,
          liveSessions: sessions,
          drained: sessions === 0,
          waitedSeconds: 0,
          ...(recordings ? { recordings } : {}),
        });
      }
      case "restart-services": {
        // the agent's contract: only the node's own units (else a usage error, nothing restarted),
        // restarted in dependency order, each answered with whether its check passes now
        const foreign = args.filter((u) => !(SERVICE_UNITS as readonly string[]).includes(u));
        if (args.length === 0 || foreign.length > 0) {
          return {
            exitCode: 2,
            stdout: "",
            stderr: `jumpgate-node: usage error: restart-services: '${foreign[0] ?? ""}' is not one of this node's services\n`,
          };
        }
        const order = SERVICE_UNITS.filter((u) => args.includes(u));
        for (const unit of order) {
          const key = `${vmIdOf(vm)} ${unit}`;
          this.restartedUnits.set(key, (this.restartedUnits.get(key) ?? 0) + 1);
        }
        const h = this.health(vm);
        const checkOf: Record<string, string> = {
          [NODE_TOMCAT_UNIT]: "tomcat",
          "guacd.service": "guacd",
          "nginx.service": "nginx",
        };
        const services = order.map((unit) => {
          const check = h.checks.find((c) => c.name === checkOf[unit])!;
          return { unit, restarted: true, ok: check.ok, detail: check.detail, waitedSeconds: check.ok ? 4 : 90 };
        });
        const all = services.every((u) => u.ok);
        return { exitCode: all ? 0 : 1, stdout: JSON.stringify({ ok: all, services }) + "\n", stderr: "" };
      }
      case "db-credentials": {
        const slot = args[args.indexOf("--user") + 1] as keyof typeof APP_USERS;
        disk.dbUser = APP_USERS[slot];
        return ok({ changed: ["guacamole.properties"], user: disk.dbUser }, "jumpgate-node: restarted tomcat\n");
      }
      case "install-cert": {
        disk.certificate = args[args.indexOf("--secret") + 1];
        return ok({ installed: true, changed: true });
      }
      case "schema-upgrade": {
        const from = args[args.indexOf("--from") + 1];
        const to = args[args.indexOf("--to") + 1];
        const { schema } = this;
        if (schema.state !== "ready") {
          return {
            exitCode: 1,
            stdout: "",
            stderr: `jumpgate-node: error: an earlier schema upgrade is ${schema.state}\n`,
          };
        }
        if (compareReleases(schema.version, to) >= 0) {
          return ok({ upgraded: false, version: schema.version, from, applied: [] });
        }
        if (schema.version !== from) {
          return {
            exitCode: 1,
            stdout: "",
            stderr: `jumpgate-node: error: the schema is at ${schema.version}, not ${from}\n`,
          };
        }
        schema.runs.push({ vm: vm.name, from, to });
        schema.version = to;
        return ok({ upgraded: true, version: to, from, applied: [`upgrade-pre-${to}.sql`] });
      }
      default:
        return ok({ changed: [] });
    }
  }
}

function compareReleases(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** What a node's agent answers while cloud-init's installer runs: health says so, the rest fail. */
function installingAnswer(
  vm: ResourceDoc,
  command: string,
  from: "image" | "source",
  failed?: string,
): RunCommandResultRaw {
  const detail = failed
    ? `first boot failed: ${failed}`
    : `first boot from ${from === "image" ? "the node image" : "source"}: the installer is still running`;
  if (command !== "health") {
    return { exitCode: 1, stdout: "", stderr: `jumpgate-node: error: the node is still installing (${detail})\n` };
  }
  const checks = ["nginx", "certificate", "tomcat", "guacd", "database"].map((name) => ({ name, ok: false, detail }));
  const json = {
    healthy: false,
    draining: false,
    liveSessions: 0,
    checks,
    installed: null,
    node: vm.name,
    time: new Date().toISOString(),
  };
  return { exitCode: 1, stdout: JSON.stringify(json) + "\n", stderr: "" };
}

/** The agent's command and arguments from a Run Command script (each word single-quoted). */
export function agentWords(script: string): string[] {
  const line = script.split("\n").find((l) => l.includes(NODE_AGENT_PATH)) ?? "";
  const rest = line.slice(line.indexOf(NODE_AGENT_PATH) + NODE_AGENT_PATH.length);
  return [...rest.matchAll(/'((?:[^']|'\\'')*)'/g)].map((m) => m[1].replace(/'\\''/g, "'"));
}

function isVm(d: ResourceDoc): boolean {
  return d.type.toLowerCase() === "microsoft.compute/virtualmachines";
}

function vmIdOf(vm: ResourceDoc): string {
  const vmId = (vm.properties as { vmId?: unknown }).vmId;
  return typeof vmId === "string" ? vmId : vm.id;
}

/** How a stand-in image builder's bake ends. */
export type BakeOutcome =
  /** baked.json with this digest appears at the `afterPolls`-th image-status (default 1) */
  | { bakes: string; afterPolls?: number }
  /** cloud-init gives up with this error (the installer failed) */
  | { fails: string }
  /** the bake never finishes */
  | { never: true };

/**
 * Node image builders where no VM boots: each answers Run Command with the REAL agent
 * (infra/node/jumpgate-node image-status / image-seal, which runs infra/node/jumpgate-image) in a sandbox of its own, where the bake is
 * played by this class (baked.json written, or cloud-init's status saying error) and cloud-init and
 * waagent are stubs that record their calls. `calls` has every agent command, `sealed` the builders
 * whose waagent was asked to deprovision.
 */
export class StandInImageBuilders {
  readonly calls: AgentCall[] = [];
  readonly sealed: string[] = [];
  private readonly outcomes = new Map<string, BakeOutcome>();
  private readonly polls = new Map<string, number>();

  constructor(
    private readonly emulator: Emulator,
    private readonly agentPath: string,
  ) {}

  /** The builder VM `vmName` (it may not exist yet) bakes, fails or never finishes. */
  bake(vmName: string, outcome: BakeOutcome): void {
    this.outcomes.set(vmName.toLowerCase(), outcome);
    this.emulator.runCommand.setVm(vmName, (vm, input, dir) => this.answer(vm, input, dir));
  }

  private async answer(vm: ResourceDoc, input: RunCommandInput, dir: string): Promise<RunCommandResultRaw> {
    const script = input.script.join("\n");
    const [command = "", ...args] = agentWords(script);
    this.calls.push({ vm: vm.name, vmId: vmIdOf(vm), command, args });
    const outcome = this.outcomes.get(vm.name.toLowerCase()) ?? { never: true };
    const agent = path.join(dir, NODE_AGENT_PATH);
    if (!fs.existsSync(agent)) {
      fs.mkdirSync(path.dirname(agent), { recursive: true });
      fs.copyFileSync(this.agentPath, agent);
      fs.chmodSync(agent, 0o755);
      // what bake custom data writes beside it
      const tool = path.join(dir, NODE_IMAGE_TOOL_PATH);
      fs.copyFileSync(path.join(path.dirname(this.agentPath), "jumpgate-image"), tool);
      fs.chmodSync(tool, 0o755);
      for (const d of ["etc/ssh", "var/lib/jumpgate", "var/log"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
      fs.writeFileSync(path.join(dir, "etc/machine-id"), "0123456789abcdef0123456789abcdef\n");
      fs.writeFileSync(path.join(dir, "etc/ssh/ssh_host_ed25519_key"), "host key\n", { mode: 0o600 });
      fs.writeFileSync(path.join(dir, "var/log/cloud-init.log"), "bake log\n");
    }
    if (command === "image-status") {
      const n = (this.polls.get(vm.id) ?? 0) + 1;
      this.polls.set(vm.id, n);
      if ("bakes" in outcome && n >= (outcome.afterPolls ?? 1)) {
        const baked = path.join(dir, "var/lib/jumpgate/baked.json");
        if (!fs.existsSync(baked))
          fs.writeFileSync(baked, JSON.stringify({ digest: outcome.bakes, guacamoleVersion: "1.6.0" }) + "\n");
      }
    }
    const cloudStatus =
      "fails" in outcome
        ? JSON.stringify({ status: "error", errors: [outcome.fails] })
        : JSON.stringify({ status: "running", errors: [] });
    const cloudInit = path.join(dir, "stub-cloud-init");
    fs.writeFileSync(
      cloudInit,
      `#!/usr/bin/env bash\nif [[ $1 == status ]]; then printf '%s\\n' ${shellWord(cloudStatus)}; fi\nexit 0\n`,
      { mode: 0o755 },
    );
    const waagent = path.join(dir, "stub-waagent");
    fs.writeFileSync(
      waagent,
      `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >>${shellWord(path.join(dir, "waagent.calls"))}\n`,
      {
        mode: 0o755,
      },
    );
    const result = await runBash(script, {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      LANG: "C.UTF-8",
      JUMPGATE_NODE_ROOT: dir,
      JUMPGATE_CLOUD_INIT: cloudInit,
      JUMPGATE_WAAGENT: waagent,
    });
    if (command === "image-seal" && result.exitCode === 0) this.sealed.push(vm.name);
    return result;
  }
}

function shellWord(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function runBash(script: string, env: Record<string, string>): Promise<RunCommandResultRaw> {
  return new Promise((resolve) => {
    execFile("bash", ["-c", script], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ exitCode: code, stdout, stderr });
    });
  });
}
