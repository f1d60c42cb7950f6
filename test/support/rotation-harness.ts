// What the rotation tests share: a stack deployed with the REAL node agent on every web node (each
// VM's Run Command runs infra/node/jumpgate-node in a sandbox built from its custom data: real NGINX,
// stand-ins for Tomcat, guacd and systemctl), a real MariaDB over TLS as the flexible server (the
// emulator's admin-password updates are wired to it), Key Vault and IMDS from the emulator, the
// registry on Azurite, and the app's orchestrations on the durable test host's virtual clock. Then:
// start rotations, read Key Vault's labels and values, try real logins, and scan everything the run
// produced for secret values. The nodes are wired in dev/real-nodes.ts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { SecretClient } from "@azure/keyvault-secrets";
import { fromRegistry, type InstanceState } from "../../emulator/durable";
import { runNodeAgentActivity } from "../../functions/activities/nodes";
import { InstanceIds, Names } from "../../functions/names";
import type { RotateDatabaseInput } from "../../functions/orchestrators/rotate-database";
import { claimStack } from "../../functions/stack-claim";
import { InMemoryDurableClient } from "../../emulator/durable";
import { ROTATION_TAGS } from "../../shared/credentials/rotation-state";
import { stackNames, type StackNames } from "../../shared/graph/names";
import { APP_USERS, DB_ADMIN_LOGIN, GUACAMOLE_DATABASE, NODE_PATHS } from "../../shared/node/constants";
import type { AgentCommandResult } from "../../shared/node/run-agent";
import { SECRET_NAMES } from "../../shared/secret-names";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { ActivityCrashTap, type ActivityCall } from "./activity-crash";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import type { NodeSandbox } from "../../dev/node-sandbox";
import { RealNodes } from "../../dev/real-nodes";
import { startMariaDb, type MariaDb } from "../../dev/servers/mariadb";

export interface VersionInfo {
  version: string;
  label?: string;
  tags: Record<string, string>;
}

export class RotationHarness {
  readonly names: StackNames;
  /** the web nodes: the real agent in a sandbox per VM, MariaDB as the flexible server */
  readonly nodes: RealNodes;
  /** what direct agent runs printed (scanned for secrets too) */
  readonly agentOutput: string[] = [];
  /** snapshots of every finished instance (a singleton id's history is replaced by its next run) */
  readonly finished: InstanceState[] = [];
  private runs = 0;

  private constructor(
    readonly env: JumpgateEnv,
    readonly db: MariaDb,
    readonly spec: StackSpec,
    readonly tap: ActivityCrashTap,
    readonly client: InMemoryDurableClient,
    private readonly workDir: string,
    bootstrapAdminPassword: string,
    /** every line the durable host logged */
    readonly logs: string[],
  ) {
    this.names = stackNames(spec);
    this.nodes = RealNodes.wire(env.emulator, { db: { server: db, adminPassword: bootstrapAdminPassword } });
  }

  /** each web VM's sandbox, by VM name */
  get sandboxes(): Map<string, NodeSandbox> {
    return this.nodes.sandboxes;
  }

  /** MariaDB's admin password now: the bootstrap one, then whatever ARM set */
  get adminPassword(): string {
    return this.nodes.adminPassword;
  }

  get adminPasswordsSet(): string[] {
    return this.nodes.adminPasswordsSet;
  }

  /** MariaDB, the app on the emulator and Azurite, and a stack of `size` nodes deployed with the real agent. */
  static async start(stack: string, subscriptionId: string, size = 2): Promise<RotationHarness> {
    const r = validateStackSpec({
      name: stack,
      subscriptionId,
      resourceGroup: `rg-${stack}`,
      location: "westeurope",
      fleet: { mode: "availabilitySet", size, min: Math.min(size, 2) },
      // draining waits a bounded (virtual) time for sessions to end
      policies: { scale: { drainTimeoutMinutes: 2 } },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `jumpgate-${stack}-`));
    const adminPassword = `bootstrap-${Date.now()}`;
    const db = await startMariaDb({ adminUser: DB_ADMIN_LOGIN, adminPassword });
    const tap = new ActivityCrashTap();
    const logs: string[] = [];
    let env: JumpgateEnv;
    try {
      env = await startJumpgateEnv({
        emulator: { runCommand: { root: path.join(workDir, "run-command"), timeoutMs: 90_000 } },
        durable: {
          log: (line) => logs.push(line),
          overrides: { activities: tap.wrapAll(fromRegistry().activities) },
        },
      });
    } catch (e) {
      await db.stop();
      throw e;
    }
    tap.attach(env.host);
    const h = new RotationHarness(
      env,
      db,
      r.spec,
      tap,
      new InMemoryDurableClient(env.host),
      workDir,
      adminPassword,
      logs,
    );
    try {
      await env.registry.putDesired(stack, r.spec);
      await h.deploy();
    } catch (e) {
      await h.stop();
      throw e;
    }
    return h;
  }

  /** Runs the agent on a VM directly (with stdin), in the environment its Run Command scripts get. */
  async runAgent(
    vm: string,
    args: string[],
    input?: string,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await this.nodes.runAgent(vm, args, input);
    this.agentOutput.push(r.stdout, r.stderr);
    return r;
  }

  /**
   * An admin step on a VM as the app runs one: `bootstrap-db` through the runNodeAgent activity,
   * which reads the admin password (the settled one too, during a rotation) from Key Vault and hands
   * it over in a managed Run Command's protected parameters.
   */
  async adminStep(vm: string): Promise<AgentCommandResult> {
    const { spec } = this;
    const r = await runNodeAgentActivity({
      subscriptionId: spec.subscriptionId,
      resourceGroup: spec.resourceGroup,
      vmName: vm,
      command: "bootstrap-db",
      stack: spec.name,
    });
    this.agentOutput.push(r.stderr ?? "", JSON.stringify(r.json ?? null));
    return r;
  }

  /** Deploys the stack the way PUT does (claim, deployStack with the registry's current app user). */
  async deploy(): Promise<InstanceState> {
    const { env, spec } = this;
    const at = `d${++this.runs}`;
    const claim = await claimStack(this.client, spec.name, "deploy", {
      spec,
      instanceIdFor: (generation) => InstanceIds.deploy(spec.name, generation, at),
      now: env.host.now,
    });
    assert.ok(claim.ok, `the stack is free to deploy: ${JSON.stringify(claim)}`);
    env.host.startNew(Names.orchestrators.deployStack, {
      instanceId: claim.instanceId,
      input: {
        spec,
        generation: claim.generation,
        nodeReadyTimeoutMinutes: 30,
        pollSeconds: 10,
        dbUserSlot: claim.dbUserSlot,
        checkFirst: true,
      },
    });
    await env.host.runUntilIdle();
    const state = this.keep(claim.instanceId);
    assert.equal(state.runtimeStatus, "Completed", JSON.stringify(state.output));
    return state;
  }

  async stop(): Promise<void> {
    await this.tap.settle();
    await this.nodes.stop();
    await this.env?.stop();
    await this.db?.stop();
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  get instanceId(): string {
    return InstanceIds.rotateDatabase(this.spec.name);
  }

  /** Starts the stack's rotation (pollSeconds 5); with `run`, runs it to the end and keeps its snapshot. */
  start(input: Partial<RotateDatabaseInput> = {}): RotateDatabaseInput {
    const full: RotateDatabaseInput = {
      stack: this.spec.name,
      rotationId: `rot-${++this.runs}`,
      reason: "test",
      pollSeconds: 5,
      ...input,
    };
    this.env.host.startNew(Names.orchestrators.rotateDatabaseCredentials, { instanceId: this.instanceId, input: full });
    return full;
  }

  async rotate(input: Partial<RotateDatabaseInput> = {}): Promise<InstanceState> {
    this.start(input);
    await this.env.host.runUntilIdle();
    await this.tap.settle();
    return this.keep(this.instanceId);
  }

  keep(instanceId: string): InstanceState {
    const state = structuredClone(this.env.host.getStatus(instanceId)!);
    this.finished.push(state);
    return state;
  }

  vmNames(): string[] {
    return [...this.sandboxes.keys()].sort();
  }

  // ---------------------------------------------------------------------------- Key Vault

  kv(): SecretClient {
    const vault = this.env.emulator.store.get(this.names.keyVaultId);
    assert.ok(vault, "the stack's vault exists");
    return this.env.services.factory.secrets(String(vault.properties.vaultUri));
  }

  async versions(secret: string): Promise<VersionInfo[]> {
    const found: VersionInfo[] = [];
    for await (const p of this.kv().listPropertiesOfSecretVersions(secret)) {
      const tags = { ...(p.tags ?? {}) };
      found.push({
        version: p.version!,
        ...(tags[ROTATION_TAGS.label] ? { label: tags[ROTATION_TAGS.label] } : {}),
        tags,
      });
    }
    return found;
  }

  /** Labels of every version of a secret, in creation order, e.g. ["retired", "previous", "failed"]. */
  async labels(secret: string): Promise<string[]> {
    return (await this.versions(secret)).map((v) => v.label ?? "none");
  }

  async value(secret: string, version?: string): Promise<string> {
    return (await this.kv().getSecret(secret, version ? { version } : {})).value!;
  }

  async versionLabelled(secret: string, label: string): Promise<string | undefined> {
    return (await this.versions(secret)).find((v) => v.label === label)?.version;
  }

  // ---------------------------------------------------------------------------- database and nodes

  async appLogin(slot: "a" | "b", password: string): Promise<boolean> {
    const r = await this.db.tryQuery("SELECT COUNT(*) FROM guacamole_user", {
      user: APP_USERS[slot],
      password,
      database: GUACAMOLE_DATABASE,
    });
    return r.ok;
  }

  async adminLogin(password: string): Promise<boolean> {
    return (await this.db.tryQuery("SELECT 1", { user: DB_ADMIN_LOGIN, password })).ok;
  }

  /** The app users that exist in MariaDB (a duplicate or stray one would show here). */
  async databaseUsers(): Promise<string[]> {
    const rows = await this.db.query("SELECT User FROM mysql.user WHERE User LIKE 'guacamole%' ORDER BY User", {
      password: this.adminPassword,
    });
    return rows.map((r) => r[0]);
  }

  /** The user each node's guacamole.properties names, by VM. */
  nodeUsers(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [vm, sandbox] of this.sandboxes) {
      const text = fs.readFileSync(path.join(sandbox.root, NODE_PATHS.guacamoleProperties), "utf8");
      out[vm] = /^mysql-username: (.*)$/m.exec(text)?.[1] ?? "";
    }
    return out;
  }

  /** The password each node's guacamole.properties holds, by VM (for login checks only). */
  nodePasswords(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [vm, sandbox] of this.sandboxes) {
      const text = fs.readFileSync(path.join(sandbox.root, NODE_PATHS.guacamoleProperties), "utf8");
      out[vm] = (/^mysql-password: (.*)$/m.exec(text)?.[1] ?? "").replace(/\\(.)/g, "$1");
    }
    return out;
  }

  /** Every node's Guacamole login works, with the user and password its properties hold. */
  async everyNodeLogsIn(): Promise<Record<string, boolean>> {
    const users = this.nodeUsers();
    const passwords = this.nodePasswords();
    const out: Record<string, boolean> = {};
    for (const vm of Object.keys(users)) {
      const slot = users[vm] === APP_USERS.b ? "b" : "a";
      out[vm] = users[vm] !== "" && (await this.appLogin(slot, passwords[vm]));
    }
    return out;
  }

  /** Draining flags left on nodes (a rotation must leave none). */
  drainingNodes(): string[] {
    return [...this.sandboxes.entries()]
      .filter(([, s]) => fs.existsSync(path.join(s.root, NODE_PATHS.drainFlag)))
      .map(([vm]) => vm)
      .sort();
  }

  /** The activities the last run of the rotation (or another instance) started, in order. */
  lastRun(instanceId = this.instanceId): ActivityCall[] {
    const calls = this.tap.callsOf(instanceId);
    const start = calls.map((c) => c.name).lastIndexOf(Names.activities.loadRotationTarget);
    return instanceId === this.instanceId && start >= 0 ? calls.slice(start) : calls;
  }

  /** Agent commands the last run ran, in order ("vm command args..."), from the tap. */
  agentCommands(instanceId = this.instanceId): string[] {
    return this.lastRun(instanceId)
      .filter((c) => c.name === Names.activities.runNodeAgent)
      .map((c) => {
        const i = c.input as { vmName: string; command: string; args?: string[] };
        return [i.vmName, i.command, ...(i.args ?? [])].join(" ");
      });
  }

  // ---------------------------------------------------------------------------- secret scan

  /** Fails if any value Key Vault holds (every version of every secret) appears in anything the run produced. */
  async assertNoSecretLeaks(extra: [string, string][] = []): Promise<number> {
    const values = this.env.emulator.keyVault.secretValues(this.names.keyVault).filter((v) => !v.startsWith("ssh-"));
    const haystacks: [string, string][] = [
      [
        "orchestration histories, statuses, inputs and outputs",
        JSON.stringify(
          this.finished.map((i) => ({
            history: i.history,
            customStatus: i.customStatus,
            customStatusLog: i.customStatusLog,
            output: i.output,
            input: i.input,
          })),
        ),
      ],
      ["every instance on the host", JSON.stringify(this.env.host.listInstances())],
      [
        "activity inputs and results",
        JSON.stringify(this.tap.calls.map((c) => ({ input: c.input, outcome: c.outcome }))),
      ],
      ["logs", this.logs.join("\n")],
      ["agent output", this.agentOutput.join("\n")],
      ["audit trail", JSON.stringify(await this.env.audit.all(this.spec.name))],
      ["registry", JSON.stringify(await this.env.registry.get(this.spec.name))],
      ["emulator journal", JSON.stringify(this.env.emulator.journal.list())],
      ...extra,
    ];
    assert.ok(this.logs.length > 0, "the host logged the run");
    for (const value of values) {
      for (const [what, hay] of haystacks) assert.ok(!hay.includes(value), `a secret value leaked into the ${what}`);
    }
    return values.length;
  }
}

export { SECRET_NAMES, APP_USERS };
