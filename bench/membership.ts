// Membership cost on one Redis, for 1, 100 and 1,000 members in this process.
//
//   npm run build:test && node build/bench/membership.js [--sizes 1,100,1000] [--seconds 5]
//
// With N members already in the group (held by helper processes, 250 each, so their
// Pub/Sub traffic is not this process's work): join latency of one more member (from
// join() called to resolved, fresh connection included, 50 samples), Redis commands
// per member per second in steady state (and script calls per heartbeat), and Redis
// memory per member: all of it (mostly the connection) and the group's keys alone.
// For comparison, the same figures for a naive membership in the style of the older
// heartbeat pollers: one key per member with a TTL, SET every heartbeat, SCAN to list.

import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join as pathJoin } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { join } from '../src/index.js';
import { startRedis } from '../test/helpers/redis.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const SIZES = opt('sizes', '1,100,1000').split(',').map(Number);
const SECONDS = Number(opt('seconds', '5'));
const HEARTBEAT = 1000;
const TIMEOUT = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

// Commands a client sends (the commands a script runs inside Redis are counted apart).
const TOP_LEVEL = ['evalsha', 'eval', 'set', 'scan', 'subscribe', 'unsubscribe', 'hello', 'info', 'ping', 'wait', 'quit', 'client'];

async function stats(c: Redis) {
  const info = await c.info('all');
  const num = (re: RegExp) => Number(re.exec(info)?.[1] ?? 0);
  const calls = (name: string) => num(new RegExp(`cmdstat_${name}:calls=(\\d+)`));
  return {
    commands: TOP_LEVEL.reduce((s, name) => s + calls(name), 0) - calls('info'),
    scripts: calls('evalsha') + calls('eval'),
    memory: num(/used_memory:(\d+)/),
    keys: 0,
  };
}

/** Lets the members settle, then measures SECONDS of steady state. */
async function steady(admin: Redis) {
  await sleep(HEARTBEAT * 1.5);
  const s0 = await stats(admin);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const s1 = await stats(admin);
  return { s0, s1, secs: (performance.now() - t0) / 1000 };
}

interface Row {
  impl: string;
  n: number;
  p50: number;
  p99: number;
  cmdsPerMemberSec: number;
  scriptsPerBeat: number | null;
  bytesPerMember: number;
  keyBytesPerMember: number;
}

const here = dirname(fileURLToPath(import.meta.url));

async function background(url: string, group: string, n: number): Promise<ChildProcess[]> {
  const procs: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let from = 0; from < n; from += 250) {
    const count = Math.min(250, n - from);
    const p = spawn(process.execPath, [pathJoin(here, 'members-helper.js'), url, group, String(from), String(count), String(HEARTBEAT), String(TIMEOUT)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    procs.push(p);
    ready.push(new Promise((resolve) => createInterface({ input: p.stdout! }).once('line', () => resolve())));
  }
  await Promise.all(ready);
  return procs;
}

async function stop(procs: ChildProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => new Promise((r) => { p.once('exit', r); p.kill('SIGTERM'); })));
}

async function groupBytes(admin: Redis, group: string): Promise<number> {
  let total = 0;
  for (const k of await admin.keys(`muster:{${group}}:*`)) total += Number(await admin.memory('USAGE', k)) || 0;
  return total;
}

async function benchMuster(url: string, admin: Redis, n: number): Promise<Row> {
  const group = `bench${n}`;
  const base = await stats(admin);
  const procs = await background(url, group, n - 1);
  const lat: number[] = [];
  let last;
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const m = await join({ redis: url, group, nodeId: `probe${i}`, heartbeat: HEARTBEAT, timeout: TIMEOUT, shards: { min: 0, max: 4095 } });
    lat.push(performance.now() - t0);
    if (i < 49) await m.leave();
    else last = m;
    await sleep(20); // let the announcements of this join and leave reach everyone first
  }
  const { s0, s1, secs } = await steady(admin);
  const row: Row = {
    impl: 'muster',
    n,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    cmdsPerMemberSec: (s1.commands - s0.commands) / n / secs,
    scriptsPerBeat: (s1.scripts - s0.scripts) / n / (secs / (HEARTBEAT / 1000)),
    bytesPerMember: (s1.memory - base.memory) / n,
    keyBytesPerMember: (await groupBytes(admin, group)) / n,
  };
  await last!.leave();
  await stop(procs);
  await admin.flushall();
  return row;
}

/** The naive style: SET key PX timeout per heartbeat; a SCAN lists the live ones. */
async function benchNaive(url: string, admin: Redis, n: number): Promise<Row> {
  const base = await stats(admin);
  const clients: Redis[] = [];
  const timers: NodeJS.Timeout[] = [];
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const c = new Redis(url);
    await c.set(`naive:${n}:m${i}`, JSON.stringify({ id: `m${i}`, meta: {} }), 'PX', TIMEOUT);
    lat.push(performance.now() - t0);
    clients.push(c);
    const key = `naive:${n}:m${i}`;
    timers.push(
      setInterval(() => {
        // A beat, plus the poll that finds who died: list the live keys.
        void c.set(key, JSON.stringify({ id: `m${i}`, meta: {} }), 'PX', TIMEOUT);
        void c.scan('0', 'MATCH', `naive:${n}:*`, 'COUNT', 1000);
      }, HEARTBEAT),
    );
  }
  const { s0, s1, secs } = await steady(admin);
  for (const t of timers) clearInterval(t);
  const row: Row = {
    impl: 'naive TTL keys + SCAN',
    n,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    cmdsPerMemberSec: (s1.commands - s0.commands) / n / secs,
    scriptsPerBeat: null,
    bytesPerMember: (s1.memory - base.memory) / n,
    keyBytesPerMember: 0,
  };
  for (const k of await admin.keys(`naive:${n}:*`)) row.keyBytesPerMember += Number(await admin.memory('USAGE', k)) || 0;
  row.keyBytesPerMember /= n;
  await Promise.all(clients.map((c) => c.quit()));
  await admin.flushall();
  return row;
}

const redis = process.env.REDIS_URL ? undefined : await startRedis({ args: ['--maxclients', '10000'] });
const url = process.env.REDIS_URL ?? redis!.url;
const admin = new Redis(url);
console.log(`node ${process.version}; Redis at ${url}; heartbeat ${HEARTBEAT} ms, timeout ${TIMEOUT} ms; ${SECONDS} s of steady state per size`);
const rows: Row[] = [];
for (const n of SIZES) {
  rows.push(await benchMuster(url, admin, n));
  rows.push(await benchNaive(url, admin, n));
}
const head = ['implementation', 'members', 'join p50 ms', 'join p99 ms', 'Redis cmds/member/s', 'scripts/heartbeat', 'Redis bytes/member', 'of which keys'];
const body = rows.map((r) => [
  r.impl,
  String(r.n),
  r.p50.toFixed(2),
  r.p99.toFixed(2),
  r.cmdsPerMemberSec.toFixed(2),
  r.scriptsPerBeat === null ? '-' : r.scriptsPerBeat.toFixed(2),
  r.bytesPerMember.toFixed(0),
  r.keyBytesPerMember.toFixed(0),
]);
const all = [head, ...body];
const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
console.log([line(head), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...body.map(line)].join('\n'));
console.log('For reference (PEERS.md): raus waits 3 s of Pub/Sub discovery before it claims a machine ID.');
admin.disconnect();
await redis?.stop();
process.exit(0);
