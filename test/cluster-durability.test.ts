// `durability` with a Redis Cluster client: WAIT goes, in the script's pipeline, to the
// master that owns the group's slot, so only that master's replicas count.

import { Cluster } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DurabilityError, join } from '../src/index.js';
import { until } from './helpers/members.js';
import { type RedisCluster, type RedisServer, startCluster } from './helpers/redis.js';

const test = suite<{ cluster: RedisCluster }>('cluster durability');

test.before(async (ctx) => {
  ctx.cluster = await startCluster(1);
});
test.after(async (ctx) => {
  for (const n of ctx.cluster.nodes) n.proc?.kill('SIGCONT');
  await ctx.cluster.stop();
});

/** The replica of the master that owns `key`'s slot, and a replica of another master. */
async function replicas(cluster: RedisCluster, key: string): Promise<{ owner: RedisServer; other: RedisServer }> {
  const c = cluster.nodes[0]!.client();
  const slot = Number(await c.cluster('KEYSLOT', key));
  // id host:port@cport flags master-id ping pong epoch state [slots...]
  const lines = String(await c.cluster('NODES')).trim().split('\n').map((l) => l.split(' '));
  const owns = (l: string[]) => l.slice(8).some((r) => {
    const [lo, hi] = r.split('-').map(Number);
    return slot >= lo! && slot <= (hi ?? lo)!;
  });
  const master = lines.find((l) => l[2]!.includes('master') && owns(l))!;
  const otherMaster = lines.find((l) => l[2]!.includes('master') && l !== master)!;
  const replicaOf = (m: string[]) => {
    const port = Number(lines.find((l) => l[3] === m[0])![1]!.split(/[:@]/)[1]);
    return cluster.nodes.find((n) => n.port === port)!;
  };
  return { owner: replicaOf(master), other: replicaOf(otherMaster) };
}

test('WAIT counts the replicas of the group\'s master: stopping another master\'s replica changes nothing, stopping its own does', async (ctx) => {
  const client = new Cluster(ctx.cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
  client.on('error', () => undefined);
  const { owner, other } = await replicas(ctx.cluster, 'muster:{durable}:group');
  const m = await join({ redis: client, group: 'durable', nodeId: 'a', heartbeat: 100, timeout: 1000, durability: { replicas: 1, timeout: 200 } });
  const errors: Error[] = [];
  m.on('error', (e) => errors.push(e));
  try {
    assert.ok(m.snowflake().next() > 0n, 'claimed with one replica acknowledging');
    other.proc!.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(errors.filter((e) => e instanceof DurabilityError), [], 'another master\'s replica does not count');
    other.proc!.kill('SIGCONT');
    owner.proc!.kill('SIGSTOP');
    assert.ok(await until(() => errors.some((e) => e instanceof DurabilityError), 2000), 'its own replica does');
    owner.proc!.kill('SIGCONT');
  } finally {
    await m.leave().catch(() => undefined);
    client.disconnect();
  }
});

test.run();
