// The examples run as a user would run them, against a Redis started for the test.

import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type RedisServer, ping, sleep, tempDir, track, useRedis } from './helpers/redis.js';

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples');
const test = suite<{ redis: RedisServer }>('examples');

useRedis(test);

function run(file: string, env: NodeJS.ProcessEnv, args: string[] = [], timeoutMs = 30_000) {
  const child = track(spawn(process.execPath, [join(EXAMPLES, file), ...args], { env: { ...process.env, FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
  return { child, done, output: () => out };
}

test('demo: three members, one killed, node down exactly once, exit 0', async ({ redis }) => {
  const { code, out } = await run('demo.js', { REDIS_URL: redis.url }).done;
  assert.is(code, 0, out);
  assert.match(out, /node down delivered 1 time\(s\)/);
  assert.not.match(out, /at .*\.js:\d+/, 'no stack trace on the happy path');
});

test('demo with its own Redis, SIGTERM while it runs: members leave, Redis stops, nothing is left running', async () => {
  const r = run('demo.js', { REDIS_URL: '' });
  const joined = async () => {
    for (let i = 0; i < 300 && (r.output().match(/ joined \(shard/g)?.length ?? 0) < 3; i++) await sleep(50);
  };
  await joined();
  const port = Number(/Redis at redis:\/\/127\.0\.0\.1:(\d+)/.exec(r.output())?.[1]);
  assert.ok(port > 0, r.output());
  r.child.kill('SIGTERM');
  const { code, out } = await r.done;
  assert.is(code, 143, out);
  assert.match(out, 'SIGTERM: stopping the members and the private Redis.');
  assert.not.ok(await ping(port), 'the private redis-server stopped');
  const left = spawnSync('pgrep', ['-f', `demo-${r.child.pid}`], { encoding: 'utf8' });
  assert.is(left.stdout.trim(), '', 'no member process left');
});

test('cleanup: the dead instance’s sessions are adopted once', async ({ redis }) => {
  const { code, out } = await run('cleanup.js', { REDIS_URL: redis.url }).done;
  assert.is(code, 0, out);
  assert.is(out.match(/adopted 2 of its sessions/g)?.length, 1, out);
  assert.match(out, /c holds: nothing/);
});

test('node-cluster: every worker its own shard, IDs unique across workers, a replaced worker gets a shard', async ({ redis }) => {
  const { code, out } = await run('node-cluster.js', { REDIS_URL: redis.url }).done;
  assert.is(code, 0, out);
  const shards = [...out.matchAll(/worker \d+: shard (\d+)/g)].map((m) => m[1]);
  assert.is(shards.length, 4, out);
  assert.is(new Set(shards).size, 4, out);
  assert.match(out, /replacement worker \d+ got shard \d+, one of its own/);
  assert.match(out, '80000 IDs from 4 workers, 80000 distinct: all unique');
  assert.match(out, 'all workers left');
});

test('socketio: a killed socket.io server\'s rooms are removed by one survivor, once', async ({ redis }) => {
  const { code, out } = await run('socketio/main.js', { REDIS_URL: redis.url }, [], 60_000).done;
  assert.is(code, 0, out);
  assert.match(out, "ok   s2's rooms were removed 1 time(s)");
  assert.match(out, 'ok   lobby has 4 clients, none of s2');
  assert.match(out, 'ok   a message said on s1 reached all 6 lobby clients');
  assert.is(out.match(/node down s2: removed its 4 room entries/g)?.length, 1, out);
  assert.match(out, 'socket.io example: done');
});

test('local-ids: IDs without Redis', async () => {
  // Its pool lives in the temporary folder: point that at one the test removes.
  const { code, out } = await run('local-ids.js', { TMPDIR: tempDir('muster-tmp-') }).done;
  assert.is(code, 0, out);
  assert.match(out, /a batch of 4096: 4096/, out);
});

test('order-ids: an HTTP service handing out IDs, leaving on SIGTERM', async ({ redis }) => {
  const r = run('order-ids.js', { REDIS_URL: redis.url });
  let url = '';
  for (let i = 0; i < 100 && !url; i++) {
    url = /(http:\/\/127\.0\.0\.1:\d+\/orders)/.exec(r.output())?.[1] ?? '';
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.ok(url, r.output());
  const a = (await (await fetch(url, { method: 'POST' })).json()) as { id: string };
  const b = (await (await fetch(url, { method: 'POST' })).json()) as { id: string };
  assert.ok(BigInt(b.id) > BigInt(a.id));
  r.child.kill('SIGTERM');
  assert.is((await r.done).code, 0);
});

test.run();
