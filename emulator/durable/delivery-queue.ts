// The task hub's message store: activity results, timer firings, raised events, sub-orchestration
// results, starts and terminations, each due at a host time. Messages leave the queue synchronously
// when a batch is taken, so no message can ever be delivered twice, whichever driver takes it.
import type { HistoryEventJson } from "./wire";

export interface QueuedMessage {
  /** enqueue order: the tie-breaker between messages due at the same time */
  readonly seq: number;
  readonly instanceId: string;
  /** bound to one execution (activity/timer/sub-orchestration results); undefined = whichever is current */
  readonly executionId?: string;
  /** host time (epoch ms) from which the message may be delivered */
  readonly dueAt: number;
  readonly label: string;
  /** set on timer firings, so cancelled timers can be withdrawn */
  readonly timerId?: number;
  /** false while the work behind the message (a running activity) has not finished */
  ready: boolean;
  /** resolves once `ready` is true */
  readonly settled: Promise<void>;
  /** the history event, stamped with the time it is delivered */
  toEvent(deliveredAt: Date): HistoryEventJson;
}

export type NewMessage = Omit<QueuedMessage, "seq">;

export class DeliveryQueue {
  private messages: QueuedMessage[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.messages.length;
  }

  push(message: NewMessage): QueuedMessage {
    const queued: QueuedMessage = Object.assign(message, { seq: this.nextSeq++ });
    this.messages.push(queued);
    return queued;
  }

  /** The message that should be delivered first: earliest due, then oldest. */
  peek(readyOnly: boolean): QueuedMessage | undefined {
    let best: QueuedMessage | undefined;
    for (const m of this.messages) {
      if (readyOnly && !m.ready) continue;
      if (!best || m.dueAt < best.dueAt || (m.dueAt === best.dueAt && m.seq < best.seq)) best = m;
    }
    return best;
  }

  /**
   * Removes and returns the messages of one instance that are due at `nowMs`, in delivery order,
   * at most `max` of them. This is one episode's worth of new events.
   */
  takeBatch(instanceId: string, nowMs: number, max: number, readyOnly: boolean): QueuedMessage[] {
    const batch = this.messages
      .filter((m) => m.instanceId === instanceId && m.dueAt <= nowMs && (!readyOnly || m.ready))
      .sort((a, b) => a.dueAt - b.dueAt || a.seq - b.seq)
      .slice(0, max);
    const taken = new Set(batch);
    this.messages = this.messages.filter((m) => !taken.has(m));
    return batch;
  }

  /** Withdraws messages (cancelled timers, purged instances); returns how many were removed. */
  discard(predicate: (m: QueuedMessage) => boolean): number {
    const before = this.messages.length;
    this.messages = this.messages.filter((m) => !predicate(m));
    return before - this.messages.length;
  }

  pending(): readonly QueuedMessage[] {
    return this.messages;
  }
}
