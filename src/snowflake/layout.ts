// Snowflake layouts: the bit widths of an ID, its time unit and epoch, validated once.

import { OptionRangeError, OptionTypeError } from '../errors.js';
import { type Duration, parseDuration, parseInteger, rejectUnknown } from '../options.js';

/** Bit widths of an ID, most significant first: time | worker | sequence. */
export interface Layout {
  /** Bits of time, counted in `unit`s since the epoch. */
  timeBits: number;
  /** Bits of worker ID (the shard). */
  workerBits: number;
  /** Bits of per-unit sequence. */
  sequenceBits: number;
  /** Length of one time unit. Default `'1ms'`. */
  unit?: Duration;
}

/** Preset layouts. The sum of bits is at most 63, so IDs fit a signed 64-bit column. */
export const LAYOUTS = {
  /** 41 bits of ms (69 years), 10 of worker, 12 of sequence: 4,096,000 IDs/s per worker. */
  twitter: { timeBits: 41, workerBits: 10, sequenceBits: 12, unit: 1 },
  /** Sonyflake's widths: 39 bits of 10 ms (174 years), 16 of worker, 8 of sequence: 25,600 IDs/s. */
  sonyflake: { timeBits: 39, workerBits: 16, sequenceBits: 8, unit: 10 },
  /**
   * Instagram's widths: 41 bits of ms, 13 of shard, 10 of sequence: 1,024,000 IDs/s.
   * They add up to 64, so muster uses 40 of the time bits: IDs stay positive in a
   * signed 64-bit column for 2^40 ms (34.8 years) after the epoch.
   */
  instagram: { timeBits: 41, workerBits: 13, sequenceBits: 10, unit: 1 },
} as const satisfies Record<string, Layout>;

export type LayoutName = keyof typeof LAYOUTS;

/** The default epoch: 2024-01-01T00:00:00Z. */
export const DEFAULT_EPOCH = Date.UTC(2024, 0, 1);

/** A layout after validation, with its epoch. */
export interface ResolvedLayout {
  readonly timeBits: number;
  readonly workerBits: number;
  readonly sequenceBits: number;
  readonly unitMs: number;
  readonly epochMs: number;
  /** The last moment (ms since 1970) the time bits can express with the ID below 2^63. */
  readonly endMs: number;
}

const YEAR_MS = 365.25 * 86_400_000;
const warned = new Set<string>();

function parseEpoch(value: unknown): number {
  if (value === undefined) return DEFAULT_EPOCH;
  let ms: number;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') ms = Date.parse(value);
  else throw new OptionTypeError('epoch', value, 'a Date, a number of ms since 1970, or an ISO date string');
  if (!Number.isFinite(ms) || !Number.isInteger(ms)) throw new OptionRangeError('epoch', value, 'a valid date, in whole ms');
  if (ms < 0 || ms > Date.now()) throw new OptionRangeError('epoch', value, 'a date between 1970 and now');
  return ms;
}

/** Validates a layout (preset name or bit widths) and epoch. */
export function resolveLayout(layout: unknown = 'twitter', epoch?: unknown): ResolvedLayout {
  let l: Layout;
  let preset = false;
  if (typeof layout === 'string') {
    if (!Object.prototype.hasOwnProperty.call(LAYOUTS, layout)) {
      throw new OptionRangeError('layout', layout, `one of ${Object.keys(LAYOUTS).join(', ')}, or { timeBits, workerBits, sequenceBits, unit }`);
    }
    l = LAYOUTS[layout as LayoutName];
    preset = true;
  } else if (typeof layout === 'object' && layout !== null && !Array.isArray(layout)) {
    rejectUnknown(layout as Record<string, unknown>, ['timeBits', 'workerBits', 'sequenceBits', 'unit'], 'layout');
    l = layout as Layout;
  } else {
    throw new OptionTypeError('layout', layout, 'a preset name or { timeBits, workerBits, sequenceBits, unit }');
  }
  const timeBits = parseInteger('layout.timeBits', l.timeBits, 1, 62);
  const workerBits = parseInteger('layout.workerBits', l.workerBits, 1, 61);
  const sequenceBits = parseInteger('layout.sequenceBits', l.sequenceBits, 1, 30);
  if (!preset && timeBits + workerBits + sequenceBits > 63) {
    throw new OptionRangeError('layout', layout, `bit widths summing to at most 63 (got ${timeBits + workerBits + sequenceBits})`);
  }
  const unitMs = parseDuration('layout.unit', l.unit ?? 1, 1, 86_400_000);
  if (!Number.isInteger(unitMs)) throw new OptionRangeError('layout.unit', l.unit, 'a whole number of ms');
  const epochMs = parseEpoch(epoch);
  const usableBits = Math.min(timeBits, 63 - workerBits - sequenceBits);
  const endMs = epochMs + 2 ** usableBits * unitMs - 1;
  const now = Date.now();
  if (endMs < now + 2 * YEAR_MS) {
    throw new OptionRangeError(
      'layout.timeBits',
      timeBits,
      `enough time bits to last at least 2 years from now (with this epoch and unit they end ${new Date(Math.min(endMs, 8.64e15)).toISOString()})`,
    );
  }
  if (endMs < now + 10 * YEAR_MS) {
    const key = `${timeBits}/${unitMs}/${epochMs}`;
    if (!warned.has(key)) {
      warned.add(key);
      process.emitWarning(`muster: this layout's time bits run out on ${new Date(endMs).toISOString()}`, 'MusterLayoutWarning');
    }
  }
  return { timeBits, workerBits, sequenceBits, unitMs, epochMs, endMs };
}

/** The text a group records for a layout: members that hold shards must agree on it. */
export function layoutKey(l: ResolvedLayout): string {
  return `${l.timeBits}/${l.workerBits}/${l.sequenceBits}/${l.unitMs}ms@${new Date(l.epochMs).toISOString()}`;
}
