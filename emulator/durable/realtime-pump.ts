// Drives the host in wall-clock time, for the local sandbox: due messages are delivered as they come
// due, activities run for real, timers fire at their (optionally scaled) wall-clock time. One loop
// runs one episode at a time, so two episodes never overlap; messages leave the queue synchronously
// when taken, so none is delivered twice.

/** What the pump needs from the host. */
export interface PumpDriver {
  /** Delivers one batch of ready, due messages (one episode); false when nothing is due yet. */
  deliverDueBatch(): Promise<boolean>;
  /** Real milliseconds until the earliest ready message comes due, or undefined if none is ready. */
  wallDelayToNextMessage(): number | undefined;
  /** Called when delivering a batch threw; the pump keeps running after it. */
  onPumpError(error: unknown): void;
}

/** setTimeout cannot wait longer than ~24.8 days; re-check at least this often. */
const MAX_SLEEP_MS = 60 * 60 * 1000;

export class RealtimePump {
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake?: () => void;
  private sleepTimer?: NodeJS.Timeout;
  /** a poke arrived while the loop was busy: look at the queue again before sleeping */
  private dirty = false;

  constructor(private readonly driver: PumpDriver) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops after the episode in progress, if any; activities still running keep running. */
  async stop(): Promise<void> {
    this.running = false;
    this.poke();
    await this.loopDone;
  }

  /** Something was enqueued or became ready: re-evaluate what to do next. */
  poke(): void {
    this.dirty = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.dirty = false;
      let delivered: boolean;
      try {
        delivered = await this.driver.deliverDueBatch();
      } catch (err) {
        this.driver.onPumpError(err);
        delivered = true; // the batch is gone from the queue; look for the next one right away
      }
      if (delivered || this.dirty || !this.running) continue;
      await this.sleep(this.driver.wallDelayToNextMessage());
    }
  }

  private sleep(delayMs: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(this.sleepTimer);
        this.sleepTimer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      if (delayMs !== undefined) this.sleepTimer = setTimeout(done, Math.min(delayMs, MAX_SLEEP_MS));
    });
  }
}
