// node:cluster: every worker process joins the group and gets its own shard, so each
// mints Snowflake IDs without hand-assigned worker IDs; a worker that dies is replaced,
// and the replacement gets a shard of its own.
//
//   REDIS_URL=redis://127.0.0.1:6379 node build/examples/node-cluster.js
//
// Forks 3 workers that each mint 20,000 IDs, kills one (SIGKILL), forks a replacement
// that mints 20,000 more, checks that all 80,000 IDs differ, then all leave. Exits 0
// when they do.

import cluster, { type Worker } from 'node:cluster';
import { hostname } from 'node:os';
import { join } from '../src/index.js';

const PER_WORKER = 20_000;

interface Report {
  pid: number;
  shard: number;
  ids: string[];
}

if (cluster.isPrimary) {
  const group = `node-cluster-${process.pid}`;
  const seen = new Set<string>();
  let minted = 0;
  let ok = true;
  const fork = (): Promise<{ worker: Worker; report: Report }> => {
    const worker = cluster.fork({ GROUP: group });
    return new Promise((resolve, reject) => {
      worker.once('message', (report: Report) => {
        for (const id of report.ids) seen.add(id);
        minted += report.ids.length;
        console.log(`worker ${report.pid}: shard ${report.shard}, ${report.ids.length} IDs, first ${report.ids[0]}`);
        resolve({ worker, report });
      });
      worker.once('exit', (code) => reject(new Error(`worker ${worker.process.pid} exited (${code}) before it reported`)));
    });
  };
  try {
    const first = await Promise.all([fork(), fork(), fork()]);
    const victim = first[1]!;
    console.log(`SIGKILL worker ${victim.report.pid} (shard ${victim.report.shard})`);
    victim.worker.process.kill('SIGKILL');
    const replacement = await fork();
    const held = first.filter((w) => w !== victim).map((w) => w.report.shard);
    // The killed worker's shard is in quarantine; the replacement gets another one.
    const own = !held.includes(replacement.report.shard) && replacement.report.shard !== victim.report.shard;
    console.log(`replacement worker ${replacement.report.pid} got shard ${replacement.report.shard}${own ? ', one of its own' : ' (shared!)'}`);
    ok &&= own;
    ok &&= seen.size === minted && minted === 4 * PER_WORKER;
    console.log(`${minted} IDs from 4 workers, ${seen.size} distinct${seen.size === minted ? ': all unique' : ': REPEATS'}`);
    const survivors = [...first.filter((w) => w !== victim), replacement].map((w) => w.worker);
    await Promise.all(
      survivors.map((w) => {
        const exited = new Promise((r) => w.once('exit', r));
        w.send('leave');
        return exited;
      }),
    );
    console.log('all workers left');
  } catch (err) {
    console.error(`FAIL ${(err as Error).message}`);
    ok = false;
  }
  for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
  process.exit(ok ? 0 : 1);
} else {
  const member = await join({ redis: process.env.REDIS_URL, group: process.env.GROUP, nodeId: `${hostname()}:${process.pid}`, heartbeat: 200, timeout: 1500 });
  const ids = member.snowflake();
  const out: string[] = [];
  // nextAsync(): right after a group starts, a holder at full rate can use up what its
  // lease reserved before the next renewal; next() would throw then, nextAsync() waits.
  for (let i = 0; i < PER_WORKER; i++) out.push(String(await ids.nextAsync()));
  process.send!({ pid: process.pid, shard: member.shard ?? -1, ids: out } satisfies Report);
  process.on('message', async (m) => {
    if (m !== 'leave') return;
    await member.leave();
    process.exit(0);
  });
}
