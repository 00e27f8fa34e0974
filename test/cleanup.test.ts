// `node down` cleanups that take time: a listener's promise holds the report until it
// settles. A reaper killed in the middle of its cleanup, a cleanup that fails, and a
// member that comes back as a new life after a pause.

import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type CleanupError, type Member, type NodeInfo, createMember } from '../src/index.js';
import { type Ev, type Proc, killAll, spawnMember } from './helpers/proc.js';
import { type RedisServer, sleep, useRedis } from './helpers/redis.js';
import { until } from './helpers/members.js';

const T = { heartbeat: 100, timeout: 600 };

const test = suite<{ redis: RedisServer; procs: Proc[]; group: string; members: Member[] }>('cleanup');
let n = 0;

useRedis(test);
test.before.each((ctx) => {
  ctx.group = `c${++n}`;
  ctx.procs = [];
  ctx.members = [];
});
test.after.each(async (ctx) => {
  await killAll(ctx.procs);
  await Promise.all(ctx.members.map((m) => m.leave().catch(() => undefined)));
});

const is = (e: string, id?: string) => (ev: Ev) => ev.e === e && (id === undefined || ev.id === id);

async function spawn(ctx: { redis: RedisServer; procs: Proc[]; group: string }, id: string, extra: Record<string, unknown> = {}) {
  const p = await spawnMember({ redis: ctx.redis.url, group: ctx.group, nodeId: id, ...T, ...extra });
  ctx.procs.push(p);
  return p;
}

test('a reaper SIGKILLed 1 s into a 3 s cleanup: the other survivor gets the report and completes the cleanup', async (ctx) => {
  const a = await spawn(ctx, 'a', { cleanupMs: 3000 });
  const b = await spawn(ctx, 'b', { cleanupMs: 3000 });
  const v = await spawn(ctx, 'v');
  await a.waitFor(is('+node', 'v'), 3000, 'a sees v');
  await b.waitFor(is('+node', 'v'), 3000, 'b sees v');
  await v.kill();
  // Whichever survivor reaps v starts the cleanup; kill it 1 s in.
  const reaper = await Promise.race([
    a.waitFor(is('node down', 'v'), 5000, 'a: node down v').then(() => a),
    b.waitFor(is('node down', 'v'), 5000, 'b: node down v').then(() => b),
  ]);
  const other = reaper === a ? b : a;
  await sleep(1000);
  assert.is(reaper.count(is('cleanup done', 'v')), 0, 'the cleanup was still running');
  await reaper.kill();
  // The other reaps the killed reaper and takes over the report it had not acknowledged.
  await other.waitFor(is('node down', 'v'), 5000, 'the other survivor: node down v');
  await other.waitFor(is('cleanup done', 'v'), 6000, 'the other survivor completes the cleanup after v');
  await other.waitFor(is('cleanup done', reaper === a ? 'a' : 'b'), 6000, 'and the cleanup after the killed reaper');
});

test('a rejected cleanup gives an error event and is delivered again until it succeeds; only then acknowledged', async (ctx) => {
  const keys = `muster:{${ctx.group}}:downs`;
  const admin = new Redis(ctx.redis.url);
  try {
    const a = createMember({ redis: ctx.redis.url, group: ctx.group, nodeId: 'a', ...T });
    ctx.members.push(a);
    const deliveries: number[] = [];
    const errors: CleanupError[] = [];
    let release = () => {};
    a.on('node down', (node: NodeInfo) => {
      deliveries.push(Date.now());
      if (node.id !== 'v') return undefined;
      if (deliveries.length <= 2) return Promise.reject(new Error(`backend down (${deliveries.length})`));
      return new Promise<void>((r) => (release = r));
    });
    a.on('error', (err) => {
      if ((err as CleanupError).code === 'CLEANUP') errors.push(err as CleanupError);
    });
    await a.join();
    const v = await spawn(ctx, 'v');
    await until(() => a.listenerCount('node down') === 1, 100);
    await v.kill();
    assert.ok(await until(() => deliveries.length === 3, 8000), `third delivery (got ${deliveries.length})`);
    assert.equal(errors.map((e) => [e.attempt, e.retryInMs, e.node.id]), [[1, 1000, 'v'], [2, 2000, 'v']]);
    assert.match(errors[0]!.message, /backend down \(1\)/);
    // Delivered again no sooner than the backoff said.
    assert.ok(deliveries[1]! - deliveries[0]! >= 1000, `second delivery after ${deliveries[1]! - deliveries[0]!} ms`);
    assert.ok(deliveries[2]! - deliveries[1]! >= 2000, `third delivery after ${deliveries[2]! - deliveries[1]!} ms`);
    // The third cleanup is still running: the report stays in Redis.
    await sleep(3 * T.heartbeat);
    assert.is(await admin.hlen(keys), 1, 'held while the cleanup runs');
    release();
    assert.ok(await until(async () => (await admin.hlen(keys)) === 0, 2000), 'acknowledged once it settled');
    await sleep(1500);
    assert.is(deliveries.length, 3, 'not delivered again after it succeeded');
  } finally {
    admin.disconnect();
  }
});

test('plain listeners keep their behaviour: acknowledged at the next heartbeat', async (ctx) => {
  const admin = new Redis(ctx.redis.url);
  try {
    const a = createMember({ redis: ctx.redis.url, group: ctx.group, nodeId: 'a', ...T });
    ctx.members.push(a);
    let downs = 0;
    a.on('node down', () => {
      downs++;
    });
    await a.join();
    const v = await spawn(ctx, 'v');
    await v.kill();
    assert.ok(await until(() => downs === 1, 5000));
    assert.ok(await until(async () => (await admin.hlen(`muster:{${ctx.group}}:downs`)) === 0, 3 * T.heartbeat + 200));
  } finally {
    admin.disconnect();
  }
});

test('rejoined: a member paused past the timeout comes back as a new life and says which', async (ctx) => {
  const a = await spawn(ctx, 'a');
  const z = await spawn(ctx, 'z');
  const oldLife = (await z.waitFor(is('joined'), 3000, 'z joined')).life as string;
  await a.waitFor((e) => is('+node', 'z')(e) && e.life === oldLife, 3000, 'a sees z');
  z.signal('SIGSTOP');
  const gone = await a.waitFor(is('-node', 'z'), 5000, 'a: -node z');
  assert.is(gone.life, oldLife);
  const fromA = a.events.length;
  z.signal('SIGCONT');
  const r = await z.waitFor(is('rejoined'), 5000, 'z: rejoined');
  assert.is(r.previous, oldLife);
  assert.type(r.life, 'string');
  assert.is.not(r.life, oldLife);
  const back = await a.waitFor(is('+node', 'z'), 5000, 'a: +node z again', fromA);
  assert.is(back.life, r.life, 'peers see the new life');
  const down = a.events.find(is('node down', 'z'));
  assert.is(down?.life, oldLife, 'the cleanup was for the old life');
});

test.run();
