// Public data types shared by the member, its events and the scripts' parsed replies.

import type { JsonValue } from './options.js';

/** A live member as its peers see it. */
export interface NodeInfo {
  /** The member's nodeId. */
  readonly id: string;
  /** This life of the member: a token that is new at every join (a rejoin after `lost` is a new life). */
  readonly life: string;
  /** The JSON value it joined with. */
  readonly meta: JsonValue;
  /** Redis time (ms since 1970) when this life of the member joined. */
  readonly joinedAt: number;
  /** The shard it holds, when the group uses shards. */
  readonly shard?: number;
}

/** A member that left or died, as `-node` reports it. */
export interface DepartedNode extends NodeInfo {
  /** `'left'`: it called `leave()`; `'timeout'`: it stopped heartbeating. */
  readonly reason: 'left' | 'timeout';
}

/** Why a member's record vanished from the store. */
export type LostReason =
  /** Its heartbeats stopped long enough for it to expire (a pause, a blocked event loop). */
  | 'expired'
  /** Another member reaped it, or its record was replaced. */
  | 'gone'
  /** Redis lost the group's data (a restart without persistence, a flush). */
  | 'wiped';

/** Why a shard lease ended. */
export type ShardLostReason =
  | LostReason
  | 'left'
  | 'renewal-overdue'
  /** The store restarted or failed over: a new lease on the same shard follows at once, above a new floor. */
  | 'restarted';
