// Activities of sign-in with Entra ID: what to do (desired from the spec vs what the registry says
// was applied), recording what was done, and guacadmin's password in Key Vault. The agent commands
// themselves go through runNodeAgent. Nothing here returns, throws or logs a secret value: the
// password step returns the Key Vault version it made.
import { desiredAccess, planAccess, type AccessPlan } from "../../shared/access/plan";
import { publicHostnameOf, signInArgs, signInAuthority } from "../../shared/access/sign-in";
import { accessGroupArgs, type DesiredGroup } from "../../shared/access/groups";
import { newGuacadminPassword } from "../../shared/access/guacadmin-password";
import type { StackSpec } from "../../shared/spec/types";
import type { AccessObserved, GuacadminObserved, StackObserved } from "../../shared/stack-status";
import { services } from "../services";
import type { WebNodeRef } from "../../shared/node/model";
import { listWebNodesActivity } from "./nodes";

export interface PlanAccessSyncInput {
  spec: StackSpec;
  /** the web nodes as the caller found them; listed here when absent and something may be due */
  nodes?: WebNodeRef[];
  /** the orchestration's time */
  at: string;
}

export interface PlanAccessSyncOutput {
  plan: AccessPlan;
  signIn: "on" | "off";
  /** the node agent's `sign-in` arguments (the settings, or --off) */
  signInArgs: string[];
  digest: string | null;
  groupArgs: string[];
  groupsDigest: string;
  groups: DesiredGroup[];
  /** every web node (the group and guacadmin steps run on the first) */
  fleet: WebNodeRef[];
}

/** What a deploy or the drift check must do about sign-in; reads only (registry, settings, ARM's VM list). */
export async function planAccessSyncActivity(input: PlanAccessSyncInput): Promise<PlanAccessSyncOutput> {
  const { spec } = input;
  const desired = desiredAccess(spec, { publicHostname: publicHostnameOf(spec), authority: signInAuthority() });
  const observed = (await services().registry.get(spec.name))?.observed?.access;
  const base = {
    signIn: desired.signIn,
    signInArgs: signInArgs(desired.properties),
    digest: desired.digest,
    groupArgs: accessGroupArgs(spec.name, desired.groups),
    groupsDigest: desired.groupsDigest,
    groups: desired.groups,
  };
  // a stack that never had access: no listing, nothing to do
  if (desired.signIn === "off" && !observed) return { ...base, plan: { nodes: [], nothing: true }, fleet: [] };
  const fleet = input.nodes ?? (await listWebNodesActivity({ spec }));
  return { ...base, plan: planAccess(desired, observed, fleet, new Date(input.at)), fleet };
}

export interface RecordAccessInput {
  stack: string;
  signIn?: "on" | "off";
  digest?: string | null;
  /** nodes configured or checked now (merged by name) */
  nodes?: AccessObserved["nodes"];
  /** the web nodes there are now: records of other nodes are dropped */
  fleet?: string[];
  groups?: AccessObserved["groups"];
  guacadmin?: Partial<GuacadminObserved>;
  /** the break-glass window is over */
  closeBreakGlass?: boolean;
}

/** Merges what an access step did into the registry's observed state (ETag-guarded, nothing else touched). */
export async function recordAccessActivity(input: RecordAccessInput): Promise<void> {
  // a first deploy records the access step before the deploy's own record, which keeps it (a merge)
  await services().registry.updateObserved(input.stack, (stored: StackObserved | undefined) => {
    const observed: StackObserved = stored ?? { generation: 0, resources: [], nodes: [] };
    const before: AccessObserved = observed.access ?? { signIn: "off", digest: null, nodes: [] };
    let nodes = before.nodes;
    for (const n of input.nodes ?? []) {
      nodes = [...nodes.filter((x) => x.name.toLowerCase() !== n.name.toLowerCase()), n];
    }
    if (input.fleet) {
      const present = new Set(input.fleet.map((n) => n.toLowerCase()));
      nodes = nodes.filter((n) => present.has(n.name.toLowerCase()));
    }
    let guacadmin = before.guacadmin;
    if (input.guacadmin)
      guacadmin = { disabled: false, since: new Date().toISOString(), ...guacadmin, ...input.guacadmin };
    if (input.closeBreakGlass && guacadmin) {
      const { breakGlass: _closed, ...rest } = guacadmin;
      guacadmin = rest;
    }
    const access: AccessObserved = {
      ...before,
      ...(input.signIn ? { signIn: input.signIn } : {}),
      ...(input.digest !== undefined ? { digest: input.digest } : {}),
      nodes: nodes.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true })),
      ...(input.groups ? { groups: input.groups } : {}),
      ...(guacadmin ? { guacadmin } : {}),
    };
    return { ...observed, access };
  });
}

// ------------------------------------------------------------------------------------ break-glass

export interface NewGuacadminPasswordInput {
  spec: StackSpec;
  /** idempotency key: a retried activity finds the version it made and makes no other */
  requestId: string;
}

/** A new random version of guacadmin's password in the stack's vault; returns its version, never the value. */
export async function newGuacadminPasswordActivity(input: NewGuacadminPasswordInput): Promise<{ version: string }> {
  return newGuacadminPassword(services().factory, input.spec, input.requestId);
}

/** The stack's spec as the registry has it now (break-glass closes hours after it opened). */
export async function loadAccessTargetActivity(input: { stack: string }): Promise<{ spec?: StackSpec }> {
  const record = await services().registry.get(input.stack);
  return record ? { spec: record.spec } : {};
}
