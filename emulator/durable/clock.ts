// Where the host's "now" comes from. Tests run on a virtual clock that only moves when the host jumps
// to the next due message (deterministic, a 10-day timer costs nothing); the real-time pump swaps in
// a wall clock, optionally running faster than real time.

export interface HostClock {
  /** Host time in epoch milliseconds. */
  now(): number;
}

export class VirtualClock implements HostClock {
  constructor(private current: number) {}

  now(): number {
    return this.current;
  }

  /** Moves forward only: delivering an overdue message never turns time back. */
  advanceTo(ms: number): void {
    if (ms > this.current) this.current = ms;
  }
}

/**
 * Wall-clock time scaled by `timeScale` and anchored so that host time continues from `startAt`
 * (so switching from the virtual clock to real time never jumps backwards).
 */
export class ScaledWallClock implements HostClock {
  private readonly anchorWall = Date.now();

  constructor(
    private readonly startAt: number,
    readonly timeScale: number,
  ) {}

  now(): number {
    return this.startAt + (Date.now() - this.anchorWall) * this.timeScale;
  }

  /** Real milliseconds until host time reaches `hostMs`. */
  wallDelayUntil(hostMs: number): number {
    return Math.max(0, (hostMs - this.now()) / this.timeScale);
  }
}
