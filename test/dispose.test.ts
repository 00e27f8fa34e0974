// `await using` (Symbol.asyncDispose, TypeScript's using declarations): a member leaves
// and a group view closes at the end of the scope, also when the scope throws.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { group, join } from '../src/index.js';
import { FAST, until } from './helpers/members.js';
import { type RedisServer, useRedis } from './helpers/redis.js';

const test = suite<{ redis: RedisServer }>('dispose');
useRedis(test);

test('await using: the member leaves (peers see left) and the view closes at the end of the scope', async ({ redis }) => {
  const gone: string[] = [];
  await using watcher = group({ redis: redis.url, group: 'disp' });
  watcher.on('-node', (n) => gone.push(`${n.id}:${n.reason}`));
  await watcher.watching();
  let inner: Awaited<ReturnType<typeof join>> | undefined;
  let view: ReturnType<typeof group> | undefined;
  {
    await using member = await join({ redis: redis.url, group: 'disp', nodeId: 'scoped', ...FAST });
    await using g = group({ redis: redis.url, group: 'disp' });
    inner = member;
    view = g;
    assert.equal((await g.nodes()).map((n) => n.id), ['scoped']);
  }
  assert.is(inner.joined, false, 'left at the end of the scope');
  const closed = await view!.nodes().then(() => 'still open', (e: unknown) => (e as { code?: string }).code);
  assert.is(closed, 'CLOSED', 'the view was closed');
  assert.ok(await until(() => gone.length > 0, 3000));
  assert.equal(gone, ['scoped:left']);
});

test('await using: the member leaves when the scope throws; leaving again is harmless', async ({ redis }) => {
  let m: Awaited<ReturnType<typeof join>> | undefined;
  try {
    await using member = await join({ redis: redis.url, group: 'disp2', nodeId: 'thrower', ...FAST });
    m = member;
    throw new Error('boom');
  } catch (err) {
    assert.is((err as Error).message, 'boom');
  }
  assert.is(m!.joined, false);
  await m![Symbol.asyncDispose]();
  await using g = group({ redis: redis.url, group: 'disp2' });
  assert.equal(await g.nodes(), []);
});

test.run();
