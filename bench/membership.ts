// Membership cost on one Redis, for 1, 100, 1,000 and 10,000 members.
//
//   npm run build:test && node build/bench/membership.js [--sizes 1,100,1000,10000] [--seconds 5]
//
// With N members already in the group: join latency of one more member (a real join(),
// from called to resolved, fresh connection included, 50 samples) against a bare
// connect+PING p50/p99 in the same run (the floor of any join); Redis CPU (cores, from
// INFO cpu over the steady state); the cost of one change's fan-out (Redis time of the
// SPUBLISH that announces it); Redis commands per member per second in steady state
// (and script calls per heartbeat); Redis memory per member: all of it (mostly the
// connections) and the group's keys alone.
// The N members are held by helper processes (so their Pub/Sub traffic is not this
// process's work): full members (250 per process) up to 1,000, holding shards 0..4095;
// from 1,000 up, stand-ins (bench/stand-ins.ts: the same Redis calls and connections as
// a member, none of its in-process work; 1,000 per process) in a membership-only group.
// At 1,000 both run, so the table shows the stand-ins next to real members.
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
const SIZES = opt('sizes', '1,100,1000,10000').split(',').map(Number);
const STAND_INS_ABOVE = 1000;
const SECONDS = Number(opt('seconds', '5'));
const HEARTBEAT = 1000;
const TIMEOUT = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

// Commands a client sends (the commands a script runs inside Redis are counted apart).
const TOP_LEVEL = ['evalsha', 'eval', 'set', 'scan', 'subscribe', 'unsubscribe', 'ssubscribe', 'sunsubscribe', 'hello', 'info', 'ping', 'wait', 'quit', 'client'];

async function stats(c: Redis) {
  const info = await c.info('all');
  const num = (re: RegExp) => Number(re.exec(info)?.[1] ?? 0);
  const calls = (name: string) => num(new RegExp(`cmdstat_${name}:calls=(\\d+)`));
  return {
    commands: TOP_LEVEL.reduce((s, name) => s + calls(name), 0) - calls('info'),
    scripts: calls('evalsha') + calls('eval'),
    memory: num(/used_memory:(\d+)/),
    cpu: Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0),
    spublishUsec: Number(/cmdstat_spublish:calls=\d+,usec=\d+,usec_per_call=([\d.]+)/.exec(info)?.[1] ?? NaN),
    scriptUsec: Number(/cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info)?.[2] ?? 0),
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
  cpuCores: number;
  /** Redis time inside the scripts per call (the rest of the CPU is connections and I/O). */
  scriptUsPerCall: number;
  pingP50: number;
  pingP99: number;
  fanoutUs: number | null;
}

/** A bare connect + PING on a fresh connection: the floor of any join's latency. */
async function connectPing(url: string): Promise<{ p50: number; p99: number }> {
  const lat: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const c = new Redis(url);
    await c.ping();
    lat.push(performance.now() - t0);
    c.disconnect();
  }
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

const here = dirname(fileURLToPath(import.meta.url));

async function background(url: string, group: string, n: number, sharded: boolean, standIns: boolean): Promise<ChildProcess[]> {
  const procs: ChildProcess[] = [];
  const nextLine: (() => Promise<void>)[] = [];
  // 250 members per helper process, or 1,000 stand-ins.
  const per = standIns ? 1000 : 250;
  for (let from = 0; from < n; from += per) {
    const count = Math.min(per, n - from);
    const argv = standIns
      ? [pathJoin(here, 'stand-ins.js'), url, group, String(from), String(count), String(HEARTBEAT), String(TIMEOUT)]
      : [pathJoin(here, 'members-helper.js'), url, group, String(from), String(count), String(HEARTBEAT), String(TIMEOUT), sharded ? 'on' : 'off'];
    const p = spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
    procs.push(p);
    const lines = createInterface({ input: p.stdout! });
    nextLine.push(() => new Promise((resolve) => lines.once('line', () => resolve())));
  }
  await Promise.all(nextLine.map((next) => next()));
  if (standIns) {
    // Every stand-in has joined; now they subscribe.
    const subscribed = nextLine.map((next) => next());
    for (const p of procs) p.stdin!.write('go\n');
    await Promise.all(subscribed);
  }
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

async function benchMuster(url: string, admin: Redis, n: number, standIns: boolean): Promise<Row> {
  const group = `bench${n}${standIns ? 's' : ''}`;
  const sharded = !standIns;
  const base = await stats(admin);
  const procs = await background(url, group, n - 1, sharded, standIns);
  const ping = await connectPing(url);
  // From here on, every change fans out to the whole group.
  await admin.config('RESETSTAT');
  const lat: number[] = [];
  let last;
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    const m = await join({ redis: url, group, nodeId: `probe${i}`, heartbeat: HEARTBEAT, timeout: TIMEOUT, shards: sharded ? { min: 0, max: 4095 } : false });
    lat.push(performance.now() - t0);
    if (i < 49) await m.leave();
    else last = m;
    await sleep(20); // let the announcements of this join and leave reach everyone first
  }
  const { s0, s1, secs } = await steady(admin);
  const row: Row = {
    impl: standIns ? 'muster, stand-ins (shards: false)' : sharded ? 'muster' : 'muster (shards: false)',
    cpuCores: (s1.cpu - s0.cpu) / secs,
    scriptUsPerCall: (s1.scriptUsec - s0.scriptUsec) / Math.max(1, s1.scripts - s0.scripts),
    pingP50: ping.p50,
    pingP99: ping.p99,
    fanoutUs: Number.isNaN(s1.spublishUsec) ? null : s1.spublishUsec,
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
    cpuCores: (s1.cpu - s0.cpu) / secs,
    scriptUsPerCall: NaN,
    pingP50: NaN,
    pingP99: NaN,
    fanoutUs: null,
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

const redis = process.env.REDIS_URL ? undefined : await startRedis({ args: ['--maxclients', '25000'] });
const url = process.env.REDIS_URL ?? redis!.url;
const admin = new Redis(url);
console.log(`node ${process.version}; Redis at ${url}; heartbeat ${HEARTBEAT} ms, timeout ${TIMEOUT} ms; ${SECONDS} s of steady state per size`);
const rows: Row[] = [];
for (const n of SIZES) {
  // Full members up to 1,000; above, stand-ins (bench/stand-ins.ts). At 1,000 both run,
  // so the table shows what the stand-ins cost Redis next to real members.
  if (n <= STAND_INS_ABOVE) rows.push(await benchMuster(url, admin, n, false));
  if (n >= STAND_INS_ABOVE) rows.push(await benchMuster(url, admin, n, true));
  // The naive style holds every member's connection in this process: up to 1,000.
  if (n <= 1000) rows.push(await benchNaive(url, admin, n));
}
const head = ['implementation', 'members', 'join p50 ms', 'join p99 ms', 'connect+PING p50/p99 ms', 'Redis CPU cores', 'of which scripts µs/call', 'fan-out of a change µs', 'Redis cmds/member/s', 'scripts/heartbeat', 'Redis bytes/member', 'of which keys'];
const body = rows.map((r) => [
  r.impl,
  String(r.n),
  r.p50.toFixed(2),
  r.p99.toFixed(2),
  Number.isNaN(r.pingP50) ? '-' : `${r.pingP50.toFixed(2)} / ${r.pingP99.toFixed(2)}`,
  r.cpuCores.toFixed(3),
  Number.isNaN(r.scriptUsPerCall) ? '-' : r.scriptUsPerCall.toFixed(1),
  r.fanoutUs === null ? '-' : r.fanoutUs.toFixed(1),
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
