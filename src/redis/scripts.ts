// Typed calls of the Lua scripts in lua/, and the only place their raw replies are parsed.
// Scripts go by SHA; the body is sent only when Redis answers NOSCRIPT.

import * as lua from '../generated/lua.js';
import type { ScriptSource } from '../generated/lua.js';
import type { GroupKeys } from './keys.js';
import type { Client } from './connection.js';
import type { NodeInfo } from '../types.js';

type Reply = (string | number | null)[];

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/** Runs a script by SHA, falling back to its body once if Redis does not have it cached. */
export async function run(client: Client, script: ScriptSource, keys: readonly string[], args: (string | number)[]): Promise<Reply> {
  try {
    return (await client.evalsha(script.sha, keys.length, ...keys, ...args)) as Reply;
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return (await client.eval(script.body, keys.length, ...keys, ...args)) as Reply;
  }
}

/**
 * Runs a script and then `WAIT replicas timeout` on the same connection in one round
 * trip. Returns the script reply and how many replicas acknowledged.
 */
export async function runDurable(
  client: Client,
  script: ScriptSource,
  keys: readonly string[],
  args: (string | number)[],
  replicas: number,
  timeout: number,
): Promise<{ reply: Reply; acked: number }> {
  const attempt = async (byBody: boolean) => {
    const p = client.pipeline();
    if (byBody) p.eval(script.body, keys.length, ...keys, ...args);
    else p.evalsha(script.sha, keys.length, ...keys, ...args);
    p.call('WAIT', replicas, Math.ceil(timeout));
    const res = (await p.exec()) ?? [];
    const [scriptErr, reply] = res[0] ?? [new Error('empty pipeline reply'), null];
    const [waitErr, acked] = res[1] ?? [new Error('empty pipeline reply'), null];
    if (scriptErr) throw scriptErr;
    if (waitErr) throw waitErr;
    return { reply: reply as Reply, acked: Number(acked) };
  };
  try {
    return await attempt(false);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return attempt(true);
  }
}

const int = (v: string | number | null | undefined): number => Number(v);
const str = (v: string | number | null | undefined): string => (v == null ? '' : String(v));

/** A `node down` report: the id of the report and the dead life's NodeInfo. */
export interface Report {
  readonly reportId: string;
  readonly node: NodeInfo;
}

/** A change entry of the group log: a member joined (+), left or died (-), or a report was handled (x). */
export type Change =
  | { readonly v: number; readonly i: number; readonly t: '+' | '-'; readonly r?: 'left' | 'timeout'; readonly n: NodeInfo }
  | { readonly v: number; readonly i: number; readonly t: 'x'; readonly n: string };

function reports(reply: Reply, at: number): { list: Report[]; next: number } {
  const n = int(reply[at]);
  const list: Report[] = [];
  for (let i = 0; i < n; i++) {
    list.push({ reportId: str(reply[at + 1 + 2 * i]), node: JSON.parse(str(reply[at + 2 + 2 * i])) as NodeInfo });
  }
  return { list, next: at + 1 + 2 * n };
}

function jsonList<T>(reply: Reply, at: number): { list: T[]; next: number } {
  const n = int(reply[at]);
  const list: T[] = [];
  for (let i = 0; i < n; i++) list.push(JSON.parse(str(reply[at + 1 + i])) as T);
  return { list, next: at + 1 + n };
}

/** Changes, or (after a gap) the whole live view, from `reply[at]` on. */
function changesOrView(reply: Reply, gap: boolean, at: number): { changes: Change[]; view: NodeInfo[]; next: number } {
  if (gap) {
    const v = jsonList<NodeInfo>(reply, at);
    return { changes: [], view: v.list, next: v.next };
  }
  const c = jsonList<Change>(reply, at);
  return { changes: c.list, view: [], next: c.next };
}

export interface JoinArgs {
  nodeId: string;
  life: string;
  metaJson: string;
  ttl: number;
  lo: number;
  hi: number;
  horizon: number;
  knownHorizon: number;
  quarantine: number;
  proposed: number;
  keep: number;
  reapLimit: number;
  withView: boolean;
  layout: string;
  /** `created` of the group record this process joined before ('' if none). */
  knownCreated: string;
  /** Idle expiry of the group's keys (ms, 0: never). */
  idleExpiry: number;
}

export type JoinResult =
  | {
      ok: true;
      now: number;
      created: string;
      ver: number;
      inc: number;
      horizon: number;
      shard: number;
      floor: number;
      reservation: number;
      fence: number;
      reports: Report[];
      view: NodeInfo[];
    }
  | { ok: false; code: 'duplicate'; inMs: number; expiry: number }
  | { ok: false; code: 'exhausted'; retryInMs: number | undefined }
  | { ok: false; code: 'config'; option: string; groupValue: string }
  | { ok: false; code: 'eviction'; policy: string };

export function joinArgs(keys: GroupKeys, a: JoinArgs): (string | number)[] {
  return [
    a.nodeId, a.life, a.metaJson, a.ttl, a.lo, a.hi, a.horizon, a.knownHorizon, a.quarantine, Math.floor(a.proposed),
    keys.channel, Math.ceil(a.keep), a.reapLimit, a.withView ? '1' : '0', a.layout, a.knownCreated, Math.ceil(a.idleExpiry),
  ];
}

export function parseJoin(reply: Reply): JoinResult {
  const code = int(reply[0]);
  if (code === -1) return { ok: false, code: 'duplicate', inMs: int(reply[1]), expiry: int(reply[2]) };
  if (code === -2) {
    const inMs = int(reply[1]);
    return { ok: false, code: 'exhausted', retryInMs: inMs < 0 ? undefined : inMs };
  }
  if (code === -3) return { ok: false, code: 'config', option: str(reply[1]), groupValue: str(reply[2]) };
  if (code === -6) return { ok: false, code: 'eviction', policy: str(reply[1]) };
  if (code !== 1) throw new Error(`unexpected join reply ${JSON.stringify(reply)}`);
  const reps = reports(reply, 10);
  const view = jsonList<NodeInfo>(reply, reps.next);
  return {
    ok: true,
    now: int(reply[1]),
    created: str(reply[2]),
    ver: int(reply[3]),
    inc: int(reply[4]),
    horizon: int(reply[5]),
    shard: int(reply[6]),
    floor: int(reply[7]),
    reservation: int(reply[8]),
    fence: int(reply[9]),
    reports: reps.list,
    view: view.list,
  };
}

export interface BeatArgs {
  nodeId: string;
  life: string;
  ttl: number;
  created: string;
  inc: number;
  ver: number;
  proposed: number;
  knownHorizon: number;
  quarantine: number;
  reapLimit: number;
  acks: readonly string[];
}

export type BeatResult =
  | {
      ok: true;
      now: number;
      reservation: number;
      floor: number;
      fence: number;
      ver: number;
      inc: number;
      horizon: number;
      gap: boolean;
      changes: Change[];
      view: NodeInfo[];
      reports: Report[];
    }
  | { ok: false; code: 'gone' | 'expired' | 'wiped' };

export function beatArgs(keys: GroupKeys, a: BeatArgs): (string | number)[] {
  return [
    a.nodeId, a.life, a.ttl, a.created, a.inc, a.ver, Math.floor(a.proposed), a.knownHorizon, a.quarantine,
    keys.channel, a.reapLimit, a.acks.length, ...a.acks,
  ];
}

export function parseBeat(reply: Reply): BeatResult {
  const code = int(reply[0]);
  if (code === -5) return { ok: false, code: 'wiped' };
  if (code === -4) return { ok: false, code: str(reply[1]) === 'expired' ? 'expired' : 'gone' };
  if (code !== 1) throw new Error(`unexpected beat reply ${JSON.stringify(reply)}`);
  const gap = int(reply[8]) === 1;
  const items = changesOrView(reply, gap, 9);
  const reps = reports(reply, items.next);
  return {
    ok: true,
    now: int(reply[1]),
    reservation: int(reply[2]),
    floor: int(reply[3]),
    fence: int(reply[4]),
    ver: int(reply[5]),
    inc: int(reply[6]),
    horizon: int(reply[7]),
    gap,
    changes: items.changes,
    view: items.view,
    reports: reps.list,
  };
}

export function leaveArgs(keys: GroupKeys, nodeId: string, life: string, quarantine: number, knownHorizon: number, acks: readonly string[]): (string | number)[] {
  return [nodeId, life, quarantine, keys.channel, knownHorizon, acks.length, ...acks];
}

/** Arguments of the view script: the whole live view, or the changes after (inc, ver). */
export function viewArgs(since?: { inc: number; ver: number }): (string | number)[] {
  return since ? [since.inc, since.ver] : ['', 0];
}

export interface ViewResult {
  now: number;
  ver: number;
  inc: number;
  gap: boolean;
  changes: Change[];
  view: NodeInfo[];
}

export function parseView(reply: Reply): ViewResult {
  const gap = int(reply[3]) === 1;
  const items = changesOrView(reply, gap, 4);
  return { now: int(reply[0]), ver: int(reply[1]), inc: int(reply[2]), gap, changes: items.changes, view: items.view };
}

export const SCRIPTS = lua;

/** One shard as the shards script reads it (see {@link ShardInfo} for the public form). */
export interface ShardRow {
  shard: number;
  holderId: string;
  holderLife: string;
  holderExpiry: number;
  fence: number;
  floor: number;
  reserved: number;
  freeAt: number;
}

export function parseShards(reply: Reply): { now: number; range: { min: number; max: number } | null; rows: ShardRow[] } {
  const lo = int(reply[1]);
  const n = int(reply[3]);
  const rows: ShardRow[] = [];
  for (let i = 0; i < n; i++) {
    const at = 4 + 8 * i;
    rows.push({
      shard: int(reply[at]),
      holderId: str(reply[at + 1]),
      holderLife: str(reply[at + 2]),
      holderExpiry: int(reply[at + 3]),
      fence: int(reply[at + 4]),
      floor: int(reply[at + 5]),
      reserved: int(reply[at + 6]),
      freeAt: int(reply[at + 7]),
    });
  }
  return { now: int(reply[0]), range: lo < 0 ? null : { min: lo, max: int(reply[2]) }, rows };
}

/** What the reset script did: see lua/reset-8.lua. */
export type ResetReply =
  | {
      ok: true;
      now: number;
      floor: number;
      members: number;
      alive: number;
      shards: number;
      reports: number;
      logEntries: number;
      sequences: number;
      layout: string;
    }
  | { ok: false; code: 'none'; now: number }
  | { ok: false; code: 'alive'; alive: number; ids: string[] };

export function parseReset(reply: Reply): ResetReply {
  const code = int(reply[0]);
  if (code === 0) return { ok: false, code: 'none', now: int(reply[1]) };
  if (code === -7) return { ok: false, code: 'alive', alive: int(reply[1]), ids: reply.slice(2).map(str) };
  if (code !== 1) throw new Error(`unexpected reset reply ${JSON.stringify(reply)}`);
  return {
    ok: true,
    now: int(reply[1]),
    floor: int(reply[2]),
    members: int(reply[3]),
    alive: int(reply[4]),
    shards: int(reply[5]),
    reports: int(reply[6]),
    logEntries: int(reply[7]),
    sequences: int(reply[8]),
    layout: str(reply[9]),
  };
}

/** What the range script did: see lua/range-7.lua. */
export type RangeReply =
  | { ok: true; now: number; previous: { min: number; max: number } | null }
  | { ok: false; code: 'none' }
  | { ok: false; code: 'held'; shard: number; holder: string }
  | { ok: false; code: 'layout'; workerBits: number };

export function parseRange(reply: Reply): RangeReply {
  const code = int(reply[0]);
  if (code === 0) return { ok: false, code: 'none' };
  if (code === -8) return { ok: false, code: 'held', shard: int(reply[1]), holder: str(reply[2]) };
  if (code === -9) return { ok: false, code: 'layout', workerBits: int(reply[1]) };
  if (code !== 1) throw new Error(`unexpected set-range reply ${JSON.stringify(reply)}`);
  const lo = int(reply[2]);
  return { ok: true, now: int(reply[1]), previous: lo < 0 ? null : { min: lo, max: int(reply[3]) } };
}
