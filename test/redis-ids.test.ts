// IDs made inside Redis (RedisIds): unique and increasing, under a shard no member of
// the group can hold, from several processes at once, across a restart from an older
// snapshot, and with the Redis host's clock stepped back.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GroupConfigError, OptionRangeError, RedisIds, ShardsExhaustedError, decodeId, join, resolveLayout } from '../src/index.js';
import { Proc } from './helpers/proc.js';
import { type RedisServer, sleep, startRedis, tempDir, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('redis ids');
useRedis(test);
const layout = resolveLayout('twitter');
let n = 0;

function assertIncreasingUnique(ids: bigint[], label: string): void {
  for (let i = 1; i < ids.length; i++) if (ids[i]! <= ids[i - 1]!) assert.unreachable(`${label}: ID ${i} (${ids[i]}) not above ${ids[i - 1]}`);
}

test('getId and getIds increase and never repeat; workerId is the group shard kept for Redis minting', async (ctx) => {
  const gen = await RedisIds.connect({ redis: ctx.redis.url, group: `i${++n}` });
  try {
    const ids = [await gen.getId(), ...(await gen.getIds(1000)), ...(await gen.getIds(4096)), await gen.getId()];
    assertIncreasingUnique(ids, 'one generator');
    assert.is(new Set(ids).size, ids.length);
    for (const id of ids) assert.is(decodeId(id, layout).workerId, gen.shard);
    const t = decodeId(ids.at(-1)!, layout).timestamp;
    assert.ok(Math.abs(t - Date.now()) < 7000, `timestamps near now (${t - Date.now()} ms)`);
    let err: unknown;
    await gen.getIds(4097).catch((e) => (err = e));
    assert.ok(err instanceof OptionRangeError && err.option === 'count');
  } finally {
    await gen.close();
  }
});

test('the minting shard is taken from the group range like a member\'s and never handed to a member', async (ctx) => {
  const group = `i${++n}`;
  const shards = { min: 0, max: 2 };
  const a = await join({ redis: ctx.redis.url, group, nodeId: 'a', shards, heartbeat: 50, timeout: 300 });
  const gen = await RedisIds.connect({ redis: ctx.redis.url, group, shards, timeout: 300 });
  const b = await join({ redis: ctx.redis.url, group, nodeId: 'b', shards, heartbeat: 50, timeout: 300 });
  try {
    assert.equal(new Set([a.shard, b.shard, gen.shard]).size, 3);
    let err: unknown;
    await join({ redis: ctx.redis.url, group, nodeId: 'c', shards, heartbeat: 50, timeout: 300 }).catch((e) => (err = e));
    assert.ok(err instanceof ShardsExhaustedError, String(err));
    // Its shard stays with Redis when members come and go.
    await a.leave();
    await b.leave();
    await sleep(1400); // past the quarantine (clockSkew 1 s + timeout)
    const c = await join({ redis: ctx.redis.url, group, nodeId: 'c', shards, heartbeat: 50, timeout: 300 });
    const d = await join({ redis: ctx.redis.url, group, nodeId: 'd', shards, heartbeat: 50, timeout: 300 });
    assert.ok(c.shard !== gen.shard && d.shard !== gen.shard);
    await c.leave();
    await d.leave();
    const other = await RedisIds.connect({ redis: ctx.redis.url, group, shards, timeout: 300 });
    assert.is(other.shard, gen.shard, 'one minting shard per group, kept');
    await other.close();
  } finally {
    await gen.close();
    await a.leave();
    await b.leave();
  }
});

test('a config other than the group\'s is refused before minting', async (ctx) => {
  const group = `i${++n}`;
  const gen = await RedisIds.connect({ redis: ctx.redis.url, group });
  let err: unknown;
  await RedisIds.connect({ redis: ctx.redis.url, group, snowflake: { epoch: '2025-01-01' } }).catch((e) => (err = e));
  assert.ok(err instanceof GroupConfigError, String(err));
  await gen.close();
});

test('four processes minting at once: 400,000 IDs, no repeat', async (ctx) => {
  const dir = tempDir('muster-ids-');
  const group = `i${++n}`;
  const procs = [0, 1, 2, 3].map(
    (i) => new Proc({ options: { redis: ctx.redis.url, group }, batch: 1000, rounds: 100, file: pathJoin(dir, `${i}.txt`) }, { fixture: 'ids-worker.js' }),
  );
  for (const p of procs) await p.waitFor((e) => e.e === 'done', 60_000, 'a worker to finish');
  const all = new Set<string>();
  let total = 0;
  for (let i = 0; i < 4; i++) {
    const lines = readFileSync(pathJoin(dir, `${i}.txt`), 'utf8').trim().split('\n');
    assertIncreasingUnique(lines.map(BigInt), `process ${i}`);
    total += lines.length;
    for (const l of lines) all.add(l);
  }
  assert.is(total, 400_000);
  assert.is(all.size, total, 'no ID minted twice');
});

test('a restart from a snapshot taken before the last IDs: none repeats', async () => {
  const server = await startRedis();
  try {
    const group = 'snap';
    const gen = await RedisIds.connect({ redis: server.url, group, timeout: 2000 });
    const before = await gen.getIds(4096);
    await server.client().save();
    // Minted after the snapshot: the restarted store will not know of these.
    const lost: bigint[] = [];
    for (let i = 0; i < 20; i++) lost.push(...(await gen.getIds(4096)));
    await server.stop('SIGKILL');
    await server.start();
    const after: bigint[] = [];
    const fresh = await RedisIds.connect({ redis: server.url, group, timeout: 2000 });
    for (let i = 0; i < 5; i++) after.push(...(await fresh.getIds(4096)));
    for (let i = 0; i < 40 && after.length < 5 * 4096 + 4096; i++) {
      try {
        after.push(...(await gen.getIds(4096)));
      } catch {
        await sleep(50); // the old connection reconnects
      }
    }
    const all = [...before, ...lost, ...after];
    assert.is(new Set(all).size, all.length, 'no repeat across the restart');
    const maxLost = lost.reduce((m, x) => (x > m ? x : m), 0n);
    assert.ok(after.every((x) => x > maxLost), 'every ID after the restart above every ID the restart forgot');
    await gen.close();
    await fresh.close();
  } finally {
    await server.stop();
  }
});

test('the Redis host\'s clock stepped back 5 s while minting: no repeat, still increasing', async () => {
  const dir = tempDir('muster-shim-');
  const here = pathJoin(fileURLToPath(import.meta.url), '..', '..', '..', 'test', 'fixtures', 'clock-shift.c');
  const lib = pathJoin(dir, 'clock-shift.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', lib, here, '-ldl']);
  const shiftFile = pathJoin(dir, 'shift');
  writeFileSync(shiftFile, '0');
  const server = await startRedis({ env: { LD_PRELOAD: lib, SHIFT_FILE: shiftFile } });
  try {
    const admin = server.client();
    const t0 = Number((await admin.time())[0]);
    // B is clockSkew + timeout, 6 s by default: a 5 s step back is absorbed.
    const gen = await RedisIds.connect({ redis: server.url, group: 'clock' });
    const ids: bigint[] = [];
    for (let i = 0; i < 20; i++) ids.push(...(await gen.getIds(1000)));
    writeFileSync(shiftFile, '-5000');
    await sleep(30);
    const t1 = Number((await admin.time())[0]);
    assert.ok(t1 <= t0 - 3, `the shim moved Redis TIME back (${t0} -> ${t1})`);
    for (let i = 0; i < 200; i++) ids.push(...(await gen.getIds(1000)));
    assertIncreasingUnique(ids, 'across the step back');
    assert.is(new Set(ids).size, ids.length);
    await gen.close();
  } finally {
    await server.stop();
  }
});

test.run();
