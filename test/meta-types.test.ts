// join<Meta>() and group<Meta>() type `meta` in +node, -node, node down and nodes()
// without a cast, also for a meta declared as an interface. The type half of this test
// is checked by tsc (`npm run typecheck`, and the build of the tests): the
// `@ts-expect-error` lines fail the build if the types stop rejecting misuse.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type DepartedNode, type NodeInfo, createMember, group, join } from '../src/index.js';
import { FAST, until } from './helpers/members.js';
import { type RedisServer, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('meta types');
useRedis(test);

/** A meta declared as an interface (no index signature). */
interface ServerMeta {
  url: string;
  weight?: number;
}

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const is = <T extends true>(_: T) => undefined;

test('meta is typed in events and nodes(), for an interface too', async ({ redis }) => {
  const seen: string[] = [];
  const a = await join<ServerMeta>({ redis: redis.url, group: 'typed', nodeId: 'a', meta: { url: 'http://a' }, ...FAST });
  a.on('+node', (node) => {
    is<Equal<typeof node, NodeInfo<ServerMeta>>>(true);
    seen.push(node.meta.url); // typed: no cast
  });
  a.on('-node', (node) => {
    is<Equal<typeof node, DepartedNode<ServerMeta>>>(true);
    seen.push(`-${node.meta.url}`);
  });
  a.on('node down', (node) => {
    const w: number | undefined = node.meta.weight;
    void w;
  });
  const b = createMember<ServerMeta>({ redis: redis.url, group: 'typed', nodeId: 'b', meta: { url: 'http://b', weight: 2 }, ...FAST });
  // @ts-expect-error a meta that does not match the declared type is refused at compile time
  void createMember<ServerMeta>({ meta: { href: 'x' } });
  await b.join();
  const nodes = await a.nodes();
  const urls: string[] = nodes.map((n) => n.meta.url).sort();
  assert.equal(urls, ['http://a', 'http://b']);
  // @ts-expect-error `port` is not in ServerMeta
  void nodes[0]!.meta.port;

  await using g = group<ServerMeta>({ redis: redis.url, group: 'typed' });
  const fromView: string[] = (await g.nodes()).map((n) => n.meta.url);
  assert.is(fromView.length, 2);
  g.on('-node', (n) => {
    const url: string = n.meta.url;
    void url;
  });

  // Without a type parameter, Meta is inferred from the meta given...
  const plain = await join({ redis: redis.url, group: 'typed', nodeId: 'c', meta: { url: 'http://c' }, ...FAST });
  const inferred: string = (await plain.nodes())[0]!.meta.url;
  void inferred;
  // ...and without meta it is any JSON value (reading .url needs a check).
  const bare = createMember({ redis: redis.url, group: 'typed' });
  bare.on('+node', (n) => {
    // @ts-expect-error meta is a JsonValue here
    void n.meta.url;
  });

  assert.ok(await until(() => seen.includes('http://b') && seen.includes('http://c'), 3000), seen.join(','));
  await b.leave();
  assert.ok(await until(() => seen.includes('-http://b'), 3000), seen.join(','));
  await plain.leave();
  await a.leave();
});

test.run();
