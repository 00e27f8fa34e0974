// A bounded memory of recent facts (handled reports, departed lives): a store restored
// from older data may bring them back, and a member must recognise them.

import { mono } from '../clock.js';

/** How long a fact is remembered, and how many at most (oldest dropped first). */
const MEMORY_MS = 3_600_000;
const MEMORY_MAX = 10_000;

export class Recent {
  private readonly seen = new Map<string, number>();

  has(key: string): boolean {
    return this.seen.has(key);
  }

  add(key: string): void {
    const now = mono();
    this.seen.delete(key);
    this.seen.set(key, now);
    for (const [k, t] of this.seen) {
      if (this.seen.size <= MEMORY_MAX && now - t < MEMORY_MS) break;
      this.seen.delete(k);
    }
  }
}
