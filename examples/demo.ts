// The main job, end to end: three member processes join a group, one of them is killed,
// the survivors see it go and exactly one of them gets to clean up after it.
//
//   npm run demo                       # starts a private redis-server on a free port
//   REDIS_URL=redis://host:6379 npm run demo
//
// Exits 0 when every step was seen, 1 otherwise.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { decodeId, group as groupView } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const children: ChildProcess[] = [];
let tempDir: string | undefined;
let redisProc: ChildProcess | undefined;

function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
}
process.on('exit', cleanup);

/** Asks `procs` to stop, waits up to 3 s for them to exit, then kills what is left and waits for that. */
async function stop(procs: ChildProcess[]): Promise<void> {
  const running = procs.filter((c) => c.exitCode === null && c.signalCode === null);
  const exited = running.map((c) => new Promise((r) => c.once('exit', r)));
  for (const c of running) c.kill('SIGTERM');
  await Promise.race([Promise.all(exited), sleep(3000)]);
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(exited);
}

/** The members first (they leave while Redis is still there), then the private Redis. */
async function stopChildren(): Promise<void> {
  await stop(children.filter((c) => c !== redisProc));
  if (redisProc) await stop([redisProc]);
  cleanup();
}

// Ctrl-C or SIGTERM: the members leave, the private redis-server stops, the folder goes.
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(sig, () => {
    say(`\n${sig}: stopping the members and the private Redis.`);
    void stopChildren().then(() => process.exit(code));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => console.log(line);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function privateRedis(): Promise<string> {
  const port = await freePort();
  tempDir = mkdtempSync(join(tmpdir(), 'muster-demo-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tempDir], { stdio: 'ignore' });
  proc.once('error', () => {
    console.error('redis-server was not found. Install it (apt-get install -y redis-server) or set REDIS_URL.');
    process.exit(1);
  });
  children.push(proc);
  redisProc = proc;
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  for (let i = 0; i < 100; i++) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return url;
    } catch {
      probe.disconnect();
      await sleep(50);
    }
  }
  throw new Error('the private redis-server did not start');
}

interface Line {
  name: string;
  e: string;
  [k: string]: unknown;
}

const lines: Line[] = [];

function startMember(name: string, url: string, group: string): ChildProcess {
  // stdin is a pipe from the demo: when the demo dies, it closes and the member leaves.
  const child = spawn(process.execPath, [join(here, 'demo-member.js'), name, url, group], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  createInterface({ input: child.stdout! }).on('line', (raw) => {
    const ev = JSON.parse(raw) as Line;
    lines.push(ev);
    if (ev.e === 'joined') say(`  ${name} joined (shard ${String(ev.shard)})`);
    else if (ev.e === '+node') say(`  ${name} sees +node ${String(ev.id)}`);
    else if (ev.e === '-node') say(`  ${name} sees -node ${String(ev.id)} (${String(ev.reason)})`);
    else if (ev.e === 'node down') say(`  ${name} got node down for ${String(ev.id)}: cleaning up after it`);
    else if (ev.e === 'error') say(`  ${name} error: ${String(ev.message)}`);
  });
  return child;
}

async function waitFor(pred: (l: Line) => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (lines.some(pred)) return true;
    await sleep(20);
  }
  return false;
}

async function main(): Promise<number> {
  const url = process.env.REDIS_URL || (await privateRedis());
  const group = `demo-${process.pid}`;
  say(`muster demo: Redis at ${url}${process.env.REDIS_URL ? '' : ' (private, started for this demo)'}; group "${group}"`);
  say('');
  say('1. Three members join:');
  const names = ['alpha', 'bravo', 'charlie'];
  const procs = new Map<string, ChildProcess>();
  for (const name of names) {
    procs.set(name, startMember(name, url, group));
    if (!(await waitFor((l) => l.name === name && l.e === 'joined', 10_000))) throw new Error(`${name} did not join`);
  }
  await waitFor((l) => l.name === 'alpha' && l.e === '+node' && l.id === 'charlie', 3000);

  say('');
  say('2. Who is alive:');
  const probe = lines.length;
  procs.get('alpha')!.kill('SIGUSR2'); // ask alpha to print its view
  await waitFor((l) => lines.indexOf(l) >= probe && l.e === 'nodes', 3000);
  const view = lines.find((l, i) => i >= probe && l.e === 'nodes');
  for (const n of (view?.nodes as { id: string; shard: number }[]) ?? []) say(`  ${n.id}  shard ${n.shard}`);
  say('  three IDs from alpha, decoded (time, shard, sequence):');
  for (const id of (view?.ids as string[]) ?? []) {
    const d = decodeId(id);
    say(`  ${id}  ${new Date(d.timestamp).toISOString()}  shard ${d.workerId}  seq ${d.sequence}`);
  }

  say('');
  say('3. charlie is killed (SIGKILL, no goodbye):');
  const killedAt = Date.now();
  procs.get('charlie')!.kill('SIGKILL');
  const seen = await waitFor(
    () => ['alpha', 'bravo'].every((n) => lines.some((l) => l.name === n && l.e === '-node' && l.id === 'charlie')),
    10_000,
  );
  const tookMs = Date.now() - killedAt;
  const watcher = groupView({ redis: url, group });
  const charlie = (await watcher.shards()).find((x) => x.state === 'quarantined');
  await watcher.close();
  if (charlie) say(`  charlie's shard ${charlie.shard} is quarantined until ${new Date(charlie.quarantinedUntil!).toISOString()}: nobody mints under it before its lease has surely lapsed`);
  await sleep(1000); // time for a second `node down` to show up, if there were one
  const downs = lines.filter((l) => l.e === 'node down' && l.id === 'charlie');
  say('');
  say(`4. Result: both survivors saw charlie go: ${seen ? 'yes' : 'NO'} (within ${tookMs} ms; heartbeat 200 ms + timeout 1500 ms); ` +
    `node down delivered ${downs.length} time(s), to ${downs.map((d) => d.name).join(', ') || 'nobody'}.`);

  say('');
  say('5. alpha and bravo leave gracefully.');
  for (const name of ['alpha', 'bravo']) procs.get(name)!.kill('SIGTERM');
  await Promise.all(['alpha', 'bravo'].map((n) => new Promise((r) => procs.get(n)!.once('exit', r))));
  const ok = seen && downs.length === 1;
  say(ok ? 'Done.' : 'Something was not as expected.');
  return ok ? 0 : 1;
}

main().then(
  async (code) => {
    await stopChildren();
    process.exit(code);
  },
  async (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    await stopChildren();
    process.exit(1);
  },
);
