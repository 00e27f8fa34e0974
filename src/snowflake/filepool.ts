// Single-host mode: worker IDs from a pool of lock files in one folder, no Redis. A
// process holds `<n>.lock` while it lives; the entry of a dead process is reclaimed. The
// file also records how far the holder may mint (a high-water mark, renewed ahead of
// use), so the next holder of the number starts above it, whatever the clock did.

import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clock, mono } from '../clock.js';
import { LeaseExpiredError, OptionTypeError, ShardsExhaustedError } from '../errors.js';
import { parseInteger, rejectUnknown } from '../options.js';
import { type Snowflake, type SnowflakeOptions, boundSnowflake } from './generator.js';

/** Where and from which range a local generator takes its worker ID. */
export interface FilePoolOptions {
  /** Folder of the lock files, shared by the processes of one host. Default `<tmpdir>/muster-workers`. */
  dir?: string;
  /** Lowest worker ID. Default 0. */
  min?: number;
  /** Highest worker ID. Default: the layout's largest. */
  max?: number;
}

/** A Snowflake whose worker ID comes from the host's file pool. */
export interface LocalSnowflake extends Snowflake {
  /** Gives the worker ID back (the generator stops minting); `workerId` tells which it held. */
  release(): Promise<void>;
}

interface Entry {
  pid: number;
  start: string;
  hw: number;
}

const WINDOW = 2000; // how far ahead the high-water mark is written

/** The start time of a process, to tell a live holder from a reused pid (Linux). */
function startOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function alive(e: Entry): boolean {
  if (e.pid <= 0) return false; // released
  try {
    process.kill(e.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const start = startOf(e.pid);
  return start === '' || e.start === '' || start === e.start;
}

function read(path: string): Entry | undefined {
  try {
    const e = JSON.parse(readFileSync(path, 'utf8')) as Entry;
    if (typeof e.pid === 'number' && typeof e.hw === 'number') return e;
  } catch {
    // unreadable or half-written: treated as stale below
  }
  return undefined;
}

function write(fd: number, e: Entry): void {
  const buf = Buffer.from(JSON.stringify(e).padEnd(96));
  writeSync(fd, buf, 0, buf.length, 0);
  fsyncSync(fd);
}

/**
 * A Snowflake generator with a worker ID from a file pool shared by the processes of
 * this host: distinct processes get distinct IDs; the ID of a process that died is
 * reclaimed, and its successor starts above anything the dead one could have minted.
 * No Redis. Only for processes of one host: hosts do not see each other's files.
 */
export async function localSnowflake(options: Omit<SnowflakeOptions, 'workerId'> & { pool?: FilePoolOptions } = {}): Promise<LocalSnowflake> {
  if (typeof options !== 'object' || options === null) throw new OptionTypeError('options', options, 'an object');
  const { pool = {}, ...rest } = options;
  rejectUnknown(pool as Record<string, unknown>, ['dir', 'min', 'max'], 'pool');
  const clock = new Clock();
  const gen = boundSnowflake(rest, clock);
  const top = 2 ** gen.layout.workerBits - 1;
  const min = pool.min === undefined ? 0 : parseInteger('pool.min', pool.min, 0, top);
  const max = pool.max === undefined ? top : parseInteger('pool.max', pool.max, min, top);
  if (pool.dir !== undefined && (typeof pool.dir !== 'string' || pool.dir === '')) throw new OptionTypeError('pool.dir', pool.dir, 'a folder path');
  const dir = pool.dir ?? join(tmpdir(), 'muster-workers');
  mkdirSync(dir, { recursive: true });

  const me = { pid: process.pid, start: startOf(process.pid) };
  for (let n = min; n <= max; n++) {
    const path = join(dir, `${n}.lock`);
    // A file that is new has no record of earlier holders (or the folder was cleared
    // under a live one): start a little ahead, as a new Redis group does.
    let floor = Date.now() + WINDOW;
    if (!create(path, { ...me, hw: floor + WINDOW })) {
      const taken = takeOver(path, me);
      if (taken === undefined) continue;
      floor = taken;
    }
    return hold(gen, n, openSync(path, 'r+'), path, floor, me, clock);
  }
  // Every worker ID is held by a live process of this host.
  throw new ShardsExhaustedError(min, max, undefined);
}

/**
 * Takes over the entry of a dead holder. The lock file never disappears on the way (a
 * process starting meanwhile must not take the number for never used and drop the dead
 * holder's mark): the new entry replaces it by an atomic rename, and a `.takeover` file,
 * created exclusively, lets only one process do so. Returns the floor, or undefined.
 */
function takeOver(path: string, me: { pid: number; start: string }): number | undefined {
  const held = read(path);
  if (held ? alive(held) : !oldEnough(path)) return undefined;
  const guard = `${path}.takeover`;
  if (!create(guard, { ...me, hw: 0 })) {
    // Another process is taking it over, or died doing so long ago.
    if (!oldEnough(guard)) return undefined;
    try {
      unlinkSync(guard);
    } catch {
      // someone else cleared it
    }
    return undefined;
  }
  try {
    // Read again under the guard: someone may have taken it over just before.
    const again = read(path);
    if (again ? alive(again) : !oldEnough(path)) return undefined;
    const floor = Math.max(Date.now(), again?.hw ?? Date.now() + WINDOW);
    const tmp = `${path}.${process.pid}.new`;
    writeFileSync(tmp, JSON.stringify({ ...me, hw: floor + WINDOW }).padEnd(96));
    renameSync(tmp, path);
    return floor;
  } finally {
    unlinkSync(guard);
  }
}

/** Creates `path` with its whole content at once (link of a written file), or returns false if it exists. */
function create(path: string, e: Entry): boolean {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(e).padEnd(96));
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    unlinkSync(tmp);
  }
}

/** An unreadable entry counts as stale only once nobody has written it for a while. */
function oldEnough(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > 4 * WINDOW;
  } catch {
    return true;
  }
}

function hold(gen: Snowflake, worker: number, fd: number, path: string, floor: number, me: { pid: number; start: string }, clock: Clock): LocalSnowflake {
  let released = false;
  const inode = fstatSync(fd).ino;
  const refuse = () => new LeaseExpiredError(`muster: worker ID ${worker} is not held (released, or its lock file was removed)`);
  const stop = () => {
    clearInterval(timer);
    gen.renewLease(-Infinity, -Infinity, refuse);
  };
  // Write the mark before minting up to it: a process mints only up to what is on disk.
  const renew = () => {
    let ours = false;
    try {
      ours = statSync(path).ino === inode;
    } catch {
      // removed
    }
    if (!ours) return stop();
    const send = mono();
    const genAt = Math.floor(clock.now());
    const base = Math.max(genAt, gen.lastMs(), floor + 1);
    write(fd, { ...me, hw: base + WINDOW });
    gen.renewLease(send + WINDOW - 50, base + WINDOW, refuse);
  };
  gen.bindLease(worker, floor, refuse);
  const timer = setInterval(renew, WINDOW / 4);
  timer.unref();
  renew();
  return Object.assign(gen, {
    async release() {
      if (released) return;
      released = true;
      stop();
      // The file stays, marked free, with the mark the next holder starts above.
      write(fd, { pid: 0, start: '', hw: Math.max(gen.lastMs(), floor) });
      closeSync(fd);
    },
  }) as LocalSnowflake;
}
