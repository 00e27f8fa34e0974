// The events of members and group views, and how they are emitted: a listener that
// throws becomes an `error` event, and an `error` listener that throws is swallowed, so
// neither can crash a timer or leave the member half-updated.

import type { EventEmitter } from 'eventemitter3';
import type { Lease } from '../shards/lease.js';
import type { DepartedNode, LostReason, NodeInfo, ShardLostReason } from '../types.js';
import type { JsonValue } from '../options.js';

/** Listener signatures of a {@link Member}'s events. */
export interface MemberEvents<Meta = JsonValue> {
  /** A member joined the group (every member gets this). */
  '+node': (node: NodeInfo<Meta>) => void;
  /** A member left or died (every member gets this); `node.reason` says which. */
  '-node': (node: DepartedNode<Meta>) => void;
  /**
   * A member died and this member is the one to clean up after it (exactly one gets
   * this). A listener that returns a promise holds the report until it settles: if this
   * member dies first, another survivor gets the report and runs its cleanup again; a
   * rejected promise gives an `error` event ({@link CleanupError}) and a new delivery later.
   */
  'node down': (node: NodeInfo<Meta>) => void | Promise<unknown>;
  /** This member now holds `shard` (on join, after a rejoin, and when a lapsed lease recovers). */
  shard: (shard: number, lease: Lease) => void;
  /** The lease on `shard` ended: stop using it. */
  'shard lost': (shard: number, reason: ShardLostReason) => void;
  /** The store no longer knew this member; it rejoins by itself unless `rejoin: false`. */
  lost: (reason: LostReason) => void;
  /**
   * This member came back as a new life after `lost` (a pause past the timeout, a wiped
   * store). Another member may have cleaned up after `previous` by now.
   */
  rejoined: (previous: string, life: string) => void;
  /** A heartbeat landed: its round trip in ms (for metrics). */
  heartbeat: (roundTripMs: number) => void;
  /** Something failed; never thrown into the void. */
  error: (err: Error) => void;
  /** Forwarded from the Redis connection. */
  connect: () => void;
  /** Forwarded from the Redis connection. */
  ready: () => void;
  /** Forwarded from the Redis connection: delay before the next attempt, in ms. */
  reconnecting: (delay: number) => void;
  /** Forwarded from the Redis connection. */
  close: () => void;
  /** Forwarded from the Redis connection: it will not reconnect. */
  end: () => void;
}

type Emitter = Pick<EventEmitter, 'emit'>;

/** Emits an `error` event; an error listener that throws is not allowed to crash a timer. */
export function emitError(emitter: Emitter, err: Error): void {
  try {
    emitter.emit('error', err);
  } catch {
    // A throwing error listener has nowhere better to go.
  }
}

/** Emits a user-facing event; a listener that throws becomes an `error` event. */
export function emitSafely(emitter: Emitter, event: string, args: unknown[]): void {
  try {
    emitter.emit(event, ...args);
  } catch (err) {
    emitError(emitter, err instanceof Error ? err : new Error(String(err)));
  }
}
