// G7: bad input never reaches Redis and always fails with a typed error that names the
// option and the value received.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MusterError, OptionRangeError, OptionTypeError, Snowflake, createMember, join } from '../src/index.js';
import { type RedisServer, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('options');

useRedis(test);

type Case = [label: string, options: Record<string, unknown>, kind: 'type' | 'range', option: string];

const cyclic: Record<string, unknown> = {};
cyclic.self = cyclic;

const cases: Case[] = [
  ['unknown option', { heartbeats: 100 }, 'type', 'heartbeats'],
  ['heartbeat equal to half the timeout', { heartbeat: 1500, timeout: 3000 }, 'range', 'heartbeat'],
  ['heartbeat longer than the timeout', { heartbeat: '5s', timeout: '3s' }, 'range', 'heartbeat'],
  ['negative heartbeat', { heartbeat: -1 }, 'range', 'heartbeat'],
  ['infinite timeout', { timeout: Infinity }, 'range', 'timeout'],
  ['NaN timeout', { timeout: NaN }, 'range', 'timeout'],
  ['unparsable duration', { timeout: 'soon' }, 'type', 'timeout'],
  ['duration of the wrong type', { heartbeat: true }, 'type', 'heartbeat'],
  ['empty nodeId', { nodeId: '' }, 'range', 'nodeId'],
  ['over-long nodeId', { nodeId: 'x'.repeat(257) }, 'range', 'nodeId'],
  ['nodeId with a newline', { nodeId: 'a\nb' }, 'range', 'nodeId'],
  ['nodeId not a string', { nodeId: 42 }, 'type', 'nodeId'],
  ['group with a brace', { group: 'a{b}' }, 'range', 'group'],
  ['empty prefix', { prefix: '' }, 'range', 'prefix'],
  ['meta with a function', { meta: { f: () => 1 } }, 'type', 'meta.f'],
  ['meta with a BigInt', { meta: { n: 1n } }, 'type', 'meta.n'],
  ['meta with NaN', { meta: [1, NaN] }, 'type', 'meta[1]'],
  ['meta that is a Date', { meta: new Date() }, 'type', 'meta'],
  ['cyclic meta', { meta: cyclic }, 'type', 'meta'],
  ['meta too large', { meta: { blob: 'x'.repeat(5000) } }, 'range', 'meta'],
  ['URL that does not parse', { redis: 'not a url' }, 'type', 'redis'],
  ['URL with another protocol', { redis: 'http://127.0.0.1:6379' }, 'range', 'redis'],
  ['URL with a bad database', { redis: 'redis://127.0.0.1:6379/abc' }, 'range', 'redis'],
  ['redis of the wrong type', { redis: 6379 }, 'type', 'redis'],
  ['shards min above max', { shards: { min: 10, max: 5 } }, 'range', 'shards.max'],
  ['fractional shard', { shards: { min: 0.5, max: 5 } }, 'range', 'shards.min'],
  ['unknown shard option', { shards: { min: 0, max: 5, size: 3 } }, 'type', 'shards.size'],
  ['shards of the wrong type', { shards: 'all' }, 'type', 'shards'],
  ['negative shards.wait', { shards: { wait: -5 } }, 'range', 'shards.wait'],
  ['durability without replicas', { durability: { timeout: 100 } }, 'type', 'durability.replicas'],
  ['durability with zero replicas', { durability: { replicas: 0, timeout: 100 } }, 'range', 'durability.replicas'],
  ['clockSkew of zero', { clockSkew: 0 }, 'range', 'clockSkew'],
  ['rejoin not a boolean', { rejoin: 'yes' }, 'type', 'rejoin'],
];

for (const [label, opts, kind, option] of cases) {
  test(`join rejects ${label} before touching Redis`, async ({ redis }) => {
    const client = redis.client();
    const conns = async () => Number(/total_connections_received:(\d+)/.exec(await client.info('stats'))?.[1]);
    const before = await conns();
    const err = await join({ redis: redis.url, ...opts } as never).catch((e: unknown) => e);
    assert.instance(err, MusterError);
    assert.instance(err, kind === 'type' ? TypeError : RangeError);
    assert.instance(err, kind === 'type' ? OptionTypeError : OptionRangeError);
    const e = err as OptionTypeError;
    assert.is(e.code, kind === 'type' ? 'OPTION_TYPE' : 'OPTION_RANGE');
    assert.is(e.option, option);
    assert.ok(e.message.includes(`\`${option}\``), e.message);
    assert.ok(e.message.includes('received'), e.message);
    // The sync constructor throws the same error, so nothing can be started with it.
    assert.throws(() => createMember({ redis: redis.url, ...opts } as never), (x: unknown) => (x as OptionTypeError).option === option);
    assert.is(await conns(), before, 'no connection was made');
    assert.is(await client.dbsize(), 0, 'nothing was written');
  });
}

test('the error names the value it received', () => {
  const err = (() => {
    try {
      createMember({ heartbeat: 'soon' });
    } catch (e) {
      return e as OptionTypeError;
    }
  })();
  assert.is(err?.value, 'soon');
  assert.match(err!.message, /"soon"/);
});

type SfCase = [label: string, options: Record<string, unknown>, option: string];
const sfCases: SfCase[] = [
  ['missing workerId', {}, 'workerId'],
  ['workerId beyond the worker bits', { workerId: 1024 }, 'workerId'],
  ['negative workerId', { workerId: -1 }, 'workerId'],
  ['unknown layout', { workerId: 1, layout: 'snowflake' }, 'layout'],
  ['bits summing over 63', { workerId: 1, layout: { timeBits: 42, workerBits: 10, sequenceBits: 12 } }, 'layout'],
  ['zero sequence bits', { workerId: 1, layout: { timeBits: 41, workerBits: 10, sequenceBits: 0 } }, 'layout.sequenceBits'],
  ['unit not whole ms', { workerId: 1, layout: { timeBits: 41, workerBits: 10, sequenceBits: 12, unit: 1.5 } }, 'layout.unit'],
  ['time bits that ran out (28 bits of seconds since 2016)', { workerId: 1, epoch: '2016-05-20T00:00:00Z', layout: { timeBits: 28, workerBits: 22, sequenceBits: 13, unit: '1s' } }, 'layout.timeBits'],
  ['epoch in the future', { workerId: 1, epoch: Date.now() + 86_400_000 }, 'epoch'],
  ['epoch that does not parse', { workerId: 1, epoch: 'yesterday' }, 'epoch'],
  ['unknown option', { workerId: 1, worker: 2 }, 'worker'],
];

for (const [label, opts, option] of sfCases) {
  test(`Snowflake rejects ${label}`, () => {
    assert.throws(
      () => new Snowflake(opts as never),
      (e: unknown) => e instanceof MusterError && (e as OptionRangeError).option === option,
    );
  });
}

test.run();
