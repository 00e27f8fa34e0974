// The Snowflake generator alone (no Redis): layouts as exact decimal strings, decode
// round trips, strict increase (G3), never wrapping within a unit, batches.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GeneratorStalledError, LAYOUTS, MusterError, OptionRangeError, Snowflake, decodeId, encodeId, resolveLayout } from '../src/index.js';

const test = suite('snowflake');
const EPOCH = '2024-01-01T00:00:00Z';
const T = Date.parse('2025-06-01T12:34:56.789Z');

type Row = [layout: keyof typeof LAYOUTS, timestamp: number, workerId: number, sequence: number, id: string];
const table: Row[] = [
  ['twitter', Date.parse(EPOCH) + 1, 1, 1, '4198401'],
  ['twitter', T, 513, 77, '187544515020591181'],
  ['twitter', Date.parse(EPOCH) + 2 ** 41 - 1, 1023, 4095, '9223372036854775807'],
  ['sonyflake', Date.parse(EPOCH) + 10, 1, 1, '16777473'],
  ['sonyflake', T - 9, 40000, 200, '75017806002536648'],
  ['instagram', Date.parse(EPOCH) + 1, 1, 1, '8389633'],
  ['instagram', T, 8191, 1023, '375089030045368319'],
];

test('instagram keeps IDs positive: its time ends 2^40 ms after the epoch', () => {
  const l = resolveLayout('instagram', EPOCH);
  assert.is(l.endMs, Date.parse(EPOCH) + 2 ** 40 - 1);
  assert.is(encodeId({ timestamp: l.endMs, workerId: 8191, sequence: 1023 }, l), 2n ** 63n - 1n);
  assert.throws(() => resolveLayout({ timeBits: 41, workerBits: 13, sequenceBits: 10 }), (e: unknown) => (e as OptionRangeError).option === 'layout');
});

for (const [name, timestamp, workerId, sequence, id] of table) {
  test(`${name}: ${new Date(timestamp).toISOString()} worker ${workerId} seq ${sequence} is ${id}`, () => {
    const layout = resolveLayout(name, EPOCH);
    assert.is(encodeId({ timestamp, workerId, sequence }, layout).toString(), id);
    const d = decodeId(id, layout);
    // A 10 ms unit keeps the start of its unit.
    assert.is(d.timestamp, timestamp - ((timestamp - layout.epochMs) % layout.unitMs));
    assert.is(d.workerId, workerId);
    assert.is(d.sequence, sequence);
    assert.equal(decodeId(BigInt(id), layout), d);
  });
}

test('decodeId without a layout, with a preset name, and with a name and an epoch', () => {
  const plain = new Snowflake({ workerId: 7 }).next();
  const d = decodeId(plain);
  assert.is(d.workerId, 7);
  assert.ok(Math.abs(d.timestamp - Date.now()) < 5000, 'the default layout and epoch');
  assert.equal(decodeId(plain, 'twitter'), d);
  assert.equal(decodeId(String(plain), resolveLayout()), d);
  const dated = new Snowflake({ workerId: 9, epoch: EPOCH }).next();
  const e = decodeId(dated, 'twitter', EPOCH);
  assert.is(e.workerId, 9);
  assert.ok(Math.abs(e.timestamp - Date.now()) < 5000);
  assert.throws(() => decodeId(plain, 'sonyflake-ish' as never), (err: unknown) => err instanceof OptionRangeError && err.option === 'layout');
});

test('the largest twitter ID is the largest signed 64-bit integer', () => {
  assert.is(BigInt('9223372036854775807'), 2n ** 63n - 1n);
});

test('next() decodes to now, its worker and sequence 0 or more', () => {
  const g = new Snowflake({ workerId: 42, epoch: EPOCH });
  const before = Date.now();
  const id = g.next();
  const d = g.decode(id);
  assert.is(d.workerId, 42);
  assert.ok(d.timestamp >= before - 1 && d.timestamp <= Date.now(), `${d.timestamp} vs ${before}`);
  assert.is(g.decode(g.nextString()).workerId, 42);
});

test('one million IDs from next() strictly increase, and never exceed 4096 per ms (G3, no wrap)', () => {
  const g = new Snowflake({ workerId: 3 });
  const n = 1_000_000;
  const ids = new BigUint64Array(n);
  for (let i = 0; i < n; i++) ids[i] = g.next();
  const perMs = new Map<bigint, number>();
  for (let i = 0; i < n; i++) {
    if (i > 0 && ids[i]! <= ids[i - 1]!) assert.unreachable(`ID ${i} does not increase`);
    const ms = ids[i]! >> 22n;
    perMs.set(ms, (perMs.get(ms) ?? 0) + 1);
  }
  assert.ok(Math.max(...perMs.values()) <= 4096);
  // Asked for faster than the cap, the generator must have filled whole milliseconds.
  assert.ok([...perMs.values()].some((c) => c === 4096), 'some millisecond used the whole sequence');
});

test('a tiny sequence waits for the next unit instead of wrapping', () => {
  const g = new Snowflake({ workerId: 1, layout: { timeBits: 41, workerBits: 10, sequenceBits: 2, unit: 1 } });
  const ids = Array.from({ length: 40 }, () => g.next());
  assert.is(new Set(ids).size, 40);
  const units = new Set(ids.map((id) => id >> 12n));
  assert.ok(units.size >= 10, `40 IDs with 4 per unit need at least 10 units, got ${units.size}`);
});

test('a wall clock stepped back does not move the generator back', () => {
  const g = new Snowflake({ workerId: 9 });
  const realNow = Date.now;
  const first = g.next();
  try {
    Date.now = () => realNow() - 5000;
    const later = Array.from({ length: 1000 }, () => g.next());
    assert.ok(later.every((id, i) => id > (i === 0 ? first : later[i - 1]!)));
    assert.ok(g.decode(later[999]!).timestamp >= g.decode(first).timestamp);
  } finally {
    Date.now = realNow;
  }
});

test('nextBatch() is unique, increasing and continues the same sequence as next()', () => {
  const g = new Snowflake({ workerId: 5 });
  const a = g.next();
  const batch = g.nextBatch(10_000);
  const b = g.next();
  assert.ok(batch[0]! > a);
  for (let i = 1; i < batch.length; i++) assert.ok(batch[i]! > batch[i - 1]!, `batch ${i}`);
  assert.ok(b > batch[batch.length - 1]!);
  for (const id of batch.subarray(0, 100)) assert.is(g.decode(id).workerId, 5);
  assert.is(g.minted, 10_002, 'minted counts next() and nextBatch()');
});

test('minted counts every ID across units, also under a tiny sequence (waits for new units)', () => {
  const g = new Snowflake({ workerId: 1, layout: { timeBits: 41, workerBits: 10, sequenceBits: 2, unit: 1 } });
  assert.is(g.minted, 0);
  for (let i = 0; i < 50; i++) g.next();
  g.nextBatch(30);
  assert.is(g.minted, 80);
});

test('nextBatch() with more than 32 worker+sequence bits takes the general path', () => {
  const g = new Snowflake({ workerId: 700, layout: { timeBits: 30, workerBits: 10, sequenceBits: 23, unit: '1s' } });
  const batch = g.nextBatch(5000);
  for (let i = 1; i < batch.length; i++) assert.ok(batch[i]! > batch[i - 1]!);
  const d = g.decode(batch[4999]!);
  assert.is(d.workerId, 700);
  assert.ok(d.sequence >= 4999);
});

test('nextBatch() at the start of a unit fills it without waiting', () => {
  const g = new Snowflake({ workerId: 1, layout: { timeBits: 41, workerBits: 10, sequenceBits: 12, unit: '1s' } });
  // With a 1 s unit a wait would be obvious; 4096 fit in one unit once it has begun.
  g.next();
  const t0 = performance.now();
  const first = g.decode(g.nextBatch(100)[0]!);
  assert.ok(performance.now() - t0 < 500);
  assert.ok(first.sequence > 0);
});

test('a sync next() that would wait longer than a unit throws GeneratorStalledError', () => {
  const g = new Snowflake({ workerId: 1, layout: { timeBits: 41, workerBits: 10, sequenceBits: 1, unit: '1s' } });
  // Two per second: the third must wait for the next second; next() spins at most about a unit.
  g.next();
  g.next();
  const t0 = performance.now();
  try {
    g.next();
    assert.ok(performance.now() - t0 <= 1100);
  } catch (err) {
    assert.instance(err, GeneratorStalledError);
    assert.instance(err, MusterError);
  }
});

test('nextAsync() waits for the next unit instead of throwing', async () => {
  const g = new Snowflake({ workerId: 1, layout: { timeBits: 41, workerBits: 10, sequenceBits: 1, unit: 20 } });
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push(await g.nextAsync());
  assert.is(new Set(ids).size, 8);
  for (let i = 1; i < 8; i++) assert.ok(ids[i]! > ids[i - 1]!);
});

test('decode() rejects what is not an ID of the layout', () => {
  const g = new Snowflake({ workerId: 1 });
  assert.throws(() => g.decode('12a'), (e: unknown) => (e as OptionRangeError).option === 'id');
  assert.throws(() => g.decode(-1n), (e: unknown) => e instanceof OptionRangeError);
  assert.throws(() => g.decode(2n ** 63n), (e: unknown) => e instanceof OptionRangeError);
  assert.throws(() => g.decode(1.5), (e: unknown) => e instanceof MusterError);
});

test('encode() gives the lowest ID of a moment, for range queries', () => {
  const g = new Snowflake({ workerId: 1 });
  const id = g.next();
  const lo = g.encode({ timestamp: g.decode(id).timestamp });
  const hi = g.encode({ timestamp: g.decode(id).timestamp + 1 });
  assert.ok(lo <= id && id < hi);
  assert.throws(() => g.encode({ timestamp: 0 }), (e: unknown) => (e as OptionRangeError).option === 'timestamp');
});

test('a layout whose time runs out within 10 years warns; within 2 years it is refused', () => {
  // 32 bits of seconds from 2024 last until 2160: fine. 28 bits of seconds (8.5 years)
  // from 5 years ago: warns. From 7 years ago: refused.
  resolveLayout({ timeBits: 32, workerBits: 10, sequenceBits: 12, unit: '1s' }, EPOCH);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  const epoch = Date.now() - 5 * 365 * 86_400_000;
  resolveLayout({ timeBits: 28, workerBits: 10, sequenceBits: 12, unit: '1s' }, epoch);
  return new Promise<void>((resolve) =>
    setImmediate(() => {
      process.off('warning', onWarning);
      assert.ok(warnings.some((w) => w.includes('run out')), JSON.stringify(warnings));
      assert.throws(() => resolveLayout({ timeBits: 28, workerBits: 10, sequenceBits: 12, unit: '1s' }, Date.now() - 7 * 365 * 86_400_000));
      resolve();
    }),
  );
});

test.run();
