// Background members for the largest groups of bench/membership.ts: stand-ins that make
// exactly the Redis calls a member makes in steady state, without the rest of a member.
// Each has its own connection, joins with the join script, runs the beat script every
// heartbeat (with the arguments the library builds, keeping its log position like a
// member does) and subscribes to the group's channel (SSUBSCRIBE) on that connection. What a
// member does in its own process (parsing announcements, keeping a view) is left out:
// 10,000 full members do not fit next to Redis on a 2-core machine, and none of it is
// Redis work. Their view is not loaded at join (that read is a real member's, measured by
// the probe joins).
//
// argv: url group from count heartbeat timeout. Prints "joined" once all have joined,
// subscribes them when a line comes on stdin, then prints "ready"; exits on SIGTERM.

import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { REAP_LIMIT } from '../src/membership/joining.js';
import { resolveOptions } from '../src/options.js';
import { groupKeys } from '../src/redis/keys.js';
import { SCRIPTS, beatArgs, joinArgs, parseBeat, parseJoin, run } from '../src/redis/scripts.js';

const [url, group, from, count, heartbeat, timeout] = process.argv.slice(2) as [string, string, string, string, string, string];

interface StandIn {
  id: string;
  life: string;
  conn: Redis;
  created: string;
  horizon: number;
  /** `node down` reports handed to this stand-in, acknowledged with its next beat as a member's listener would. */
  acks: string[];
  timer?: NodeJS.Timeout;
}

const o = resolveOptions({ redis: url, group, heartbeat: Number(heartbeat), timeout: Number(timeout), shards: false });
const keys = groupKeys(o.prefix, o.group);
const quarantine = o.clockSkew + o.timeout;
const keep = 2 * (o.heartbeat + o.timeout) + 1000;

/**
 * The newest log position any stand-in of this process saw. A member keeps its position
 * current through Pub/Sub, so its beat replies carry only what it missed; stand-ins,
 * which do not read announcements, share the process's newest position instead.
 */
const head = { inc: 0, ver: 0 };
function see(r: { inc: number; ver: number }): void {
  if (r.inc !== head.inc || r.ver > head.ver) Object.assign(head, { inc: r.inc, ver: r.ver });
}

async function start(i: number): Promise<StandIn> {
  const id = `bg${Number(from) + i}`;
  const life = randomBytes(6).toString('base64url');
  // RESP3, as `join({ redis: { ..., protocol: 3 } })`: the subscription shares the
  // connection (10,000 members with two connections each would pass the file limit).
  const conn = new Redis(url, { maxRetriesPerRequest: 1, protocol: 3 });
  for (let attempt = 1; ; attempt++) {
    const reply = await run(conn, SCRIPTS.join, keys.list, joinArgs(keys, {
      nodeId: id, life, metaJson: o.metaJson, ttl: o.timeout, lo: -1, hi: -1, horizon: o.horizon, knownHorizon: 0,
      quarantine, proposed: Date.now() + o.timeout, keep, reapLimit: REAP_LIMIT, withView: false, layout: o.layoutKey, knownCreated: '', idleExpiry: o.idleExpiry,
    }));
    const res = parseJoin(reply);
    if (res.ok) {
      see(res);
      const s: StandIn = { id, life, conn, created: res.created, horizon: res.horizon, acks: res.reports.map((r) => r.reportId) };
      // Spread the beats over the heartbeat, as members started at random times are.
      s.timer = setTimeout(() => beat(s), Math.random() * o.heartbeat);
      return s;
    }
    if (attempt >= 5) throw new Error(`${id} could not join: ${res.code}`);
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}

async function beat(s: StandIn): Promise<void> {
  try {
    const res = parseBeat(await run(s.conn, SCRIPTS.beat, keys.list, beatArgs(keys, {
      nodeId: s.id, life: s.life, ttl: o.timeout, created: s.created, inc: head.inc, ver: head.ver,
      proposed: Date.now() + o.timeout, knownHorizon: s.horizon, quarantine, reapLimit: REAP_LIMIT, acks: s.acks,
    })));
    if (res.ok) {
      s.acks = res.reports.map((r) => r.reportId);
      see(res);
      s.horizon = Math.max(s.horizon, res.horizon);
    }
  } catch {
    // A missed beat, as a member's would be; the next one tries again.
  }
  s.timer = setTimeout(() => beat(s), o.heartbeat);
}

const all: StandIn[] = [];
// A few joins at a time per process, like a fleet starting up.
const n = Number(count);
for (let i = 0; i < n; i += 10) {
  all.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, k) => start(i + k)))));
}
// Subscriptions come once every process has joined (the parent writes a line): with
// them during the start, 10,000 joins would fan out to up to 10,000 subscribers each.
console.log('joined');
await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve));
await Promise.all(all.map((s) => s.conn.ssubscribe(keys.channel)));
console.log('ready');
// On SIGTERM they just disconnect (the bench then deletes the group): 10,000 leaves, each
// announced to up to 10,000 subscribers, would cost Redis minutes and gigabytes of
// output buffers for nothing the bench measures.
process.on('SIGTERM', () => {
  for (const s of all) {
    clearTimeout(s.timer);
    s.conn.disconnect();
  }
  process.exit(0);
});
