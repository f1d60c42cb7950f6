// Cross-field rules of the spec's `connections` section (connections from the Azure inventory),
// beside the section like access-rules.ts: validate.ts lists them with its own and runs them after
// the schema, on the spec with its defaults applied.
import type { AccessRuleError, AccessRuleView } from "./access-rules";

/** The rules in words, for the README's spec reference (validate.ts adds them to CROSS_FIELD_RULES). */
export const CONNECTION_CROSS_FIELD_RULES: readonly { keyword: string; rule: string }[] = [
  {
    keyword: "connectionsNeedAccess",
    rule: "`connections` needs `access`: a connection is given to Entra groups, which only sign-in with Entra ID makes Guacamole user groups.",
  },
  {
    keyword: "connectionGroups",
    rule: "Every id in `connections.sources[].groups` is mapped in `access.adminGroups` or `access.userGroups` (compared case-insensitively): only a mapped group exists in Guacamole to be given a connection.",
  },
];

export function connectionRules(view: AccessRuleView): AccessRuleError[] {
  const connections = view.spec.connections;
  if (connections === undefined || !view.usable("/connections")) return [];
  const access = view.spec.access;
  if (access === undefined)
    return [
      {
        pointer: "/connections",
        detail:
          "connections needs access: the connections are given to Entra groups, which exist in Guacamole only with sign-in with Entra ID",
        keyword: "connectionsNeedAccess",
      },
    ];
  if (!view.usable("/access")) return [];
  const mapped = new Set([...access.adminGroups, ...access.userGroups].map((g) => g.toLowerCase()));
  const errors: AccessRuleError[] = [];
  connections.sources.forEach((source, s) => {
    source.groups.forEach((id, g) => {
      if (!mapped.has(id.toLowerCase()))
        errors.push({
          pointer: `/connections/sources/${s}/groups/${g}`,
          detail: `connections.sources[${s}].groups[${g}] "${id}" is not mapped in access.adminGroups or access.userGroups: map it there so it exists in Guacamole`,
          keyword: "connectionGroups",
        });
    });
  });
  return errors;
}
