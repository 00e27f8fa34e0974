// Single-host mode: worker IDs from a file pool, no Redis. Distinct IDs for live
// processes, reclaim of a dead process's ID, and floors kept in the files (G2 on one host).

import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LeaseExpiredError, MusterError, localSnowflake } from '../src/index.js';
import { type Proc, spawnMember } from './helpers/proc.js';
import { sleep } from './helpers/redis.js';

const test = suite<{ dir: string; procs: Proc[] }>('file pool');

test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'muster-pool-'));
  ctx.procs = [];
});
test.after.each(async (ctx) => {
  await Promise.all(ctx.procs.map((p) => p.kill()));
  rmSync(ctx.dir, { recursive: true, force: true });
});

async function worker(ctx: { dir: string; procs: Proc[] }, max = 3): Promise<Proc> {
  const p = await spawnMember({ dir: ctx.dir, max }, { fixture: 'pool-worker.js' });
  ctx.procs.push(p);
  return p;
}

async function mint(p: Proc, n: number): Promise<bigint[]> {
  const from = p.events.length;
  p.send(`mint ${n}`);
  const ev = await p.waitFor((e) => e.e === 'ids' || e.e === 'mint failed', 5000, 'ids', from);
  if (ev.e !== 'ids') throw new Error(`mint failed: ${String(ev.code)}`);
  return (ev.ids as string[]).map(BigInt);
}

const workerOf = (p: Proc) => p.events.find((e) => e.e === 'joined')!.workerId as number;

test('live processes get distinct worker IDs; when all are held, a typed error', async (ctx) => {
  const ps = await Promise.all([worker(ctx), worker(ctx), worker(ctx), worker(ctx)]);
  assert.equal(ps.map(workerOf).sort(), [0, 1, 2, 3]);
  const extra = await localSnowflake({ pool: { dir: ctx.dir, max: 3 } }).catch((e: unknown) => e);
  assert.instance(extra, MusterError);
  assert.is((extra as MusterError).code, 'SHARDS_EXHAUSTED');
});

test('a killed process’s ID is reclaimed, and its successor mints above everything it minted', async (ctx) => {
  const a = await worker(ctx, 0);
  const before = await mint(a, 2000);
  await a.kill();
  const b = await worker(ctx, 0);
  assert.is(workerOf(b), 0);
  const after = await mint(b, 2000);
  const maxBefore = before.reduce((m, x) => (x > m ? x : m), 0n);
  assert.ok(after.every((x) => x > maxBefore), 'the successor starts above the dead holder');
  // The mark on disk is ahead of what was minted: the successor starts above the mark.
  const tBefore = Number(maxBefore >> 22n);
  const tAfter = Number(after[0]! >> 22n);
  assert.ok(tAfter > tBefore, `${tAfter} > ${tBefore}`);
});

test('release() gives the ID back with its floor', async (ctx) => {
  const a = await localSnowflake({ pool: { dir: ctx.dir, max: 0 } });
  const last = a.nextBatch(5000)[4999]!;
  await a.release();
  assert.throws(() => a.next(), (e: unknown) => e instanceof LeaseExpiredError);
  const b = await localSnowflake({ pool: { dir: ctx.dir, max: 0 } });
  assert.is(b.workerId, 0);
  assert.ok(b.next() > last);
  await b.release();
});

test('a holder whose lock file is removed stops minting', async (ctx) => {
  const a = await localSnowflake({ pool: { dir: ctx.dir, max: 0 } });
  a.next();
  unlinkSync(join(ctx.dir, '0.lock'));
  await sleep(700);
  assert.throws(() => a.next(), (e: unknown) => e instanceof LeaseExpiredError);
  await a.release();
});

test.run();
