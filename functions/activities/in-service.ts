// Whether a deploy may leave the web nodes alone: the cheap check that makes a redeploy that changes
// nothing a true no-op (no Run Command, which is an ARM write, and no admin password anywhere).
//
// It trusts what the registry recorded only as far as that still holds, and re-checks the rest
// from what the nodes already publish: the load balancer probe of each node (Azure Monitor's
// DipAvailability per backend), which answers 200 only while the node's own health check passes,
// and that check logs in to Guacamole's database as the app user its properties name. Reads only.
import { normalizeSerial } from "../../shared/acme/certificate";
import { stackNames } from "../../shared/graph/names";
import { nodeOrDatabaseWrites } from "../../shared/graph/stack-graph";
import type { StackSpec } from "../../shared/spec/types";
import type { NodeSummary, WebNodeRef } from "../../shared/node/model";
import { probeOfVm } from "../../shared/node/observe";
import type { DatabaseObserved } from "../../shared/stack-status";
import { services } from "../services";

export interface CheckNodesInServiceInput {
  spec: StackSpec;
  /** the web nodes as ARM lists them now */
  nodes: WebNodeRef[];
  /** graph keys this deploy created, updated or replaced */
  written: string[];
  /** the certificate every node must serve (the deploy's `certificate`) */
  certificateSerial?: string;
  /** the orchestration's time */
  at: string;
}

export type CheckNodesInServiceOutput =
  | { inService: true; why: string; nodes: NodeSummary[]; database: DatabaseObserved }
  | { inService: false; why: string };

/**
 * In service when: this deploy wrote nothing to the web nodes or the database; the registry says a
 * deploy bootstrapped (or checked) this server's database for this Guacamole release; every web node
 * is one the registry recorded healthy (same ARM id), serving the stack's certificate if it has one
 * (as recorded by the deploy or verified by the certificate worker); and the load balancer's probe
 * of every node says up now.
 */
export async function checkNodesInServiceActivity(input: CheckNodesInServiceInput): Promise<CheckNodesInServiceOutput> {
  const { spec } = input;
  const s = services();
  const no = (why: string): CheckNodesInServiceOutput => ({ inService: false, why });
  const touched = nodeOrDatabaseWrites(input.written);
  if (touched.length > 0) return no(`this deploy changed ${touched.join(", ")}`);
  if (input.nodes.length === 0) return no("the stack has no web nodes");

  const observed = (await s.registry.get(spec.name))?.observed;
  const database = observed?.database;
  const server = stackNames(spec).mysqlServerId.toLowerCase();
  if (!database || database.server !== server || database.schema !== spec.guacamole.version) {
    return no(
      `no deploy has bootstrapped or checked the database of ${server} for Guacamole ${spec.guacamole.version}`,
    );
  }
  const ledger = input.certificateSerial ? await s.certificates.get(spec.name) : undefined;
  const recorded: NodeSummary[] = [];
  for (const n of input.nodes) {
    const seen = observed?.nodes.find((o) => o.name.toLowerCase() === n.name.toLowerCase());
    if (!seen || seen.id.toLowerCase() !== n.id.toLowerCase()) return no(`${n.name} is not a node a deploy brought up`);
    if (!seen.healthy) return no(`${n.name} was last seen unhealthy`);
    if (input.certificateSerial) {
      const want = normalizeSerial(input.certificateSerial);
      const verified = ledger?.nodes.find((x) => x.node.toLowerCase() === n.name.toLowerCase())?.serial;
      const serves = [seen.certificate?.serial, verified].some((x) => x !== undefined && normalizeSerial(x) === want);
      if (!serves) return no(`${n.name} is not known to serve certificate ${input.certificateSerial}`);
    }
    recorded.push(seen);
  }

  // what holds now: each node's load balancer probe (its deep health check, database login included)
  for (const n of input.nodes) {
    const probe = await probeOfVm(s.factory, spec, n.name);
    if (probe.state !== "up") {
      return no(`the load balancer's probe of ${n.name} says ${probe.state}${probe.note ? ` (${probe.note})` : ""}`);
    }
  }
  return {
    inService: true,
    why: `every web node passes the load balancer's probe; the database was ${database.outcome} by ${database.instanceId}`,
    nodes: recorded.map((o) => ({ ...o, checkedAt: input.at })),
    database,
  };
}
