// IDs made inside Redis on a Redis Cluster: one minting station per master, each under
// its own shard of the group, calls spread over them; no repeat from several processes,
// across a restart of one station's master from an older snapshot (the base rule), and
// across a restart of every master from older snapshots (group and stations at once).

import { readFileSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RedisIds, decodeId, join, resolveLayout } from '../src/index.js';
import { slotOf } from '../src/redis/shard-channel.js';
import { Proc } from './helpers/proc.js';
import { type RedisCluster, type RedisServer, sleep, startCluster, tempDir } from './helpers/redis.js';

const test = suite<{ cluster: RedisCluster }>('redis ids on a cluster');
const layout = resolveLayout('twitter');

test.before(async (ctx) => {
  ctx.cluster = await startCluster();
});
test.after(async (ctx) => {
  await ctx.cluster.stop();
});

/** The master that owns `key`'s slot. */
async function ownerOf(cluster: RedisCluster, key: string): Promise<RedisServer> {
  const c = cluster.nodes.find((n) => n.proc)!.client();
  try {
    const slot = slotOf(key);
    const range = (await c.cluster('SLOTS')).find(([lo, hi]) => slot >= lo && slot <= hi)!;
    return cluster.nodes.find((n) => n.port === range[2]![1])!;
  } finally {
    c.disconnect();
  }
}

async function clusterOk(cluster: RedisCluster): Promise<void> {
  for (let i = 0; i < 400; i++) {
    let ok = 0;
    for (const n of cluster.nodes) {
      const c = n.client();
      if (/cluster_state:ok/.test(String(await c.cluster('INFO').catch(() => '')))) ok++;
      c.disconnect();
    }
    if (ok === cluster.nodes.length) return;
    await sleep(50);
  }
  throw new Error('the cluster did not come back');
}

/** Mints `rounds` x `batch` IDs, retrying calls that fail while a node restarts. */
async function mint(gen: RedisIds, rounds: number, batch = 4096): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let i = 0, tries = 0; i < rounds; ) {
    try {
      out.push(...(await gen.getIds(batch)));
      i++;
    } catch (err) {
      if (++tries > 100) throw err;
      await sleep(100);
    }
  }
  return out;
}

function byShard(ids: bigint[]): Map<number, bigint[]> {
  const m = new Map<number, bigint[]>();
  for (const id of ids) {
    const w = decodeId(id, layout).workerId;
    if (!m.has(w)) m.set(w, []);
    m.get(w)!.push(id);
  }
  return m;
}

function assertAbove(after: bigint[], lost: bigint[], label: string): void {
  const lostBy = byShard(lost);
  for (const [shard, ids] of byShard(after)) {
    const max = (lostBy.get(shard) ?? []).reduce((m, x) => (x > m ? x : m), 0n);
    const low = ids.find((x) => x <= max);
    assert.ok(low === undefined, `${label}: shard ${shard} minted ${low} after the restart, not above ${max} that the restart forgot`);
  }
}

test('one station per master, each under its own shard of the group, none a member\'s; calls spread over all three', async (ctx) => {
  const group = 'spread';
  const settings = { group, shards: { min: 0, max: 9 }, timeout: 1000 };
  const a = await join({ redis: ctx.cluster.client(), nodeId: 'a', heartbeat: 100, ...settings });
  const gen = await RedisIds.connect({ redis: ctx.cluster.client(), ...settings }).catch(async (err) => {
    await a.leave();
    throw err;
  });
  const b = await join({ redis: ctx.cluster.client(), nodeId: 'b', heartbeat: 100, ...settings });
  try {
    assert.is(new Set(gen.shards).size, 3, `three station shards (${gen.shards})`);
    for (const m of [a, b]) assert.not.ok(gen.shards.includes(m.shard!), `member shard ${m.shard} is not a station's`);
    const before = new Map<RedisServer, number>();
    const calls = async (n: RedisServer) => {
      const c = n.client();
      const s = Number(/cmdstat_evalsha:calls=(\d+)/.exec(await c.info('commandstats'))?.[1] ?? 0);
      c.disconnect();
      return s;
    };
    for (const n of ctx.cluster.nodes) before.set(n, await calls(n));
    const ids = await mint(gen, 30, 1000);
    assert.is(new Set(ids).size, ids.length, 'no repeat');
    const shards = [...byShard(ids).keys()].sort();
    assert.equal(shards, [...gen.shards].sort(), 'IDs from every station');
    for (const n of ctx.cluster.nodes) assert.ok((await calls(n)) - before.get(n)! >= 10, `port ${n.port} minted`);
    // A second generator finds the same stations and shards.
    const other = await RedisIds.connect({ redis: `redis://127.0.0.1:${ctx.cluster.nodes[1]!.port}`, ...settings });
    assert.equal(other.shards, gen.shards);
    await other.close();
  } finally {
    await gen.close();
    await a.leave();
    await b.leave();
  }
});

test('four processes minting at once through a node URL: 400,000 IDs, no repeat', async (ctx) => {
  const dir = tempDir('muster-ids-');
  const redis = `redis://127.0.0.1:${ctx.cluster.nodes[0]!.port}`;
  const procs = [0, 1, 2, 3].map(
    (i) => new Proc({ options: { redis, group: 'many' }, batch: 1000, rounds: 100, file: pathJoin(dir, `${i}.txt`) }, { fixture: 'ids-worker.js' }),
  );
  for (const p of procs) await p.waitFor((e) => e.e === 'done', 60_000, 'a worker to finish');
  const all = new Set<string>();
  let total = 0;
  for (let i = 0; i < 4; i++) {
    const lines = readFileSync(pathJoin(dir, `${i}.txt`), 'utf8').trim().split('\n');
    total += lines.length;
    for (const l of lines) all.add(l);
  }
  assert.is(total, 400_000);
  assert.is(all.size, total, 'no ID minted twice');
  assert.is(new Set([...all].map((x) => decodeId(BigInt(x), layout).workerId)).size, 3, 'all three stations minted');
});

/**
 * Mints, snapshots `nodes`, mints what the restart will forget, SIGKILLs and restarts
 * `nodes` (they load the older snapshot), mints again with a new and the old generator;
 * nothing repeats and, per shard, every ID after is above every ID forgotten.
 */
async function restartFromSnapshot(cluster: RedisCluster, group: string, nodes: RedisServer[]): Promise<bigint[]> {
  const gen = await RedisIds.connect({ redis: cluster.client(), group, timeout: 3000 });
  try {
    const before = await mint(gen, 6);
    for (const n of nodes) await n.client().save();
    const lost = await mint(gen, 30);
    for (const n of nodes) await n.stop('SIGKILL');
    for (const n of nodes) await n.start();
    await clusterOk(cluster);
    const fresh = await RedisIds.connect({ redis: cluster.client(), group, timeout: 3000 });
    const after = [...(await mint(fresh, 15)), ...(await mint(gen, 15))];
    await fresh.close();
    const all = [...before, ...lost, ...after];
    assert.is(new Set(all).size, all.length, 'no repeat across the restart');
    assertAbove(after, lost, group);
    return after;
  } finally {
    await gen.close();
  }
}

test('a station\'s master restarted from a snapshot taken before its last IDs: none repeats', async (ctx) => {
  const group = 'station-snap';
  const groupMaster = await ownerOf(ctx.cluster, `muster:{${group}}:group`);
  // A station on another master than the group's, so the group keeps its grants and the
  // station's base rule alone stands between the restart and a repeat.
  let station: RedisServer | undefined;
  for (let k = 0; !station; k++) {
    const n = await ownerOf(ctx.cluster, `muster:{${group}:ids:${k}}:station`);
    if (n !== groupMaster) station = n;
  }
  const after = await restartFromSnapshot(ctx.cluster, group, [station]);
  assert.is(byShard(after).size, 3, 'every station minted after the restart');
});

test('every master restarted from a snapshot taken before the last IDs (group and stations): none repeats', async (ctx) => {
  await restartFromSnapshot(ctx.cluster, 'all-snap', ctx.cluster.nodes);
});

test.run();
