// Drift screening from Azure Resource Graph: which resources of which stacks need an ARM read at all.
// Per subscription and run, two paged Resource Graph queries and one paged ARM list:
//   - `resources`: every resource tagged with one of the stacks' names, with the properties the diff
//     needs (tracked resources, private DNS zone virtual network links included);
//   - `authorizationresources`: the role assignments in the stacks' resource groups (they carry no
//     tags; Resource Graph keeps them in that table);
//   - ARM's `Resources - List` of the stacks' resource groups with `$expand=changedTime`: ARM's own
//     time of each tracked resource's last change, without Resource Graph's lag. It filters by
//     `substringof(group, resourceGroup)`, not by tag: ARM documents that `$expand` may not be
//     honoured together with a tag filter.
// A graph node is a suspect, to be confirmed with an ARM GET by the reconcile, when:
//   - Resource Graph does not show it (deleted, untagged, or not indexed yet);
//   - ARM changed it less than the lag ago (Resource Graph may still show the version before: a
//     change made less than the lag ago is confirmed through ARM, never missed);
//   - its Resource Graph document differs from the desired one (the same diff plan uses).
// Kinds Resource Graph does not index (Key Vault secrets, which live in the data plane; MySQL
// databases and server parameters, proxy resources in no table; the resource group itself) are read
// through ARM on the stack's full check, every `fullCheckHours`.
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

/** Kinds Resource Graph's `authorizationresources` table holds. */
export const AUTHORIZATION_KINDS: ReadonlySet<ResourceKind> = new Set<ResourceKind>(["roleAssignment"]);

/** Longest `$filter` one list request carries; more resource groups take more requests. */
const MAX_FILTER_LENGTH = 1500;

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
  const groups = [...new Set(stacks.map((s) => resourceGroupOf(s.graph)).filter((g): g is string => !!g))];
  const needsAuthorization = stacks.some((s) => s.graph.nodes.some((n) => AUTHORIZATION_KINDS.has(n.kind)));
  const grants =
    needsAuthorization && groups.length > 0
      ? await queryResourceGraph<JsonObject & { id: string }>(
          factory,
          "authorizationresources | where type =~ 'microsoft.authorization/roleassignments'" +
            ` | where resourceGroup in~ ${kqlList(groups)} | project id, name, type, properties`,
          { subscriptions: [subscription], signal: options.signal },
        )
      : { rows: [], requests: 0, totalRecords: 0 };
  const indexed = new Map([...graph.rows, ...grants.rows].map((r) => [r.id.toLowerCase(), r]));
  const changed = await changedTimes(factory, subscription, groups, options.signal);
  const since = options.now.getTime() - options.lagMs;

  const screened: ScreenedStack[] = [];
  for (const { stack, graph: stackGraph, fullCheckDue } of stacks) {
    const suspects: DriftSuspect[] = [];
    for (const node of stackGraph.nodes) {
      if (!RESOURCE_GRAPH_KINDS.has(node.kind) && !AUTHORIZATION_KINDS.has(node.kind)) continue;
      const why = await suspicion(node, stack, indexed, changed.times, since);
      if (why) suspects.push({ key: node.key, id: node.id, why });
    }
    screened.push({ stack, suspects, full: fullCheckDue });
  }
  return {
    stacks: screened,
    requests: { resourceGraph: graph.requests + grants.requests, arm: changed.requests },
  };
}

async function suspicion(
  node: GraphNode,
  stack: string,
  indexed: Map<string, JsonObject>,
  changed: Map<string, number>,
  since: number,
): Promise<string | undefined> {
  const row = indexed.get(node.id.toLowerCase());
  if (!row) {
    return AUTHORIZATION_KINDS.has(node.kind)
      ? "Resource Graph shows no role assignment at this id"
      : `Resource Graph shows no resource tagged ${STACK_TAG_NAME}=${stack} at this id`;
  }
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

/** ARM's `changedTime` of every tracked resource in these resource groups, by lower-cased id. */
async function changedTimes(
  factory: AzureClientFactory,
  subscription: string,
  groups: readonly string[],
  signal?: AbortSignal,
): Promise<{ times: Map<string, number>; requests: number }> {
  const times = new Map<string, number>();
  let requests = 0;
  for (const filter of groupFilters(groups)) {
    const pages = factory
      .resources(subscription)
      .resources.list({ filter, expand: "changedTime", ...factory.call(signal) })
      .byPage();
    for await (const page of pages) {
      requests++;
      for (const r of page) {
        if (r.id && r.changedTime) times.set(r.id.toLowerCase(), r.changedTime.getTime());
      }
    }
  }
  return { times, requests };
}

/**
 * `substringof('<group>', resourceGroup) or ...` filters, each at most MAX_FILTER_LENGTH long. A
 * substring may also match a longer group's name: those rows are read and not used.
 */
export function groupFilters(groups: readonly string[]): string[] {
  const filters: string[] = [];
  let current = "";
  for (const group of groups) {
    const term = `substringof('${group.replace(/'/g, "''")}', resourceGroup)`;
    if (current && current.length + term.length + 4 > MAX_FILTER_LENGTH) {
      filters.push(current);
      current = "";
    }
    current = current ? `${current} or ${term}` : term;
  }
  if (current) filters.push(current);
  return filters;
}

/** The name of the stack's resource group, from its graph. */
function resourceGroupOf(graph: StackGraph): string | undefined {
  const node = graph.nodes.find((n) => n.kind === "resourceGroup");
  const id = node?.id ?? graph.nodes[0]?.id;
  return id ? /\/resourcegroups\/([^/]+)/i.exec(id)?.[1] : undefined;
}
