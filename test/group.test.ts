// The read-only group view: it lists and watches a group without joining it, never
// appears among the members, never gets `node down` and writes nothing.

import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type DepartedNode, type NodeInfo, OptionRangeError, OptionTypeError, group } from '../src/index.js';
import { FAST, Members, until } from './helpers/members.js';
import { type Proc, killAll, spawnMember } from './helpers/proc.js';
import { type RedisServer, sleep, startRedis, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer; members: Members; group: string; procs: Proc[] }>('group');
let n = 0;

useRedis(test);
test.before.each((ctx) => {
  ctx.group = `v${++n}`;
  ctx.members = new Members({ redis: ctx.redis.url, group: ctx.group });
  ctx.procs = [];
});
test.after.each(async (ctx) => {
  await ctx.members.leaveAll();
  await killAll(ctx.procs);
});

/** Every key of the group with its DUMP, to compare before and after. */
async function snapshot(admin: Redis, name: string): Promise<Map<string, string>> {
  const keys = (await admin.keys(`muster:{${name}}:*`)).sort();
  const out = new Map<string, string>();
  for (const k of keys) out.set(k, ((await admin.dumpBuffer(k)) ?? Buffer.alloc(0)).toString('hex'));
  return out;
}

test('nodes() and shards() list the group; the view is never a member', async (ctx) => {
  const a = await ctx.members.join({ nodeId: 'a', meta: { port: 1 }, shards: { min: 0, max: 3 } });
  await ctx.members.join({ nodeId: 'b', shards: { min: 0, max: 3 } });
  const c = await ctx.members.join({ nodeId: 'c', shards: { min: 0, max: 3 } });
  await c.member.leave();
  const g = group({ redis: ctx.redis.url, group: ctx.group });
  try {
    const nodes = await g.nodes();
    assert.equal(nodes.map((x) => x.id).sort(), ['a', 'b']);
    assert.equal(nodes.find((x) => x.id === 'a')?.meta, { port: 1 });
    const shards = await g.shards();
    assert.equal(shards.map((s) => s.shard), [0, 1, 2]);
    const held = shards.filter((s) => s.state === 'held');
    assert.equal(held.map((s) => s.holder?.id).sort(), ['a', 'b']);
    const ofA = shards.find((s) => s.holder?.id === 'a')!;
    assert.is(ofA.shard, a.member.shard);
    assert.is(ofA.fence, a.member.lease?.fence);
    assert.is(ofA.floor, a.member.lease?.floor);
    assert.is(ofA.holder?.life, a.member.life);
    assert.ok(ofA.reservedUntil! > ofA.floor!);
    const left = shards.find((s) => s.shard === 2)!;
    assert.is(left.state, 'quarantined', 'c left: its shard waits out the quarantine');
    assert.ok(left.quarantinedUntil! > Date.now() - 1000);
    assert.is(left.holder, undefined);
    // Members never see the view.
    assert.equal((await a.member.nodes()).map((x) => x.id).sort(), ['a', 'b']);
  } finally {
    await g.close();
  }
});

test('+node and -node live (left and timeout), through Pub/Sub and catch-up; never node down', async (ctx) => {
  const timing = { heartbeat: 100, timeout: 600 };
  await ctx.members.join({ nodeId: 'a', ...timing });
  const g = group({ redis: ctx.redis.url, group: ctx.group, poll: 200 });
  const seen: string[] = [];
  g.on('+node', (x: NodeInfo) => seen.push(`+${x.id}`));
  g.on('-node', (x: DepartedNode) => seen.push(`-${x.id}:${x.reason}`));
  (g as unknown as { on(e: string, f: () => void): void }).on('node down', () => seen.push('node down'));
  try {
    await sleep(200);
    const b = await ctx.members.join({ nodeId: 'b', ...timing });
    assert.ok(await until(() => seen.includes('+b'), 2000), `+b (${seen})`);
    await b.member.leave();
    assert.ok(await until(() => seen.includes('-b:left'), 2000), `-b left (${seen})`);
    const p = await spawnMember({ redis: ctx.redis.url, group: ctx.group, nodeId: 'p', ...timing });
    ctx.procs.push(p);
    assert.ok(await until(() => seen.includes('+p'), 2000), `+p (${seen})`);
    await p.kill();
    assert.ok(await until(() => seen.includes('-p:timeout'), 5000), `-p timeout (${seen})`);
    await sleep(300);
    assert.equal(seen, ['+b', '-b:left', '+p', '-p:timeout'], 'each change once, no node down');
    assert.equal((await g.nodes()).map((x) => x.id), ['a']);
  } finally {
    await g.close();
  }
});

test('a watcher whose connections are killed goes on reporting changes (reconnect and catch-up)', async (ctx) => {
  await ctx.members.join({ nodeId: 'a', ...FAST });
  const b = await ctx.members.join({ nodeId: 'b', ...FAST });
  const g = group({ redis: ctx.redis.url, group: ctx.group, poll: 100 });
  const seen: string[] = [];
  g.on('+node', (x: NodeInfo) => seen.push(`+${x.id}`));
  g.on('-node', (x: DepartedNode) => seen.push(`-${x.id}`));
  g.on('error', () => undefined);
  const admin = new Redis(ctx.redis.url);
  try {
    await sleep(200);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const c = await ctx.members.join({ nodeId: 'c', ...FAST });
    await b.member.leave().catch(() => undefined);
    assert.ok(await until(() => seen.includes('+c') && seen.includes('-b'), 3000), `caught up (${seen})`);
    await c.member.leave();
    assert.ok(await until(() => seen.includes('-c'), 3000), `-c (${seen})`);
    assert.is(seen.filter((x) => x === '+c').length, 1, 'each change once');
  } finally {
    admin.disconnect();
    await g.close();
  }
});

test('reading and watching write nothing to the group', async (ctx) => {
  await ctx.members.join({ nodeId: 'a', ...FAST });
  await ctx.members.leaveAll();
  const admin = new Redis(ctx.redis.url);
  try {
    const before = await snapshot(admin, ctx.group);
    assert.ok(before.size >= 3, 'the group has keys');
    const g = group({ redis: ctx.redis.url, group: ctx.group, poll: 50 });
    g.on('+node', () => undefined);
    await g.nodes();
    await g.shards();
    await sleep(300);
    await g.close();
    // A view of a group that does not exist creates nothing either.
    const none = group({ redis: ctx.redis.url, group: `${ctx.group}-none` });
    assert.equal(await none.nodes(), []);
    assert.equal(await none.shards(), []);
    await none.close();
    assert.equal(await snapshot(admin, ctx.group), before);
    assert.equal(await admin.keys(`muster:{${ctx.group}-none}:*`), []);
  } finally {
    admin.disconnect();
  }
});

test('bad options are refused by name before any connection; a stopped Redis gives rejected reads', async () => {
  assert.throws(() => group({ group: 'a{b}' }), (e: unknown) => e instanceof OptionRangeError && e.option === 'group');
  assert.throws(() => group({ poll: 'soon' }), (e: unknown) => e instanceof OptionTypeError || e instanceof OptionRangeError);
  assert.throws(() => group({ nodeId: 'x' } as never), (e: unknown) => e instanceof OptionTypeError && e.option === 'nodeId');
  const r = await startRedis();
  const g = group({ redis: r.url, group: 'x', timeout: 300 });
  const errors: Error[] = [];
  g.on('error', (e) => errors.push(e));
  try {
    assert.equal(await g.nodes(), []);
    await r.stop();
    let failed: unknown;
    await g.nodes().catch((e) => (failed = e));
    assert.ok(failed instanceof Error && /nodes\(\)/.test(failed.message), String(failed));
  } finally {
    await g.close();
    await r.stop();
  }
});

test.run();

