// The view of a group's live members, kept current from the group's change log: entries
// come over Pub/Sub, with heartbeats, or (after a gap) as a whole new view; whatever is
// missed is caught up by reading the log since the last version seen. Members and the
// read-only group view share it.

import type { Connection } from '../redis/connection.js';
import { subscribe } from '../redis/connection.js';
import { wrap } from '../redis/call.js';
import type { Change, ViewResult } from '../redis/scripts.js';
import type { DepartedNode, NodeInfo } from '../types.js';
import { Recent } from './recent.js';

/** What a view reports and needs. */
export interface ViewHooks {
  /** A member joined (`+node`). */
  joined(node: NodeInfo): void;
  /** A member left or died (`-node`). */
  departed(node: DepartedNode): void;
  /** A `node down` report was handled by its owner. */
  handled(reportId: string): void;
  fail(err: Error): void;
  /** Reads the whole live view, or the changes after `since`. */
  read(since?: { inc: number; ver: number }): Promise<ViewResult>;
  /** False while messages must be ignored (a member between lives, a closed view). */
  active(): boolean;
}

export class PeerView {
  /** Live members by nodeId (this member's own entry included once loaded). */
  nodes = new Map<string, NodeInfo>();
  /** Store incarnation and version of the last change applied. */
  inc = 0;
  ver = 0;
  /** Lives that departed: a restored store may bring them back; they are not announced again. */
  private readonly gone = new Recent();
  /** False until the view was loaded; until then a replaced view announces nothing. */
  private known = false;
  private loading: Change[] | undefined;
  private syncing = false;
  private syncAgain = false;
  /** Grows whenever the position is reset (a new life): reads started before are dropped. */
  private generation = 0;
  private unsubscribe: (() => Promise<void>) | undefined;
  private closed = false;

  /** `self`: the nodeId of the member that owns the view (its own changes are not announced). */
  constructor(private readonly self: string | undefined, private readonly hooks: ViewHooks) {}

  /** True once the live members were loaded. */
  get isKnown(): boolean {
    return this.known;
  }

  /** A new life joined at (`inc`, `ver`); with `nodes` (a rejoin), the view is replaced and the differences announced. */
  reset(inc: number, ver: number, nodes?: NodeInfo[]): void {
    this.generation++;
    this.inc = inc;
    this.ver = ver;
    if (nodes && this.known) this.replace(nodes);
  }

  /** Starts from a read of the whole live view (a watcher's start): its members and position, announcing nothing. */
  adopt(v: ViewResult): void {
    this.generation++;
    this.nodes = new Map(v.view.map((n) => [n.id, n]));
    this.inc = v.inc;
    this.ver = v.ver;
    this.known = true;
  }

  /** Takes a read of the log: changes, or after a gap the whole view. */
  take(r: { gap: boolean; view: NodeInfo[]; changes: Change[]; ver: number; inc: number }): void {
    if (r.gap) {
      this.replace(r.view);
      this.ver = r.ver;
      this.inc = r.inc;
    } else this.apply(r.changes);
  }

  /** Applies change entries in order, announcing members that joined and departed. */
  apply(changes: Change[]): void {
    for (const c of changes) {
      if (c.v <= this.ver) continue;
      this.ver = c.v;
      this.loading?.push(c);
      if (c.t === 'x') {
        this.hooks.handled(c.n);
        continue;
      }
      if (c.n.id === this.self) continue;
      // A life that already departed comes back only with a store restored from older
      // data; it is not announced again (nor its second departure).
      const again = c.n.life !== undefined && this.gone.has(c.n.life);
      if (c.t === '+') {
        if (again) continue;
        this.nodes.set(c.n.id, c.n);
        this.hooks.joined(c.n);
      } else {
        if (this.nodes.get(c.n.id)?.life === c.n.life) this.nodes.delete(c.n.id);
        if (c.n.life !== undefined) this.gone.add(c.n.life);
        if (!again) this.hooks.departed({ ...c.n, reason: c.r ?? 'timeout' });
      }
    }
  }

  /** Replaces the view with `all`, announcing the differences (a departure's reason is unknown: 'timeout'). */
  replace(all: NodeInfo[]): void {
    const next = new Map(all.filter((n) => n.life === undefined || !this.gone.has(n.life)).map((n) => [n.id, n]));
    const old = this.nodes;
    this.nodes = next;
    if (!this.known) {
      this.known = true;
      return;
    }
    for (const [id, n] of old) {
      const now = next.get(id);
      if (id !== this.self && (!now || now.joinedAt !== n.joinedAt)) {
        if (n.life !== undefined) this.gone.add(n.life);
        this.hooks.departed({ ...n, reason: 'timeout' });
      }
    }
    for (const [id, n] of next) {
      const was = old.get(id);
      if (id !== this.self && (!was || was.joinedAt !== n.joinedAt)) this.hooks.joined(n);
    }
  }

  /**
   * Loads the live members in the background after a member's first join (keeping it out
   * of the join round trip, which would grow with the group). Changes that arrive
   * meanwhile are applied on top of what was loaded.
   */
  async load(): Promise<void> {
    this.loading = [];
    try {
      const v = await this.hooks.read();
      if (this.known) return;
      const map = new Map(v.view.map((n) => [n.id, n]));
      for (const c of this.loading) {
        if (c.v <= v.ver || c.t === 'x') continue;
        if (c.t === '+') map.set(c.n.id, c.n);
        else map.delete(c.n.id);
      }
      this.nodes = map;
      this.known = true;
    } catch (err) {
      this.hooks.fail(wrap(err, 'view'));
    } finally {
      this.loading = undefined;
    }
  }

  /** Catches up on changes missed between Pub/Sub messages. */
  async sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    try {
      do {
        this.syncAgain = false;
        const generation = this.generation;
        const v = await this.hooks.read({ inc: this.inc, ver: this.ver });
        if (!this.hooks.active() || generation !== this.generation) return;
        this.take(v);
      } while (this.syncAgain);
    } catch (err) {
      this.hooks.fail(wrap(err, 'sync'));
    } finally {
      this.syncing = false;
    }
  }

  /** One Pub/Sub message: the next change is applied, anything else triggers a catch-up. */
  onMessage(message: string): void {
    if (!this.hooks.active()) return;
    let c: Change;
    try {
      c = JSON.parse(message) as Change;
    } catch {
      return;
    }
    if (c.i === this.inc && c.v <= this.ver) return;
    if (c.i === this.inc && c.v === this.ver + 1) this.apply([c]);
    else void this.sync();
  }

  /** Subscribes to the group's channel; resolves once subscribed. */
  async listen(conn: Connection, channel: string): Promise<void> {
    try {
      const unsub = await subscribe(
        conn,
        channel,
        (m) => this.onMessage(m),
        (err) => this.hooks.fail(wrap(err, 'subscriber')),
        // What was announced before the subscription stood is read now.
        () => {
          if (!this.closed && this.hooks.active()) void this.sync();
        },
      );
      if (this.closed) await unsub();
      else this.unsubscribe = unsub;
    } catch (err) {
      this.hooks.fail(wrap(err, 'subscribe'));
    }
  }

  /** Unsubscribes; messages are ignored from now on. */
  async close(): Promise<void> {
    this.closed = true;
    const unsub = this.unsubscribe;
    this.unsubscribe = undefined;
    await unsub?.().catch(() => undefined);
  }
}
