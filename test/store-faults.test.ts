// Faults of the store itself, on real processes that mint and keep every ID: a restart
// that restores an older snapshot (the latest claims gone), a failover to a replica that
// lagged, and a wipe while the first holder of a new group mints at full rate. Every ID
// is checked (G2, G3).

import { type Server, type Socket, createServer, connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type ChaosResult, holds, runChaos } from './chaos/engine.js';
import type { Redis } from 'ioredis';
import { replicaOnline, sleep, startRedis } from './helpers/redis.js';

const test = suite('store faults');
const SLOW = { heartbeat: 1000, timeout: 5000 } as const;
/** A joiner that asks for a shard every 200 ms while all are taken. */
const FAST_ASKER = { heartbeat: 200, timeout: 5000 } as const;

function verdict(r: ChaosResult, lines: string[]): string {
  return JSON.stringify({ ...r, lines }, null, 1);
}

/** Resolves right after member `id`'s next heartbeat reached Redis (its expiry moved). */
async function afterBeat(c: Redis, id: string): Promise<void> {
  const score = () => c.zscore('muster:{chaos}:members', id);
  const before = await score();
  for (let i = 0; i < 2000 && (await score()) === before; i++) await sleep(2);
}

/** No ID twice (G2), each worker's IDs increasing (G3), no unhandled rejection. */
function assertClean(r: ChaosResult, report: string): void {
  assert.is(r.duplicates, 0, `duplicates: ${r.duplicateExamples.join('; ')}\n${report}`);
  assert.is(r.nonIncreasing, 0, report);
  assert.is(r.unhandled, 0, report);
}

test('a restart from an older snapshot: a claim made after it is gone, yet no ID repeats', async () => {
  const lines: string[] = [];
  let took = false;
  const r = await runChaos({
    shards: { min: 0, max: 1 },
    log: (l) => lines.push(l),
    scenario: async (ctx) => {
      const a = ctx.spawn('a', '+0s', SLOW);
      await a.proc.waitFor((e) => e.e === 'shard', 10_000, 'a holds a shard');
      await sleep(500);
      await ctx.redis.client().save(); // the snapshot: a holds shard 0, shard 1 never used
      ctx.log('SAVE');
      // b claims shard 1 after the snapshot and mints at full rate; it renews only every second.
      const b = ctx.spawn('b', '+0s', SLOW, { perTick: 4096 });
      await b.proc.waitFor((e) => e.e === 'shard', 10_000, 'b holds a shard');
      // c waits for a shard, asking every 200 ms.
      const c = ctx.spawn('c', '+0s', FAST_ASKER, { perTick: 4096 });
      await sleep(1500);
      // Right after b's heartbeat, so c asks before b learns that its claim is gone.
      await afterBeat(ctx.redis.client(), 'b');
      ctx.log('SIGKILL Redis, restart it from the snapshot');
      await ctx.redis.stop();
      await ctx.redis.start();
      // For the restored store shard 1 was never used: c takes it at once.
      await c.proc.waitFor((e) => e.e === 'shard', 15_000, 'c holds a shard');
      took = c.proc.events.some((e) => e.e === 'shard' && e.shard === 1);
      await sleep(2500);
      ctx.log(`b holds a shard now: ${holds(b)}`);
    },
  });
  const report = verdict(r, lines);
  assert.ok(took, `c took shard 1, the one b claimed after the snapshot\n${report}`);
  const b = r.perWorker.find((w) => w.name === 'b')!;
  const c = r.perWorker.find((w) => w.name === 'c')!;
  assert.ok(b.ids > 100_000 && c.ids > 10_000, `both minted\n${report}`);
  assertClean(r, report);
});

test('a wipe while the first holder of a new group mints at full rate: no ID repeats', async () => {
  const lines: string[] = [];
  const r = await runChaos({
    shards: { min: 0, max: 0 },
    log: (l) => lines.push(l),
    scenario: async (ctx) => {
      // The first holder of a new group starts B above Redis time; at full rate it stays
      // there. It renews every 4 s: after the wipe it mints for seconds before it learns.
      const LONG = { heartbeat: 4000, timeout: 10_000, horizon: 12_000 };
      const a = ctx.spawn('a', '+0s', LONG, { perTick: 4096 });
      await a.proc.waitFor((e) => e.e === 'shard', 10_000, 'a holds the shard');
      // b waits for the shard, asking every 200 ms.
      const b = ctx.spawn('b', '+0s', { heartbeat: 200, timeout: 5000, horizon: 12_000 }, { perTick: 4096 });
      await sleep(2500);
      // Wipe right after a's heartbeat, so b creates the group anew and takes the shard
      // while a goes on minting until its next beat.
      const c = ctx.redis.client();
      await afterBeat(c, 'a');
      ctx.log('FLUSHALL');
      await c.flushall();
      await b.proc.waitFor((e) => e.e === 'shard', 15_000, 'b holds the shard');
      await sleep(4500);
    },
  });
  const report = verdict(r, lines);
  const a = r.perWorker.find((w) => w.name === 'a')!;
  const b = r.perWorker.find((w) => w.name === 'b')!;
  assert.ok(a.ids > 1_000_000 && b.ids > 10_000, `both minted\n${report}`);
  assertClean(r, report);
});

/**
 * A TCP proxy on a free loopback port whose target can be switched (as a virtual IP
 * moves in a failover), or cut (`null`: open connections dropped, new ones closed).
 */
async function proxy(target: number): Promise<{ port: number; switchTo(port: number | null): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let to: number | null = target;
  const server: Server = createServer((client) => {
    if (to === null) return void client.destroy();
    const upstream = connect(to, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    switchTo(port) {
      to = port;
      for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('a failover to a replica that lagged: claims the master took after it are gone, yet no ID repeats', async () => {
  const lines: string[] = [];
  const master = await startRedis();
  // The replica reaches its master through a link the test can cut: what the master
  // writes after the cut never reaches it (a SIGSTOP would not do: the kernel buffers it).
  const link = await proxy(master.port);
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(link.port)] });
  const vip = await proxy(master.port);
  let took = false;
  try {
    await replicaOnline(master);
    const url = `redis://127.0.0.1:${vip.port}`;
    const r = await runChaos({
      shards: { min: 0, max: 1 },
      log: (l) => lines.push(l),
      scenario: async (ctx) => {
        const a = ctx.spawn('a', '+0s', { ...SLOW, redis: url });
        await a.proc.waitFor((e) => e.e === 'shard', 10_000, 'a holds a shard');
        await sleep(500);
        ctx.log('cut the replication link: the replica lags from now on');
        link.switchTo(null);
        // b does not rejoin: its new life would race c (whose connection is still backing
        // off after the failover) for shard 1. What is tried here is b minting from its
        // old lease while c holds the shard, which rejoining would not change.
        const b = ctx.spawn('b', '+0s', { ...SLOW, redis: url, rejoin: false }, { perTick: 4096 });
        await b.proc.waitFor((e) => e.e === 'shard', 10_000, 'b holds a shard');
        const c = ctx.spawn('c', '+0s', { ...FAST_ASKER, redis: url }, { perTick: 4096 });
        await sleep(1500);
        await afterBeat(master.client(), 'b');
        ctx.log('SIGKILL the master; the replica is promoted and the address moves to it');
        await master.stop();
        const rc = replica.client();
        await rc.call('REPLICAOF', 'NO', 'ONE');
        vip.switchTo(replica.port);
        await c.proc.waitFor((e) => e.e === 'shard', 15_000, 'c holds a shard');
        took = c.proc.events.some((e) => e.e === 'shard' && e.shard === 1);
        await sleep(2500);
      },
    });
    const report = verdict(r, lines);
    assert.ok(took, `c took shard 1, the one b claimed while the replica lagged\n${report}`);
    const b = r.perWorker.find((w) => w.name === 'b')!;
    const c = r.perWorker.find((w) => w.name === 'c')!;
    assert.ok(b.ids > 100_000 && c.ids > 10_000, `both minted\n${report}`);
    assertClean(r, report);
  } finally {
    await vip.close();
    await link.close();
    await replica.stop();
    await master.stop();
  }
});

test.run();
