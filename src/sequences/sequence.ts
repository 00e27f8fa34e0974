// Named short sequences: numbers 1, 2, 3, ... shared by a group's members, reserved
// from Redis in blocks (lua/sequence-8.lua argues why none is handed out twice).

import { mono, sleep } from '../clock.js';
import { MemberClosedError, OptionTypeError, SequenceFloorError, type SequenceRefusal } from '../errors.js';
import { parseInteger, parseName, rejectUnknown } from '../options.js';

/** A block is used only this long (ms, monotonic) after a call confirmed the store's identity. */
export const SEQUENCE_HOLD = 5_000;
/** The store takes a floor only this long (ms, Redis time) after its latest fresh start; more than {@link SEQUENCE_HOLD}. */
export const SEQUENCE_WAIT = 7_000;

/** Options of {@link Member.sequence}. */
export interface SequenceOptions {
  /** How many numbers a member reserves at once (1 to 1,000,000; default 50). Larger blocks mean fewer round trips and larger gaps when a member dies. */
  block?: number;
}

/** What a sequence needs from its member. */
export interface SequenceHost {
  /** Runs the sequence script with these arguments; resolves its raw reply. */
  call(args: (string | number)[]): Promise<(string | number | null)[]>;
  /** `created` of the group record the member joined ('' before it joined). */
  created(): string;
  /** True once the member has left. */
  closed(): boolean;
}

type Verdict =
  | { ok: true; first: number; last: number; identity: string }
  | { ok: false; reason: SequenceRefusal; readyInMs: number; identity: string };

/**
 * A named sequence of a group (`member.sequence('invoice')`): `await next()` gives
 * short numbers, unique across the group's members, close together (each member
 * reserves a block at a time; a member that dies holding a block leaves a gap).
 *
 * It relies on Redis keeping its data (AOF). After a fresh start of the store (a
 * restart or failover, which may have lost the latest blocks, or a wipe) it refuses with
 * {@link SequenceFloorError} until {@link Sequence.recover} gives it a floor.
 */
export class Sequence {
  private first = 1;
  private last = 0;
  private identity = '';
  /** Monotonic ms at which the latest call that confirmed `identity` was sent. */
  private confirmedAt = -Infinity;
  private pending: Promise<void> | undefined;

  /** @internal */
  constructor(
    /** The sequence's name. */
    readonly name: string,
    /** How many numbers a block holds. */
    readonly block: number,
    private readonly host: SequenceHost,
  ) {}

  /** The next number. Rejects with {@link SequenceFloorError} after a fresh start of the store, with a Redis or connection error when Redis cannot be reached. */
  async next(): Promise<number> {
    for (;;) {
      if (this.host.closed()) throw new MemberClosedError();
      if (this.first <= this.last && mono() < this.confirmedAt + SEQUENCE_HOLD) return this.first++;
      // One call at a time refills (or confirms) for all waiting callers.
      this.pending ??= this.refill().finally(() => {
        this.pending = undefined;
      });
      await this.pending;
    }
  }

  /**
   * Gives the sequence a floor after a fresh start of the store: waits until blocks
   * handed out before it are surely out of use, then calls `readFloor` (read the highest
   * number in use then, for example from your database, not before) and continues above
   * it. Safe to call from several members at once (the highest floor wins) and when the
   * sequence does not refuse (the numbers then jump above the floor if it is higher).
   * Resolves the last number the store has handed out.
   */
  async recover(readFloor: number | (() => number | Promise<number>)): Promise<number> {
    if (typeof readFloor !== 'function') parseInteger('floor', readFloor, 0, Number.MAX_SAFE_INTEGER);
    for (;;) {
      const probe = await this.call(0, undefined);
      if (!probe.ok && probe.readyInMs > 0) {
        await sleep(probe.readyInMs);
        continue;
      }
      const raw = typeof readFloor === 'function' ? await readFloor() : readFloor;
      const floor = parseInteger('floor', raw, 0, Number.MAX_SAFE_INTEGER);
      const sent = mono();
      // The store takes it only if no fresh start came since the probe: the floor was
      // read after the wait of the latest one.
      const v = await this.call(0, floor, probe.identity);
      if (!v.ok) continue; // another fresh start came in between: wait for it too
      // Drop what is left of the block: the next number is above the floor.
      this.first = v.first;
      this.last = v.last;
      this.identity = v.identity;
      this.confirmedAt = sent;
      return v.last;
    }
  }

  private async refill(): Promise<void> {
    const sent = mono();
    const left = this.first <= this.last;
    const v = await this.call(left ? 0 : this.block, undefined);
    if (!v.ok) {
      this.first = 1;
      this.last = 0;
      throw new SequenceFloorError(this.name, v.reason, v.readyInMs);
    }
    if (left && v.identity === this.identity) {
      this.confirmedAt = sent;
      return;
    }
    if (left) {
      // The store is another one than the block came from: drop it, reserve anew.
      this.first = 1;
      this.last = 0;
      return;
    }
    this.first = v.first;
    this.last = v.last;
    this.identity = v.identity;
    this.confirmedAt = sent;
  }

  private async call(count: number, floor: number | undefined, probed = ''): Promise<Verdict> {
    if (this.host.closed()) throw new MemberClosedError();
    const r = await this.host.call([this.name, count, this.host.created(), floor ?? '', SEQUENCE_WAIT, probed]);
    if (Number(r[0]) === 1) return { ok: true, first: Number(r[1]), last: Number(r[2]), identity: String(r[3]) };
    return { ok: false, reason: String(r[1]) as SequenceRefusal, readyInMs: Number(r[2]), identity: String(r[3] ?? '') };
  }
}

/** Validates `member.sequence()` arguments (typed errors naming the option). */
export function parseSequenceArgs(name: unknown, options: unknown): { name: string; block: number } {
  const n = parseName('name', name, 200, false);
  if (options === undefined) return { name: n, block: 50 };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionTypeError('options', options, 'an object such as { block: 50 }');
  }
  rejectUnknown(options as Record<string, unknown>, ['block'], '');
  const b = (options as SequenceOptions).block;
  return { name: n, block: b === undefined ? 50 : parseInteger('block', b, 1, 1_000_000) };
}
