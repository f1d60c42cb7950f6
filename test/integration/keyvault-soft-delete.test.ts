// Key Vault deletes and recovers a secret in the background (recording_delete_and_wait,
// recording_soft_delete_lifecycle): right after DELETE the deleted secret reads as 404 until the
// delete has completed, and after a recover the secret reads as 404 until it is back. Purge, recover
// and set before then fail as Key Vault's do (409). The real SecretClient's pollers wait it out, and
// so does the app's VaultSecrets, which goes through them. The emulator runs in `async` mode with a
// long grace time: a transition completes only after the reads the test makes, never on a timer.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { SecretClient } from "@azure/keyvault-secrets";
import { ArmDocuments } from "../../shared/arm/arm-documents";
import { VaultSecrets } from "../../shared/arm/vault-secrets";
import { LOCATION, RG, startAzure, SUB, type AzureFixture } from "../../dev/azure";

const VAULT = "kv-softdelete";
const conflict = (code: string) => (e: { statusCode?: number; code?: string; details?: unknown }) =>
  e.statusCode === 409 && e.code === "Conflict" && JSON.stringify(e.details ?? e).includes(code);
const notFound = (e: { statusCode?: number; code?: string }) => e.statusCode === 404 && e.code === "SecretNotFound";

describe("Key Vault soft delete and recover complete in the background", () => {
  let az: AzureFixture;
  let secrets: SecretClient;
  let vaultId = "";

  before(async () => {
    // two reads see a transition running, as in the recordings; no timer ends it
    az = await startAzure({ lro: { mode: "async", pollsBeforeDone: 2, unpolledGraceMs: 600_000 } });
    az.emulator.lro.settings.mode = "instant"; // the vault itself: not what this is about
    await az.factory.resources(SUB).resourceGroups.createOrUpdate(RG, { location: LOCATION }, az.factory.call());
    const kv = await az.factory.keyVaultManagement(SUB).vaults.createOrUpdate(
      RG,
      VAULT,
      {
        location: LOCATION,
        properties: { tenantId: az.emulator.tenantId, sku: { family: "A", name: "standard" } },
      },
      az.factory.lro(),
    );
    vaultId = kv.id!;
    az.emulator.lro.settings.mode = "async";
    secrets = az.factory.secrets(kv.properties.vaultUri!);
  });
  after(() => az.stop());

  test("until a delete completes: the deleted secret reads 404; purge, recover and set answer 409", async () => {
    await secrets.setSecret("early", "value-one");
    const deleted = await secrets.beginDeleteSecret("early", { intervalInMs: 5 });
    // the poller's first read (inside beginDeleteSecret) saw it running; one more read does too
    await assert.rejects(secrets.getDeletedSecret("early"), notFound);
    await assert.rejects(secrets.purgeDeletedSecret("early"), conflict("ObjectIsBeingDeleted"));
    await assert.rejects(
      secrets.beginRecoverDeletedSecret("early", { intervalInMs: 5 }),
      conflict("ObjectIsBeingDeleted"),
    );
    await assert.rejects(secrets.setSecret("early", "value-two"), conflict("ObjectIsBeingDeleted"));
    await assert.rejects(secrets.getSecret("early"), notFound);

    const result = await deleted.pollUntilDone();
    assert.equal(result.name, "early");
    assert.ok((await secrets.getDeletedSecret("early")).properties.recoveryId);
    await secrets.purgeDeletedSecret("early");
    await assert.rejects(secrets.getDeletedSecret("early"), notFound);
  });

  test("until a recover completes: the secret reads 404 and set answers 409; the poller waits it out", async () => {
    await secrets.setSecret("back", "value-one");
    await (await secrets.beginDeleteSecret("back", { intervalInMs: 5 })).pollUntilDone();
    const recovering = await secrets.beginRecoverDeletedSecret("back", { intervalInMs: 5 });
    await assert.rejects(secrets.getSecret("back"), notFound);
    await assert.rejects(secrets.setSecret("back", "value-two"), conflict("ObjectIsBeingRecovered"));
    await recovering.pollUntilDone();
    assert.equal((await secrets.getSecret("back")).value, "value-one");
  });

  test("the app's VaultSecrets: delete and recover return only once Key Vault has completed them", async () => {
    const vault = new VaultSecrets(az.factory, new ArmDocuments(az.factory), { attempts: 1, delayMs: 0 });
    const client = (await vault.client({ id: vaultId, apiVersion: "2026-02-01" }))!;
    const id = `${vaultId}/secrets/app`;
    await secrets.setSecret("app", "value-one");

    await vault.delete(client, "app");
    // observed at once, the delete is complete: the app sees a recoverable secret, not a missing one
    const deleted = await vault.observe(client, id, "app");
    assert.equal(deleted?.deleted, true);
    assert.match(String((deleted?.properties as { recoveryId?: string }).recoveryId), /\/deletedsecrets\/app$/);

    await vault.recover(client, "app");
    const observed = await vault.observe(client, id, "app");
    assert.equal(observed?.deleted, undefined);
    assert.equal(observed?.versions, 1);
    assert.equal((await secrets.getSecret("app")).value, "value-one");
  });
});
