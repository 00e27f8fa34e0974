// Building and splitting IDs of a layout, without a generator.

import { OptionRangeError, OptionTypeError } from '../errors.js';
import { parseInteger } from '../options.js';
import { type Layout, type LayoutName, type ResolvedLayout, resolveLayout } from './layout.js';

/** What an ID is made of. */
export interface DecodedId {
  /** Start of the ID's time unit, in ms since 1970. */
  readonly timestamp: number;
  /** The worker ID (the shard of the member that minted it). */
  readonly workerId: number;
  /** Position within the time unit. */
  readonly sequence: number;
}

/** Builds the ID of `parts` in `layout`. Throws an option error for parts out of range. */
export function encodeId(parts: { timestamp: number | Date; workerId?: number; sequence?: number }, layout: ResolvedLayout): bigint {
  const ms = parts.timestamp instanceof Date ? parts.timestamp.getTime() : parts.timestamp;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new OptionTypeError('timestamp', parts.timestamp, 'a Date or ms since 1970');
  if (ms < layout.epochMs || ms > layout.endMs) {
    throw new OptionRangeError('timestamp', parts.timestamp, `a time between the epoch and ${new Date(Math.min(layout.endMs, 8.64e15)).toISOString()}`);
  }
  const t = Math.floor((ms - layout.epochMs) / layout.unitMs);
  const w = parseInteger('workerId', parts.workerId ?? 0, 0, 2 ** layout.workerBits - 1);
  const q = parseInteger('sequence', parts.sequence ?? 0, 0, 2 ** layout.sequenceBits - 1);
  const seqBits = BigInt(layout.sequenceBits);
  return (BigInt(t) << (seqBits + BigInt(layout.workerBits))) | (BigInt(w) << seqBits) | BigInt(q);
}

/** A layout already resolved, or what {@link resolveLayout} takes. */
function asResolved(layout: ResolvedLayout | LayoutName | Layout | undefined, epoch: Date | string | number | undefined): ResolvedLayout {
  if (typeof layout === 'object' && layout !== null && 'epochMs' in layout && 'endMs' in layout) return layout;
  return resolveLayout(layout, epoch);
}

/**
 * Splits an ID into its parts. `layout`: a resolved layout, a preset name or a layout
 * (default: the default layout, `'twitter'`, with the default epoch); `epoch`: the epoch
 * the generator used when `layout` is not resolved (default: the library's).
 *
 * @example
 * ```ts
 * decodeId(id);                                  // the default layout and epoch
 * decodeId(id, 'twitter', '2024-01-01');         // another epoch
 * ```
 */
export function decodeId(id: bigint | string | number, layout?: ResolvedLayout | LayoutName | Layout, epoch?: Date | string | number): DecodedId {
  const l = asResolved(layout, epoch);
  let v: bigint;
  try {
    if (typeof id === 'number' && !Number.isSafeInteger(id)) throw new Error();
    if (typeof id === 'string' && !/^\d+$/.test(id)) throw new Error();
    v = BigInt(id);
  } catch {
    throw new OptionTypeError('id', id, 'a bigint, a decimal string or a safe integer');
  }
  const total = l.timeBits + l.workerBits + l.sequenceBits;
  if (v < 0n || v >= 1n << BigInt(total)) throw new OptionRangeError('id', id, `an ID of at most ${total} bits`);
  const seqBits = BigInt(l.sequenceBits);
  return {
    timestamp: l.epochMs + Number(v >> (seqBits + BigInt(l.workerBits))) * l.unitMs,
    workerId: Number((v >> seqBits) & ((1n << BigInt(l.workerBits)) - 1n)),
    sequence: Number(v & ((1n << seqBits) - 1n)),
  };
}
