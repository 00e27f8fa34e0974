// When a member beats: every `heartbeat` ms; at once when asked (a generator used up
// its reservation); every few ms right after a fresh start of the store, until Redis
// time has moved past the lease's floor. Never two beats in flight.

import { mono } from '../clock.js';

/** Fewest ms between renewals asked for early because a generator used up its reservation. */
const EARLY_RENEWAL_MS = 5;
/** Delay of the next beat while the lease reserves nothing above its floor. */
const ROOM_RETRY_MS = 3;

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private lastSend = -Infinity;

  constructor(
    private readonly interval: number,
    /** One beat; it never rejects. */
    private readonly beat: () => Promise<void>,
    /** True while the member should beat. */
    private readonly running: () => boolean,
    /** True when the next beat should come soon (the lease needs room and beats succeed). */
    private readonly soon: () => boolean,
  ) {}

  /** The beat in flight, if any. */
  get inFlight(): Promise<void> | undefined {
    return this.beating;
  }

  /** Records that a beat was sent now. */
  sent(): void {
    this.lastSend = mono();
  }

  /** Schedules the next beat. */
  schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), this.soon() ? ROOM_RETRY_MS : this.interval);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Beats now (unless a beat is in flight) and goes on with the usual interval after it. */
  now(): Promise<void> {
    if (this.beating) return this.beating;
    if (!this.running()) return Promise.resolve();
    clearTimeout(this.timer);
    return this.start();
  }

  /** A generator used up its reservation: renew now rather than at the next interval. */
  early(): void {
    if (this.beating || !this.running() || mono() - this.lastSend < EARLY_RENEWAL_MS) return;
    void this.now();
  }

  private start(): Promise<void> {
    const p = this.beat().finally(() => {
      this.beating = undefined;
      if (this.running()) this.schedule();
    });
    this.beating = p;
    return p;
  }
}
