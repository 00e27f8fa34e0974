// A group's life, administered: reset (IDs after it above every ID before it, also when
// forced while a holder mints at full rate and a joiner with a smaller horizon takes its
// shard at once), set-range (widen while live, narrowing refused while a shard outside
// is held, a shard used before a narrowing comes back above its floor), idle expiry
// (the keys go; IDs and sequence numbers do not repeat after), and the CLI for both.

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  GroupConfigError,
  GroupInUseError,
  type Member,
  OptionRangeError,
  SequenceFloorError,
  ShardHeldError,
  ShardsExhaustedError,
  group,
  join,
} from '../src/index.js';
import { groupKeys } from '../src/redis/keys.js';
import { until } from './helpers/members.js';
import { type RedisServer, sleep, track, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('lifecycle');
useRedis(test);

const FAST = { heartbeat: 50, timeout: 300, clockSkew: 100 } as const;
let n = 0;
const fresh = () => `lc${n++}`;

/** Mints from `m` in a tight loop (yielding between batches) until `stop()`; refusals are skipped. */
function mintLoop(m: Member, out: bigint[], stop: () => boolean): Promise<void> {
  const ids = m.snowflake();
  return (async () => {
    while (!stop()) {
      for (let i = 0; i < 256; i++) {
        try {
          out.push(ids.next());
        } catch {
          break;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
}

function duplicates(all: bigint[]): bigint[] {
  const seen = new Set<bigint>();
  return all.filter((v) => (seen.has(v) ? true : (seen.add(v), false)));
}

const max = (xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a));
const min = (xs: bigint[]) => xs.reduce((a, b) => (b < a ? b : a));

test('reset: a new config may join, and its IDs lie above every ID minted before', async ({ redis }) => {
  const g = fresh();
  // A large horizon: a fresh group's first holder starts B ahead of Redis time, so the
  // old IDs lie seconds ahead of the clock when the reset comes.
  const a = await join({ redis: redis.url, group: g, nodeId: 'a', ...FAST, shards: { min: 0, max: 3 }, horizon: 4000 });
  const before: bigint[] = [];
  let stop = false;
  const loop = mintLoop(a, before, () => stop);
  await sleep(400);
  stop = true;
  await loop;
  const seq = a.sequence('invoice', { block: 10 });
  const drawn = [await seq.next(), await seq.next(), await seq.next()];
  await a.leave();
  assert.ok(before.length > 10_000, `minted ${before.length}`);

  const view = group({ redis: redis.url, group: g });
  try {
    // Another config is refused before the reset, with the way out in the message.
    const refused = await join({ redis: redis.url, group: g, nodeId: 'b', ...FAST, shards: { min: 0, max: 7 } }).catch((e: unknown) => e);
    assert.instance(refused, GroupConfigError);
    assert.match((refused as Error).message, 'set-range');

    const r = await view.reset();
    assert.is(r.found, true);
    assert.is(r.removed.alive, 0);
    assert.is(r.removed.shards, 1);
    assert.ok(r.removed.logEntries >= 2, 'the log of a join and a leave');
    assert.is(r.kept.sequences, 1);
    assert.match(r.kept.layout, '41/10/12/1ms');
    assert.ok(r.floor >= Number(max(before) >> 22n) + Date.parse('2024-01-01T00:00:00Z'), 'the floor is above the last old ID');
    const k = groupKeys('muster', g);
    assert.is(await redis.client().exists(k.list[1], k.list[2], k.list[3], k.list[5], k.list[6]), 0, 'members, nodes, log, free and shards are gone');

    // The smallest horizon allowed and a wider range: without the floor it would start
    // ~3.5 s below the old IDs on the same shard 0, and repeat them.
    const b = await join({ redis: redis.url, group: g, nodeId: 'b', ...FAST, shards: { min: 0, max: 7 } });
    try {
      assert.is(b.shard, 0, 'the same shard as before');
      // Its IDs must wait for Redis time to come within its horizon of the old ones.
      const after: bigint[] = [];
      stop = false;
      const loop2 = mintLoop(b, after, () => stop);
      assert.ok(await until(() => after.length > 50_000, 10_000), `b minted ${after.length}`);
      stop = true;
      await loop2;
      assert.ok(after.length > 1000, `minted ${after.length}`);
      assert.ok(min(after) > max(before), `after ${min(after)} > before ${max(before)}`);
      // The named sequence goes on above what was drawn, without a refusal.
      const next = await b.sequence('invoice', { block: 10 }).next();
      assert.ok(next > Math.max(...drawn), `sequence ${next} after ${drawn}`);
    } finally {
      await b.leave();
    }
    assert.is((await view.reset({ force: false })).found, true, 'a second reset of the now idle group');
    const none = group({ redis: redis.url, group: 'nonexistent' });
    assert.is((await none.reset()).found, false);
    await none.close();
  } finally {
    await view.close();
  }
});

test('reset is refused while a member is alive (nothing written); forced, a holder minting at full rate repeats no ID', async ({ redis }) => {
  const g = fresh();
  // No rejoin: b, not a new life of a, takes the shard after the reset.
  const a = await join({ redis: redis.url, group: g, nodeId: 'a', ...FAST, shards: { min: 0, max: 0 }, horizon: 3000, rejoin: false });
  a.on('error', () => undefined);
  const view = group({ redis: redis.url, group: g });
  const members: Member[] = [a];
  try {
    const ids: bigint[][] = [[], []];
    let stop = false;
    const loopA = mintLoop(a, ids[0]!, () => stop);
    await sleep(200);
    const inc = await redis.client().hget(groupKeys('muster', g).list[0], 'inc');
    const refused = await view.reset().catch((e: unknown) => e);
    assert.instance(refused, GroupInUseError);
    assert.is((refused as GroupInUseError).code, 'GROUP_IN_USE');
    assert.equal((refused as GroupInUseError).nodeIds, ['a']);
    // The holder keeps beating, so compare what a reset would have changed.
    assert.is(await redis.client().hget(groupKeys('muster', g).list[0], 'inc'), inc, 'the incarnation is unchanged');
    assert.is(await redis.client().hget(groupKeys('muster', g).list[0], 'lo'), '0', 'the range is still recorded');
    assert.ok(await redis.client().hexists(groupKeys('muster', g).list[2], 'a'), 'a is still a member');

    let lost = false;
    a.on('lost', () => (lost = true));
    const r = await view.reset({ force: true });
    assert.is(r.removed.alive, 1);
    // A joiner with the smallest horizon takes the only shard at once, while `a` still
    // mints on it from its old lease.
    const b = await join({ redis: redis.url, group: g, nodeId: 'b', ...FAST, shards: { min: 0, max: 0 } });
    b.on('error', () => undefined);
    members.push(b);
    assert.is(b.shard, 0);
    const loopB = mintLoop(b, ids[1]!, () => stop);
    assert.ok(await until(() => lost, 3000), 'a learnt it was reset away');
    // b mints once Redis time is within its horizon of what a had reserved.
    assert.ok(await until(() => ids[1]!.length > 50_000 && ids[0]!.length > 0, 10_000), `b minted ${ids[1]!.length}`);
    stop = true;
    await Promise.all([loopA, loopB]);
    const all = [...ids[0]!, ...ids[1]!];
    assert.ok(ids[0]!.length > 1000 && ids[1]!.length > 1000, `minted ${ids[0]!.length} and ${ids[1]!.length}`);
    assert.equal(duplicates(all), [], 'no ID twice');
    // Sharper than waiting for an overlap: b's lease starts above all a minted, also
    // after the reset from its old lease.
    assert.ok(min(ids[1]!) > max(ids[0]!), `b's first ${min(ids[1]!)} above a's last ${max(ids[0]!)}`);
  } finally {
    await Promise.all(members.map((m) => m.leave().catch(() => undefined)));
    await view.close();
  }
});

test('set-range: widen while live, narrowing refused while a shard outside is held, a used shard comes back above its floor', async ({ redis }) => {
  const g = fresh();
  const opts = { redis: redis.url, group: g, ...FAST, shards: { min: 0, max: 1 } };
  const view = group({ redis: redis.url, group: g });
  const members: Member[] = [];
  try {
    members.push(await join({ ...opts, nodeId: 'a' }), await join({ ...opts, nodeId: 'b' }));
    assert.instance(await join({ ...opts, nodeId: 'c' }).catch((e: unknown) => e), ShardsExhaustedError);

    // Bad input: typed errors naming the option, nothing written.
    const snap = await redis.client().hgetall(groupKeys('muster', g).list[0]);
    const bad = await view.setRange({ min: 3, max: 2 }).catch((e: unknown) => e);
    assert.instance(bad, OptionRangeError);
    assert.is((bad as OptionRangeError).option, 'max');
    const wide = await view.setRange({ min: 0, max: 4096 }).catch((e: unknown) => e);
    assert.instance(wide, OptionRangeError);
    assert.match((wide as Error).message, '1023');
    const { ver: _v1, ...s1 } = snap;
    const { ver: _v2, ...s2 } = await redis.client().hgetall(groupKeys('muster', g).list[0]);
    assert.equal(s2, s1, 'the group record is unchanged');

    const r = await view.setRange({ min: 0, max: 3 });
    assert.equal(r.previous, { min: 0, max: 1 });
    const c = await join({ ...opts, nodeId: 'c' });
    members.push(c);
    assert.is(c.shard, 2);
    // A joiner still configured with another range is accepted: the group's range decides.
    const d = await join({ ...opts, nodeId: 'd', shards: { min: 0, max: 9 } });
    members.push(d);
    assert.is(d.shard, 3);

    const held = await view.setRange({ min: 0, max: 2 }).catch((e: unknown) => e);
    assert.instance(held, ShardHeldError);
    assert.is((held as ShardHeldError).shard, 3);
    assert.is((held as ShardHeldError).holder, 'd');

    // d mints on shard 3, then leaves; the range narrows to 0..2 and widens again: shard 3
    // comes back only through the free set, and its next holder mints above d's IDs.
    const old: bigint[] = [];
    let stop = false;
    const loop = mintLoop(d, old, () => stop);
    await sleep(200);
    stop = true;
    await loop;
    await d.leave();
    members.pop();
    await view.setRange({ min: 0, max: 2 });
    assert.instance(await join({ ...opts, nodeId: 'e' }).catch((e: unknown) => e), ShardsExhaustedError, 'shard 3 is out of range now');
    await view.setRange({ min: 0, max: 3 });
    const e = await join({ ...opts, nodeId: 'e', shards: { min: 0, max: 1, wait: 3000 } });
    members.push(e);
    assert.is(e.shard, 3);
    const later = e.snowflake().next();
    assert.ok(later > max(old), `${later} > ${max(old)}`);

    // Widening upward hands out the never-used shards above.
    await view.setRange({ min: 0, max: 5 });
    const f = await join({ ...opts, nodeId: 'f' });
    members.push(f);
    assert.is(f.shard, 4);
  } finally {
    await Promise.all(members.map((m) => m.leave().catch(() => undefined)));
    await view.close();
  }
});

test('set-range downward: a group started at 4..5 widened to 2..5 hands out 3, then 2', async ({ redis }) => {
  const g = fresh();
  const opts = { redis: redis.url, group: g, ...FAST, shards: { min: 4, max: 5 } };
  const view = group({ redis: redis.url, group: g });
  const members: Member[] = [];
  try {
    members.push(await join({ ...opts, nodeId: 'a' }), await join({ ...opts, nodeId: 'b' }));
    await view.setRange({ min: 2, max: 5 });
    members.push(await join({ ...opts, nodeId: 'c' }), await join({ ...opts, nodeId: 'd' }));
    assert.equal(members.map((m) => m.shard), [4, 5, 3, 2]);
    assert.instance(await join({ ...opts, nodeId: 'e' }).catch((x: unknown) => x), ShardsExhaustedError);
  } finally {
    await Promise.all(members.map((m) => m.leave().catch(() => undefined)));
    await view.close();
  }
});

test('idle expiry: the keys go after the idle time, and neither IDs nor sequence numbers repeat after', async ({ redis }) => {
  const g = fresh();
  const k = groupKeys('muster', g);
  const c = redis.client();
  const refused = await join({ redis: redis.url, group: g, ...FAST, idleExpiry: 100 }).catch((e: unknown) => e);
  assert.instance(refused, OptionRangeError);
  assert.is((refused as OptionRangeError).option, 'idleExpiry');
  assert.is(await c.exists(k.list[0]), 0, 'nothing written for a bad option');

  const horizon = 1000;
  const idleExpiry = 2500;
  const a = await join({ redis: redis.url, group: g, nodeId: 'a', ...FAST, horizon, idleExpiry });
  const before: bigint[] = [];
  let stop = false;
  const loop = mintLoop(a, before, () => stop);
  const seq = a.sequence('ticket', { block: 5 });
  const drawn = [await seq.next(), await seq.next()];
  await sleep(300);
  stop = true;
  await loop;
  // While members beat the keys do not expire.
  await sleep(idleExpiry + 300);
  for (const key of k.list.filter((_, i) => i !== 4 && i !== 5)) {
    const ttl = await c.pttl(key);
    assert.ok(ttl > 0 && ttl <= idleExpiry, `${key} lives on (pttl ${ttl})`);
  }
  await a.leave();
  assert.ok(await until(async () => (await c.exists(...k.list)) === 0, idleExpiry + 3000), 'every group key expired');
  assert.is(await c.exists(k.sequences), 1, 'the sequences\' counters stay');

  // A fresh member knowing nothing of the old group and with the smallest horizon.
  const b = await join({ redis: redis.url, group: g, nodeId: 'b', ...FAST, idleExpiry });
  try {
    const after = b.snowflake().next();
    assert.ok(after > max(before), 'IDs after the expiry lie above those before');
    const s = b.sequence('ticket', { block: 5 });
    const err = await s.next().catch((e: unknown) => e);
    assert.instance(err, SequenceFloorError, 'the counter was written under the expired group record');
    assert.is((err as SequenceFloorError).reason, 'wiped');
    await s.recover(async () => 0);
    const next = await s.next();
    assert.ok(next > Math.max(...drawn), `sequence ${next} after ${drawn}`);
  } finally {
    await b.leave();
  }
  // false: never; members that differ: never wins.
  const c1 = await join({ redis: redis.url, group: g, nodeId: 'c', ...FAST, idleExpiry: false });
  try {
    assert.is(await c.pttl(k.list[0]), -1, 'no expiry once a member asks for none');
  } finally {
    await c1.leave();
  }
});

const BIN = fileURLToPath(new URL('../../dist/esm/cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child: ChildProcess = track(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

test('CLI: group reset asks for --yes off a terminal, refuses while alive, prints what it removed; set-range', async ({ redis }) => {
  const g = fresh();
  const a = await join({ redis: redis.url, group: g, nodeId: 'a', ...FAST, shards: { min: 0, max: 1 } });
  const conn = ['--redis', redis.url, '--group', g];
  try {
    const noYes = await cli(['group', 'reset', ...conn]);
    assert.is(noYes.code, 2);
    assert.match(noYes.err, '--yes');
    const alive = await cli(['group', 'reset', ...conn, '--yes']);
    assert.is(alive.code, 1);
    assert.match(alive.err, '1 live member(s) (a)');
    assert.ok(await redis.client().exists(groupKeys('muster', g).list[2]), 'nothing removed');

    const widened = await cli(['group', 'set-range', ...conn, '--min', '0', '--max', '7']);
    assert.is(widened.code, 0, widened.err);
    assert.match(widened.out, 'shard range 0..1 -> 0..7');
    const narrow = await cli(['group', 'set-range', ...conn, '--min', '1', '--max', '7']);
    assert.is(narrow.code, 1);
    assert.match(narrow.err, 'shard 0 is held by "a"');
    const badMax = await cli(['group', 'set-range', ...conn, '--min', '0']);
    assert.is(badMax.code, 2);
    const noGroup = await cli(['group', 'reset', '--redis', redis.url, '--yes']);
    assert.is(noGroup.code, 2);
    assert.match(noGroup.err, '--group');
  } finally {
    await a.leave();
  }
  const done = await cli(['group', 'reset', ...conn, '--yes']);
  assert.is(done.code, 0, done.err);
  assert.match(done.out, `reset group "${g}"`);
  assert.match(done.out, /removed: 0 member record\(s\) \(0 alive\), 1 shard record\(s\)/);
  assert.match(done.out, 'kept: a floor');
  const json = await cli(['group', 'reset', ...conn, '--yes', '--json']);
  assert.is(json.code, 0, json.err);
  assert.is(JSON.parse(json.out).found, true);
  const none = await cli(['group', 'reset', '--redis', redis.url, '--group', 'nosuchgroup', '--yes']);
  assert.is(none.code, 1);
  assert.match(none.err, 'no group "nosuchgroup"');
});

test.run();
