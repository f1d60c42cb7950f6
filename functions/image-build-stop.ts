// Stopping a stack's node image builds, for its teardown. A build does not claim the stack (it
// touches only its builder and its image version), so a DELETE can come while one runs; left alone,
// it would go on creating things in a stack that is gone. The DELETE terminates every running
// `image-<stack>-<version>` after its claim is written and before the teardown starts: the ones the
// task hub lists as Pending or Running (durable-functions 3 has no instance-id prefix query, so the
// list is filtered here by the exact id shape, never by a prefix another stack's ids could share),
// and the one the registry records as running (recorded as failed, stopped, and audited). A build started after that list was taken, or an
// activity of a terminated build already under way, is stopped by the build's own guard
// (`assertNoTeardown`): it reads the claim this DELETE wrote before anything was listed.
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { StackNotFoundError } from "../shared/store";
import { isNodeImageBuildOf } from "./names";
import { services } from "./services";
import { isInstanceRunning } from "./stack-claim";

/**
 * Terminates the stack's running node image builds; the ids it terminated. `listTaskHub: false` (a
 * spec without nodeImage, which starts no build) looks only at the build the registry records as
 * running (one started before the spec dropped nodeImage), not through the task hub's instances.
 */
export async function stopNodeImageBuilds(
  client: DurableClient,
  stack: string,
  teardownId: string,
  options: { listTaskHub: boolean } = { listTaskHub: true },
): Promise<string[]> {
  const live = options.listTaskHub
    ? await client.getStatusBy({
        runtimeStatus: [df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running],
      })
    : [];
  const ids = new Set(live.map((s) => s.instanceId).filter((id) => isNodeImageBuildOf(stack, id)));
  const lastBuild = (await services().registry.get(stack))?.observed?.nodeImage?.lastBuild;
  if (lastBuild?.outcome === "running" && isNodeImageBuildOf(stack, lastBuild.instanceId))
    ids.add(lastBuild.instanceId);
  const stopped: string[] = [];
  const why = `the stack is being torn down (${teardownId})`;
  for (const id of [...ids].sort()) {
    if (!(await isInstanceRunning(client, id))) continue;
    // the reason goes into the terminate URL's query as it is: instance ids only ([a-z0-9.-])
    await client.terminate(id, teardownId);
    stopped.push(id);
    await services().audit.append({
      stack,
      what: "node image build stopped",
      why,
      actor: "jumpgate",
      operation: { kind: "node-image", instanceId: id },
    });
  }
  // a terminated build records nothing itself: its status must not say "running" if the teardown fails
  if (lastBuild && stopped.includes(lastBuild.instanceId)) await recordStopped(stack, lastBuild.instanceId, why);
  return stopped;
}

async function recordStopped(stack: string, instanceId: string, why: string): Promise<void> {
  const at = new Date().toISOString();
  try {
    await services().registry.updateObserved(stack, (observed) => {
      const current = observed?.nodeImage?.lastBuild;
      if (!observed || current?.instanceId !== instanceId || current.outcome !== "running") return observed!;
      const lastBuild = { ...current, outcome: "failed" as const, reason: `stopped: ${why}`, finishedAt: at };
      return { ...observed, nodeImage: { ...observed.nodeImage, lastBuild } };
    });
  } catch (e) {
    if (!(e instanceof StackNotFoundError)) throw e;
  }
}

/** The stack is being torn down (or is gone): an image build must not create anything in it. */
export class StackTearingDownError extends Error {
  readonly teardown?: string;
  constructor(stack: string, teardown?: string) {
    super(
      teardown
        ? `stack '${stack}' is being torn down (${teardown}): no node image build creates anything in it`
        : `stack '${stack}' is not registered (torn down): no node image build creates anything in it`,
    );
    this.name = "StackTearingDownError";
    this.teardown = teardown;
  }
}

/**
 * The build's guard before each step that creates something (the gallery, the builder, the image
 * version): throws StackTearingDownError when a teardown holds the stack's claim (live or not: a
 * teardown that did not finish is finished by another DELETE, not by a build) or the stack is gone.
 */
export async function assertNoTeardown(stack: string): Promise<void> {
  let record;
  try {
    record = await services().registry.get(stack);
  } catch (e) {
    if (e instanceof StackNotFoundError) throw new StackTearingDownError(stack);
    throw e;
  }
  if (!record) throw new StackTearingDownError(stack);
  if (record.operation?.kind === "teardown") throw new StackTearingDownError(stack, record.operation.instanceId);
}
