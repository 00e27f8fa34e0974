// An HTTP service that hands out order IDs minted under its shard lease.
//
//   REDIS_URL=redis://127.0.0.1:6379 node build/examples/order-ids.js [port]
//
// POST /orders -> {"id":"..."}; GET /healthz -> 200 while the lease is valid.
// SIGTERM leaves the group (the shard goes to quarantine, peers see -node at once).

import { createServer } from 'node:http';
import { join } from '../src/index.js';

const port = Number(process.argv[2] ?? 0);
const member = await join({ redis: process.env.REDIS_URL, group: 'orders', meta: { port } });
const ids = member.snowflake();
member.on('shard lost', (shard, why) => console.warn(`lost shard ${shard} (${why}); IDs wait for a new lease`));
member.on('error', (err) => console.warn(err.message));

const server = createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/orders') {
    // nextAsync() waits for a lease instead of failing while one is being renewed.
    const id = await ids.nextAsync(AbortSignal.timeout(2000)).catch(() => null);
    res.writeHead(id === null ? 503 : 201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(id === null ? { error: 'no lease' } : { id: String(id) }));
  } else if (req.url === '/healthz') {
    res.writeHead(member.lease?.isValid() ? 200 : 503).end();
  } else res.writeHead(404).end();
});
server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  console.log(`order IDs on http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}/orders (shard ${member.shard})`);
});

process.on('SIGTERM', () => {
  server.close();
  void member.leave().finally(() => process.exit(0));
});
