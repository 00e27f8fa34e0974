// Starts real redis-server processes on free loopback ports, in temporary folders, with
// nothing kept on disk; stops them when asked and, whatever happens, when the process exits.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';

const children = new Set<ChildProcess>();
const folders = new Set<string>();

process.on('exit', () => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of folders) rmSync(d, { recursive: true, force: true });
});
// SIGTERM and SIGINT end the process without 'exit' handlers unless someone listens:
// exit properly, so the servers and members started here are stopped too.
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => process.exit(sig === 'SIGTERM' ? 143 : 130));
}

/** A fresh temporary folder, removed when the test process exits (or earlier by the caller). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.add(dir);
  return dir;
}

/** Tracks a child process so it is killed when the test process exits. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

let checked = false;
function requireRedisServer(): void {
  if (checked) return;
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error) {
    throw new Error(
      'redis-server was not found on PATH. The tests start their own Redis servers from the system binaries; ' +
        'install them with `apt-get install -y redis-server` (Debian/Ubuntu) and run the tests again.',
    );
  }
  checked = true;
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it back, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** True when something on `port` answers PING with PONG. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      // A server that wants a password answers -NOAUTH: it is up too.
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'));
    });
  });
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The running process (replaced by `start()`). */
  readonly proc: ChildProcess | undefined;
  /** A plain client for inspecting the server from a test; closed by `stop()`. */
  client(): Redis;
  /** Stops the server (SIGKILL by default, so nothing is saved). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port; with the flags used, it comes back empty. */
  start(): Promise<void>;
}

export interface StartOptions {
  /** Extra redis-server arguments, e.g. ['--replicaof', '127.0.0.1', '6380']. */
  args?: string[];
  /** A fixed port (default: a free one). */
  port?: number;
  /** A config file to start with (for Sentinel). */
  configFile?: string;
  /** Do not wait for PONG (e.g. for TLS-only servers). */
  noPing?: boolean;
  /** Extra environment of the server process (e.g. LD_PRELOAD of a clock shim). */
  env?: Record<string, string>;
}

/** Starts a redis-server on a free loopback port in a fresh temporary folder. */
export async function startRedis(options: StartOptions = {}): Promise<RedisServer> {
  requireRedisServer();
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'muster-redis-'));
  folders.add(dir);
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];

  const start = async () => {
    const args = [
      ...(options.configFile ? [options.configFile] : []),
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--logfile', join(dir, 'redis.log'),
      ...(options.args ?? []),
    ];
    proc = track(spawn('redis-server', args, { stdio: 'ignore', env: { ...process.env, ...options.env } }));
    const p = proc;
    let exited = false;
    p.once('exit', () => (exited = true));
    for (let i = 0; i < 200; i++) {
      if (exited) throw new Error(`redis-server on port ${port} exited at start; see ${join(dir, 'redis.log')}`);
      if (options.noPing ? i > 5 : await ping(port)) return;
      await sleep(25);
    }
    throw new Error(`redis-server on port ${port} did not answer PING within 5 s`);
  };

  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get proc() {
      return proc;
    },
    client() {
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1 });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    async stop(signal) {
      for (const c of clients.splice(0)) c.disconnect();
      await stop(signal);
    },
    start,
  };
}

/** Registers hooks that give every test of `suite` the same fresh server as `ctx.redis`. */
export function useRedis<T extends { redis: RedisServer }>(suite: {
  before(fn: (ctx: T) => Promise<void>): void;
  after(fn: (ctx: T) => Promise<void>): void;
}): void {
  suite.before(async (ctx) => {
    ctx.redis = await startRedis();
  });
  suite.after(async (ctx) => {
    await ctx.redis.stop();
  });
}

export interface RedisCluster {
  readonly nodes: RedisServer[];
  /** A Cluster client seeded with every node still running; closed by `stop()`. */
  client(): Cluster;
  stop(): Promise<void>;
}

/** Starts three masters (and `replicas` replicas of each) and joins them into a Redis Cluster. */
export async function startCluster(replicas = 0): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < 3 * (1 + replicas); i++) {
    const port = await freePort();
    nodes.push(
      await startRedis({
        port,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
      }),
    );
  }
  const r = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stdout}${r.stderr}`);
  for (let i = 0; i < 200; i++) {
    let ok = 0;
    for (const n of nodes) {
      const c = n.client();
      if (/cluster_state:ok/.test(String(await c.cluster('INFO').catch(() => '')))) ok++;
      c.disconnect();
    }
    if (ok === nodes.length) break;
    await sleep(50);
  }
  // Every master with its replicas synced (and so listed by CLUSTER SLOTS).
  for (let i = 0; replicas > 0 && i < 400; i++) {
    let synced = 0;
    for (const n of nodes) {
      const c = n.client();
      const info = String(await c.info('replication').catch(() => ''));
      if (/role:slave/.test(info) ? /master_link_status:up/.test(info) : /slave0:.*state=online/.test(info)) synced++;
      c.disconnect();
    }
    if (synced === nodes.length) break;
    await sleep(50);
  }
  const clients: Cluster[] = [];
  return {
    nodes,
    client() {
      const running = nodes.filter((n) => n.proc?.exitCode === null && n.proc.signalCode === null);
      const c = new Cluster(running.map((n) => ({ host: '127.0.0.1', port: n.port })));
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** Waits until `master` reports a replica in state online (synced, acknowledging). */
export async function replicaOnline(master: RedisServer, ms = 10_000): Promise<void> {
  const c = master.client();
  try {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
      if (/slave0:.*state=online/.test(await c.info('replication'))) return;
    }
    throw new Error(`no replica of port ${master.port} came online`);
  } finally {
    c.disconnect();
  }
}

export interface SentinelGroup {
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinels: { port: number; proc: ChildProcess }[];
  readonly name: string;
  /** The address the sentinels give for the master now. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** A master, one replica and three sentinels watching them (quorum 2). */
export async function startSentinels(): Promise<SentinelGroup> {
  const master = await startRedis();
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  await replicaOnline(master);
  const name = 'mymaster';
  const sentinels: { port: number; proc: ChildProcess }[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'muster-sentinel-'));
    folders.add(dir);
    const file = join(dir, 'sentinel.conf');
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        '',
      ].join('\n'),
    );
    const proc = track(spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }));
    sentinels.push({ port, proc });
  }
  const ask = async (port: number, ...args: string[]) => {
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return await c.call('SENTINEL', ...args);
    } catch {
      return undefined;
    } finally {
      c.disconnect();
    }
  };
  // Settled: every sentinel knows the replica and the two other sentinels.
  for (let i = 0; i < 300; i++) {
    let ready = 0;
    for (const s of sentinels) {
      const reps = (await ask(s.port, 'REPLICAS', name)) as unknown[] | undefined;
      const sens = (await ask(s.port, 'SENTINELS', name)) as unknown[] | undefined;
      if (reps?.length === 1 && sens?.length === 2) ready++;
    }
    if (ready === 3) break;
    await sleep(100);
  }
  return {
    master,
    replica,
    sentinels,
    name,
    async masterPort() {
      const addr = (await ask(sentinels[0]!.port, 'GET-MASTER-ADDR-BY-NAME', name)) as string[] | undefined;
      return Number(addr?.[1]);
    },
    async stop() {
      for (const s of sentinels) s.proc.kill('SIGKILL');
      await replica.stop();
      await master.stop();
    },
  };
}
