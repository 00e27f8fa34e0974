// Public data types shared by the member, its events and the scripts' parsed replies.

import type { JsonValue } from './options.js';

/**
 * A live member as its peers see it. `Meta` is the type of its `meta` (give it to
 * `join<Meta>()` or `group<Meta>()`; muster checks only that it is JSON).
 */
export interface NodeInfo<Meta = JsonValue> {
  /** The member's nodeId. */
  readonly id: string;
  /** This life of the member: a token that is new at every join (a rejoin after `lost` is a new life). */
  readonly life: string;
  /** The JSON value it joined with. */
  readonly meta: Meta;
  /** Redis time (ms since 1970) when this life of the member joined. */
  readonly joinedAt: number;
  /** The shard it holds, when the group uses shards. */
  readonly shard?: number;
}

/** A member that left or died, as `-node` reports it. */
export interface DepartedNode<Meta = JsonValue> extends NodeInfo<Meta> {
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

/** One shard of a group, as {@link Group.shards} reads it. */
export interface ShardInfo {
  readonly shard: number;
  /**
   * `'held'`: a member record names it; `'quarantined'`: freed, and not claimable
   * before `quarantinedUntil`; `'free'`: claimable.
   */
  readonly state: 'held' | 'quarantined' | 'free';
  /** The holding member life, when held (`expiresAt`: Redis ms its record expires unless it beats). */
  readonly holder?: { readonly id: string; readonly life: string; readonly expiresAt: number };
  /** Fencing number of the latest lease on the shard. */
  readonly fence?: number;
  /** IDs of the latest lease carry timestamps above this (ms since 1970). */
  readonly floor?: number;
  /** How far holders of the shard were allowed to mint so far (ms since 1970). */
  readonly reservedUntil?: number;
  /** Redis ms when the quarantine ends, when quarantined. */
  readonly quarantinedUntil?: number;
}
