// A survivor that falls far behind (frozen, its connection killed, so the Pub/Sub
// messages of that time are lost) catches up from the change log, which is kept by age: it sees every
// joiner and every leave with its reason, however many changes it missed (G5).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMember } from '../src/index.js';
import { spawnMember } from './helpers/proc.js';
import { sleep, startRedis } from './helpers/redis.js';

const test = suite('catch-up');

test('a member frozen while 300 others join and leave sees every +node and every -node (left)', async () => {
  const redis = await startRedis();
  const group = 'catchup';
  const p = await spawnMember({ redis: redis.url, group, nodeId: 'm', heartbeat: 500, timeout: 6000, shards: false });
  try {
    p.signal('SIGSTOP');
    // Its connection (the one subscribed to the group's channel) goes, and with it every
    // message published until it reconnects after SIGCONT.
    const admin = redis.client();
    const line = String(await admin.client('LIST')).split('\n').find((l) => / ssub=1 /.test(l));
    const cid = line && /^id=(\d+)/.exec(line)?.[1];
    assert.ok(cid, 'the member is subscribed');
    await admin.client('KILL', 'ID', cid!);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const id = `c${i}`;
      ids.push(id);
      const c = createMember({ redis: redis.url, group, nodeId: id, heartbeat: 500, timeout: 6000, shards: false, meta: { pad: 'x'.repeat(200) } });
      c.on('error', () => undefined);
      await c.join();
      await c.leave();
    }
    p.signal('SIGCONT');
    const seen = () => new Set(p.events.filter((e) => e.e === '-node' && e.reason === 'left').map((e) => e.id as string));
    for (let i = 0; i < 100 && seen().size < ids.length; i++) await sleep(50);
    const joined = new Set(p.events.filter((e) => e.e === '+node').map((e) => e.id as string));
    assert.is(p.events.filter((e) => e.e === 'lost').length, 0, 'the member stayed a member');
    assert.is(joined.size, ids.length, `+node for ${joined.size} of ${ids.length}`);
    assert.is(seen().size, ids.length, `-node (left) for ${seen().size} of ${ids.length}`);
  } finally {
    p.signal('SIGCONT');
    await p.kill();
    await redis.stop();
  }
});

test.run();
