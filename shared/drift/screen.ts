// Drift screening from Azure Resource Graph: which resources of which stacks need an ARM read at all.
// Per subscription, one paged Resource Graph query returns every resource tagged with one of the
// stacks' names, with the properties the diff needs, and one paged ARM list (`Resources - List` with
// the tag filter and `$expand=changedTime`) gives ARM's own time of each resource's last change.
// A graph node is a suspect, to be confirmed with an ARM GET by the reconcile, when:
//   - Resource Graph does not show it (deleted, untagged, or not indexed yet);
//   - ARM changed it less than the lag ago (Resource Graph may still show the version before: a
//     change made less than the lag ago is confirmed through ARM, never missed);
//   - its Resource Graph document differs from the desired one (the same diff plan uses);
//   - or it is of a kind Resource Graph does not index (Key Vault secrets, role assignments, MySQL
//     databases and parameters, the resource group): those are read through ARM on the stack's full
//     check, every `fullCheckHours`.
// Everything else is in sync as far as Azure can tell, and costs nothing more this run.
import type { AzureClientFactory } from "../azure/clients";
import { kqlList, kqlString, queryResourceGraph } from "../azure/resource-graph";
import { changesOf } from "../arm/node-rules";
import { resolveRefs } from "../arm/refs";
import { isObject, type JsonObject } from "../arm/json-path";
import { STACK_TAG_NAME } from "../graph/names";
import type { GraphNode, ResourceKind, StackGraph } from "../graph/types";

/** Kinds Resource Graph's `resources` table holds (tracked ARM resources that carry the stack tag). */
export const RESOURCE_GRAPH_KINDS: ReadonlySet<ResourceKind> = new Set<ResourceKind>([
  "networkSecurityGroup",
  "virtualNetwork",
  "publicIpAddress",
  "loadBalancer",
  "privateDnsZone",
  "privateDnsZoneLink",
  "keyVault",
  "mysqlServer",
  "availabilitySet",
  "userAssignedIdentity",
  "virtualMachineScaleSet",
  "networkInterface",
  "virtualMachine",
  "metricAlert",
  "activityLogAlert",
]);

export interface DriftSuspect {
  key: string;
  id: string;
  /** why it is read through ARM, for the audit trail */
  why: string;
}

export interface ScreenedStack {
  stack: string;
  /** graph nodes to confirm through ARM (empty: in sync as far as Resource Graph and ARM's times tell) */
  suspects: DriftSuspect[];
  /** the full check is due: every node is read through ARM */
  full: boolean;
}

export interface StackToScreen {
  stack: string;
  graph: StackGraph;
  fullCheckDue: boolean;
}

export interface ScreenResult {
  stacks: ScreenedStack[];
  /** requests this screening made */
  requests: { resourceGraph: number; arm: number };
}

export interface ScreenOptions {
  /** how far Resource Graph may lag ARM */
  lagMs: number;
  now: Date;
  signal?: AbortSignal;
}

/** Screens the stacks of one subscription. */
export async function screenSubscription(
  factory: AzureClientFactory,
  subscription: string,
  stacks: readonly StackToScreen[],
  options: ScreenOptions,
): Promise<ScreenResult> {
  if (stacks.length === 0) return { stacks: [], requests: { resourceGraph: 0, arm: 0 } };
  const query =
    `resources | where tags[${kqlString(STACK_TAG_NAME)}] in ${kqlList(stacks.map((s) => s.stack))}` +
    " | project id, name, type, location, tags, properties, sku, kind, identity, zones";
  const graph = await queryResourceGraph<JsonObject & { id: string }>(factory, query, {
    subscriptions: [subscription],
    signal: options.signal,
  });
  const indexed = new Map(graph.rows.map((r) => [r.id.toLowerCase(), r]));
  const changed = await changedTimes(factory, subscription, options.signal);
  const since = options.now.getTime() - options.lagMs;

  const screened: ScreenedStack[] = [];
  for (const { stack, graph: stackGraph, fullCheckDue } of stacks) {
    const suspects: DriftSuspect[] = [];
    for (const node of stackGraph.nodes) {
      if (!RESOURCE_GRAPH_KINDS.has(node.kind)) continue;
      const why = await suspicion(node, stack, indexed, changed.times, since);
      if (why) suspects.push({ key: node.key, id: node.id, why });
    }
    screened.push({ stack, suspects, full: fullCheckDue });
  }
  return { stacks: screened, requests: { resourceGraph: graph.requests, arm: changed.requests } };
}

async function suspicion(
  node: GraphNode,
  stack: string,
  indexed: Map<string, JsonObject>,
  changed: Map<string, number>,
  since: number,
): Promise<string | undefined> {
  const row = indexed.get(node.id.toLowerCase());
  if (!row) return `Resource Graph shows no resource tagged ${STACK_TAG_NAME}=${stack} at this id`;
  const at = changed.get(node.id.toLowerCase());
  if (at !== undefined && at >= since) {
    return `ARM changed it at ${new Date(at).toISOString()}, less than Resource Graph's lag ago`;
  }
  const { body: desired, unresolved } = await resolveRefs(node.body, async (ref) =>
    ref.id ? indexed.get(ref.id.toLowerCase()) : undefined,
  );
  if (unresolved.length > 0)
    return `values it takes from ${unresolved.map((u) => u.node).join(", ")} are not in Resource Graph`;
  const changes = changesOf(node, desired, asArmDocument(row));
  if (changes.length === 0) return undefined;
  const paths = changes.slice(0, 5).map((c) => c.path);
  return `Resource Graph shows it differs at ${paths.join(", ")}${changes.length > 5 ? ` and ${changes.length - 5} more` : ""}`;
}

/** A Resource Graph row as the ARM document the diff compares (null columns are absent in ARM). */
function asArmDocument(row: JsonObject): JsonObject {
  const doc: JsonObject = {};
  for (const [k, v] of Object.entries(row)) if (v !== null && v !== "") doc[k] = v;
  if (!isObject(doc.properties)) doc.properties = {};
  return doc;
}

/** ARM's `changedTime` of every resource carrying the stack tag, by lower-cased id. */
async function changedTimes(
  factory: AzureClientFactory,
  subscription: string,
  signal?: AbortSignal,
): Promise<{ times: Map<string, number>; requests: number }> {
  const times = new Map<string, number>();
  let requests = 0;
  const pages = factory
    .resources(subscription)
    .resources.list({ filter: `tagName eq '${STACK_TAG_NAME}'`, expand: "changedTime", ...factory.call(signal) })
    .byPage();
  for await (const page of pages) {
    requests++;
    for (const r of page) {
      if (r.id && r.changedTime) times.set(r.id.toLowerCase(), r.changedTime.getTime());
    }
  }
  return { times, requests };
}
