// Daily credential check: for every deployed stack, read the credential state from Key Vault and
// start its rotation (`rotate-db-<stack>`) when the app users' password is older than the stack's
// policy (policies.rotation.databaseCredentialMaxAgeDays, 30 by default), when the admin password is
// (adminPasswordMaxAgeDays, 90), or when a rotation was left pending (its instance died): that run
// finishes or rolls it back, so a pending rotation never blocks. A stack whose rotation already runs
// is left to it. Stacks nobody holds get a fresh copy of their credential state in the registry,
// so GET /api/stacks/{name} shows the age of credentials that were never rotated too.
import { randomUUID } from "node:crypto";
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { ageDays } from "../../shared/credentials/rotation-state";
import { credentialVault, recordCredentials } from "../credential-store";
import { InstanceIds, Names } from "../names";
import type { RotateDatabaseInput } from "../orchestrators/rotate-database";
import { services } from "../services";
import { clearStaleClaim, isInstanceRunning } from "../stack-claim";

export interface CredentialCheckResult {
  started: { stack: string; appUsers: boolean; admin: boolean; why: string }[];
  skipped: { stack: string; why: string }[];
}

/** The check itself, with the time it judges ages by (the timer passes the wall clock). */
export async function checkCredentialRotations(
  client: df.DurableClient,
  now: Date,
  log: (line: string) => void = () => undefined,
): Promise<CredentialCheckResult> {
  const { registry } = services();
  const result: CredentialCheckResult = { started: [], skipped: [] };
  for (const record of await registry.list()) {
    const stack = record.name;
    if (!record.observed || record.observedGeneration === 0) {
      result.skipped.push({ stack, why: "not deployed" });
      continue;
    }
    try {
      const instanceId = InstanceIds.rotateDatabase(stack);
      if (await isInstanceRunning(client, instanceId)) {
        result.skipped.push({ stack, why: "its rotation is running" });
        continue;
      }
      const spec = record.spec;
      const state = await (await credentialVault(spec)).state();
      const policy = spec.policies.rotation;
      const appAge = ageDays(state.app.current.since, now);
      const adminAge = ageDays(state.admin.current.since, now);
      const appDue = appAge >= policy.databaseCredentialMaxAgeDays;
      const adminDue = adminAge >= policy.adminPasswordMaxAgeDays;
      const pending = state.app.pending ?? state.admin.pending;
      if (!appDue && !adminDue && !pending) {
        // refresh the registry's copy, unless someone holds the stack (a dead holder is cleared first)
        const free = !record.operation || (await clearStaleClaim(client, stack));
        if (free) await recordCredentials({ stack, spec, at: now.toISOString() });
        result.skipped.push({ stack, why: `not due (app users ${appAge} d, admin ${adminAge} d)` });
        continue;
      }
      const why = [
        appDue ? `app users' password is ${appAge} d old (policy ${policy.databaseCredentialMaxAgeDays})` : "",
        adminDue ? `admin password is ${adminAge} d old (policy ${policy.adminPasswordMaxAgeDays})` : "",
        pending ? `version ${pending.version} of ${pending.secret} was left pending` : "",
      ]
        .filter(Boolean)
        .join("; ");
      await clearStaleClaim(client, stack);
      const input: RotateDatabaseInput = {
        stack,
        rotationId: randomUUID(),
        appUsers: appDue,
        admin: adminDue,
        reason: "schedule",
      };
      await client.startNew(Names.orchestrators.rotateDatabaseCredentials, { instanceId, input });
      result.started.push({ stack, appUsers: appDue, admin: adminDue, why });
      log(`credential check: rotation of ${stack} started: ${why}`);
    } catch (error) {
      // one stack's trouble (its vault unreachable) must not stop the check of the others
      const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
      result.skipped.push({ stack, why: `check failed: ${message}` });
      log(`credential check: ${stack} could not be checked: ${message}`);
    }
  }
  return result;
}

export async function credentialRotationCheck(
  _timer: Timer,
  context: InvocationContext,
): Promise<CredentialCheckResult> {
  const result = await checkCredentialRotations(df.getClient(context), new Date(), (line) => context.log(line));
  context.log(
    `credential check: ${result.started.length} rotation(s) started, ${result.skipped.length} stack(s) not due or skipped`,
  );
  return result;
}

app.timer(Names.timers.credentialRotationCheck, {
  // daily at 02:23 UTC: off the hour, away from the hourly drift check (minute 17)
  schedule: "0 23 2 * * *",
  extraInputs: [df.input.durableClient()],
  handler: credentialRotationCheck,
});
