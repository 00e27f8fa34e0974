// G1 to G3 under real faults: see test/chaos/engine.ts. A longer, randomized version
// runs by hand: `npm run chaos -- --minutes 10`.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CHAOS_TIMING, QUARANTINE, fixedScenario, runChaos } from './chaos/engine.js';
import { sleep } from './helpers/redis.js';

const test = suite('chaos');

test('5 to 9 workers on 4 shards: kills, pauses, a wiped Redis, a restart from an older snapshot, a full-rate worker, clocks ahead and stepped back: no ID twice', async () => {
  const lines: string[] = [];
  const r = await runChaos({ scenario: fixedScenario, shards: { min: 0, max: 3 }, log: (l) => lines.push(l) });
  const report = JSON.stringify({ ...r, lines }, null, 1);
  assert.is(r.duplicates, 0, `duplicates: ${r.duplicateExamples.join('; ')}\n${report}`);
  assert.is(r.nonIncreasing, 0, `IDs out of order within a worker\n${report}`);
  assert.is(r.unhandled, 0, 'unhandled rejections in workers');
  // The run must have done real work for the checks to mean anything.
  assert.ok(r.total > 100_000, `only ${r.total} IDs minted\n${report}`);
  assert.ok(r.shardClaims >= 10, `shards were claimed only ${r.shardClaims} times: too little reuse\n${report}`);
  const ahead = r.perWorker.find((w) => w.name === 'w3');
  assert.ok(ahead && ahead.ids > 0, `the worker whose clock was ahead minted nothing\n${report}`);
});

test('the same checks catch a generator that is not fenced (so they can fail)', async () => {
  // One shard, two workers, and the first frozen past its timeout: an unfenced zombie
  // keeps minting on the shard the other one now holds.
  const r = await runChaos({
    unsafe: true,
    shards: { min: 0, max: 0 },
    scenario: async ({ spawn }) => {
      const a = spawn('zombie');
      await a.proc.waitFor((e) => e.e === 'joined', 10_000, 'zombie joined');
      spawn('heir');
      await sleep(500);
      a.proc.signal('SIGSTOP');
      await sleep(CHAOS_TIMING.timeout + QUARANTINE + 1500);
      a.proc.signal('SIGCONT');
      await sleep(1500);
    },
  });
  assert.ok(r.duplicates > 0, `an unfenced zombie produced no duplicate: ${JSON.stringify(r)}`);
});

test.run();
