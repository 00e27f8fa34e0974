// Named short sequences (member.sequence): unique across members drawing at once, a gap
// (never a repeat) when a holder is killed, and refusal instead of repetition after a
// wipe, a restart from an older snapshot and a paused holder that wakes up after both.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Member, OptionRangeError, OptionTypeError, SequenceFloorError, join } from '../src/index.js';
import { SEQUENCE_HOLD, SEQUENCE_WAIT } from '../src/sequences/sequence.js';
import { type RedisServer, sleep, startRedis } from './helpers/redis.js';
import { Proc } from './helpers/proc.js';
import { until } from './helpers/members.js';

const test = suite<{ redis: RedisServer }>('sequences');
const OPTS = { heartbeat: 100, timeout: 1000 } as const;
let group = 0;

test.before.each(async (ctx) => {
  ctx.redis = await startRedis();
});
test.after.each(async (ctx) => {
  await ctx.redis.stop();
});

async function members(url: string, g: string, n: number): Promise<Member[]> {
  const ms = await Promise.all(Array.from({ length: n }, (_, i) => join({ redis: url, group: g, nodeId: `m${i}`, ...OPTS })));
  for (const m of ms) m.on('error', () => undefined);
  return ms;
}

/** Draws from `m`'s sequence until `stop()`; collects numbers into `got`, refusals into `refused`. */
function drawLoop(m: Member, name: string, block: number, got: number[], refused: string[], stop: () => boolean): Promise<void> {
  const seq = m.sequence(name, { block });
  return (async () => {
    while (!stop()) {
      try {
        got.push(await seq.next());
      } catch (err) {
        refused.push(err instanceof SequenceFloorError ? err.reason : String(err));
        await sleep(50);
      }
      if (got.length % 64 === 0) await sleep(1);
    }
  })();
}

function repeated(all: number[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const v of all) {
    if (seen.has(v)) out.push(v);
    seen.add(v);
  }
  return out;
}

test('many members drawing at once: every number once, close together', async ({ redis }) => {
  const g = `sq${group++}`;
  const ms = await members(redis.url, g, 6);
  try {
    const got: number[][] = ms.map(() => []);
    // 6 members, each with 4 callers drawing at once, 500 numbers per caller.
    await Promise.all(
      ms.flatMap((m, i) =>
        Array.from({ length: 4 }, async () => {
          const seq = m.sequence('invoice', { block: 20 });
          for (let k = 0; k < 500; k++) got[i]!.push(await seq.next());
        }),
      ),
    );
    const all = got.flat();
    assert.is(all.length, 12_000);
    assert.equal(repeated(all), []);
    // Each member's numbers increase; the blocks left unused are at most one per member.
    for (const g1 of got) for (let k = 1; k < g1.length; k++) assert.ok(g1[k]! > g1[k - 1]!);
    assert.ok(Math.min(...all) === 1, 'starts at 1');
    assert.ok(Math.max(...all) <= 12_000 + 6 * 20, `max ${Math.max(...all)}: more than a block per member unused`);
    assert.is(ms[0]!.sequence('invoice'), ms[0]!.sequence('invoice', { block: 20 }), 'one sequence per name and member');
    const stored = await redis.client().hget(`muster:{${g}}:seqs`, 'v:invoice');
    assert.ok(Number(stored) >= Math.max(...all));
  } finally {
    await Promise.all(ms.map((m) => m.leave()));
  }
});

test('a member killed holding a block leaves a gap, never a repeat', async ({ redis }) => {
  const g = `sq${group++}`;
  const drawer = new Proc({ redis: redis.url, group: g, nodeId: 'doomed', ...OPTS, sequence: 'ticket', block: 100, every: 5 }, { fixture: 'drawer.js' });
  const [m] = await members(redis.url, g, 1);
  try {
    await drawer.waitFor((e) => e.e === 'n' && (e.v as number) >= 10, 10_000, 'ten numbers');
    await drawer.kill();
    const theirs = drawer.events.filter((e) => e.e === 'n').map((e) => e.v as number);
    const seq = m!.sequence('ticket', { block: 10 });
    const mine: number[] = [];
    for (let k = 0; k < 300; k++) mine.push(await seq.next());
    assert.equal(repeated([...theirs, ...mine]), []);
    assert.is(mine[0], 101, 'the rest of the dead member\'s block (up to 100) is a gap');
    assert.ok(Math.max(...theirs) < 101);
  } finally {
    await drawer.kill();
    await m!.leave();
  }
});

test('bad arguments: typed errors naming the option, nothing written', async ({ redis }) => {
  const g = `sq${group++}`;
  const [m] = await members(redis.url, g, 1);
  try {
    const bad: [unknown, unknown, string, typeof OptionTypeError | typeof OptionRangeError][] = [
      [42, undefined, 'name', OptionTypeError],
      ['', undefined, 'name', OptionRangeError],
      ['a\nb', undefined, 'name', OptionRangeError],
      ['ok', { block: 0 }, 'block', OptionRangeError],
      ['ok', { block: 1.5 }, 'block', OptionRangeError],
      ['ok', { block: '5' }, 'block', OptionTypeError],
      ['ok', { blok: 5 }, 'blok', OptionTypeError],
      ['ok', 'big', 'options', OptionTypeError],
    ];
    for (const [name, options, option, cls] of bad) {
      try {
        m!.sequence(name as string, options as never);
        assert.unreachable(`accepted ${String(name)} ${JSON.stringify(options)}`);
      } catch (err) {
        assert.instance(err, cls);
        assert.is((err as { option: string }).option, option);
      }
    }
    const seq = m!.sequence('ok');
    const err = await seq.recover(-1).catch((e: unknown) => e);
    assert.ok(err instanceof OptionRangeError && err.option === 'floor', String(err));
    assert.is(await redis.client().exists(`muster:{${g}}:seqs`), 0, 'nothing written');
  } finally {
    await m!.leave();
  }
});

test('a restart from an older snapshot: refused until a floor, then above it; a new name refused too', async ({ redis }) => {
  const g = `sq${group++}`;
  const ms = await members(redis.url, g, 3);
  const got: number[] = [];
  const refused: string[] = [];
  let stop = false;
  try {
    const loops = ms.map((m) => drawLoop(m, 'invoice', 25, got, refused, () => stop));
    await until(() => got.length > 2000, 20_000);
    await redis.client().save(); // the snapshot
    await until(() => got.length > 6000, 20_000);
    await redis.stop();
    await redis.start(); // from the snapshot: the counter goes back
    const restored = Number(await redis.client().hget(`muster:{${g}}:seqs`, 'v:invoice'));
    assert.ok(restored < Math.max(...got) - 1000, `the counter went back: ${restored} against ${Math.max(...got)} drawn`);
    // Numbers drawn from blocks held before the restart are allowed (they are below what
    // the floor will be); from the restored counter, none.
    await until(() => refused.length >= 3, SEQUENCE_HOLD + 5000);
    assert.ok(refused.every((r) => r === 'restart' || r.includes('RedisError') || r.includes('ECONNREFUSED') || r.includes('failed')), refused.join(','));
    assert.ok(refused.includes('restart'));
    const err = await ms[0]!.sequence('invoice').next().catch((e: unknown) => e);
    assert.instance(err, SequenceFloorError);
    assert.is((err as SequenceFloorError).code, 'SEQUENCE_FLOOR');
    // A name the store does not know, after a fresh start: it may be one whose counter was lost.
    const fresh = await ms[1]!.sequence('other').next().catch((e: unknown) => e);
    assert.is((fresh as SequenceFloorError).reason, 'unknown');

    // The "database": every number drawn so far. recover() reads it only once the store
    // takes a floor (no block of before the restart is in use then).
    let readAt = 0;
    const started = Date.now();
    const top = await ms[0]!.sequence('invoice').recover(() => {
      readAt = Date.now();
      return Math.max(...got);
    });
    assert.ok(readAt - started >= SEQUENCE_WAIT - SEQUENCE_HOLD, `read ${readAt - started} ms after the refusal`);
    assert.ok(top >= Math.max(...got));
    const before = got.length;
    await until(() => got.length > before + 3000, 20_000);
    assert.ok((await ms[1]!.sequence('other').recover(0)) === 0);
    assert.is(await ms[1]!.sequence('other').next(), 1);
    stop = true;
    await Promise.all(loops);
    assert.equal(repeated(got), []);
  } finally {
    stop = true;
    await Promise.all(ms.map((m) => m.leave().catch(() => undefined)));
  }
});

test('FLUSHALL while members draw at full rate: refused (wiped), also for a member joining after it; no repeat after recover', async ({ redis }) => {
  const g = `sq${group++}`;
  const ms = await members(redis.url, g, 3);
  const got: number[] = [];
  const refused: string[] = [];
  let stop = false;
  const extra: Member[] = [];
  try {
    const loops = ms.map((m) => drawLoop(m, 'invoice', 25, got, refused, () => stop));
    await until(() => got.length > 5000, 20_000);
    await redis.client().flushall();
    await until(() => refused.length >= 3, SEQUENCE_HOLD + 5000);
    assert.ok(refused.includes('wiped'), refused.join(','));
    // The old members rejoined (a new group record, marked as recreated): a member that
    // joins now, knowing nothing of before, is refused as well.
    await until(async () => (await redis.client().hget(`muster:{${g}}:group`, 'wp')) === '1', 5000);
    const late = await join({ redis: redis.url, group: g, nodeId: 'late', ...OPTS });
    late.on('error', () => undefined);
    extra.push(late);
    const err = await late.sequence('invoice').next().catch((e: unknown) => e);
    assert.is((err as SequenceFloorError).reason, 'wiped');
    await late.sequence('invoice').recover(() => Math.max(...got));
    const before = got.length;
    await until(() => got.length > before + 3000, 20_000);
    stop = true;
    await Promise.all(loops);
    assert.equal(repeated(got), []);
  } finally {
    stop = true;
    await Promise.all([...ms, ...extra].map((m) => m.leave().catch(() => undefined)));
  }
});

test('a holder paused (SIGSTOP) across a restart from an older snapshot does not use its old block when it wakes', async ({ redis }) => {
  const g = `sq${group++}`;
  const drawer = new Proc({ redis: redis.url, group: g, nodeId: 'sleeper', ...OPTS, sequence: 'invoice', block: 1000, every: 20 }, { fixture: 'drawer.js' });
  const [m] = await members(redis.url, g, 1);
  try {
    await redis.client().save(); // before the sleeper's block
    await drawer.waitFor((e) => e.e === 'n' && (e.v as number) >= 20, 10_000, 'twenty numbers');
    drawer.signal('SIGSTOP');
    await sleep(100);
    const theirs = () => drawer.events.filter((e) => e.e === 'n').map((e) => e.v as number);
    await redis.stop();
    await redis.start(); // the sleeper's block (1..1000) is gone from the store
    const mine: number[] = [];
    await m!.sequence('invoice').recover(() => Math.max(...theirs()));
    for (let k = 0; k < 100; k++) mine.push(await m!.sequence('invoice', { block: 10 }).next());
    drawer.signal('SIGCONT');
    const n = theirs().length;
    await drawer.waitFor((e) => e.e === 'n', 15_000, 'a number after waking', drawer.events.length);
    await until(() => theirs().length > n + 20, 15_000);
    const all = [...theirs(), ...mine];
    assert.equal(repeated(all), [], `sleeper ${theirs().slice(n - 3, n + 5)}; member ${mine.slice(0, 5)}`);
    assert.ok(theirs()[n]! > Math.max(...mine), 'the sleeper continued above the member');
  } finally {
    drawer.signal('SIGCONT');
    await drawer.kill();
    await m!.leave();
  }
});

test('a fresh start between the probe and a slow floor: the floor read before it is not taken; read again', async ({ redis }) => {
  const g = `sq${group++}`;
  const [m] = await members(redis.url, g, 1);
  try {
    const seq = m!.sequence('invoice', { block: 5 });
    for (let k = 0; k < 12; k++) await seq.next();
    await redis.client().save();
    await redis.stop();
    await redis.start(); // first fresh start
    const reads: number[] = [];
    let restartedAt = 0;
    await seq.recover(async () => {
      reads.push(Date.now());
      if (reads.length === 1) {
        // A second fresh start after the probe, before the floor reaches the store.
        await redis.stop();
        await redis.start();
        restartedAt = Date.now();
        // A slow read: by the time the floor arrives, the second fresh start's wait is
        // over too, so only the identity the probe saw tells that the read is stale.
        await sleep(SEQUENCE_WAIT + 500);
      }
      return 12;
    });
    assert.is(reads.length, 2, 'the floor read before the second fresh start was refused');
    assert.ok(reads[1]! - restartedAt >= SEQUENCE_WAIT - 1000, `read again ${reads[1]! - restartedAt} ms after the second fresh start`);
    assert.ok((await seq.next()) > 12);
  } finally {
    await m!.leave().catch(() => undefined);
  }
});

test('Redis down: next() rejects with an error, no unhandled rejection', async ({ redis }) => {
  const g = `sq${group++}`;
  const [m] = await members(redis.url, g, 1);
  try {
    const seq = m!.sequence('x', { block: 2 });
    assert.is(await seq.next(), 1);
    assert.is(await seq.next(), 2);
    await redis.stop();
    const err = await seq.next().catch((e: unknown) => e);
    assert.instance(err, Error);
    assert.ok(['REDIS', 'CONNECT'].includes((err as { code?: string }).code ?? ''), String(err));
  } finally {
    await m!.leave().catch(() => undefined);
  }
});

test.run();
