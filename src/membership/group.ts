// A group read and watched from outside: who is alive, which shards are held, and
// `+node`/`-node` as they happen, without joining. It sends no heartbeat, never appears
// among the members and never gets `node down`. Only the two administrative calls,
// reset() and setRange(), write to the group's keys.

import { EventEmitter } from 'eventemitter3';
import { GroupInUseError, MemberClosedError, OptionRangeError, OptionTypeError, ShardHeldError } from '../errors.js';
import { type GroupOptions, type JsonValue, LIMITS, type ResolvedGroupOptions, parseInteger, rejectUnknown, resolveGroupOptions } from '../options.js';
import { withTimeout, wrap } from '../redis/call.js';
import { type Connection, close, open } from '../redis/connection.js';
import { type GroupKeys, groupKeys } from '../redis/keys.js';
import { SCRIPTS, parseRange, parseReset, parseShards, parseView, run, viewArgs } from '../redis/scripts.js';
import type { DepartedNode, NodeInfo, ShardInfo } from '../types.js';
import { emitError, emitSafely } from './events.js';
import { PeerView } from './view.js';

/** What {@link Group.reset} removed and kept. */
export interface ResetResult {
  /** False when there was no such group (nothing was written). */
  readonly found: boolean;
  /** Every lease granted after the reset starts above this (Redis ms since 1970); 0 when not found. */
  readonly floor: number;
  readonly removed: {
    /** Member records (alive or not). */
    readonly members: number;
    /** Of them, alive (only with `force`): they get `lost` and rejoin. */
    readonly alive: number;
    /** Shards that had ever been claimed (their records; the floor above keeps their IDs unique). */
    readonly shards: number;
    /** `node down` reports not handled yet. */
    readonly reports: number;
    /** Entries of the change log. */
    readonly logEntries: number;
  };
  readonly kept: {
    /** Named sequences, whose counters stay. */
    readonly sequences: number;
    /** The Snowflake layout and epoch, which stay with the group ('' if none was recorded). */
    readonly layout: string;
  };
}

/** What {@link Group.setRange} changed. */
export interface RangeResult {
  /** False when there was no such group (nothing was written). */
  readonly found: boolean;
  /** The range before, or null when the group had none recorded. */
  readonly previous: { readonly min: number; readonly max: number } | null;
  readonly min: number;
  readonly max: number;
}

/** Listener signatures of a {@link Group}'s events. */
export interface GroupEvents<Meta = JsonValue> {
  /** A member joined. */
  '+node': (node: NodeInfo<Meta>) => void;
  /** A member left or was reaped as dead; `node.reason` says which. */
  '-node': (node: DepartedNode<Meta>) => void;
  /** A read or the subscription failed. */
  error: (err: Error) => void;
}

/**
 * A read-only view of a group. Create it with {@link group}. Listening for `+node` or
 * `-node` starts watching (one Pub/Sub subscription, plus a catch-up read every
 * `poll`); {@link Group.close} stops it.
 */
export class Group<Meta = JsonValue> extends EventEmitter<GroupEvents<Meta>> {
  /** The validated options. */
  readonly options: Readonly<ResolvedGroupOptions>;
  private readonly keys: GroupKeys;
  private conn: Promise<Connection> | undefined;
  private view: PeerView | undefined;
  private started: Promise<void> | undefined;
  private startError: Error | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options?: GroupOptions) {
    super();
    this.options = resolveGroupOptions(options);
    this.keys = groupKeys(this.options.prefix, this.options.group);
  }

  /**
   * When each member life last beat, in Redis ms since 1970, with Redis `TIME` of the
   * read (`now`): from the members' expiries and their timeouts. Reads only.
   */
  async heartbeats(): Promise<{ now: number; beats: Map<string, { life: string; lastBeatAt: number; expiresAt: number }> }> {
    try {
      const conn = await this.connection();
      const c = conn.client;
      const [[sec, usec], scored] = (await withTimeout(
        Promise.all([c.call('TIME'), c.call('ZRANGE', this.keys.list[1], '0', '-1', 'WITHSCORES')]),
        this.options.timeout,
        'heartbeats()',
      )) as [[string, string], string[]];
      const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
      const ids: string[] = [];
      const expiries: number[] = [];
      // RESP2 gives [id, score, id, score, ...]; RESP3 gives [[id, score], ...].
      const flat = (scored as unknown[]).flat() as (string | number)[];
      for (let i = 0; i < flat.length; i += 2) {
        ids.push(String(flat[i]));
        expiries.push(Number(flat[i + 1]));
      }
      const beats = new Map<string, { life: string; lastBeatAt: number; expiresAt: number }>();
      if (ids.length === 0) return { now, beats };
      const records = (await withTimeout(c.call('HMGET', this.keys.list[2], ...ids), this.options.timeout, 'heartbeats()')) as (string | null)[];
      records.forEach((rec, i) => {
        // A record: life, shard, ttl, NodeInfo JSON, one per line.
        const [life, , ttl] = (rec ?? '').split('\n');
        if (rec && life !== undefined && ttl !== undefined) beats.set(ids[i]!, { life, lastBeatAt: expiries[i]! - Number(ttl), expiresAt: expiries[i]! });
      });
      return { now, beats };
    } catch (err) {
      throw wrap(err, 'heartbeats()');
    }
  }

  /** The live members of the group, read from Redis. */
  async nodes(): Promise<NodeInfo<Meta>[]> {
    try {
      return parseView(await this.read(SCRIPTS.view, viewArgs(), 'nodes()')).view as NodeInfo<Meta>[];
    } catch (err) {
      throw wrap(err, 'nodes()');
    }
  }

  /** Every shard ever claimed in the group, by number; shards never claimed are free and not listed. */
  async shards(): Promise<ShardInfo[]> {
    let parsed;
    try {
      parsed = parseShards(await this.read(SCRIPTS.shards, [], 'shards()'));
    } catch (err) {
      throw wrap(err, 'shards()');
    }
    const { now, rows } = parsed;
    return rows.map((r): ShardInfo => {
      const lease = r.fence >= 0 ? { fence: r.fence, floor: r.floor, reservedUntil: r.reserved } : {};
      if (r.holderId) return { shard: r.shard, state: 'held', holder: { id: r.holderId, life: r.holderLife, expiresAt: r.holderExpiry }, ...lease };
      if (r.freeAt > now) return { shard: r.shard, state: 'quarantined', quarantinedUntil: r.freeAt, ...lease };
      return { shard: r.shard, state: 'free', ...lease };
    });
  }

  /**
   * Resets the group: removes its members, shard records, reports, change log and
   * recorded config (shard range, horizon, timeouts), so the next member starts it with
   * its own. Rejects with {@link GroupInUseError} while a member is alive, unless
   * `force` (live members then get `lost` and rejoin). IDs stay unique across it: the
   * group record keeps a floor above every reservation ever made, and every lease
   * granted after starts above it. The Snowflake layout and epoch and the named
   * sequences' counters are kept. One atomic script call.
   */
  async reset(options: { force?: boolean } = {}): Promise<ResetResult> {
    if (typeof options !== 'object' || options === null) throw new OptionTypeError('options', options, '{ force }');
    rejectUnknown(options as Record<string, unknown>, ['force'], '');
    if (options.force !== undefined && typeof options.force !== 'boolean') throw new OptionTypeError('force', options.force, 'a boolean');
    let reply;
    try {
      reply = parseReset(await this.exec(SCRIPTS.reset, [...this.keys.list, this.keys.sequences], [options.force ? '1' : '0'], 'reset()'));
    } catch (err) {
      throw wrap(err, 'reset()');
    }
    if (!reply.ok && reply.code === 'alive') throw new GroupInUseError(this.options.group, reply.alive, reply.ids);
    if (!reply.ok) return { found: false, floor: 0, removed: { members: 0, alive: 0, shards: 0, reports: 0, logEntries: 0 }, kept: { sequences: 0, layout: '' } };
    const { members, alive, shards, reports, logEntries, sequences, layout } = reply;
    return { found: true, floor: reply.floor, removed: { members, alive, shards, reports, logEntries }, kept: { sequences, layout } };
  }

  /**
   * Sets the group's shard range, also while members hold shards. Widening always
   * works; narrowing rejects with {@link ShardHeldError} while a shard outside the new
   * range is held. From then on joiners get shards of this range whatever their own
   * `shards` option says. Rejects with {@link OptionRangeError} when `max` does not fit
   * the worker bits of the group's Snowflake layout.
   */
  async setRange(range: { min: number; max: number }): Promise<RangeResult> {
    if (typeof range !== 'object' || range === null) throw new OptionTypeError('range', range, '{ min, max }');
    rejectUnknown(range as Record<string, unknown>, ['min', 'max'], '');
    const min = parseInteger('min', range.min, 0, LIMITS.maxShard);
    const max = parseInteger('max', range.max, 0, LIMITS.maxShard);
    if (max < min) throw new OptionRangeError('max', range.max, `an integer of at least min (${min})`);
    let reply;
    try {
      reply = parseRange(await this.exec(SCRIPTS.range, this.keys.list, [min, max], 'setRange()'));
    } catch (err) {
      throw wrap(err, 'setRange()');
    }
    if (!reply.ok && reply.code === 'held') throw new ShardHeldError(reply.shard, reply.holder, min, max);
    if (!reply.ok && reply.code === 'layout') {
      throw new OptionRangeError('max', range.max, `at most ${2 ** reply.workerBits - 1}, the largest worker ID of the group's Snowflake layout (${reply.workerBits} worker bits)`);
    }
    if (!reply.ok) return { found: false, previous: null, min, max };
    return { found: true, previous: reply.previous, min, max };
  }

  /** `await using g = group(...)`: closes the view at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Stops watching and closes a connection muster opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.pollTimer);
    await this.view?.close();
    const conn = this.conn;
    this.conn = undefined;
    if (conn) await conn.then((c) => close(c)).catch(() => undefined);
  }

  override on<T extends EventEmitter.EventNames<GroupEvents<Meta>>>(event: T, fn: EventEmitter.EventListener<GroupEvents<Meta>, T>, context?: unknown): this {
    super.on(event, fn, context);
    if (event === '+node' || event === '-node') this.watch();
    return this;
  }

  override addListener<T extends EventEmitter.EventNames<GroupEvents<Meta>>>(event: T, fn: EventEmitter.EventListener<GroupEvents<Meta>, T>, context?: unknown): this {
    return this.on(event, fn, context);
  }

  override once<T extends EventEmitter.EventNames<GroupEvents<Meta>>>(event: T, fn: EventEmitter.EventListener<GroupEvents<Meta>, T>, context?: unknown): this {
    super.once(event, fn, context);
    if (event === '+node' || event === '-node') this.watch();
    return this;
  }

  /** The connection, opened (and checked) at first use; a failed open is tried again at the next use. */
  private connection(): Promise<Connection> {
    if (this.closed) return Promise.reject(new MemberClosedError('muster: this group view was closed'));
    if (!this.conn) {
      const opening = open(this.options.redis, Math.min(this.options.timeout, 10_000)).then((c) => {
        c.client.on('error', (err: unknown) => this.fail(wrap(err, 'connection')));
        return c;
      });
      opening.catch(() => {
        if (this.conn === opening) this.conn = undefined;
      });
      this.conn = opening;
    }
    return this.conn;
  }

  private async read(script: typeof SCRIPTS.view, args: (string | number)[], what: string) {
    return this.exec(script, this.keys.list, args, what);
  }

  /** Runs a script with a time limit: the reads above, and the two administrative writes. */
  private async exec(script: typeof SCRIPTS.view, keys: readonly string[], args: (string | number)[], what: string) {
    const conn = await this.connection();
    return withTimeout(run(conn.client, script, keys, args), this.options.timeout, what);
  }

  /** Starts watching (once): subscribe, read the live view, then catch up every `poll`. */
  private watch(): void {
    if (this.view || this.closed) return;
    const view: PeerView = new PeerView(undefined, {
      joined: (n) => this.safeEmit('+node', n),
      departed: (n) => this.safeEmit('-node', n),
      handled: () => undefined,
      fail: (err) => this.fail(err),
      read: async (since) => parseView(await this.read(SCRIPTS.view, viewArgs(since), since ? 'sync' : 'view')),
      active: (): boolean => view.isKnown && !this.closed,
    });
    this.view = view;
    const start = async () => {
      try {
        await view.listen(await this.connection(), this.keys.channel);
        view.adopt(parseView(await this.read(SCRIPTS.view, viewArgs(), 'view')));
        // Whatever changed between the read and now comes with the first catch-up.
        await view.sync();
      } catch (err) {
        this.startError = wrap(err, 'watch');
        this.fail(this.startError);
      }
      this.poll();
    };
    this.started = start();
  }

  /**
   * Starts watching `+node`/`-node` if no listener did yet, and resolves once the watch
   * stands: subscribed and the live members read, so every later change is reported.
   * Rejects with the error of that first read (the watch itself goes on retrying).
   */
  async watching(): Promise<void> {
    this.watch();
    await this.started;
    if (!this.view?.isKnown && this.startError) throw this.startError;
  }

  private poll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(async () => {
      const view = this.view;
      if (!view) return;
      // Not started yet (the first read failed): start over with a fresh read.
      if (!view.isKnown) {
        try {
          view.adopt(parseView(await this.read(SCRIPTS.view, viewArgs(), 'view')));
        } catch (err) {
          this.fail(wrap(err, 'view'));
        }
      } else await view.sync();
      this.poll();
    }, this.options.poll);
  }

  private fail(err: Error): void {
    emitError(this, err);
  }

  private safeEmit<E extends '+node' | '-node'>(event: E, ...args: Parameters<GroupEvents[E]>): void {
    emitSafely(this as unknown as Parameters<typeof emitSafely>[0], event, args);
  }
}

/**
 * A read-only view of a group: `nodes()`, `shards()`, and `+node`/`-node` events
 * without joining. Nothing is written to Redis; close it with `close()`.
 */
export function group<Meta = JsonValue>(options?: GroupOptions): Group<Meta> {
  return new Group<Meta>(options);
}
