// Binding generators to the lease: the member's Snowflake generator and generators of
// the user's own. A generator mints only while the lease is surely valid, and a new
// lease (another shard, or a new fence after a restart of the store) re-binds it.

import type { Clock } from '../clock.js';
import { MusterError, OptionRangeError, OptionTypeError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { type Snowflake, type SnowflakeOptions, boundSnowflake } from '../snowflake/generator.js';
import { layoutKey } from '../snowflake/layout.js';
import type { Lease, LeaseKeeper } from './lease.js';

/** A user's generator run on a member's lease: re-created on a shard change, fenced. */
export interface FencedGenerator<G extends { next(...args: never[]): unknown }> {
  /** Calls the current generator's `next()`; throws {@link LeaseExpiredError} without a valid lease. */
  next(...args: Parameters<G['next']>): ReturnType<G['next']>;
  /** Like `next()`, but waits for a valid lease. */
  nextAsync(...args: Parameters<G['next']>): Promise<ReturnType<G['next']>>;
  /** The generator made for the current lease, if any. */
  readonly current: G | undefined;
}

/** The generators bound to one member's lease. */
export class Fencing {
  private gen: Snowflake | undefined;
  private readonly rebinders = new Set<(lease: Lease | undefined) => void>();

  /** A new lease (or none): every generator moves to it. */
  bind(lease: Lease | undefined, refuse: () => Error): void {
    if (lease) this.gen?.bindLease(lease.shard, lease.floor, refuse);
    for (const f of this.rebinders) f(lease);
  }

  /** A lapsed lease that Redis still held came back as a new Lease object, same shard, fence and floor. */
  recover(lease: Lease): void {
    for (const f of this.rebinders) f(lease);
  }

  /** The lease was renewed (or lapsed: deadline -Infinity): the Snowflake may mint until `deadline`, up to `reservation`. */
  renew(deadline: number, reservation: number, refuse: () => Error): void {
    this.gen?.renewLease(deadline, reservation, refuse);
  }

  /** How many IDs the Snowflake minted. */
  minted(): number {
    return this.gen?.minted ?? 0;
  }

  /** The highest ms the Snowflake minted in (-Infinity if none). */
  lastMs(): number {
    return this.gen?.lastMs() ?? -Infinity;
  }

  /** The member's Snowflake generator (one per member: two on one shard could repeat IDs). */
  snowflake(options: Omit<SnowflakeOptions, 'workerId'>, o: Readonly<ResolvedOptions>, clock: Clock, keeper: LeaseKeeper, renewEarly: () => void): Snowflake {
    const shards = o.shards;
    if (!shards) throw new OptionRangeError('shards', false, 'enabled (a member without shards cannot mint IDs)');
    const given = options.layout !== undefined || options.epoch !== undefined;
    const gen = boundSnowflake(given ? options : { layout: o.snowflake?.layout, epoch: o.snowflake?.epoch }, clock);
    const key = layoutKey(gen.layout);
    if (key !== o.layoutKey) {
      // The group records one layout and epoch (join's `snowflake` option): IDs of two
      // layouts, or of one layout with two epochs, can collide.
      throw new OptionRangeError('layout', options.layout ?? options.epoch, `the layout and epoch given to join() as \`snowflake\` (${o.layoutKey})`);
    }
    if (this.gen) return this.gen;
    if (shards.max > 2 ** gen.layout.workerBits - 1) {
      throw new OptionRangeError('layout.workerBits', gen.layout.workerBits, `enough bits for shards up to ${shards.max}`);
    }
    gen.setLeaseWaiter((signal) => keeper.waitForLease(signal));
    gen.setLimitHandler(renewEarly);
    this.gen = gen;
    const lease = keeper.lease;
    if (lease) {
      gen.bindLease(lease.shard, lease.floor, keeper.refusal());
      if (lease.isValid()) gen.renewLease(lease.refused ? -Infinity : lease.deadline, keeper.reservation, keeper.refusal());
    }
    return gen;
  }

  /** Runs `factory(shard, lease)`'s generator on the lease (see `Member.generator`). */
  generator<G extends { next(...args: never[]): unknown }>(factory: (shard: number, lease: Lease) => G, keeper: LeaseKeeper): FencedGenerator<G> {
    if (typeof factory !== 'function') throw new OptionTypeError('factory', factory, 'a function (shard, lease) => generator');
    let cur: G | undefined;
    let curLease: Lease | undefined;
    const rebind = (lease: Lease | undefined) => {
      if (lease && lease !== curLease) {
        if (!curLease || curLease.shard !== lease.shard || curLease.fence !== lease.fence) cur = factory(lease.shard, lease);
        curLease = lease;
      }
    };
    this.rebinders.add(rebind);
    rebind(keeper.lease);
    const next = (...args: Parameters<G['next']>): ReturnType<G['next']> => {
      if (!cur || !curLease || curLease !== keeper.current || !keeper.ready(curLease)) throw keeper.refusal()();
      return (cur.next as (...a: unknown[]) => ReturnType<G['next']>)(...args);
    };
    return {
      next,
      async nextAsync(...args: Parameters<G['next']>) {
        for (;;) {
          try {
            return next(...args);
          } catch (err) {
            if (!(err instanceof MusterError) || (err.code !== 'LEASE_EXPIRED' && err.code !== 'CLOCK_SKEW')) throw err;
            await keeper.waitForLease();
          }
        }
      },
      get current() {
        return cur;
      },
    };
  }
}
