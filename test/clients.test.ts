// Clients an app brings: a Redis client of its own ioredis, 5 or 6 (socket.io's Redis
// adapter and many apps pin one), is used as it is; anything else is refused by name.

import { Redis as Redis6 } from 'ioredis';
import { Redis as Redis5 } from 'ioredis5';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { OptionTypeError, createMember, group, join } from '../src/index.js';
import { FAST } from './helpers/members.js';
import { type RedisServer, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('clients');
useRedis(test);

type AnyClient = new (url: string) => Redis6;
for (const [version, Client] of [['5', Redis5 as unknown as AnyClient], ['6', Redis6 as AnyClient]] as const) {
  test(`an ioredis ${version} client: join, see a peer, mint, watch, leave; muster leaves the client open`, async (ctx) => {
    const client = new Client(ctx.redis.url);
    const other = new Client(ctx.redis.url);
    try {
      const a = await join({ redis: client, group: `v${version}`, nodeId: 'a', ...FAST });
      const seen: string[] = [];
      a.on('+node', (n) => seen.push(n.id));
      const b = await join({ redis: other, group: `v${version}`, nodeId: 'b', ...FAST });
      assert.equal((await a.nodes()).map((n) => n.id).sort(), ['a', 'b']);
      const ids = a.snowflake();
      const x = ids.next();
      assert.ok(ids.next() > x);
      const g = group({ redis: client, group: `v${version}` });
      assert.equal((await g.nodes()).length, 2);
      await g.close();
      for (let i = 0; i < 40 && !seen.includes('b'); i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(seen, ['b']);
      // Each member subscribed on a duplicate: the given clients still run commands.
      const [, subscribers] = (await ctx.redis.client().call('PUBSUB', 'SHARDNUMSUB', `muster:{v${version}}:events`)) as [string, number];
      assert.is(Number(subscribers), 2, 'one subscription per member, on duplicates of the given clients');
      assert.is(await other.ping(), 'PONG');
      await b.leave();
      await a.leave();
      assert.is(client.status, 'ready', 'a client muster did not create is not closed');
      assert.is(await client.ping(), 'PONG');
    } finally {
      client.disconnect();
      other.disconnect();
    }
  });
}

test('a node-redis client or another object is refused, naming what was passed, before any connection', () => {
  class RedisClient {
    isOpen = false;
    sendCommand() {}
    connect() {}
  }
  class Other {}
  for (const [value, name] of [[new RedisClient(), /node-redis client \(RedisClient\)/], [new Other(), /instance of Other/], [new Map(), /instance of Map/]] as const) {
    let err: unknown;
    try {
      createMember({ redis: value as never });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof OptionTypeError, String(err));
    assert.is((err as OptionTypeError).option, 'redis');
    assert.match((err as Error).message, name);
    assert.match((err as Error).message, /ioredis Redis or Cluster client \(ioredis 5 or 6\)/);
  }
});

test.run();
