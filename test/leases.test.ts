// Shard leases on a real Redis: allocation order, quarantine, stickiness, exhaustion,
// fencing numbers, self-fencing when renewals stop (G1), floors, durability.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DurabilityError,
  GroupConfigError,
  LeaseExpiredError,
  OptionRangeError,
  ShardsExhaustedError,
  StoreConfigError,
  createMember,
  join,
} from '../src/index.js';
import { FAST, Members, until } from './helpers/members.js';
import { findFaketime } from './chaos/engine.js';
import { FIXTURES, type Proc, spawnMember } from './helpers/proc.js';
import { type RedisServer, replicaOnline, sleep, startRedis, tempDir, useRedis } from './helpers/redis.js';
import { join as pathJoin } from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';

const test = suite<{ redis: RedisServer; members: Members; group: string }>('leases');
let n = 0;
const SKEW = 100;
const QUARANTINE = FAST.timeout + SKEW;

useRedis(test);
test.before.each((ctx) => {
  ctx.group = `l${++n}`;
  ctx.members = new Members({ redis: ctx.redis.url, group: ctx.group, clockSkew: SKEW });
});
test.after.each(async (ctx) => {
  await ctx.members.leaveAll();
});

test('range exhausted: join rejects at once with ShardsExhaustedError', async ({ members }) => {
  await members.join({ nodeId: 'a', shards: { min: 0, max: 1 } });
  await members.join({ nodeId: 'b', shards: { min: 0, max: 1 } });
  const t0 = performance.now();
  const err = await members.join({ nodeId: 'c', shards: { min: 0, max: 1 } }).catch((e: unknown) => e);
  assert.instance(err, ShardsExhaustedError);
  assert.is((err as ShardsExhaustedError).retryInMs, undefined, 'none is quarantined');
  assert.ok(performance.now() - t0 < FAST.timeout, 'at once');
});

test('a freed shard is quarantined (timeout + clockSkew); with `wait` a joiner gets it after that', async ({ members }) => {
  const a = await members.join({ nodeId: 'a', shards: { min: 0, max: 0 } });
  await a.member.leave();
  const left = performance.now();
  const err = await members.join({ nodeId: 'b', shards: { min: 0, max: 0 } }).catch((e: unknown) => e);
  assert.instance(err, ShardsExhaustedError);
  const retry = (err as ShardsExhaustedError).retryInMs!;
  assert.ok(retry > 0 && retry <= QUARANTINE, `retry in ${retry} ms`);
  const c = await members.join({ nodeId: 'c', shards: { min: 0, max: 0, wait: '5s' } });
  assert.is(c.member.shard, 0);
  assert.ok(performance.now() - left >= QUARANTINE - 20, `got it after ${Math.round(performance.now() - left)} ms`);
});

test('never-used shards come before freed ones; a returning nodeId gets its previous shard', async ({ members }) => {
  const a = await members.join({ nodeId: 'a', shards: { min: 0, max: 3 } });
  assert.is(a.member.shard, 0);
  await a.member.leave();
  await sleep(QUARANTINE + 20);
  const b = await members.join({ nodeId: 'b', shards: { min: 0, max: 3 } });
  assert.is(b.member.shard, 1, 'a never-used shard rather than the freed 0');
  const a2 = await members.join({ nodeId: 'a', shards: { min: 0, max: 3 } });
  assert.is(a2.member.shard, 0, 'sticky: its previous shard, free again');
  const c = await members.join({ nodeId: 'c', shards: { min: 0, max: 3 } });
  assert.is(c.member.shard, 2);
});

test('when only freed shards are left, the one free the longest goes first', async ({ members }) => {
  const ms = [];
  for (const id of ['a', 'b', 'c']) ms.push(await members.join({ nodeId: id, shards: { min: 0, max: 2 } }));
  await ms[2]!.member.leave(); // shard 2 freed first
  await sleep(10);
  await ms[0]!.member.leave(); // then shard 0
  await sleep(QUARANTINE + 20);
  const d = await members.join({ nodeId: 'd', shards: { min: 0, max: 2 } });
  assert.is(d.member.shard, 2);
});

test('fencing numbers only grow per shard, across holders', async ({ members }) => {
  const a = await members.join({ nodeId: 'a', shards: { min: 0, max: 0 } });
  const f1 = a.member.lease!.fence;
  await a.member.leave();
  const b = await members.join({ nodeId: 'b', shards: { min: 0, max: 0, wait: '5s' } });
  const f2 = b.member.lease!.fence;
  assert.ok(f2 > f1, `${f2} > ${f1}`);
  assert.ok(Number.isSafeInteger(f2));
});

test('another shard range than the group uses is refused with GroupConfigError, nothing written', async ({ members, redis, group }) => {
  await members.join({ nodeId: 'a', shards: { min: 0, max: 15 } });
  const before = await redis.client().hgetall(`muster:{${group}}:nodes`);
  const err = await members.join({ nodeId: 'b', shards: { min: 0, max: 31 } }).catch((e: unknown) => e);
  assert.instance(err, GroupConfigError);
  assert.is((err as GroupConfigError).option, 'shards');
  assert.equal(await redis.client().hgetall(`muster:{${group}}:nodes`), before);
});

test('the generator fits the range: too few worker bits is an OptionRangeError; no shards, no snowflake', async ({ members, group }) => {
  const narrow = await members.join({ group: `${group}-narrow`, nodeId: 'n', shards: { min: 0, max: 1023 }, snowflake: { layout: { timeBits: 41, workerBits: 8, sequenceBits: 14 } } });
  assert.throws(() => narrow.member.snowflake(), (e: unknown) => (e as OptionRangeError).option === 'layout.workerBits');
  await narrow.member.leave();
  const a = await members.join({ nodeId: 'a', shards: { min: 0, max: 1023 } });
  // The generator uses the group's layout: another one is refused (IDs of two layouts can collide).
  assert.throws(() => a.member.snowflake({ layout: 'sonyflake' }), (e: unknown) => (e as OptionRangeError).option === 'layout');
  const b = await members.join({ nodeId: 'b', shards: false });
  assert.is(b.member.shard, undefined);
  assert.throws(() => b.member.snowflake(), (e: unknown) => (e as OptionRangeError).option === 'shards');
  assert.is(a.member.snowflake(), a.member.snowflake(), 'one generator per member');
});

test('the group records B, layout and epoch: a joiner with others gets GroupConfigError and writes nothing', async ({ members, redis, group }) => {
  await members.join({ nodeId: 'a' });
  const c = redis.client();
  const dump = async () => JSON.stringify(await Promise.all((await c.keys(`muster:{${group}}:*`)).sort().map(async (k) => [k, await c.dump(k)])));
  const before = await dump();
  const moved = await members.join({ nodeId: 'b', snowflake: { epoch: Date.UTC(2024, 0, 1) + 5000 } }).catch((e: unknown) => e);
  assert.instance(moved, GroupConfigError);
  assert.is((moved as GroupConfigError).option, 'snowflake');
  const layout = await members.join({ nodeId: 'b', snowflake: { layout: 'instagram' } }).catch((e: unknown) => e);
  assert.is((layout as GroupConfigError).option, 'snowflake');
  const bound = await members.join({ nodeId: 'b', timeout: 600 }).catch((e: unknown) => e);
  assert.is((bound as GroupConfigError).option, 'horizon');
  assert.is(await dump(), before, 'nothing written');
  // The same B given explicitly lets members with other timeouts share the group.
  const ok = await members.join({ nodeId: 'b', timeout: 200, heartbeat: 50, horizon: SKEW + FAST.timeout });
  assert.ok(ok.member.shard !== undefined);
});

test('Redis frozen: renewals stop, the lease lapses on time and minting stops; it recovers after', async ({ members, redis }) => {
  const a = await members.join({ nodeId: 'a' });
  const ids = a.member.snowflake();
  ids.next();
  redis.proc!.kill('SIGSTOP');
  const frozen = performance.now();
  try {
    assert.ok(await until(() => a.events.some((e) => e.e === 'shard lost'), FAST.timeout + 200), 'shard lost when renewals stop');
    const lapsed = a.events.find((e) => e.e === 'shard lost')!;
    assert.is(lapsed.reason, 'renewal-overdue');
    // Sure validity ends a margin before Redis would expire the member.
    assert.ok(lapsed.t - frozen <= FAST.timeout, `lapsed after ${Math.round(lapsed.t - frozen)} ms`);
    assert.throws(() => ids.next(), (e: unknown) => e instanceof LeaseExpiredError);
    assert.is(a.member.shard, undefined);
  } finally {
    redis.proc!.kill('SIGCONT');
  }
  assert.ok(await until(() => a.events.filter((e) => e.e === 'shard').length >= 2, 3000), 'a lease again');
  assert.ok(typeof ids.next() === 'bigint');
  assert.ok(a.events.some((e) => e.e === 'error'), 'the failed heartbeats were reported');
});

test('a new group starts its first holders above now + B; they mint at once, never beyond Redis TIME + B', async ({ members, redis }) => {
  const horizon = 1000 + FAST.timeout;
  const a = await members.join({ nodeId: 'a', clockSkew: 1000 });
  const lease = a.member.lease!;
  assert.ok(lease.floor >= Date.now() + horizon - 100, `floor ${lease.floor - Date.now()} ms ahead`);
  const ids = a.member.snowflake();
  const first = ids.next(); // join() resolved with something reserved above the floor
  assert.ok(ids.decode(first).timestamp > lease.floor, 'above the floor');
  // At full rate the holder stays at the edge: what it mints never passes Redis TIME + B.
  const c = redis.client();
  let last = first;
  let over = 0;
  for (let round = 0; round < 20; round++) {
    const batch: bigint[] = [];
    for (let i = 0; i < 20_000; i++) {
      try {
        batch.push(ids.next());
      } catch {
        break; // reservation used up until the next renewal
      }
    }
    const [sec, usec] = (await c.time()) as unknown as [string, string];
    const redisNow = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    for (const id of batch) {
      assert.ok(id > last, 'strictly increasing');
      last = id;
      if (ids.decode(id).timestamp > redisNow + horizon) over++;
    }
    await sleep(5);
  }
  assert.is(over, 0, 'IDs beyond Redis TIME + B');
  assert.ok(ids.decode(last).timestamp - ids.decode(first).timestamp > 10, 'it kept minting');
});

test('after Redis loses its data, the new lease starts above anything minted before', async ({ members, redis }) => {
  const a = await members.join({ nodeId: 'a' });
  const ids = a.member.snowflake();
  let last = 0n;
  for (let i = 0; i < 1000; i++) last = ids.next();
  await redis.client().flushall();
  assert.ok(await until(() => a.events.some((e) => e.e === 'lost' && e.reason === 'wiped'), 2000), 'lost: wiped');
  assert.ok(await until(() => a.events.filter((e) => e.e === 'shard').length >= 2, 2000), 'a new lease');
  const floor = a.member.lease!.floor;
  assert.ok(floor > ids.decode(last).timestamp, 'the wipe floor is above the last ID');
  assert.ok(ids.next() > last);
});

test('a custom generator runs on the lease, is re-created per lease and fenced', async ({ members }) => {
  const a = await members.join({ nodeId: 'a' });
  const made: number[] = [];
  const g = a.member.generator((shard) => {
    made.push(shard);
    let i = 0;
    return { next: () => `${shard}-${i++}` };
  });
  assert.is(g.next(), `${a.member.shard}-0`);
  assert.equal(made, [a.member.shard]);
  await a.member.leave();
  assert.throws(() => g.next(), (e: unknown) => e instanceof LeaseExpiredError);
});

test('durability: a renewal counts only once a replica has it', async ({ group }) => {
  const master = await startRedis();
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  try {
    await replicaOnline(master);
    const m = createMember({ redis: master.url, group, nodeId: 'd', ...FAST, clockSkew: SKEW, durability: { replicas: 1, timeout: 50 } });
    const errors: Error[] = [];
    const lost: string[] = [];
    m.on('error', (e) => errors.push(e));
    m.on('shard lost', (_s, why) => lost.push(why));
    await m.join();
    assert.ok(m.lease?.isValid(), 'valid once the replica acknowledged');
    replica.proc!.kill('SIGSTOP');
    assert.ok(await until(() => lost.includes('renewal-overdue'), FAST.timeout + 300), 'lapses without replication');
    assert.ok(errors.some((e) => e instanceof DurabilityError));
    replica.proc!.kill('SIGCONT');
    assert.ok(await until(() => m.lease?.isValid() === true, 3000), 'recovers with replication');
    await m.leave();
  } finally {
    replica.proc?.kill('SIGCONT');
    await replica.stop();
    await master.stop();
  }
});

// +3.5 s is the first holder of a new group, whose floor lies B ahead of Redis time:
// the clock must be refused all the same (it once was not).
for (const offset of ['+10s', '+3.5s']) {
  test(`a host whose clock is ${offset} ahead of Redis TIME gets a lease but mints nothing, and says why`, async ({ redis, group }) => {
    const dir = tempDir('muster-clock-');
    const clockFile = pathJoin(dir, 'clock');
    writeFileSync(clockFile, offset);
    const faketime = findFaketime();
    const env = faketime
      ? { LD_PRELOAD: faketime, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_CACHE_DURATION: '1', DONT_FAKE_MONOTONIC: '1' }
      : { FAKE_CLOCK_FILE: clockFile };
    const p: Proc = await spawnMember(
      { redis: redis.url, group, nodeId: 'ahead', ...FAST, clockSkew: 1000 },
      { env, nodeArgs: faketime ? [] : ['--import', pathJoin(FIXTURES, 'fake-clock.js')] },
    );
    try {
      const err = await p.waitFor((e) => e.e === 'error' && e.code === 'CLOCK_SKEW', 3000, 'a CLOCK_SKEW error event');
      assert.match(String(err.message), /ahead of Redis TIME/);
      p.send('mint');
      const r = await p.waitFor((e) => e.e === 'mint', 3000, 'mint result');
      assert.is(r.code, 'CLOCK_SKEW', JSON.stringify(r));
      p.send('state');
      const st = await p.waitFor((e) => e.e === 'state', 3000, 'state');
      assert.is(st.shard, undefined, 'member.shard is undefined while the clock is refused');
      assert.is(st.valid, false, 'lease.isValid() is false while the clock is refused');
      assert.not.ok(p.events.some((e) => e.e === 'shard'), 'no shard event');
    } finally {
      await p.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a Redis that may evict keys is refused with StoreConfigError, nothing written', async ({ group }) => {
  const r = await startRedis({ args: ['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru'] });
  try {
    const err = await join({ redis: r.url, group, nodeId: 'e', ...FAST }).catch((e: unknown) => e);
    assert.instance(err, StoreConfigError);
    assert.is((err as StoreConfigError).value, 'allkeys-lru');
    assert.is(await r.client().dbsize(), 0, 'nothing written');
  } finally {
    await r.stop();
  }
});

test('join() with a nodeId already live and shards: the live one keeps its shard', async ({ members }) => {
  const a = await members.join({ nodeId: 'same' });
  const shard = a.member.shard;
  await join({ redis: (a.member.options.redis as string), group: a.member.options.group, nodeId: 'same', ...FAST }).catch(() => undefined);
  await sleep(FAST.heartbeat * 2);
  assert.is(a.member.shard, shard);
  assert.ok(a.member.lease?.isValid());
});

test('a joiner waiting for a shard longer than its timeout survives a short Redis outage (one timeout counted from the last reply)', async ({ redis, group }) => {
  const opts = { redis: redis.url, group, heartbeat: 100, timeout: 1000, clockSkew: 200, shards: { min: 0, max: 0 } };
  const a = await join({ ...opts, nodeId: 'a' });
  a.on('error', () => undefined);
  const c = createMember({ ...opts, nodeId: 'c', shards: { min: 0, max: 0, wait: '20s' } });
  c.on('error', () => undefined);
  let failed: unknown;
  const joined = c.join().catch((e: unknown) => (failed = e));
  try {
    await sleep(2000); // c has waited twice its timeout for the only shard
    redis.proc!.kill('SIGSTOP');
    await sleep(700); // c's next attempts time out
    redis.proc!.kill('SIGCONT');
    await sleep(300);
    assert.is(failed, undefined, `the join gave up: ${String(failed)}`);
    await a.leave();
    await joined;
    assert.is(failed, undefined, `the join gave up: ${String(failed)}`);
    assert.is(c.shard, 0);
  } finally {
    redis.proc?.kill('SIGCONT');
    await c.leave().catch(() => undefined);
    await a.leave().catch(() => undefined);
  }
});

test.run();
