// Holds a share of the background members for bench/membership.ts in its own process.
// argv: url group from count heartbeat timeout. Prints "ready" when all have joined;
// leaves them all on SIGTERM.

import { type Member, join } from '../src/index.js';

const [url, group, from, count, heartbeat, timeout] = process.argv.slice(2);
const members: Member[] = [];
for (let i = 0; i < Number(count); i++) {
  members.push(
    await join({ redis: url, group, nodeId: `bg${Number(from) + i}`, heartbeat: Number(heartbeat), timeout: Number(timeout), shards: { min: 0, max: 4095 } }),
  );
}
console.log('ready');
process.on('SIGTERM', () => {
  void Promise.all(members.map((m) => m.leave().catch(() => undefined))).then(() => process.exit(0));
});
