// Starts `muster serve` (the built bin) as a child process for tests.

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { until } from './members.js';
import { track } from './redis.js';

const BIN = fileURLToPath(new URL('../../../dist/esm/cli/main.js', import.meta.url));

export interface Served {
  child: ChildProcess;
  base: string;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

/** Starts `muster serve --port 0` and resolves once it listens. */
export async function serve(url: string, args: string[] = []): Promise<Served> {
  const child = track(spawn(process.execPath, [BIN, 'serve', '--port', '0', '--redis', url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const ok = await until(() => /listening on (http:\/\/\S+)/.test(out) || child.exitCode !== null, 15_000);
  const m = /listening on (http:\/\/\S+)/.exec(out);
  if (!ok || !m) throw new Error(`muster serve did not start: ${out} ${err}`);
  return { child, base: m[1]!, out: () => out, err: () => err, exited };
}

