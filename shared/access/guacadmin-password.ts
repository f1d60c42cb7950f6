// guacadmin's password in the stack's vault: a new random version per break-glass request (or per
// rotation), found again by the request's id, so a retried call makes no second version. Only the
// version id leaves this module, never the value.
import { generatePassword } from "../arm/secret-values";
import { stackVault } from "../arm/stack-vault";
import type { AzureClientFactory } from "../azure/clients";
import { stackNames } from "../graph/names";
import { SECRET_NAMES } from "../secret-names";
import type { StackSpec } from "../spec/types";

/** The tag that names the request a version was made for. */
const REQUEST_TAG = "jumpgate-request";

/** A new random version of guacadmin's password (or the one `requestId` made already); its version. */
export async function newGuacadminPassword(
  factory: AzureClientFactory,
  spec: StackSpec,
  requestId: string,
): Promise<{ version: string }> {
  const client = await stackVault(factory, spec);
  if (!client) throw new Error(`the vault ${stackNames(spec).keyVault} does not exist`);
  for await (const p of client.listPropertiesOfSecretVersions(SECRET_NAMES.guacadminPassword, factory.call())) {
    if (p.version && p.tags?.[REQUEST_TAG] === requestId) return { version: p.version };
  }
  const made = await client.setSecret(SECRET_NAMES.guacadminPassword, generatePassword(32), {
    ...factory.call(),
    tags: { [REQUEST_TAG]: requestId },
  });
  if (!made.properties.version) throw new Error("Key Vault returned no version for guacadmin's password");
  return { version: made.properties.version };
}
