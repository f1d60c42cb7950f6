// The custom data of a node image builder: the web node template in "bake" mode (the node helper's
// renderer, shared/node/cloud-init.ts: download, verify and build everything, lay out files and
// users, write no stack configuration, start nothing, and finally write baked.json with the image
// key's digest). The builder belongs to no fleet and to no vault: it gets the template's required
// fields from the stack only so the document validates, and no secret or identity at all.
//
// The seam: the template's `mode` and `imageDigest` fields are the bake contract
// (/work/brief/images-contract.md items 3 and 4), filled here and read by the renderer.
import { stackNames } from "../graph/names";
import type { StackSpec } from "../spec/types";
import { customDataBase64, renderNodeCloudInit, type NodeTemplateInput } from "./cloud-init";
import type { NodeImageKey } from "./image-identity";

/** The contract's bake fields on top of the template's input. */
export interface BakeTemplateFields {
  mode: "bake";
  /** the image key's digest, written into /var/lib/jumpgate/baked.json when the bake is done */
  imageDigest: string;
}

export function bakeTemplateInput(spec: StackSpec, key: NodeImageKey): NodeTemplateInput & BakeTemplateFields {
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
