// Wraps the app's real activity handlers for the durable test host to model a host that dies in the
// middle of a deploy: the k-th activity the victim instance starts runs to the end (its side effect
// happens), and then the instance is terminated, so nothing the orchestration would have done with
// that result (or anything after it) happens. Activities it starts after the k-th never run their
// handler: the process that would have run them is gone. Activities of other instances run as usual.
// Every activity is also recorded (name, a label, the instance) so tests can count and name them.
import type { InvocationContext } from "@azure/functions";
import type { ActivityInvoker, DurableTestHost } from "../../emulator/durable";

export interface ActivityCall {
  instanceId: string;
  name: string;
  /** e.g. "applyResource vm:web-1", "runNodeAgent health jgres-web-1" */
  label: string;
  input: unknown;
  /** what the real handler returned, or its error (undefined while it runs, or if it never ran) */
  outcome?: { ok: true; result: unknown } | { ok: false; error: string };
}

export class HostCrashedError extends Error {
  constructor(label: string) {
    super(`the host crashed before ${label} could run`);
    this.name = "HostCrashedError";
  }
}

export class ActivityCrashTap {
  /** every activity invocation that reached a real handler, in start order */
  readonly calls: ActivityCall[] = [];
  private host?: DurableTestHost;
  private victim?: { instanceId: string; killAfter: number; started: number; killedAfter?: string; armed: boolean };
  private readonly running = new Set<Promise<unknown>>();

  attach(host: DurableTestHost): void {
    this.host = host;
  }

  /** The registered handlers, each wrapped; pass as `durable.overrides.activities`. */
  wrapAll(activities: Record<string, ActivityInvoker>): Record<string, ActivityInvoker> {
    return Object.fromEntries(Object.entries(activities).map(([name, real]) => [name, this.wrap(name, real)]));
  }

  /** Kill `instanceId` once the `killAfter`-th activity it starts has finished. */
  killAfter(instanceId: string, killAfter: number): void {
    this.victim = { instanceId, killAfter, started: 0, armed: true };
  }

  /** Stops killing: a new run under the same instance id (a singleton started again) lives. */
  disarm(): void {
    if (this.victim) this.victim.armed = false;
  }

  /** Label of the activity after which the victim was killed, once it was. */
  get killedAfter(): string | undefined {
    return this.victim?.killedAfter;
  }

  /** Waits for every handler still running (a killed instance's in-flight activities finish their work). */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  callsOf(instanceId: string): ActivityCall[] {
    return this.calls.filter((c) => c.instanceId === instanceId);
  }

  private wrap(name: string, real: ActivityInvoker): ActivityInvoker {
    return async (input: unknown, context: InvocationContext) => {
      const meta = context.triggerMetadata?.instanceId;
      const instanceId = typeof meta === "string" ? meta : "";
      const label = labelOf(name, input);
      const victim = this.victim?.armed && this.victim.instanceId === instanceId ? this.victim : undefined;
      if (victim && victim.started >= victim.killAfter) throw new HostCrashedError(label);
      const n = victim ? ++victim.started : 0;
      const call: ActivityCall = { instanceId, name, label, input };
      this.calls.push(call);
      const run = (async () => real(input, context))();
      this.running.add(run);
      try {
        const result = await run;
        call.outcome = { ok: true, result };
        return result;
      } catch (e) {
        call.outcome = { ok: false, error: e instanceof Error ? e.message : String(e) };
        throw e;
      } finally {
        this.running.delete(run);
        if (victim && n === victim.killAfter) {
          victim.killedAfter = label;
          this.host!.terminate(instanceId, `killed after activity ${n} (${label})`);
        }
      }
    };
  }
}

function labelOf(name: string, input: unknown): string {
  const i = (input ?? {}) as { node?: { key?: string }; command?: string; vmName?: string; what?: string };
  if (i.node?.key) return `${name} ${i.node.key}`;
  if (i.command) return `${name} ${i.command} ${i.vmName ?? ""}`.trim();
  if (i.what) return `${name} ${i.what}`;
  return name;
}
