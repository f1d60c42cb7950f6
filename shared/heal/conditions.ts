// The stack's heal conditions, for GET /api/stacks/{name}: HealBrake (held, overridden by a person,
// or not held) and NodeSuspended, from the repair ledger. Pure: `now` is the orchestration's time.
import type { StackConditionInput } from "../store/registry";
import type { LedgerState } from "./types";

export function healConditions(ledger: LedgerState, now: Date): StackConditionInput[] {
  const suspended = Object.values(ledger.nodes).filter((n) => n.suspended);
  const override =
    ledger.brakeOverride && Date.parse(ledger.brakeOverride.until) > now.getTime() ? ledger.brakeOverride : undefined;
  return [
    ledger.brake
      ? {
          type: "HealBrake",
          status: "True",
          reason: ledger.brake.reason.startsWith("common-dependency") ? "CommonDependency" : "UnhealthyShare",
          message: `no repairs since ${ledger.brake.since}: ${ledger.brake.message}`,
        }
      : override
        ? {
            type: "HealBrake",
            status: "False",
            reason: "Overridden",
            message: `released by ${override.by} at ${override.at}: repairs run despite the brake until ${override.until} (budget and suspensions still hold)`,
          }
        : { type: "HealBrake", status: "False", reason: "NotHeld", message: "repairs may run" },
    suspended.length > 0
      ? {
          type: "NodeSuspended",
          status: "True",
          reason: "RepairsFailed",
          message: suspended.map((n) => `${n.node}: ${n.suspended!.reason}`).join("; "),
        }
      : { type: "NodeSuspended", status: "False", reason: "NoneSuspended", message: "no node's repairs are suspended" },
  ];
}
