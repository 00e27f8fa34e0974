// Runs a member in a separate Node process (test/fixtures/member.ts), so a test can
// SIGKILL, SIGSTOP and SIGCONT it and read the events it printed, one JSON line each.

import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep, track } from './redis.js';

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = join(here, '..', 'fixtures');

/** One line a fixture printed: `e` names the event, `t` is its Date.now(). */
export interface Ev {
  e: string;
  t: number;
  [key: string]: unknown;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** Fixture file name in test/fixtures (compiled), default 'member.js'. */
  fixture?: string;
  /** Extra node flags, e.g. ['--import', path]. */
  nodeArgs?: string[];
}

export class Proc {
  readonly events: Ev[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr = '';
  private waiters: (() => void)[] = [];

  constructor(config: unknown, options: SpawnOptions = {}) {
    this.child = track(
      spawn(process.execPath, [...(options.nodeArgs ?? []), join(FIXTURES, options.fixture ?? 'member.js'), JSON.stringify(config)], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...options.env },
      }),
    );
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as Ev);
      } catch {
        this.events.push({ e: 'text', t: Date.now(), line });
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr!.on('data', (d) => (this.stderr += String(d)));
  }

  /** Resolves with the first event (at or after index `from`) matching `pred`. */
  async waitFor(pred: (e: Ev) => boolean, timeoutMs: number, label: string, from = 0): Promise<Ev> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.slice(from).find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(`timed out waiting for ${label}; events: ${JSON.stringify(this.events.slice(-20))}; stderr: ${this.stderr.slice(-2000)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  count(pred: (e: Ev) => boolean): number {
    return this.events.filter(pred).length;
  }

  send(command: string): void {
    this.child.stdin!.write(command + '\n');
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }

  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }
}

/** Starts a fixture member and waits until it has joined. */
export async function spawnMember(config: Record<string, unknown>, options: SpawnOptions = {}): Promise<Proc> {
  const p = new Proc(config, options);
  await p.waitFor((e) => e.e === 'joined', 15_000, `${String(config.nodeId)} to join`);
  return p;
}

export async function killAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.kill()));
  await sleep(0);
}
