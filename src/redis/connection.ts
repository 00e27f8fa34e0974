// Connections: from a URL, ioredis options (Sentinel included) or a client the caller
// owns; plus the Pub/Sub subscription a member listens to for group changes.

import { Cluster, Redis } from 'ioredis';
import type { RedisInput } from '../options.js';

export type Client = Redis | Cluster;

export interface Connection {
  readonly client: Client;
  /** True when muster created the client and so closes it on leave. */
  readonly own: boolean;
}

const OWN_DEFAULTS = {
  // Fail a command after one reconnect attempt instead of queueing it for long: a
  // heartbeat that cannot reach Redis must surface as an error, not hang.
  maxRetriesPerRequest: 1,
  retryStrategy: (times: number) => Math.min(50 * 2 ** times, 1000),
  lazyConnect: false,
  // The ready check costs an INFO round trip on every connect; a script that meets a
  // Redis still loading its data fails and is retried at the next heartbeat instead.
  enableReadyCheck: false,
};

export function connect(input: RedisInput): Connection {
  if (input instanceof Redis || input instanceof Cluster) return { client: input, own: false };
  if (typeof input === 'string') return { client: new Redis(input, OWN_DEFAULTS), own: true };
  return { client: new Redis({ ...OWN_DEFAULTS, ...input }), own: true };
}

/**
 * Subscribes to `channel`. On a client we own that speaks RESP3, Pub/Sub shares the
 * connection; otherwise a duplicate connection carries it. Returns a function that
 * unsubscribes and closes what it opened.
 */
export async function subscribe(
  conn: Connection,
  channel: string,
  onMessage: (message: string) => void,
  onError: (err: Error) => void,
): Promise<() => Promise<void>> {
  const shared = conn.own && conn.client instanceof Redis && conn.client.options.protocol === 3;
  const sub: Client = shared ? conn.client : (conn.client as Redis).duplicate();
  const handler = (ch: string | Buffer, msg: string | Buffer) => {
    if (String(ch) === channel) onMessage(String(msg));
  };
  const errorHandler = (err: Error) => onError(err);
  sub.on('message', handler);
  if (!shared) sub.on('error', errorHandler);
  try {
    await sub.subscribe(channel);
  } catch (err) {
    sub.off('message', handler);
    if (!shared) sub.disconnect();
    throw err;
  }
  return async () => {
    sub.off('message', handler);
    if (shared) {
      await sub.unsubscribe(channel).catch(() => undefined);
    } else {
      sub.disconnect();
      sub.off('error', errorHandler);
    }
  };
}

/** Closes a client muster created: QUIT when connected, else disconnect at once. */
export async function close(conn: Connection): Promise<void> {
  if (!conn.own) return;
  const c = conn.client;
  if (c.status === 'ready') {
    await Promise.race([c.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
  c.disconnect();
}
