// The clusterix entry point (`redis-muster/clusterix`), tried against clusterix's
// documented behaviour: a cluster of three on one client with a key prefix, `nodes` as a
// promise of ids, a disposed node (timers stopped, no leave) reported down exactly once
// with its id, `nodes` after dispose, a duplicate nodeId refused, the option sets
// clusterix accepts (a heartbeat interval above a third of the timeout included), and
// real processes killed and frozen.

import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Clusterix from '../src/clusterix.js';
import { DuplicateNodeError, MemberClosedError, OptionRangeError, OptionTypeError } from '../src/index.js';
import { until } from './helpers/members.js';
import { Proc } from './helpers/proc.js';
import { type RedisServer, sleep, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('clusterix');
useRedis(test);

// clusterix's own test settings: poll and heartbeat every 100 ms, down after 200 ms.
const interval = 100;
const timeout = 2 * interval;
let cluster = 0;

function client(ctx: { redis: RedisServer }, keyPrefix = 'clusterix:test:'): Redis {
  const r = new Redis({ port: ctx.redis.port, host: '127.0.0.1', keyPrefix });
  r.on('error', () => undefined);
  return r;
}

async function three(redis: Redis, id: string): Promise<Clusterix[]> {
  return Promise.all(
    [1, 2, 3].map((i) => new Clusterix(redis, { id, pollInterval: interval, timeout }).initializeNode(`node${i}`, { heartbeatInterval: interval })),
  );
}

test('a cluster of three on one client: every instance sees the three nodes, keys under the client\'s prefix', async (ctx) => {
  const redis = client(ctx);
  const id = `c${cluster++}`;
  const nodes = await three(redis, id);
  try {
    for (const c of nodes) assert.equal(await c.nodes, ['node1', 'node2', 'node3']);
    assert.equal(nodes.map((c) => c.nodeId), ['node1', 'node2', 'node3']);
    const keys = await ctx.redis.client().keys('*');
    assert.ok(keys.length > 0 && keys.every((k) => k.startsWith(`clusterix:test:muster:{${id}}:`)), keys.join(', '));
    // Before initializeNode a new instance reads the cluster too.
    assert.equal(await new Clusterix(redis, { id }).nodes, ['node1', 'node2', 'node3']);
  } finally {
    for (const c of nodes) c.dispose();
    await sleep(50);
    redis.disconnect();
  }
});

test('a disposed node: still listed at once (no leave), then down exactly once with its id, and nodes works after dispose', async (ctx) => {
  const redis = client(ctx);
  const nodes = await three(redis, `c${cluster++}`);
  const downs: [number, string][] = [];
  nodes[0]!.on('node down', (id) => downs.push([0, id]));
  nodes[1]!.on('node down', (id) => downs.push([1, id]));
  try {
    nodes[2]!.dispose();
    assert.equal(await nodes[2]!.nodes, ['node1', 'node2', 'node3'], 'dispose() does not leave');
    assert.ok(await until(() => downs.length > 0, 5000), 'node down came');
    // clusterix's test waits twice the timeout; give any second report more than that.
    await sleep(6 * timeout);
    assert.is(downs.length, 1, JSON.stringify(downs));
    assert.is(downs[0]![1], 'node3');
    assert.type(downs[0]![1], 'string');
    for (const c of nodes) assert.equal(await c.nodes, ['node1', 'node2']);
  } finally {
    for (const c of nodes) c.dispose();
    await sleep(50);
    redis.disconnect();
  }
});

test('a duplicate nodeId is refused while its holder lives; the id is free again once the holder is down', async (ctx) => {
  const redis = client(ctx);
  const id = `c${cluster++}`;
  const nodes = await three(redis, id);
  const other = new Clusterix(redis, { id, timeout });
  try {
    const err = await other.initializeNode('node1', { heartbeatInterval: interval }).catch((e: unknown) => e);
    assert.instance(err, DuplicateNodeError);
    assert.instance(err, Error);
    assert.equal(await nodes[0]!.nodes, ['node1', 'node2', 'node3'], 'nothing changed');
    nodes[0]!.dispose();
    // After the old holder is reaped, the id can be taken again (the new life waits out the old one).
    assert.ok(await until(async () => !(await nodes[1]!.nodes).includes('node1'), 5000));
    await other.initializeNode('node1');
    assert.equal(await other.nodes, ['node2', 'node3', 'node1']);
    // Like join(): a second initializeNode() on the same instance is refused, as Member does.
    assert.instance(await other.initializeNode('node9').catch((e: unknown) => e), MemberClosedError);
  } finally {
    for (const c of [...nodes, other]) c.dispose();
    await sleep(50);
    redis.disconnect();
  }
});

test('options: clusterix\'s defaults and any heartbeat interval accepted (no false death), bad values refused with typed errors', async (ctx) => {
  const redis = client(ctx);
  const id = `c${cluster++}`;
  // A heartbeat interval above the timeout: clusterix would throw; muster beats at timeout / 3.
  const slow = await new Clusterix(redis, { id, timeout: 300, heartbeatInterval: 900 }).initializeNode('slow');
  const watcher = await new Clusterix(redis, { id, timeout: 300 }).initializeNode('watcher');
  const defaults = new Clusterix(redis, { id });
  const downs: string[] = [];
  watcher.on('node down', (n) => downs.push(n));
  slow.on('node down', (n) => downs.push(n));
  try {
    await defaults.initializeNode();
    assert.is(defaults.nodeId, `${hostname()}:${process.env.PORT}`, "clusterix's default nodeId");
    assert.ok(slow.member!.options.heartbeat <= 100, `internal heartbeat ${slow.member!.options.heartbeat}`);
    assert.is(defaults.member!.options.heartbeat, 333, 'default timeout 1000: a third of it');
    await sleep(1500);
    assert.equal(downs, [], 'nobody was taken for dead');
    assert.equal(await watcher.nodes, ['slow', 'watcher', defaults.nodeId]);

    assert.throws(() => new Clusterix(redis, { timeout: 'soon' as unknown as number }), (e: unknown) => e instanceof OptionTypeError && e.option === 'timeout');
    assert.throws(() => new Clusterix(redis, { timeout: 5 }), (e: unknown) => e instanceof OptionRangeError && e.option === 'timeout');
    assert.throws(() => new Clusterix(redis, { colour: 'red' } as never), (e: unknown) => e instanceof OptionTypeError && e.option === 'colour');
    assert.throws(() => new Clusterix({} as never), (e: unknown) => e instanceof OptionTypeError && e.option === 'redis');
    assert.throws(() => new Clusterix(redis, { id: 'a{b' }), (e: unknown) => e instanceof OptionRangeError || e instanceof OptionTypeError);
  } finally {
    for (const c of [slow, watcher, defaults]) c.dispose();
    await sleep(50);
    redis.disconnect();
  }
});

test('real processes: SIGKILL gives one node down among the survivors; a frozen node comes back with reconnect', async (ctx) => {
  const id = `c${cluster++}`;
  const config = (nodeId: string) => ({ port: ctx.redis.port, keyPrefix: 'app:', options: { id, timeout: 400, heartbeatInterval: 100 }, nodeId });
  const procs = ['p1', 'p2', 'p3'].map((n) => new Proc(config(n), { fixture: 'clusterix-node.js' }));
  try {
    for (const p of procs) await p.waitFor((e) => e.e === 'joined', 15_000, 'join');
    await procs[2]!.kill();
    const down = (e: { e: string; id?: unknown }) => e.e === 'node down' && e.id === 'p3';
    assert.ok(await until(() => procs[0]!.count(down) + procs[1]!.count(down) > 0, 5000), 'p3 reported down');
    await sleep(1200);
    assert.is(procs[0]!.count(down) + procs[1]!.count(down), 1, 'exactly once');

    // Frozen past the timeout: the other reports it down, and it comes back on its own.
    procs[1]!.signal('SIGSTOP');
    const p2down = (e: { e: string; id?: unknown }) => e.e === 'node down' && e.id === 'p2';
    assert.ok(await until(() => procs[0]!.count(p2down) > 0, 5000), 'p2 reported down while frozen');
    procs[1]!.signal('SIGCONT');
    await procs[1]!.waitFor((e) => e.e === 'reconnect', 5000, 'reconnect');
    procs[0]!.send('nodes');
    const listed = await procs[0]!.waitFor((e) => e.e === 'nodes', 5000, 'nodes');
    assert.equal(listed.ids, ['p1', 'p2']);
  } finally {
    for (const p of procs) p.signal('SIGCONT');
    await Promise.all(procs.map((p) => p.kill()));
  }
});

test.run();
