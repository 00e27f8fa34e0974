// The ACL of the README: keys and channels under the prefix, and the commands muster runs.

const COMMANDS = [
  'evalsha', 'eval', 'info', 'time', 'wait', 'ping', 'hello', 'auth', 'quit', 'ssubscribe', 'sunsubscribe',
  'hget', 'hmget', 'hset', 'hdel', 'hgetall', 'hlen', 'hincrby', 'zadd', 'zrem', 'zscore', 'zrange', 'zrangebyscore',
  'lpush', 'lindex', 'rpop', 'lrange', 'spublish', 'pttl', 'pexpire', 'persist', 'hexists',
  // group reset
  'del', 'hkeys', 'zcard', 'llen',
];

/** What the README adds on a Redis Cluster. */
export const CLUSTER_COMMANDS = ['cluster|slots', 'cluster|info'];

/** ACL SETUSER rules for password `secret`: the README's list, minus `without`, plus `extra`. */
export const acl = (without: string[] = [], extra: string[] = []) => [
  'on', '>secret', 'resetkeys', '~muster:*', 'resetchannels', '&muster:*', '-@all',
  ...[...COMMANDS.filter((c) => !without.includes(c)), ...extra].map((c) => `+${c}`),
];
