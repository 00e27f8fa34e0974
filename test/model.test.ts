// The protocol model (test/model/muster.pml) checked by spin, in both directions: the
// model as it stands shows no violation of G1-G4 in a bounded search, and with a hole of
// an earlier version put back (HOLE1: a restart from older data not noticed; HOLE2: a
// holder keeps its floor's lead; HOLE3: no cap by Redis TIME + B) spin finds the
// violation, so the assertions can fail.

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
    timeout: 12 * seconds * 1000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the model shows no violation of G1 to G4', () => {
  const r = check(undefined, 6);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /errors: 0/);
});

for (const hole of ['HOLE1', 'HOLE2', 'HOLE3']) {
  test(`with ${hole} put back, spin finds the violation`, () => {
    const r = check(hole, 15);
    assert.is(r.status, 0, r.out);
    assert.match(r.out, /assertion violated/);
  });
}

test.run();
