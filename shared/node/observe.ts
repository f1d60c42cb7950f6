// One look at one web node from outside and inside: the VM as ARM reports it (power, provisioning,
// NIC), the load balancer's probe of its private IP (Azure Monitor's DipAvailability), and its
// agent's health through Run Command. Reads only. Heal observes nodes this way; the deploy's
// in-service check reads the probe the same way.
import type { AzureClientFactory } from "../azure/clients";
import { stackNames } from "../graph/names";
import type { StackSpec } from "../spec/types";
import { nodeHealth, type NodeHealth, type NodeObservation, type PowerState, type ProbeReading } from "./model";
import { errorCode, runAgentCommand } from "./run-agent";

/** How far back the probe metric is read: Azure Monitor lags a minute or two. */
const PROBE_WINDOW_MS = 10 * 60_000;
/** A health check through Run Command gives up after this (a hung VM can keep Run Command waiting). */
const AGENT_HEALTH_TIMEOUT_MS = 5 * 60_000;

const NO_AGENT: NodeHealth = { reachable: false, answered: false, healthy: false, failing: [], problems: [] };

/** The node as it is now; `skipAgent`: by ARM and the probe alone (a VM just recreated). */
export async function observeWebNode(
  factory: AzureClientFactory,
  spec: StackSpec,
  vmName: string,
  options: { skipAgent?: boolean } = {},
): Promise<NodeObservation> {
  const compute = factory.compute(spec.subscriptionId);
  const at = new Date().toISOString();
  let vm;
  try {
    vm = await compute.virtualMachines.get(spec.resourceGroup, vmName, { ...factory.call(), expand: "instanceView" });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) {
      return {
        name: vmName,
        exists: false,
        power: "unknown",
        provisioning: "absent",
        probe: { state: "unknown" },
        agent: NO_AGENT,
        at,
      };
    }
    throw e;
  }
  const statuses = vm.instanceView?.statuses ?? [];
  const power = (statuses.find((st) => st.code?.startsWith("PowerState/"))?.code?.slice("PowerState/".length) ??
    "unknown") as PowerState;
  const provisioning = (vm.provisioningState ?? "unknown").toLowerCase();
  const nicId = primaryNicId(vm.networkProfile?.networkInterfaces);
  // the outside look (NIC, probe) while the Run Command runs: neither waits for the other
  const outside = (async () => {
    const ip = nicId ? await privateIpOf(factory, spec, nicId) : undefined;
    const reading: ProbeReading = ip ? await probeOf(factory, spec, ip) : { state: "unknown", note: "no private IP" };
    return { ip, reading };
  })();
  const inside = power === "running" && !options.skipAgent ? agentHealth(factory, spec, vmName) : NO_AGENT;
  const [{ ip: privateIp, reading: probe }, agent] = await Promise.all([outside, inside]);
  return {
    name: vmName,
    exists: true,
    ...(vm.id ? { id: vm.id } : {}),
    ...(vm.vmId ? { vmId: vm.vmId } : {}),
    power,
    provisioning,
    ...(nicId ? { nicId } : {}),
    ...(privateIp ? { privateIp } : {}),
    ...(vm.zones?.length ? { zones: vm.zones } : {}),
    probe,
    agent,
    at,
  };
}

/** The load balancer's probe of a VM, by ARM id of its primary NIC's private IP. */
export async function probeOfVm(factory: AzureClientFactory, spec: StackSpec, vmName: string): Promise<ProbeReading> {
  const vm = await factory.compute(spec.subscriptionId).virtualMachines.get(spec.resourceGroup, vmName, factory.call());
  const nicId = primaryNicId(vm.networkProfile?.networkInterfaces);
  const ip = nicId ? await privateIpOf(factory, spec, nicId) : undefined;
  return ip ? probeOf(factory, spec, ip) : { state: "unknown", note: "no private IP" };
}

function primaryNicId(nics: { id?: string; primary?: boolean }[] | undefined): string | undefined {
  return (nics?.find((n) => n.primary) ?? nics?.[0])?.id;
}

async function privateIpOf(factory: AzureClientFactory, spec: StackSpec, nicId: string): Promise<string | undefined> {
  const rg = /\/resourceGroups\/([^/]+)\//i.exec(nicId)?.[1] ?? spec.resourceGroup;
  const name = nicId.split("/").pop()!;
  const nic = await factory.network(spec.subscriptionId).networkInterfaces.get(rg, name, factory.call());
  const configs = nic.ipConfigurations ?? [];
  return (configs.find((c) => c.primary) ?? configs[0])?.privateIPAddress;
}

/** `DipAvailability` of one backend: the latest average within the window, "unknown" without data. */
async function probeOf(factory: AzureClientFactory, spec: StackSpec, ip: string): Promise<ProbeReading> {
  const lbId = stackNames(spec).loadBalancerId;
  const endTime = new Date();
  try {
    const [result] = await factory
      .metrics(spec.location)
      .queryResources([lbId], ["DipAvailability"], "Microsoft.Network/loadBalancers", {
        startTime: new Date(endTime.getTime() - PROBE_WINDOW_MS),
        endTime,
        interval: "PT1M",
        aggregation: "Average",
        filter: `BackendIPAddress eq '${ip}'`,
        ...factory.call(),
      });
    const series = result?.metrics?.[0]?.timeseries ?? [];
    const points = series.flatMap((t) => t.data ?? []).filter((p) => typeof p.average === "number");
    points.sort((a, b) => new Date(a.timeStamp).getTime() - new Date(b.timeStamp).getTime());
    const latest = points.at(-1)?.average;
    if (latest === undefined || latest === null) return { state: "unknown", note: "no probe data for this backend" };
    return { state: latest >= 50 ? "up" : "down", value: latest };
  } catch (e) {
    // no metric is not a broken node: the verdict needs the other signals then
    return { state: "unknown", note: `metrics query failed: ${firstLine(e)}` };
  }
}

/** The agent's health; a Run Command already running (someone else's) or one that hangs is said so. */
async function agentHealth(factory: AzureClientFactory, spec: StackSpec, vmName: string): Promise<NodeHealth> {
  try {
    return nodeHealth(
      await runAgentCommand(
        factory,
        { subscriptionId: spec.subscriptionId, resourceGroup: spec.resourceGroup, vmName, command: "health" },
        AbortSignal.timeout(AGENT_HEALTH_TIMEOUT_MS),
      ),
    );
  } catch (e) {
    if (errorCode(e) === "Conflict" || (e as { statusCode?: number }).statusCode === 409) {
      // one Run Command at a time per VM: someone else's is running
      return { reachable: true, answered: false, healthy: false, busy: true, failing: [], problems: [firstLine(e)] };
    }
    if ((e as { name?: string }).name === "AbortError" || /abort/i.test(firstLine(e))) {
      return {
        ...NO_AGENT,
        problems: [`Run Command did not answer within ${AGENT_HEALTH_TIMEOUT_MS / 60_000} minutes`],
      };
    }
    throw e;
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 300);
}
