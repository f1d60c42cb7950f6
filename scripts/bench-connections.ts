// `npm run bench` (connections section): 2,000 tagged VMs over 10 subscriptions and, in each, a
// tagged Uniform scale set of 50 instances (500 in all: Resource Graph's computeresources), as the
// emulator's Resource Graph holds them, read through the app's client factory and queries; the desired set;
// the node agent's own diff program (its jq, run on this machine) against an empty Guacamole and
// against one that already has every connection. Prints Resource Graph requests, Key Vault reads,
// the size of what the Run Command carries, and the SQL statements of a first and a no-op sync.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { encodeDesired } from "../functions/activities/connections";
import { agentDesired, desiredConnections } from "../shared/connections/desired";
import { readInventory } from "../shared/connections/inventory";
import { stackNames } from "../shared/graph/names";
import { validateStackSpec } from "../shared/spec/validate";
import type { ResourceDoc } from "../emulator/arm/types";
import { startAzure } from "../dev/azure";

const SUBSCRIPTIONS = 10;
const VMS_PER_GROUP = 100;
const GROUPS_PER_SUBSCRIPTION = 2;
const UNIFORM_INSTANCES = 50;
const STACK_SUB = "00000000-0000-0000-0000-0000000be000";
const DEVS = "6c2d9e4f-1a3b-4c5d-8e7f-9a0b1c2d3e4f";
const sub = (i: number) => `00000000-0000-0000-0000-0000000be${String(i).padStart(3, "0")}`;

/** The agent's jq programs, as the agent file holds them (the very code a node runs). */
function agentJq(name: string): string {
  const text = fs.readFileSync(path.join(__dirname, "..", "..", "infra", "node", "jumpgate-node"), "utf8");
  const m = new RegExp(`readonly ${name}='([\\s\\S]*?)'\\n`).exec(text);
  if (!m) throw new Error(`${name} not found in the agent`);
  return m[1];
}

export async function benchConnections(): Promise<void> {
  const checked = validateStackSpec({
    name: "bench",
    subscriptionId: STACK_SUB,
    resourceGroup: "rg-bench",
    location: "westeurope",
    access: {
      tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      clientId: "8b1f6a3e-5c2d-4e7f-9a10-2b3c4d5e6f70",
      adminGroups: ["0f5e2c1a-7b3d-4e8f-9c60-1a2b3c4d5e6f"],
      userGroups: [DEVS],
    },
    connections: {
      sources: Array.from({ length: SUBSCRIPTIONS }, (_, i) => ({ subscriptionId: sub(i + 1), groups: [DEVS] })),
    },
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const spec = checked.spec;
  const az = await startAzure({ pageSize: 1000 });
  try {
    const docs: ResourceDoc[] = [];
    const vnetId = stackNames(spec).vnetId;
    docs.push({
      id: vnetId,
      name: "bench-vnet",
      type: "Microsoft.Network/virtualNetworks",
      location: "westeurope",
      properties: {
        addressSpace: { addressPrefixes: ["10.40.0.0/16"] },
        subnets: [],
        virtualNetworkPeerings: [
          {
            name: "hub",
            properties: { peeringState: "Connected", remoteAddressSpace: { addressPrefixes: ["10.64.0.0/10"] } },
          },
        ],
      },
    });
    let n = 0;
    for (let s = 1; s <= SUBSCRIPTIONS; s++)
      for (let g = 1; g <= GROUPS_PER_SUBSCRIPTION; g++) {
        const rg = `/subscriptions/${sub(s)}/resourceGroups/rg-app-${g}`;
        docs.push({
          id: rg,
          name: `rg-app-${g}`,
          type: "Microsoft.Resources/resourceGroups",
          location: "westeurope",
          properties: {},
        });
        for (let v = 1; v <= VMS_PER_GROUP; v++) {
          n++;
          const name = `app-${g}-${v}`;
          const vm = `${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
          const ip = `10.${64 + s}.${g}.${v}`;
          docs.push({
            id: `${rg}/providers/Microsoft.Network/networkInterfaces/${name}-nic`,
            name: `${name}-nic`,
            type: "Microsoft.Network/networkInterfaces",
            location: "westeurope",
            properties: {
              virtualMachine: { id: vm },
              ipConfigurations: [{ name: "ipc", properties: { privateIPAddress: ip, primary: true } }],
            },
          });
          docs.push({
            id: vm,
            name,
            type: "Microsoft.Compute/virtualMachines",
            location: "westeurope",
            tags: { "jumpgate-connect": ["ssh", "rdp", "vnc"][n % 3] },
            properties: { hardwareProfile: { vmSize: "Standard_B2s" } },
          });
        }
        if (g !== 1) continue;
        // a tagged Uniform scale set: its instances and their NICs are the scale set's children
        const set = `${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/pool`;
        docs.push({
          id: set,
          name: "pool",
          type: "Microsoft.Compute/virtualMachineScaleSets",
          location: "westeurope",
          tags: { "jumpgate-connect": "ssh" },
          sku: { name: "Standard_B2s", capacity: UNIFORM_INSTANCES },
          properties: { orchestrationMode: "Uniform" },
        });
        for (let i = 0; i < UNIFORM_INSTANCES; i++) {
          const instance = `${set}/virtualMachines/${i}`;
          docs.push({
            id: instance,
            name: `pool_${i}`,
            type: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
            location: "westeurope",
            properties: { networkProfile: { networkInterfaces: [{ id: `${instance}/networkInterfaces/nic` }] } },
          });
          docs.push({
            id: `${instance}/networkInterfaces/nic`,
            name: "nic",
            type: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces",
            location: "westeurope",
            properties: {
              primary: true,
              virtualMachine: { id: instance },
              ipConfigurations: [
                { name: "ipc", properties: { privateIPAddress: `10.${64 + s}.3.${i + 4}`, primary: true } },
              ],
            },
          });
        }
      }
    az.emulator.seed([
      {
        id: `/subscriptions/${STACK_SUB}/resourceGroups/rg-bench`,
        name: "rg-bench",
        type: "Microsoft.Resources/resourceGroups",
        location: "westeurope",
        properties: {},
      },
      ...docs,
    ]);
    const t0 = performance.now();
    const inventory = await readInventory(az.factory, spec, vnetId);
    const t1 = performance.now();
    const desired = desiredConnections(spec, inventory, {
      reachable: ["10.40.0.0/16", ...inventory.peeredPrefixes],
      credentials: [],
    });
    const t2 = performance.now();
    const agent = agentDesired(spec.name, desired);
    const stdin = encodeDesired(agent);
    console.log(
      `\nconnections (${n} tagged VMs and ${SUBSCRIPTIONS * UNIFORM_INSTANCES} Uniform scale set instances over ${SUBSCRIPTIONS} subscriptions, ${SUBSCRIPTIONS * GROUPS_PER_SUBSCRIPTION} resource groups)`,
    );
    console.log(
      `  Resource Graph requests per sync: ${inventory.requests} (VMs and scale sets, NICs, Uniform instances and their NICs, the stack's VNet; 1000 rows a page); ARM GETs per VM: 0`,
    );
    console.log(`  Key Vault reads per sync: 1 per credential reference of the spec (none here)`);
    console.log(
      `  inventory read ${(t1 - t0).toFixed(0)} ms, desired set ${(t2 - t1).toFixed(0)} ms: ${desired.connections.length} connections, ${desired.groups.length} groups, ${desired.skipped.length} skipped`,
    );
    console.log(
      `  Run Command stdin: ${(stdin.length / 1024).toFixed(1)} KiB (gzip + base64 of ${(JSON.stringify(agent).length / 1024).toFixed(0)} KiB of JSON)`,
    );

    // the agent's diff program on this machine's jq, against what its read would return
    const program = `$d[0] as $d | $c[0] as $creds | ${agentJq("CONNECTIONS_DIFF_JQ")}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-bench-conn-"));
    try {
      const desiredFile = path.join(dir, "desired.json");
      fs.writeFileSync(desiredFile, JSON.stringify(agent));
      fs.writeFileSync(path.join(dir, "creds.json"), "{}");
      const diff = (observed: object[]) => {
        const file = path.join(dir, "observed.jsonl");
        fs.writeFileSync(file, observed.map((o) => JSON.stringify(o)).join("\n") + "\n");
        const started = performance.now();
        const out = execFileSync(
          "jq",
          ["-s", "--slurpfile", "d", desiredFile, "--slurpfile", "c", path.join(dir, "creds.json"), program, file],
          {
            maxBuffer: 256 * 1024 * 1024,
          },
        );
        const plan = JSON.parse(out.toString()) as { stmts: string[]; created: number };
        return { statements: plan.stmts.length, created: plan.created, ms: performance.now() - started };
      };
      const entity = { k: "e", name: DEVS };
      const first = diff([entity, { k: "fp", fp: "0" }]);
      // what the read returns once every group and connection exists as the first sync made them
      const ids = new Map(agent.groups.map((g, i) => [g.key, i + 1]));
      const observed: object[] = [entity, { k: "fp", fp: "1" }];
      for (const g of agent.groups)
        observed.push({
          k: "g",
          id: ids.get(g.key),
          name: g.name,
          parent: g.parent ? ids.get(g.parent) : null,
          mark: spec.name,
          key: g.key,
          perms: [DEVS],
        });
      agent.connections.forEach((c, i) =>
        observed.push({
          k: "c",
          id: i + 1,
          name: c.name,
          parent: ids.get(c.group),
          protocol: c.protocol,
          mark: spec.name,
          key: c.key,
          cred: null,
          params: c.parameters,
          perms: c.groups,
        }),
      );
      const noop = diff(observed);
      console.log(
        `  SQL of the first sync: ${first.statements} statements in one transaction (${first.created} connections: 5 each, groups 3 each, READ on groups), 4 reads; diff ${first.ms.toFixed(0)} ms`,
      );
      console.log(
        `  SQL of a sync with nothing to change (a forced one): ${noop.statements} writes, 4 reads; diff ${noop.ms.toFixed(0)} ms`,
      );
      console.log(
        `  an unchanged inventory on the timer: 0 Run Commands, 0 SQL (the desired set's digest matches the ledger)`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await az.stop();
  }
}
