// Security: the whole member lifecycle as a Redis user with the smallest ACL muster
// needs (the README lists it), a missing permission named in the error, and TLS with a
// throwaway CA, trusted through ioredis' `tls` option and through NODE_EXTRA_CA_CERTS.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionError, group, join } from '../src/index.js';
import { acl } from './helpers/acl.js';
import { Proc } from './helpers/proc.js';
import { type RedisServer, freePort, sleep, startRedis, tempDir } from './helpers/redis.js';

const test = suite('security');

async function aclServer(): Promise<{ server: RedisServer; admin: Redis }> {
  const server = await startRedis();
  const admin = server.client();
  await admin.call('ACL', 'SETUSER', 'muster', ...acl());
  await admin.call('ACL', 'SETUSER', 'muster-noinfo', ...acl(['info']));
  return { server, admin };
}

test('the README ACL is enough for the whole lifecycle: join, peers, shard, mint, watch, node down, leave', async () => {
  const { server, admin } = await aclServer();
  const url = `redis://muster:secret@127.0.0.1:${server.port}`;
  try {
    const errors: Error[] = [];
    const a = await join({ redis: url, group: 'acl', nodeId: 'a', heartbeat: 50, timeout: 300 });
    a.on('error', (e) => errors.push(e));
    const downs: string[] = [];
    a.on('node down', (n) => {
      downs.push(n.id);
    });
    const g = group({ redis: url, group: 'acl', poll: 100 });
    const seen: string[] = [];
    g.on('+node', (n) => seen.push(n.id));
    await sleep(100);
    const b = await join({ redis: url, group: 'acl', nodeId: 'b', heartbeat: 50, timeout: 300 });
    assert.ok(a.snowflake().next() > 0n);
    assert.equal((await g.nodes()).map((n) => n.id).sort(), ['a', 'b']);
    assert.is((await g.shards()).length, 2);
    // b dies without a goodbye: a reaps it and gets node down.
    await (b as unknown as { teardown(): Promise<void> }).teardown();
    for (let i = 0; i < 100 && downs.length === 0; i++) await sleep(20);
    assert.equal(downs, ['b']);
    assert.ok(seen.includes('b'), 'the group view saw b join');
    // The administration of the group, as the same user.
    assert.equal((await g.setRange({ min: 0, max: 511 })).previous, { min: 0, max: 1023 });
    await a.leave();
    assert.is((await g.reset()).found, true);
    await g.close();
    assert.equal(errors, [], errors.map((e) => e.message).join('; '));
    assert.ok((await admin.keys('muster:{acl}:*')).length > 0);
  } finally {
    await server.stop();
  }
});

test('a missing permission is named: INFO', async () => {
  const { server } = await aclServer();
  try {
    let err: unknown;
    await join({ redis: `redis://muster-noinfo:secret@127.0.0.1:${server.port}`, timeout: 1000, heartbeat: 100 }).catch((e) => (err = e));
    assert.ok(err instanceof ConnectionError, String(err));
    assert.is((err as ConnectionError).code, 'NOPERM');
    assert.match((err as Error).message, /the command INFO/);
    assert.not.match((err as Error).message, /user_script/);
  } finally {
    await server.stop();
  }
});

/** A throwaway CA, a server certificate it signed for 127.0.0.1, and a TLS-only redis-server. */
async function tlsServer(): Promise<{ server: RedisServer; port: number; ca: string }> {
  const dir = tempDir('muster-tls-');
  const f = (n: string) => pathJoin(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=muster test CA', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr'));
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-out', f('server.crt'), '-extfile', f('ext'));
  const port = await freePort();
  const server = await startRedis({
    noPing: true,
    args: ['--port', '0', '--tls-port', String(port), '--tls-cert-file', f('server.crt'), '--tls-key-file', f('server.key'), '--tls-ca-cert-file', f('ca.crt'), '--tls-auth-clients', 'no'],
  });
  return { server, port, ca: f('ca.crt') };
}

test('TLS: untrusted certificate gives TLS at once; the CA as ioredis tls option or NODE_EXTRA_CA_CERTS works', async () => {
  const { server, port, ca } = await tlsServer();
  try {
    const url = `rediss://127.0.0.1:${port}`;
    const started = performance.now();
    let err: unknown;
    await join({ redis: url, timeout: 20_000, heartbeat: 1000 }).catch((e) => (err = e));
    assert.ok(err instanceof ConnectionError && err.code === 'TLS', String(err));
    assert.match((err as Error).message, /NODE_EXTRA_CA_CERTS/);
    assert.ok(performance.now() - started < 5000, 'not the member timeout');

    const m = await join({ redis: { host: '127.0.0.1', port, tls: { ca: readFileSync(ca) } }, group: 'tls', timeout: 2000, heartbeat: 200 });
    assert.ok(m.snowflake().next() > 0n);
    await m.leave();

    const p = new Proc({ redis: url, group: 'tls2', timeout: 2000, heartbeat: 200 }, { fixture: 'connect-once.js', env: { NODE_EXTRA_CA_CERTS: ca } });
    const out = await p.waitFor((e) => e.e === 'joined' || e.e === 'failed', 10_000, 'join over TLS');
    assert.is(out.e, 'joined', JSON.stringify(out));
    await p.exited;
  } finally {
    await server.stop();
  }
});

test.run();
