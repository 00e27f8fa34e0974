// Public exports of muster.

export { join, createMember, Member, Lease } from './member.js';
export type { MemberEvents, FencedGenerator } from './member.js';
export { Snowflake, LAYOUTS, DEFAULT_EPOCH, decodeId, encodeId, resolveLayout } from './snowflake.js';
export type { Layout, LayoutName, SnowflakeOptions, ResolvedLayout, DecodedId } from './snowflake.js';
export { localSnowflake } from './filepool.js';
export type { FilePoolOptions, LocalSnowflake } from './filepool.js';
export type { JoinOptions, ShardOptions, DurabilityOptions, RedisInput, Duration, JsonValue } from './options.js';
export type { NodeInfo, DepartedNode, LostReason, ShardLostReason } from './types.js';
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
} from './errors.js';
