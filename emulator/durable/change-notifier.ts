// Lets callers wait (in real time) for a condition on the host's state, re-checked whenever the host
// changes. Used by the real-time helpers (waitForIdle, waitForStatus).

export class ChangeNotifier {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once `condition` holds; rejects after `timeoutMs` of real time. */
  waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = (): void => {
        if (condition()) finish();
      };
      const timer = setTimeout(
        () => finish(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`)),
        timeoutMs,
      );
      this.listeners.add(check);
      check();
    });
  }
}
