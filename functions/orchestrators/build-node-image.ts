// The node image build, `image-<stack>-<version>` (one per image version: functions/image-build-start.ts):
// look at the gallery again (reuse, build, wait or refuse: shared/node/image-identity.ts), then a
// builder VM from the marketplace image with the bake custom data → wait for the bake through
// `jumpgate-node image-status` (bounded) → `image-seal` → deallocate and generalize → capture the
// image version → delete the builder, its NIC and its OS disk. The builder is removed whatever
// happens after it was asked for: a failed bake, seal or capture leaves no machine behind. Every
// outcome is audited and recorded in the stack's observed `nodeImage`. Deterministic: every read
// and write is an activity, time is the orchestration's.
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import * as df from "durable-functions";
import type { NodeImageBuildObserved } from "../../shared/stack-status";
import type { BuildNodeImageInput } from "../image-build-start";
import { Names } from "../names";
import { failureMessage, workflow, type Step, type Workflow } from "../workflow/workflow";

/** How often the bake is looked at, and for how long at most (a from-source node takes many minutes). */
export const BAKE_WAIT = { pollSeconds: 60, maxMinutes: 90 } as const;

export interface BuildNodeImageOutput {
  outcome: NodeImageBuildObserved["outcome"];
  version: string;
  reason?: string;
  /** the image version's ARM id, when there is one to boot from */
  id?: string;
}

export interface BuildNodeImageStatus {
  phase:
    "resolving" | "creating builder" | "baking" | "sealing" | "generalizing" | "capturing" | "cleaning up" | "done";
  version: string;
  polls?: number;
}

export function* buildNodeImageSteps(wf: Workflow, input: BuildNodeImageInput): Step<BuildNodeImageOutput> {
  const { spec, version } = input;
  const operation = { kind: "node-image" as const, instanceId: wf.instanceId };
  const at = () => wf.now().toISOString();
  const progress = (phase: BuildNodeImageStatus["phase"], polls?: number) =>
    wf.context.df.setCustomStatus({ phase, version, ...(polls !== undefined ? { polls } : {}) });
  const audit = (what: string, why: string, details: Record<string, unknown> = {}) =>
    wf.call("appendAudit", { stack: spec.name, what, why, operation, details: { version, ...details } });
  const startedAt = at();
  // a finished build also says what new nodes boot from now (scale-out and heal resolve the same way)
  const resolvedBy = (outcome: NodeImageBuildObserved["outcome"], reason?: string) =>
    outcome === "succeeded" || outcome === "reused"
      ? { resolved: { at: at(), version, action: "reuse" as const } }
      : outcome === "refused" && reason
        ? { resolved: { at: at(), version, action: "conflict" as const, reason } }
        : {};
  const record = (build: Omit<NodeImageBuildObserved, "version" | "instanceId" | "startedAt">) =>
    wf.call("recordNodeImage", {
      stack: spec.name,
      lastBuild: { version, instanceId: wf.instanceId, startedAt, ...build },
      ...resolvedBy(build.outcome, build.reason),
    });

  progress("resolving");
  const resolution = yield* wf.call("resolveNodeImage", { spec });
  if (!resolution.enabled) return { outcome: "refused", version, reason: "the stack's nodeImage is not enabled" };
  const { choice, key } = resolution;
  if (choice.version !== version) {
    // the node digest changed since this build was asked for: that other version is another build
    return { outcome: "refused", version, reason: `the stack's image version is now ${choice.version}` };
  }
  if (choice.action === "reuse") {
    yield* audit("node image reused", `image version ${version} exists for this node digest: nothing to build`, {
      digest: key.digest,
    });
    yield* record({ finishedAt: at(), outcome: "reused" });
    return { outcome: "reused", version, ...(resolution.bootImage ? { id: resolution.bootImage.id } : {}) };
  }
  if (choice.action === "conflict") {
    yield* audit("node image refused", choice.reason, { digest: key.digest });
    yield* record({ finishedAt: at(), outcome: "refused", reason: choice.reason });
    return { outcome: "refused", version, reason: choice.reason };
  }

  // build (a failed version of this name is deleted first) or wait: a version being captured is
  // a capture an earlier instance started, which this one finishes or replaces like any other
  yield* wf.call("ensureImageGallery", { spec });
  if (choice.action === "build" && choice.replacesFailed) {
    yield* wf.call("deleteImageVersion", { spec, version });
  }
  yield* audit("node image build started", `no image version ${version} for this node digest yet (${input.trigger})`, {
    digest: key.digest,
    guacamoleVersion: key.guacamoleVersion,
  });
  yield* record({ outcome: "running" });
  let vmName: string | undefined;
  let failure: string | undefined;
  let id: string | undefined;
  try {
    progress("creating builder");
    const builder = yield* wf.call("createImageBuilder", { spec, key, version });
    vmName = builder.vmName;
    // a builder an earlier build left generalized (it stopped before its capture) is captured as it is
    if (!builder.generalized) {
      yield* waitForBake(wf, { spec, vmName, digest: key.digest, progress });
      progress("sealing");
      yield* wf.call("sealImageBuilder", { spec, vmName });
      progress("generalizing");
      yield* wf.call("generalizeImageBuilder", { spec, vmName });
    }
    progress("capturing");
    id = (yield* wf.call("captureImageVersion", { spec, key, version, vmName })).id;
  } catch (e) {
    failure = failureMessage(e);
  }
  // whatever happened: no builder is left behind (its removal is retried like any activity)
  progress("cleaning up");
  const cleanup = yield* wf.call("removeImageBuilder", { spec, version });
  progress("done");
  if (failure !== undefined) {
    yield* audit("node image build failed", failure, { removed: cleanup.removed, kept: cleanup.kept });
    yield* record({ finishedAt: at(), outcome: "failed", reason: failure, ...(vmName ? { builder: vmName } : {}) });
    return { outcome: "failed", version, reason: failure };
  }
  yield* audit("node image build done", `image version ${version} captured; new nodes boot from it`, {
    id,
    digest: key.digest,
    removed: cleanup.removed,
    kept: cleanup.kept,
  });
  yield* record({ finishedAt: at(), outcome: "succeeded", ...(vmName ? { builder: vmName } : {}) });
  return { outcome: "succeeded", version, ...(id ? { id } : {}) };
}

/** Polls `image-status` until the bake is done with this digest; throws with the reason otherwise. */
function* waitForBake(
  wf: Workflow,
  o: {
    spec: BuildNodeImageInput["spec"];
    vmName: string;
    digest: string;
    progress: (phase: BuildNodeImageStatus["phase"], polls?: number) => void;
  },
): Step<void> {
  const deadline = wf.after(BAKE_WAIT.maxMinutes * 60_000).getTime();
  for (let polls = 1; ; polls++) {
    o.progress("baking", polls);
    yield* wf.sleep(wf.after(BAKE_WAIT.pollSeconds * 1000));
    const reading = yield* wf.call("readImageBake", { spec: o.spec, vmName: o.vmName });
    if (reading.status?.baked) {
      if (reading.status.digest !== o.digest) {
        throw new Error(
          `the builder baked node digest ${String(reading.status.digest).slice(0, 12)}…, not ${o.digest.slice(0, 12)}…`,
        );
      }
      return;
    }
    if (reading.status?.error) throw new Error(`the bake failed: ${reading.status.error}`);
    const last = reading.status ? "still baking" : (reading.error ?? "no answer");
    if (wf.now().getTime() >= deadline) {
      throw new Error(`the bake did not finish in ${BAKE_WAIT.maxMinutes} minutes (last: ${last})`);
    }
  }
}

const buildNodeImage: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<BuildNodeImageInput>();
  return yield* buildNodeImageSteps(workflow(context), input);
};

df.app.orchestration(Names.orchestrators.buildNodeImage, buildNodeImage);
