// The stack's resource graph as the app builds it: the spec, the fleet's members and the app's own
// identities (services) into shared/graph's builder. Shared by the graph activities and the drift
// check's screening, so a timer never goes through an activity module.
import { stackNames } from "../shared/graph/names";
import { API_VERSIONS, buildStackGraph, type BootImage } from "../shared/graph/stack-graph";
import type { GraphNode, StackGraph } from "../shared/graph/types";
import { renderWebNodeCustomData } from "../shared/node/web-node-template";
import type { FleetMembers } from "../shared/scale/fleet";
import { SECRET_NAMES } from "../shared/secret-names";
import type { StackSpec } from "../shared/spec/types";
import { services } from "./services";

/**
 * The stack's graph for these members; `tlsBundle`: whether its vault holds the TLS bundle (the drift
 * screen takes it from the certificate ledger instead of asking Key Vault); `bootImage`: the gallery
 * image version new web nodes boot from (unset: from source).
 */
export function stackGraphOf(
  spec: StackSpec,
  members: Pick<FleetMembers, "size" | "ordinals">,
  tlsBundle: boolean,
  bootImage?: BootImage,
): StackGraph {
  const s = services();
  return buildStackGraph(spec, {
    tenantId: s.tenantId,
    functionPrincipalId: s.functionPrincipalId,
    recordingWriterRoleId: s.recordingWriterRoleId,
    alertActionGroupId: s.alertActionGroupId,
    tlsBundle,
    ...(bootImage ? { bootImage } : {}),
    renderCustomData: (vm) => renderWebNodeCustomData(spec, vm),
    ...(spec.fleet.mode === "availabilitySet"
      ? { webNodeOrdinals: members.ordinals }
      : { scaleSetCapacity: members.size }),
  });
}

/** Whether the stack's vault holds a TLS bundle (a role assignment on it needs it to exist). */
export async function tlsBundleStored(spec: StackSpec): Promise<boolean> {
  const node: GraphNode = {
    key: `secret:${SECRET_NAMES.tlsBundle}`,
    kind: "keyVaultSecret",
    id: `${stackNames(spec).keyVaultId}/secrets/${SECRET_NAMES.tlsBundle}`,
    apiVersion: API_VERSIONS.keyVault,
    body: {},
    dependsOn: [],
  };
  const observed = await services().engine.observe(node);
  return !!observed && observed.deleted !== true;
}
