// The stack's database credentials through the app's services: Key Vault's labels (the state) and the
// registry's copy of them. Shared by the rotation's activities and the daily credential check, so a
// timer never goes through an activity module.
import { stackVault } from "../shared/arm/stack-vault";
import { CredentialVault } from "../shared/credentials/credential-vault";
import { credentialCondition, credentialsObserved } from "../shared/credentials/observed";
import type { StackSpec } from "../shared/spec/types";
import type { CredentialsObserved, RotationOutcome, StackObserved } from "../shared/stack-status";
import { StackNotFoundError } from "../shared/store";
import { services } from "./services";

/** The stack's credential vault; throws when the stack's Key Vault does not exist. */
export async function credentialVault(spec: StackSpec): Promise<CredentialVault> {
  const { factory } = services();
  const client = await stackVault(factory, spec);
  if (!client) throw new Error(`the Key Vault of stack ${spec.name} does not exist`);
  return new CredentialVault(client, () => factory.call());
}

export interface RecordCredentialsInput {
  stack: string;
  spec: StackSpec;
  /** ISO 8601, the orchestration's time */
  at: string;
  /** the rotation that just ended, if one did */
  outcome?: RotationOutcome;
}

/**
 * Copies the credential state from Key Vault into the registry (observed.credentials), with the
 * rotation's outcome, and sets the CredentialsRotated condition.
 */
export async function recordCredentials(input: RecordCredentialsInput): Promise<CredentialsObserved> {
  const { registry } = services();
  const state = await (await credentialVault(input.spec)).state();
  const record = await registry.get(input.stack);
  if (!record) throw new StackNotFoundError(input.stack);
  if (!record.observed) {
    throw new Error(`stack '${input.stack}' has not been deployed: no observed state to add credentials to`);
  }
  const credentials = credentialsObserved(state, record.observed.credentials, input.outcome, input.at);
  const observed: StackObserved = { ...record.observed, credentials };
  await registry.putObserved(input.stack, observed, { generation: Math.max(record.observedGeneration, 1) });
  const condition = credentialCondition(credentials);
  if (condition) await registry.setConditions(input.stack, [condition]);
  return credentials;
}
