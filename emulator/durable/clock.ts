// Where the host's "now" comes from. Tests run on a virtual clock that only moves when the host jumps
// to the next due message (deterministic, a 10-day timer costs nothing); the real-time pump swaps in
// a wall clock, optionally running faster than real time.

export interface HostClock {
  /** Host time in epoch milliseconds. */
  now(): number;
  /** The wall-clock time at which host time was (or will be) `hostMs`. */
  toWall(hostMs: number): number;
  /** The host time at wall-clock time `wallMs`. */
  fromWall(wallMs: number): number;
}

export class VirtualClock implements HostClock {
  constructor(private current: number) {}

  now(): number {
    return this.current;
  }

  /** A virtual clock has no relation to the wall clock: its times are shown as they are. */
  toWall(hostMs: number): number {
    return hostMs;
  }

  fromWall(wallMs: number): number {
    return wallMs;
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
    return this.fromWall(Date.now());
  }

  toWall(hostMs: number): number {
    return this.anchorWall + (hostMs - this.startAt) / this.timeScale;
  }

  fromWall(wallMs: number): number {
    return this.startAt + (wallMs - this.anchorWall) * this.timeScale;
  }

  /** Real milliseconds until host time reaches `hostMs`. */
  wallDelayUntil(hostMs: number): number {
    return Math.max(0, (hostMs - this.now()) / this.timeScale);
  }
}
