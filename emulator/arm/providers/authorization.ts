// Microsoft.Authorization role assignments (api 2022-04-01 as sent by @azure/arm-authorization 9.0.0):
// extension resources on any scope; the name is a GUID; an assignment cannot be changed in place;
// the same (scope, role, principal) under another name is a 409 RoleAssignmentExists.
import { lower } from "../resource-id";
import { parentOf, str } from "../store";
import { ArmError, type TypeDefinition } from "../types";
import { props } from "./common";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const roleAssignments: TypeDefinition = {
  type: "Microsoft.Authorization/roleAssignments",
  apiVersions: ["2022-04-01", "2020-10-01-preview", "2020-04-01-preview"],
  put: "sync",
  createStatus: 201,
  delete: "sync",
  provisioningState: false,
  validate(doc, ctx) {
    if (!GUID.test(doc.name))
      throw new ArmError(
        400,
        "InvalidRoleAssignmentId",
        `The role assignment ID '${doc.name}' is not valid. The role assignment ID must be a GUID.`,
      );
    const p = props(doc);
    if (typeof p.roleDefinitionId !== "string" || typeof p.principalId !== "string") {
      throw new ArmError(400, "InvalidRoleAssignmentRequest", "roleDefinitionId and principalId are required.");
    }
    if (ctx.existing) {
      const o = props(ctx.existing);
      if (
        lower(str(o.roleDefinitionId)) !== lower(p.roleDefinitionId) ||
        lower(str(o.principalId)) !== lower(p.principalId)
      ) {
        throw new ArmError(
          400,
          "RoleAssignmentUpdateNotPermitted",
          "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        );
      }
      return;
    }
    const scope = parentOf(doc.id);
    const twin = ctx.emulator.store
      .all()
      .find(
        (d) =>
          lower(d.type) === "microsoft.authorization/roleassignments" &&
          parentOf(d.id) === scope &&
          lower(str(props(d).roleDefinitionId)) === lower(p.roleDefinitionId as string) &&
          lower(str(props(d).principalId)) === lower(p.principalId as string),
      );
    if (twin)
      throw new ArmError(409, "RoleAssignmentExists", "The role assignment already exists.", {
        details: [{ code: "RoleAssignmentExists", message: twin.name }],
      });
  },
  normalize(doc, ctx) {
    const p = props(doc);
    const id = doc.id;
    p.scope = id.slice(0, id.toLowerCase().lastIndexOf("/providers/microsoft.authorization/"));
    p.principalType ??= "ServicePrincipal";
    p.createdOn = ctx.existing ? props(ctx.existing).createdOn : new Date().toISOString();
    p.updatedOn = new Date().toISOString();
  },
};

export const AUTHORIZATION_TYPES: TypeDefinition[] = [roleAssignments];
