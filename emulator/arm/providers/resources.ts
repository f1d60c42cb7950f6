// Microsoft.Resources resource groups: synchronous create (201) / update (200); delete is a
// Location-only LRO that removes everything in the group.
import { ArmError, type TypeDefinition } from "../types";

const resourceGroups: TypeDefinition = {
  type: "Microsoft.Resources/resourceGroups",
  apiVersions: ["2025-04-01", "2025-03-01", "2024-11-01", "2024-03-01", "2022-09-01", "2021-04-01"],
  tracked: true,
  put: "sync",
  createStatus: 201,
  patch: "sync",
  delete: "loc",
  validate(doc) {
    if (!/^[-\w._()]{1,90}$/.test(doc.name) || doc.name.endsWith(".")) {
      throw new ArmError(400, "InvalidResourceGroupName", `The resource group name '${doc.name}' is invalid.`);
    }
  },
};

export const RESOURCE_TYPES: TypeDefinition[] = [resourceGroups];
