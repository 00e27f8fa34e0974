// The same scripts, unchanged, on a real three-master Redis Cluster: every key of a
// group shares one hash tag, and groups spread over the masters.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Member, join } from '../src/index.js';
import { FAST, until } from './helpers/members.js';
import { type RedisCluster, startCluster } from './helpers/redis.js';

const test = suite<{ cluster: RedisCluster; members: Member[] }>('redis cluster');

test.before(async (ctx) => {
  ctx.cluster = await startCluster();
  ctx.members = [];
});
test.after(async (ctx) => {
  await Promise.all(ctx.members.map((m) => m.leave().catch(() => undefined)));
  await ctx.cluster.stop();
});

test('members of several groups join, see each other, hold distinct shards and mint', async (ctx) => {
  const groups = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
  const seen: Record<string, string[]> = {};
  for (const group of groups) {
    for (const id of ['a', 'b']) {
      const m = await join({ redis: ctx.cluster.client(), group, nodeId: id, ...FAST });
      ctx.members.push(m);
      m.on('+node', (n) => (seen[`${group}/${id}`] ??= []).push(n.id));
    }
  }
  for (const group of groups) {
    const mine = ctx.members.filter((m) => m.options.group === group);
    assert.equal((await mine[0]!.nodes()).map((n) => n.id).sort(), ['a', 'b']);
    assert.is.not(mine[0]!.shard, mine[1]!.shard);
    const ids = mine.map((m) => m.snowflake().next());
    assert.is.not(ids[0], ids[1]);
  }
  // Groups land on different masters (their hash tags hash to different slots).
  const masters = new Set<number>();
  const probe = ctx.cluster.client();
  for (const group of groups) {
    const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', `muster:{${group}}:members`));
    const owner = ctx.cluster.nodes.findIndex((_, i) => slot >= (16384 / 3) * i && slot < (16384 / 3) * (i + 1));
    masters.add(owner);
  }
  assert.ok(masters.size >= 2, 'spread over more than one master');
});

test('leave and a dead member are seen across the cluster', async (ctx) => {
  const group = 'golf';
  const a = await join({ redis: ctx.cluster.client(), group, nodeId: 'a', ...FAST });
  ctx.members.push(a);
  const events: string[] = [];
  a.on('-node', (n) => events.push(`-${n.id}:${n.reason}`));
  a.on('node down', (n) => events.push(`down:${n.id}`));
  const b = await join({ redis: ctx.cluster.client(), group, nodeId: 'b', ...FAST });
  await b.leave();
  assert.ok(await until(() => events.includes('-b:left'), 1000), JSON.stringify(events));
  const c = await join({ redis: ctx.cluster.client(), group, nodeId: 'c', ...FAST });
  // A crash: the member's process-side work stops, Redis is not told.
  await (c as unknown as { teardown(): Promise<void> }).teardown();
  assert.ok(await until(() => events.includes('down:c'), FAST.timeout + 500), JSON.stringify(events));
  assert.ok(events.includes('-c:timeout'));
});

test('a Cluster of one node\'s URL: members see each other; nothing subscribes to plain channels', async (ctx) => {
  const channel = 'muster:{sharded}:events';
  const a = await join({ redis: ctx.cluster.client(), group: 'sharded', nodeId: 'a', ...FAST });
  ctx.members.push(a);
  const b = await join({ redis: `redis://127.0.0.1:${ctx.cluster.nodes[2]!.port}`, group: 'sharded', nodeId: 'b', heartbeat: 200, timeout: 2000, shards: false });
  ctx.members.push(b);
  const seenByB: string[] = [];
  b.on('+node', (n) => seenByB.push(n.id));
  const c = await join({ redis: ctx.cluster.client(), group: 'sharded', nodeId: 'c', ...FAST });
  ctx.members.push(c);
  assert.ok(await until(() => seenByB.includes('c'), 3000), 'b sees c');
  for (const node of ctx.cluster.nodes) {
    const r = (await node.client().call('PUBSUB', 'NUMSUB', channel)) as [string, number];
    assert.is(Number(r[1]), 0, 'nothing broadcast through plain Pub/Sub');
  }
});

test.run();
