// Connections: from a URL, ioredis options (Sentinel included) or a client the caller
// owns; plus the Pub/Sub subscription a member listens to for group changes.

import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ConnectionError } from '../errors.js';
import { type RedisInput, isIoredisClient } from '../options.js';
import { denied } from './call.js';
import { subscribeShardChannel } from './shard-channel.js';

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

/**
 * Opens a connection and checks it before anything is written: one connect attempt
 * (no retries), credentials, TLS, the database, and whether the server is a Cluster
 * node (then a Cluster client takes over). Fails with a {@link ConnectionError} whose
 * code says which, closing what it opened. A client the app made is used as it is.
 */
export async function open(input: RedisInput, connectTimeout: number): Promise<Connection> {
  // A client of the app's own ioredis (5 or 6) has the same API; it is used as it is.
  if (isIoredisClient(input)) return { client: input as unknown as Client, own: false };
  const given = typeof input === 'string' ? {} : (input as RedisOptions);
  const checking = { ...OWN_DEFAULTS, connectTimeout, ...given, lazyConnect: true, retryStrategy: () => null };
  const client = typeof input === 'string' ? new Redis(input, checking) : new Redis(checking);
  const o = client.options;
  const where = o.sentinels ? `the master "${o.name}" of Sentinel ${o.sentinels.map((x) => `${x.host}:${x.port}`).join(',')}` : `${o.host}:${o.port}`;
  const errors: Error[] = [];
  const onError = (e: Error) => errors.push(e);
  client.on('error', onError);
  let info: string;
  try {
    try {
      await client.connect();
      // Replies come in order: once this one is back, a failed AUTH or SELECT sent at
      // connect time has reported itself.
      info = await client.info('server');
    } catch (err) {
      throw classify(errors[0] ?? err, where);
    }
    const first = errors[0];
    if (first && /SELECT is not allowed in cluster mode/i.test(first.message)) throw clusterDb(where, o.db, first);
    if (first) {
      if (/DB index is out of range|invalid DB index/i.test(first.message)) {
        throw new ConnectionError('CONFIG', `database ${o.db} does not exist on ${where} (${first.message}); use a database below the server's \`databases\` setting`, { cause: first });
      }
      throw classify(first, where);
    }
  } catch (err) {
    client.disconnect();
    throw err;
  } finally {
    client.off('error', onError);
  }
  if (/redis_mode:cluster/.test(info)) {
    client.disconnect();
    if (o.db) throw clusterDb(where, o.db);
    return { client: await openCluster(o, connectTimeout, where), own: true };
  }
  client.options.retryStrategy = given.retryStrategy ?? OWN_DEFAULTS.retryStrategy;
  return { client, own: true };
}

function clusterDb(where: string, db: number | undefined, cause?: Error): ConnectionError {
  return new ConnectionError('CONFIG', `${where} is a Redis Cluster node, and a Cluster has only database 0; drop /${db} from the URL`, { cause });
}

/** A Cluster client seeded with the node a URL named. */
async function openCluster(o: RedisOptions, connectTimeout: number, where: string): Promise<Cluster> {
  const cluster = new Cluster([{ host: o.host ?? '127.0.0.1', port: o.port ?? 6379 }], {
    lazyConnect: true,
    redisOptions: { username: o.username, password: o.password, tls: o.tls, connectTimeout, maxRetriesPerRequest: 1 },
  });
  const errors: Error[] = [];
  const onError = (e: Error) => errors.push(e);
  cluster.on('error', onError);
  try {
    await cluster.connect();
    return cluster;
  } catch (err) {
    cluster.disconnect();
    throw classify(errors[0] ?? err, `the Cluster of ${where}`);
  } finally {
    cluster.off('error', onError);
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

/** Tells connection failures apart. */
function classify(err: unknown, where: string): ConnectionError {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  const code = e.code ?? '';
  if (/^(WRONGPASS|NOAUTH)|invalid (username-)?password/i.test(msg)) {
    return new ConnectionError('AUTH', `Redis at ${where} refused the credentials (${msg.split('.')[0]}); check the user name and password`, { cause: err });
  }
  const acl = denied(msg, err);
  if (acl) return acl;
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)/.test(code) || /certificate|SSL routines|TLS|wrong version number/i.test(msg)) {
    return new ConnectionError('TLS', `TLS to ${where} failed (${msg}); trust the server's CA with ioredis' \`tls: { ca }\` option or NODE_EXTRA_CA_CERTS, and check the host name matches its certificate`, { cause: err });
  }
  if (UNREACHABLE.has(code) || /^connect /.test(msg)) {
    return new ConnectionError('CONNECT', `cannot reach Redis at ${where} (${msg}); check the host and port, and that redis-server runs there`, { cause: err });
  }
  return new ConnectionError('CONNECT', `cannot use Redis at ${where} (${msg})`, { cause: err });
}

/**
 * Subscribes to the shard channel `channel` (SSUBSCRIBE: the scripts announce with
 * SPUBLISH). On a client we own that speaks RESP3, it shares the connection; otherwise
 * a duplicate connection carries it; on a Cluster, a connection to the master that
 * owns the channel's slot. Returns a function that unsubscribes and closes what it
 * opened. `onSubscribed` runs after each (re)subscription: changes published while
 * nobody listened are to be read then.
 */
export async function subscribe(
  conn: Connection,
  channel: string,
  onMessage: (message: string) => void,
  onError: (err: Error) => void,
  onSubscribed: () => void = () => undefined,
): Promise<() => Promise<void>> {
  // On a Cluster, a connection of our own to the master that owns the channel's slot
  // (ioredis' own sharded subscribers keep timers alive after disconnect()).
  if (conn.client.isCluster) return subscribeShardChannel(conn.client as Cluster, channel, onMessage, onError, onSubscribed);
  const client = conn.client as Redis;
  const shared = conn.own && client.options.protocol === 3;
  const sub = shared ? client : client.duplicate();
  const handler = (ch: string | Buffer, msg: string | Buffer) => {
    if (String(ch) === channel) onMessage(String(msg));
  };
  const errorHandler = (err: Error) => onError(err);
  sub.on('smessage', handler);
  if (!shared) sub.on('error', errorHandler);
  try {
    await sub.ssubscribe(channel);
  } catch (err) {
    sub.off('smessage', handler);
    if (!shared) sub.disconnect();
    throw err;
  }
  onSubscribed();
  // ioredis subscribes again after a reconnect; what was published meanwhile is read.
  sub.on('ready', onSubscribed);
  return async () => {
    sub.off('ready', onSubscribed);
    sub.off('smessage', handler);
    if (shared) {
      await sub.sunsubscribe(channel).catch(() => undefined);
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
