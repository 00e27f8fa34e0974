// A drop-in for clusterix (`import Clusterix from 'redis-muster/clusterix'`): its API and
// documented behaviour, on muster's membership. One script call per heartbeat, Redis
// TIME decides who is dead, and each death is reported (`node down`) to exactly one
// survivor, which clusterix's poll-and-compare of host clocks could not promise.

import { hostname } from 'node:os';
import { EventEmitter } from 'eventemitter3';
import { MemberClosedError, OptionTypeError } from './errors.js';
import { type Group, group } from './membership/group.js';
import { type Member, createMember } from './membership/member.js';
import { type IoredisClient, LIMITS, isIoredisClient, parseDuration, parseName, rejectUnknown } from './options.js';

/** Options of `new Clusterix(redis, options)`: clusterix's, all accepted. */
export interface ClusterixOptions {
  /** The cluster's name: members see only their own cluster. Default `''` (one cluster). */
  id?: string | null;
  /** This node's id (also accepted by {@link Clusterix.initializeNode}). Default `${os.hostname()}:${process.env.PORT}`. */
  nodeId?: string;
  /**
   * How often clusterix sent a heartbeat, in ms (default 500). muster beats at the
   * smaller of this and a third of `timeout`, so that one late beat never makes a live
   * node look dead.
   */
  heartbeatInterval?: number;
  /** How often clusterix polled for dead nodes, in ms. Accepted; muster needs no poll: the members' heartbeats reap the dead. */
  pollInterval?: number;
  /** A node is down after this many ms without a heartbeat (judged by Redis TIME). Default 1000. */
  timeout?: number;
}

/** Listener signatures of {@link Clusterix}. */
export interface ClusterixEvents {
  /** A node died (its heartbeats stopped for `timeout`): emitted on exactly one live node, with the dead node's id. */
  'node down': (nodeId: string) => void;
  /** This node had been taken for dead (a pause, a lost store) and is a member again. */
  reconnect: () => void;
  /** Redis failed; the node keeps trying. Without a listener, errors are dropped. */
  error: (err: Error) => void;
}

const DEFAULTS = { heartbeatInterval: 500, pollInterval: 500, timeout: 1000 } as const;

/**
 * clusterix's API on muster's membership. The group is `id` (or `'clusterix'` when
 * empty); keys live under the client's `keyPrefix`, then muster's own prefix.
 *
 * ```ts
 * import Clusterix from 'redis-muster/clusterix';
 * const cluster = new Clusterix(new Redis({ keyPrefix: 'myapp:' }), { timeout: 1000 });
 * await cluster.initializeNode('node1');
 * cluster.on('node down', async (id) => console.log(`${id} is down; up: ${await cluster.nodes}`));
 * ```
 */
export class Clusterix extends EventEmitter<ClusterixEvents> {
  /** The cluster's id as given (`''` for the default cluster). */
  readonly id: string;
  /** The node id, once {@link Clusterix.initializeNode} was called. */
  nodeId: string | undefined;
  private readonly redis: IoredisClient;
  private readonly timeout: number;
  private readonly heartbeatInterval: number;
  private readonly defaultNodeId: string | undefined;
  private readonly view: Group;
  private node: Member | undefined;

  constructor(redis: IoredisClient, options: ClusterixOptions = {}) {
    super();
    if (!isIoredisClient(redis)) throw new OptionTypeError('redis', redis, 'an ioredis client (Redis or Cluster)');
    if (typeof options !== 'object' || options === null) throw new OptionTypeError('options', options, 'an object');
    rejectUnknown(options as Record<string, unknown>, ['id', 'nodeId', 'heartbeatInterval', 'pollInterval', 'timeout'], '');
    this.redis = redis;
    this.id = options.id == null ? '' : parseName('id', options.id, LIMITS.groupChars, true);
    this.timeout = parseDuration('timeout', options.timeout ?? DEFAULTS.timeout, 2 * LIMITS.minHeartbeat + 1, LIMITS.maxTimeout);
    this.heartbeatInterval = parseDuration('heartbeatInterval', options.heartbeatInterval ?? DEFAULTS.heartbeatInterval, 1, LIMITS.maxTimeout);
    parseDuration('pollInterval', options.pollInterval ?? DEFAULTS.pollInterval, 1, LIMITS.maxTimeout);
    if (options.nodeId !== undefined) this.defaultNodeId = parseName('nodeId', options.nodeId, LIMITS.nodeIdBytes, false);
    this.view = group({ redis, group: this.group, timeout: Math.max(this.timeout, 1000) });
    this.view.on('error', () => undefined);
  }

  private get group(): string {
    return this.id === '' ? 'clusterix' : this.id;
  }

  /** The muster member behind this node (after {@link Clusterix.initializeNode}), for leases, meta and `leave()`. */
  get member(): Member | undefined {
    return this.node;
  }

  /**
   * The ids of the live nodes, in the order they joined. Works before
   * {@link Clusterix.initializeNode} and after {@link Clusterix.dispose}: it reads the group.
   */
  get nodes(): Promise<string[]> {
    return this.view.nodes().then((list) => list.sort((a, b) => a.joinedAt - b.joinedAt || (a.id < b.id ? -1 : 1)).map((n) => n.id));
  }

  /**
   * Joins the cluster as `nodeId` and starts its heartbeat. Resolves with this instance;
   * rejects with `DuplicateNodeError` when a live node holds the id (after waiting at
   * most one timeout for a crashed earlier life of it to go stale).
   */
  async initializeNode(nodeId?: string, options: { heartbeatInterval?: number } = {}): Promise<this> {
    if (this.node) throw new MemberClosedError(`muster: initializeNode() was already called (node ${this.node.id})`);
    if (typeof options !== 'object' || options === null) throw new OptionTypeError('options', options, '{ heartbeatInterval }');
    rejectUnknown(options as Record<string, unknown>, ['heartbeatInterval'], '');
    const interval = options.heartbeatInterval === undefined ? this.heartbeatInterval : parseDuration('heartbeatInterval', options.heartbeatInterval, 1, LIMITS.maxTimeout);
    const id = nodeId ?? this.defaultNodeId ?? `${hostname()}:${process.env.PORT}`;
    const heartbeat = Math.max(LIMITS.minHeartbeat, Math.min(interval, Math.floor(this.timeout / 3)));
    const member = createMember({ redis: this.redis, group: this.group, nodeId: id, heartbeat, timeout: this.timeout, shards: false });
    member.on('node down', (node) => {
      this.emit('node down', node.id);
    });
    member.on('rejoined', () => this.emit('reconnect'));
    member.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    this.node = member;
    try {
      await member.join();
    } catch (err) {
      this.node = undefined;
      throw err;
    }
    this.nodeId = id;
    return this;
  }

  /**
   * Stops this node's timers, as clusterix does: it does not leave, so the other nodes
   * see it time out and one of them gets `node down`. `nodes` keeps working. To leave
   * at once instead, `await cluster.member?.leave()`.
   */
  dispose(): void {
    const node = this.node;
    if (node) void node.halt();
  }
}

export default Clusterix;
