// Prometheus metrics of a member, through prom-client: an optional peer dependency,
// loaded only when metrics are asked for, so members that do not export metrics pay
// nothing for it.

import { MusterError } from './errors.js';
import { mono } from './clock.js';
import type { Member } from './membership/member.js';

/** A prom-client `Registry` (typed by shape, so muster's types do not need prom-client). */
export interface MetricsRegistry {
  registerMetric(metric: never): void;
  removeSingleMetric(name: string): void;
}

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /** The registry to register into (default: prom-client's global `register`). */
  registry?: MetricsRegistry;
  /** Prefix of every metric name (default `'muster_'`). */
  prefix?: string;
}

/** The names {@link registerMetrics} registers, after the prefix. */
export const METRIC_NAMES = [
  'members',
  'lease_valid',
  'lease_deadline_seconds',
  'shard',
  'ids_minted_total',
  'heartbeat_seconds',
  'errors_total',
  'node_down_total',
] as const;

type PromClient = {
  register: MetricsRegistry;
  Gauge: new (c: Record<string, unknown>) => { set(v: number): void; set(labels: Record<string, string>, v: number): void };
  Counter: new (c: Record<string, unknown>) => { inc(v?: number): void; inc(labels: Record<string, string>, v?: number): void };
  Histogram: new (c: Record<string, unknown>) => { observe(v: number): void };
};

async function loadPromClient(): Promise<PromClient> {
  try {
    const m = (await import('prom-client')) as unknown as PromClient & { default?: PromClient };
    return m.Gauge ? m : (m.default as PromClient);
  } catch (err) {
    throw new MusterError('PEER_MISSING', 'muster: metrics need the optional peer dependency prom-client (npm install prom-client)', { cause: err });
  }
}

/**
 * Registers a member's metrics into a prom-client registry: live members, whether the
 * lease is valid and how long until its deadline, the shard, IDs minted, a histogram of
 * heartbeat round trips, errors by code, and `node down` reports this member handled.
 * Resolves a function that unregisters them (and stops listening to the member).
 * Rejects with code `PEER_MISSING` when prom-client is not installed.
 */
export async function registerMetrics(member: Member, options: MetricsOptions = {}): Promise<() => void> {
  const prom = await loadPromClient();
  const registry = options.registry ?? prom.register;
  const p = options.prefix ?? 'muster_';
  const registers = [registry];
  const labels = { group: member.options.group, node: member.id };
  const labelNames = ['group', 'node'];
  /** A gauge read at scrape time; `value` returning undefined keeps the last value. */
  const gauge = (name: string, help: string, value: () => number | undefined | Promise<number | undefined>) =>
    new prom.Gauge({
      name: p + name,
      help,
      labelNames,
      registers,
      async collect(this: { set(l: Record<string, string>, v: number): void }) {
        const v = await value();
        if (v !== undefined) this.set(labels, v);
      },
    });
  gauge('members', 'Live members of the group, as this member last read them from Redis', () =>
    // Redis unreachable: the gauge keeps its last value; errors_total counts why.
    member.nodes().then((n) => n.length, () => undefined),
  );
  gauge('lease_valid', '1 while the shard lease is surely valid (IDs may be minted), else 0', () => (member.lease?.isValid() ? 1 : 0));
  gauge('lease_deadline_seconds', 'Seconds until the lease stops being surely valid without a renewal (0 without a valid lease)', () => {
    const l = member.lease;
    return l?.isValid() ? Math.max(0, (l.validUntil - mono()) / 1000) : 0;
  });
  gauge('shard', 'The shard held under a valid lease, -1 for none', () => member.shard ?? -1);
  let reported = 0;
  new prom.Counter({
    name: p + 'ids_minted_total',
    help: "IDs minted by the member's Snowflake generator",
    labelNames,
    registers,
    collect(this: { inc(l: Record<string, string>, v: number): void }) {
      const n = member.minted;
      if (n > reported) this.inc(labels, n - reported);
      reported = n;
    },
  });
  const beats = new prom.Histogram({
    name: p + 'heartbeat_seconds',
    help: 'Round trip of heartbeats (one script call each)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  }) as unknown as { observe(v: number): void };
  const errors = new prom.Counter({ name: p + 'errors_total', help: 'Errors reported by the member (Redis errors, lost leases, ...), by code', labelNames: ['code'], registers });
  const downs = new prom.Counter({ name: p + 'node_down_total', help: '`node down` reports this member handled', registers });
  const onBeat = (ms: number) => beats.observe(ms / 1000);
  const onError = (err: Error) => errors.inc({ code: String((err as { code?: unknown }).code ?? 'UNKNOWN') });
  const onDown = () => downs.inc();
  member.on('heartbeat', onBeat);
  member.on('error', onError);
  member.on('node down', onDown);
  return () => {
    member.off('heartbeat', onBeat);
    member.off('error', onError);
    member.off('node down', onDown);
    for (const n of METRIC_NAMES) registry.removeSingleMetric(p + n);
  };
}
