// A member of a group: joins, heartbeats and reaps in one script call per interval,
// keeps a view of its peers, delivers `node down` reports, holds a shard lease and
// fences every generator bound to it.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { Clock, mono } from './clock.js';
import {
  ClockSkewError,
  DuplicateNodeError,
  DurabilityError,
  GroupConfigError,
  LeaseExpiredError,
  MemberClosedError,
  MusterError,
  OptionRangeError,
  OptionTypeError,
  RedisError,
  ShardsExhaustedError,
  StoreConfigError,
} from './errors.js';
import { type GroupKeys, groupKeys } from './keys.js';
import { type JoinOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type Connection, close, connect, subscribe } from './redis.js';
import {
  type Change,
  type Report,
  SCRIPTS,
  beatArgs,
  joinArgs,
  leaveArgs,
  parseBeat,
  parseJoin,
  parseView,
  run,
  runDurable,
  viewArgs,
} from './scripts.js';
import type { ScriptSource } from './generated/lua.js';
import { Snowflake, type SnowflakeOptions, boundSnowflake, layoutKey } from './snowflake.js';
import type { DepartedNode, LostReason, NodeInfo, ShardLostReason } from './types.js';

const REAP_LIMIT = 64;
/** How long a member remembers handled reports and departed lives (to ignore them when a restarted store brings them back). */
const MEMORY_MS = 3_600_000;
const MEMORY_MAX = 10_000;
/** Fewest ms between renewals asked for early because a generator used up its reservation. */
const EARLY_RENEWAL_MS = 5;

/** Listener signatures of a {@link Member}'s events. */
export interface MemberEvents {
  /** A member joined the group (every member gets this). */
  '+node': (node: NodeInfo) => void;
  /** A member left or died (every member gets this); `node.reason` says which. */
  '-node': (node: DepartedNode) => void;
  /** A member died and this member is the one to clean up after it (exactly one gets this). */
  'node down': (node: NodeInfo) => void;
  /** This member now holds `shard` (on join, after a rejoin, and when a lapsed lease recovers). */
  shard: (shard: number, lease: Lease) => void;
  /** The lease on `shard` ended: stop using it. */
  'shard lost': (shard: number, reason: ShardLostReason) => void;
  /** The store no longer knew this member; it rejoins by itself unless `rejoin: false`. */
  lost: (reason: LostReason) => void;
  /** Something failed; never thrown into the void. */
  error: (err: Error) => void;
  /** Forwarded from the Redis connection. */
  connect: () => void;
  /** Forwarded from the Redis connection. */
  ready: () => void;
  /** Forwarded from the Redis connection: delay before the next attempt, in ms. */
  reconnecting: (delay: number) => void;
  /** Forwarded from the Redis connection. */
  close: () => void;
  /** Forwarded from the Redis connection: it will not reconnect. */
  end: () => void;
}

/**
 * A shard lease: a value object handed out with the `shard` event. Its `signal` aborts
 * when the lease ends, which is the moment to stop using the shard.
 */
export class Lease {
  /** @internal */
  readonly controller = new AbortController();
  /** @internal mono ms until which the lease is surely valid. */
  deadline = -Infinity;
  /** @internal True while the holder's clock is too far ahead of Redis to mint. */
  refused = false;

  /** @internal */
  constructor(
    /** The shard number. */
    readonly shard: number,
    /** Fencing number: only grows per shard, across holders and Redis restarts. */
    readonly fence: number,
    /** IDs minted under this lease carry timestamps above this (ms since 1970). */
    readonly floor: number,
  ) {}

  /** Aborts when the lease ends. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** `performance.now()` time until which the lease is surely valid (-Infinity while the host's clock is refused as too far ahead). */
  get validUntil(): number {
    return this.controller.signal.aborted || this.refused ? -Infinity : this.deadline;
  }

  /** True while the lease is surely valid. */
  isValid(): boolean {
    return mono() < this.validUntil;
  }
}

/** A user's generator run on a member's lease: re-created on a shard change, fenced. */
export interface FencedGenerator<G extends { next(...args: never[]): unknown }> {
  /** Calls the current generator's `next()`; throws {@link LeaseExpiredError} without a valid lease. */
  next(...args: Parameters<G['next']>): ReturnType<G['next']>;
  /** Like `next()`, but waits for a valid lease. */
  nextAsync(...args: Parameters<G['next']>): Promise<ReturnType<G['next']>>;
  /** The generator made for the current lease, if any. */
  readonly current: G | undefined;
}

type State = 'new' | 'joining' | 'joined' | 'rejoining' | 'lost' | 'left';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

function newLife(): string {
  return randomBytes(12).toString('base64url');
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  p.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisError(`${what} timed out after ${Math.round(ms)} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function wrap(err: unknown, what: string): Error {
  if (err instanceof MusterError) return err as Error;
  const msg = err instanceof Error ? err.message : String(err);
  return new RedisError(`${what} failed: ${msg}`, { cause: err });
}

/**
 * A member of a group. Create one with {@link join} (or {@link createMember} and then
 * `join()` to attach listeners first).
 */
export class Member extends EventEmitter<MemberEvents> {
  /** This member's nodeId. */
  readonly id: string;
  /** The validated options. */
  readonly options: Readonly<ResolvedOptions>;

  private readonly keys: GroupKeys;
  private readonly clock = new Clock();
  /**
   * `clockSkew + timeout`: how long a shard it frees waits before reuse, so that the
   * former holder's lease has surely lapsed when another member takes the shard.
   */
  private readonly quarantine: number;
  private readonly safety: number;
  /** How long the group must keep change entries for this member to catch up. */
  private readonly keep: number;
  private conn: Connection | undefined;
  private state: State = 'new';
  private life = '';
  private created = '';
  private inc = 0;
  private ver = 0;
  /** The largest B this process saw the group use (remembered across a wipe). */
  private horizon = 0;
  /** The latest reservation of the lease (ms since 1970). */
  private reservation = -Infinity;
  private lastBeatSend = -Infinity;
  private beatFailed = false;
  /** Reports handled by any member, and lives that departed: a restarted store may bring them back. */
  private readonly handled = new Map<string, number>();
  private readonly departed = new Map<string, number>();
  private view = new Map<string, NodeInfo>();
  /** False until the view was loaded; until then a replaced view announces nothing. */
  private viewKnown = false;
  private viewLoading: Change[] | undefined;
  private current: Lease | undefined;
  private skewed = false;
  private readonly acks = new Set<string>();
  private readonly emitted = new Set<string>();
  private beatTimer: NodeJS.Timeout | undefined;
  private overdueTimer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private rejoin: Promise<boolean> | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private syncing = false;
  private syncAgain = false;
  private gen: Snowflake | undefined;
  private readonly fenced = new Set<(lease: Lease | undefined) => void>();
  private readonly leaseWaiters = new Set<{ resolve: () => void; reject: (e: unknown) => void }>();
  private readonly forwarders: [string, (...a: unknown[]) => void][] = [];

  constructor(options?: JoinOptions) {
    super();
    this.options = resolveOptions(options);
    this.id = this.options.nodeId;
    this.keys = groupKeys(this.options.prefix, this.options.group);
    this.quarantine = this.options.clockSkew + this.options.timeout;
    this.keep = 2 * (this.options.heartbeat + this.options.timeout) + 1000;
    // The lease is trusted until a margin before Redis could expire it: clocks may run
    // up to 1% apart, plus a fixed allowance for timer lateness.
    this.safety = this.options.timeout / 50 + 10;
  }

  /** The shard held now under a valid lease, or undefined. */
  get shard(): number | undefined {
    return this.current?.isValid() ? this.current.shard : undefined;
  }

  /** The current lease, or undefined. */
  get lease(): Lease | undefined {
    return this.current && !this.current.signal.aborted ? this.current : undefined;
  }

  /** True between a successful `join()` and `leave()` (also while rejoining). */
  get joined(): boolean {
    return this.state === 'joined' || this.state === 'rejoining';
  }

  /**
   * Joins the group. Resolves once this member is in Redis; events found while joining
   * (`node down` for members that died unreaped) are emitted on a later tick.
   * Rejects with {@link DuplicateNodeError}, {@link ShardsExhaustedError},
   * {@link GroupConfigError} or {@link RedisError}; nothing is left running then.
   */
  async join(): Promise<this> {
    if (this.state !== 'new') throw new MemberClosedError(`muster: join() was already called (state: ${this.state})`);
    this.state = 'joining';
    this.conn = connect(this.options.redis);
    this.forward();
    try {
      const reports = await this.attemptJoin();
      if ((this.state as State) === 'left') throw new MemberClosedError('muster: leave() was called while joining');
      this.state = 'joined';
      // A lease that starts at a fresh start's floor (a new group, a wiped or restarted
      // store) reserves nothing above it yet: renew once Redis time has moved on, so
      // IDs can be minted as soon as join() resolves.
      if (this.needsRoom()) {
        this.holdShardEvent = true;
        await sleep(2);
        await this.beatNow();
        this.holdShardEvent = false;
      }
      this.scheduleBeat();
      this.listen();
      void this.loadView();
      setImmediate(() => {
        const lease = this.shardOnJoin;
        this.shardOnJoin = undefined;
        if (lease && lease === this.current && this.ready(lease)) this.safeEmit('shard', lease.shard, lease);
        this.deliver(reports);
      });
      return this;
    } catch (err) {
      this.state = 'left';
      await this.teardown();
      throw err;
    }
  }

  /** The live members of the group, this one included, read from Redis. */
  async nodes(): Promise<NodeInfo[]> {
    const conn = this.requireConn();
    try {
      const reply = await withTimeout(run(conn.client, SCRIPTS.view, this.keys.list, viewArgs()), this.options.timeout, 'nodes()');
      return parseView(reply).view;
    } catch (err) {
      throw wrap(err, 'nodes()');
    }
  }

  /**
   * Leaves gracefully: the others see `-node` (reason `'left'`) at once, the shard goes
   * to quarantine, timers stop and a connection muster opened is closed. Rejects with
   * {@link RedisError} if Redis could not be told (local state is cleaned up anyway;
   * the others then see this member time out).
   */
  async leave(): Promise<void> {
    const prev = this.state;
    if (prev === 'left') return;
    this.state = 'left';
    this.stopBeat();
    this.endLease('left');
    for (const w of this.leaseWaiters) w.reject(new MemberClosedError());
    this.leaseWaiters.clear();
    let failure: Error | undefined;
    // A rejoin in flight may still land: wait for it, so that life is removed too.
    const landed = prev === 'rejoining' && (await this.rejoin?.catch(() => false));
    if ((prev === 'joined' || landed) && this.conn) {
      await this.beating?.catch(() => undefined);
      try {
        await withTimeout(
          this.exec(SCRIPTS.leave, leaveArgs(this.keys, this.id, this.life, this.quarantine, this.horizon, [...this.acks]), false),
          this.options.timeout,
          'leave',
        );
      } catch (err) {
        failure = wrap(err, 'leave');
      }
    }
    await this.teardown();
    if (failure) throw failure;
  }

  /**
   * The member's Snowflake generator, bound to its shard lease: it mints only while the
   * lease is surely valid and only above the shard's floor. Calling again with the same
   * options returns the same generator (two generators on one shard could repeat IDs).
   */
  snowflake(options: Omit<SnowflakeOptions, 'workerId'> = {}): Snowflake {
    const shards = this.options.shards;
    if (!shards) throw new OptionRangeError('shards', false, 'enabled (a member without shards cannot mint IDs)');
    const given = options.layout !== undefined || options.epoch !== undefined;
    const o = this.options.snowflake;
    const gen = boundSnowflake(given ? options : { layout: o?.layout, epoch: o?.epoch }, this.clock);
    const key = layoutKey(gen.layout);
    if (key !== this.options.layoutKey) {
      // The group records one layout and epoch (join's `snowflake` option): IDs of two
      // layouts, or of one layout with two epochs, can collide.
      throw new OptionRangeError('layout', options.layout ?? options.epoch, `the layout and epoch given to join() as \`snowflake\` (${this.options.layoutKey})`);
    }
    if (this.gen) return this.gen;
    if (shards.max > 2 ** gen.layout.workerBits - 1) {
      throw new OptionRangeError('layout.workerBits', gen.layout.workerBits, `enough bits for shards up to ${shards.max}`);
    }
    gen.setLeaseWaiter((signal) => this.waitForLease(signal));
    gen.setLimitHandler(() => this.renewEarly());
    this.gen = gen;
    const lease = this.lease;
    if (lease) {
      gen.bindLease(lease.shard, lease.floor, this.refusal());
      if (lease.isValid()) gen.renewLease(this.mintDeadline(lease), this.reservation, this.refusal());
    }
    return gen;
  }

  /**
   * Runs a generator of your own on the lease: `factory(shard, lease)` is called for
   * every new lease, and `next()` is refused while no lease is surely valid.
   */
  generator<G extends { next(...args: never[]): unknown }>(factory: (shard: number, lease: Lease) => G): FencedGenerator<G> {
    if (typeof factory !== 'function') throw new OptionTypeError('factory', factory, 'a function (shard, lease) => generator');
    let cur: G | undefined;
    let curLease: Lease | undefined;
    const rebind = (lease: Lease | undefined) => {
      if (lease && lease !== curLease) {
        if (!curLease || curLease.shard !== lease.shard || curLease.fence !== lease.fence) cur = factory(lease.shard, lease);
        curLease = lease;
      }
    };
    this.fenced.add(rebind);
    rebind(this.lease);
    const self = this;
    const next = (...args: Parameters<G['next']>): ReturnType<G['next']> => {
      if (!cur || !curLease || curLease !== self.current || !self.ready(curLease)) throw self.refusal()();
      return (cur.next as (...a: unknown[]) => ReturnType<G['next']>)(...args);
    };
    return {
      next,
      async nextAsync(...args: Parameters<G['next']>) {
        for (;;) {
          try {
            return next(...args);
          } catch (err) {
            if (!(err instanceof MusterError) || (err.code !== 'LEASE_EXPIRED' && err.code !== 'CLOCK_SKEW')) throw err;
            await self.waitForLease();
          }
        }
      },
      get current() {
        return cur;
      },
    };
  }

  /** Resolves when a lease is surely valid; rejects when the member leaves or `signal` aborts. */
  waitForLease(signal?: AbortSignal): Promise<void> {
    if (this.current && this.ready(this.current)) return Promise.resolve();
    if (this.state === 'left' || this.state === 'lost') return Promise.reject(new MemberClosedError());
    return new Promise<void>((resolve, reject) => {
      const w = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.leaseWaiters.delete(w);
        reject(signal?.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.leaseWaiters.add(w);
    });
  }

  // ---- joining ------------------------------------------------------------------

  private requireConn(): Connection {
    if (!this.conn || this.state === 'left') throw new MemberClosedError();
    return this.conn;
  }

  /** Runs a script; with durability, also waits for replication. Returns reply and whether it counts. */
  private async exec(script: ScriptSource, args: (string | number)[], durable: boolean): Promise<{ reply: (string | number | null)[]; counted: boolean }> {
    const conn = this.conn;
    if (!conn) throw new MemberClosedError();
    const d = this.options.durability;
    if (!d || !durable) return { reply: await run(conn.client, script, this.keys.list, args), counted: true };
    const { reply, acked } = await runDurable(conn.client, script, this.keys.list, args, d.replicas, d.timeout);
    if (acked < d.replicas) this.fail(new DurabilityError(acked, d.replicas));
    return { reply, counted: acked >= d.replicas };
  }

  /** One life's join, with the waits the options allow. Returns the reports to deliver. */
  private async attemptJoin(life = newLife()): Promise<Report[]> {
    const o = this.options;
    const started = mono();
    let firstExpiry: number | undefined;
    // One life token for every attempt: a restart marker left while waiting names it,
    // and an attempt whose reply was lost but which landed is recognised as this join.
    for (;;) {
      const send = mono();
      const genAtSend = Math.floor(this.clock.now());
      const proposed = Math.floor(Math.max(genAtSend, this.gen?.lastMs() ?? -Infinity) + o.timeout);
      const args = joinArgs(this.keys, {
        nodeId: this.id,
        life,
        metaJson: o.metaJson,
        ttl: o.timeout,
        lo: o.shards ? o.shards.min : -1,
        hi: o.shards ? o.shards.max : -1,
        horizon: o.horizon,
        knownHorizon: this.horizon,
        quarantine: this.quarantine,
        proposed,
        keep: this.keep,
        reapLimit: REAP_LIMIT,
        withView: this.viewKnown,
        layout: o.layoutKey,
      });
      let res;
      let counted: boolean;
      try {
        const r = await withTimeout(this.exec(SCRIPTS.join, args, true), o.timeout / 2 + (o.durability?.timeout ?? 0), 'join');
        res = parseJoin(r.reply);
        counted = r.counted;
      } catch (err) {
        // Redis unreachable or slow: try again with the same life until one timeout has passed.
        const left = o.timeout - (mono() - started);
        if (left <= 0 || this.state === 'left' || !(err instanceof RedisError || !(err instanceof MusterError))) throw wrap(err, 'join');
        await sleep(Math.min(o.heartbeat, left));
        continue;
      }
      if (res.ok) {
        this.install(res, life);
        if (res.shard >= 0) this.startLease(res.shard, res.fence, res.floor, send, genAtSend, res.reservation, res.now, counted);
        return res.reports;
      }
      if (this.state === 'left') throw new MemberClosedError('muster: leave() was called while joining');
      const elapsed = mono() - started;
      if (res.code === 'config') {
        if (res.option === 'shards') throw new GroupConfigError('shards', `${o.shards?.min}..${o.shards?.max}`, res.groupValue);
        if (res.option === 'horizon') throw new GroupConfigError('horizon', o.horizon, Number(res.groupValue));
        throw new GroupConfigError('snowflake', o.layoutKey, res.groupValue);
      }
      if (res.code === 'eviction') throw new StoreConfigError('maxmemory-policy', res.policy);
      if (res.code === 'duplicate') {
        // A restarted process often comes back before its crashed life has expired.
        // Wait (at most one timeout) for that record to go stale; a record renewed
        // meanwhile is a live duplicate.
        if (firstExpiry === undefined) firstExpiry = res.expiry;
        else if (res.expiry !== firstExpiry) throw new DuplicateNodeError(this.id, 'its heartbeat renewed the record while this join waited');
        if (elapsed >= o.timeout) throw new DuplicateNodeError(this.id, `its record did not go stale within ${o.timeout} ms`);
        await sleep(Math.min(res.inMs + 2, o.heartbeat, o.timeout - elapsed + 1));
        continue;
      }
      const shards = o.shards ?? { min: 0, max: 0, wait: 0 };
      if (elapsed >= shards.wait) throw new ShardsExhaustedError(shards.min, shards.max, res.retryInMs);
      await sleep(Math.min(res.retryInMs === undefined ? o.heartbeat : res.retryInMs + 2, shards.wait - elapsed + 1));
    }
  }

  /** Adopts a joined life: identity, view (announcing what changed while away), group facts. */
  private install(res: Extract<ReturnType<typeof parseJoin>, { ok: true }>, life: string): void {
    const rejoin = this.life !== '';
    this.life = life;
    this.created = res.created;
    this.inc = res.inc;
    this.ver = res.ver;
    this.horizon = Math.max(this.horizon, res.horizon);
    this.acks.clear();
    this.emitted.clear();
    if (rejoin && this.viewKnown) this.replaceView(res.view);
  }

  /**
   * Loads the view in the background after the first join (keeping it out of the join
   * round trip, which would grow with the group). Changes that arrive meanwhile are
   * applied on top of what was loaded.
   */
  private async loadView(): Promise<void> {
    const conn = this.conn;
    if (!conn) return;
    this.viewLoading = [];
    try {
      const reply = await withTimeout(run(conn.client, SCRIPTS.view, this.keys.list, viewArgs()), this.options.timeout, 'view');
      const v = parseView(reply);
      if (this.viewKnown) return;
      const map = new Map(v.view.map((n) => [n.id, n]));
      for (const c of this.viewLoading) {
        if (c.v <= v.ver || c.t === 'x') continue;
        if (c.t === '+') map.set(c.n.id, c.n);
        else map.delete(c.n.id);
      }
      this.view = map;
      this.viewKnown = true;
    } catch (err) {
      this.fail(wrap(err, 'view'));
    } finally {
      this.viewLoading = undefined;
    }
  }

  // ---- leases ---------------------------------------------------------------------

  private refusal(): () => Error {
    if (this.skewed) {
      const ahead = this.skewAhead;
      const allowed = this.options.clockSkew;
      return () => new ClockSkewError(ahead, allowed);
    }
    const lease = this.current;
    if (!lease || lease.signal.aborted) return () => new LeaseExpiredError('muster: this member holds no shard lease now');
    return () => new LeaseExpiredError(`muster: the lease on shard ${lease.shard} is not surely valid (renewal overdue)`);
  }

  private skewAhead = 0;
  private shardOnJoin: Lease | undefined;
  private holdShardEvent = false;

  /** True while the lease reserves nothing above its floor (just after a fresh start of the store). */
  private needsRoom(): boolean {
    return this.current !== undefined && !this.current.signal.aborted && this.reservation <= this.current.floor;
  }

  /** The lease can mint: surely valid (which includes the clock not refused), and something reserved above its floor. */
  private ready(lease: Lease): boolean {
    return lease.isValid() && this.reservation > lease.floor;
  }

  private startLease(shard: number, fence: number, floor: number, send: number, genAtSend: number, reservation: number, redisNow: number, counted: boolean): void {
    const lease = new Lease(shard, fence, floor);
    this.current = lease;
    this.reservation = -Infinity;
    this.gen?.bindLease(shard, floor, this.refusal());
    for (const f of this.fenced) f(lease);
    this.renew(send, genAtSend, reservation, redisNow, counted);
  }

  /** A renewal (or claim) came back: extend the lease from the moment it was sent. */
  private renew(send: number, genAtSend: number, reservation: number, redisNow: number, counted: boolean): void {
    let lease = this.current;
    if (!lease || !counted) return;
    if (lease.signal.aborted) {
      // The lease lapsed locally but Redis still held it: it recovers as a new lease object.
      lease = new Lease(lease.shard, lease.fence, lease.floor);
      this.current = lease;
      for (const f of this.fenced) f(lease);
    }
    const wasReady = this.ready(lease);
    const wasSkewed = this.skewed;
    // Redis ran the script after it was sent: a host clock that was ahead of Redis TIME
    // at send by more than the allowance is refused (whatever the floor), and says so.
    this.skewAhead = genAtSend - redisNow;
    this.skewed = this.skewAhead > this.options.clockSkew;
    lease.refused = this.skewed;
    if (this.skewed && !wasSkewed) this.fail(new ClockSkewError(this.skewAhead, this.options.clockSkew));
    this.reservation = reservation;
    lease.deadline = send + this.options.timeout - this.safety;
    this.gen?.renewLease(this.mintDeadline(lease), reservation, this.refusal());
    clearTimeout(this.overdueTimer);
    const left = lease.deadline - mono();
    this.overdueTimer = setTimeout(() => this.overdue(lease), Math.max(0, left) + 1);
    if (this.ready(lease) && !wasReady) {
      // The first lease comes with join(): announce it after join() resolves, like the
      // other events found while joining, so listeners attached after `await` get it.
      if (this.state === 'joining' || this.holdShardEvent) this.shardOnJoin = lease;
      else this.safeEmit('shard', lease.shard, lease);
      for (const w of this.leaseWaiters) w.resolve();
      this.leaseWaiters.clear();
    }
  }

  /** Until when a bound generator may mint: the lease's deadline, unless the clock is too far ahead. */
  private mintDeadline(lease: Lease): number {
    return this.skewed ? -Infinity : lease.deadline;
  }

  /** No renewal counted before the deadline: the lease is not surely valid any more. */
  private overdue(lease: Lease): void {
    if (lease !== this.current || lease.signal.aborted) return;
    if (lease.isValid()) {
      // Timers run on the event loop's cached clock and may fire a little early.
      this.overdueTimer = setTimeout(() => this.overdue(lease), Math.max(1, lease.deadline - mono() + 1));
      return;
    }
    lease.controller.abort(new LeaseExpiredError());
    this.gen?.renewLease(-Infinity, -Infinity, this.refusal());
    this.safeEmit('shard lost', lease.shard, 'renewal-overdue');
  }

  /** The lease ends for good (lost, left). */
  private endLease(reason: ShardLostReason): void {
    clearTimeout(this.overdueTimer);
    const lease = this.current;
    this.current = undefined;
    this.skewed = false;
    this.gen?.renewLease(-Infinity, -Infinity, this.refusal());
    for (const f of this.fenced) f(undefined);
    if (lease && !lease.signal.aborted) {
      lease.controller.abort(new LeaseExpiredError());
      this.safeEmit('shard lost', lease.shard, reason);
    }
  }

  // ---- heartbeat -------------------------------------------------------------------

  private scheduleBeat(): void {
    clearTimeout(this.beatTimer);
    // Right after a fresh start of the store, renew as soon as Redis time has moved on
    // (not while beats fail: that would only repeat the error).
    const delay = this.needsRoom() && !this.beatFailed ? 3 : this.options.heartbeat;
    this.beatTimer = setTimeout(() => {
      this.beating = this.beat().finally(() => {
        this.beating = undefined;
        if (this.state === 'joined') this.scheduleBeat();
      });
    }, delay);
  }

  private stopBeat(): void {
    clearTimeout(this.beatTimer);
    this.beatTimer = undefined;
  }

  /** Beats now (unless a beat is in flight) and goes on with the usual interval after it. */
  private async beatNow(): Promise<void> {
    if (this.beating) return this.beating;
    if (this.state !== 'joined') return;
    clearTimeout(this.beatTimer);
    this.beating = this.beat().finally(() => {
      this.beating = undefined;
      if (this.state === 'joined') this.scheduleBeat();
    });
    return this.beating;
  }

  /** A generator used up its reservation: renew now rather than at the next interval. */
  private renewEarly(): void {
    if (this.beating || this.state !== 'joined' || mono() - this.lastBeatSend < EARLY_RENEWAL_MS) return;
    void this.beatNow();
  }

  private async beat(): Promise<void> {
    if (this.state !== 'joined') return;
    const o = this.options;
    this.clock.follow();
    const send = mono();
    this.lastBeatSend = send;
    const genAtSend = Math.floor(this.clock.now());
    // What the holder may mint up to: its clock, or further where a generator already
    // minted (or the lease's floor puts it) ahead of the clock.
    const minted = Math.max(this.gen?.lastMs() ?? -Infinity, (this.current?.floor ?? -Infinity) + 1);
    const proposed = Math.floor(Math.max(genAtSend, minted) + o.timeout);
    const acks = [...this.acks];
    const life = this.life;
    let res;
    let counted: boolean;
    try {
      const args = beatArgs(this.keys, {
        nodeId: this.id,
        life,
        ttl: o.timeout,
        created: this.created,
        inc: this.inc,
        ver: this.ver,
        proposed,
        knownHorizon: this.horizon,
        quarantine: this.quarantine,
        reapLimit: REAP_LIMIT,
        acks,
      });
      const r = await withTimeout(this.exec(SCRIPTS.beat, args, true), Math.max(o.timeout / 2, o.heartbeat), 'heartbeat');
      res = parseBeat(r.reply);
      counted = r.counted;
    } catch (err) {
      this.beatFailed = true;
      this.fail(wrap(err, 'heartbeat'));
      return;
    }
    this.beatFailed = false;
    if (this.state !== 'joined' || life !== this.life) return;
    if (!res.ok) {
      await this.onLost(res.code === 'wiped' ? 'wiped' : res.code);
      return;
    }
    for (const a of acks) {
      this.acks.delete(a);
      this.emitted.delete(a);
      remember(this.handled, a);
    }
    this.horizon = Math.max(this.horizon, res.horizon);
    if (res.reservation >= 0) {
      const lease = this.current;
      if (lease && lease.fence !== res.fence && counted) {
        // The store restarted or failed over since this lease was granted: Redis gave a
        // new lease on the same shard, above a floor no earlier reservation reaches.
        this.endLease('restarted');
        this.startLease(lease.shard, res.fence, res.floor, send, genAtSend, res.reservation, res.now, counted);
      } else this.renew(send, genAtSend, res.reservation, res.now, counted);
    }
    if (res.gap) {
      this.replaceView(res.view);
      this.ver = res.ver;
      this.inc = res.inc;
    } else this.applyChanges(res.changes);
    this.deliver(res.reports);
  }

  private async onLost(reason: LostReason): Promise<void> {
    this.stopBeat();
    this.endLease(reason);
    this.safeEmit('lost', reason);
    if (this.state !== 'joined') return;
    if (!this.options.rejoin) {
      this.state = 'lost';
      for (const w of this.leaseWaiters) w.reject(new MemberClosedError('muster: this member was lost and does not rejoin'));
      this.leaseWaiters.clear();
      return;
    }
    this.state = 'rejoining';
    this.rejoin = this.rejoinLoop();
    await this.rejoin;
    this.rejoin = undefined;
  }

  /** Joins as a new life until it works or the member leaves. Resolves true if a life landed. */
  private async rejoinLoop(): Promise<boolean> {
    const life = newLife();
    while (this.state === 'rejoining') {
      try {
        const reports = await this.attemptJoin(life);
        if (this.state !== 'rejoining') return true;
        this.state = 'joined';
        this.scheduleBeat();
        setImmediate(() => this.deliver(reports));
        return true;
      } catch (err) {
        if (this.state !== 'rejoining') return false;
        this.fail(wrap(err, 'rejoin'));
        if (err instanceof GroupConfigError) {
          this.state = 'lost';
          return false;
        }
        await sleep(this.options.heartbeat);
      }
    }
    return false;
  }

  // ---- views and reports ---------------------------------------------------------------

  private listen(): void {
    const conn = this.conn;
    if (!conn) return;
    subscribe(conn, this.keys.channel, (m) => this.onMessage(m), (err) => this.fail(wrap(err, 'subscriber')))
      .then((unsub) => {
        if (this.state === 'left') void unsub();
        else this.unsubscribe = unsub;
      })
      .catch((err) => this.fail(wrap(err, 'subscribe')));
  }

  private onMessage(message: string): void {
    if (this.state !== 'joined') return;
    let c: Change;
    try {
      c = JSON.parse(message) as Change;
    } catch {
      return;
    }
    if (c.i === this.inc && c.v <= this.ver) return;
    if (c.i === this.inc && c.v === this.ver + 1) this.applyChanges([c]);
    else void this.sync();
  }

  /** Catches up on changes missed between Pub/Sub messages. */
  private async sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    try {
      do {
        this.syncAgain = false;
        const life = this.life;
        const reply = await withTimeout(run(this.requireConn().client, SCRIPTS.view, this.keys.list, viewArgs({ inc: this.inc, ver: this.ver })), this.options.timeout, 'sync');
        if (this.state !== 'joined' || life !== this.life) return;
        const v = parseView(reply);
        if (v.gap) {
          this.replaceView(v.view);
          this.ver = v.ver;
          this.inc = v.inc;
        } else this.applyChanges(v.changes);
      } while (this.syncAgain);
    } catch (err) {
      this.fail(wrap(err, 'sync'));
    } finally {
      this.syncing = false;
    }
  }

  private applyChanges(changes: Change[]): void {
    for (const c of changes) {
      if (c.v <= this.ver) continue;
      this.ver = c.v;
      this.viewLoading?.push(c);
      if (c.t === 'x') {
        remember(this.handled, c.n);
        continue;
      }
      if (c.n.id === this.id) continue;
      // A life that already departed comes back only with a store restored from older
      // data; it is not announced again (nor its second departure).
      const again = c.n.life !== undefined && this.departed.has(c.n.life);
      if (c.t === '+') {
        if (again) continue;
        this.view.set(c.n.id, c.n);
        this.safeEmit('+node', c.n);
      } else {
        if (this.view.get(c.n.id)?.life === c.n.life) this.view.delete(c.n.id);
        if (c.n.life !== undefined) remember(this.departed, c.n.life);
        if (!again) this.safeEmit('-node', { ...c.n, reason: c.r ?? 'timeout' });
      }
    }
  }

  /** Replaces the view with `nodes`, announcing the differences (a departure's reason is unknown: 'timeout'). */
  private replaceView(all: NodeInfo[]): void {
    const nodes = all.filter((n) => n.life === undefined || !this.departed.has(n.life));
    const next = new Map(nodes.map((n) => [n.id, n]));
    const old = this.view;
    this.view = next;
    if (!this.viewKnown) {
      this.viewKnown = true;
      return;
    }
    for (const [id, n] of old) {
      const now = next.get(id);
      if (id !== this.id && (!now || now.joinedAt !== n.joinedAt)) {
        if (n.life !== undefined) remember(this.departed, n.life);
        this.safeEmit('-node', { ...n, reason: 'timeout' });
      }
    }
    for (const [id, n] of next) {
      const was = old.get(id);
      if (id !== this.id && (!was || was.joinedAt !== n.joinedAt)) this.safeEmit('+node', n);
    }
  }

  private deliver(reports: Report[]): void {
    if (this.state === 'left') return;
    for (const r of reports) {
      if (this.emitted.has(r.reportId)) continue;
      this.emitted.add(r.reportId);
      this.acks.add(r.reportId);
      // Handled already (by this member or another) before a restart of the store
      // brought the report back: acknowledge it again without a second `node down`.
      if (this.handled.has(r.reportId)) continue;
      this.safeEmit('node down', r.node);
    }
  }

  // ---- plumbing ---------------------------------------------------------------------

  private forward(): void {
    const client = this.conn?.client;
    if (!client) return;
    const names = ['connect', 'ready', 'reconnecting', 'close', 'end'] as const;
    for (const name of names) {
      const f = (...a: unknown[]) => (this.emit as (n: string, ...a: unknown[]) => boolean)(name, ...a);
      client.on(name, f);
      this.forwarders.push([name, f]);
    }
    const onError = (err: unknown) => this.fail(wrap(err, 'connection'));
    client.on('error', onError);
    this.forwarders.push(['error', onError]);
  }

  private async teardown(): Promise<void> {
    // Whatever is still pending (a subscription, a rejoin) sees this and stops.
    this.state = 'left';
    this.stopBeat();
    clearTimeout(this.overdueTimer);
    const unsub = this.unsubscribe;
    this.unsubscribe = undefined;
    await unsub?.().catch(() => undefined);
    const conn = this.conn;
    if (!conn) return;
    await close(conn).catch(() => undefined);
    for (const [name, f] of this.forwarders) conn.client.off(name, f);
    this.forwarders.length = 0;
  }

  /** Emits an `error` event; an error listener that throws is not allowed to crash a timer. */
  private fail(err: Error): void {
    try {
      this.emit('error', err);
    } catch {
      // A throwing error listener has nowhere better to go.
    }
  }

  /** Emits a user-facing event; a listener that throws becomes an `error` event. */
  private safeEmit<E extends Exclude<keyof MemberEvents, 'error'>>(event: E, ...args: Parameters<MemberEvents[E]>): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** Records `key` in a bounded memory of recent facts (oldest dropped first, by age and by count). */
function remember(memory: Map<string, number>, key: string): void {
  const now = mono();
  memory.delete(key);
  memory.set(key, now);
  for (const [k, t] of memory) {
    if (memory.size <= MEMORY_MAX && now - t < MEMORY_MS) break;
    memory.delete(k);
  }
}

/** Creates a member without joining, so listeners can be attached before `join()`. */
export function createMember(options?: JoinOptions): Member {
  return new Member(options);
}

/**
 * Joins a group and resolves with the member. Events found while joining are emitted
 * after this resolves, so listeners attached right after `await join(...)` get them.
 */
export async function join(options?: JoinOptions): Promise<Member> {
  return new Member(options).join();
}

export type { DepartedNode, LostReason, NodeInfo, ShardLostReason };
