// The one place where join options get their defaults and are validated. Nothing here
// touches Redis: bad input fails before any connection is made.

import { hostname } from 'node:os';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import ms from 'ms';
import { OptionRangeError, OptionTypeError } from './errors.js';
import { type Layout, type LayoutName, type ResolvedLayout, layoutKey, resolveLayout } from './snowflake/layout.js';

/** A duration: a number of milliseconds, or an `ms` string such as `"500ms"` or `"3s"`. */
export type Duration = number | string;

/** Any value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Any ioredis `Redis` or `Cluster` instance, from whichever copy of ioredis (5 or 6) the
 * app uses: muster recognises it by what it can do, not by `instanceof`.
 */
export interface IoredisClient {
  readonly status: string;
  readonly isCluster: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  evalsha(...args: any[]): Promise<unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  duplicate(...args: any[]): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  pipeline(...args: any[]): unknown;
}

/** True for an ioredis `Redis` or `Cluster` instance of any copy of ioredis 5 or 6. */
export function isIoredisClient(value: unknown): value is IoredisClient {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.isCluster === 'boolean' &&
    typeof v.status === 'string' &&
    typeof v.options === 'object' &&
    ['evalsha', 'eval', 'pipeline', 'duplicate', 'subscribe', 'disconnect', 'on'].every((m) => typeof v[m] === 'function')
  );
}

/** Names what a value that is not an ioredis client looks like, for an error message. */
function describeClient(value: object): string {
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  const v = value as Record<string, unknown>;
  if (typeof v.sendCommand === 'function' && 'isOpen' in v) return `a node-redis client (${name || 'object'})`;
  return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
}

/** Where the group's Redis is. */
export type RedisInput =
  /** A URL: `redis://[user:pass@]host:port[/db]` or `rediss://` for TLS. */
  | string
  /** A connected or lazy ioredis client; muster never closes a client it did not create. */
  | Redis
  /** An ioredis Cluster client. */
  | Cluster
  /** A client of another copy of ioredis (5 or 6). */
  | IoredisClient
  /** ioredis options, e.g. `{ sentinels: [...], name: 'mymaster' }` for Sentinel. */
  | RedisOptions;

/** The range of shard numbers members of a group hold, and how long a join may wait for one. */
export interface ShardOptions {
  /** Lowest shard number. Default 0. */
  min?: number;
  /** Highest shard number (inclusive). Default 1023. */
  max?: number;
  /** How long `join()` waits for a shard when all are taken. Default 0: reject at once. */
  wait?: Duration;
}

/** Wait for replication (Redis `WAIT`) before a claim or renewal counts. */
export interface DurabilityOptions {
  /** Replicas that must have the write. */
  replicas: number;
  /** How long to wait for them. */
  timeout: Duration;
}

/** Options of {@link join} and {@link createMember}. */
export interface JoinOptions<Meta = JsonValue> {
  /** Redis to use. Default: `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`. */
  redis?: RedisInput;
  /** Group name; members see only their own group. Default `'default'`. */
  group?: string;
  /** Prefix of every key. Default `'muster'`. */
  prefix?: string;
  /** This member's id. Default `${os.hostname()}:${process.pid}`. */
  nodeId?: string;
  /** Small JSON value visible to peers (at most 4 KiB serialized). Default `{}`. */
  meta?: Meta;
  /** Interval between heartbeats. Must be shorter than half the timeout. Default `'1s'`. */
  heartbeat?: Duration;
  /** A member is dead after this long without a heartbeat (judged by Redis TIME). Default `'5s'`. */
  timeout?: Duration;
  /** Shard range (`true`: 0..1023), or `false` for membership only. Default `true`. */
  shards?: ShardOptions | boolean;
  /** Largest difference tolerated between this host's clock and Redis TIME. Default `'1s'`. */
  clockSkew?: Duration;
  /** Wait for replication before a claim or renewal counts. Default: off. */
  durability?: DurabilityOptions;
  /** Rejoin by itself after `lost`. Default `true`. */
  rejoin?: boolean;
  /**
   * B, the group's bound: how far ahead of Redis `TIME` any holder may reserve IDs, and
   * how far above Redis `TIME` every lease starts after a fresh start of the store (a
   * new group, a wipe, a restart, a failover). At least `clockSkew + timeout`, which is
   * the default. Recorded with the group: every member that holds shards must use the
   * same value (set it explicitly when members' timeouts differ).
   */
  horizon?: Duration;
  /**
   * The layout and epoch of the group's Snowflake IDs. Recorded with the group: every
   * member that holds shards must use the same. Default `{ layout: 'twitter', epoch: 2024-01-01Z }`.
   */
  snowflake?: { layout?: LayoutName | Layout; epoch?: Date | number | string };
  /**
   * The group's keys expire after this long without any member (or minter) writing to
   * them: heartbeats, joins and leaves keep them. At least twice `horizon`, so that an
   * expired group repeats no ID when it starts afresh; `false`: never. Members that
   * differ: the longest wins, and `false` wins over any length. Named sequences'
   * counters never expire. Default `'30d'`.
   */
  idleExpiry?: Duration | false;
}

/** Options after defaults and validation; all durations in ms. */
export interface ResolvedOptions {
  redis: RedisInput;
  group: string;
  prefix: string;
  nodeId: string;
  meta: JsonValue;
  metaJson: string;
  heartbeat: number;
  timeout: number;
  shards: { min: number; max: number; wait: number } | null;
  clockSkew: number;
  durability: { replicas: number; timeout: number } | null;
  rejoin: boolean;
  /** B, in ms. */
  horizon: number;
  /** The `snowflake` option as given. */
  snowflake: { layout?: LayoutName | Layout; epoch?: Date | number | string } | undefined;
  /** The layout as recorded with the group ('' without shards). */
  layoutKey: string;
  /** Idle expiry in ms; 0: never. */
  idleExpiry: number;
}

const KNOWN = [
  'redis',
  'group',
  'prefix',
  'nodeId',
  'meta',
  'heartbeat',
  'timeout',
  'shards',
  'clockSkew',
  'durability',
  'rejoin',
  'horizon',
  'snowflake',
  'idleExpiry',
] as const;

export const LIMITS = {
  nodeIdBytes: 256,
  groupChars: 128,
  prefixChars: 64,
  metaBytes: 4096,
  minHeartbeat: 10,
  maxTimeout: 3_600_000,
  maxClockSkew: 600_000,
  maxShard: 2 ** 31 - 1,
} as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Rejects keys of `obj` not in `known`, naming the first one found. */
export function rejectUnknown(obj: Record<string, unknown>, known: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      throw new OptionTypeError(path ? `${path}.${key}` : key, obj[key], `one of the known options (${known.join(', ')})`);
    }
  }
}

/** Parses a duration (ms number or `ms` string) and checks it lies in [min, max]. */
export function parseDuration(option: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string') {
    const parsed = value.trim() === '' ? undefined : (ms as (s: string) => number | undefined)(value);
    if (typeof parsed !== 'number' || Number.isNaN(parsed)) {
      throw new OptionTypeError(option, value, 'a number of ms or a duration string such as "500ms" or "3s"');
    }
    n = parsed;
  } else {
    throw new OptionTypeError(option, value, 'a number of ms or a duration string such as "500ms" or "3s"');
  }
  if (!Number.isFinite(n)) throw new OptionRangeError(option, value, 'a finite duration');
  if (n < min || n > max) throw new OptionRangeError(option, value, `a duration from ${min} ms to ${max} ms`);
  return n;
}

export function parseInteger(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new OptionTypeError(option, value, 'an integer');
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OptionRangeError(option, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function parseName(option: string, value: unknown, maxChars: number, noBraces: boolean): string {
  if (typeof value !== 'string') throw new OptionTypeError(option, value, 'a string');
  if (value.length === 0) throw new OptionRangeError(option, value, 'a non-empty string');
  if (Buffer.byteLength(value) > maxChars) throw new OptionRangeError(option, value, `at most ${maxChars} bytes`);
  if (CONTROL.test(value)) throw new OptionRangeError(option, value, 'a string without control characters');
  if (noBraces && /[{}]/.test(value)) {
    throw new OptionRangeError(option, value, 'a string without "{" or "}" (they would break the Redis Cluster hash tag)');
  }
  return value;
}

function checkJson(option: string, value: unknown, stack: object[], root: string, rootValue: unknown): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new OptionTypeError(option, value, 'JSON (finite numbers only)');
    return;
  }
  if (Array.isArray(value) || isPlainObject(value)) {
    if (stack.includes(value)) throw new OptionTypeError(root, rootValue, 'JSON without cycles');
    if (stack.length >= 32) throw new OptionRangeError(root, rootValue, 'JSON nested at most 32 levels deep');
    stack.push(value);
    if (Array.isArray(value)) value.forEach((v, i) => checkJson(`${option}[${i}]`, v, stack, root, rootValue));
    else for (const [k, v] of Object.entries(value)) checkJson(`${option}.${k}`, v, stack, root, rootValue);
    stack.pop();
    return;
  }
  throw new OptionTypeError(option, value, 'JSON (null, boolean, number, string, array or plain object)');
}

function parseRedis(value: unknown): RedisInput {
  if (isIoredisClient(value)) return value;
  if (typeof value === 'string') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new OptionTypeError('redis', value, 'a redis:// or rediss:// URL, an ioredis client, or ioredis options');
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new OptionRangeError('redis', value, 'a URL with protocol redis: or rediss:');
    }
    if (!url.hostname) throw new OptionRangeError('redis', value, 'a URL with a host');
    if (url.pathname.length > 1 && !/^\/\d+$/.test(url.pathname)) {
      throw new OptionRangeError('redis', value, 'a URL whose path is a database number, e.g. /0');
    }
    return value;
  }
  if (typeof value === 'object' && value !== null && !isPlainObject(value)) {
    throw new OptionTypeError('redis', value, `a redis:// URL, an ioredis Redis or Cluster client (ioredis 5 or 6), or ioredis options; this is ${describeClient(value)}`);
  }
  if (isPlainObject(value)) {
    if ('sentinels' in value && !Array.isArray(value.sentinels)) {
      throw new OptionTypeError('redis.sentinels', value.sentinels, 'an array of { host, port }');
    }
    return value as RedisOptions;
  }
  throw new OptionTypeError('redis', value, 'a redis:// or rediss:// URL, an ioredis client, or ioredis options');
}

function parseShards(value: unknown): ResolvedOptions['shards'] {
  if (value === undefined || value === true) return { min: 0, max: 1023, wait: 0 };
  if (value === false) return null;
  if (!isPlainObject(value)) throw new OptionTypeError('shards', value, 'true, false or { min, max, wait }');
  rejectUnknown(value, ['min', 'max', 'wait'], 'shards');
  const min = value.min === undefined ? 0 : parseInteger('shards.min', value.min, 0, LIMITS.maxShard);
  const max = value.max === undefined ? 1023 : parseInteger('shards.max', value.max, 0, LIMITS.maxShard);
  if (max < min) throw new OptionRangeError('shards.max', value.max, `an integer not below shards.min (${min})`);
  const wait = value.wait === undefined ? 0 : parseDuration('shards.wait', value.wait, 0, 86_400_000);
  return { min, max, wait };
}

function parseDurability(value: unknown): ResolvedOptions['durability'] {
  if (value === undefined) return null;
  if (!isPlainObject(value)) throw new OptionTypeError('durability', value, '{ replicas, timeout }');
  rejectUnknown(value, ['replicas', 'timeout'], 'durability');
  const replicas = parseInteger('durability.replicas', value.replicas, 1, 64);
  const timeout = parseDuration('durability.timeout', value.timeout, 1, 60_000);
  return { replicas, timeout };
}

/** Options of {@link group}: where the group is, and how often a watcher catches up. */
export interface GroupOptions {
  /** Redis to use. Default: `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`. */
  redis?: RedisInput;
  /** Group name. Default `'default'`. */
  group?: string;
  /** Prefix of every key. Default `'muster'`. */
  prefix?: string;
  /**
   * While `+node`/`-node` are watched: how often the log is read to catch up on what
   * Pub/Sub missed (a reconnect, a slow subscriber). Default `'1s'`.
   */
  poll?: Duration;
  /** Time limit of each read. Default `'5s'`. */
  timeout?: Duration;
}

/** Group options after defaults and validation. */
export interface ResolvedGroupOptions {
  redis: RedisInput;
  group: string;
  prefix: string;
  poll: number;
  timeout: number;
}

/** Fills defaults and validates {@link GroupOptions}. */
export function resolveGroupOptions(input: unknown): ResolvedGroupOptions {
  if (input === undefined) input = {};
  if (!isPlainObject(input)) throw new OptionTypeError('options', input, 'an object');
  rejectUnknown(input, ['redis', 'group', 'prefix', 'poll', 'timeout'], '');
  const o = input as GroupOptions;
  return {
    redis: parseRedis(o.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
    group: parseName('group', o.group ?? 'default', LIMITS.groupChars, true),
    prefix: parseName('prefix', o.prefix ?? 'muster', LIMITS.prefixChars, true),
    poll: parseDuration('poll', o.poll ?? 1000, LIMITS.minHeartbeat, LIMITS.maxTimeout),
    timeout: parseDuration('timeout', o.timeout ?? 5000, 1, LIMITS.maxTimeout),
  };
}

/**
 * Fills defaults and validates join options. Throws {@link OptionTypeError} or
 * {@link OptionRangeError} naming the option and the value received.
 */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (input === undefined) input = {};
  if (!isPlainObject(input)) throw new OptionTypeError('options', input, 'an object');
  rejectUnknown(input, KNOWN, '');
  const o = input as JoinOptions;

  const redis = parseRedis(o.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const group = parseName('group', o.group ?? 'default', LIMITS.groupChars, true);
  const prefix = parseName('prefix', o.prefix ?? 'muster', LIMITS.prefixChars, true);
  const nodeId = parseName('nodeId', o.nodeId ?? `${hostname()}:${process.pid}`, LIMITS.nodeIdBytes, false);

  const meta = o.meta === undefined ? {} : o.meta;
  checkJson('meta', meta, [], 'meta', meta);
  const metaJson = JSON.stringify(meta);
  if (Buffer.byteLength(metaJson) > LIMITS.metaBytes) {
    throw new OptionRangeError('meta', meta, `JSON of at most ${LIMITS.metaBytes} bytes`);
  }

  const timeout = parseDuration('timeout', o.timeout ?? 5000, 2 * LIMITS.minHeartbeat + 1, LIMITS.maxTimeout);
  const heartbeat = parseDuration('heartbeat', o.heartbeat ?? Math.min(1000, timeout / 5), LIMITS.minHeartbeat, LIMITS.maxTimeout);
  if (heartbeat >= timeout / 2) {
    throw new OptionRangeError('heartbeat', o.heartbeat, `a duration shorter than half the timeout (${timeout / 2} ms)`);
  }
  const clockSkew = parseDuration('clockSkew', o.clockSkew ?? 1000, 1, LIMITS.maxClockSkew);
  const shards = parseShards(o.shards);
  const durability = parseDurability(o.durability);
  if (o.rejoin !== undefined && typeof o.rejoin !== 'boolean') throw new OptionTypeError('rejoin', o.rejoin, 'a boolean');
  const horizon = o.horizon === undefined ? clockSkew + timeout : parseDuration('horizon', o.horizon, 1, LIMITS.maxTimeout + LIMITS.maxClockSkew);
  if (horizon < clockSkew + timeout) {
    throw new OptionRangeError('horizon', o.horizon, `a duration of at least clockSkew + timeout (${clockSkew + timeout} ms)`);
  }
  const idleExpiry = parseIdleExpiry(o.idleExpiry, horizon);
  let layout: ResolvedLayout | null = null;
  if (o.snowflake !== undefined) {
    if (!isPlainObject(o.snowflake)) throw new OptionTypeError('snowflake', o.snowflake, '{ layout, epoch }');
    rejectUnknown(o.snowflake, ['layout', 'epoch'], 'snowflake');
  }
  if (shards) {
    // A range wider than the layout's worker bits is refused by member.snowflake(), not
    // here: a member may use its shard without minting Snowflake IDs.
    layout = resolveLayout(o.snowflake?.layout, o.snowflake?.epoch);
  }

  return {
    redis,
    group,
    prefix,
    nodeId,
    meta,
    metaJson,
    heartbeat,
    timeout,
    shards,
    clockSkew,
    durability,
    rejoin: o.rejoin ?? true,
    horizon,
    layoutKey: layout ? layoutKey(layout) : '',
    snowflake: o.snowflake,
    idleExpiry,
  };
}

/** Default idle expiry of a group: 30 days. */
export const DEFAULT_IDLE_EXPIRY = 30 * 24 * 3600 * 1000;

function parseIdleExpiry(value: unknown, horizon: number): number {
  if (value === false) return 0;
  if (value === undefined) return Math.max(DEFAULT_IDLE_EXPIRY, 2 * horizon);
  const ms = parseDuration('idleExpiry', value, 1);
  if (ms < 2 * horizon) throw new OptionRangeError('idleExpiry', value, `a duration of at least twice the horizon (${2 * horizon} ms), or false`);
  return ms;
}
