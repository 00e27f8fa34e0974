#!/usr/bin/env node
// The `muster` command: status and watch of a group (through the read-only group view:
// running them changes nothing in Redis), the group's administration (reset, set-range),
// decoding IDs and the HTTP service. Exit codes: 0 done, 1 a failure (Redis unreachable,
// refused credentials, a refused reset, ...), 2 bad usage.

import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { MusterError } from '../errors.js';
import { group as openGroup } from '../membership/group.js';
import { createMember } from '../membership/member.js';
import { type MetricsRegistry, registerMetrics } from '../metrics.js';
import { Service, listen } from '../serve/service.js';
import { createServer } from 'node:http';
import type { Group } from '../membership/group.js';
import { decodeId } from '../snowflake/decode.js';
import type { NodeInfo } from '../types.js';

const HELP: Record<string, string> = {
  main: `Usage: muster <command> [options]

Commands:
  status   members and shards of a group, once
  watch    the same, live, with +node/-node lines as they happen (Ctrl-C ends)
  decode   the timestamp, shard and sequence of an ID
  serve    join the group and serve IDs, sequences, health, metrics and a status page over HTTP
  group    administer a group: "group reset" removes it, "group set-range" changes its shard range

Connection (status, watch, serve, group): --redis URL (default: REDIS_URL, else redis://127.0.0.1:6379),
--group NAME (default: default), --prefix P (default: muster).
Run "muster <command> --help" for a command's options.
Exit codes: 0 done, 1 failure, 2 bad usage.`,
  status: `Usage: muster status [--redis URL] [--group NAME] [--prefix P] [--json]

Prints the group's members (id, life, shard, last heartbeat, joined, meta; in Redis
time) and shards (holder, fence,
floor, reserved until, free or quarantined until). Reads only: nothing in the group
changes. --json prints one JSON object instead of tables.`,
  watch: `Usage: muster watch [--redis URL] [--group NAME] [--prefix P] [--poll MS]

Prints the status, then one line per member that joins (+) or departs (-), until Ctrl-C.
Reads only: nothing in the group changes.`,
  decode: `Usage: muster decode ID [--layout twitter|sonyflake|...] [--epoch DATE] [--json]

Prints the ID's time (ISO), shard (worker ID) and sequence. The layout and epoch must be
those the generator used (default: muster's defaults).`,
  serve: `Usage: muster serve [--port 8080] [--host 127.0.0.1] [--redis URL] [--group NAME]
                    [--prefix P] [--node-id ID] [--heartbeat 500ms] [--timeout 3s]
                    [--sequences NAME,NAME] [--max-sequences 100]

Joins the group as a member (it holds a shard) and serves, as JSON with IDs as decimal
strings:
  GET /id                     one Snowflake ID
  GET /ids?n=N                N IDs (1 to 4096)
  GET /sequences/NAME/next    the next number of a named sequence
  GET /nodes                  the live members
  GET /healthz                200 while the lease is surely valid, else 503
  GET /metrics                Prometheus metrics (needs the prom-client package)
  GET /                       a live status page
No ID is served without a surely valid lease (503). Sequence names: only those listed
with --sequences (others 404), else any, up to --max-sequences distinct names (others
429: each is a counter kept in Redis for ever). SIGTERM or Ctrl-C: stops accepting,
leaves the group, exits 0.`,
  group: `Usage: muster group reset --group NAME [--yes] [--force] [--redis URL] [--prefix P] [--json]
       muster group set-range --group NAME --min A --max B [--redis URL] [--prefix P] [--json]

reset      Removes the group's members, shard records, node-down reports, change log and
           recorded config (shard range, horizon, timeouts): the next member starts it
           with its own. Refused while a member is alive, unless --force (live members
           then lose their lives and rejoin). IDs minted after it never repeat those
           minted before: the group keeps a floor above every reservation ever made. The
           Snowflake layout and epoch and the named sequences' counters are kept.
           Asks first on a terminal; elsewhere --yes is required. Prints what it removed.
set-range  Sets the group's shard range, also while members hold shards. Widening always
           works; narrowing is refused while a shard outside the new range is held.
           Joiners then get shards of this range whatever their own shards option says.`,
};

class UsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean' }>): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean' } }, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const CONNECTION = { redis: { type: 'string' }, group: { type: 'string' }, prefix: { type: 'string' } } as const;

function viewOf(values: Values, poll?: number) {
  return openGroup({
    redis: (values.redis as string | undefined) ?? process.env.REDIS_URL,
    group: values.group as string | undefined,
    prefix: values.prefix as string | undefined,
    ...(poll !== undefined ? { poll } : {}),
  });
}

/** A fixed-width text table. */
function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function memberRow(n: NodeInfo, lastBeatAt: number | undefined, now: number): string[] {
  const beat = lastBeatAt === undefined ? '-' : `${Math.max(0, now - lastBeatAt)} ms ago`;
  return [n.id, n.life, n.shard === undefined ? '-' : String(n.shard), beat, ago(n.joinedAt, now), JSON.stringify(n.meta)];
}

async function status(args: string[], out: (s: string) => void): Promise<void> {
  const { values } = parse(args, { ...CONNECTION, json: { type: 'boolean' } });
  const g = viewOf(values);
  try {
    const [nodes, shards, { now, beats }] = await Promise.all([g.nodes(), g.shards(), g.heartbeats()]);
    const lastBeat = (n: NodeInfo) => {
      const b = beats.get(n.id);
      return b && b.life === n.life ? b.lastBeatAt : undefined;
    };
    if (values.json) {
      out(JSON.stringify({ group: values.group ?? 'default', now, nodes: nodes.map((n) => ({ ...n, lastBeatAt: lastBeat(n) })), shards }, null, 2));
      return;
    }
    out(`${nodes.length} member${nodes.length === 1 ? '' : 's'}`);
    if (nodes.length > 0) {
      out(table(['ID', 'LIFE', 'SHARD', 'LAST BEAT', 'JOINED', 'META'], nodes.map((n) => memberRow(n, lastBeat(n), now))));
    }
    if (shards.length > 0) {
      out('');
      out(
        table(
          ['SHARD', 'STATE', 'HOLDER', 'FENCE', 'FLOOR', 'RESERVED UNTIL'],
          shards.map((s) => [
            String(s.shard),
            s.state === 'quarantined' ? `quarantined until ${new Date(s.quarantinedUntil!).toISOString()}` : s.state,
            s.holder ? `${s.holder.id} (${s.holder.life})` : '-',
            s.fence === undefined ? '-' : String(s.fence),
            s.floor === undefined ? '-' : new Date(s.floor).toISOString(),
            s.reservedUntil === undefined ? '-' : new Date(s.reservedUntil).toISOString(),
          ]),
        ),
      );
    }
  } finally {
    await g.close();
  }
}

async function watch(args: string[], out: (s: string) => void): Promise<void> {
  const { values } = parse(args, { ...CONNECTION, poll: { type: 'string' } });
  const poll = values.poll === undefined ? undefined : Number(values.poll);
  if (poll !== undefined && !(Number.isInteger(poll) && poll > 0)) throw new UsageError(`--poll must be a whole number of ms above 0, got ${values.poll}`);
  await status(args.filter((a, i) => a !== '--poll' && args[i - 1] !== '--poll' && !a.startsWith('--poll=')), out);
  const g = viewOf(values, poll);
  const stamp = () => new Date().toISOString();
  g.on('+node', (n) => out(`${stamp()} +${n.id} life ${n.life}${n.shard === undefined ? '' : ` shard ${n.shard}`}`));
  g.on('-node', (n) => out(`${stamp()} -${n.id} life ${n.life} (${n.reason})`));
  g.on('error', (err) => process.stderr.write(`muster: ${err.message}\n`));
  try {
    await g.watching();
  } catch (err) {
    await g.close();
    throw err;
  }
  out(`${stamp()} watching; Ctrl-C ends`);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  await g.close();
}

function decode(args: string[], out: (s: string) => void): void {
  const { values, positionals } = parse(args, { layout: { type: 'string' }, epoch: { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError(`decode takes one ID, got ${positionals.length}`);
  const d = decodeId(positionals[0]!, values.layout as never, values.epoch as string | undefined);
  const r = { id: positionals[0], time: new Date(d.timestamp).toISOString(), shard: d.workerId, sequence: d.sequence };
  out(values.json ? JSON.stringify(r) : `time ${r.time}\nshard ${r.shard}\nsequence ${r.sequence}`);
}

async function serve(args: string[], out: (s: string) => void): Promise<void> {
  const { values } = parse(args, {
    ...CONNECTION,
    port: { type: 'string' },
    host: { type: 'string' },
    'node-id': { type: 'string' },
    heartbeat: { type: 'string' },
    timeout: { type: 'string' },
    sequences: { type: 'string' },
    'max-sequences': { type: 'string' },
  });
  const port = values.port === undefined ? 8080 : Number(values.port);
  const sequences = values.sequences === undefined ? undefined : (values.sequences as string).split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (sequences !== undefined && sequences.length === 0) throw new UsageError(`--sequences must name at least one sequence, got ${JSON.stringify(values.sequences)}`);
  const maxRaw = values['max-sequences'] as string | undefined;
  if (maxRaw !== undefined && !/^[1-9]\d*$/.test(maxRaw)) throw new UsageError(`--max-sequences must be a whole number above 0, got ${maxRaw}`);
  const maxSequences = maxRaw === undefined ? undefined : Number(maxRaw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0 to 65535), got ${values.port}`);
  const host = (values.host as string | undefined) ?? '127.0.0.1';
  const redis = (values.redis as string | undefined) ?? process.env.REDIS_URL;
  const common = { redis, group: values.group as string | undefined, prefix: values.prefix as string | undefined };
  // Signals that come while joining still stop the service once it stands.
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Listen first, so the member's meta carries the port actually bound.
  const server = createServer();
  let bound: number;
  try {
    bound = await listen(server, port, host);
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw new Error(`cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  const member = createMember({
    ...common,
    ...(values['node-id'] !== undefined ? { nodeId: values['node-id'] as string } : {}),
    ...(values.heartbeat !== undefined ? { heartbeat: values.heartbeat as string } : {}),
    ...(values.timeout !== undefined ? { timeout: values.timeout as string } : {}),
    meta: { service: `http://${host}:${bound}` },
  });
  member.on('error', (err) => process.stderr.write(`muster serve: ${err.message}\n`));
  let service: Service | undefined;
  let view: Group | undefined;
  try {
    await member.join();
    view = openGroup(common);
    view.on('error', () => undefined);
    let metrics: { contentType: string; metrics(): Promise<string> } | undefined;
    try {
      const prom = (await import('prom-client')) as unknown as { Registry: new () => { contentType: string; metrics(): Promise<string> } & MetricsRegistry };
      const registry = new prom.Registry();
      await registerMetrics(member, { registry });
      metrics = registry;
    } catch {
      process.stderr.write('muster serve: prom-client is not installed; /metrics answers 501\n');
    }
    service = new Service({ member, view, server, ...(metrics ? { metrics } : {}), ...(sequences ? { sequences } : {}), ...(maxSequences ? { maxSequences } : {}) });
    out(`muster serve: ${member.id} in group ${member.options.group}, shard ${member.shard ?? '-'}, listening on http://${host}:${bound}`);
    await stopped;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (service) await service.close();
    else server.close();
    await member.leave().catch(() => undefined);
    await view?.close();
    if (service) out('muster serve: left the group, stopped');
  }
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

async function groupCommand(args: string[], out: (s: string) => void): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'reset') {
    const { values, positionals } = parse(rest, { ...CONNECTION, yes: { type: 'boolean' }, force: { type: 'boolean' }, json: { type: 'boolean' } });
    if (positionals.length > 0) throw new UsageError(`group reset takes no arguments, got ${positionals.join(' ')}`);
    if (values.group === undefined) throw new UsageError('group reset needs --group NAME (the default group is reset only when named)');
    const name = values.group as string;
    if (!values.yes) {
      if (!process.stdin.isTTY) throw new UsageError(`group reset of "${name}" needs --yes when not run on a terminal`);
      if (!(await confirm(`Reset group "${name}"${values.force ? ', also if members are alive' : ''}? [y/N] `))) {
        out('not reset');
        return;
      }
    }
    const g = viewOf(values);
    try {
      const r = await g.reset({ force: values.force === true });
      if (!r.found) throw new Error(`no group "${name}" under prefix "${values.prefix ?? 'muster'}": nothing removed`);
      if (values.json) out(JSON.stringify({ group: name, ...r }));
      else {
        const { members, alive, shards, reports, logEntries } = r.removed;
        out(`reset group "${name}"`);
        out(`removed: ${members} member record(s) (${alive} alive), ${shards} shard record(s), ${reports} node-down report(s), ${logEntries} log entr${logEntries === 1 ? 'y' : 'ies'}, the recorded shard range, horizon and timeouts`);
        out(`kept: a floor (every lease from now on starts above ${new Date(r.floor).toISOString()})` +
          (r.kept.layout ? `, the Snowflake layout ${r.kept.layout}` : '') + `, ${r.kept.sequences} named sequence counter(s)`);
      }
    } finally {
      await g.close();
    }
    return;
  }
  if (sub === 'set-range') {
    const { values, positionals } = parse(rest, { ...CONNECTION, min: { type: 'string' }, max: { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length > 0) throw new UsageError(`group set-range takes no arguments, got ${positionals.join(' ')}`);
    if (values.group === undefined) throw new UsageError('group set-range needs --group NAME');
    if (values.min === undefined || values.max === undefined) throw new UsageError('group set-range needs --min A and --max B');
    const int = (flag: string, v: string) => {
      if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} must be a whole number, got ${v}`);
      return Number(v);
    };
    const g = viewOf(values);
    try {
      const r = await g.setRange({ min: int('min', values.min as string), max: int('max', values.max as string) });
      const name = values.group as string;
      if (!r.found) throw new Error(`no group "${name}" under prefix "${values.prefix ?? 'muster'}": nothing changed (a new group takes its first member's range)`);
      if (values.json) out(JSON.stringify({ group: name, ...r }));
      else out(`group "${name}": shard range ${r.previous ? `${r.previous.min}..${r.previous.max}` : '(none)'} -> ${r.min}..${r.max}`);
    } finally {
      await g.close();
    }
    return;
  }
  throw new UsageError(sub ? `unknown group command "${sub}"` : 'group needs a command: reset or set-range');
}

/** Runs the command line `argv`; resolves to the exit code. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<number> {
  const [command, ...rest] = argv;
  const err = (s: string) => process.stderr.write(s + '\n');
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    out(HELP.main!);
    return command ? 0 : 2;
  }
  if (!(command in HELP) || command === 'main') {
    err(`muster: unknown command "${command}"\n\n${HELP.main}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(HELP[command]!);
    return 0;
  }
  try {
    if (command === 'status') await status(rest, out);
    else if (command === 'watch') await watch(rest, out);
    else if (command === 'serve') await serve(rest, out);
    else if (command === 'group') await groupCommand(rest, out);
    else decode(rest, out);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`muster ${command}: ${e.message}\n\n${HELP[command]}`);
      return 2;
    }
    // Option errors of the library (a bad --group, an ID out of range) are usage errors too.
    const code = (e as MusterError).code;
    if (code === 'OPTION_TYPE' || code === 'OPTION_RANGE') {
      err(`muster ${command}: ${(e as Error).message}`);
      return 2;
    }
    err(`muster ${command}: ${(e as Error).message}`);
    return 1;
  }
}

// Run when started as a program (not when imported by a test).
const self = process.argv[1] ?? '';
if (/[\\/]cli[\\/]main\.js$/.test(self) || /[\\/]muster$/.test(self)) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
