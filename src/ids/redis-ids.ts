// IDs made inside Redis, for callers that cannot hold a lease (serverless functions,
// short scripts, other languages): one script call mints a run of Snowflake IDs under a
// shard the group keeps for Redis-side minting (lua/ids-7.lua).

import type { Cluster } from 'ioredis';
import { EventEmitter } from 'eventemitter3';
import { sleep } from '../clock.js';
import { emitError } from '../membership/events.js';
import { GeneratorStalledError, GroupConfigError, MemberClosedError, OptionRangeError, OptionTypeError, ShardsExhaustedError } from '../errors.js';
import { type JoinOptions, type ResolvedOptions, rejectUnknown, resolveOptions } from '../options.js';
import { withTimeout, wrap } from '../redis/call.js';
import { type Connection, close, open } from '../redis/connection.js';
import { slotOf } from '../redis/shard-channel.js';
import { type GroupKeys, groupKeys } from '../redis/keys.js';
import { SCRIPTS, run } from '../redis/scripts.js';
import type { ScriptSource } from '../generated/lua.js';
import { type ResolvedLayout, resolveLayout } from '../snowflake/layout.js';

/** Options of {@link RedisIds.connect}: the group's settings, as members of the group use them. */
export type RedisIdsOptions = Pick<JoinOptions, 'redis' | 'group' | 'prefix' | 'shards' | 'horizon' | 'clockSkew' | 'timeout' | 'snowflake'>;

const KNOWN = ['redis', 'group', 'prefix', 'shards', 'horizon', 'clockSkew', 'timeout', 'snowflake'];

/**
 * Snowflake IDs minted inside Redis: no lease, no heartbeat, one round trip per call.
 * Redis failures reject the calls made meanwhile and are also emitted as `error`.
 * The group keeps one of its shards for Redis-side minting (on a Redis Cluster, one per
 * master, and calls go to the masters in turn), so these IDs never collide with those of
 * the group's members, and the lease protocol's floors keep them from repeating across
 * a wipe, a restart from older data or a failover.
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
  /** On a Redis Cluster: one minting station per master, used in turn. */
  private stations: Station[] = [];
  private turn = 0;

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
      if (conn.client.isCluster) await gen.openStations(conn.client as Cluster);
      else {
        const r = await gen.call(0);
        if (typeof r === 'number') throw new ShardsExhaustedError(o.shards.min, o.shards.max, r === o.timeout ? undefined : r);
      }
    } catch (err) {
      await close(conn).catch(() => undefined);
      throw err;
    }
    return gen;
  }

  /** The shard (worker ID) under which Redis mints this group's IDs (on a Cluster, the first master's). */
  get shard(): number {
    return this.stations[0]?.shard ?? this.worker;
  }

  /** Every shard Redis mints this group's IDs under: one, or on a Cluster one per master. */
  get shards(): number[] {
    return this.stations.length > 0 ? this.stations.map((st) => st.shard) : [this.worker];
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
      const r = this.stations.length > 0 ? await this.mintAt(this.stations[this.turn++ % this.stations.length]!, count - out.length) : await this.call(count - out.length);
      if (typeof r === 'number') {
        if (performance.now() - started + r > this.o.timeout) throw new GeneratorStalledError(r, 'Redis minted up to TIME + B; its clock must catch up', 'try again later or raise `timeout`');
        await sleep(r);
        continue;
      }
      const shard = BigInt(r.shard) << BigInt(this.layout.sequenceBits);
      for (const [t, first, n] of r.runs) {
        // Consecutive sequence numbers of one unit: consecutive IDs.
        let id = (BigInt(t) << BigInt(this.layout.workerBits + this.layout.sequenceBits)) | shard | BigInt(first);
        for (let i = 0; i < n; i++, id++) out.push(id);
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

  /** One script call: runs of [unit, first sequence, count] under a shard, or ms to wait. */
  private async call(want: number): Promise<Minted | number> {
    const o = this.o;
    const l = this.layout;
    const args = [want, o.shards!.min, o.shards!.max, o.horizon, this.horizon, o.layoutKey, l.epochMs, l.unitMs, l.sequenceBits, 2 * o.timeout + 1000];
    const reply = await this.script(SCRIPTS.ids, this.keys.list, args);
    const code = Number(reply[0]);
    if (code === -3) this.configError(reply);
    if (code === -2) return Number(reply[1]) < 0 ? o.timeout : Math.max(1, Number(reply[1]));
    this.worker = Number(reply[1]);
    this.horizon = Math.max(this.horizon, Number(reply[3]));
    return { shard: this.worker, runs: runsOf(reply, 4) };
  }

  private configError(reply: (string | number)[]): never {
    const o = this.o;
    const [option, value] = [String(reply[1]), String(reply[2])];
    if (option === 'shards') throw new GroupConfigError('shards', `${o.shards!.min}..${o.shards!.max}`, value);
    if (option === 'horizon') throw new GroupConfigError('horizon', o.horizon, Number(value));
    throw new GroupConfigError('snowflake', o.layoutKey, value);
  }

  private async script(script: ScriptSource, keys: readonly string[], args: (string | number)[]): Promise<(string | number)[]> {
    if (this.closed) throw new MemberClosedError('muster: this RedisIds was closed');
    try {
      return (await withTimeout(run(this.conn.client, script, keys, args), this.o.timeout, 'getIds()')) as (string | number)[];
    } catch (err) {
      throw wrap(err, 'getIds()');
    }
  }

  /**
   * One station per Cluster master: station k's key is the first (k = 0, 1, ...) whose
   * slot that master owns. Each holds its own shard of the group for good.
   */
  private async openStations(cluster: Cluster): Promise<void> {
    // A client the app made may still be connecting: a first command waits until the
    // slots are known.
    if (!cluster.slots.some((nodes) => nodes?.[0])) await withTimeout(cluster.ping(), this.o.timeout, 'connect').catch((err) => Promise.reject(wrap(err, 'connect')));
    const masters = [...new Set(cluster.slots.map((nodes) => nodes?.[0]).filter((x): x is string => !!x))];
    const wanted = new Set(masters);
    for (let k = 0; wanted.size > 0 && k < 100_000; k++) {
      const key = `${this.o.prefix}:{${this.o.group}:ids:${k}}:station`;
      const owner = cluster.slots[slotOf(key)]?.[0];
      if (owner && wanted.delete(owner)) this.stations.push({ k, key, shard: -1, reservation: 0, floor: 0, base: undefined, claiming: undefined });
    }
    this.stations.sort((a, b) => a.k - b.k);
    for (const st of this.stations) {
      if (typeof (await this.claimNow(st)) === 'number') throw new ShardsExhaustedError(this.o.shards!.min, this.o.shards!.max, undefined);
    }
  }

  /** Renews (or takes) a station's shard lease; concurrent renewals share one call. Returns ms to wait when no shard is free. */
  private async claim(st: Station): Promise<number | undefined> {
    st.claiming ??= this.claimNow(st).finally(() => {
      st.claiming = undefined;
    });
    const r = await st.claiming;
    return typeof r === 'number' ? r : undefined;
  }

  /** One claim call through the group: the grant is stored; returns its `top`, or ms to wait. */
  private async claimNow(st: Station): Promise<{ top: number } | number> {
    const o = this.o;
    const reply = await this.script(SCRIPTS.stationclaim, this.keys.list, [st.k, o.shards!.min, o.shards!.max, o.horizon, this.horizon, o.layoutKey, 2 * o.timeout + 1000]);
    const code = Number(reply[0]);
    if (code === -3) this.configError(reply);
    if (code === -2) return Number(reply[1]) < 0 ? o.timeout : Math.max(1, Number(reply[1]));
    this.horizon = Math.max(this.horizon, Number(reply[3]));
    st.shard = Number(reply[1]);
    st.reservation = Number(reply[4]);
    st.floor = Number(reply[5]);
    return { top: Number(reply[6]) };
  }

  /**
   * Mints at a station (lua/station-1.lua). After a fresh start of the station's store it
   * asks for a base: the group's `top` read after that, above all it reserved before.
   * When the station has minted up to the reservation, the lease is renewed first.
   */
  private async mintAt(st: Station, want: number): Promise<Minted | number> {
    const l = this.layout;
    let renewed = false;
    for (;;) {
      const shard = st.shard;
      const reply = await this.script(SCRIPTS.station, [st.key], [
        // A base read for another shard (the group reassigned it since) is not passed.
        want, shard, st.reservation, st.floor, st.base?.shard === shard ? st.base.top : 0, st.base?.shard === shard ? st.base.inc : '', l.epochMs, l.unitMs, l.sequenceBits,
      ]);
      const code = Number(reply[0]);
      if (code === 1) return { shard, runs: runsOf(reply, 2) };
      if (code === -4) {
        // The base must be read after the station's fresh start: a claim made now, not
        // one already under way (it may have read the group before the fresh start).
        const r = await this.claimNow(st);
        if (typeof r === 'number') return r;
        st.base = { inc: String(reply[1]), top: r.top, shard: st.shard };
        continue;
      }
      if (renewed) return Math.max(1, Number(reply[1]));
      const wait = await this.claim(st);
      if (wait !== undefined) return wait;
      renewed = true;
    }
  }
}

/** Runs of [unit, first sequence, count] from a reply whose run count is at `at`. */
function runsOf(reply: (string | number)[], at: number): [number, number, number][] {
  const runs: [number, number, number][] = [];
  for (let i = 0; i < Number(reply[at]); i++) runs.push([Number(reply[at + 1 + 3 * i]), Number(reply[at + 2 + 3 * i]), Number(reply[at + 3 + 3 * i])]);
  return runs;
}

interface Minted {
  shard: number;
  runs: [number, number, number][];
}

/** A minting station: a key on one Cluster master, and the group's grant for it. */
interface Station {
  k: number;
  key: string;
  shard: number;
  reservation: number;
  floor: number;
  /** The base to bring to the station's incarnation `inc`, read for `shard`. */
  base: { inc: string; top: number; shard: number } | undefined;
  claiming: Promise<{ top: number } | number> | undefined;
}
