// A PUT whose fleet no longer matches what scaling left (another fleet.size, another mode, or a size
// outside the new min/max) resets the fleet state to the user's size: user intent wins. Written
// under the deploy's claim, before the deploy starts, so the state follows the spec from then on
// (also when the user later puts the old size back). The reset keeps the lowest existing node
// numbers, so no node that exists is renumbered (shared/scale/fleet.ts).
import { effectiveFleet, type EffectiveFleet } from "../shared/scale/fleet";
import type { StackSpec } from "../shared/spec/types";
import { services } from "./services";

export async function followSpecFleet(stack: string, spec: StackSpec, at: Date, by: string): Promise<EffectiveFleet> {
  const { fleet } = services();
  const kept = await fleet.get(stack);
  const effective = effectiveFleet(spec, kept);
  if (!kept || effective.source !== "reset") return effective;
  await fleet.setMembers(
    stack,
    { mode: effective.mode, specSize: effective.specSize, size: effective.size, ordinals: effective.ordinals },
    {
      change: {
        id: `reset:${by}`,
        direction: "reset",
        at: at.toISOString(),
        from: kept.size,
        to: effective.size,
        reason: `${effective.resetReason ?? "the spec changed"}: the fleet follows the spec again (user intent wins)`,
        instanceId: by,
      },
    },
  );
  return effective;
}
