// The HTTP service behind `muster serve`: IDs, named sequences and the group's state for
// callers in other languages, health and metrics for operators, and a live status page.
// node:http only; every handler's failure becomes a JSON error reply, never a crash.

import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { SequenceFloorError } from '../errors.js';
import type { Group } from '../membership/group.js';
import type { Member } from '../membership/member.js';
import type { NodeInfo } from '../types.js';
import { STATUS_PAGE } from './page.js';

/** Most IDs one `GET /ids?n=` returns. */
export const MAX_IDS = 4096;

export interface ServiceOptions {
  /** The member the service mints with (it holds the shard lease). */
  member: Member;
  /** A read-only view of the same group (heartbeat ages and shards for the status page). */
  view: Group;
  /** prom-client registry with the member's metrics; without it `/metrics` answers 501. */
  metrics?: { contentType: string; metrics(): Promise<string> };
  /** How often the status page gets a fresh snapshot (ms, default 1000). */
  statusEvery?: number;
  /** A server already listening (so the member's meta can carry its port); default: a new one. */
  server?: Server;
  /** The only sequence names served (others: 404). Default: any name, up to `maxSequences`. */
  sequences?: readonly string[];
  /**
   * Most distinct sequence names served (others: 429), default 100. Every name drawn from
   * is a counter kept in Redis for ever, so callers must not be able to add them freely.
   */
  maxSequences?: number;
}

/** Default of {@link ServiceOptions.maxSequences}. */
export const MAX_SEQUENCES = 100;

interface Change {
  at: number;
  kind: string;
  id: string;
  detail?: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json; charset=utf-8'): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Listens on `port` (0: a free one) and `host`; resolves the port. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/** The HTTP service on a listening server; `close()` ends live streams and the server. */
export class Service {
  readonly server: Server;
  private readonly changes: Change[] = [];
  private readonly streams = new Set<ServerResponse>();
  private readonly names = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private readonly unhook: () => void;

  constructor(private readonly o: ServiceOptions) {
    this.server = o.server ?? createServer();
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        // The last line of defence: whatever a handler threw, the process lives on.
        try {
          send(res, 500, { error: `internal error: ${err instanceof Error ? err.message : String(err)}` });
        } catch {
          res.destroy();
        }
      });
    });
    const m = o.member;
    const note = (kind: string, id: string, detail?: string) => {
      const c: Change = { at: Date.now(), kind, id, ...(detail ? { detail } : {}) };
      this.changes.push(c);
      if (this.changes.length > 50) this.changes.shift();
      this.broadcast('change', c);
    };
    const onJoin = (n: NodeInfo) => note('+node', n.id, n.shard === undefined ? undefined : `shard ${n.shard}`);
    const onLeave = (n: NodeInfo & { reason: string }) => note('-node', n.id, n.reason);
    const onDown = (n: NodeInfo) => note('node down', n.id, 'cleaned up by this service');
    const onShard = (s: number) => note('shard', m.id, `holds shard ${s}`);
    const onShardLost = (s: number, why: string) => note('shard lost', m.id, `shard ${s}: ${why}`);
    m.on('+node', onJoin);
    m.on('-node', onLeave);
    m.on('node down', onDown);
    m.on('shard', onShard);
    m.on('shard lost', onShardLost);
    this.unhook = () => {
      m.off('+node', onJoin);
      m.off('-node', onLeave);
      m.off('node down', onDown);
      m.off('shard', onShard);
      m.off('shard lost', onShardLost);
    };
    this.timer = setInterval(() => {
      if (this.streams.size === 0) return;
      this.status().then(
        (s) => this.broadcast('status', s),
        () => undefined,
      );
    }, o.statusEvery ?? 1000);
    this.timer.unref();
  }


  /** Stops accepting, ends live streams and open connections. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.unhook();
    for (const s of this.streams) s.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  private broadcast(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const s of this.streams) s.write(frame);
  }

  /** What the status page shows. */
  async status() {
    const m = this.o.member;
    const [nodes, shards, beats] = await Promise.all([this.o.view.nodes(), this.o.view.shards(), this.o.view.heartbeats()]);
    return {
      group: m.options.group,
      self: { id: m.id, shard: m.shard ?? null, leaseValid: m.lease?.isValid() ?? false },
      now: beats.now,
      members: nodes.map((n) => {
        const b = beats.beats.get(n.id);
        return { id: n.id, life: n.life, shard: n.shard ?? null, joinedAt: n.joinedAt, meta: n.meta, beatAgeMs: b && b.life === n.life ? Math.max(0, beats.now - b.lastBeatAt) : null };
      }),
      shards: shards
        .filter((s) => s.state !== 'free')
        .map((s) => ({ shard: s.shard, state: s.state, holder: s.holder?.id ?? null, until: s.quarantinedUntil ?? null })),
      changes: this.changes,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    let path: string;
    try {
      url = new URL(req.url ?? '/', 'http://service');
      path = decodeURIComponent(url.pathname);
    } catch {
      send(res, 400, { error: `malformed request path ${JSON.stringify(req.url)}` });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, { error: `method ${req.method} not allowed; the service answers GET` });
      return;
    }
    try {
      await this.route(path, url, req, res);
    } catch (err) {
      if (err instanceof HttpError) send(res, err.status, { error: err.message, ...err.extra });
      else if (err instanceof SequenceFloorError) send(res, 503, { error: err.message, code: err.code, reason: err.reason, readyInMs: err.readyInMs });
      else {
        const code = (err as { code?: unknown }).code;
        if (code === 'OPTION_TYPE' || code === 'OPTION_RANGE') send(res, 400, { error: (err as Error).message, code });
        else send(res, 503, { error: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) });
      }
    }
  }

  /** The member's sequence `name`, if this service serves it (see {@link ServiceOptions.sequences}). */
  private sequence(name: string) {
    const allowed = this.o.sequences;
    if (allowed && !allowed.includes(name)) {
      throw new HttpError(404, `no sequence ${JSON.stringify(name)} here; this service serves ${allowed.map((n) => JSON.stringify(n)).join(', ')}`);
    }
    if (this.names.has(name)) return this.o.member.sequence(name);
    const most = this.o.maxSequences ?? MAX_SEQUENCES;
    if (this.names.size >= most) {
      throw new HttpError(429, `this service serves at most ${most} sequence names and has that many; list the names it serves with --sequences, or raise --max-sequences`);
    }
    // A bad name throws here (400) before it counts.
    const s = this.o.member.sequence(name);
    this.names.add(name);
    return s;
  }

  private async route(path: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = this.o.member;
    if (path === '/') return send(res, 200, STATUS_PAGE, 'text/html; charset=utf-8');
    if (path === '/id') return send(res, 200, { id: this.snowflake().nextString() });
    if (path === '/ids') {
      const raw = url.searchParams.get('n');
      const n = Number(raw);
      if (raw === null || !/^\d+$/.test(raw) || n < 1 || n > MAX_IDS) {
        throw new HttpError(400, `n must be a whole number from 1 to ${MAX_IDS}; received ${raw === null ? 'nothing' : JSON.stringify(raw)}`);
      }
      const ids = this.snowflake().nextBatch(n);
      return send(res, 200, { ids: Array.from(ids, String) });
    }
    const seq = /^\/sequences\/([^/]+)\/next$/.exec(path);
    if (seq) return send(res, 200, { sequence: seq[1], value: await this.sequence(seq[1]!).next() });
    if (path === '/nodes') return send(res, 200, { nodes: await m.nodes() });
    if (path === '/healthz') {
      const l = m.lease;
      const ok = m.joined && !!l && l.isValid();
      return send(res, ok ? 200 : 503, { ok, member: m.id, shard: m.shard ?? null, leaseValid: ok });
    }
    if (path === '/metrics') {
      if (!this.o.metrics) throw new HttpError(501, 'metrics need the optional peer dependency prom-client (npm install prom-client)');
      return send(res, 200, await this.o.metrics.metrics(), this.o.metrics.contentType);
    }
    if (path === '/status') return send(res, 200, await this.status());
    if (path === '/events') return this.stream(req, res);
    throw new HttpError(404, `no such path ${JSON.stringify(path)}; try /id, /ids?n=, /sequences/NAME/next, /nodes, /healthz, /metrics, /`);
  }

  private snowflake() {
    // next() refuses (LeaseExpiredError, a 503) without a surely valid lease.
    return this.o.member.snowflake();
  }

  private async stream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.streams.add(res);
    req.on('close', () => this.streams.delete(res));
    res.write(`retry: 1000\n\n`);
    try {
      res.write(`event: status\ndata: ${JSON.stringify(await this.status())}\n\n`);
    } catch (err) {
      res.write(`event: failure\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`);
    }
  }
}
