// `node down` delivery. Redis hands each report of a dead member to exactly one live
// member life (see lua/includes/membership.lua) and hands it on if that life dies before
// acknowledging it. This side runs the listeners and acknowledges a report only once
// its cleanup is done:
// - listeners that return nothing: acknowledged at the next heartbeat;
// - a listener that returns a promise: acknowledged after every such promise fulfilled;
//   if the member dies first, the report passes to another survivor, which runs its
//   cleanup again (at least once, never zero);
// - a rejected promise: an `error` event (CleanupError), and the report is delivered
//   again after a backoff (1 s, doubling, at most 60 s) for as long as this life holds it.

import { CleanupError } from '../errors.js';
import type { Report } from '../redis/scripts.js';
import type { NodeInfo } from '../types.js';
import { Recent } from './recent.js';

/** First delay before a failed cleanup is delivered again, and the most it grows to. */
export const RETRY_FIRST_MS = 1000;
export const RETRY_MAX_MS = 60_000;

type Listener = (node: NodeInfo) => unknown;

/** What delivery needs from the member. */
export interface ReportHooks {
  /** The `node down` listeners registered now. */
  listeners(): Listener[];
  fail(err: Error): void;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

export class Reports {
  /** Reports this life delivered (running, done, or waiting to be retried). */
  private readonly delivered = new Set<string>();
  /** Reports whose cleanup is done, to acknowledge at the next heartbeat. */
  private readonly done = new Set<string>();
  /** Reports handled by any member: a restarted store may bring them back. */
  private readonly handled = new Recent();
  private readonly running = new Map<string, Promise<void>>();
  private readonly attempts = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Grows at every new life: cleanups of an earlier life do not acknowledge for this one. */
  private life = 0;

  constructor(private readonly hooks: ReportHooks) {}

  /** Runs the listeners for every report not delivered yet in this life. */
  deliver(reports: readonly Report[]): void {
    for (const r of reports) {
      if (this.delivered.has(r.reportId)) continue;
      this.delivered.add(r.reportId);
      // Handled already (by this member or another) before a restart of the store
      // brought the report back: acknowledge it again without a second `node down`.
      if (this.handled.has(r.reportId)) this.done.add(r.reportId);
      else this.run(r);
    }
  }

  private run(r: Report): void {
    const pending: PromiseLike<unknown>[] = [];
    for (const listener of this.hooks.listeners()) {
      try {
        const v = listener(r.node);
        if (isThenable(v)) pending.push(v);
      } catch (err) {
        // A plain listener that throws: an `error` event; the report counts as handled.
        this.hooks.fail(err instanceof Error ? err : new Error(String(err)));
      }
    }
    if (pending.length === 0) {
      this.done.add(r.reportId);
      return;
    }
    const life = this.life;
    const settled = Promise.allSettled(pending).then((outcomes) => {
      this.running.delete(r.reportId);
      if (life !== this.life) return;
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (!failed) {
        this.attempts.delete(r.reportId);
        this.done.add(r.reportId);
        return;
      }
      const attempt = (this.attempts.get(r.reportId) ?? 0) + 1;
      this.attempts.set(r.reportId, attempt);
      const wait = Math.min(RETRY_FIRST_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
      this.hooks.fail(new CleanupError(r.node, attempt, wait, failed.reason));
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        // The next heartbeat brings the report again (this life still owns it).
        if (life === this.life) this.delivered.delete(r.reportId);
      }, wait);
      timer.unref();
      this.timers.add(timer);
    });
    this.running.set(r.reportId, settled);
  }

  /** Report ids to acknowledge with the next heartbeat. */
  acks(): string[] {
    return [...this.done];
  }

  /** Redis took these acknowledgements. */
  acknowledged(ids: readonly string[]): void {
    for (const id of ids) {
      this.done.delete(id);
      this.delivered.delete(id);
      this.handled.add(id);
    }
  }

  /** Some member's acknowledgement of `reportId` was announced. */
  markHandled(reportId: string): void {
    this.handled.add(reportId);
  }

  /** A new life: what the old one owned passes to whoever reaped it. */
  newLife(): void {
    this.life++;
    this.done.clear();
    this.delivered.clear();
    this.attempts.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Waits (at most `ms`) for running cleanups, so that a leave can acknowledge them. */
  async settle(ms: number): Promise<void> {
    if (this.running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.running.values()]), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Stops retry timers (the member closed). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
