// A shard channel subscription on a Redis Cluster, kept on the master that owns the
// channel's slot. The scripts SPUBLISH there, so a group's changes never travel to the
// other masters. One plain connection per subscription, re-resolved when the slot
// moves (a failover, a resharding) or the connection drops; a message missed while it
// moves is found by the next catch-up read, as after any Pub/Sub gap.

import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { withTimeout } from './call.js';

/** The Cluster slot of a key or shard channel (CRC16/XMODEM of its hash tag, mod 16384). */
export function slotOf(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** How often the owner recorded by the Cluster client is compared with ours. */
const CHECK_MS = 1000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;
/** How long one connect + SSUBSCRIBE may take before it is abandoned and retried. */
const SUBSCRIBE_MS = 2000;

/**
 * Subscribes to `channel` on the master owning its slot and keeps it there. Resolves
 * once the first SSUBSCRIBE succeeded; the returned function stops everything it
 * started (connections and timers), so a process holding one can exit.
 */
export async function subscribeShardChannel(
  cluster: Cluster,
  channel: string,
  onMessage: (message: string) => void,
  onError: (err: Error) => void,
  onSubscribed: () => void,
): Promise<() => Promise<void>> {
  const keeper = new ShardChannel(cluster, channel, onMessage, onError, onSubscribed);
  await keeper.start();
  return () => keeper.stop();
}

class ShardChannel {
  private readonly slot: number;
  private sub: Redis | undefined;
  private node = '';
  private stopped = false;
  private moving: Promise<void> | undefined;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly checker: NodeJS.Timeout;

  constructor(
    private readonly cluster: Cluster,
    private readonly channel: string,
    private readonly onMessage: (message: string) => void,
    private readonly onError: (err: Error) => void,
    private readonly onSubscribed: () => void,
  ) {
    this.slot = slotOf(channel);
    this.checker = setInterval(() => {
      if (this.sub && this.owner() !== this.node) this.move(false);
    }, CHECK_MS);
    this.checker.unref();
  }

  /**
   * The first subscription. A refused permission is final; any other failure (the
   * owner going down just then, say) is reported and retried like a move.
   */
  async start(): Promise<void> {
    try {
      await this.connect(false);
    } catch (err) {
      if (/NOPERM/.test((err as Error).message)) {
        await this.stop();
        throw err;
      }
      this.retry(err as Error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.checker);
    clearTimeout(this.retryTimer);
    this.drop();
    await this.moving?.catch(() => undefined);
  }

  /** The master the Cluster client believes owns the slot ("host:port"). */
  private owner(): string {
    return this.cluster.slots[this.slot]?.[0] ?? '';
  }

  private refresh(): Promise<void> {
    return new Promise((resolve) => {
      this.cluster.refreshSlotsCache(() => resolve());
    });
  }

  private drop(): void {
    const sub = this.sub;
    this.sub = undefined;
    this.node = '';
    if (!sub) return;
    sub.removeAllListeners('smessage');
    sub.removeAllListeners('moved');
    sub.removeAllListeners('close');
    sub.on('error', () => undefined);
    sub.disconnect();
  }

  /** Connects to the owner and subscribes; `refresh` first asks the Cluster who owns it. */
  private async connect(refresh: boolean): Promise<void> {
    if (refresh || !this.owner()) await this.refresh();
    const node = this.owner();
    if (!node) throw new Error(`no master owns slot ${this.slot} of ${this.channel}`);
    const at = node.lastIndexOf(':');
    const given = (this.cluster.options.redisOptions ?? {}) as RedisOptions;
    const sub = new Redis({
      ...given,
      host: node.slice(0, at),
      port: Number(node.slice(at + 1)),
      lazyConnect: true,
      // This connection is never re-established in place: a new owner may be elsewhere.
      retryStrategy: () => null,
      autoResubscribe: false,
      enableReadyCheck: false,
      maxRetriesPerRequest: 1,
    });
    sub.on('error', (err: Error) => {
      if (!this.stopped) this.onError(err);
    });
    sub.on('smessage', (ch: string, msg: string) => {
      if (ch === this.channel) this.onMessage(msg);
    });
    try {
      // A connection cut while it is being made can leave ioredis' promises pending.
      await withTimeout(
        sub.connect().then(() => sub.ssubscribe(this.channel)),
        SUBSCRIBE_MS,
        `SSUBSCRIBE ${this.channel} at ${node}`,
      );
    } catch (err) {
      sub.removeAllListeners();
      sub.on('error', () => undefined);
      sub.disconnect();
      throw err;
    }
    if (this.stopped) {
      sub.disconnect();
      return;
    }
    this.sub = sub;
    this.node = node;
    this.retryMs = RETRY_MIN_MS;
    // Redis unsubscribes us when the slot leaves this master (ioredis reports `moved`);
    // a dropped connection may mean a failover. Either way, find the owner again.
    sub.once('moved', () => this.move(true));
    sub.once('close', () => this.move(true));
    this.onSubscribed();
  }

  /** Moves the subscription to the slot's current owner, retrying until it succeeds. */
  private move(refresh: boolean): void {
    if (this.stopped || this.moving) return;
    this.drop();
    this.moving = this.connect(refresh)
      .catch((err: Error) => this.retry(err))
      .finally(() => {
        this.moving = undefined;
      });
  }

  private retry(err: Error): void {
    if (this.stopped) return;
    this.onError(err);
    this.retryTimer = setTimeout(() => this.move(true), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}
