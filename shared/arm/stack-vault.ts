// The stack's Key Vault as a secrets client: one route for every caller (the rotation's labels, the
// certificate worker's bundles, an admin step's hand-over). The vault's ARM document gives its
// data-plane URI; a vault that does not exist (a stack not deployed yet) reads as undefined.
import type { SecretClient } from "@azure/keyvault-secrets";
import type { AzureClientFactory } from "../azure/clients";
import { stackNames } from "../graph/names";
import { API_VERSIONS } from "../graph/stack-graph";
import type { StackSpec } from "../spec/types";
import { ArmDocuments } from "./arm-documents";

export async function stackVault(factory: AzureClientFactory, spec: StackSpec): Promise<SecretClient | undefined> {
  const doc = await new ArmDocuments(factory).get({
    id: stackNames(spec).keyVaultId,
    apiVersion: API_VERSIONS.keyVault,
  });
  const uri = (doc?.properties as { vaultUri?: unknown } | undefined)?.vaultUri;
  return typeof uri === "string" ? factory.secrets(uri) : undefined;
}
