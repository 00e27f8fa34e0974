// NODE_DEBUG=muster: one stderr line per join, claim, renewal, reap, wipe and lost lease;
// nothing at all without it. Members run in their own processes (the flag is read at
// start), one of them SIGKILLed to be reaped, then the store wiped.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FAST, until } from './helpers/members.js';
import { type Proc, killAll, spawnMember } from './helpers/proc.js';
import { type RedisServer, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('debug output');
useRedis(test);

test('NODE_DEBUG=muster logs joins, claims, renewals, reaps, wipes and lost leases; without it stderr stays empty', async (ctx) => {
  const config = (nodeId: string) => ({ redis: ctx.redis.url, group: 'dbg', nodeId, ...FAST });
  const procs: Proc[] = [];
  try {
    const a = await spawnMember(config('a'), { env: { NODE_DEBUG: 'muster' } });
    procs.push(a);
    const quiet = await spawnMember(config('quiet'), { env: { NODE_DEBUG: '' } });
    procs.push(quiet);
    const doomed = await spawnMember(config('doomed'), { env: { NODE_DEBUG: '' } });
    procs.push(doomed);
    // debuglog colours the pid when colours are forced (FORCE_COLOR): compare plain text.
    const plain = () => a.stderr.replace(/\x1b\[[0-9;]*m/g, '');
    const lines = () => plain().split('\n').filter((l) => l.startsWith('MUSTER'));
    assert.ok(await until(() => lines().some((l) => / renewed shard \d+ until /.test(l)), 3000), `renewal: ${plain()}`);
    assert.ok(lines().some((l) => /a joined group dbg as life \S+, claimed shard \d+ \(fence \d+, IDs above /.test(l)), `join: ${plain()}`);
    // Reaped by one of the two survivors: the debug line is a's only when a reaped it.
    await doomed.kill();
    assert.ok(await until(() => a.events.concat(quiet.events).some((e) => e.e === 'node down'), 5000), 'doomed was reaped');
    if (a.events.some((e) => e.e === 'node down')) assert.ok(lines().some((l) => /a reaped doomed \(life \S+\)/.test(l)), `reap: ${plain()}`);
    await ctx.redis.client().flushall();
    assert.ok(await until(() => lines().some((l) => /a lost its life \S+ \(wiped: the store lost the group\)/.test(l)), 3000), `wipe: ${plain()}`);
    // Every `shard lost` event has its line (the lease ends with the life, or earlier if a
    // renewal came late; a host clock that jumps can also end it before the wipe).
    const shardLost = a.events.filter((e) => e.e === 'shard lost');
    for (const e of shardLost) {
      assert.ok(lines().some((l) => l.includes(`a lost its lease on shard ${String(e.shard)} (${String(e.reason)})`)), `lost lease: ${plain()}`);
    }
    assert.ok(await until(() => lines().filter((l) => / joined group dbg /.test(l)).length >= 2, 5000), 'the rejoin is logged too');
    for (const l of plain().trim().split('\n')) assert.match(l, /^MUSTER \d+: /, `only debug lines: ${l}`);
    assert.is(quiet.stderr, '', 'nothing without NODE_DEBUG');
  } finally {
    await killAll(procs);
  }
});

test.run();
