// The Snowflake generator. Imports nothing from Redis: a member binds a generator to its
// shard lease through the internal `bindLease` hooks below (see shards/fencing.ts).

import { Clock } from '../clock.js';
import {
  GeneratorStalledError,
  LeaseExpiredError,
  MusterError,
  OptionRangeError,
  OptionTypeError,
} from '../errors.js';
import { parseInteger, rejectUnknown } from '../options.js';
import { type DecodedId, decodeId, encodeId } from './decode.js';
import { type Layout, type LayoutName, type ResolvedLayout, resolveLayout } from './layout.js';

export interface SnowflakeOptions {
  /** The worker ID (0 .. 2^workerBits - 1). Required for a standalone generator. */
  workerId?: number;
  /** A preset name or custom bit widths. Default `'twitter'`. */
  layout?: LayoutName | Layout;
  /** Time zero of the IDs: a Date, ms since 1970, or an ISO string. Default 2024-01-01Z. */
  epoch?: Date | number | string;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const INTERNAL = Symbol('muster.internal');

/**
 * A Snowflake ID generator. IDs are 64-bit (at most 63 bits used), laid out as
 *
 * ```text
 *  63        timeBits              workerBits        sequenceBits      0
 * ┌─┬───────────────────────────┬────────────────┬──────────────────┐
 * │0│ units since the epoch     │ worker (shard) │ sequence in unit │
 * └─┴───────────────────────────┴────────────────┴──────────────────┘
 * ```
 *
 * IDs from one generator strictly increase. Time comes from a monotonic clock, so a
 * wall clock stepped back never lowers it. When a unit's sequence is used up the
 * generator waits for the next unit; it never wraps. A generator made by
 * `member.snowflake()` mints only while its member's shard lease is surely valid,
 * and only above the shard's floor, so no two holders of a shard ever mint one ID.
 *
 * @example
 * ```ts
 * const ids = new Snowflake({ workerId: 7, layout: 'twitter' });
 * const id = ids.next();          // 1234567890123456789n
 * ids.decode(id).workerId;        // 7
 * ```
 */
export class Snowflake {
  /** The validated layout and epoch. */
  readonly layout: ResolvedLayout;

  private readonly unitMs: number;
  private readonly maxSeq: number;
  private readonly maxT: number;
  private readonly tShift: bigint;
  private readonly clock: Clock;
  private offset: number; // clock anchor - epoch, in ms
  private last = -1; // current time unit
  private seq = 0;
  private done = 0; // IDs minted in units before the current one
  private open = false; // an ID was minted in the current unit (`last`)
  private hi = 0n; // (last << tShift) | worker part
  private worker = -1;
  private wBig = 0n;
  private deadline: number; // mono ms until which minting is allowed
  private cap: number; // the highest unit the lease's reservation covers (maxT when unbound)
  private lead = 0; // ms the lease's floor put the generator ahead of its clock
  private refuse: () => Error = () => new LeaseExpiredError();
  private waitLease: ((signal?: AbortSignal) => Promise<void>) | null = null;
  private onLimit: (() => void) | null = null;

  constructor(options: SnowflakeOptions);
  /** @internal */
  constructor(options: SnowflakeOptions, internal: typeof INTERNAL, clock: Clock);
  constructor(options: SnowflakeOptions, internal?: typeof INTERNAL, clock?: Clock) {
    if (typeof options !== 'object' || options === null) throw new OptionTypeError('options', options, 'an object');
    rejectUnknown(options as Record<string, unknown>, internal ? ['layout', 'epoch'] : ['workerId', 'layout', 'epoch'], '');
    this.layout = resolveLayout(options.layout, options.epoch);
    this.unitMs = this.layout.unitMs;
    this.maxSeq = 2 ** this.layout.sequenceBits - 1;
    this.maxT = Math.floor((this.layout.endMs - this.layout.epochMs) / this.unitMs);
    this.tShift = BigInt(this.layout.workerBits + this.layout.sequenceBits);
    this.clock = clock ?? new Clock();
    this.offset = this.clock.anchor - this.layout.epochMs;
    this.cap = this.maxT;
    if (internal === INTERNAL) {
      this.deadline = -Infinity;
    } else {
      this.setWorker(parseInteger('workerId', options.workerId, 0, 2 ** this.layout.workerBits - 1));
      this.deadline = Infinity;
    }
  }

  private startUnit(u: number): bigint {
    if (this.open) this.done += this.seq + 1;
    this.open = true;
    this.last = u;
    this.seq = 0;
    return (this.hi = (BigInt(u) << this.tShift) | this.wBig);
  }

  /** How many IDs this generator has minted. */
  get minted(): number {
    return this.done + (this.open ? this.seq + 1 : 0);
  }

  private setWorker(worker: number): void {
    if (this.open) this.done += this.seq + 1;
    this.open = false;
    this.worker = worker;
    this.wBig = BigInt(worker) << BigInt(this.layout.sequenceBits);
    // A new worker starts in a new unit, so IDs keep increasing across a shard change.
    this.seq = this.maxSeq;
  }

  /** The worker ID now in use, or undefined while a bound generator holds no lease. */
  get workerId(): number | undefined {
    return this.worker < 0 || this.deadline === -Infinity ? undefined : this.worker;
  }

  /**
   * The next ID. Waits (spinning) at most about one time unit when the unit's sequence
   * is used up. Throws {@link LeaseExpiredError} when a bound generator holds no valid
   * lease, and {@link GeneratorStalledError} when it would have to wait longer.
   */
  next(): bigint {
    const m = performance.now();
    if (m < this.deadline) {
      const c = Math.floor((m + this.offset) / this.unitMs);
      if (c > this.last) {
        if (c <= this.cap) return this.startUnit(c);
      } else if (this.seq < this.maxSeq) {
        return this.hi | BigInt(++this.seq);
      }
    }
    return this.slow(m);
  }

  private slow(m: number): bigint {
    for (;;) {
      if (m >= this.deadline) throw this.refuse();
      const c = Math.floor((m + this.offset) / this.unitMs);
      if (c > this.last && c <= this.cap) return this.startUnit(c);
      if (this.seq < this.maxSeq && this.last >= 0) return this.hi | BigInt(++this.seq);
      if (this.last >= this.maxT) {
        throw new MusterError('TIME_EXHAUSTED', `muster: the layout's ${this.layout.timeBits} time bits are used up`);
      }
      const next = this.last + 1;
      if (next > this.cap) {
        // Everything the last renewal reserved is minted: only a renewal can reserve
        // more (it never reaches beyond Redis TIME + the group's bound).
        this.onLimit?.();
        throw new GeneratorStalledError(2, 'the reservation of the shard is used up until the next renewal');
      }
      // The unit is used up. A lease may let the generator borrow the next unit before
      // its clock reaches it (it holds a shard whose floor lies ahead of the clock),
      // never faster than real time passes.
      const allowed = m + this.offset + this.lead;
      if (next * this.unitMs <= allowed || next <= c) return this.startUnit(next);
      const waitMs = next * this.unitMs - allowed;
      if (waitMs > this.unitMs + 1) throw new GeneratorStalledError(waitMs, 'the clock is behind the last ID minted');
      m = performance.now();
    }
  }

  /** The next ID as a decimal string, for JSON. */
  nextString(): string {
    return String(this.next());
  }

  /**
   * `count` IDs in one array, cheaper per ID than `next()`. Waits like `next()` when
   * a unit's sequence runs out; never waits while the sequence has room.
   */
  nextBatch(count: number): BigUint64Array {
    parseInteger('count', count, 1, 1 << 24);
    const out = new BigUint64Array(count);
    const fast = LITTLE_ENDIAN && Number(this.tShift) <= 32;
    const u32 = fast ? new Uint32Array(out.buffer, out.byteOffset, count * 2) : null;
    const lowSpan = 2 ** (32 - Number(this.tShift));
    const tMul = 2 ** Number(this.tShift);
    const wPart = this.worker * 2 ** this.layout.sequenceBits;
    let i = 0;
    while (i < count) {
      out[i] = this.next();
      const k = Math.min(count - i - 1, this.maxSeq - this.seq);
      if (k > 0) {
        const s0 = this.seq + 1;
        if (u32) {
          const hiWord = Math.floor(this.last / lowSpan);
          const lo = (this.last % lowSpan) * tMul + wPart + s0;
          for (let j = 0, p = 2 * (i + 1); j < k; j++, p += 2) {
            u32[p] = lo + j;
            u32[p + 1] = hiWord;
          }
        } else {
          const hi = this.hi;
          for (let j = 0; j < k; j++) out[i + 1 + j] = hi | BigInt(s0 + j);
        }
        this.seq += k;
      }
      i += 1 + k;
    }
    return out;
  }

  /**
   * The next ID, waiting as long as needed: for the clock, or (for a bound generator)
   * for a valid lease. Rejects if `signal` aborts.
   */
  async nextAsync(signal?: AbortSignal): Promise<bigint> {
    for (;;) {
      signal?.throwIfAborted();
      try {
        return this.next();
      } catch (err) {
        if (err instanceof GeneratorStalledError) await sleep(Math.min(err.waitMs, 1000), signal);
        else if (this.waitLease && err instanceof MusterError && (err.code === 'LEASE_EXPIRED' || err.code === 'CLOCK_SKEW')) {
          await this.waitLease(signal);
        } else throw err;
      }
    }
  }

  /** Splits an ID into its parts. Accepts a bigint, a decimal string or a safe integer. */
  decode(id: bigint | string | number): DecodedId {
    return decodeId(id, this.layout);
  }

  /**
   * The ID made of `parts` in this generator's layout (the lowest ID of a moment when
   * `workerId` and `sequence` are 0: handy for range queries by time).
   */
  encode(parts: { timestamp: number | Date; workerId?: number; sequence?: number }): bigint {
    return encodeId(parts, this.layout);
  }

  /** Start of the newest unit used, in ms since 1970, or -Infinity before the first ID. */
  lastMs(): number {
    return this.last < 0 ? -Infinity : this.layout.epochMs + this.last * this.unitMs;
  }

  /**
   * @internal Binds the generator to a new lease: its shard, and the floor to start
   * above. Until a renewal says how far it may go, it mints nothing.
   */
  bindLease(shard: number, floorMs: number, refuse: () => Error): void {
    if (shard > 2 ** this.layout.workerBits - 1) {
      throw new OptionRangeError('layout.workerBits', this.layout.workerBits, `enough bits for shard ${shard}`);
    }
    this.setWorker(shard);
    const first = Math.floor((floorMs - this.layout.epochMs) / this.unitMs) + 1;
    if (this.last < first - 1) this.last = first - 1;
    this.offset = this.clock.anchor - this.layout.epochMs;
    // A floor ahead of the clock lets the generator start there at once; it then runs
    // ahead of its clock by that much at most, never more.
    this.lead = Math.max(0, (this.last + 1) * this.unitMs - (performance.now() + this.offset));
    this.cap = -1;
    this.refuse = refuse;
  }

  /**
   * @internal A renewal counted: mint until mono `deadline` and no unit starting after
   * `limitMs` (ms since 1970, the reservation); or refuse (deadline -Infinity) with `refuse()`.
   */
  renewLease(deadline: number, limitMs: number, refuse: () => Error): void {
    this.offset = this.clock.anchor - this.layout.epochMs;
    this.cap = Math.min(this.maxT, Math.floor((limitMs - this.layout.epochMs) / this.unitMs));
    this.deadline = deadline;
    this.refuse = refuse;
  }

  /** @internal Called when the reservation is used up, so the holder can renew early. */
  setLimitHandler(onLimit: () => void): void {
    this.onLimit = onLimit;
  }

  /** @internal How a bound generator waits for its lease (nextAsync). */
  setLeaseWaiter(wait: (signal?: AbortSignal) => Promise<void>): void {
    this.waitLease = wait;
  }
}

/** @internal Creates a generator bound to a lease (used by a member). */
export function boundSnowflake(options: SnowflakeOptions, clock: Clock): Snowflake {
  return new Snowflake(options, INTERNAL, clock);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, Math.max(1, ms));
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(t);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
