// Starting a stack's node image build (`image-<stack>-<version>`): one at a time per image version,
// whoever asks (a deploy, a scale-out, a request). A running one is the answer to a second request;
// check-then-start races with another caller, and when the start is refused because the other one
// started it first, that instance is the answer too. The build does not claim the stack: it touches
// only its own builder and image version, never the fleet.
import type { DurableClient } from "durable-functions";
import type { StackSpec } from "../shared/spec/types";
import { InstanceIds, Names } from "./names";
import { isInstanceRunning } from "./stack-claim";

export interface BuildNodeImageInput {
  spec: StackSpec;
  version: string;
  trigger: string;
}

export type NodeImageBuildStart = { started: boolean; instanceId: string; why?: "running" };

export async function startNodeImageBuild(
  client: DurableClient,
  input: BuildNodeImageInput,
): Promise<NodeImageBuildStart> {
  const instanceId = InstanceIds.nodeImage(input.spec.name, input.version);
  if (await isInstanceRunning(client, instanceId)) return { started: false, instanceId, why: "running" };
  try {
    await client.startNew(Names.orchestrators.buildNodeImage, { instanceId, input });
    return { started: true, instanceId };
  } catch (error) {
    if (await isInstanceRunning(client, instanceId)) return { started: false, instanceId, why: "running" };
    throw error;
  }
}
