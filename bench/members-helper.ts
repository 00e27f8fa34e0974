// Holds a share of the background members for bench/membership.ts in its own process.
// argv: url group from count heartbeat timeout [shards: 'off' for a membership-only group]. Prints "ready" when all have joined;
// leaves them all on SIGTERM.

import { type Member, join } from '../src/index.js';

const [url, group, from, count, heartbeat, timeout, shardsArg] = process.argv.slice(2);
const shards = shardsArg === 'off' ? false : { min: 0, max: 4095 };
const members: Member[] = [];
for (let i = 0; i < Number(count); i++) {
  // While thousands join at once on a small machine a join may time out: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      members.push(await join({ redis: url, group, nodeId: `bg${Number(from) + i}`, heartbeat: Number(heartbeat), timeout: Number(timeout), shards }));
      break;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}
console.log('ready');
process.on('SIGTERM', () => {
  void Promise.all(members.map((m) => m.leave().catch(() => undefined))).then(() => process.exit(0));
});
