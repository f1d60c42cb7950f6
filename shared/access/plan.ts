// Desired vs observed for sign-in with Entra ID, pure: what a deploy or the drift check must do to
// the nodes' settings, Guacamole's user groups and guacadmin, judged from the spec and what the
// registry says was applied. Nothing to do (the same digests, nothing due for a look) means no Run
// Command, so a redeploy that changes nothing stays free of ARM writes.
import type { JoinSignIn } from "../node/join";
import type { AccessObserved } from "../stack-status";
import type { StackSpec } from "../spec/types";
import { desiredGroups, groupsDigest, type DesiredGroup } from "./groups";
import { signInArgs, signInDigest, signInProperties, type SignInKey } from "./sign-in";

/**
 * How often what was applied is looked at again although nothing changed (a node that came up
 * without the settings, a group edited by hand): one Run Command per node and one for the groups a
 * day, by the drift check's reconcile (a stack's daily full check, or screening's suspects).
 */
export const ACCESS_VERIFY_HOURS = 24;
/**
 * The daily full check falls in the same hour each day but not at the same minute: a verification a
 * few minutes short of a day old is due too, or it would happen every other day.
 */
const VERIFY_SLACK_HOURS = 1;

export interface AccessDesired {
  signIn: "on" | "off";
  /** the settings (absent: sign-in off) */
  properties?: [SignInKey, string][];
  digest: string | null;
  groups: DesiredGroup[];
  groupsDigest: string;
  /** guacadmin is disabled for daily use while `access` is set */
  guacadminDisabled: boolean;
}

export function desiredAccess(spec: StackSpec, options: { publicHostname: string; authority?: string }): AccessDesired {
  const properties = spec.access ? signInProperties(spec.access, options) : undefined;
  const groups = desiredGroups(spec.access);
  return {
    signIn: spec.access ? "on" : "off",
    ...(properties ? { properties } : {}),
    digest: signInDigest(properties),
    groups,
    groupsDigest: groupsDigest(groups),
    guacadminDisabled: spec.access !== undefined,
  };
}

/**
 * What a node joining the stack (a scale-out, heal's new node) gets of sign-in: the spec's settings
 * when it has `access`; none otherwise (a new node boots without them, which is what "off" means).
 */
export function joinSignIn(
  spec: StackSpec,
  options: { publicHostname: string; authority?: string },
): JoinSignIn | undefined {
  const desired = desiredAccess(spec, options);
  if (desired.signIn === "off" || desired.digest === null) return undefined;
  return { args: signInArgs(desired.properties), digest: desired.digest };
}

export interface AccessPlan {
  /** nodes whose settings must be checked (`sign-in --check`) and, when they differ, rolled */
  nodes: { name: string; id: string; why: string }[];
  /** run the group sync (it reads first and changes only what differs) */
  groups?: string;
  guacadmin?: { action: "enable" | "disable"; why: string };
  /** nothing at all to do: no Run Command */
  nothing: boolean;
}

const hoursSince = (iso: string | undefined, now: Date) =>
  iso === undefined ? Infinity : (now.getTime() - Date.parse(iso)) / 3_600_000;

export function planAccess(
  desired: AccessDesired,
  observed: AccessObserved | undefined,
  nodes: readonly { name: string; id: string }[],
  now: Date,
): AccessPlan {
  // a stack that never had access: nothing to apply and nothing to look at
  if (desired.signIn === "off" && !observed) return { nodes: [], nothing: true };

  // what was applied is looked at again only while sign-in is on (a stack that turned it off is left be)
  const verify = desired.signIn === "on";
  const planNodes: AccessPlan["nodes"] = [];
  for (const n of nodes) {
    const seen = observed?.nodes.find((o) => o.name.toLowerCase() === n.name.toLowerCase());
    let why: string | undefined;
    if (!seen || seen.id.toLowerCase() !== n.id.toLowerCase()) why = "not configured by Jumpgate yet";
    else if (seen.digest !== desired.digest) why = "its sign-in settings differ from the spec";
    else if (verify && hoursSince(seen.at, now) >= ACCESS_VERIFY_HOURS - VERIFY_SLACK_HOURS)
      why = "last checked about a day ago or more";
    if (why) planNodes.push({ name: n.name, id: n.id, why });
  }

  let groups: string | undefined;
  const recorded = observed?.groups;
  if (!recorded) {
    if (desired.groups.length > 0) groups = "the groups were never synced";
  } else if (recorded.digest !== desired.groupsDigest) groups = "the group mapping changed";
  else if (verify && hoursSince(recorded.at, now) >= ACCESS_VERIFY_HOURS - VERIFY_SLACK_HOURS)
    groups = "last synced about a day ago or more";

  let guacadmin: AccessPlan["guacadmin"];
  const admin = observed?.guacadmin;
  const windowOpen = admin?.breakGlass !== undefined && Date.parse(admin.breakGlass.until) > now.getTime();
  if (desired.guacadminDisabled && !windowOpen) {
    if (!admin || !admin.disabled)
      guacadmin = { action: "disable", why: "access is set: guacadmin is for break-glass only" };
    else if (groups !== undefined) guacadmin = { action: "disable", why: "checked with the groups" };
  } else if (!desired.guacadminDisabled && admin?.disabled) {
    guacadmin = { action: "enable", why: "access was removed: guacadmin is the way in again" };
  }
  return {
    nodes: planNodes,
    ...(groups ? { groups } : {}),
    ...(guacadmin ? { guacadmin } : {}),
    nothing: planNodes.length === 0 && groups === undefined && guacadmin === undefined,
  };
}
