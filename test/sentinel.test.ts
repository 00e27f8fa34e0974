// Through a real Sentinel group: joining by sentinel addresses, and a failover with
// `durability` set: the member's record and lease were replicated before they counted,
// so after the switch the member goes on without being lost and without a repeated ID.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMember } from '../src/index.js';
import { until } from './helpers/members.js';
import { type SentinelGroup, startSentinels } from './helpers/redis.js';

const test = suite<{ s: SentinelGroup }>('sentinel');

test.before(async (ctx) => {
  ctx.s = await startSentinels();
});
test.after(async (ctx) => {
  await ctx.s.stop();
});

test('a member joined through Sentinel survives a failover with durability', async ({ s }) => {
  const redis = { sentinels: s.sentinels.map((x) => ({ host: '127.0.0.1', port: x.port })), name: s.name };
  const m = createMember({ redis, group: 'ha', nodeId: 'm', heartbeat: 200, timeout: 6000, durability: { replicas: 1, timeout: 500 } });
  const lost: string[] = [];
  const shards: number[] = [];
  m.on('lost', (r) => lost.push(r));
  m.on('shard', (n) => shards.push(n));
  const errors: string[] = [];
  m.on('error', (e) => errors.push(e.message));
  await m.join();
  assert.ok(m.lease?.isValid(), JSON.stringify(errors));
  const ids = m.snowflake();
  const before = ids.nextBatch(1000);
  const oldMaster = await s.masterPort();
  const c = s.master.client();
  await c.call('WAIT', 1, 1000);
  // Ask a sentinel for a failover: the replica becomes master.
  const { Redis } = await import('ioredis');
  const sc = new Redis({ port: s.sentinels[0]!.port, host: '127.0.0.1' });
  await sc.call('SENTINEL', 'FAILOVER', s.name);
  sc.disconnect();
  assert.ok(await waitFor(async () => (await s.masterPort()) !== oldMaster, 15_000), 'the master switched');
  // The member keeps heartbeating against the new master: a renewal succeeds there.
  assert.ok(await waitFor(async () => (await m.nodes().catch(() => [])).some((n) => n.id === 'm'), 10_000), 'its record is on the new master');
  assert.ok(await until(() => m.lease?.isValid() === true, 10_000), 'a valid lease after the failover');
  assert.equal(lost, [], 'not lost: the record was replicated before it counted');
  const after = await ids.nextAsync();
  assert.ok(after > before[before.length - 1]!);
  await m.leave();
});

async function waitFor(pred: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

test.run();
