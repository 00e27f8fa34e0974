// The shard lease as this process sees it: until when it is surely valid, how far Redis
// let it reserve, whether the host's clock is refused as too far ahead, and who waits
// for it. Redis decides the lease (see lua/includes/shards.lua); this side only ever
// trusts it less than Redis does.

import { mono } from '../clock.js';
import { ClockSkewError, LeaseExpiredError } from '../errors.js';
import type { ShardLostReason } from '../types.js';
import type { Fencing } from './fencing.js';

/**
 * A shard lease: a value object handed out with the `shard` event. Its `signal` aborts
 * when the lease ends, which is the moment to stop using the shard.
 */
export class Lease {
  /** @internal */
  readonly controller = new AbortController();
  /** @internal mono ms until which the lease is surely valid. */
  deadline = -Infinity;
  /** @internal True while the holder's clock is too far ahead of Redis to mint. */
  refused = false;

  /** @internal */
  constructor(
    /** The shard number. */
    readonly shard: number,
    /** Fencing number: only grows per shard, across holders and Redis restarts. */
    readonly fence: number,
    /** IDs minted under this lease carry timestamps above this (ms since 1970). */
    readonly floor: number,
  ) {}

  /** Aborts when the lease ends. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** `performance.now()` time until which the lease is surely valid (-Infinity while the host's clock is refused as too far ahead). */
  get validUntil(): number {
    return this.controller.signal.aborted || this.refused ? -Infinity : this.deadline;
  }

  /** True while the lease is surely valid. */
  isValid(): boolean {
    return mono() < this.validUntil;
  }
}

/** A claim or renewal as Redis answered it, with the moment it was sent. */
export interface Grant {
  /** mono ms when the script was sent: the lease counts from then, not from the reply. */
  readonly send: number;
  /** The host's clock (ms since 1970) when the script was sent. */
  readonly clockAtSend: number;
  /** How far the holder may mint (ms since 1970), as Redis capped it. */
  readonly reservation: number;
  /** Redis TIME when the script ran. */
  readonly redisNow: number;
  /** False when replication did not confirm it (`durability`): it does not extend the lease. */
  readonly counted: boolean;
}

/** What the lease tells the member it belongs to. */
export interface LeaseHooks {
  /** The lease can mint now (after a claim, a recovery, a clock back in range). */
  ready(lease: Lease): void;
  /** The lease ended or lapsed. */
  lost(shard: number, reason: ShardLostReason): void;
  /** The host's clock was found too far ahead of Redis. */
  skewed(err: ClockSkewError): void;
  /** Why nobody may wait for a lease any more, if so (the member left or was lost). */
  closed(): Error | undefined;
}

/**
 * Keeps the current lease: starts it from a claim, extends it from renewals, lets it
 * lapse when no renewal came back in time, and ends it.
 */
export class LeaseKeeper {
  /** The lease, while one is held (it may have lapsed: see `ready()`). */
  current: Lease | undefined;
  /** The latest reservation of the lease (ms since 1970). */
  reservation = -Infinity;
  private skewed = false;
  private skewAhead = 0;
  private overdueTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<{ resolve: () => void; reject: (e: unknown) => void }>();
  /** The lease is trusted until this margin before Redis could expire it. */
  private readonly safety: number;

  constructor(
    private readonly timeout: number,
    private readonly clockSkew: number,
    private readonly fencing: Fencing,
    private readonly hooks: LeaseHooks,
  ) {
    // Clocks may run up to 1% apart, plus a fixed allowance for timer lateness.
    this.safety = timeout / 50 + 10;
  }

  /** The shard held now under a valid lease, or undefined. */
  get shard(): number | undefined {
    return this.current?.isValid() ? this.current.shard : undefined;
  }

  /** The current lease unless it ended. */
  get lease(): Lease | undefined {
    return this.current && !this.current.signal.aborted ? this.current : undefined;
  }

  /** True while the lease reserves nothing above its floor (just after a fresh start of the store). */
  needsRoom(): boolean {
    return this.current !== undefined && !this.current.signal.aborted && this.reservation <= this.current.floor;
  }

  /** The lease can mint: surely valid (which includes the clock not refused), and something reserved above its floor. */
  ready(lease: Lease): boolean {
    return lease.isValid() && this.reservation > lease.floor;
  }

  /** The error a refused mint gets now. */
  refusal(): () => Error {
    if (this.skewed) {
      const ahead = this.skewAhead;
      const allowed = this.clockSkew;
      return () => new ClockSkewError(ahead, allowed);
    }
    const lease = this.current;
    if (!lease || lease.signal.aborted) return () => new LeaseExpiredError('muster: this member holds no shard lease now');
    return () => new LeaseExpiredError(`muster: the lease on shard ${lease.shard} is not surely valid (renewal overdue)`);
  }

  /** A claim came back: a new lease on `shard`. */
  start(shard: number, fence: number, floor: number, grant: Grant): void {
    const lease = new Lease(shard, fence, floor);
    this.current = lease;
    this.reservation = -Infinity;
    this.fencing.bind(lease, this.refusal());
    this.renew(grant);
  }

  /**
   * A renewal came back with another fence than the lease's: the store restarted or
   * failed over, and Redis gave a new lease on the same shard above a new floor.
   */
  rebase(fence: number, floor: number, grant: Grant): void {
    const lease = this.current;
    if (!lease) return;
    this.end('restarted');
    this.start(lease.shard, fence, floor, grant);
  }

  /** A renewal (or claim) came back: extend the lease from the moment it was sent. */
  renew(grant: Grant): void {
    let lease = this.current;
    if (!lease || !grant.counted) return;
    if (lease.signal.aborted) {
      // The lease lapsed locally but Redis still held it: it recovers as a new lease object.
      lease = new Lease(lease.shard, lease.fence, lease.floor);
      this.current = lease;
      this.fencing.recover(lease);
    }
    const wasReady = this.ready(lease);
    const wasSkewed = this.skewed;
    // Redis ran the script after it was sent: a host clock that was ahead of Redis TIME
    // at send by more than the allowance is refused (whatever the floor), and says so.
    this.skewAhead = grant.clockAtSend - grant.redisNow;
    this.skewed = this.skewAhead > this.clockSkew;
    lease.refused = this.skewed;
    if (this.skewed && !wasSkewed) this.hooks.skewed(new ClockSkewError(this.skewAhead, this.clockSkew));
    this.reservation = grant.reservation;
    lease.deadline = grant.send + this.timeout - this.safety;
    this.fencing.renew(this.skewed ? -Infinity : lease.deadline, grant.reservation, this.refusal());
    clearTimeout(this.overdueTimer);
    const left = lease.deadline - mono();
    this.overdueTimer = setTimeout(() => this.overdue(lease), Math.max(0, left) + 1);
    if (this.ready(lease) && !wasReady) {
      this.hooks.ready(lease);
      for (const w of this.waiters) w.resolve();
      this.waiters.clear();
    }
  }

  /** No renewal counted before the deadline: the lease is not surely valid any more. */
  private overdue(lease: Lease): void {
    if (lease !== this.current || lease.signal.aborted) return;
    if (lease.isValid()) {
      // Timers run on the event loop's cached clock and may fire a little early.
      this.overdueTimer = setTimeout(() => this.overdue(lease), Math.max(1, lease.deadline - mono() + 1));
      return;
    }
    lease.controller.abort(new LeaseExpiredError());
    this.fencing.renew(-Infinity, -Infinity, this.refusal());
    this.hooks.lost(lease.shard, 'renewal-overdue');
  }

  /** The lease ends for good (lost, left, re-based). */
  end(reason: ShardLostReason): void {
    clearTimeout(this.overdueTimer);
    const lease = this.current;
    this.current = undefined;
    this.skewed = false;
    this.fencing.renew(-Infinity, -Infinity, this.refusal());
    this.fencing.bind(undefined, this.refusal());
    if (lease && !lease.signal.aborted) {
      lease.controller.abort(new LeaseExpiredError());
      this.hooks.lost(lease.shard, reason);
    }
  }

  /** Stops the deadline timer (the member is closing). */
  stop(): void {
    clearTimeout(this.overdueTimer);
  }

  /** Resolves when a lease is surely valid; rejects when the member closes or `signal` aborts. */
  waitForLease(signal?: AbortSignal): Promise<void> {
    if (this.current && this.ready(this.current)) return Promise.resolve();
    const closed = this.hooks.closed();
    if (closed) return Promise.reject(closed);
    return new Promise<void>((resolve, reject) => {
      const w = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.waiters.delete(w);
        reject(signal?.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(w);
    });
  }

  /** Rejects everyone waiting for a lease (the member left or was lost for good). */
  rejectWaiters(err: Error): void {
    for (const w of this.waiters) w.reject(err);
    this.waiters.clear();
  }
}
