// The chaos run: worker processes mint IDs continuously on a small shard range while
// they are killed, frozen past their timeout, started with clocks ahead, have their
// clocks stepped back, and Redis restarts with its data gone or from an older snapshot. Every ID minted is kept
// and checked: no duplicates (G1, G2), each worker's IDs strictly increase (G3).

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Proc, FIXTURES } from '../helpers/proc.js';
import { type RedisServer, sleep, startRedis, tempDir } from '../helpers/redis.js';
import { decodeId, resolveLayout } from '../../src/index.js';

// One horizon for every worker (the group records it): at least the slow worker's
// clockSkew + timeout.
export const CHAOS_TIMING = { heartbeat: 100, timeout: 500, clockSkew: 2000, horizon: 7000 } as const;
/** How long a freed shard waits before reuse: timeout + clockSkew. */
export const QUARANTINE = CHAOS_TIMING.timeout + CHAOS_TIMING.clockSkew;

/** libfaketime's preload library, if installed (MUSTER_TEST_NO_FAKETIME=1 forces the fallback). */
export function findFaketime(): string | undefined {
  if (process.env.MUSTER_TEST_NO_FAKETIME === '1') return undefined;
  const r = spawnSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8' });
  const fromDpkg = r.status === 0 ? r.stdout.split('\n').find((l) => /\/libfaketime\.so\.1$/.test(l)) : undefined;
  for (const p of [fromDpkg, '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1']) {
    if (p && existsSync(p)) return p;
  }
  return undefined;
}

export interface Worker {
  name: string;
  proc: Proc;
  file: string;
  clockFile: string;
}

export interface ChaosContext {
  redis: RedisServer;
  dir: string;
  workers: Worker[];
  log: (line: string) => void;
  spawn(name: string, clock?: string, join?: Record<string, unknown>, minter?: { perTick?: number }): Worker;
  /** Writes a libfaketime-style offset ("+1.5s", "-5s") for the worker's wall clock. */
  setClock(w: Worker, offset: string): void;
}

export interface ChaosOptions {
  /** The faults to inject, given a context; resolves when the run should end. */
  scenario: (ctx: ChaosContext) => Promise<void>;
  shards: { min: number; max: number };
  unsafe?: boolean;
  log?: (line: string) => void;
}

export interface ChaosResult {
  total: number;
  duplicates: number;
  duplicateExamples: string[];
  nonIncreasing: number;
  perWorker: { name: string; ids: number; shards: number; errors: Record<string, number> }[];
  shardClaims: number;
  unhandled: number;
  clockFaker: 'libfaketime' | 'preload';
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? (() => undefined);
  const redis = await startRedis();
  const dir = tempDir('muster-chaos-');
  const faketime = findFaketime();
  const workers: Worker[] = [];
  const ctx: ChaosContext = {
    redis,
    dir,
    workers,
    log,
    spawn(name, clock = '+0s', joinOverrides = {}, minter = {}) {
      const file = join(dir, `${name}.bin`);
      const clockFile = join(dir, `${name}.clock`);
      writeFileSync(clockFile, clock);
      const env: NodeJS.ProcessEnv = faketime
        ? { LD_PRELOAD: faketime, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_CACHE_DURATION: '1', DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '0' }
        : { FAKE_CLOCK_FILE: clockFile };
      const nodeArgs = faketime ? [] : ['--import', join(FIXTURES, 'fake-clock.js')];
      const proc = new Proc(
        {
          join: { redis: redis.url, group: 'chaos', nodeId: name, ...CHAOS_TIMING, shards: { ...options.shards, wait: '120s' }, ...joinOverrides },
          out: file,
          unsafe: options.unsafe ?? false,
          ...minter,
        },
        { fixture: 'minter.js', env, nodeArgs },
      );
      const w = { name, proc, file, clockFile };
      workers.push(w);
      log(`spawn ${name}${clock !== '+0s' ? ` (clock ${clock})` : ''}`);
      return w;
    },
    setClock(w, offset) {
      writeFileSync(w.clockFile, offset);
      log(`clock of ${w.name} set to ${offset}`);
    },
  };

  try {
    await options.scenario(ctx);
    // Graceful end: leave, so the files are complete.
    for (const w of workers) w.proc.signal('SIGCONT');
    for (const w of workers) w.proc.signal('SIGTERM');
    await Promise.race([Promise.all(workers.map((w) => w.proc.exited)), sleep(5000)]);
    for (const w of workers) w.proc.signal('SIGKILL');
    await Promise.all(workers.map((w) => w.proc.exited));
  } finally {
    for (const w of workers) w.proc.signal('SIGKILL');
    await redis.stop();
  }
  try {
    return check(workers, faketime ? 'libfaketime' : 'preload');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readIds(file: string): BigUint64Array {
  if (!existsSync(file)) return new BigUint64Array(0);
  const buf = readFileSync(file);
  const n = Math.floor(buf.length / 8); // a SIGKILL may cut the last write short
  const out = new BigUint64Array(n);
  new Uint8Array(out.buffer).set(buf.subarray(0, n * 8));
  return out;
}

function check(workers: Worker[], clockFaker: ChaosResult['clockFaker']): ChaosResult {
  const layout = resolveLayout('twitter');
  const per = workers.map((w) => ({ w, ids: readIds(w.file) }));
  let nonIncreasing = 0;
  for (const { ids } of per) for (let i = 1; i < ids.length; i++) if (ids[i]! <= ids[i - 1]!) nonIncreasing++;
  const total = per.reduce((s, p) => s + p.ids.length, 0);
  const all = new BigUint64Array(total);
  let at = 0;
  for (const { ids } of per) {
    all.set(ids, at);
    at += ids.length;
  }
  all.sort();
  let duplicates = 0;
  const duplicateExamples: string[] = [];
  for (let i = 1; i < all.length; i++) {
    if (all[i] === all[i - 1]) {
      duplicates++;
      if (duplicateExamples.length < 5) {
        const d = decodeId(all[i]!, layout);
        const who = per.filter((p) => p.ids.includes(all[i]!)).map((p) => p.w.name);
        duplicateExamples.push(`${all[i]} (shard ${d.workerId}, ${new Date(d.timestamp).toISOString()}, seq ${d.sequence}) from ${who.join(' and ')}`);
      }
    }
  }
  const perWorker = per.map(({ w, ids }) => {
    const errors: Record<string, number> = {};
    for (const e of w.proc.events) if (e.e === 'error') errors[String(e.code)] = (errors[String(e.code)] ?? 0) + 1;
    return { name: w.name, ids: ids.length, shards: w.proc.count((e) => e.e === 'shard'), errors };
  });
  return {
    total,
    duplicates,
    duplicateExamples,
    nonIncreasing,
    perWorker,
    shardClaims: perWorker.reduce((s, w) => s + w.shards, 0),
    unhandled: workers.reduce((s, w) => s + w.proc.count((e) => e.e === 'unhandledRejection'), 0),
    clockFaker,
  };
}

/** True when the worker's latest lease event says it holds a shard now. */
export function holds(w: Worker): boolean {
  for (let i = w.proc.events.length - 1; i >= 0; i--) {
    const e = w.proc.events[i]!.e;
    if (e === 'shard') return true;
    if (e === 'shard lost' || e === 'lost') return false;
  }
  return false;
}

/** A running worker that holds a shard (waits for one), other than those in `not`. */
export async function aHolder(ctx: ChaosContext, not: Worker[] = []): Promise<Worker> {
  for (let i = 0; i < 200; i++) {
    const w = ctx.workers.find((x) => x.proc.child.exitCode === null && x.proc.child.signalCode === null && !not.includes(x) && holds(x));
    if (w) return w;
    await sleep(50);
  }
  throw new Error('no worker holds a shard');
}

/** The fixed scenario the test suite runs (about 30 s). */
export async function fixedScenario(ctx: ChaosContext): Promise<void> {
  const { spawn, setClock, redis, log } = ctx;
  // A holder that heartbeats only every second: after Redis loses its data it keeps
  // minting for up to a second before it learns, while the others already rejoin and
  // claim shards again. Only the wipe floor keeps their IDs apart.
  const slow = spawn('w0-slow', '+0s', { heartbeat: 1000, timeout: 5000 });
  await slow.proc.waitFor((e) => e.e === 'joined', 10_000, 'the slow worker joined');
  spawn('w1');
  spawn('w2');
  const ahead = spawn('w3', '+1.5s'); // ahead of the others, within clockSkew
  spawn('w4');
  await sleep(2500);
  const k1 = await aHolder(ctx, [ahead, slow]);
  log(`SIGKILL ${k1.name} (a holder), start w5`);
  await k1.proc.kill();
  spawn('w5');
  await sleep(2500);
  const z = await aHolder(ctx, [ahead, slow]);
  log(`SIGSTOP ${z.name} (a holder) past its timeout and the quarantine`);
  z.proc.signal('SIGSTOP');
  await sleep(CHAOS_TIMING.timeout + QUARANTINE + 1000);
  log(`SIGCONT ${z.name}`);
  z.proc.signal('SIGCONT');
  await sleep(1500);
  log('restart Redis with its data gone');
  await redis.stop();
  await redis.start();
  await sleep(3000);
  setClock(await aHolder(ctx, [ahead]), '-5s');
  await sleep(2000);
  // Redis's ordinary persistence: a snapshot, more claims and renewals, then a restart
  // that loads the snapshot (a failover to a lagging replica looks the same).
  await redis.client().save();
  log('SAVE; a full-rate worker joins; restart Redis from the snapshot 1.5 s later');
  spawn('w7', '+0s', { heartbeat: 1000, timeout: 5000 }, { perTick: 4096 });
  await sleep(1500);
  await redis.stop();
  await redis.start();
  await sleep(2000);
  log(`SIGKILL ${ahead.name} (the one ahead) and ${k1 === slow ? '' : 'another holder'}; start w6 with its clock 5 s behind`);
  await ahead.proc.kill();
  await (await aHolder(ctx, [slow])).proc.kill();
  // A replacement whose clock is behind gets a shard that others used up to now: it
  // must start above the shard's floor, not at its own clock.
  spawn('w6', '-5s');
  await sleep(QUARANTINE + 2000);
  const p = await aHolder(ctx);
  log(`SIGSTOP ${p.name} (a holder) past its timeout, shorter than the quarantine`);
  p.proc.signal('SIGSTOP');
  await sleep(CHAOS_TIMING.timeout + 800);
  p.proc.signal('SIGCONT');
  await sleep(2000);
}
