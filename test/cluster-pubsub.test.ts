// Group changes over sharded Pub/Sub on a Redis Cluster: the subscription sits on the
// master that owns the group's slot and nowhere else, and follows the slot when a
// replica takes over (a manual failover, then the master SIGKILLed).

import { Cluster, type Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Member, join } from '../src/index.js';
import { slotOf } from '../src/redis/shard-channel.js';
import { CLUSTER_COMMANDS, acl } from './helpers/acl.js';
import { until } from './helpers/members.js';
import { type RedisCluster, type RedisServer, startCluster } from './helpers/redis.js';

const test = suite<{ cluster: RedisCluster; members: Member[] }>('cluster pub/sub');

test.before(async (ctx) => {
  ctx.cluster = await startCluster(1);
  ctx.members = [];
});
test.after(async (ctx) => {
  await Promise.all(ctx.members.map((m) => m.leave().catch(() => undefined)));
  await ctx.cluster.stop();
});

/** Per running node: how many subscribers `channel` has there. */
async function subscribers(cluster: RedisCluster, channel: string): Promise<Map<RedisServer, number>> {
  const out = new Map<RedisServer, number>();
  for (const node of cluster.nodes) {
    if (node.proc?.exitCode !== null || node.proc?.signalCode) continue;
    const c: Redis = node.client();
    try {
      const [, n] = (await c.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
      out.set(node, Number(n));
    } finally {
      c.disconnect();
    }
  }
  return out;
}

/** True when `channel` has `n` subscribers on `owner` and none on any other node. */
async function placed(cluster: RedisCluster, channel: string, owner: RedisServer, n: number): Promise<boolean> {
  for (const [node, at] of await subscribers(cluster, channel)) {
    if (at !== (node === owner ? n : 0)) return false;
  }
  return true;
}

/** The node whose Cluster view says it is the master of `slot`. */
async function ownerOf(cluster: RedisCluster, slot: number): Promise<RedisServer> {
  const alive = cluster.nodes.find((n) => n.proc?.exitCode === null && !n.proc?.signalCode)!;
  const c = alive.client();
  try {
    const range = (await c.cluster('SLOTS')).find(([lo, hi]) => slot >= lo && slot <= hi)!;
    const port = range[2]![1];
    return cluster.nodes.find((n) => n.port === port)!;
  } finally {
    c.disconnect();
  }
}

test('slotOf agrees with CLUSTER KEYSLOT', async (ctx) => {
  const c = ctx.cluster.nodes[0]!.client();
  try {
    for (const key of ['muster:{orders}:events', 'plain', '{}x', 'a{}b{c}', 'x{y', 'muster:{grüße}:log', '{a}{b}', '']) {
      assert.is(slotOf(key), Number(await c.cluster('KEYSLOT', key)), key);
    }
  } finally {
    c.disconnect();
  }
});

test('a change reaches a member with a 5 s heartbeat at once, over the master owning the slot only', async (ctx) => {
  const channel = 'muster:{quiet}:events';
  const slow = await join({ redis: ctx.cluster.client(), group: 'quiet', nodeId: 'slow', heartbeat: 5000, timeout: 15_000 });
  ctx.members.push(slow);
  const seen: string[] = [];
  slow.on('+node', (n) => seen.push(n.id));
  const owner = await ownerOf(ctx.cluster, slotOf(channel));
  assert.ok(await placed(ctx.cluster, channel, owner, 1), 'one subscriber, on the owner');
  const t0 = Date.now();
  ctx.members.push(await join({ redis: ctx.cluster.client(), group: 'quiet', nodeId: 'b', heartbeat: 5000, timeout: 15_000 }));
  assert.ok(await until(() => seen.includes('b'), 2000), `+b within 2 s, long before the next heartbeat (saw ${seen})`);
  assert.ok(Date.now() - t0 < 4000);
});

test('as the README\'s Cluster ACL user: join, a change over Pub/Sub, leave', async (ctx) => {
  for (const node of ctx.cluster.nodes) {
    const c = node.client();
    await c.call('ACL', 'SETUSER', 'muster', ...acl([], CLUSTER_COMMANDS));
    c.disconnect();
  }
  const as = () => {
    const c = new Cluster(ctx.cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { redisOptions: { username: 'muster', password: 'secret' } });
    c.on('error', () => undefined);
    return c;
  };
  const clients = [as(), as()];
  const errors: Error[] = [];
  try {
    const a = await join({ redis: clients[0]!, group: 'limited', nodeId: 'a', heartbeat: 5000, timeout: 15_000 });
    ctx.members.push(a);
    a.on('error', (e) => errors.push(e));
    const seen: string[] = [];
    a.on('+node', (n) => seen.push(n.id));
    const b = await join({ redis: clients[1]!, group: 'limited', nodeId: 'b', heartbeat: 5000, timeout: 15_000 });
    ctx.members.push(b);
    assert.ok(await until(() => seen.includes('b'), 2000), `a sees b over Pub/Sub (errors: ${errors.map((e) => e.message)})`);
    assert.ok(b.snowflake().next() > 0n);
    await b.leave();
    await a.leave();
    assert.equal(errors, []);
  } finally {
    await Promise.all(ctx.members.splice(0).map((m) => m.leave().catch(() => undefined)));
    for (const c of clients) c.disconnect();
  }
});

test('the subscription follows the slot through a manual failover and through its master being SIGKILLed', async (ctx) => {
  const group = 'moving';
  const channel = `muster:{${group}}:events`;
  const slot = slotOf(channel);
  const watcher = await join({ redis: ctx.cluster.client(), group, nodeId: 'w', heartbeat: 5000, timeout: 20_000 });
  ctx.members.push(watcher);
  const seen: string[] = [];
  watcher.on('+node', (n) => seen.push(n.id));
  watcher.on('error', () => undefined);

  const first = await ownerOf(ctx.cluster, slot);
  // The replica of `first`: the node whose replication info names first's port.
  let mine: RedisServer | undefined;
  for (const n of ctx.cluster.nodes) {
    const c = n.client();
    const info = String(await c.info('replication'));
    c.disconnect();
    if (new RegExp(`master_port:${first.port}\\b`).test(info)) mine = n;
  }
  assert.ok(mine, 'the owner has a replica');
  const r = mine!.client();
  await r.cluster('FAILOVER');
  r.disconnect();
  assert.ok(await until(async () => (await ownerOf(ctx.cluster, slot)) === mine, 10_000), 'the replica took over');
  assert.ok(await until(() => placed(ctx.cluster, channel, mine!, 1), 10_000), 'subscribed on the new master only');
  ctx.members.push(await join({ redis: ctx.cluster.client(), group, nodeId: 'after-failover', heartbeat: 5000, timeout: 20_000 }));
  assert.ok(await until(() => seen.includes('after-failover'), 2000), `change seen over Pub/Sub after the failover (saw ${seen})`);

  // Now kill the new master: the old one (a replica again) is promoted by the Cluster.
  mine!.proc!.kill('SIGKILL');
  assert.ok(await until(async () => (await ownerOf(ctx.cluster, slot)) === first, 20_000), 'the old master took over again');
  const ok = await until(() => placed(ctx.cluster, channel, first, 2), 15_000);
  const now = [...(await subscribers(ctx.cluster, channel))].map(([n, c]) => `${n.port}:${c}`);
  assert.ok(ok, `both members subscribed on the promoted master ${first.port} only (${now})`);
  ctx.members.push(await join({ redis: ctx.cluster.client(), group, nodeId: 'after-kill', heartbeat: 5000, timeout: 20_000 }));
  assert.ok(await until(() => seen.includes('after-kill'), 2000), `change seen over Pub/Sub after the kill (saw ${seen})`);
});

test.run();
