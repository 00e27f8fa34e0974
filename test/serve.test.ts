// `muster serve` as installed (the built bin, a child process) against a real Redis:
// every endpoint and its errors, no ID without a surely valid lease, a handler failing
// under a Redis outage without killing the process, metrics, graceful SIGTERM; and
// `registerMetrics` into a registry of the caller's own.

import { Registry } from 'prom-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { METRIC_NAMES, group, join, registerMetrics } from '../src/index.js';
import { FAST, until } from './helpers/members.js';
import { type RedisServer, sleep, startRedis } from './helpers/redis.js';
import { type Served, serve } from './helpers/serve.js';

const test = suite<{ redis: RedisServer }>('serve');
test.before.each(async (ctx) => {
  ctx.redis = await startRedis();
});
test.after.each(async (ctx) => {
  await ctx.redis.stop();
});

async function get(base: string, path: string, method = 'GET'): Promise<{ status: number; body: any; text: string; type: string }> {
  const r = await fetch(base + path, { method });
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: r.status, body, text, type: r.headers.get('content-type') ?? '' };
}

async function stop(s: Served): Promise<number | null> {
  s.child.kill('SIGTERM');
  return s.exited;
}

test('endpoints: IDs, sequences, nodes, health, metrics, page; 400, 404, 405', async ({ redis }) => {
  const s = await serve(redis.url, ['--group', 'svc', '--node-id', 'api-1']);
  try {
    const one = await get(s.base, '/id');
    assert.is(one.status, 200);
    assert.match(one.body.id, /^\d+$/);
    const many = await get(s.base, '/ids?n=4096');
    assert.is(many.status, 200);
    const ids: string[] = many.body.ids;
    assert.is(ids.length, 4096);
    assert.is(new Set([...ids, one.body.id]).size, 4097);
    for (let i = 1; i < ids.length; i++) assert.ok(BigInt(ids[i]!) > BigInt(ids[i - 1]!));
    for (const bad of ['', '?n=0', '?n=4097', '?n=abc', '?n=1.5', '?n=-1', '?n=']) {
      const r = await get(s.base, '/ids' + bad);
      assert.is(r.status, 400, bad);
      assert.match(r.body.error, 'n must be a whole number from 1 to 4096');
    }
    assert.is((await get(s.base, '/sequences/invoice/next')).body.value, 1);
    assert.is((await get(s.base, '/sequences/invoice/next')).body.value, 2);
    const badName = await get(s.base, '/sequences/' + encodeURIComponent('a\nb') + '/next');
    assert.is(badName.status, 400);
    assert.match(badName.body.error, '`name`');
    const nodes = await get(s.base, '/nodes');
    assert.equal(nodes.body.nodes.map((n: { id: string }) => n.id), ['api-1']);
    const health = await get(s.base, '/healthz');
    assert.is(health.status, 200);
    assert.is(health.body.leaseValid, true);
    const metrics = await get(s.base, '/metrics');
    assert.is(metrics.status, 200);
    assert.match(metrics.type, 'text/plain');
    for (const n of METRIC_NAMES) assert.match(metrics.text, `muster_${n}`);
    assert.match(metrics.text, /muster_ids_minted_total\{group="svc",node="api-1"\} 4097/);
    assert.match(metrics.text, /muster_lease_valid\{group="svc",node="api-1"\} 1/);
    const page = await get(s.base, '/');
    assert.match(page.type, 'text/html');
    assert.match(page.text, 'EventSource');
    assert.is((await get(s.base, '/nope')).status, 404);
    assert.is((await get(s.base, '/%E0%A4%A')).status, 400);
    assert.is((await get(s.base, '/id', 'POST')).status, 405);
  } finally {
    assert.is(await stop(s), 0);
  }
});

test('sequence names: only those listed with --sequences (404), at most --max-sequences distinct names (429), nothing kept for refused ones', async ({ redis }) => {
  const listed = await serve(redis.url, ['--group', 'svc-names', '--node-id', 'api-1', '--sequences', 'invoice, ticket']);
  try {
    assert.is((await get(listed.base, '/sequences/invoice/next')).body.value, 1);
    assert.is((await get(listed.base, '/sequences/ticket/next')).body.value, 1);
    const other = await get(listed.base, '/sequences/other/next');
    assert.is(other.status, 404);
    assert.match(other.body.error, 'serves "invoice", "ticket"');
  } finally {
    assert.is(await stop(listed), 0);
  }
  const capped = await serve(redis.url, ['--group', 'svc-cap', '--node-id', 'api-2', '--max-sequences', '2']);
  try {
    for (const n of ['a', 'b', 'a']) assert.is((await get(capped.base, `/sequences/${n}/next`)).status, 200, n);
    const third = await get(capped.base, '/sequences/c/next');
    assert.is(third.status, 429);
    assert.match(third.body.error, 'at most 2 sequence names');
    assert.is((await get(capped.base, '/sequences/b/next')).body.value, 2, 'names already served go on');
    const fields = await redis.client().hkeys('muster:{svc-cap}:seqs');
    assert.ok(!fields.some((f) => f.endsWith(':c')), `nothing kept for the refused name: ${fields.join(', ')}`);
  } finally {
    assert.is(await stop(capped), 0);
  }
  const bad = await serve(redis.url, ['--max-sequences', '0']).catch((e: unknown) => e);
  assert.match(String(bad), 'max-sequences');
});

test('no ID without a surely valid lease: Redis frozen, /healthz and /id 503, the service lives and recovers', async ({ redis }) => {
  const s = await serve(redis.url, ['--group', 'svc', '--heartbeat', '100ms', '--timeout', '1s']);
  try {
    assert.is((await get(s.base, '/healthz')).status, 200);
    redis.proc!.kill('SIGSTOP');
    assert.ok(await until(async () => (await get(s.base, '/healthz')).status === 503, 5000), 'healthz turns 503');
    const id = await get(s.base, '/id');
    assert.is(id.status, 503);
    assert.is(id.body.code, 'LEASE_EXPIRED');
    assert.is((await get(s.base, '/ids?n=10')).status, 503);
    // A handler whose Redis call fails answers an error; the process lives on.
    const nodes = await get(s.base, '/nodes');
    assert.is(nodes.status, 503);
    assert.ok(nodes.body.error.length > 0);
    const seq = await get(s.base, '/sequences/x/next');
    assert.is(seq.status, 503);
    assert.is(s.child.exitCode, null);
    redis.proc!.kill('SIGCONT');
    assert.ok(await until(async () => (await get(s.base, '/healthz')).status === 200, 10_000), 'healthz back to 200');
    assert.is((await get(s.base, '/id')).status, 200);
  } finally {
    redis.proc?.kill('SIGCONT');
    assert.is(await stop(s), 0);
  }
});

test('SIGTERM: the service leaves the group (others see it leave, not time out) and exits 0', async ({ redis }) => {
  const s = await serve(redis.url, ['--group', 'svc', '--node-id', 'api-2']);
  const g = group({ redis: redis.url, group: 'svc' });
  const gone: string[] = [];
  g.on('-node', (n) => gone.push(`${n.id}:${n.reason}`));
  try {
    await g.watching();
    const events = await fetch(s.base + '/events');
    assert.match(events.headers.get('content-type') ?? '', 'text/event-stream');
    const reading = events.body!.getReader().read();
    assert.match(new TextDecoder().decode((await reading).value), 'retry');
    assert.is(await stop(s), 0);
    assert.ok(await until(() => gone.length > 0, 5000));
    assert.equal(gone, ['api-2:left']);
    assert.match(s.out(), 'left the group, stopped');
  } finally {
    s.child.kill('SIGKILL');
    await g.close();
  }
});

test('Redis unreachable: one line naming the failure, exit 1; a bad --port is bad usage (2)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const bin = fileURLToPath(new URL('../../dist/esm/cli/main.js', import.meta.url));
  const down = spawnSync(process.execPath, [bin, 'serve', '--port', '0', '--redis', 'redis://127.0.0.1:1'], { encoding: 'utf8', timeout: 20_000 });
  assert.is(down.status, 1, down.stderr);
  assert.match(down.stderr, /CONNECT|refused|ECONNREFUSED/i);
  assert.not.match(down.stderr, /\n\s+at /, 'no stack trace');
  const bad = spawnSync(process.execPath, [bin, 'serve', '--port', 'http'], { encoding: 'utf8', timeout: 20_000 });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, '--port must be a port number');
});

test('registerMetrics into a registry of your own; the function it resolves unregisters them', async ({ redis }) => {
  const m = await join({ redis: redis.url, group: 'mx', ...FAST });
  const registry = new Registry();
  try {
    const off = await registerMetrics(m, { registry, prefix: 'app_muster_' });
    m.snowflake().nextBatch(10);
    await sleep(200);
    const text = await registry.metrics();
    for (const n of METRIC_NAMES) assert.match(text, `app_muster_${n}`);
    assert.match(text, /app_muster_ids_minted_total\{group="mx",node="[^"]+"\} 10/);
    assert.match(text, /app_muster_members\{group="mx",node="[^"]+"\} 1/);
    assert.ok(/app_muster_heartbeat_seconds_count [1-9]/.test(text), 'heartbeats observed');
    off();
    assert.is(await registry.metrics(), '\n');
  } finally {
    await m.leave();
  }
});

test.run();
