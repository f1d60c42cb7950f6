// Cross-field rules of the spec's `access` section (sign-in with Entra ID), kept apart from
// validate.ts so the section's rules live in one place: validate.ts lists them with its own and runs
// them after the schema, on the spec with its defaults applied, like every other rule.
import type { StackSpec } from "./types";

/** What a rule needs of the validator: the spec, and whether the schema accepted a location. */
export interface AccessRuleView {
  readonly spec: StackSpec;
  /** no schema error at these locations, above them or inside them */
  usable(...pointers: string[]): boolean;
}

export interface AccessRuleError {
  pointer: string;
  detail: string;
  keyword: string;
}

/** The rules in words, for the README's spec reference (validate.ts adds them to CROSS_FIELD_RULES). */
export const ACCESS_CROSS_FIELD_RULES: readonly { keyword: string; rule: string }[] = [
  {
    keyword: "accessAdminGroup",
    rule: "`access.adminGroups` lists at least one group: `guacadmin` is disabled while `access` is set, so someone must be able to administer Guacamole through Entra ID.",
  },
  {
    keyword: "accessGroups",
    rule: "No group is listed twice in `access.adminGroups` and `access.userGroups` together (ids compared case-insensitively): each Entra group becomes one Guacamole user group, with one role.",
  },
];

/** The `access` rules; nothing to check when the section is absent or the schema refused it. */
export function accessRules(view: AccessRuleView): AccessRuleError[] {
  const access = view.spec.access;
  if (access === undefined || !view.usable("/access")) return [];
  const errors: AccessRuleError[] = [];
  if (access.adminGroups.length === 0)
    errors.push({
      pointer: "/access/adminGroups",
      detail:
        "access.adminGroups must list at least one Entra group id: with access set, guacadmin is disabled for daily use and only these groups' members administer Guacamole",
      keyword: "accessAdminGroup",
    });
  const seen = new Map<string, string>();
  for (const [list, ids] of [
    ["adminGroups", access.adminGroups],
    ["userGroups", access.userGroups],
  ] as const) {
    ids.forEach((id, index) => {
      const lower = id.toLowerCase();
      const earlier = seen.get(lower);
      if (earlier !== undefined)
        errors.push({
          pointer: `/access/${list}/${index}`,
          detail: `access.${list}[${index}] "${id}" is already listed as ${earlier}; a group has one role (administrators are users too)`,
          keyword: "accessGroups",
        });
      else seen.set(lower, `access.${list}[${index}]`);
    });
  }
  return errors;
}
