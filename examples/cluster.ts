// node:cluster: every worker process joins the group and gets its own shard, so each
// can mint Snowflake IDs without hand-assigned worker IDs.
//
//   REDIS_URL=redis://127.0.0.1:6379 node build/examples/cluster.js
//
// Forks 3 workers; each prints its shard and a few IDs, then all leave.

import cluster from 'node:cluster';
import { hostname } from 'node:os';
import { join } from '../src/index.js';

if (cluster.isPrimary) {
  const group = `cluster-${process.pid}`;
  for (let i = 0; i < 3; i++) cluster.fork({ GROUP: group });
  let done = 0;
  cluster.on('exit', () => {
    if (++done === 3) console.log('all workers left');
  });
} else {
  const member = await join({ redis: process.env.REDIS_URL, group: process.env.GROUP, nodeId: `${hostname()}:${process.pid}` });
  const ids = member.snowflake();
  console.log(`worker ${process.pid}: shard ${member.shard}, IDs ${[ids.nextString(), ids.nextString()].join(' ')}`);
  await new Promise((r) => setTimeout(r, 500));
  await member.leave();
  process.exit(0);
}
