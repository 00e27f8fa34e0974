// `durability` with a Redis Cluster client: WAIT goes, in the script's pipeline, to the
// master that owns the group's slot, so only that master's replicas count.

import { Cluster } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DurabilityError, RedisIds, decodeId, join, resolveLayout } from '../src/index.js';
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

test('RedisIds across a failover to a replica that lags (the group\'s master SIGKILLed): none repeats', async (ctx) => {
  const group = 'ids-failover';
  const key = `muster:{${group}}:group`;
  const { owner: replica } = await replicas(ctx.cluster, key);
  const probe = ctx.cluster.client();
  const masterPort = async () => {
    const slot = Number(await probe.cluster('KEYSLOT', key));
    return (await probe.cluster('SLOTS')).find(([lo, hi]) => slot >= lo && slot <= hi)![2]![1];
  };
  const port = await masterPort();
  const gen = await RedisIds.connect({ redis: ctx.cluster.client(), group, timeout: 5000 });
  const mint = async (rounds: number) => {
    const out: bigint[] = [];
    for (let i = 0, tries = 0; i < rounds; ) {
      try {
        out.push(...(await gen.getIds(4096)));
        i++;
      } catch (err) {
        if (++tries > 200) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return out;
  };
  try {
    const before = await mint(6);
    // The replica stops reading; 8 MB of filler fills the link, so what follows stays in
    // the master's buffers and is lost with it.
    replica.proc!.kill('SIGSTOP');
    const admin = ctx.cluster.nodes.find((n) => n.port === port)!.client();
    await admin.set(`filler{${group}}`, 'x'.repeat(8 << 20));
    const lost = await mint(20);
    await admin.set(`marker{${group}}`, '1');
    await ctx.cluster.nodes.find((n) => n.port === port)!.stop('SIGKILL');
    replica.proc!.kill('SIGCONT');
    assert.ok(await until(async () => (await masterPort().catch(() => port)) === replica.port, 20_000), 'the replica took over');
    const promoted = replica.client();
    assert.is(await promoted.get(`marker{${group}}`), null, 'the replica lags: the writes after the filler are lost');
    const after = await mint(20);
    const all = [...before, ...lost, ...after];
    assert.is(new Set(all).size, all.length, 'no repeat across the failover');
    const layout = resolveLayout('twitter');
    const top = new Map<number, bigint>();
    for (const id of lost) {
      const w = decodeId(id, layout).workerId;
      if (!top.has(w) || id > top.get(w)!) top.set(w, id);
    }
    for (const id of after) {
      const w = decodeId(id, layout).workerId;
      if (top.has(w) && id <= top.get(w)!) assert.unreachable(`shard ${w}: ${id} after the failover is not above ${top.get(w)} that it lost`);
    }
  } finally {
    replica.proc?.kill('SIGCONT');
    await gen.close();
  }
});

test.run();
