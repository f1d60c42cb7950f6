// The custom data of a stack's web nodes: the node template filled in from the spec and the names
// the resource graph gives the stack's Key Vault and database. Nothing secret goes in: custom data is
// readable on the VM and through ARM. `boot`: "image" for a VM that boots from the stack's baked
// gallery image (configuration only), "source" for a stock Ubuntu VM (the graph decides both together).
import { stackNames } from "../graph/names";
import { recordingContainerUrl, recordingStorageIds } from "../graph/recordings-graph";
import type { StackSpec } from "../spec/types";
import { customDataBase64, renderNodeCloudInit } from "./cloud-init";

export function renderWebNodeCustomData(
  spec: StackSpec,
  vm: { name: string; index: number; boot?: "source" | "image" },
): string {
  const names = stackNames(spec);
  const recording = spec.recordings?.enabled ? recordingStorageIds(spec, names) : undefined;
  return customDataBase64(
    renderNodeCloudInit({
      mode: vm.boot ?? "source",
      stackName: spec.name,
      fleetMode: spec.fleet.mode,
      publicHostname: spec.tls.hostname ?? names.publicFqdn,
      keyVaultUrl: names.keyVaultUri,
      dbHost: names.mysqlFqdn,
      // a scale set's instances share its user-assigned identity; VMs of an availability set use their own
      ...(spec.fleet.mode === "scaleSet" ? { identityResourceId: names.webIdentityId } : {}),
      guacamoleVersion: spec.guacamole.version,
      ...(recording
        ? {
            recordings: {
              containerUrl: recordingContainerUrl(recording.account),
              // a scale set's instances share this custom data: the uploader takes the host name there
              ...(spec.fleet.mode === "availabilitySet" ? { nodeName: vm.name } : {}),
            },
          }
        : {}),
    }),
  );
}
