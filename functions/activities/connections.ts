// Activities of connections from the Azure inventory: plan (read the inventory through Resource
// Graph, the credentials' versions from Key Vault, compute the desired set and whether the agent
// must run), apply (the node agent's `connections` on one web node, the credentials' values handed
// over as a managed Run Command protected parameter read right here), and record (the ledger).
// Secret values live only inside applyConnections' memory and the protected parameter: plans,
// results, the ledger, the audit trail and the history hold secret names and versions.
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { ArmDocuments } from "../../shared/arm/arm-documents";
import {
  agentDesired,
  credentialParameters,
  desiredConnections,
  type AgentDesired,
  type CredentialState,
  type SkippedTarget,
} from "../../shared/connections/desired";
import { readInventory } from "../../shared/connections/inventory";
import { stackNames } from "../../shared/graph/names";
import { API_VERSIONS } from "../../shared/graph/stack-graph";
import { HANDED_PARAMETERS } from "../../shared/node/agent";
import { runAgentCommand, type AgentCommandResult } from "../../shared/node/run-agent";
import type { StackSpec } from "../../shared/spec/types";
import type { ConnectionRow, ConnectionSyncSummary } from "../../shared/store";
import { services } from "../services";
import type { WebNodeRef } from "../../shared/node/model";
import { listWebNodesActivity } from "./nodes";

/**
 * How often the agent looks at the connections again although nothing changed in the inventory (a
 * connection deleted or edited by hand in Guacamole): one read-only Run Command per stack.
 */
export const CONNECTIONS_VERIFY_HOURS = 6;

export interface PlanConnectionSyncInput {
  spec: StackSpec;
  /** the orchestration's time */
  at: string;
  /** run the agent even when nothing changed (a person asked) */
  force?: boolean;
  nodes?: WebNodeRef[];
}

export interface PlanConnectionSyncOutput {
  /** why the agent must run; absent: it need not */
  due?: string;
  /** the listing differs from the ledger's: record it (without running the agent) */
  stale: boolean;
  desired: AgentDesired;
  digest: string;
  listingDigest: string;
  credentials: CredentialState[];
  connections: ConnectionRow[];
  skipped: SkippedTarget[];
  /** the web node the agent runs on (the first by name) */
  node?: WebNodeRef;
  requests: { resourceGraph: number; keyVault: number; arm: number };
}

/** The vault URI of a credential reference: the stack's own vault, or the one its id names. */
async function vaultUriOf(spec: StackSpec, vaultId: string | undefined): Promise<string> {
  const id = vaultId ?? stackNames(spec).keyVaultId;
  const vault = await new ArmDocuments(services().factory).get({ id, apiVersion: API_VERSIONS.keyVault });
  const uri = (vault?.properties as { vaultUri?: unknown } | undefined)?.vaultUri;
  if (typeof uri !== "string") throw new Error(`the vault ${id} does not exist or has no URI`);
  return uri;
}

/** Each source's credential: its latest version, or why it cannot be used (never its value). */
async function readCredentialStates(spec: StackSpec): Promise<{ states: CredentialState[]; requests: number }> {
  const { factory } = services();
  const states: CredentialState[] = [];
  let requests = 0;
  for (const [index, source] of (spec.connections?.sources ?? []).entries()) {
    if (!source.credential) continue;
    const ref = {
      key: `c${index}`,
      secret: source.credential.secret,
      ...(source.credential.vaultId ? { vaultId: source.credential.vaultId } : {}),
    };
    try {
      const uri = await vaultUriOf(spec, source.credential.vaultId);
      requests += 2;
      const secret = await factory.secrets(uri).getSecret(ref.secret, factory.call());
      const checked = credentialParameters(secret.value ?? "");
      const version = secret.properties.version ?? "";
      if ("problem" in checked) states.push({ ...ref, problem: checked.problem });
      else if (!/^[0-9A-Za-z]{1,64}$/.test(version)) states.push({ ...ref, problem: "Key Vault returned no version" });
      else states.push({ ...ref, version });
    } catch (e) {
      const { code, statusCode } = e as { code?: unknown; statusCode?: unknown };
      const why = typeof code === "string" ? code : typeof statusCode === "number" ? `HTTP ${statusCode}` : "error";
      states.push({ ...ref, problem: `it cannot be read (${why})` });
    }
  }
  return { states, requests };
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

export async function planConnectionSyncActivity(input: PlanConnectionSyncInput): Promise<PlanConnectionSyncOutput> {
  const { spec } = input;
  const s = services();
  const names = stackNames(spec);
  const inventory = await readInventory(s.factory, spec, names.vnetId);
  const { states, requests: keyVault } = await readCredentialStates(spec);
  const desired = desiredConnections(spec, inventory, {
    reachable: [spec.network.addressSpace, ...inventory.peeredPrefixes],
    credentials: states,
  });
  const connections: ConnectionRow[] = desired.connections.map((c) => ({
    key: c.key,
    name: c.name,
    group: `${c.vm.subscriptionId}/${c.vm.resourceGroup}`,
    protocol: c.protocol,
    host: c.parameters.hostname,
    port: Number(c.parameters.port),
    vm: { id: c.vm.id, powerState: c.vm.powerState },
    permissions: c.groups,
    credential: c.credentialVersion ?? null,
    source: c.source,
  }));
  const listingDigest = sha256(JSON.stringify([connections, desired.skipped]));
  const summary = await s.connections.summary(spec.name);
  let due: string | undefined;
  if (input.force) due = "a sync was asked for";
  else if (summary.digest !== desired.digest) due = summary.digest ? "the inventory changed" : "never applied";
  else if (
    !summary.appliedAt ||
    Date.parse(input.at) - Date.parse(summary.appliedAt) >= CONNECTIONS_VERIFY_HOURS * 3_600_000
  )
    due = `last verified ${CONNECTIONS_VERIFY_HOURS} hours ago or more`;
  let node: WebNodeRef | undefined;
  let arm = keyVault / 2;
  if (due) {
    const fleet = input.nodes ?? (await listWebNodesActivity({ spec }));
    if (!input.nodes) arm++;
    node = [...fleet].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }))[0];
  }
  return {
    ...(due ? { due } : {}),
    stale: summary.listingDigest !== listingDigest,
    desired: agentDesired(spec.name, desired),
    digest: desired.digest,
    listingDigest,
    credentials: states,
    connections,
    skipped: desired.skipped,
    ...(node ? { node } : {}),
    requests: { resourceGraph: inventory.requests, keyVault: keyVault / 2, arm },
  };
}

export interface ApplyConnectionsInput {
  spec: StackSpec;
  vmName: string;
  desired: AgentDesired;
  /** the versions the plan read: exactly these are handed over */
  credentials: CredentialState[];
}

/** The desired set as the agent reads it on stdin: gzip, base64 in lines of 76. */
export function encodeDesired(desired: AgentDesired): string {
  const packed = gzipSync(Buffer.from(JSON.stringify(desired), "utf8")).toString("base64");
  return packed.replace(/(.{76})/g, "$1\n");
}

export async function applyConnectionsActivity(input: ApplyConnectionsInput): Promise<AgentCommandResult> {
  const { spec } = input;
  const { factory } = services();
  const used = new Set(input.desired.connections.map((c) => c.credential).filter(Boolean));
  const handed: Record<string, Record<string, string>> = {};
  for (const c of input.credentials) {
    if (!used.has(c.key) || !c.version) continue;
    const uri = await vaultUriOf(spec, c.vaultId);
    const secret = await factory.secrets(uri).getSecret(c.secret, { ...factory.call(), version: c.version });
    const checked = credentialParameters(secret.value ?? "");
    if ("problem" in checked) throw new Error(`credential ${c.secret}/${c.version} is unusable: ${checked.problem}`);
    handed[c.key] = checked.parameters;
  }
  const run = {
    subscriptionId: spec.subscriptionId,
    resourceGroup: spec.resourceGroup,
    vmName: input.vmName,
    command: "connections",
    args: ["--stack", spec.name],
    stdin: encodeDesired(input.desired),
  };
  if (Object.keys(handed).length === 0) return runAgentCommand(factory, run);
  const vm = await factory
    .compute(spec.subscriptionId)
    .virtualMachines.get(spec.resourceGroup, input.vmName, factory.call());
  return runAgentCommand(factory, run, undefined, {
    protectedParameters: [{ name: HANDED_PARAMETERS.connectionCredentials, value: JSON.stringify(handed) }],
    location: vm.location,
  });
}

export interface RecordConnectionsInput {
  stack: string;
  summary: Partial<ConnectionSyncSummary>;
  connections?: ConnectionRow[];
}

export async function recordConnectionsActivity(input: RecordConnectionsInput): Promise<{ writes: number }> {
  return services().connections.record(
    input.stack,
    (current) => ({
      ...current,
      ...input.summary,
      skipped: (input.summary.skipped ?? current.skipped).slice(0, 500),
      lastChanges: (input.summary.lastChanges ?? current.lastChanges).slice(0, 50),
    }),
    input.connections,
  );
}
