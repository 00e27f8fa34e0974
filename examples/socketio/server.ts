// One socket.io server of a fleet: the socket.io Redis adapter carries broadcasts between
// servers, muster tells the survivors when a server dies, and exactly one of them removes
// the dead server's clients from the room lists kept in Redis.
//
//   REDIS_URL=redis://127.0.0.1:6379 NAME=s1 PORT=3001 node build/examples/socketio/server.js
//
// Redis keys (prefix sio:<group>:): presence:<server> SET of room "\n" socketId (who this
// server has in which room), room:<room> SET of server "\n" socketId, cleanups HASH
// server -> how many times its rooms were removed.

import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { join } from '../../src/index.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = process.env.NAME ?? `s${process.pid}`;
const groupName = process.env.GROUP ?? 'socketio';
const key = (k: string) => `sio:${groupName}:${k}`;

const pub = new Redis(url);
const sub = pub.duplicate();
const store = pub.duplicate();
const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub) });

io.on('connection', (socket) => {
  const mine = new Set<string>();
  socket.on('join', async (room: string, ack?: () => void) => {
    await socket.join(room);
    mine.add(room);
    await store.multi().sadd(key(`presence:${name}`), `${room}\n${socket.id}`).sadd(key(`room:${room}`), `${name}\n${socket.id}`).exec();
    ack?.();
  });
  socket.on('say', (room: string, text: string) => {
    io.to(room).emit('said', { from: name, room, text });
  });
  socket.on('disconnect', async () => {
    const m = store.multi();
    for (const room of mine) m.srem(key(`presence:${name}`), `${room}\n${socket.id}`).srem(key(`room:${room}`), `${name}\n${socket.id}`);
    await m.exec().catch(() => undefined);
  });
});

await new Promise<void>((r) => http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', r));
const port = (http.address() as { port: number }).port;

const member = await join({ redis: url, group: groupName, nodeId: name, meta: { port }, heartbeat: 200, timeout: 1500, shards: false });
member.on('error', (err) => console.error(`${name}: ${err.message}`));
member.on('-node', (n) => console.log(`${name}: ${n.id} is gone (${n.reason})`));
// Exactly one survivor gets this; the report is held until the promise settles, so if
// this server dies mid-cleanup another survivor runs it again.
member.on('node down', async (dead) => {
  const entries = await store.smembers(key(`presence:${dead.id}`));
  const m = store.multi();
  for (const e of entries) {
    const [room, socketId] = e.split('\n') as [string, string];
    m.srem(key(`room:${room}`), `${dead.id}\n${socketId}`);
  }
  m.del(key(`presence:${dead.id}`)).hincrby(key('cleanups'), dead.id, 1);
  await m.exec();
  console.log(`${name}: node down ${dead.id}: removed its ${entries.length} room entries`);
});

console.log(`${name}: ready on port ${port}`);

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, async () => {
    io.close();
    await member.leave();
    for (const c of [pub, sub, store]) c.disconnect();
    process.exit(0);
  });
}
