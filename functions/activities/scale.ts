// Activities of the scale orchestration: read what it needs (pending signals, the spec and the fleet's
// members), measure the load a scale-out alert claims (Azure Monitor only), claim the stack, observe
// the member nodes (agent health, CPU from Azure Monitor), keep
// the fleet state, remove a scale set instance, and record outcomes. Each is idempotent: a retried
// or replayed call reads again and writes only what differs.
import { ALERT_METRICS } from "../../shared/azure/metrics";
import type { ScaleMetricClaim, StackSignal } from "../../shared/alerts/signal";
import { stackNames, webNodeNames } from "../../shared/graph/names";
import type { AppUserSlot } from "../../shared/node/constants";
import { joinSignIn } from "../../shared/access/plan";
import { publicHostnameOf, signInAuthority } from "../../shared/access/sign-in";
import { appUserForNewNode, type JoinSignIn } from "../../shared/node/join";
import { nodeHealth, summarize, type NodeSummary, type WebNodeRef } from "../../shared/node/model";
import { runAgentCommand } from "../../shared/node/run-agent";
import { effectiveFleet, type EffectiveFleet } from "../../shared/scale/fleet";
import type { LoadReading } from "../../shared/scale/corroborate";
import { SECRET_NAMES } from "../../shared/secret-names";
import type { StackSpec } from "../../shared/spec/types";
import type { FleetChange, FleetMembersInput, StackOperation } from "../../shared/store";
import { intentsOf } from "../alert-wake";
import { services } from "../services";
import { listWebNodesActivity } from "./nodes";
import { claimFor, type ClaimInput } from "./registry";
import { tlsBundleStored } from "../stack-graph";

/** What the orchestration decides with: the stack's spec and its fleet as scaling left it. */
export interface ScaleView {
  registered: boolean;
  spec?: StackSpec;
  generation?: number;
  /** the members the graph is built from now */
  fleet?: EffectiveFleet;
  /** the last scale action (the cooldown counts from it) */
  lastScale?: FleetChange;
  /** a teardown is running or the stack is being deleted: scaling has nothing to do */
  tearingDown?: boolean;
  /** how long a new node may take to come up (the app's setting) */
  nodeReadyTimeoutMinutes?: number;
  /** the app user a new node logs in as (shared/node/join.ts) */
  dbUserSlot?: AppUserSlot;
  /** the sign-in settings a new node gets (absent: the stack has no `access`, or a view from before) */
  signIn?: JoinSignIn;
}

function joinSignInOf(spec: StackSpec): { signIn?: JoinSignIn } {
  const signIn = joinSignIn(spec, { publicHostname: publicHostnameOf(spec), authority: signInAuthority() });
  return signIn ? { signIn } : {};
}

async function readView(stack: string): Promise<ScaleView> {
  const { registry, fleet, nodeReadyTimeoutMinutes } = services();
  const record = await registry.get(stack);
  if (!record) return { registered: false };
  const kept = await fleet.get(stack);
  return {
    registered: true,
    spec: record.spec,
    generation: record.generation,
    fleet: effectiveFleet(record.spec, kept),
    ...(kept?.lastScale ? { lastScale: kept.lastScale } : {}),
    ...(record.operation?.kind === "teardown" ? { tearingDown: true } : {}),
    nodeReadyTimeoutMinutes,
    dbUserSlot: appUserForNewNode(record.observed),
    ...joinSignInOf(record.spec),
  };
}

export interface TakeScaleSignalsOutput extends ScaleView {
  /** pending scale-out and scale-in signals, oldest first */
  signals: StackSignal[];
}

/** Reads the pending scale signals and the view to decide on; consumes nothing. */
export async function takeScaleSignalsActivity(input: { stack: string }): Promise<TakeScaleSignalsOutput> {
  const signals = await services().inbox.pending(input.stack, { intents: intentsOf("scale") });
  if (signals.length === 0) return { registered: true, signals };
  return { ...(await readView(input.stack)), signals };
}

export type ClaimForScaleOutput =
  ({ ok: true } & ScaleView) | { ok: false; gone: true } | { ok: false; gone?: false; running: StackOperation };

const claimForScale = claimFor("scale");

/**
 * Claims the stack for this scale orchestration (one writer per stack), and on success reads the
 * spec and members again: a deploy that ran while the scale waited may have changed them.
 */
export async function claimForScaleActivity(input: ClaimInput): Promise<ClaimForScaleOutput> {
  const claimed = await claimForScale(input);
  if (!claimed.ok) return claimed;
  return { ok: true, ...(await readView(input.stack)) };
}

export interface ObserveScaleFleetInput {
  spec: StackSpec;
  /** availability set: the member node numbers; scale set: every instance is a member */
  ordinals: number[];
  /** read Percentage CPU from Azure Monitor over this many minutes (0: don't) */
  cpuMinutes: number;
}

/**
 * The member nodes as they are now: each VM's agent health (live sessions, draining), and CPU from
 * Azure Monitor when it has data. A member without a VM is reported (exists: false), so the policy
 * counts it as unhealthy; CPU that can't be read stays unknown rather than failing the observation.
 */
export async function observeScaleFleetActivity(input: ObserveScaleFleetInput): Promise<NodeSummary[]> {
  const { spec } = input;
  const { factory } = services();
  const listed = await listWebNodesActivity({ spec });
  let members: (WebNodeRef & { exists: boolean; ordinal?: number })[];
  if (spec.fleet.mode === "availabilitySet") {
    members = input.ordinals.map((ordinal) => {
      const names = webNodeNames(spec, ordinal);
      const vm = listed.find((v) => v.name.toLowerCase() === names.vm.toLowerCase());
      return { name: names.vm, id: vm?.id ?? names.vmId, exists: vm !== undefined, ordinal };
    });
  } else {
    members = listed.map((v) => ({ ...v, exists: true }));
  }
  const cpu =
    input.cpuMinutes > 0
      ? await readCpu(
          spec,
          members.filter((m) => m.exists).map((m) => m.id),
          input.cpuMinutes,
        )
      : {};
  const at = new Date();
  return Promise.all(
    members.map(async (m): Promise<NodeSummary> => {
      const cpuOf = cpu[m.id.toLowerCase()];
      const extra = {
        exists: m.exists,
        ...(m.ordinal !== undefined ? { ordinal: m.ordinal } : {}),
        ...(cpuOf !== undefined ? { cpu: cpuOf } : {}),
      };
      if (!m.exists) {
        return {
          name: m.name,
          id: m.id,
          healthy: false,
          answered: false,
          ...extra,
          problems: ["no VM"],
          checkedAt: at.toISOString(),
        };
      }
      const health = nodeHealth(
        await runAgentCommand(factory, {
          subscriptionId: spec.subscriptionId,
          resourceGroup: spec.resourceGroup,
          vmName: m.name,
          command: "health",
        }),
      );
      return summarize(m.name, m.id, health, at, { answered: health.answered, ...extra });
    }),
  );
}

export interface ReadScaleLoadInput {
  spec: StackSpec;
  /** availability set: the member node numbers; scale set: every instance is a member */
  ordinals: number[];
  /** the metrics to read (what the pending signals claim) */
  metrics: ScaleMetricClaim[];
  windowMinutes: number;
}

/**
 * What Azure Monitor measures of the member nodes, per metric, averaged over the last
 * `windowMinutes`: Percentage CPU of each VM, or the `jumpgate/liveSessions` its agent publishes
 * (on the VM in an availability set; on the scale set, split by VMName, in scale-set mode). Reads
 * only: no Run Command, no write, so a forged alert costs a metrics query and nothing else. A query
 * that fails gives a reading without data (and why), never a failed activity.
 */
export async function readScaleLoadActivity(input: ReadScaleLoadInput): Promise<LoadReading[]> {
  const { spec } = input;
  const listed = await listWebNodesActivity({ spec });
  const members =
    spec.fleet.mode === "availabilitySet"
      ? input.ordinals.flatMap((ordinal) => {
          const vm = webNodeNames(spec, ordinal).vm.toLowerCase();
          return listed.filter((v) => v.name.toLowerCase() === vm);
        })
      : listed;
  const nameOfId = new Map(members.map((m) => [m.id.toLowerCase(), m.name.toLowerCase()]));
  const readings: LoadReading[] = [];
  for (const metric of [...new Set(input.metrics)]) {
    const reading: LoadReading = { metric, perNode: {}, windowMinutes: input.windowMinutes };
    try {
      if (metric === "cpu") {
        const byId = await readCpu(
          spec,
          members.map((m) => m.id),
          input.windowMinutes,
          { throwOnError: true },
        );
        for (const [id, value] of Object.entries(byId)) {
          const name = nameOfId.get(id);
          if (name) reading.perNode[name] = value;
        }
      } else {
        reading.perNode = await readPublishedSessions(spec, members, input.windowMinutes);
      }
    } catch (error) {
      reading.error = `metrics query failed: ${firstLine(error)}`;
    }
    readings.push(reading);
  }
  return readings;
}

/** Average published live sessions per member VM name (lower case) over the last `minutes`. */
async function readPublishedSessions(
  spec: StackSpec,
  members: WebNodeRef[],
  minutes: number,
): Promise<Record<string, number>> {
  if (members.length === 0) return {};
  const { factory } = services();
  const { namespace, name } = ALERT_METRICS.liveSessions;
  const endTime = new Date();
  const window = {
    startTime: new Date(endTime.getTime() - minutes * 60_000),
    endTime,
    interval: "PT1M",
    aggregation: "Average",
  };
  const found: Record<string, number> = {};
  const memberNames = new Set(members.map((m) => m.name.toLowerCase()));
  if (spec.fleet.mode === "scaleSet") {
    // the instances publish about the scale set, each with its own name as VMName
    const [result] = await factory
      .metrics(spec.location)
      .queryResources([stackNames(spec).scaleSetId], [name], namespace, {
        ...window,
        filter: "VMName eq '*'",
        ...factory.call(),
      });
    for (const series of result?.metrics[0]?.timeseries ?? []) {
      const vm = series.metadatavalues?.find((m) => metadataName(m.name) === "vmname")?.value?.toLowerCase();
      const value = averageOf(series.data);
      if (vm && memberNames.has(vm) && value !== undefined) found[vm] = value;
    }
    return found;
  }
  const results = await factory.metrics(spec.location).queryResources(
    members.map((m) => m.id),
    [name],
    namespace,
    { ...window, ...factory.call() },
  );
  for (const r of results) {
    const vm = members.find((m) => m.id.toLowerCase() === r.resourceId?.toLowerCase())?.name.toLowerCase();
    const value = averageOf((r.metrics[0]?.timeseries ?? []).flatMap((ts) => ts.data ?? []));
    if (vm && value !== undefined) found[vm] = value;
  }
  return found;
}

/**
 * A dimension's name in a metrics answer, lower case. The client's typings say string, but it
 * deserializes Azure's `{value, localizedValue}` object as it is: take either.
 */
function metadataName(name: unknown): string | undefined {
  const text = typeof name === "string" ? name : (name as { value?: unknown } | undefined)?.value;
  return typeof text === "string" ? text.toLowerCase() : undefined;
}

function averageOf(points: { average?: number | null }[] | undefined): number | undefined {
  const values = (points ?? []).map((p) => p.average).filter((v): v is number => typeof v === "number");
  if (values.length === 0) return undefined;
  return Math.round((values.reduce((a, v) => a + v, 0) / values.length) * 10) / 10;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0].slice(0, 300);
}

/** Average Percentage CPU per VM id (lower case) over the last `minutes`; VMs without data are left out. */
async function readCpu(
  spec: StackSpec,
  vmIds: string[],
  minutes: number,
  options: { throwOnError?: boolean } = {},
): Promise<Record<string, number>> {
  if (vmIds.length === 0) return {};
  const { factory } = services();
  const end = new Date();
  const start = new Date(end.getTime() - minutes * 60_000);
  const found: Record<string, number> = {};
  try {
    const results = await factory
      .metrics(spec.location)
      .queryResources(vmIds, ["Percentage CPU"], "Microsoft.Compute/virtualMachines", {
        startTime: start,
        endTime: end,
        interval: "PT1M",
        aggregation: "Average",
        ...factory.call(),
      });
    for (const r of results) {
      const points = (r.metrics[0]?.timeseries ?? []).flatMap((ts) => ts.data ?? []);
      const values = points.map((p) => p.average).filter((v): v is number => typeof v === "number");
      if (r.resourceId && values.length > 0) {
        found[r.resourceId.toLowerCase()] = Math.round((values.reduce((a, v) => a + v, 0) / values.length) * 10) / 10;
      }
    }
  } catch (error) {
    // for scale-in, metrics are a help, not a must: the policy treats unknown CPU as unknown
    if (options.throwOnError) throw error;
  }
  return found;
}

export interface RecordFleetInput {
  stack: string;
  members: FleetMembersInput;
  change?: FleetChange;
}

/** Keeps the fleet's members (and records a scale action); idempotent by the change's id. */
export async function recordFleetActivity(input: RecordFleetInput): Promise<void> {
  await services().fleet.setMembers(input.stack, input.members, input.change ? { change: input.change } : {});
}

/** The Key Vault secret of the stack's TLS bundle when it has one, so a new node gets it too. */
export async function fleetCertificateActivity(input: { spec: StackSpec }): Promise<string | null> {
  return (await tlsBundleStored(input.spec)) ? SECRET_NAMES.tlsBundle : null;
}

export interface RemoveScaleSetInstanceInput {
  spec: StackSpec;
  vmName: string;
}

/**
 * Deletes one instance of the stack's Flexible scale set (`deleteInstances`, which lowers the
 * capacity with it: research/arm-contract.md §2.5). Only a VM of this scale set is deleted; one
 * that is already gone is fine.
 */
export async function removeScaleSetInstanceActivity(
  input: RemoveScaleSetInstanceInput,
): Promise<{ removed: boolean; capacity?: number }> {
  const { spec } = input;
  const { factory } = services();
  const names = stackNames(spec);
  const compute = factory.compute(spec.subscriptionId);
  const members = await listWebNodesActivity({ spec });
  if (!members.some((m) => m.name.toLowerCase() === input.vmName.toLowerCase())) {
    const set = await compute.virtualMachineScaleSets.get(spec.resourceGroup, names.scaleSet, factory.call());
    return { removed: false, capacity: set.sku?.capacity };
  }
  await compute.virtualMachineScaleSets.deleteInstances(
    spec.resourceGroup,
    names.scaleSet,
    { instanceIds: [input.vmName] },
    factory.lro(),
  );
  const set = await compute.virtualMachineScaleSets.get(spec.resourceGroup, names.scaleSet, factory.call());
  return { removed: true, capacity: set.sku?.capacity };
}

export interface RecordScaleObservedInput {
  stack: string;
  /** nodes seen healthy after a scale-out */
  add?: NodeSummary[];
  /** the VM a scale-in removed */
  remove?: string;
}

/** Keeps the registry's observed nodes in step with the fleet after a scale action. */
export async function recordScaleObservedActivity(input: RecordScaleObservedInput): Promise<void> {
  const { registry } = services();
  const record = await registry.get(input.stack);
  if (!record?.observed || record.observedGeneration < 1) return;
  const removed = input.remove?.toLowerCase();
  const added = new Set((input.add ?? []).map((n) => n.name.toLowerCase()));
  const nodes = [
    ...record.observed.nodes.filter((n) => n.name.toLowerCase() !== removed && !added.has(n.name.toLowerCase())),
    ...(input.add ?? []),
  ].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  await registry.putObserved(input.stack, { ...record.observed, nodes }, { generation: record.observedGeneration });
}
