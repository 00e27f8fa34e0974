// IDs made inside Redis: muster's RedisIds against the scheme of fingrprint (after
// Icicle), rebuilt here only for comparison: one global counter per Redis, and a 500 ms
// lock-out once 4,096 IDs were handed out. Same Redis, same connection kind, same run.
//
//   node build/bench/redis-ids.js       (starts a private redis-server unless REDIS_URL is set)
//
// Then RedisIds on a private three-master Redis Cluster: one station per master, calls in
// turn (skip it with --no-cluster).

import { Redis } from 'ioredis';
import { RedisIds } from '../src/index.js';
import { type RedisCluster, startCluster, startRedis } from '../test/helpers/redis.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const redis = process.env.REDIS_URL ? undefined : await startRedis();
const url = process.env.REDIS_URL ?? redis!.url;

// fingrprint's scheme: INCRBY a global counter; past 4,096 the counter resets and every
// caller is refused for 500 ms.
const FINGRPRINT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('LOCKED') end
local n = tonumber(ARGV[1])
local last = redis.call('INCRBY', KEYS[1], n)
if last > 4096 then
  redis.call('SET', KEYS[1], 0)
  redis.call('SET', KEYS[2], 1, 'PX', 500)
  return redis.error_reply('LOCKED')
end
local t = redis.call('TIME')
return {tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), last - n, n}`;

interface Impl {
  name: string;
  one(): Promise<unknown>;
  many(n: number): Promise<unknown>;
  close(): Promise<void>;
}

async function muster(): Promise<Impl> {
  const gen = await RedisIds.connect({ redis: url, group: `bench-${process.pid}` });
  return { name: 'muster RedisIds', one: () => gen.getId(), many: (n) => gen.getIds(n), close: () => gen.close() };
}

let cluster: RedisCluster | undefined;
async function musterCluster(): Promise<Impl> {
  cluster = await startCluster();
  const gen = await RedisIds.connect({ redis: `redis://127.0.0.1:${cluster.nodes[0]!.port}`, group: `bench-${process.pid}` });
  return { name: `muster RedisIds, Cluster of 3 (shards ${gen.shards.join(',')})`, one: () => gen.getId(), many: (n) => gen.getIds(n), close: () => gen.close() };
}

async function fingrprint(): Promise<Impl> {
  const c = new Redis(url);
  const sha = String(await c.script('LOAD', FINGRPRINT));
  const keys = [`bench:fp:${process.pid}:seq`, `bench:fp:${process.pid}:lock`];
  const call = async (n: number) => {
    const [ms, from, count] = (await c.evalsha(sha, 2, ...keys, n)) as number[];
    const out: bigint[] = [];
    for (let i = 0; i < count!; i++) out.push((BigInt(ms!) << 22n) | BigInt(from! + i));
    return out;
  };
  return { name: 'fingrprint scheme (rebuilt)', one: () => call(1), many: call, close: async () => void c.disconnect() };
}

/** Runs `op` for SECONDS with `inFlight` calls outstanding; returns IDs/s and errors. */
async function measure(op: () => Promise<unknown>, idsPerCall: number, inFlight: number): Promise<{ rate: number; errors: number }> {
  let ids = 0;
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        try {
          await op();
          ids += idsPerCall;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { rate: ids / ((performance.now() - t0) / 1000), errors };
}

const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));
const rows: string[][] = [];
try {
  for (const make of process.argv.includes('--no-cluster') ? [muster, fingrprint] : [muster, fingrprint, musterCluster]) {
    const impl = await make();
    for (const [form, op, per, inFlight] of [
      ['getId(), sequential', () => impl.one(), 1, 1],
      ['getId(), 50 in flight', () => impl.one(), 1, 50],
      ['getIds(1000), sequential', () => impl.many(1000), 1000, 1],
      ['getIds(1000), 4 in flight', () => impl.many(1000), 1000, 4],
    ] as const) {
      const r = await measure(op, per, inFlight);
      rows.push([impl.name, form, fmt(r.rate), String(r.errors)]);
    }
    await impl.close();
  }
} finally {
  await redis?.stop();
  await cluster?.stop();
}
console.log(`node ${process.version}, ${SECONDS} s per row, one Redis on loopback\n`);
console.log('| implementation | calls | IDs/s | errors |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log('\nThe twitter layout allows 4,096,000 IDs/s per shard: RedisIds mints under one shard, so');
console.log('sustained rates above that run ahead of Redis TIME by up to B and then wait for it.');
