// Public exports of muster.

export { join, createMember, Member } from './membership/member.js';
export type { MemberEvents } from './membership/events.js';
export { group, Group } from './membership/group.js';
export type { ResetResult, RangeResult } from './membership/group.js';
export type { GroupEvents } from './membership/group.js';
export { Lease } from './shards/lease.js';
export type { FencedGenerator } from './shards/fencing.js';
export { Snowflake } from './snowflake/generator.js';
export type { SnowflakeOptions } from './snowflake/generator.js';
export { LAYOUTS, DEFAULT_EPOCH, resolveLayout } from './snowflake/layout.js';
export type { Layout, LayoutName, ResolvedLayout } from './snowflake/layout.js';
export { decodeId, encodeId } from './snowflake/decode.js';
export type { DecodedId } from './snowflake/decode.js';
export { RedisIds } from './ids/redis-ids.js';
export { Sequence } from './sequences/sequence.js';
export { registerMetrics, METRIC_NAMES } from './metrics.js';
export type { MetricsOptions, MetricsRegistry } from './metrics.js';
export type { SequenceOptions } from './sequences/sequence.js';
export type { RedisIdsOptions } from './ids/redis-ids.js';
export { localSnowflake } from './snowflake/filepool.js';
export type { FilePoolOptions, LocalSnowflake } from './snowflake/filepool.js';
export type { ConnectionFailure, SequenceRefusal } from './errors.js';
export type { JoinOptions, GroupOptions, IoredisClient, ShardOptions, DurabilityOptions, RedisInput, Duration, JsonValue } from './options.js';
export type { NodeInfo, DepartedNode, LostReason, ShardLostReason, ShardInfo } from './types.js';
export {
  MusterError,
  OptionTypeError,
  OptionRangeError,
  DuplicateNodeError,
  ShardsExhaustedError,
  GroupConfigError,
  LeaseExpiredError,
  ClockSkewError,
  GeneratorStalledError,
  RedisError,
  DurabilityError,
  MemberClosedError,
  StoreConfigError,
  CleanupError,
  ConnectionError,
  SequenceFloorError,
  GroupInUseError,
  ShardHeldError,
} from './errors.js';
