// A monotonic clock anchored to the wall clock: a step back of the host's clock never
// moves it back; a step forward (a clock corrected after boot) is followed when asked.

/** Monotonic milliseconds (performance.now()). */
export const mono: () => number = performance.now.bind(performance);

export class Clock {
  /** Wall ms at mono 0. Only ever moves forward. */
  anchor: number;

  constructor() {
    // The process's high-resolution start time keeps unit boundaries in step with
    // Date.now()'s milliseconds (Date.now() - mono() may be off by up to 1 ms).
    this.anchor = performance.timeOrigin;
    this.follow();
  }

  /** Wall-clock estimate in ms since 1970 that never goes backwards. */
  now(): number {
    return mono() + this.anchor;
  }

  /**
   * Moves the anchor forward when the wall clock is ahead of this clock by more than
   * `threshold` ms (it was stepped forward). Never moves it back. Returns the step.
   */
  follow(threshold = 1000): number {
    const ahead = Date.now() - this.now();
    if (ahead > threshold) {
      this.anchor += ahead;
      return ahead;
    }
    return 0;
  }
}

/** Resolves after `ms` milliseconds (at once for 0 or less). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
