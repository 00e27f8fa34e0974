// The `muster` command as installed (package.json `bin`, the built dist), run as a child
// process: help and exit codes, status (tables and JSON, reading only), watch (live lines
// until SIGINT), decode, and a clear one-line error when Redis cannot be reached.

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Snowflake, join } from '../src/index.js';
import { FAST, until } from './helpers/members.js';
import { type RedisServer, freePort, track, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('cli');
useRedis(test);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../dist/esm/cli/main.js', import.meta.url));

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<Run>; out: () => string } {
  const child = track(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, REDIS_URL: '', ...env } }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code, out, err })));
  return { child, done, out: () => out };
}

const run = (args: string[], env?: NodeJS.ProcessEnv) => start(args, env).done;

test('help for every command, exit 2 on bad usage', async () => {
  const main = await run(['--help']);
  assert.is(main.code, 0);
  for (const c of ['status', 'watch', 'decode', 'serve']) assert.match(main.out, c);
  for (const c of ['status', 'watch', 'decode', 'serve']) {
    const r = await run([c, '--help']);
    assert.is(r.code, 0, c);
    assert.match(r.out, `Usage: muster ${c}`);
  }
  assert.is((await run([])).code, 2, 'no command');
  const unknown = await run(['frobnicate']);
  assert.is(unknown.code, 2);
  assert.match(unknown.err, 'unknown command "frobnicate"');
  const badOption = await run(['status', '--colour']);
  assert.is(badOption.code, 2);
  assert.match(badOption.err, '--colour');
  assert.is((await run(['decode'])).code, 2, 'decode without an ID');
  const badId = await run(['decode', 'x12']);
  assert.is(badId.code, 2);
  assert.match(badId.err, 'id');
});

test('status: members and shards as tables and as JSON, and nothing in the group changes', async (ctx) => {
  const a = await join({ redis: ctx.redis.url, group: 'cli', nodeId: 'alpha', meta: { url: 'http://a' }, ...FAST });
  const b = await join({ redis: ctx.redis.url, group: 'cli', nodeId: 'bravo', ...FAST });
  try {
    const admin = ctx.redis.client();
    // The members' heartbeats write values; what the command could add or remove are keys.
    const keys = (await admin.keys('muster:{cli}:*')).sort();
    const table = await run(['status', '--redis', ctx.redis.url, '--group', 'cli']);
    assert.is(table.code, 0, table.err);
    assert.match(table.out, '2 members');
    assert.match(table.out, /alpha\s+\S+\s+\d+\s+\d+ ms ago\s+\d+s ago\s+\{"url":"http:\/\/a"\}/);
    const beatAgo = Number(/alpha\s+\S+\s+\d+\s+(\d+) ms ago/.exec(table.out)![1]);
    assert.ok(beatAgo <= FAST.timeout, `last heartbeat ${beatAgo} ms ago, within the timeout`);
    assert.match(table.out, /bravo/);
    assert.match(table.out, /SHARD\s+STATE\s+HOLDER/);
    assert.match(table.out, `held   alpha (${a.life})`);
    const json = await run(['status', '--group', 'cli', '--json'], { REDIS_URL: ctx.redis.url });
    assert.is(json.code, 0, json.err);
    const parsed = JSON.parse(json.out) as { now: number; nodes: { id: string; shard: number; lastBeatAt: number }[]; shards: { shard: number; state: string }[] };
    for (const n of parsed.nodes) assert.ok(parsed.now - n.lastBeatAt >= 0 && parsed.now - n.lastBeatAt <= FAST.timeout, `${n.id} beat recently`);
    assert.equal(parsed.nodes.map((n) => n.id).sort(), ['alpha', 'bravo']);
    assert.equal(parsed.shards.filter((s) => s.state === 'held').map((s) => s.shard).sort(), [a.shard, b.shard].sort());
    assert.equal((await admin.keys('muster:{cli}:*')).sort(), keys, 'no key created or removed');
    const empty = await run(['status', '--redis', ctx.redis.url, '--group', 'nobody', '--json']);
    assert.is(empty.code, 0);
    assert.equal(await admin.keys('muster:{nobody}:*'), [], 'a status of a missing group creates nothing');
  } finally {
    await a.leave();
    await b.leave();
  }
});

test('watch: the status, then +node and -node lines as they happen; SIGINT ends it with 0', async (ctx) => {
  const a = await join({ redis: ctx.redis.url, group: 'live', nodeId: 'a', ...FAST });
  const w = start(['watch', '--redis', ctx.redis.url, '--group', 'live', '--poll', '200']);
  try {
    assert.ok(await until(() => w.out().includes('watching'), 5000), w.out());
    assert.match(w.out(), '1 member');
    const c = await join({ redis: ctx.redis.url, group: 'live', nodeId: 'c', ...FAST });
    assert.ok(await until(() => /\+c life \S+ shard \d+/.test(w.out()), 3000), w.out());
    await c.leave();
    assert.ok(await until(() => /-c life \S+ \(left\)/.test(w.out()), 3000), w.out());
    w.child.kill('SIGINT');
    const r = await w.done;
    assert.is(r.code, 0, r.err);
  } finally {
    w.child.kill('SIGKILL');
    await a.leave();
  }
});

test('decode: time, shard and sequence, with the default layout and with --layout and --epoch', async () => {
  const id = new Snowflake({ workerId: 7 }).next();
  const r = await run(['decode', String(id)]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, 'shard 7');
  const t = Date.parse(/time (\S+)/.exec(r.out)![1]!);
  assert.ok(Math.abs(t - Date.now()) < 10_000, r.out);
  const other = new Snowflake({ workerId: 12, epoch: '2024-01-01' }).next();
  const j = await run(['decode', String(other), '--layout', 'twitter', '--epoch', '2024-01-01', '--json']);
  assert.is(j.code, 0, j.err);
  const d = JSON.parse(j.out) as { shard: number; time: string; sequence: number };
  assert.is(d.shard, 12);
  assert.ok(Math.abs(Date.parse(d.time) - Date.now()) < 10_000);
});

test('Redis unreachable: exit 1 with one clear line, no stack trace', async () => {
  const port = await freePort();
  const r = await run(['status', '--redis', `redis://127.0.0.1:${port}`, '--group', 'x']);
  assert.is(r.code, 1);
  assert.match(r.err, `cannot reach Redis at 127.0.0.1:${port}`);
  assert.not.match(r.err, /\n\s+at /, 'no stack trace');
});

test.run();
