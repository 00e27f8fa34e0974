// The only place key names are built. Every key of a group carries the hash tag
// `{group}`, so each script touches one Redis Cluster slot; groups spread over masters.

/** The keys of one group, in the order every group script takes them as KEYS. */
export interface GroupKeys {
  readonly list: readonly [string, string, string, string, string, string, string];
  /** Pub/Sub channel on which change entries are announced. */
  readonly channel: string;
  /** Hash of the group's named sequences (their counters). */
  readonly sequences: string;
}

export function groupKeys(prefix: string, group: string): GroupKeys {
  const base = `${prefix}:{${group}}:`;
  return {
    list: [
      base + 'group',
      base + 'members',
      base + 'nodes',
      base + 'log',
      base + 'downs',
      base + 'free',
      base + 'shards',
    ],
    channel: base + 'events',
    sequences: base + 'seqs',
  };
}
