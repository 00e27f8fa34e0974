// Every error muster throws or emits. Each has a stable `code`; option errors are also
// real TypeError / RangeError instances, and every one of them is `instanceof MusterError`.

import type { NodeInfo } from './types.js';

const BRAND: unique symbol = Symbol.for('muster.error');

/** Renders a received value for an error message without throwing on cycles or BigInt. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (value === undefined) return 'undefined';
  try {
    const s = JSON.stringify(value);
    if (s === undefined) return String(value);
    return s.length > 80 ? s.slice(0, 77) + '...' : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function branded(value: unknown): value is Error {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * `instanceof` that also recognises errors made by another copy of muster in the same
 * process (the CommonJS and the ESM build, or two installed versions): they carry the
 * brand and the same class name.
 */
function isInstance(cls: Function, value: unknown): boolean {
  return Function.prototype[Symbol.hasInstance].call(cls, value) || (branded(value) && value.name === cls.name);
}

function brand(err: Error, code: string, name: string): void {
  Object.defineProperty(err, BRAND, { value: true });
  Object.defineProperty(err, 'name', { value: name, enumerable: false, configurable: true, writable: true });
  (err as unknown as { code: string }).code = code;
}

/**
 * Base class of every muster error. `err instanceof MusterError` is true for all of
 * them, including {@link OptionTypeError} and {@link OptionRangeError}, which extend the
 * built-in `TypeError` and `RangeError`.
 */
export class MusterError extends Error {
  /** Stable, machine-readable identifier, e.g. `DUPLICATE_NODE`. */
  declare readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    brand(this, code, new.target.name);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === MusterError) return branded(value);
    return isInstance(this, value);
  }
}

/** An option has the wrong type (or is unknown). Names the option and the value received. */
export class OptionTypeError extends TypeError {
  declare readonly code: 'OPTION_TYPE';
  constructor(
    /** Dotted path of the option, e.g. `shards.max`. */
    readonly option: string,
    /** The value that was received. */
    readonly value: unknown,
    expected: string,
  ) {
    super(`muster: option \`${option}\` must be ${expected}; received ${show(value)}`);
    brand(this, 'OPTION_TYPE', 'OptionTypeError');
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(this, value);
  }
}

/** An option has the right type but a value out of range. Names the option and the value. */
export class OptionRangeError extends RangeError {
  declare readonly code: 'OPTION_RANGE';
  constructor(
    readonly option: string,
    readonly value: unknown,
    expected: string,
  ) {
    super(`muster: option \`${option}\` must be ${expected}; received ${show(value)}`);
    brand(this, 'OPTION_RANGE', 'OptionRangeError');
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(this, value);
  }
}

/** A live member already uses this nodeId; nothing of it was changed. */
export class DuplicateNodeError extends MusterError {
  constructor(readonly nodeId: string, reason: string) {
    super('DUPLICATE_NODE', `muster: nodeId ${show(nodeId)} is held by a live member (${reason})`);
  }
}

/** Every shard of the range is held or in quarantine. */
export class ShardsExhaustedError extends MusterError {
  constructor(
    readonly min: number,
    readonly max: number,
    /** Milliseconds until the next quarantined shard comes free, if any is quarantined. */
    readonly retryInMs: number | undefined,
  ) {
    super(
      'SHARDS_EXHAUSTED',
      `muster: every shard of ${min}..${max} is held or quarantined` +
        (retryInMs === undefined ? '' : `; the next one comes free in ${retryInMs} ms`),
    );
  }
}

/** `reset()` of a group some member is still alive in, without `force`; nothing was written. */
export class GroupInUseError extends MusterError {
  constructor(
    readonly group: string,
    /** How many members are alive. */
    readonly alive: number,
    /** Ids of some of them (at most 20). */
    readonly nodeIds: readonly string[],
  ) {
    super(
      'GROUP_IN_USE',
      `muster: group ${show(group)} has ${alive} live member(s) (${nodeIds.slice(0, 5).join(', ')}${alive > 5 ? ', ...' : ''}); ` +
        'stop them first, or force the reset (they then lose their lives and rejoin)',
    );
  }
}

/** `setRange()` would leave a held shard outside the group's range; nothing was written. */
export class ShardHeldError extends MusterError {
  constructor(
    /** The held shard outside the new range. */
    readonly shard: number,
    /** Who holds it: a nodeId, or the name of a Redis-side minter. */
    readonly holder: string,
    readonly min: number,
    readonly max: number,
  ) {
    super('SHARD_HELD', `muster: shard ${shard} is held by ${show(holder)}, outside the new range ${min}..${max}; narrowing waits until it is released`);
  }
}

const CONFIG_WAY_OUT: Record<string, string> = {
  shards: '; change the group\'s range with `muster group set-range` (or Group.setRange()), or reset the group once no member is alive',
  horizon: '; reset the group (`muster group reset`, Group.reset()) once no member is alive',
  snowflake: '; a group keeps its layout and epoch for ever (IDs of another one could repeat earlier IDs): use another group name',
};

/** The group already exists with a setting G2 depends on (shard range, horizon, Snowflake layout and epoch) other than this member's; nothing was written. */
export class GroupConfigError extends MusterError {
  constructor(readonly option: string, readonly value: unknown, readonly groupValue: unknown) {
    super(
      'GROUP_CONFIG',
      `muster: option \`${option}\` is ${show(value)} but the group in Redis uses ${show(groupValue)}` + (CONFIG_WAY_OUT[option] ?? ''),
    );
  }
}

/** The Redis server is configured in a way that would break muster's guarantees (nothing was written). */
export class StoreConfigError extends MusterError {
  constructor(readonly setting: string, readonly value: string) {
    super(
      'STORE_CONFIG',
      `muster: Redis has ${setting} ${value}, so it may evict keys and lose the floors that keep IDs unique; ` +
        `set ${setting} to noeviction (or maxmemory to 0)`,
    );
  }
}

/** A generator was asked for an ID while its lease is not (or no longer) surely valid. */
export class LeaseExpiredError extends MusterError {
  constructor(message = 'muster: no valid shard lease; IDs cannot be minted now') {
    super('LEASE_EXPIRED', message);
  }
}

/** This host's clock is ahead of Redis TIME by more than `clockSkew`: minting stalls. */
export class ClockSkewError extends MusterError {
  constructor(readonly aheadMs: number, readonly allowedMs: number) {
    super(
      'CLOCK_SKEW',
      `muster: this host's clock is about ${Math.round(aheadMs)} ms ahead of Redis TIME ` +
        `(allowed: ${allowedMs} ms); IDs stall until the clocks agree`,
    );
  }
}

/** A synchronous `next()` would have to wait longer than one time unit for its clock. */
export class GeneratorStalledError extends MusterError {
  constructor(readonly waitMs: number, why: string, hint = 'use nextAsync() to wait') {
    super('STALLED', `muster: the generator must wait about ${Math.ceil(waitMs)} ms (${why}); ${hint}`);
  }
}

/** A Redis command failed or timed out; `cause` holds the underlying error. */
export class RedisError extends MusterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REDIS', `muster: ${message}`, options);
  }
}

/** Replication did not reach the requested replicas in time (`durability`). */
export class DurabilityError extends MusterError {
  constructor(readonly acked: number, readonly wanted: number) {
    super('DURABILITY', `muster: WAIT reached ${acked} of ${wanted} replicas in time; the write does not count`);
  }
}

/** The member has left or was never joined. */
export class MemberClosedError extends MusterError {
  constructor(message = 'muster: this member has left') {
    super('CLOSED', message);
  }
}

/**
 * A `node down` listener's promise was rejected: the cleanup after `node` did not finish.
 * The report stays with this member and is delivered again after `retryInMs`.
 */
export class CleanupError extends MusterError {
  constructor(
    /** The dead member the cleanup was for. */
    readonly node: NodeInfo,
    /** How many times the cleanup failed so far. */
    readonly attempt: number,
    /** When the report is delivered again. */
    readonly retryInMs: number,
    cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super('CLEANUP', `muster: the node down cleanup after ${node.id} failed (attempt ${attempt}: ${why}); it runs again in ${retryInMs} ms`, { cause });
  }
}

/**
 * How a connection to Redis failed. `CONNECT`: refused, unknown host, unreachable or
 * timed out; `AUTH`: wrong or missing credentials; `TLS`: the TLS handshake failed
 * (often an untrusted certificate); `CONFIG`: the server cannot serve what was asked (a
 * database it does not have, a database other than 0 on a Cluster); `NOPERM`: the
 * Redis user lacks a permission muster needs.
 */
export type ConnectionFailure = 'CONNECT' | 'AUTH' | 'TLS' | 'CONFIG' | 'NOPERM';

/** Redis could not be used; `code` says why, the message what to do, `cause` is the original error. */
export class ConnectionError extends MusterError {
  declare readonly code: ConnectionFailure;
  constructor(code: ConnectionFailure, message: string, options?: { cause?: unknown }) {
    super(code, `muster: ${message}`, options);
  }
}

/**
 * Why a named sequence refuses: `wiped` (the store lost the group), `restart` (the store
 * restarted or failed over since the sequence was last written, and may have lost its
 * latest blocks) or `unknown` (a name the store does not know, in a group whose store had
 * such a fresh start: it may be a sequence whose counter was lost).
 */
export type SequenceRefusal = 'wiped' | 'restart' | 'unknown';

/**
 * A named sequence cannot tell which numbers were handed out before a fresh start of the
 * store, so it refuses rather than repeat one. Call `sequence.recover(readFloor)` with a
 * function that reads the highest number in use (for example from your database): the
 * sequence continues above it.
 */
export class SequenceFloorError extends MusterError {
  constructor(
    /** The sequence's name. */
    readonly sequence: string,
    /** What happened to the store. */
    readonly reason: SequenceRefusal,
    /** How long until the store takes a floor (blocks handed out before are then surely out of use). */
    readonly readyInMs: number,
  ) {
    const what =
      reason === 'wiped'
        ? 'the store lost the group (wiped)'
        : reason === 'restart'
          ? 'the store restarted or failed over since its last block and may have lost it'
          : 'the store does not know it, and it restarted, failed over or was wiped since the group began';
    super('SEQUENCE_FLOOR', `muster: sequence ${JSON.stringify(sequence)} refuses to hand out numbers: ${what}; call recover() with the highest number in use`);
  }
}
