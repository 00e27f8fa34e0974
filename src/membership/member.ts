// A member of a group: its lifecycle (join, beat, rejoin, leave) composed of the view of
// its peers (view.ts), `node down` delivery (reports.ts), its shard lease
// (shards/lease.ts) and the generators fenced by it (shards/fencing.ts). One script
// call per join and per heartbeat does all of it in Redis.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { Clock, mono, sleep } from '../clock.js';
import { DurabilityError, GroupConfigError, MemberClosedError } from '../errors.js';
import type { ScriptSource } from '../generated/lua.js';
import { type JoinOptions, type JsonValue, type ResolvedOptions, resolveOptions } from '../options.js';
import { withTimeout, wrap } from '../redis/call.js';
import { type Connection, close, open } from '../redis/connection.js';
import { type GroupKeys, groupKeys } from '../redis/keys.js';
import { SCRIPTS, type BeatResult, beatArgs, leaveArgs, parseBeat, parseView, run, runDurable, viewArgs } from '../redis/scripts.js';
import { type FencedGenerator, Fencing } from '../shards/fencing.js';
import { type Grant, Lease, LeaseKeeper } from '../shards/lease.js';
import type { Snowflake, SnowflakeOptions } from '../snowflake/generator.js';
import type { LostReason, NodeInfo } from '../types.js';
import { Heartbeat } from './heartbeat.js';
import { type JoinContext, REAP_LIMIT, joinLife } from './joining.js';
import { debug, iso } from '../debug.js';
import { Reports } from './reports.js';
import { type MemberEvents, emitError, emitSafely } from './events.js';
import { PeerView } from './view.js';
import { Sequence, type SequenceOptions, parseSequenceArgs } from '../sequences/sequence.js';

type State = 'new' | 'joining' | 'joined' | 'rejoining' | 'lost' | 'left';

function newLife(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * A member of a group. Create one with {@link join} (or {@link createMember} and then
 * `join()` to attach listeners first).
 */
export class Member<Meta = JsonValue> extends EventEmitter<MemberEvents<Meta>> {
  /** This member's nodeId. */
  readonly id: string;
  /** The validated options. */
  readonly options: Readonly<ResolvedOptions>;

  private readonly keys: GroupKeys;
  private readonly clock = new Clock();
  /** `clockSkew + timeout`: how long a shard it frees waits before reuse (the former holder's lease has surely lapsed by then). */
  private readonly quarantine: number;
  /** How long the group must keep change entries for this member to catch up. */
  private readonly keep: number;
  private readonly fencing = new Fencing();
  private readonly keeper: LeaseKeeper;
  private readonly peers: PeerView;
  private readonly reports: Reports;
  private readonly heart: Heartbeat;
  private conn: Connection | undefined;
  private state: State = 'new';
  private current = '';
  private created = '';
  /** The largest B this process saw the group use (remembered across a wipe). */
  private horizon = 0;
  private beatFailed = false;
  private rejoin: Promise<boolean> | undefined;
  /** The first lease is announced after join() resolves. */
  private shardOnJoin: Lease | undefined;
  private holdShardEvent = false;
  private readonly sequences = new Map<string, Sequence>();
  private readonly forwarders: [string, (...a: unknown[]) => void][] = [];

  constructor(options?: JoinOptions<Meta>) {
    super();
    this.options = resolveOptions(options);
    this.id = this.options.nodeId;
    this.keys = groupKeys(this.options.prefix, this.options.group);
    this.quarantine = this.options.clockSkew + this.options.timeout;
    this.keep = 2 * (this.options.heartbeat + this.options.timeout) + 1000;
    this.keeper = new LeaseKeeper(this.options.timeout, this.options.clockSkew, this.fencing, {
      ready: (lease) => {
        // The first lease comes with join(): announce it after join() resolves, like the
        // other events found while joining, so listeners attached after `await` get it.
        if (this.state === 'joining' || this.holdShardEvent) this.shardOnJoin = lease;
        else this.safeEmit('shard', lease.shard, lease);
      },
      lost: (shard, reason) => {
        debug('%s lost its lease on shard %d (%s)', this.id, shard, reason);
        this.safeEmit('shard lost', shard, reason);
      },
      skewed: (err) => this.fail(err),
      closed: () => (this.state === 'left' || this.state === 'lost' ? new MemberClosedError() : undefined),
    });
    this.peers = new PeerView(this.id, {
      joined: (n) => this.safeEmit('+node', n),
      departed: (n) => this.safeEmit('-node', n),
      handled: (id) => this.reports.markHandled(id),
      fail: (err) => this.fail(err),
      read: async (since) => parseView(await withTimeout(run(this.requireConn().client, SCRIPTS.view, this.keys.list, viewArgs(since)), this.options.timeout, since ? 'sync' : 'view')),
      active: () => this.state === 'joined',
    });
    this.reports = new Reports({
      listeners: () => {
        const fns = this.listeners('node down');
        // Once-listeners go before they run, as emit() would do.
        for (const f of fns) this.removeListener('node down', f, undefined, true);
        return fns as ((node: NodeInfo) => unknown)[];
      },
      fail: (err) => this.fail(err),
    });
    this.heart = new Heartbeat(this.options.heartbeat, () => this.beat(), () => this.state === 'joined', () => this.keeper.needsRoom() && !this.beatFailed);
  }

  /** The shard held now under a valid lease, or undefined. */
  get shard(): number | undefined {
    return this.keeper.shard;
  }

  /** The current lease, or undefined. */
  get lease(): Lease | undefined {
    return this.keeper.lease;
  }

  /** How many IDs this member's Snowflake generator has minted (0 before `snowflake()`). */
  get minted(): number {
    return this.fencing.minted();
  }

  /** True between a successful `join()` and `leave()` (also while rejoining). */
  get joined(): boolean {
    return this.state === 'joined' || this.state === 'rejoining';
  }

  /**
   * This member's current life: a token that is new at every join. After a pause past
   * the timeout the member comes back as a new life (`rejoined`); peers see the old life
   * depart and the new one join. Undefined before the first join landed.
   */
  get life(): string | undefined {
    return this.current || undefined;
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
    try {
      // One connect attempt, checked (credentials, TLS, database, Cluster) before any write.
      const conn = await open(this.options.redis, Math.min(this.options.timeout, 10_000));
      if ((this.state as State) === 'left') {
        await close(conn);
        throw new MemberClosedError('muster: leave() was called while joining');
      }
      this.conn = conn;
      this.forward();
      const reports = await this.joinAs(newLife());
      if ((this.state as State) === 'left') throw new MemberClosedError('muster: leave() was called while joining');
      this.state = 'joined';
      // A lease that starts at a fresh start's floor (a new group, a wiped or restarted
      // store) reserves nothing above it yet: renew once Redis time has moved on, so
      // IDs can be minted as soon as join() resolves.
      if (this.keeper.needsRoom()) {
        this.holdShardEvent = true;
        await sleep(2);
        await this.heart.now();
        this.holdShardEvent = false;
      }
      this.heart.schedule();
      void this.peers.listen(this.conn, this.keys.channel);
      void this.peers.load();
      setImmediate(() => {
        const lease = this.shardOnJoin;
        this.shardOnJoin = undefined;
        if (lease && lease === this.keeper.current && this.keeper.ready(lease)) this.safeEmit('shard', lease.shard, lease);
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
  async nodes(): Promise<NodeInfo<Meta>[]> {
    const conn = this.requireConn();
    try {
      const reply = await withTimeout(run(conn.client, SCRIPTS.view, this.keys.list, viewArgs()), this.options.timeout, 'nodes()');
      return parseView(reply).view as NodeInfo<Meta>[];
    } catch (err) {
      throw wrap(err, 'nodes()');
    }
  }

  /**
   * `await using member = await join(...)`: leaves at the end of the scope (a member that
   * already left, or never joined, just closes).
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'left') return;
    await this.leave();
  }

  /**
   * Leaves gracefully: the others see `-node` (reason `'left'`) at once, the shard goes
   * to quarantine, timers stop and a connection muster opened is closed. `node down`
   * cleanups still running get up to one timeout to finish; those that do not pass to
   * another member. Rejects with {@link RedisError} if Redis could not be told (local
   * state is cleaned up anyway; the others then see this member time out).
   */
  async leave(): Promise<void> {
    const prev = this.state;
    if (prev === 'left') return;
    this.state = 'left';
    debug('%s leaves group %s', this.id, this.options.group);
    this.heart.stop();
    this.keeper.end('left');
    this.keeper.rejectWaiters(new MemberClosedError());
    let failure: Error | undefined;
    // A rejoin in flight may still land: wait for it, so that life is removed too.
    const landed = prev === 'rejoining' && (await this.rejoin?.catch(() => false));
    if ((prev === 'joined' || landed) && this.conn) {
      await this.heart.inFlight?.catch(() => undefined);
      await this.reports.settle(this.options.timeout);
      try {
        const args = leaveArgs(this.keys, this.id, this.current, this.quarantine, this.horizon, this.reports.acks());
        await withTimeout(this.exec(SCRIPTS.leave, args, false), this.options.timeout, 'leave');
      } catch (err) {
        failure = wrap(err, 'leave');
      }
    }
    await this.teardown();
    if (failure) throw failure;
  }

  /**
   * @internal Stops this member's timers and closes what muster opened, without telling
   * Redis: the others see it time out, and one of them gets its `node down`. For the
   * clusterix entry point, whose `dispose()` is documented to do just that.
   */
  async halt(): Promise<void> {
    if (this.state === 'left') return;
    debug('%s halts without leaving group %s', this.id, this.options.group);
    this.keeper.end('left');
    this.keeper.rejectWaiters(new MemberClosedError());
    await this.teardown();
  }

  /**
   * The member's Snowflake generator, bound to its shard lease: it mints only while the
   * lease is surely valid and only above the shard's floor. Calling again with the same
   * options returns the same generator (two generators on one shard could repeat IDs).
   */
  snowflake(options: Omit<SnowflakeOptions, 'workerId'> = {}): Snowflake {
    return this.fencing.snowflake(options, this.options, this.clock, this.keeper, () => this.heart.early());
  }

  /**
   * Runs a generator of your own on the lease: `factory(shard, lease)` is called for
   * every new lease, and `next()` is refused while no lease is surely valid.
   */
  generator<G extends { next(...args: never[]): unknown }>(factory: (shard: number, lease: Lease) => G): FencedGenerator<G> {
    return this.fencing.generator(factory, this.keeper);
  }

  /**
   * A named short sequence of the group: `await seq.next()` gives numbers 1, 2, 3, ...
   * unique across the group's members, reserved from Redis `block` at a time (gaps
   * where a member dies holding a block). It needs Redis to keep its data (AOF); after
   * a wipe, restart or failover of the store it refuses with `SequenceFloorError` until
   * `seq.recover(readFloor)` gives it the highest number in use. Calling again with the
   * same name returns the same sequence (with the block size it was first made with).
   */
  sequence(name: string, options?: SequenceOptions): Sequence {
    const a = parseSequenceArgs(name, options);
    const known = this.sequences.get(a.name);
    if (known) return known;
    const keys = [...this.keys.list, this.keys.sequences];
    const seq = new Sequence(a.name, a.block, {
      call: async (args) => {
        if (this.state === 'left' || !this.conn) throw new MemberClosedError();
        let r: { reply: (string | number | null)[]; counted: boolean };
        try {
          r = await withTimeout(this.exec(SCRIPTS.sequence, args, true, keys), this.options.timeout, 'sequence');
        } catch (err) {
          throw wrap(err, `sequence ${a.name}`);
        }
        const d = this.options.durability;
        if (!r.counted && d) throw new DurabilityError(0, d.replicas);
        return r.reply;
      },
      created: () => this.created,
      closed: () => this.state === 'left',
    });
    this.sequences.set(a.name, seq);
    return seq;
  }

  /** Resolves when a lease is surely valid; rejects when the member leaves or `signal` aborts. */
  waitForLease(signal?: AbortSignal): Promise<void> {
    return this.keeper.waitForLease(signal);
  }

  // ---- joining ----------------------------------------------------------------------

  private requireConn(): Connection {
    if (!this.conn || this.state === 'left') throw new MemberClosedError();
    return this.conn;
  }

  /** Runs a script; with durability, also waits for replication. Returns reply and whether it counts. */
  private async exec(
    script: ScriptSource,
    args: (string | number)[],
    durable: boolean,
    keys: readonly string[] = this.keys.list,
  ): Promise<{ reply: (string | number | null)[]; counted: boolean }> {
    const conn = this.conn;
    if (!conn) throw new MemberClosedError();
    const d = this.options.durability;
    if (!d || !durable) return { reply: await run(conn.client, script, keys, args), counted: true };
    const { reply, acked } = await runDurable(conn.client, script, keys, args, d.replicas, d.timeout);
    if (acked < d.replicas) this.fail(new DurabilityError(acked, d.replicas));
    return { reply, counted: acked >= d.replicas };
  }

  /** Joins as `life` and adopts it: identity, view (announcing what changed while away), lease. Returns the reports to deliver. */
  private async joinAs(life: string) {
    const ctx: JoinContext = {
      options: this.options,
      keys: this.keys,
      clock: this.clock,
      quarantine: this.quarantine,
      keep: this.keep,
      horizon: () => this.horizon,
      created: () => this.created,
      lastMs: () => this.fencing.lastMs(),
      withView: () => this.peers.isKnown,
      left: () => this.state === 'left',
      exec: (script, args, durable) => this.exec(script, args, durable),
    };
    const { res, grant } = await joinLife(ctx, life);
    const rejoin = this.current !== '';
    this.current = life;
    this.created = res.created;
    this.horizon = Math.max(this.horizon, res.horizon);
    this.reports.newLife();
    this.peers.reset(res.inc, res.ver, rejoin ? res.view : undefined);
    if (res.shard >= 0) this.keeper.start(res.shard, res.fence, res.floor, grant);
    debug(
      '%s joined group %s as life %s%s',
      this.id,
      this.options.group,
      life,
      res.shard >= 0 ? `, claimed shard ${res.shard} (fence ${res.fence}, IDs above ${iso(res.floor)}, reserved until ${iso(res.reservation)})` : '',
    );
    return res.reports;
  }

  // ---- heartbeat --------------------------------------------------------------------

  private async beat(): Promise<void> {
    if (this.state !== 'joined') return;
    const o = this.options;
    this.clock.follow();
    this.heart.sent();
    const send = mono();
    const clockAtSend = Math.floor(this.clock.now());
    // What the holder may mint up to: its clock, or further where a generator already
    // minted (or the lease's floor puts it) ahead of the clock.
    const minted = Math.max(this.fencing.lastMs(), (this.keeper.current?.floor ?? -Infinity) + 1);
    const proposed = Math.floor(Math.max(clockAtSend, minted) + o.timeout);
    const acks = this.reports.acks();
    const life = this.current;
    let res: BeatResult;
    let counted: boolean;
    try {
      const args = beatArgs(this.keys, {
        nodeId: this.id,
        life,
        ttl: o.timeout,
        created: this.created,
        inc: this.peers.inc,
        ver: this.peers.ver,
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
    this.safeEmit('heartbeat', mono() - send);
    if (this.state !== 'joined' || life !== this.current) return;
    if (!res.ok) {
      await this.onLost(res.code);
      return;
    }
    this.reports.acknowledged(acks);
    this.horizon = Math.max(this.horizon, res.horizon);
    if (res.reservation >= 0) {
      const grant: Grant = { send, clockAtSend, reservation: res.reservation, redisNow: res.now, counted };
      const lease = this.keeper.current;
      // The store restarted or failed over since this lease was granted: Redis gave a
      // new lease on the same shard, above a floor no earlier reservation reaches.
      if (lease && lease.fence !== res.fence && counted) {
        debug('%s: the store restarted or failed over; new lease on shard %d (fence %s, IDs above %s)', this.id, lease.shard, res.fence, iso(res.floor));
        this.keeper.rebase(res.fence, res.floor, grant);
      } else {
        debug('%s renewed shard %d until %s', this.id, lease?.shard ?? -1, iso(res.reservation));
        this.keeper.renew(grant);
      }
    }
    this.peers.take(res);
    this.deliver(res.reports);
  }

  private async onLost(reason: LostReason): Promise<void> {
    debug('%s lost its life %s (%s)', this.id, this.current, reason === 'wiped' ? 'wiped: the store lost the group' : reason);
    this.heart.stop();
    this.keeper.end(reason);
    this.safeEmit('lost', reason);
    if (this.state !== 'joined') return;
    if (!this.options.rejoin) {
      this.state = 'lost';
      this.keeper.rejectWaiters(new MemberClosedError('muster: this member was lost and does not rejoin'));
      return;
    }
    this.state = 'rejoining';
    this.rejoin = this.rejoinLoop();
    await this.rejoin;
    this.rejoin = undefined;
  }

  /** Joins as a new life until it works or the member leaves. Resolves true if a life landed. */
  private async rejoinLoop(): Promise<boolean> {
    const previous = this.current;
    const life = newLife();
    while (this.state === 'rejoining') {
      try {
        const reports = await this.joinAs(life);
        if (this.state !== 'rejoining') return true;
        this.state = 'joined';
        this.heart.schedule();
        setImmediate(() => {
          this.safeEmit('rejoined', previous, life);
          this.deliver(reports);
        });
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

  private deliver(reports: Parameters<Reports['deliver']>[0]): void {
    for (const r of reports) debug('%s reaped %s (life %s): node down is ours to handle', this.id, r.node.id, r.node.life);
    if (this.state !== 'left') this.reports.deliver(reports);
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
    this.heart.stop();
    this.keeper.stop();
    this.reports.close();
    await this.peers.close();
    const conn = this.conn;
    if (!conn) return;
    await close(conn).catch(() => undefined);
    for (const [name, f] of this.forwarders) conn.client.off(name, f);
    this.forwarders.length = 0;
  }

  private fail(err: Error): void {
    emitError(this, err);
  }

  // Internally every meta is a JsonValue; `Meta` is what the user declared it to be.
  private safeEmit<E extends Exclude<keyof MemberEvents, 'error'>>(event: E, ...args: Parameters<MemberEvents[E]>): void {
    emitSafely(this as unknown as Parameters<typeof emitSafely>[0], event, args);
  }
}

/**
 * Creates a member without joining, so listeners can be attached before `join()`.
 * `createMember<Meta>()` types `meta` in events and `nodes()`.
 */
export function createMember<Meta = JsonValue>(options?: JoinOptions<Meta>): Member<Meta> {
  return new Member<Meta>(options);
}

/**
 * Joins a group and resolves with the member. Events found while joining are emitted
 * after this resolves, so listeners attached right after `await join(...)` get them.
 */
export async function join<Meta = JsonValue>(options?: JoinOptions<Meta>): Promise<Member<Meta>> {
  return new Member<Meta>(options).join();
}

