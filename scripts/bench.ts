// `npm run bench`: measures the provisioning bars of DESIGN.md on the emulator and prints figures.
// - deploy makespan / the graph's critical path, under the emulator's realistic latency profile
//   (scaled down) with async long-running operations: bar <= 1.05
// - the reference deployment's serial sum under the same profile, for comparison
// - ARM requests per deploy, and ARM resource writes on a no-op redeploy: bar 0
// Web nodes answer through a stand-in agent that is healthy at once: node bring-up (cloud-init,
// guacd build) is not what this measures, resource orchestration is.
import * as fs from "node:fs";
import { DEFAULT_LATENCY } from "../emulator/arm/latency";
import { criticalPath } from "../shared/graph/order";
import { buildStackGraph } from "../shared/graph/stack-graph";
import type { GraphNode } from "../shared/graph/types";
import { standInAgentRoot } from "../test/support/stand-in-agent";
import { validateStackSpec } from "../shared/spec/validate";
import type { StackSpec } from "../shared/spec/types";
import { startJumpgateEnv, TENANT_ID } from "../test/support/jumpgate-env";

const SCALE = Number(process.env.BENCH_LATENCY_SCALE ?? "0.005");

/** What the reference runs one after the other (research/seed-deploy.md §1-2), by emulator type and verb. */
const REFERENCE_STEPS: [string, string, number][] = [
  ["microsoft.resources/resourcegroups", "put", 1],
  ["microsoft.dbformysql/flexibleservers", "put", 1], // az mysql server create (Single Server then)
  ["microsoft.dbformysql/flexibleservers/firewallrules", "put", 1],
  ["microsoft.network/virtualnetworks", "put", 1],
  ["microsoft.compute/availabilitysets", "put", 1],
  ["microsoft.network/networksecuritygroups", "put", 1], // created by the first az vm create
  ["microsoft.network/networkinterfaces", "put", 2],
  ["microsoft.compute/virtualmachines", "put", 2],
  ["microsoft.network/networksecuritygroups", "put", 2], // web-rule, ssl-rule
  ["microsoft.network/publicipaddresses", "put", 1],
  ["microsoft.network/loadbalancers", "put", 5], // create, probe, rule, https probe, https rule
  ["microsoft.network/networkinterfaces", "put", 2], // ip-config update into the pool, per VM
  ["microsoft.network/loadbalancers", "put", 2], // NAT rules ssh1, ssh2
  ["microsoft.compute/virtualmachines", "runcommand", 8], // install steps run per VM, in turn
];

function latencyOf(type: string, verb: string): number {
  const t = DEFAULT_LATENCY[type.toLowerCase()];
  return (t?.[verb] ?? t?.["*"] ?? 0) * SCALE;
}

function nodeDuration(node: GraphNode): number {
  if (node.kind === "keyVaultSecret") return 0;
  const armType = node.kind === "resourceGroup" ? "microsoft.resources/resourcegroups" : armTypeOf(node.id);
  const verb = node.kind === "mysqlConfiguration" ? "patch" : "put";
  return latencyOf(armType, verb);
}

function armTypeOf(id: string): string {
  const parts = id.split("/providers/").pop()!.split("/");
  const segments = [parts[0]];
  for (let i = 1; i < parts.length; i += 2) segments.push(parts[i]);
  return segments.join("/").toLowerCase();
}

function spec(mode: "availabilitySet" | "scaleSet"): StackSpec {
  const result = validateStackSpec({
    name: mode === "scaleSet" ? "benchvmss" : "benchavset",
    subscriptionId: "00000000-0000-0000-0000-00000000b001",
    resourceGroup: `rg-bench-${mode}`,
    location: "westeurope",
    fleet: { mode, size: 2 },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.spec;
}

async function benchMode(mode: "availabilitySet" | "scaleSet"): Promise<void> {
  const root = standInAgentRoot();
  const env = await startJumpgateEnv({
    emulator: {
      lro: { mode: "async", pollsBeforeDone: 1, retryAfterSeconds: 0 },
      latency: {
        scale: SCALE,
        types: {
          ...DEFAULT_LATENCY,
          "microsoft.compute/virtualmachines": {
            ...DEFAULT_LATENCY["microsoft.compute/virtualmachines"],
            runcommand: 0,
          },
        },
      },
      runCommand: { env: { JUMPGATE_NODE_ROOT: root } },
    },
    realTime: { timeScale: 1 },
  });
  try {
    const s = spec(mode);
    const graph = buildStackGraph(s, { tenantId: TENANT_ID, renderCustomData: () => "" });
    const cp = criticalPath(graph.nodes, nodeDuration);
    const { host, registry } = env;
    await registry.putDesired(s.name, s);
    const t0 = Date.now();
    const first = await host.run(
      "deployStack",
      { spec: s, generation: 1, nodeReadyTimeoutMinutes: 5, pollSeconds: 1, tickMs: Math.max(5, 2000 * SCALE) },
      { timeoutMs: 600_000 },
    );
    const makespan = Date.now() - t0;
    if (first.runtimeStatus !== "Completed")
      throw new Error(`deploy ${first.runtimeStatus}: ${JSON.stringify(first.output)}`);
    const requests = env.emulator.journal.list().filter((e) => e.operation !== "admin").length;
    const writes = env.emulator.journal.writes();
    env.emulator.journal.clear();
    const second = await host.run(
      "deployStack",
      { spec: s, generation: 1, nodeReadyTimeoutMinutes: 5, pollSeconds: 1, tickMs: Math.max(5, 2000 * SCALE) },
      { timeoutMs: 600_000 },
    );
    if (second.runtimeStatus !== "Completed") throw new Error(`redeploy ${second.runtimeStatus}`);
    const noOp = env.emulator.journal.writes();
    const resourceWrites = noOp.filter((e) => e.operation !== "action");
    const reference = REFERENCE_STEPS.reduce((sum, [type, verb, n]) => sum + n * latencyOf(type, verb), 0);
    const print = (label: string, value: string) => console.log(`  ${label.padEnd(52)} ${value}`);
    console.log(`\n${mode} (${graph.nodes.length} graph nodes, latency scale ${SCALE}, async LROs)`);
    print("critical path (ms)", cp.duration.toFixed(0));
    print("critical path", cp.keys.join(" -> "));
    print("deploy makespan incl. node bring-up (ms)", String(makespan));
    print("makespan / critical path (bar <= 1.05)", (makespan / cp.duration).toFixed(3));
    print("reference script serial sum (ms, same profile)", reference.toFixed(0));
    print("reference serial sum / our makespan", (reference / makespan).toFixed(2));
    print("ARM requests per deploy (incl. reads and polls)", String(requests));
    print("ARM writes per first deploy (incl. run commands)", String(writes.length));
    print("ARM resource writes on a no-op redeploy (bar 0)", String(resourceWrites.length));
    print("read-only run commands on a no-op redeploy", String(noOp.length - resourceWrites.length));
  } finally {
    await env.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  for (const mode of ["availabilitySet", "scaleSet"] as const) await benchMode(mode);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
