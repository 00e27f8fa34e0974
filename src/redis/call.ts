// Bounding and naming the failures of Redis calls: every call muster makes has a time
// limit, and every failure surfaces as a RedisError that says which call failed.

import { MusterError, RedisError } from '../errors.js';

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
  return new RedisError(`${what} failed: ${msg}`, { cause: err });
}
