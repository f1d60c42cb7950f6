// What the heal tests and the heal fixture recorder share: the whole app on loopback (async LRO mode,
// as Azure answers Run Command), scripted stand-in nodes, a deploy the way PUT runs it, and alerts
// delivered the way the intake delivers them (keep the signal, then start heal-<stack> or raise
// "signal" to the running one). Everything runs on the durable test host's virtual clock.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { InstanceIds, Names } from "../../functions/names";
import type { StackSignal } from "../../shared/alerts/signal";
import { stackNames } from "../../shared/graph/names";
import { validateStackSpec } from "../../shared/spec/validate";
import type { StackSpec } from "../../shared/spec/types";
import { startJumpgateEnv, type JumpgateEnv } from "../../dev/jumpgate-env";
import { StandInFleet, standInAgentRoot } from "../../dev/stand-in-agent";

type Doc = Record<string, unknown>;

/** A dotted path into a JSON document. */
export const at = (doc: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((cur, k) => (cur && typeof cur === "object" ? (cur as Doc)[k] : undefined), doc);

export class HealHarness {
  private signalSeq = 0;

  private constructor(
    readonly env: JumpgateEnv,
    readonly fleet: StandInFleet,
    readonly subscriptionId: string,
    private readonly root: string,
  ) {}

  static async start(subscriptionId: string): Promise<HealHarness> {
    const root = standInAgentRoot();
    const env = await startJumpgateEnv({
      emulator: { lro: { mode: "async", pollsBeforeDone: 1 }, runCommand: { env: { JUMPGATE_NODE_ROOT: root } } },
    });
    return new HealHarness(env, new StandInFleet(env.emulator), subscriptionId, root);
  }

  async stop(): Promise<void> {
    await this.env.stop();
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  spec(name: string, extra: Record<string, unknown> = {}): StackSpec {
    const r = validateStackSpec({
      name,
      subscriptionId: this.subscriptionId,
      resourceGroup: `rg-${name}`,
      location: "westeurope",
      fleet: { mode: "availabilitySet", size: 2 },
      ...extra,
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.spec;
  }

  /** Registers and deploys a stack the way PUT does (claim, deployStack, release); returns its instance id. */
  async deploy(spec: StackSpec, options: { run?: boolean; nodeReadyTimeoutMinutes?: number } = {}): Promise<string> {
    const { env } = this;
    const put = await env.registry.putDesired(spec.name, spec);
    assert.ok(put.ok);
    const instanceId = InstanceIds.deploy(spec.name, put.stack.generation, env.host.now.toISOString());
    const claimed = await env.registry.setOperation(spec.name, {
      kind: "deploy",
      instanceId,
      startedAt: env.host.now.toISOString(),
    });
    assert.ok(claimed.ok, "the stack is free to deploy");
    env.host.startNew(Names.orchestrators.deployStack, {
      instanceId,
      input: {
        spec,
        generation: put.stack.generation,
        nodeReadyTimeoutMinutes: options.nodeReadyTimeoutMinutes ?? 30,
        pollSeconds: 30,
        tickMs: 500,
      },
    });
    if (options.run === false) return instanceId;
    await env.host.runUntilIdle();
    const status = env.host.getStatus(instanceId)!;
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    return instanceId;
  }

  /** The stack's web VMs in the emulator, by name. */
  vmNames(spec: StackSpec): string[] {
    const names = stackNames(spec);
    const scaleSet = spec.fleet.mode === "scaleSet";
    const parent = (scaleSet ? names.scaleSetId : names.availabilitySetId).toLowerCase();
    const link = scaleSet ? "properties.virtualMachineScaleSet.id" : "properties.availabilitySet.id";
    return this.env.emulator.store
      .all()
      .filter((d) => d.type === "Microsoft.Compute/virtualMachines" && String(at(d, link)).toLowerCase() === parent)
      .map((d) => d.name)
      .sort();
  }

  /** A heal signal as the intake makes it, timed on the host's clock. */
  signal(spec: StackSpec, extra: Partial<StackSignal> = {}): StackSignal {
    const n = ++this.signalSeq;
    const time = this.env.host.now.toISOString();
    return {
      id: `sig-${spec.name}-${n}`,
      stack: spec.name,
      intent: "heal",
      condition: "Fired",
      rule: "web-probe",
      signalType: "Metric",
      summary: "DipAvailability < 100",
      alertId: `/subscriptions/${this.subscriptionId}/providers/Microsoft.AlertsManagement/alerts/a${n}`,
      at: time,
      receivedAt: time,
      ...extra,
    };
  }

  /** What the intake does: keep the signal, then start heal-<stack> or wake the running one. */
  async deliver(spec: StackSpec, s: StackSignal): Promise<void> {
    await this.env.inbox.record(s);
    this.wake(spec);
  }

  wake(spec: StackSpec): void {
    const id = InstanceIds.heal(spec.name);
    const current = this.env.host.getStatus(id);
    if (current && (current.runtimeStatus === "Running" || current.runtimeStatus === "Pending")) {
      this.env.host.raiseEvent(id, "signal", { stack: spec.name });
    } else {
      this.env.host.startNew(Names.orchestrators.healStack, { instanceId: id, input: { stack: spec.name } });
    }
  }

  healStatus(spec: StackSpec) {
    return this.env.host.getStatus(InstanceIds.heal(spec.name));
  }
}
