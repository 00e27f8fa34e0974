// The long chaos run, by hand:  npm run chaos -- --minutes 10 [--seed 42] [--workers 6]
// Random faults every few seconds (kill and replace, freeze past the timeout, freeze
// shorter, wipe Redis, restart it from an older snapshot, step a clock back, replace
// with a clock ahead or behind, or with a worker minting at full rate), then
// the same checks as the test: no ID twice, each worker's IDs strictly increasing.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CHAOS_TIMING, QUARANTINE, aHolder, runChaos } from './engine.js';
import { sleep } from '../helpers/redis.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const minutes = opt('minutes', 2);
let seed = opt('seed', Date.now() % 100000);
const workers = opt('workers', 6);
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
const started = Date.now();
const log = (line: string) => console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(7)} s  ${line}`);

console.log(`chaos: ${minutes} min, ${workers} workers on ${workers - 2} shards, seed ${seed}`);
const result = await runChaos({
  shards: { min: 0, max: workers - 3 },
  log,
  scenario: async (ctx) => {
    let next = 0;
    const name = () => `w${next++}`;
    for (let i = 0; i < workers; i++) ctx.spawn(name(), pick(['+0s', '+0s', '+0s', '+1s', '-3s']));
    const end = Date.now() + minutes * 60_000;
    while (Date.now() < end) {
      await sleep(2000 + rand() * 3000);
      const alive = ctx.workers.filter((w) => w.proc.child.exitCode === null && w.proc.child.signalCode === null);
      const fault = pick(['kill', 'kill', 'freeze-long', 'freeze-short', 'wipe', 'snapshot', 'step', 'slow-replace', 'fast-replace']);
      try {
        const w = await aHolder(ctx);
        switch (fault) {
          case 'kill':
            log(`SIGKILL ${w.name}`);
            await w.proc.kill();
            ctx.spawn(name(), pick(['+0s', '+1.5s', '-5s']));
            break;
          case 'freeze-long': {
            log(`SIGSTOP ${w.name} past timeout and quarantine`);
            w.proc.signal('SIGSTOP');
            await sleep(CHAOS_TIMING.timeout + QUARANTINE + rand() * 2000);
            w.proc.signal('SIGCONT');
            log(`SIGCONT ${w.name}`);
            break;
          }
          case 'freeze-short':
            log(`SIGSTOP ${w.name} briefly`);
            w.proc.signal('SIGSTOP');
            await sleep(rand() * CHAOS_TIMING.timeout * 2);
            w.proc.signal('SIGCONT');
            break;
          case 'wipe':
            log('restart Redis with its data gone');
            await ctx.redis.stop();
            rmSync(join(ctx.redis.dir, 'dump.rdb'), { force: true });
            await sleep(rand() * 1000);
            await ctx.redis.start();
            break;
          case 'snapshot': {
            // Redis's ordinary persistence: the restart loads a snapshot that lacks the
            // latest claims and renewals (a failover to a lagging replica looks the same).
            await ctx.redis.client().save();
            const later = 500 + rand() * 3000;
            log(`SAVE; SIGKILL Redis ${Math.round(later)} ms later and restart it from that snapshot`);
            await sleep(later);
            await ctx.redis.stop();
            await ctx.redis.start();
            break;
          }
          case 'step':
            ctx.setClock(w, pick(['-5s', '-2s', '+1s', '+0s']));
            break;
          case 'slow-replace':
            if (alive.length > 1) {
              log(`SIGKILL ${w.name}; a replacement that heartbeats slowly`);
              await w.proc.kill();
              ctx.spawn(name(), '+0s', { heartbeat: 1000, timeout: 5000 });
            }
            break;
          case 'fast-replace':
            log(`SIGKILL ${w.name}; a replacement that mints at full rate and heartbeats slowly`);
            await w.proc.kill();
            ctx.spawn(name(), '+0s', { heartbeat: 1000, timeout: 5000 }, { perTick: 4096 });
            break;
        }
      } catch (err) {
        log(`fault ${fault} skipped: ${(err as Error).message}`);
      }
    }
  },
});

console.log('');
console.log(`IDs minted: ${result.total}; shard claims: ${result.shardClaims}; clock faked with ${result.clockFaker}`);
console.log(`duplicates: ${result.duplicates}${result.duplicates ? ' e.g. ' + result.duplicateExamples.join('; ') : ''}`);
console.log(`IDs out of order within a worker: ${result.nonIncreasing}`);
console.log(`unhandled rejections in workers: ${result.unhandled}`);
for (const w of result.perWorker) console.log(`  ${w.name.padEnd(5)} ${String(w.ids).padStart(9)} IDs, ${w.shards} shard claims, errors ${JSON.stringify(w.errors)}`);
const ok = result.duplicates === 0 && result.nonIncreasing === 0 && result.unhandled === 0;
console.log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
