// In-process members for tests: fast timings, every event recorded, all left at the end.

import { type JoinOptions, type Member, createMember } from '../../src/index.js';

export const FAST = { heartbeat: 50, timeout: 300 } as const;

export interface Recorded {
  member: Member;
  events: { e: string; t: number; id?: string; reason?: string; shard?: number; err?: Error }[];
}

export class Members {
  private readonly all: Member[] = [];
  constructor(private readonly base: JoinOptions) {}

  /** Creates a member, records its events from before join(), and joins it. */
  async join(options: JoinOptions = {}): Promise<Recorded> {
    const member = createMember({ ...FAST, ...this.base, ...options });
    const rec: Recorded = { member, events: [] };
    const push = (e: string, x: Partial<Recorded['events'][number]> = {}) => rec.events.push({ e, t: performance.now(), ...x });
    member.on('+node', (n) => push('+node', { id: n.id }));
    member.on('-node', (n) => push('-node', { id: n.id, reason: n.reason }));
    member.on('node down', (n) => push('node down', { id: n.id }));
    member.on('lost', (r) => push('lost', { reason: r }));
    member.on('shard', (s) => push('shard', { shard: s }));
    member.on('shard lost', (s, r) => push('shard lost', { shard: s, reason: r }));
    member.on('error', (err) => push('error', { err }));
    this.all.push(member);
    await member.join();
    return rec;
  }

  async leaveAll(): Promise<void> {
    await Promise.all(this.all.splice(0).map((m) => m.leave().catch(() => undefined)));
  }
}

/** Polls `pred` every 5 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return pred();
}
