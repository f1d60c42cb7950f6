// Daily credential check, spread over the day: the timer fires every hour and checks the stacks whose
// hour it is (one hour a day per stack, by a hash of its name: shared/schedule/spread.ts), so a
// thousand stacks neither read their vaults nor start their rotations (ARM writes) at one minute. For
// each deployed stack it reads the credential state from Key Vault and
// start its rotation (`rotate-db-<stack>`) when the app users' password is older than the stack's
// policy (policies.rotation.databaseCredentialMaxAgeDays, 30 by default), when the admin password is
// (adminPasswordMaxAgeDays, 90), or when a rotation was left pending (its instance died): that run
// finishes or rolls it back, so a pending rotation never blocks. A stack whose rotation already runs
// is left to it. Stacks nobody holds get a fresh copy of their credential state in the registry,
// so GET /api/stacks/{name} shows the age of credentials that were never rotated too. Stacks that sign
// in with Entra ID also get guacadmin's password rotated when it is due (checkGuacadminPasswords).
import { randomUUID } from "node:crypto";
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { ageDays } from "../../shared/credentials/rotation-state";
import { credentialCheckDue } from "../../shared/schedule/spread";
import { credentialVault, recordCredentials } from "../credential-store";
import { InstanceIds, Names } from "../names";
import type { BreakGlassInput } from "../orchestrators/break-glass";
import type { RotateDatabaseInput } from "../orchestrators/rotate-database";
import { services } from "../services";
import { clearStaleClaim, isInstanceRunning } from "../stack-claim";

export interface CredentialCheckResult {
  started: { stack: string; appUsers: boolean; admin: boolean; why: string }[];
  skipped: { stack: string; why: string }[];
}

export interface CredentialCheckOptions {
  /**
   * Only the stacks whose hour of the day `now` is (the hourly timer); without it every stack is
   * checked (tests, and a check run by hand).
   */
  spread?: boolean;
}

/** The check itself, with the time it judges ages by (the timer passes the wall clock). */
export async function checkCredentialRotations(
  client: df.DurableClient,
  now: Date,
  log: (line: string) => void = () => undefined,
  options: CredentialCheckOptions = {},
): Promise<CredentialCheckResult> {
  const { registry } = services();
  const result: CredentialCheckResult = { started: [], skipped: [] };
  for (const record of await registry.list()) {
    const stack = record.name;
    if (options.spread && !credentialCheckDue(stack, now)) continue;
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

/**
 * guacadmin of the stacks that sign in with Entra ID: its password is rotated (`break-glass-<stack>`,
 * action rotate) when it is older than access.breakGlass.passwordMaxAgeDays, or when a break-glass
 * window is still recorded open 10 minutes after its end (its instance died before closing it).
 */
export async function checkGuacadminPasswords(
  client: df.DurableClient,
  now: Date,
  log: (line: string) => void = () => undefined,
  options: CredentialCheckOptions = {},
): Promise<CredentialCheckResult> {
  const { registry } = services();
  const result: CredentialCheckResult = { started: [], skipped: [] };
  for (const record of await registry.list()) {
    const stack = record.name;
    if (options.spread && !credentialCheckDue(stack, now)) continue;
    const access = record.spec.access;
    const guacadmin = record.observed?.access?.guacadmin;
    if (!access || !guacadmin) continue;
    try {
      const instanceId = InstanceIds.breakGlass(stack);
      if (await isInstanceRunning(client, instanceId)) {
        result.skipped.push({ stack, why: "its break-glass instance is running" });
        continue;
      }
      const since = guacadmin.password?.since ?? guacadmin.since;
      const age = ageDays(since, now);
      const leftOpen = guacadmin.breakGlass && Date.parse(guacadmin.breakGlass.until) + 10 * 60_000 < now.getTime();
      const due = age >= access.breakGlass.passwordMaxAgeDays;
      if (!due && !leftOpen) {
        result.skipped.push({ stack, why: `guacadmin's password is ${age} d old, not due` });
        continue;
      }
      const why = leftOpen
        ? `the break-glass window that ended at ${guacadmin.breakGlass!.until} was never closed`
        : `guacadmin's password is ${age} d old (policy ${access.breakGlass.passwordMaxAgeDays})`;
      const input: BreakGlassInput = { stack, action: "rotate", requestedAt: now.toISOString(), reason: why };
      await client.startNew(Names.orchestrators.breakGlass, { instanceId, input });
      result.started.push({ stack, appUsers: false, admin: false, why });
      log(`credential check: guacadmin of ${stack}: ${why}; rotating it`);
    } catch (error) {
      const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
      result.skipped.push({ stack, why: `check failed: ${message}` });
      log(`credential check: guacadmin of ${stack} could not be checked: ${message}`);
    }
  }
  return result;
}

export async function credentialRotationCheck(
  _timer: Timer,
  context: InvocationContext,
): Promise<CredentialCheckResult> {
  const client = df.getClient(context);
  const now = new Date();
  const log = (line: string) => context.log(line);
  const result = await checkCredentialRotations(client, now, log, { spread: true });
  const guacadmin = await checkGuacadminPasswords(client, now, log, { spread: true });
  context.log(
    `credential check (this hour's stacks): ${result.started.length} rotation(s) started, ${result.skipped.length} stack(s) not due or skipped; ${guacadmin.started.length} guacadmin password rotation(s) started`,
  );
  return { started: [...result.started, ...guacadmin.started], skipped: [...result.skipped, ...guacadmin.skipped] };
}

app.timer(Names.timers.credentialRotationCheck, {
  // every hour at minute 23 (off the hour, when everyone else's timers fire): each stack once a day,
  // in its own hour
  schedule: "0 23 * * * *",
  extraInputs: [df.input.durableClient()],
  handler: credentialRotationCheck,
});
