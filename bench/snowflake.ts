// Snowflake generation against peer libraries, in one run, one process.
//
//   npm run build:test && node build/bench/snowflake.js [--rounds 5] [--seconds 2]
//
// For each generator: median IDs/s over interleaved rounds, the ratio to the layout's
// cap (4,096,000/s for 41/10/12 ms), and duplicates among 1,000,000 consecutive IDs.
// Then: cost per ID unthrottled (a layout with a wide sequence, so the clock never
// makes a generator wait) against a plain BigInt loop, and nextBatch(4096) started at
// the beginning of a millisecond.

import { createRequire } from 'node:module';
import { Snowflake as Sapphire } from '@sapphire/snowflake';
import { monotonicFactory } from 'ulid';
import { v7 as uuidv7 } from 'uuid';
import { Snowflake } from '../src/index.js';

const require = createRequire(import.meta.url);
const FlakeId = require('flake-idgen') as new (o: { id: number; epoch?: number }) => { next(): Buffer };
const { Snowflake: WasmSnowflake } = require('nodejs-snowflake') as {
  Snowflake: new (o: { custom_epoch: number; instance_id: number }) => { getUniqueID(): bigint };
};

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const ROUNDS = flag('rounds', 5);
const SECONDS = flag('seconds', 2);
const EPOCH = Date.UTC(2024, 0, 1);
const CAP = 4_096_000;

interface Gen {
  name: string;
  form: string;
  cap: number | null;
  make(): () => unknown;
  /** Units per call (batches). */
  per?: number;
  /** A key for duplicate counting. */
  key?: (v: unknown) => bigint | string;
}

function plainLoop(): () => bigint {
  // The baseline: a straightforward correct generator that waits at the limit.
  let last = -1;
  let seq = 0;
  return () => {
    let now = Date.now() - EPOCH;
    if (now === last) {
      if (++seq > 4095) {
        while ((now = Date.now() - EPOCH) <= last);
        seq = 0;
      }
    } else seq = 0;
    last = now;
    return (BigInt(now) << 22n) | (1n << 12n) | BigInt(seq);
  };
}

const gens: Gen[] = [
  { name: 'muster next()', form: 'bigint', cap: CAP, make: () => { const g = new Snowflake({ workerId: 1 }); return () => g.next(); } },
  { name: 'muster nextString()', form: 'string', cap: CAP, make: () => { const g = new Snowflake({ workerId: 1 }); return () => g.nextString(); } },
  {
    name: 'muster nextBatch(4096)', form: 'BigUint64Array', cap: CAP, per: 4096,
    make: () => { const g = new Snowflake({ workerId: 1 }); return () => g.nextBatch(4096); },
  },
  { name: '@sapphire/snowflake 3.5.5', form: 'bigint', cap: CAP, make: () => { const s = new Sapphire(EPOCH); return () => s.generate({ workerId: 1n }); } },
  { name: 'nodejs-snowflake 2.0.1', form: 'bigint', cap: 1_024_000, make: () => { const s = new WasmSnowflake({ custom_epoch: EPOCH, instance_id: 1 }); return () => s.getUniqueID(); } },
  {
    name: 'flake-idgen 1.4.0', form: 'Buffer', cap: CAP,
    make: () => {
      const f = new FlakeId({ id: 1, epoch: EPOCH });
      return () => {
        try {
          return f.next();
        } catch {
          return null; // it throws at the limit; the caller retries
        }
      };
    },
    key: (v) => (v as Buffer).readBigUInt64BE(0),
  },
  { name: 'uuid 14 v7', form: 'string', cap: null, make: () => () => uuidv7() },
  { name: 'ulid 3 monotonic', form: 'string', cap: null, make: () => { const u = monotonicFactory(); return () => u(); } },
  { name: 'plain loop, BigInt, waits', form: 'bigint', cap: CAP, make: plainLoop },
];

function rate(fn: () => unknown, seconds: number, per: number): number {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  for (;;) {
    for (let i = 0; i < 256; i++) if (fn() !== null) n += per;
    if (performance.now() >= end) break;
  }
  return n / ((performance.now() - t0) / 1000);
}

function duplicates(g: Gen): number {
  // Generate first, at full speed (a generator that wraps only does so when asked
  // faster than its cap), then count.
  const fn = g.make();
  const out: unknown[] = [];
  while (out.length < 1_000_000) {
    const v = fn();
    if (v === null) continue;
    if (v instanceof BigUint64Array) for (const x of v) out.push(x);
    else out.push(v);
  }
  out.length = 1_000_000;
  const seen = new Set<bigint | string>();
  let dups = 0;
  for (const it of out) {
    const k = g.key ? g.key(it) : (it as bigint | string);
    if (seen.has(k)) dups++;
    else seen.add(k);
  }
  return dups;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0));

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

console.log(`node ${process.version}, ${ROUNDS} rounds of ${SECONDS} s, interleaved`);
const rates = new Map<string, number[]>(gens.map((g) => [g.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const g of gens) rates.get(g.name)!.push(rate(g.make(), SECONDS, g.per ?? 1));
}
const rows = [['generator', 'form', 'median IDs/s', 'layout cap/s', 'of cap', 'duplicates in 1e6']];
for (const g of gens) {
  const m = median(rates.get(g.name)!);
  rows.push([g.name, g.form, fmt(m), g.cap ? fmt(g.cap) : '-', g.cap ? (m / g.cap).toFixed(3) : '-', String(duplicates(g))]);
}
console.log(table(rows));

// Unthrottled cost per ID: a 41/1/21 layout (2M per ms) never waits for the clock.
const WIDE = { timeBits: 41, workerBits: 1, sequenceBits: 21, unit: 1 };
function widePlain(): () => bigint {
  let last = -1;
  let seq = 0;
  return () => {
    const now = Date.now() - EPOCH;
    if (now === last) seq++;
    else {
      seq = 0;
      last = now;
    }
    return (BigInt(now) << 22n) | (1n << 21n) | BigInt(seq);
  };
}
const nsPer = (fn: () => unknown, per = 1) => 1e9 / rate(fn, SECONDS, per);
const wide = { next: [] as number[], plain: [] as number[], batch: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  const g = new Snowflake({ workerId: 1, layout: WIDE });
  wide.next.push(nsPer(() => g.next()));
  wide.plain.push(nsPer(widePlain()));
  const b = new Snowflake({ workerId: 1, layout: WIDE });
  wide.batch.push(nsPer(() => b.nextBatch(4096), 4096));
}
const wn = median(wide.next);
const wp = median(wide.plain);
console.log('');
console.log(table([
  ['unthrottled (41/1/21 layout)', 'ns per ID'],
  ['muster next()', wn.toFixed(1)],
  ['plain BigInt loop (Date.now)', wp.toFixed(1)],
  ['muster next() / plain loop', (wn / wp).toFixed(2) + 'x'],
  ['muster nextBatch(4096), per ID', median(wide.batch).toFixed(2)],
]));

// nextBatch(4096) made at the start of a millisecond: it never waits while the sequence has room.
const g = new Snowflake({ workerId: 1 });
const buf = g.nextBatch(4096); // warm up
void buf;
const times: number[] = [];
for (let i = 0; i < 300; i++) {
  const start = Date.now();
  while (Date.now() === start);
  const t0 = performance.now();
  g.nextBatch(4096);
  times.push((performance.now() - t0) * 1000);
}
times.sort((a, b) => a - b);
console.log('');
console.log(table([
  ['nextBatch(4096) at the start of a ms', 'µs'],
  ['p50', times[150]!.toFixed(1)],
  ['p99', times[297]!.toFixed(1)],
  ['max', times[299]!.toFixed(1)],
]));
