// Connections that cannot work fail clearly and fast: within about one connect attempt
// (not the member's timeout), with a typed error whose code says which, the original
// error as `cause`, nothing written, and no process kept alive.

import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionError, MusterError, join } from '../src/index.js';
import { type Ev, Proc } from './helpers/proc.js';
import { freePort, startCluster, startRedis } from './helpers/redis.js';

const test = suite('connection');
// A long member timeout: failing "fast" must mean well under it.
const TIMEOUT = 20_000;

/** Joins in a child process; resolves with its outcome once the process exited by itself. */
async function joinInChild(options: Record<string, unknown>, env: Record<string, string> = {}): Promise<Ev & { exitedAfterMs: number }> {
  const p = new Proc({ timeout: TIMEOUT, heartbeat: 1000, ...options }, { fixture: 'connect-once.js', env });
  const out = await p.waitFor((e) => e.e === 'failed' || e.e === 'joined', TIMEOUT, 'the join outcome');
  const exited = await Promise.race([p.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 3000))]);
  if (!exited) await p.kill();
  assert.ok(exited, `the process exited by itself after ${out.e} (${JSON.stringify(out)})`);
  return { ...out, exitedAfterMs: Date.now() - out.t };
}

test('a refused port: CONNECT with ECONNREFUSED as cause, fast, and the process exits', async () => {
  const port = await freePort();
  const r = await joinInChild({ redis: `redis://127.0.0.1:${port}` });
  assert.is(r.e, 'failed');
  assert.is(r.code, 'CONNECT');
  assert.is(r.name, 'ConnectionError');
  assert.is(r.cause, 'ECONNREFUSED');
  assert.match(String(r.message), new RegExp(`127\\.0\\.0\\.1:${port}.*check the host and port`));
  assert.ok(Number(r.ms) < TIMEOUT / 4, `rejected after ${Math.round(Number(r.ms))} ms, not the member's timeout`);
});

test('an unknown host: CONNECT naming the host lookup failure', async () => {
  const r = await joinInChild({ redis: 'redis://no-such-host.invalid:6379' });
  assert.is(r.code, 'CONNECT');
  assert.ok(r.cause === 'ENOTFOUND' || r.cause === 'EAI_AGAIN', String(r.cause));
  assert.match(String(r.message), /no-such-host\.invalid/);
  assert.ok(Number(r.ms) < TIMEOUT / 4);
});

test('a wrong password, a missing password: AUTH at once, under default and short timeouts', async () => {
  const server = await startRedis({ args: ['--requirepass', 'right'] });
  try {
    for (const [url, timeout] of [
      [`redis://:wrong@127.0.0.1:${server.port}`, TIMEOUT],
      [`redis://:wrong@127.0.0.1:${server.port}`, 300],
      [`redis://127.0.0.1:${server.port}`, TIMEOUT],
    ] as const) {
      const r = await joinInChild({ redis: url, timeout, heartbeat: Math.floor(timeout / 5) });
      assert.is(r.code, 'AUTH', `${url} with timeout ${timeout}: ${JSON.stringify(r)}`);
      assert.match(String(r.cause), /WRONGPASS|NOAUTH/);
      assert.match(String(r.message), /credentials/);
      assert.ok(Number(r.ms) < Math.max(timeout / 2, 150), `after ${Math.round(Number(r.ms))} ms`);
    }
    const admin = new Redis({ port: server.port, password: 'right' });
    assert.is(await admin.dbsize(), 0, 'nothing written');
    admin.disconnect();
  } finally {
    await server.stop();
  }
});

test('a database the server does not have: CONFIG, and nothing written to database 0', async () => {
  const server = await startRedis();
  try {
    const r = await joinInChild({ redis: `${server.url}/99` });
    assert.is(r.code, 'CONFIG');
    assert.match(String(r.message), /database 99 does not exist/);
    const admin = server.client();
    const keyspace = await admin.info('keyspace');
    assert.not.match(keyspace, /db\d+:keys/, `nothing written: ${keyspace}`);
    // A database it has works.
    const ok = await joinInChild({ redis: `${server.url}/3`, group: 'db3' });
    assert.is(ok.e, 'joined');
    assert.match(await admin.info('keyspace'), /db3:keys/);
  } finally {
    await server.stop();
  }
});

test('the URL of one Redis Cluster node works for every group (a Cluster client takes over); /1 is refused', async () => {
  const cluster = await startCluster();
  try {
    const url = `redis://127.0.0.1:${cluster.nodes[0]!.port}`;
    for (const group of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const m = await join({ redis: url, group, timeout: 2000, heartbeat: 200 });
      assert.ok(m.snowflake().next() > 0n, group);
      assert.equal((await m.nodes()).length, 1);
      await m.leave();
    }
    let err: unknown;
    await join({ redis: `${url}/1`, timeout: 2000, heartbeat: 200 }).catch((e) => (err = e));
    assert.ok(err instanceof ConnectionError && err.code === 'CONFIG', String(err));
    assert.match((err as Error).message, /Cluster has only database 0/);
  } finally {
    await cluster.stop();
  }
});

test('ConnectionError is a MusterError with the original error as cause', async () => {
  let err: unknown;
  await join({ redis: `redis://127.0.0.1:${await freePort()}` }).catch((e) => (err = e));
  assert.ok(err instanceof MusterError && err instanceof ConnectionError);
  assert.ok((err as Error).cause instanceof Error);
});

test.run();


