// Members in separate processes, killed and frozen for real (SIGKILL, SIGSTOP/SIGCONT),
// and a Redis stopped and started again: G4, G5 and G8 under real faults.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisError, createMember } from '../src/index.js';
import { type Ev, type Proc, killAll, spawnMember } from './helpers/proc.js';
import { type RedisServer, sleep, startRedis, useRedis } from './helpers/redis.js';

const T = { heartbeat: 100, timeout: 600 };
// Process start-up, event-loop lag under load and the time a line takes to reach us.
const MARGIN = 400;

const test = suite<{ redis: RedisServer; procs: Proc[]; group: string }>('failures');
let n = 0;

useRedis(test);
test.before.each((ctx) => {
  ctx.group = `f${++n}`;
  ctx.procs = [];
});
test.after.each(async (ctx) => {
  await killAll(ctx.procs);
});

const is = (e: string, id?: string) => (ev: Ev) => ev.e === e && (id === undefined || ev.id === id);

async function spawnAll(ctx: { redis: RedisServer; procs: Proc[]; group: string }, ids: string[], extra: Record<string, unknown> = {}) {
  // One after another, so every earlier member sees every later one join.
  const ps: Proc[] = [];
  for (const id of ids) {
    const p = await spawnMember({ redis: ctx.redis.url, group: ctx.group, nodeId: id, ...T, ...extra });
    ctx.procs.push(p);
    ps.push(p);
  }
  return ps;
}

test('SIGKILL: both survivors see -node (timeout) in time, exactly one gets node down; a fourth joiner is seen by both', async (ctx) => {
  const [a, b, c] = (await spawnAll(ctx, ['a', 'b', 'c'])) as [Proc, Proc, Proc];
  await a.waitFor(is('+node', 'c'), 3000, 'a sees c');
  await b.waitFor(is('+node', 'c'), 3000, 'b sees c');
  const killedAt = Date.now();
  await c.kill();
  const ea = await a.waitFor(is('-node', 'c'), 5000, 'a: -node c');
  const eb = await b.waitFor(is('-node', 'c'), 5000, 'b: -node c');
  assert.is(ea.reason, 'timeout');
  assert.is(eb.reason, 'timeout');
  for (const ev of [ea, eb]) {
    assert.ok(ev.t - killedAt <= T.heartbeat + T.timeout + MARGIN, `-node after ${ev.t - killedAt} ms`);
  }
  // Leave time for a second report to show up if one were sent.
  await sleep(T.timeout + 3 * T.heartbeat);
  const downs = a.count(is('node down', 'c')) + b.count(is('node down', 'c'));
  assert.is(downs, 1, 'exactly one survivor gets node down');

  const [d] = (await spawnAll(ctx, ['d'])) as [Proc];
  await a.waitFor(is('+node', 'd'), 3000, 'a: +node d');
  await b.waitFor(is('+node', 'd'), 3000, 'b: +node d');
  assert.is(d.count(is('+node')), 0);
});

test('SIGSTOP past the timeout: reaped once, then on SIGCONT it learns it was lost and rejoins', async (ctx) => {
  const [a, b, z] = (await spawnAll(ctx, ['a', 'b', 'z'])) as [Proc, Proc, Proc];
  await a.waitFor(is('+node', 'z'), 3000, 'a sees z');
  await b.waitFor(is('+node', 'z'), 3000, 'b sees z');
  z.signal('SIGSTOP');
  await a.waitFor(is('-node', 'z'), 5000, 'a: -node z');
  await b.waitFor(is('-node', 'z'), 5000, 'b: -node z');
  await sleep(2 * T.heartbeat);
  const fromA = a.events.length;
  const fromB = b.events.length;
  const fromZ = z.events.length;
  z.signal('SIGCONT');
  const lost = await z.waitFor(is('lost'), 5000, 'z: lost', fromZ);
  assert.ok(lost.reason === 'gone' || lost.reason === 'expired', String(lost.reason));
  await z.waitFor(is('shard'), 5000, 'z: a new shard after rejoining', fromZ);
  await a.waitFor(is('+node', 'z'), 5000, 'a: +node z again', fromA);
  await b.waitFor(is('+node', 'z'), 5000, 'b: +node z again', fromB);
  assert.is(a.count(is('node down', 'z')) + b.count(is('node down', 'z')) + z.count(is('node down', 'z')), 1, 'reaped once');
  assert.is(z.count(is('unhandledRejection')), 0);
});

test('all members killed: the next joiner gets node down for each of them, once', async (ctx) => {
  const ps = await spawnAll(ctx, ['p', 'q', 'r']);
  await killAll(ps);
  await sleep(T.timeout + 100);
  const [s] = (await spawnAll(ctx, ['s'])) as [Proc];
  for (const id of ['p', 'q', 'r']) await s.waitFor(is('node down', id), 3000, `s: node down ${id}`);
  await sleep(T.timeout);
  const [u] = (await spawnAll(ctx, ['u'])) as [Proc];
  await sleep(3 * T.heartbeat);
  for (const id of ['p', 'q', 'r']) assert.is(s.count(is('node down', id)), 1);
  assert.is(u.count(is('node down')), 0, 'the reports are not handed out again');
});

test('a reaper that dies right after its listener ran passes the report on (never lost)', async (ctx) => {
  // `dieOnNodeDown`: the fixture SIGKILLs itself inside its `node down` listener, so
  // the report was handed to it but never acknowledged.
  const [a] = (await spawnAll(ctx, ['a'], { dieOnNodeDown: true })) as [Proc];
  const [v] = (await spawnAll(ctx, ['victim'])) as [Proc];
  await a.waitFor(is('+node', 'victim'), 3000, 'a sees victim');
  await v.kill();
  await a.waitFor(is('node down', 'victim'), 5000, 'a: node down victim');
  assert.is(await a.exited, null, 'a died by a signal in its listener');
  await sleep(T.timeout + 50);
  const [b] = (await spawnAll(ctx, ['b'])) as [Proc];
  await b.waitFor(is('node down', 'a'), 3000, 'b: node down a');
  await b.waitFor(is('node down', 'victim'), 3000, 'b inherits the report a did not acknowledge');
  await sleep(3 * T.heartbeat);
  assert.is(b.count(is('node down', 'victim')), 1);
  assert.is(b.count(is('node down', 'a')), 1);
});

test('Redis stopped and started again (empty): no crash, error events, members rejoin', async (ctx) => {
  const [a, b] = (await spawnAll(ctx, ['a', 'b'])) as [Proc, Proc];
  await a.waitFor(is('+node', 'b'), 3000, 'a sees b');
  const fromA = a.events.length;
  const fromB = b.events.length;
  await ctx.redis.stop();
  await sleep(1500);
  await ctx.redis.start();
  await a.waitFor(is('error'), 100, 'a: error events', fromA);
  await b.waitFor(is('error'), 100, 'b: error events', fromB);
  // Redis came back without data: both learn they were lost (wiped), rejoin, and see each other.
  const la = await a.waitFor(is('lost'), 5000, 'a: lost', fromA);
  assert.is(la.reason, 'wiped');
  await b.waitFor(is('lost'), 5000, 'b: lost', fromB);
  await a.waitFor(is('shard'), 5000, 'a: shard again', fromA);
  await b.waitFor(is('shard'), 5000, 'b: shard again', fromB);
  a.send('nodes');
  const nodes = await a.waitFor(is('nodes'), 3000, 'a: nodes');
  assert.equal(nodes.ids, ['a', 'b']);
  for (const p of [a, b]) {
    assert.is(p.child.exitCode, null, 'still running');
    assert.is(p.count(is('unhandledRejection')), 0);
  }
});

test('Redis flapping: callers get rejected promises, the member gets error events, nothing goes unhandled (G8)', async (ctx) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  const m = createMember({ redis: ctx.redis.url, group: ctx.group, nodeId: 'flap', ...T });
  const errors: Error[] = [];
  const lost: string[] = [];
  m.on('error', (e) => errors.push(e));
  m.on('lost', (r) => lost.push(r));
  try {
    await m.join();
    const ids = m.snowflake();
    for (let i = 0; i < 3; i++) {
      await ctx.redis.stop();
      const err = await m.nodes().catch((e: unknown) => e);
      assert.instance(err, RedisError, 'a caller gets a rejected promise');
      void ids.nextAsync(AbortSignal.timeout(200)).catch(() => undefined);
      await sleep(400);
      await ctx.redis.start();
      await sleep(400);
    }
    await sleep(T.timeout + 500);
    assert.ok(errors.length > 0, 'error events');
    assert.ok(lost.includes('wiped'), `lost: ${lost.join()}`);
    assert.equal((await m.nodes()).map((n) => n.id), ['flap'], 'back in the group');
    assert.ok(typeof (await ids.nextAsync(AbortSignal.timeout(3000))) === 'bigint', 'minting again');
  } finally {
    await m.leave().catch(() => undefined);
    process.off('unhandledRejection', onUnhandled);
  }
  assert.equal(unhandled, []);
});

test('Redis restarted from a snapshot taken before a death was handled: no second node down, no live member reported', async (ctx) => {
  // A server of its own: the snapshot and restart must not touch the other tests' groups.
  const redis = await startRedis();
  try {
    const [a, b, c] = (await spawnAll({ ...ctx, redis }, ['a', 'b', 'c'])) as [Proc, Proc, Proc];
    await a.waitFor(is('+node', 'c'), 3000, 'a sees c');
    await b.waitFor(is('+node', 'c'), 3000, 'b sees c');
    await redis.client().save(); // c alive in the snapshot
    await c.kill();
    const downs = () => [a, b].reduce((k, p) => k + p.count(is('node down', 'c')), 0);
    for (let i = 0; i < 100 && downs() === 0; i++) await sleep(20);
    assert.is(downs(), 1, 'one survivor handled c');
    await sleep(T.heartbeat * 4); // its acknowledgement went out with a heartbeat
    // The restart brings c back (alive, unhandled), and a and b with expiries long past.
    await redis.stop();
    await redis.start();
    await sleep(T.timeout * 3 + MARGIN);
    assert.is(downs(), 1, 'c handled once, not again after the restore');
    for (const [p, other] of [[a, 'b'], [b, 'a']] as const) {
      assert.is(p.count(is('node down', other)), 0, `no node down for live ${other}`);
      assert.is(p.count(is('lost')), 0, 'the live members were not reaped');
      assert.is(p.count(is('-node', 'c')), 1, 'one -node for c');
    }
  } finally {
    await killAll(ctx.procs);
    await redis.stop();
  }
});

test('graceful leave from another process: -node left, no node down', async (ctx) => {
  const [a, b] = (await spawnAll(ctx, ['a', 'b'])) as [Proc, Proc];
  await a.waitFor(is('+node', 'b'), 3000, 'a sees b');
  b.send('leave');
  await b.waitFor(is('left'), 3000, 'b left');
  const ev = await a.waitFor(is('-node', 'b'), 1000, 'a: -node b');
  assert.is(ev.reason, 'left');
  await sleep(T.timeout + 2 * T.heartbeat);
  assert.is(a.count(is('node down')), 0);
  assert.is(await b.exited, 0);
});

test.run();
