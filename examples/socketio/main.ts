// socket.io with muster, end to end: three socket.io servers share rooms through the
// Redis adapter; one is killed; the survivor that gets `node down` removes the dead
// server's clients from the room lists in Redis, once.
//
//   REDIS_URL=redis://127.0.0.1:6379 node build/examples/socketio/main.js
//
// Exits 0 when the rooms of the killed server were removed exactly once.

import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Socket, io as connect } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const group = `socketio-${process.pid}`;
const key = (k: string) => `sio:${group}:${k}`;
const servers = new Map<string, { proc: ChildProcess; port: number }>();
const clients: Socket[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redis = new Redis(url, { maxRetriesPerRequest: 1 });

function killAll() {
  for (const c of clients) c.disconnect();
  for (const { proc } of servers.values()) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));

function startServer(name: string): Promise<void> {
  const proc = spawn(process.execPath, [join(here, 'server.js')], { env: { ...process.env, REDIS_URL: url, NAME: name, GROUP: group, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      console.log(`  [${name}] ${line}`);
      const m = /ready on port (\d+)/.exec(line);
      if (m) {
        servers.set(name, { proc, port: Number(m[1]) });
        resolve();
      }
    });
  });
}

async function client(server: string, rooms: string[]): Promise<Socket> {
  const s = connect(`http://127.0.0.1:${servers.get(server)!.port}`, { reconnection: false, transports: ['websocket'] });
  clients.push(s);
  await new Promise<void>((resolve, reject) => s.once('connect', () => resolve()).once('connect_error', reject));
  for (const room of rooms) await new Promise<void>((resolve) => s.emit('join', room, () => resolve()));
  return s;
}

let ok = true;
const check = (cond: boolean, line: string) => {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${line}`);
  ok &&= cond;
};

try {
  await Promise.all(['s1', 's2', 's3'].map(startServer));
  // Two clients on each server, all in the lobby, each also in its server's own room.
  const all: Socket[] = [];
  for (const name of servers.keys()) for (let i = 0; i < 2; i++) all.push(await client(name, ['lobby', `room-${name}`]));
  check((await redis.scard(key('room:lobby'))) === 6, 'lobby has 6 clients on 3 servers');

  // A message said on s1 reaches the lobby on every server (the Redis adapter).
  const heard = all.map((c) => new Promise<void>((r) => c.once('said', () => r())));
  all[0]!.emit('say', 'lobby', 'hello');
  const reached = await Promise.race([Promise.all(heard).then(() => true), sleep(5000).then(() => false)]);
  check(reached, 'a message said on s1 reached all 6 lobby clients');

  console.log('SIGKILL s2');
  servers.get('s2')!.proc.kill('SIGKILL');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (await redis.hget(key('cleanups'), 's2')) === null) await sleep(100);
  await sleep(2000); // a second cleanup would have come by now
  const cleanups = Number(await redis.hget(key('cleanups'), 's2'));
  const lobby = await redis.smembers(key('room:lobby'));
  check(cleanups === 1, `s2's rooms were removed ${cleanups} time(s)`);
  check(lobby.length === 4 && lobby.every((e) => !e.startsWith('s2\n')), `lobby has ${lobby.length} clients, none of s2`);
  check((await redis.scard(key('room:room-s2'))) === 0 && (await redis.exists(key('presence:s2'))) === 0, "s2's own room and presence are gone");
  check((await redis.scard(key('room:room-s1'))) === 2, "s1's room is untouched");
} catch (err) {
  console.error(`FAIL ${(err as Error).message}`);
  ok = false;
} finally {
  for (const c of clients) c.disconnect();
  const exits = [...servers.values()].filter(({ proc }) => proc.exitCode === null && proc.signalCode === null).map(({ proc }) => {
    const p = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    return p;
  });
  await Promise.race([Promise.all(exits), sleep(5000)]);
  killAll();
  const keys = await redis.keys(`sio:${group}:*`).catch(() => []);
  if (keys.length) await redis.del(...keys).catch(() => undefined);
  await redis.quit().catch(() => undefined);
}
console.log(ok ? 'socket.io example: done' : 'socket.io example: FAILED');
process.exit(ok ? 0 : 1);
