// IDs made inside Redis, for callers that cannot hold a lease (serverless functions,
// short scripts, other languages): one script call mints a run of Snowflake IDs under a
// shard the group keeps for Redis-side minting (lua/ids-7.lua).

import { EventEmitter } from 'eventemitter3';
import { sleep } from '../clock.js';
import { emitError } from '../membership/events.js';
import { GeneratorStalledError, GroupConfigError, MemberClosedError, OptionRangeError, OptionTypeError, ShardsExhaustedError } from '../errors.js';
import { type JoinOptions, type ResolvedOptions, rejectUnknown, resolveOptions } from '../options.js';
import { withTimeout, wrap } from '../redis/call.js';
import { type Connection, close, open } from '../redis/connection.js';
import { type GroupKeys, groupKeys } from '../redis/keys.js';
import { SCRIPTS, run } from '../redis/scripts.js';
import { type ResolvedLayout, resolveLayout } from '../snowflake/layout.js';

/** Options of {@link RedisIds.connect}: the group's settings, as members of the group use them. */
export type RedisIdsOptions = Pick<JoinOptions, 'redis' | 'group' | 'prefix' | 'shards' | 'horizon' | 'clockSkew' | 'timeout' | 'snowflake'>;

const KNOWN = ['redis', 'group', 'prefix', 'shards', 'horizon', 'clockSkew', 'timeout', 'snowflake'];

/**
 * Snowflake IDs minted inside Redis: no lease, no heartbeat, one round trip per call.
 * Redis failures reject the calls made meanwhile and are also emitted as `error`.
 * The group keeps one of its shards for Redis-side minting, so these IDs never collide
 * with those of the group's members, and the lease protocol's floors keep them from
 * repeating across a wipe, a restart from older data or a failover.
 *
 * @example
 * ```ts
 * const gen = await RedisIds.connect({ redis: process.env.REDIS_URL, group: 'ids' });
 * const id = await gen.getId();          // bigint
 * const ids = await gen.getIds(1000);    // bigint[], one round trip
 * await gen.close();
 * ```
 */
export class RedisIds extends EventEmitter<{ error: (err: Error) => void }> {
  private horizon = 0;
  private closed = false;
  private worker = -1;

  private constructor(
    private readonly o: ResolvedOptions,
    private readonly layout: ResolvedLayout,
    private readonly conn: Connection,
    private readonly keys: GroupKeys,
  ) {
    super();
    // The connection's own failures (while Redis restarts, say) become `error` events;
    // calls made meanwhile reject.
    const onError = (err: unknown) => emitError(this, wrap(err, 'connection'));
    conn.client.on('error', onError);
    this.detach = () => conn.client.off('error', onError);
  }

  private readonly detach: () => void;

  /** Connects (with the checks of `join()`), claims the group's minting shard if it has none, and checks the group's config. */
  static async connect(options: RedisIdsOptions = {}): Promise<RedisIds> {
    if (typeof options !== 'object' || options === null) throw new OptionTypeError('options', options, 'an object');
    rejectUnknown(options as Record<string, unknown>, KNOWN, '');
    const o = resolveOptions({ ...options, nodeId: 'redis-ids' });
    if (!o.shards) throw new OptionRangeError('shards', false, 'a shard range (Redis-side minting takes one shard of it)');
    const layout = resolveLayout(o.snowflake?.layout, o.snowflake?.epoch);
    const conn = await open(o.redis, Math.min(o.timeout, 10_000));
    const gen = new RedisIds(o, layout, conn, groupKeys(o.prefix, o.group));
    try {
      const r = await gen.call(0);
      if (typeof r === 'number') throw new ShardsExhaustedError(o.shards.min, o.shards.max, r === o.timeout ? undefined : r);
    } catch (err) {
      await close(conn).catch(() => undefined);
      throw err;
    }
    return gen;
  }

  /** The shard (worker ID) under which Redis mints this group's IDs. */
  get shard(): number {
    return this.worker;
  }

  /** One ID. */
  async getId(): Promise<bigint> {
    return (await this.getIds(1))[0]!;
  }

  /** `count` IDs (1 to 2^sequenceBits, 4096 for the default layout), increasing, in one round trip unless Redis asks to wait a unit. */
  async getIds(count: number): Promise<bigint[]> {
    const max = 2 ** this.layout.sequenceBits;
    if (!Number.isInteger(count) || count < 1 || count > max) throw new OptionRangeError('count', count, `an integer from 1 to ${max}`);
    const out: bigint[] = [];
    const started = performance.now();
    while (out.length < count) {
      const r = await this.call(count - out.length);
      if (typeof r === 'number') {
        if (performance.now() - started + r > this.o.timeout) throw new GeneratorStalledError(r, 'Redis minted up to TIME + B; its clock must catch up', 'try again later or raise `timeout`');
        await sleep(r);
        continue;
      }
      for (const [t, first, n] of r) {
        const base = (BigInt(t) << BigInt(this.layout.workerBits + this.layout.sequenceBits)) | (BigInt(this.worker) << BigInt(this.layout.sequenceBits));
        for (let i = 0; i < n; i++) out.push(base | BigInt(first + i));
      }
    }
    return out;
  }

  /** Closes a connection muster opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await close(this.conn);
    this.detach();
  }

  /** One script call: runs of [unit, first sequence, count], or ms to wait. */
  private async call(want: number): Promise<[number, number, number][] | number> {
    if (this.closed) throw new MemberClosedError('muster: this RedisIds was closed');
    const o = this.o;
    const l = this.layout;
    const args = [want, o.shards!.min, o.shards!.max, o.horizon, this.horizon, o.layoutKey, l.epochMs, l.unitMs, l.sequenceBits, 2 * o.timeout + 1000];
    let reply: (string | number)[];
    try {
      reply = (await withTimeout(run(this.conn.client, SCRIPTS.ids, this.keys.list, args), o.timeout, 'getIds()')) as (string | number)[];
    } catch (err) {
      throw wrap(err, 'getIds()');
    }
    const code = Number(reply[0]);
    if (code === -3) {
      const [option, value] = [String(reply[1]), String(reply[2])];
      if (option === 'shards') throw new GroupConfigError('shards', `${o.shards!.min}..${o.shards!.max}`, value);
      if (option === 'horizon') throw new GroupConfigError('horizon', o.horizon, Number(value));
      throw new GroupConfigError('snowflake', o.layoutKey, value);
    }
    if (code === -2) return Number(reply[1]) < 0 ? o.timeout : Math.max(1, Number(reply[1]));
    this.worker = Number(reply[1]);
    this.horizon = Math.max(this.horizon, Number(reply[3]));
    const runs: [number, number, number][] = [];
    for (let i = 0; i < Number(reply[4]); i++) runs.push([Number(reply[5 + 3 * i]), Number(reply[6 + 3 * i]), Number(reply[7 + 3 * i])]);
    return runs;
  }
}
