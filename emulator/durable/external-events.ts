// The extension's external-event bookkeeping (DurableOrchestrationContext.WaitForExternalEvent /
// RaiseEvent): waiters per event name form a stack, so the newest waiter gets the next event (this is
// what lets a Task.any-in-a-loop abandon old waiters), and events nobody waits for yet are buffered
// FIFO. Names compare case-insensitively, like the extension's OrdinalIgnoreCase dictionaries.
import { deferred, type Deferred } from "./async-tools";
import { parseJsonText } from "./json-text";

export class ExternalEventRouter {
  private readonly waiters = new Map<string, Deferred<unknown>[]>();
  private readonly buffered = new Map<string, (string | null)[]>();

  /** A task that completes with the next event of that name (a buffered one, if any). */
  wait(name: string): Promise<unknown> {
    const key = name.toLowerCase();
    const waiter = deferred<unknown>();
    const stack = this.waiters.get(key) ?? [];
    stack.push(waiter);
    this.waiters.set(key, stack);
    const queue = this.buffered.get(key);
    if (queue && queue.length > 0) {
      const rawInput = queue.shift() ?? null;
      if (queue.length === 0) this.buffered.delete(key);
      this.deliver(name, rawInput);
    }
    return waiter.promise;
  }

  /** Hands an EventRaised payload (JSON text) to the newest waiter, or buffers it. */
  deliver(name: string, rawInput: string | null): void {
    const key = name.toLowerCase();
    const stack = this.waiters.get(key);
    const waiter = stack?.pop();
    if (stack && stack.length === 0) this.waiters.delete(key);
    if (waiter) {
      waiter.resolve(parseJsonText(rawInput));
      return;
    }
    const queue = this.buffered.get(key) ?? [];
    queue.push(rawInput);
    this.buffered.set(key, queue);
  }
}
