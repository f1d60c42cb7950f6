// The `access` part of GET /api/stacks/{name}: the spec's sign-in settings next to what was applied
// (the nodes' settings, the groups synced, guacadmin and any break-glass window). Names, ids,
// digests, times and Key Vault secret names and versions only: never a secret value.
import type { StackSpec } from "../spec/types";
import type { AccessObserved } from "../stack-status";
import { desiredAccess } from "./plan";
import { redirectUri, tenantEndpoints } from "./sign-in";

export function accessSummary(
  spec: StackSpec,
  observed: AccessObserved | undefined,
  options: { publicHostname: string; authority: string },
): Record<string, unknown> | null {
  if (!spec.access && !observed) return null;
  const desired = desiredAccess(spec, options);
  const window = observed?.guacadmin?.breakGlass;
  return {
    configured: spec.access !== undefined,
    ...(spec.access
      ? {
          tenantId: spec.access.tenantId,
          clientId: spec.access.clientId,
          usernameClaim: spec.access.usernameClaim,
          signInUrl: redirectUri(options.publicHostname),
          ...tenantEndpoints(spec.access.tenantId, options.authority),
          adminGroups: spec.access.adminGroups,
          userGroups: spec.access.userGroups,
        }
      : {}),
    applied: observed
      ? {
          signIn: observed.signIn,
          inSync: observed.digest === desired.digest,
          nodes: observed.nodes.map((n) => ({ name: n.name, inSync: n.digest === desired.digest, checkedAt: n.at })),
        }
      : null,
    groups: observed?.groups
      ? {
          inSync: observed.groups.digest === desired.groupsDigest,
          synced: observed.groups.mapped,
          conflicts: observed.groups.conflicts,
          lastChanges: observed.groups.lastChanges,
          at: observed.groups.at,
          instanceId: observed.groups.instanceId,
        }
      : null,
    guacadmin: observed?.guacadmin
      ? {
          disabled: observed.guacadmin.disabled,
          since: observed.guacadmin.since,
          password: observed.guacadmin.password ?? null,
          // recorded until the window is closed (which may be a little after `until`)
          breakGlass: window
            ? { openedAt: window.openedAt, until: window.until, secret: window.secret, version: window.version }
            : null,
          lastBreakGlass: observed.guacadmin.lastBreakGlass ?? null,
        }
      : null,
  };
}
