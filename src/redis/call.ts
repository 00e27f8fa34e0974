// Bounding and naming the failures of Redis calls: every call muster makes has a time
// limit, and every failure surfaces as a RedisError that says which call failed.

import { ConnectionError, MusterError, RedisError } from '../errors.js';

/** Rejects with a RedisError when `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  p.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisError(`${what} timed out after ${Math.round(ms)} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** A muster error as it is; anything else as a RedisError naming the call, with the original as `cause`. */
export function wrap(err: unknown, what: string): Error {
  if (err instanceof MusterError) return err as Error;
  const msg = err instanceof Error ? err.message : String(err);
  return denied(msg, err) ?? new RedisError(`${what} failed: ${msg}`, { cause: err });
}

/** An ACL refusal (also from inside a script) as an error that names what the user lacks. */
export function denied(msg: string, cause: unknown): ConnectionError | undefined {
  if (!/NOPERM/.test(msg)) return undefined;
  const cmd = /run the '([^']+)' command/.exec(msg)?.[1];
  const lacks = cmd ? `the command ${cmd.toUpperCase()}` : /channel/i.test(msg) ? 'the channel' : /key/i.test(msg) ? 'the keys' : 'a permission';
  return new ConnectionError('NOPERM', `the Redis user may not use ${lacks} (${msg.replace(/^.*NOPERM/s, 'NOPERM')}); grant what the README's ACL section lists`, { cause });
}
