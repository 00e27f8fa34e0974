// One life's join: the join script with the waits the options allow (a crashed
// predecessor's record going stale, a shard coming out of quarantine, Redis briefly
// unreachable), and the refusals turned into typed errors.

import type { Clock } from '../clock.js';
import { mono, sleep } from '../clock.js';
import {
  DuplicateNodeError,
  GroupConfigError,
  MemberClosedError,
  MusterError,
  RedisError,
  ShardsExhaustedError,
  StoreConfigError,
} from '../errors.js';
import type { ScriptSource } from '../generated/lua.js';
import type { ResolvedOptions } from '../options.js';
import { withTimeout, wrap } from '../redis/call.js';
import type { GroupKeys } from '../redis/keys.js';
import { type JoinResult, SCRIPTS, joinArgs, parseJoin } from '../redis/scripts.js';
import type { Grant } from '../shards/lease.js';

/** Most expired members one script call reaps. */
export const REAP_LIMIT = 64;

/** A join that landed. */
export type JoinSuccess = Extract<JoinResult, { ok: true }>;

/** What a join needs from its member. */
export interface JoinContext {
  readonly options: Readonly<ResolvedOptions>;
  readonly keys: GroupKeys;
  readonly clock: Clock;
  /** How long a shard this member frees waits before reuse. */
  readonly quarantine: number;
  /** How long the group must keep change entries for this member to catch up. */
  readonly keep: number;
  /** The largest B this process saw the group use. */
  horizon(): number;
  /** `created` of the group record this member joined before ('' if none). */
  created(): string;
  /** The highest ms this member's generator minted in (-Infinity if none). */
  lastMs(): number;
  /** True when the member already has a view (a rejoin): the reply then carries the live view. */
  withView(): boolean;
  /** True once leave() was called. */
  left(): boolean;
  exec(script: ScriptSource, args: (string | number)[], durable: boolean): Promise<{ reply: (string | number | null)[]; counted: boolean }>;
}

/**
 * Joins `life` (one token for every attempt: a restart marker left while waiting names
 * it, and an attempt whose reply was lost but which landed is recognised as this join).
 */
export async function joinLife(ctx: JoinContext, life: string): Promise<{ res: JoinSuccess; grant: Grant }> {
  const o = ctx.options;
  const started = mono();
  // Start of the current run of failed calls: an outage gets one timeout, counted from
  // the last reply, not from the start of a join that may have waited for a shard.
  let lastReply = started;
  let firstExpiry: number | undefined;
  for (;;) {
    const send = mono();
    const clockAtSend = Math.floor(ctx.clock.now());
    const proposed = Math.floor(Math.max(clockAtSend, ctx.lastMs()) + o.timeout);
    const args = joinArgs(ctx.keys, {
      nodeId: o.nodeId,
      life,
      metaJson: o.metaJson,
      ttl: o.timeout,
      lo: o.shards ? o.shards.min : -1,
      hi: o.shards ? o.shards.max : -1,
      horizon: o.horizon,
      knownHorizon: ctx.horizon(),
      quarantine: ctx.quarantine,
      proposed,
      keep: ctx.keep,
      reapLimit: REAP_LIMIT,
      withView: ctx.withView(),
      layout: o.layoutKey,
      knownCreated: ctx.created(),
      idleExpiry: o.idleExpiry,
    });
    let res: JoinResult;
    let counted: boolean;
    try {
      const r = await withTimeout(ctx.exec(SCRIPTS.join, args, true), o.timeout / 2 + (o.durability?.timeout ?? 0), 'join');
      res = parseJoin(r.reply);
      counted = r.counted;
      lastReply = mono();
    } catch (err) {
      // Redis unreachable or slow: try again with the same life until one timeout has
      // passed without a reply.
      const left = o.timeout - (mono() - lastReply);
      if (left <= 0 || ctx.left() || !(err instanceof RedisError || !(err instanceof MusterError))) throw wrap(err, 'join');
      await sleep(Math.min(o.heartbeat, left));
      continue;
    }
    if (res.ok) return { res, grant: { send, clockAtSend, reservation: res.reservation, redisNow: res.now, counted } };
    if (ctx.left()) throw new MemberClosedError('muster: leave() was called while joining');
    const elapsed = mono() - started;
    if (res.code === 'config') {
      if (res.option === 'shards') throw new GroupConfigError('shards', `${o.shards?.min}..${o.shards?.max}`, res.groupValue);
      if (res.option === 'horizon') throw new GroupConfigError('horizon', o.horizon, Number(res.groupValue));
      throw new GroupConfigError('snowflake', o.layoutKey, res.groupValue);
    }
    if (res.code === 'eviction') throw new StoreConfigError('maxmemory-policy', res.policy);
    if (res.code === 'duplicate') {
      // A restarted process often comes back before its crashed life has expired.
      // Wait (at most one timeout) for that record to go stale; a record renewed
      // meanwhile is a live duplicate.
      if (firstExpiry === undefined) firstExpiry = res.expiry;
      else if (res.expiry !== firstExpiry) throw new DuplicateNodeError(o.nodeId, 'its heartbeat renewed the record while this join waited');
      if (elapsed >= o.timeout) throw new DuplicateNodeError(o.nodeId, `its record did not go stale within ${o.timeout} ms`);
      await sleep(Math.min(res.inMs + 2, o.heartbeat, o.timeout - elapsed + 1));
      continue;
    }
    const shards = o.shards ?? { min: 0, max: 0, wait: 0 };
    if (elapsed >= shards.wait) throw new ShardsExhaustedError(shards.min, shards.max, res.retryInMs);
    await sleep(Math.min(res.retryInMs === undefined ? o.heartbeat : res.retryInMs + 2, shards.wait - elapsed + 1));
  }
}
