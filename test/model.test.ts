// The protocol models (test/model/muster.pml, sequences.pml, stations.pml) checked by spin,
// in both directions: the models as they stand show no violation in a bounded search,
// and with a hole put back spin finds the violation, so the assertions can fail. Leases:
// HOLE1 a restart from older data not noticed; HOLE2 a holder keeps its floor's lead;
// HOLE3 no cap by Redis TIME + B; RESETHOLE a reset that keeps no floor above the
// shard's reservations. Named sequences: SEQHOLE1 blocks used without the hold;
// SEQHOLE2 a floor taken without the wait; SEQHOLE3 a floor taken after a fresh start
// that came after the probe; SEQHOLE4 a restart not noticed. Minting stations
// (test/model/stations.pml): STATIONHOLE1 a station minting after its fresh start
// without a base; STATIONHOLE2 a base from a claim read before the fresh start.

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('model');
const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'model', 'check.sh');

function check(hole: string | undefined, seconds: number): { status: number | null; out: string } {
  const r = spawnSync('bash', [script, ...(hole ? [hole] : [])], {
    encoding: 'utf8',
    env: { ...process.env, SECONDS_PER_RUN: String(seconds) },
    timeout: 20 * seconds * 1000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the models show no violation (G1 to G4, named sequences, minting stations)', () => {
  const r = check(undefined, 6);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /errors: 0/);
});

for (const hole of ['HOLE1', 'HOLE2', 'HOLE3', 'RESETHOLE', 'SEQHOLE1', 'SEQHOLE2', 'SEQHOLE3', 'SEQHOLE4', 'STATIONHOLE1', 'STATIONHOLE2']) {
  test(`with ${hole} put back, spin finds the violation`, () => {
    const r = check(hole, 15);
    assert.is(r.status, 0, r.out);
    assert.match(r.out, /assertion violated/);
  });
}

test.run();
