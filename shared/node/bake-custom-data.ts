// The custom data of a node image builder: the web node template in "bake" mode (the node helper's
// renderer, shared/node/cloud-init.ts: download, verify and build everything, lay out files and
// users, write no stack configuration, start nothing, and finally write baked.json with the image
// key's digest). The builder belongs to no fleet and to no vault: it gets the template's required
// fields from the stack only so the document validates, and no secret or identity at all.
// The renderer ignores those fields in bake mode; they are given so the input is one type.
import { stackNames } from "../graph/names";
import type { StackSpec } from "../spec/types";
import { customDataBase64, renderNodeCloudInit, type NodeTemplateInput } from "./cloud-init";
import type { NodeImageKey } from "./image-identity";

export function bakeTemplateInput(spec: StackSpec, key: NodeImageKey): NodeTemplateInput {
  const names = stackNames(spec);
  return {
    stackName: spec.name,
    fleetMode: spec.fleet.mode,
    publicHostname: spec.tls.hostname ?? names.publicFqdn,
    keyVaultUrl: names.keyVaultUri,
    dbHost: names.mysqlFqdn,
    guacamoleVersion: key.guacamoleVersion,
    mode: "bake",
    imageDigest: key.digest,
  };
}

/** Base64 custom data of the builder of `key`. */
export function renderBakeCustomData(spec: StackSpec, key: NodeImageKey): string {
  return customDataBase64(renderNodeCloudInit(bakeTemplateInput(spec, key)));
}
