// Typed calls of the Lua scripts in lua/, and the only place their raw replies are parsed.
// Scripts go by SHA; the body is sent only when Redis answers NOSCRIPT.

import * as lua from './generated/lua.js';
import type { ScriptSource } from './generated/lua.js';
import type { GroupKeys } from './keys.js';
import type { Client } from './redis.js';
import type { NodeInfo } from './types.js';

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

/** A change entry of the group log. */
export interface Change {
  readonly v: number;
  readonly t: '+' | '-';
  readonly r?: 'left' | 'timeout';
  readonly n: NodeInfo;
}

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
  cap: number;
  reapLimit: number;
  withView: boolean;
}

export type JoinResult =
  | {
      ok: true;
      now: number;
      created: string;
      ver: number;
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
  | { ok: false; code: 'range'; lo: number; hi: number };

export function joinArgs(keys: GroupKeys, a: JoinArgs): (string | number)[] {
  return [a.nodeId, a.life, a.metaJson, a.ttl, a.lo, a.hi, a.horizon, a.knownHorizon, a.quarantine, Math.floor(a.proposed), keys.channel, a.cap, a.reapLimit, a.withView ? '1' : '0'];
}

export function parseJoin(reply: Reply): JoinResult {
  const code = int(reply[0]);
  if (code === -1) return { ok: false, code: 'duplicate', inMs: int(reply[1]), expiry: int(reply[2]) };
  if (code === -2) {
    const inMs = int(reply[1]);
    return { ok: false, code: 'exhausted', retryInMs: inMs < 0 ? undefined : inMs };
  }
  if (code === -3) return { ok: false, code: 'range', lo: int(reply[1]), hi: int(reply[2]) };
  if (code !== 1) throw new Error(`unexpected join reply ${JSON.stringify(reply)}`);
  const reps = reports(reply, 9);
  const view = jsonList<NodeInfo>(reply, reps.next);
  return {
    ok: true,
    now: int(reply[1]),
    created: str(reply[2]),
    ver: int(reply[3]),
    horizon: int(reply[4]),
    shard: int(reply[5]),
    floor: int(reply[6]),
    reservation: int(reply[7]),
    fence: int(reply[8]),
    reports: reps.list,
    view: view.list,
  };
}

export interface BeatArgs {
  nodeId: string;
  life: string;
  ttl: number;
  created: string;
  ver: number;
  proposed: number;
  horizon: number;
  quarantine: number;
  cap: number;
  reapLimit: number;
  acks: readonly string[];
}

export type BeatResult =
  | { ok: true; now: number; reservation: number; ver: number; horizon: number; gap: boolean; changes: Change[]; view: NodeInfo[]; reports: Report[] }
  | { ok: false; code: 'gone' | 'expired' | 'wiped' };

export function beatArgs(keys: GroupKeys, a: BeatArgs): (string | number)[] {
  return [a.nodeId, a.life, a.ttl, a.created, a.ver, Math.floor(a.proposed), a.horizon, a.quarantine, keys.channel, a.cap, a.reapLimit, a.acks.length, ...a.acks];
}

export function parseBeat(reply: Reply): BeatResult {
  const code = int(reply[0]);
  if (code === -5) return { ok: false, code: 'wiped' };
  if (code === -4) return { ok: false, code: str(reply[1]) === 'expired' ? 'expired' : 'gone' };
  if (code !== 1) throw new Error(`unexpected beat reply ${JSON.stringify(reply)}`);
  const gap = int(reply[5]) === 1;
  const items = gap ? jsonList<NodeInfo>(reply, 6) : jsonList<Change>(reply, 6);
  const reps = reports(reply, items.next);
  return {
    ok: true,
    now: int(reply[1]),
    reservation: int(reply[2]),
    ver: int(reply[3]),
    horizon: int(reply[4]),
    gap,
    changes: gap ? [] : (items.list as Change[]),
    view: gap ? (items.list as NodeInfo[]) : [],
    reports: reps.list,
  };
}

export function leaveArgs(keys: GroupKeys, nodeId: string, life: string, quarantine: number, cap: number, acks: readonly string[]): (string | number)[] {
  return [nodeId, life, quarantine, keys.channel, cap, acks.length, ...acks];
}

export interface ViewResult {
  now: number;
  ver: number;
  gap: boolean;
  changes: Change[];
  view: NodeInfo[];
}

export function parseView(reply: Reply): ViewResult {
  const gap = int(reply[2]) === 1;
  const items = gap ? jsonList<NodeInfo>(reply, 3) : jsonList<Change>(reply, 3);
  return {
    now: int(reply[0]),
    ver: int(reply[1]),
    gap,
    changes: gap ? [] : (items.list as Change[]),
    view: gap ? (items.list as NodeInfo[]) : [],
  };
}

export const SCRIPTS = lua;
