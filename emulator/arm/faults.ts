// Fault injection by rule. A rule matches requests by method, path, resource type or operation kind,
// skips the first `after` matches, fires `times` times (default once; 0 = forever) and then retires.
import type { Json } from "./types";

export type FaultEffect =
  | {
      kind: "status";
      status: number;
      code?: string;
      message?: string;
      retryAfterSeconds?: number;
      retryAfterMs?: number;
    }
  | { kind: "reset" }
  | { kind: "hang" }
  | { kind: "delay"; ms: number }
  /** the request is accepted, but the long-running operation it starts ends Failed / Canceled */
  | { kind: "failOperation"; code?: string; message?: string }
  | { kind: "cancelOperation" };

export interface FaultMatch {
  method?: string;
  /** regular expression tested against the decoded path (case-insensitive) */
  path?: string;
  /** resource type, e.g. "Microsoft.Compute/virtualMachines" */
  type?: string;
  /** what the request is: put, patch, delete, get, list, action, poll, secret, metrics */
  operation?: string;
  /** action name for operation "action", e.g. "restart" */
  action?: string;
}

export interface FaultRule {
  id: string;
  match: FaultMatch;
  effect: FaultEffect;
  after?: number;
  times?: number;
  /** how many requests matched so far, and how many were affected */
  seen: number;
  fired: number;
}

export interface RequestFacts {
  method: string;
  path: string;
  type?: string;
  operation: string;
  action?: string;
}

export class FaultInjector {
  private rules: FaultRule[] = [];
  private nextId = 1;

  add(rule: { match?: FaultMatch; effect: FaultEffect; after?: number; times?: number }): FaultRule {
    validateEffect(rule.effect);
    const r: FaultRule = {
      id: `fault-${this.nextId++}`,
      match: rule.match ?? {},
      effect: rule.effect,
      after: rule.after,
      times: rule.times,
      seen: 0,
      fired: 0,
    };
    this.rules.push(r);
    return r;
  }

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  clear(): void {
    this.rules = [];
  }

  /** The effect to apply to this request, if a rule fires. */
  take(facts: RequestFacts): FaultEffect | undefined {
    for (const r of this.rules) {
      if (!matches(r.match, facts)) continue;
      r.seen++;
      if (r.seen <= (r.after ?? 0)) continue;
      const times = r.times ?? 1;
      if (times !== 0 && r.fired >= times) continue;
      r.fired++;
      return r.effect;
    }
    return undefined;
  }
}

function matches(m: FaultMatch, f: RequestFacts): boolean {
  if (m.method && m.method.toUpperCase() !== f.method.toUpperCase()) return false;
  if (m.path && !new RegExp(m.path, "i").test(f.path)) return false;
  if (m.type && (f.type ?? "").toLowerCase() !== m.type.toLowerCase()) return false;
  if (m.operation && m.operation.toLowerCase() !== f.operation.toLowerCase()) return false;
  if (m.action && (f.action ?? "").toLowerCase() !== m.action.toLowerCase()) return false;
  return true;
}

function validateEffect(e: FaultEffect): void {
  const kinds = ["status", "reset", "hang", "delay", "failOperation", "cancelOperation"];
  if (!e || typeof e !== "object" || !kinds.includes((e as Json).kind as string)) {
    throw new Error(`fault effect must have kind one of ${kinds.join(", ")}`);
  }
  if (e.kind === "status" && !(Number.isInteger(e.status) && e.status >= 400 && e.status <= 599)) {
    throw new Error("status fault needs an HTTP error status (400-599)");
  }
}
