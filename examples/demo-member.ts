// One member of the demo: joins, prints its events as JSON lines, prints its view of
// the group and three IDs on SIGUSR2 and leaves on SIGTERM or when its stdin (a pipe from the demo) closes. Usage: demo-member.js NAME REDIS_URL GROUP

import { join } from '../src/index.js';

const [name = 'member', redis, group] = process.argv.slice(2);
const out = (e: string, data: Record<string, unknown> = {}) => console.log(JSON.stringify({ name, e, ...data }));

const member = await join({ redis, group, nodeId: name, heartbeat: '200ms', timeout: '1500ms' });
out('joined', { shard: member.shard });
member.on('+node', (n) => out('+node', { id: n.id }));
member.on('-node', (n) => out('-node', { id: n.id, reason: n.reason }));
member.on('node down', (n) => out('node down', { id: n.id }));
member.on('error', (err) => out('error', { message: err.message }));

process.on('SIGUSR2', () => {
  member.nodes().then(
    (nodes) => {
      const gen = member.snowflake();
      out('nodes', { nodes: nodes.map((n) => ({ id: n.id, shard: n.shard })), ids: [gen.next(), gen.next(), gen.next()].map(String) });
    },
    (err: Error) => out('error', { message: err.message }),
  );
});
let leaving = false;
const leave = () => {
  if (leaving) return;
  leaving = true;
  member.leave().finally(() => process.exit(0));
};
process.on('SIGTERM', leave);
// The demo holds our stdin: when it is gone, so are we.
process.stdin.on('end', leave).on('error', leave).resume();
