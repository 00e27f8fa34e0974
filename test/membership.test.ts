// Membership on a real Redis, members in this process: join, views, events, leave,
// duplicates (G5, G6) and the one-script-call-per-heartbeat rule.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DuplicateNodeError, MusterError, createMember, join } from '../src/index.js';
import { FAST, Members, until } from './helpers/members.js';
import { type RedisServer, sleep, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer; members: Members; group: string }>('membership');
let n = 0;

useRedis(test);
test.before.each((ctx) => {
  ctx.group = `g${++n}`;
  ctx.members = new Members({ redis: ctx.redis.url, group: ctx.group });
});
test.after.each(async (ctx) => {
  await ctx.members.leaveAll();
});

test('join, nodes() lists every live member, +node reaches earlier members', async ({ members }) => {
  const a = await members.join({ nodeId: 'a', meta: { port: 1 } });
  const b = await members.join({ nodeId: 'b', meta: { port: 2 } });
  const c = await members.join({ nodeId: 'c' });
  const ids = (await b.member.nodes()).map((x) => x.id).sort();
  assert.equal(ids, ['a', 'b', 'c']);
  const metaA = (await c.member.nodes()).find((x) => x.id === 'a')?.meta;
  assert.equal(metaA, { port: 1 });
  assert.ok(await until(() => a.events.filter((e) => e.e === '+node').length === 2, 1000), 'a sees b and c join');
  assert.ok(await until(() => b.events.some((e) => e.e === '+node' && e.id === 'c'), 1000), 'b sees c join');
  assert.not.ok(c.events.some((e) => e.e === '+node'), 'c gets no +node for members that were there before it');
  assert.not.ok(a.events.some((e) => e.e === '+node' && e.id === 'a'), 'no event about itself');
});

test('leave(): -node with reason left reaches the others within about 100 ms', async ({ members }) => {
  const a = await members.join({ nodeId: 'a', heartbeat: 1000, timeout: 5000 });
  const b = await members.join({ nodeId: 'b', heartbeat: 1000, timeout: 5000 });
  await sleep(20);
  const t0 = performance.now();
  await b.member.leave();
  assert.ok(await until(() => a.events.some((e) => e.e === '-node' && e.id === 'b'), 1000), '-node arrives');
  const ev = a.events.find((e) => e.e === '-node' && e.id === 'b')!;
  assert.is(ev.reason, 'left');
  // The heartbeat is 1 s, so only the Pub/Sub notification can be this fast.
  assert.ok(ev.t - t0 < 150, `-node took ${Math.round(ev.t - t0)} ms`);
  assert.equal((await a.member.nodes()).map((x) => x.id), ['a']);
  assert.not.ok(a.events.some((e) => e.e === 'node down'), 'a graceful leave is not a death');
});

test('events found while joining come after join() resolves (and with createMember first)', async ({ redis, group }) => {
  // A member that dies without leave() leaves a record to be reaped by the next joiner.
  const dead = await join({ redis: redis.url, group, nodeId: 'dead', ...FAST });
  await (dead as unknown as { teardown(): Promise<void> }).teardown(); // stop heartbeats, close, as a crash would
  await sleep(FAST.timeout + 50);
  const seen: string[] = [];
  const m = await join({ redis: redis.url, group, nodeId: 'x', ...FAST });
  m.on('node down', (node) => seen.push(node.id)); // attached after await: must still get it
  await sleep(30);
  assert.equal(seen, ['dead']);
  await m.leave();

  const dead2 = await join({ redis: redis.url, group, nodeId: 'dead2', ...FAST });
  await (dead2 as unknown as { teardown(): Promise<void> }).teardown();
  await sleep(FAST.timeout + 50);
  const seen2: string[] = [];
  const m2 = createMember({ redis: redis.url, group, nodeId: 'y', ...FAST });
  m2.on('node down', (node) => seen2.push(node.id));
  await m2.join();
  await sleep(30);
  assert.equal(seen2, ['dead2']);
  await m2.leave();
});

test('the first shard event, too, comes after join() resolves', async ({ redis, group }) => {
  const m = await join({ redis: redis.url, group, nodeId: 's', ...FAST });
  const got: number[] = [];
  m.on('shard', (n) => got.push(n));
  await sleep(10);
  assert.equal(got, [m.shard]);
  await m.leave();
});

test('a live duplicate nodeId is rejected with DuplicateNodeError and changes nothing (G6)', async ({ redis, members, group }) => {
  const a = await members.join({ nodeId: 'same', meta: { v: 1 } });
  const client = redis.client();
  const before = await client.hgetall(`muster:{${group}}:nodes`);
  const started = performance.now();
  const err = await createMember({ redis: redis.url, group, nodeId: 'same', meta: { v: 2 }, ...FAST })
    .join()
    .catch((e: unknown) => e);
  assert.instance(err, DuplicateNodeError);
  assert.instance(err, MusterError);
  assert.is((err as DuplicateNodeError).code, 'DUPLICATE_NODE');
  // It waited for a renewal of the live record, so at most about a heartbeat or two.
  assert.ok(performance.now() - started < FAST.timeout, 'decided before its own timeout');
  const after = await client.hgetall(`muster:{${group}}:nodes`);
  assert.is(after.same, before.same, 'the live record (life, shard, meta) is unchanged');
  assert.ok(await a.member.nodes().then((ns) => ns.some((x) => x.id === 'same' && (x.meta as { v: number }).v === 1)));
  await sleep(FAST.heartbeat * 2);
  assert.not.ok(a.events.some((e) => e.e === 'lost' || e.e === 'error'), 'the live member noticed nothing: ' + JSON.stringify(a.events.map((e) => [e.e, e.err?.message])));
});

test('a restart with the same nodeId takes over a record that goes stale, and gets node down for its previous life', async ({ redis, group, members }) => {
  const watcher = await members.join({ nodeId: 'w' });
  const first = await join({ redis: redis.url, group, nodeId: 'pod-0', ...FAST });
  await (first as unknown as { teardown(): Promise<void> }).teardown(); // crash
  const seen: string[] = [];
  const t0 = performance.now();
  const second = createMember({ redis: redis.url, group, nodeId: 'pod-0', ...FAST });
  second.on('node down', (n) => seen.push(n.id));
  await second.join(); // waits for the crashed life to go stale, at most one timeout
  const waited = performance.now() - t0;
  assert.ok(waited <= FAST.timeout + 150, `join waited ${Math.round(waited)} ms`);
  await sleep(50);
  assert.equal(seen, ['pod-0'], 'the new life gets node down for its previous life');
  await sleep(FAST.heartbeat * 3);
  assert.not.ok(watcher.events.some((e) => e.e === 'node down'), 'the other member does not get it too');
  assert.ok(watcher.events.some((e) => e.e === '-node' && e.id === 'pod-0' && e.reason === 'timeout'));
  await second.leave();
});

test('a join whose reply is lost to a frozen Redis retries as the same life: no ghost member is left', async ({ redis, members, group }) => {
  const watcher = await members.join({ nodeId: 'w', heartbeat: 50, timeout: 1000 });
  redis.proc!.kill('SIGSTOP');
  const joining = join({ redis: redis.url, group, nodeId: 'x', heartbeat: 100, timeout: 2000, shards: false });
  await sleep(1300); // the first attempt times out at 1000 ms and is retried
  redis.proc!.kill('SIGCONT');
  const x = await joining;
  await sleep(2500); // past x's timeout: a ghost life would have expired by now
  assert.equal((await x.nodes()).map((n) => n.id).sort(), ['w', 'x']);
  assert.not.ok(watcher.events.some((e) => e.e === 'node down' && e.id === 'x'), 'no ghost life of x was reaped');
  assert.is(watcher.events.filter((e) => e.e === '+node' && e.id === 'x').length, 1);
  await x.leave();
});

test('every member runs exactly one script call per heartbeat', async ({ redis, members }) => {
  await members.join({ nodeId: 'a', heartbeat: 100, timeout: 1000 });
  await members.join({ nodeId: 'b', heartbeat: 100, timeout: 1000 });
  await sleep(150);
  const client = redis.client();
  const calls = async () => {
    const info = await client.info('commandstats');
    const count = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
    return count('evalsha') + count('eval');
  };
  const c0 = await calls();
  const t0 = performance.now();
  await sleep(1000);
  const c1 = await calls();
  const seconds = (performance.now() - t0) / 1000;
  const perMember = (c1 - c0) / 2;
  // Timers may slip (a beat is scheduled after the previous one returns), never run
  // twice: at most one call per heartbeat, plus one for the fencepost (a window of 1 s
  // can hold 11 beats 100 ms apart).
  assert.ok(perMember <= seconds * 10 + 1 && perMember > seconds * 5, `script calls per member in ${seconds} s: ${perMember}`);
});

test('distinct shards for distinct members; leave() releases its shard to quarantine', async ({ members, redis, group }) => {
  const ms = await Promise.all(['a', 'b', 'c', 'd'].map((id) => members.join({ nodeId: id, shards: { min: 0, max: 7 } })));
  const shards = ms.map((r) => r.member.shard);
  assert.is(new Set(shards).size, 4);
  for (const s of shards) assert.ok(typeof s === 'number' && s >= 0 && s <= 7);
  const gone = ms[0]!.member.shard!;
  await ms[0]!.member.leave();
  const score = await redis.client().zscore(`muster:{${group}}:free`, String(gone));
  assert.ok(score !== null, 'the shard is in the free set');
});

test.run();
