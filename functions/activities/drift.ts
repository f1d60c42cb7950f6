// Activities of the drift check: Resource Graph's change history of what drifted, for the audit.
import { asBackgroundWork } from "../../shared/azure/arm-budget";
import { latestChanges, type DriftHistoryInput, type ResourceChange } from "../../shared/drift/history";
import { services } from "../services";

/** Who changed these resources, newest change each; empty when Resource Graph can't say (never fails the reconcile). */
export async function driftChangeHistoryActivity(input: DriftHistoryInput): Promise<ResourceChange[]> {
  try {
    return await asBackgroundWork(() =>
      latestChanges(services().factory, input.subscriptionId, input.ids, new Date(input.since)),
    );
  } catch {
    return [];
  }
}
