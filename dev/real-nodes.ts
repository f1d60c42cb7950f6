// Web nodes that run the REAL node agent where no VM boots: every web VM's Run Command runs
// infra/node/jumpgate-node in a sandbox built from that VM's own custom data (node-sandbox.ts: real
// NGINX, stand-ins for Tomcat, guacd and systemctl). Each agent asks its own VM's IMDS for tokens,
// so Key Vault sees that VM's managed identity and allows only what its role assignments allow
// (the emulator enforces Azure RBAC for identity tokens). The node's configuration names the stack's
// public endpoints (https://<vault>.vault.azure.net/ and <server>.mysql.database.azure.com); a
// sandbox "resolves" them the way the VNet would: the vault name to the emulator's listener for that
// vault, the server name (which must be one the emulator holds) to a real MariaDB on 127.0.0.1,
// through the agent's rule that the environment wins over node.env. The flexible server's admin
// password, set through ARM, becomes MariaDB's admin password.
//
// Optional: Pebble's roots as the agents' trust anchors for `install-cert`, a TCP balancer that each
// node's port-80 listener joins (HTTP-01 reaches every node through it), and `guest` behaviour for a
// sandbox that runs for a while: each node's probe timer (`health --update-probe`, what systemd runs
// on a VM), the load balancer's HTTP probe of every node feeding the emulator's DipAvailability, and
// VM power actions reaching the node (a restart reboots its services, power off stops them).
// A deleted VM takes its node with it: it leaves the load balancer at once, its timers, probe and
// servers stop and its sandbox (its disk) is removed, so a VM made again under its name (a heal's
// replacement, a later stack's node) boots fresh, and a sandbox can host stack after stack.
// Used by the rotation and certificate harnesses, the real-agent deploy test and the sandbox.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { Emulator } from "../emulator/arm/emulator";
import type { VmPowerAction } from "../emulator/arm/providers/compute";
import type { ResourceDoc } from "../emulator/arm/types";
import { DB_ADMIN_LOGIN, NODE_AGENT_CONFIG, NODE_PATHS, NODE_PROBE } from "../shared/node/constants";
import { startNodeSandboxFromCustomData, type NodeSandbox } from "./node-sandbox";
import type { MariaDb } from "./servers/mariadb";
import type { RunResult } from "./servers/process";
import type { TcpBalancer } from "./servers/tcp-balancer";

export interface RealNodesOptions {
  /**
   * The stack's MySQL flexible server: a real MariaDB, its admin login's password now (what ARM sets
   * later follows). Without it the nodes have no database (serving certificates needs none).
   */
  db?: { server: MariaDb; adminPassword: string };
  /** trust anchors of `install-cert` (Pebble's roots) */
  certRootsFile?: string;
  /** the load balancer in front of the nodes' port 80 */
  balancer?: TcpBalancer;
  /** a sandbox that runs for a while: probe timers, the load balancer's probe, power actions */
  guest?: {
    /** how often each node's probe timer runs its health check (5 s on a VM) */
    probeTimerMs: number;
    /** how often the load balancer probes each node (5 s in Azure) */
    lbProbeMs: number;
  };
}

/** KEY=value lines of a node.env file. */
export function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = /^(JUMPGATE_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

export function sqlLiteral(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

interface Loop {
  stop(): Promise<void>;
}

export class RealNodes {
  /** each VM's sandbox, by VM name */
  readonly sandboxes = new Map<string, NodeSandbox>();
  /** each VM's node.env as the rendered template wrote it */
  readonly nodeEnvFiles = new Map<string, Record<string, string>>();
  /** the flexible servers whose admin password ARM set, in order */
  readonly adminPasswordsSet: string[] = [];
  /** MariaDB's admin password now: the bootstrap one, then whatever ARM set */
  adminPassword: string;
  /** the environment each VM's Run Command scripts get (its sandbox, the vault and MariaDB on loopback) */
  private readonly vmEnv = new Map<string, Record<string, string>>();
  /** powered-off VMs (their probe timer does not run) */
  private readonly off = new Set<string>();
  /** consecutive probe answers per VM: what the load balancer last decided (100 up, 0 down) */
  private readonly lbState = new Map<string, { value: number; streak: number; last: boolean }>();
  /** each VM's timers (probe timer, load balancer probe), by lowercase VM name */
  private readonly loops = new Map<string, Loop[]>();
  /** deleted VMs whose nodes are still stopping, by lowercase VM name */
  private readonly retiring = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly emulator: Emulator,
    private readonly options: RealNodesOptions = {},
  ) {
    this.adminPassword = options.db?.adminPassword ?? "";
  }

  /** Points the emulator's Run Command, MySQL admin password and (with `guest`) power and probe at the nodes. */
  static wire(emulator: Emulator, options: RealNodesOptions = {}): RealNodes {
    const nodes = new RealNodes(emulator, options);
    emulator.runCommand.options.prepareSandbox = (vm, dir) => nodes.prepareSandbox(vm, dir);
    emulator.vmDeleteHook = (vm) => nodes.retire(vm.name);
    if (options.db) nodes.wireDatabase(options.db.server);
    // DipAvailability follows what each node's probe endpoint serves (see probeValue)
    emulator.metrics.probeOf = (vm) => nodes.probeValue(vm.name);
    if (options.guest) emulator.vmPowerHook = (vm, action) => nodes.power(vm.name, action);
    return nodes;
  }

  /** Runs the agent on a VM directly (with stdin), in the environment its Run Command scripts get. */
  runAgent(vm: string, args: string[], input?: string): Promise<RunResult> {
    const sandbox = this.sandboxes.get(vm);
    assert.ok(sandbox, `${vm} has a sandbox`);
    return sandbox.runAgent(args, { input, env: this.vmEnv.get(vm) });
  }

  /**
   * What the load balancer's probe says of a VM now: 100 up, 0 down. With `guest` (or after
   * `probeNow`) what its HTTP probes decided; otherwise what the node's NGINX would answer the probe
   * from the agent's files: 200 only while the last `health --update-probe` passed and the node is
   * not draining (nothing has run that check on a node no probe timer runs: down). Undefined for a
   * VM without a sandbox (the emulator's default then).
   */
  probeValue(vm: string): number | undefined {
    const decided = this.lbState.get(vm.toLowerCase())?.value;
    if (decided !== undefined) return decided;
    const sandbox = this.sandboxes.get(vm);
    if (!sandbox) return undefined;
    const has = (p: string) => fs.existsSync(path.join(sandbox.root, p));
    return has(NODE_PATHS.probeFile) && !has(NODE_PATHS.drainFlag) ? 100 : 0;
  }

  /**
   * One round of what systemd and the load balancer do, now, without timers: each node's probe
   * timer (`health --update-probe`), then the load balancer's HTTP probe of each node, which the
   * emulator's DipAvailability then reports (100 answered, 0 not). Returns what each probe saw.
   */
  async probeNow(): Promise<Record<string, number>> {
    const seen: Record<string, number> = {};
    for (const [vm, sandbox] of this.sandboxes) {
      await this.runAgent(vm, ["health", "--update-probe"]);
      const value = (await probe(sandbox.ports.probe)) ? 100 : 0;
      this.lbState.set(vm.toLowerCase(), { value, streak: NODE_PROBE.probeThreshold, last: value === 100 });
      seen[vm] = value;
    }
    return seen;
  }

  /** The VMs whose nodes run now (deleted ones are gone), by name. */
  running(): string[] {
    return [...this.sandboxes.keys()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.retiring.values()]);
    await Promise.all([...this.loops.values()].flat().map((l) => l.stop()));
    await Promise.all([...this.sandboxes.values()].map((s) => s.stop()));
  }

  /**
   * The VM was deleted: out of the load balancer now (the CA's next HTTP-01 request must not reach a
   * dead node), then its timers and servers stop and its sandbox directory (its disk) goes.
   */
  retire(vm: string): Promise<void> {
    const key = vm.toLowerCase();
    const name = [...this.sandboxes.keys()].find((n) => n.toLowerCase() === key);
    this.options.balancer?.backends.delete(name ?? vm);
    if (!name) return this.retiring.get(key) ?? Promise.resolve();
    const sandbox = this.sandboxes.get(name)!;
    this.sandboxes.delete(name);
    this.vmEnv.delete(name);
    this.nodeEnvFiles.delete(name);
    this.lbState.delete(key);
    this.off.delete(key);
    const loops = this.loops.get(key) ?? [];
    this.loops.delete(key);
    const previous = this.retiring.get(key) ?? Promise.resolve();
    const done = previous
      .then(async () => {
        await Promise.all(loops.map((l) => l.stop()));
        await sandbox.stop();
        fs.rmSync(sandbox.root, { recursive: true, force: true });
      })
      .finally(() => {
        if (this.retiring.get(key) === done) this.retiring.delete(key);
      });
    this.retiring.set(key, done);
    return done;
  }

  private wireDatabase(db: MariaDb): void {
    // one update at a time, each authenticating with what the one before set (an emulated operation
    // that ends Failed still runs its work, and nobody waits for it then)
    let chain: Promise<void> = Promise.resolve();
    this.emulator.mysqlAdminPasswordHook = (serverId, login, password) => {
      const update = chain.then(async () => {
        assert.equal(login, DB_ADMIN_LOGIN);
        await db.query(`ALTER USER '${login}'@'%' IDENTIFIED BY ${sqlLiteral(password)};`, {
          password: this.adminPassword,
        });
        this.adminPassword = password;
        this.adminPasswordsSet.push(serverId);
      });
      chain = update.catch(() => undefined);
      return update;
    };
  }

  private async prepareSandbox(vm: ResourceDoc, dir: string): Promise<Record<string, string>> {
    const { emulator, options } = this;
    // a VM made again under a deleted one's name waits until the old node is gone, then boots fresh
    const retiring = this.retiring.get(vm.name.toLowerCase());
    if (retiring) {
      await retiring;
      fs.mkdirSync(dir, { recursive: true });
    }
    const customData = emulator.store.getSecret(vm.id, "properties.osProfile.customData");
    assert.equal(typeof customData, "string", `${vm.name} carries the node template as custom data`);
    // lays out what the rendered template writes (node.env among it), starts NGINX and runs `init`
    const sandbox = await startNodeSandboxFromCustomData(dir, customData as string, {
      // a node whose first boot finished (the installer's marker), not one still installing
      firstBootDone: true,
      env: {
        // this VM's IMDS: its tokens stand for its managed identity, whose roles Key Vault checks
        JUMPGATE_IMDS_ENDPOINT: emulator.imds.endpointFor(vm.id),
        JUMPGATE_CA_FILE: emulator.caPath,
        ...(options.db ? { JUMPGATE_DB_CA_FILE: options.db.server.caPath } : {}),
        ...(options.certRootsFile ? { JUMPGATE_CERT_CA_FILE: options.certRootsFile } : {}),
      },
    });
    this.sandboxes.set(vm.name, sandbox);
    options.balancer?.backends.set(vm.name, sandbox.ports.http);
    const config = readEnvFile(path.join(dir, NODE_AGENT_CONFIG));
    this.nodeEnvFiles.set(vm.name, config);

    // "DNS": the vault's public name -> the emulator's listener for that vault
    const vaultHost = /^https:\/\/([a-z0-9-]+)\.vault\.azure\.net\/?$/i.exec(config.JUMPGATE_KEY_VAULT_URL ?? "");
    assert.ok(vaultHost, `node.env names a public Key Vault URL: ${config.JUMPGATE_KEY_VAULT_URL}`);
    const vault = emulator.store
      .all()
      .find((d) => d.type === "Microsoft.KeyVault/vaults" && d.name.toLowerCase() === vaultHost[1].toLowerCase());
    assert.ok(vault, `the vault ${vaultHost[1]} named in node.env exists`);
    let database = { JUMPGATE_DB_HOST: "127.0.0.1", JUMPGATE_DB_PORT: "9" };
    if (options.db) {
      // the server's FQDN -> the MariaDB on loopback, provided the emulator holds that server
      const server = emulator.store
        .all()
        .find(
          (d) =>
            d.type === "Microsoft.DBforMySQL/flexibleServers" &&
            String(d.properties.fullyQualifiedDomainName).toLowerCase() === config.JUMPGATE_DB_HOST?.toLowerCase(),
        );
      assert.ok(server, `the MySQL server ${config.JUMPGATE_DB_HOST} named in node.env exists`);
      database = { JUMPGATE_DB_HOST: options.db.server.host, JUMPGATE_DB_PORT: String(options.db.server.port) };
    }
    const vmEnv = { ...sandbox.env, JUMPGATE_KEY_VAULT_URL: String(vault.properties.vaultUri), ...database };
    this.vmEnv.set(vm.name, vmEnv);
    if (options.guest) this.startGuest(vm.name, sandbox, options.guest);
    return { ...vmEnv, JUMPGATE_NODE_ROOT: "{sandbox}" };
  }

  /** What systemd and the load balancer do around a running node. */
  private startGuest(vm: string, sandbox: NodeSandbox, guest: NonNullable<RealNodesOptions["guest"]>): void {
    const key = vm.toLowerCase();
    // the jumpgate-probe timer: one deep health check, its result the file NGINX serves to the probe
    this.every(key, guest.probeTimerMs, async () => {
      if (!this.off.has(key)) await this.runAgent(vm, ["health", "--update-probe"]);
    });
    // the load balancer: HTTP GET of the probe path; `probeThreshold` answers in a row change its mind
    this.lbState.set(key, { value: 0, streak: 0, last: false });
    this.every(key, guest.lbProbeMs, async () => {
      const up = await probe(sandbox.ports.probe);
      const s = this.lbState.get(key);
      if (!s) return; // the VM was deleted meanwhile
      s.streak = up === s.last ? s.streak + 1 : 1;
      s.last = up;
      if (s.streak >= NODE_PROBE.probeThreshold) s.value = up ? 100 : 0;
    });
  }

  private async power(vm: string, action: VmPowerAction): Promise<void> {
    const sandbox = this.sandboxes.get(vm);
    if (!sandbox) return;
    const key = vm.toLowerCase();
    if (action === "powerOff" || action === "deallocate") {
      this.off.add(key);
      await sandbox.powerOff();
    } else if (action === "start") {
      await sandbox.powerOn();
      this.off.delete(key);
    } else {
      // restart, redeploy (another host, same disk), reimage (no new disk here): the node boots again
      this.off.add(key);
      await sandbox.reboot();
      this.off.delete(key);
    }
  }

  /** Runs `tick` every `ms` (after the previous tick ended) until stop() or the VM's deletion. */
  private every(vm: string, ms: number, tick: () => Promise<void>): void {
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> = Promise.resolve();
    let stopped = false;
    const next = () => {
      if (this.stopped || stopped) return;
      timer = setTimeout(() => {
        running = tick()
          .catch(() => undefined)
          .finally(next);
      }, ms);
    };
    next();
    const loops = this.loops.get(vm) ?? [];
    loops.push({
      stop: async () => {
        stopped = true;
        clearTimeout(timer);
        await running;
      },
    });
    this.loops.set(vm, loops);
  }
}

/** The load balancer's HTTP probe of one node: 200 within 2 s is up. */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: NODE_PROBE.path, timeout: 2_000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}
