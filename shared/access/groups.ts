// Entra groups as Guacamole user groups: the desired state of the groups Jumpgate manages, from the
// spec's access section. Guacamole's JDBC extension applies a user group's permissions to whoever an
// identity provider says is a member: the OpenID extension passes the ID token's `groups` claim (the
// Entra group object ids) as the user's groups, and the database matches them against user group
// names (EntityMapper's effective groups; a user without a database account gets a "skeleton" user,
// JDBCAuthenticationProviderService). So each Guacamole group is named after its Entra group's id.
import { createHash } from "node:crypto";
import type { StackAccess } from "./sign-in";

export type GroupRole = "admin" | "user";

/** Guacamole's system permission of an administrator (guacamole_system_permission.permission). */
export const ADMINISTER = "ADMINISTER";

/** The user group attribute that marks a group as Jumpgate's; its value is the stack's name. */
export const GROUP_MARKER_ATTRIBUTE = "jumpgate-stack";

export interface DesiredGroup {
  /** the Entra group's object id, lower case: the Guacamole user group's name */
  id: string;
  role: GroupRole;
  /** Guacamole system permissions of the group */
  permissions: string[];
}

/** One group per mapped Entra group, sorted by id; none without access. */
export function desiredGroups(access: StackAccess | undefined): DesiredGroup[] {
  if (!access) return [];
  const groups: DesiredGroup[] = [
    ...access.adminGroups.map((id) => ({ id: id.toLowerCase(), role: "admin" as const, permissions: [ADMINISTER] })),
    ...access.userGroups.map((id) => ({ id: id.toLowerCase(), role: "user" as const, permissions: [] })),
  ];
  return groups.sort((a, b) => a.id.localeCompare(b.id));
}

/** SHA-256 of the mapping: what a sync applied, recorded so a later run can tell nothing changed. */
export function groupsDigest(groups: readonly DesiredGroup[]): string {
  const canonical = groups.map((g) => `${g.id}:${g.role}`).join("\n");
  return createHash("sha256").update(canonical, "utf8").digest("hex");
}

/** The agent's arguments: `access-groups --stack S --group id:role ...`. */
export function accessGroupArgs(stack: string, groups: readonly DesiredGroup[], options: { check?: boolean } = {}) {
  return [
    "--stack",
    stack,
    ...groups.flatMap((g) => ["--group", `${g.id}:${g.role}`]),
    ...(options.check ? ["--check"] : []),
  ];
}
