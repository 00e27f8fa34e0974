// Cleaning up after a dead instance, exactly once: each instance keeps its sessions
// under its own key; when one dies, the survivor that receives `node down` adopts them.
//
//   REDIS_URL=redis://127.0.0.1:6379 node build/examples/cleanup.js
//
// Runs instances a and b here and c in a child process, kills c (SIGKILL, no goodbye)
// and prints who adopted its sessions.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Member, join } from '../src/index.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const [role, name, groupArg] = process.argv.slice(2);
const group = groupArg ?? `cleanup-${process.pid}`;
const redis = new Redis(url);
const sessionsOf = (id: string) => `example:${group}:sessions:${id}`;

async function instance(id: string): Promise<Member> {
  const m = await join({ redis: url, group, nodeId: id, heartbeat: '200ms', timeout: '1s', shards: false });
  await redis.sadd(sessionsOf(id), `${id}-session-1`, `${id}-session-2`);
  m.on('node down', async (dead) => {
    // Exactly one survivor gets here per dead instance. The report is held until this
    // promise settles: should this instance die midway, another survivor runs it again,
    // so it only moves what is still there.
    let moved = 0;
    for (const s of await redis.smembers(sessionsOf(dead.id))) moved += await redis.smove(sessionsOf(dead.id), sessionsOf(id), s);
    console.log(`${id}: ${dead.id} is down; adopted ${moved} of its sessions`);
  });
  m.on('-node', (n) => console.log(`${id}: -node ${n.id} (${n.reason})`));
  return m;
}

if (role === 'child') {
  await instance(name!);
  console.log('ready');
} else {
  const a = await instance('a');
  const b = await instance('b');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', 'c', group], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  console.log('members:', (await a.nodes()).map((n) => n.id).join(', '));
  child.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 2000));
  for (const id of ['a', 'b', 'c']) console.log(`${id} holds:`, (await redis.smembers(sessionsOf(id))).sort().join(', ') || 'nothing');
  await Promise.all([a.leave(), b.leave()]);
  await redis.del(sessionsOf('a'), sessionsOf('b'), sessionsOf('c'));
  redis.disconnect();
}
