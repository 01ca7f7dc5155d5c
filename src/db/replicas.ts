import { setTimeout as sleep } from 'node:timers/promises'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import type { Redis } from 'ioredis'
import pg from 'pg'
import type { Config } from '../config.js'
import { isDatabaseUnavailable, openPool, schema, type Database, type Db } from './index.js'

/**
 * Reads from PostgreSQL streaming replicas (DATABASE_REPLICA_URLS; docs/replicas.md).
 *
 * - A request that changes nothing reads from a replica; one that writes reads and
 *   writes on the primary (the routing is in src/infra/replicas.ts).
 * - A client reads its own writes: after a user's write, the primary's WAL position
 *   (`pg_current_wal_flush_lsn()`, which the commit has reached) is remembered for that
 *   user — in the process, and in Redis with REDIS_URL so that every service replica
 *   knows it. A later read of that user goes to a replica that has replayed that
 *   position (`pg_last_wal_replay_lsn()`), waiting up to WRITER_WAIT_MS for one to get
 *   there, else to the primary.
 * - A probe every PROBE_MS notes the primary's position and each replica's replayed one.
 *   A replica's lag is how long ago the primary was at the first position the replica
 *   has not replayed (0 when it has replayed all): no lag while the primary is idle,
 *   unlike `now() - pg_last_xact_replay_timestamp()`. A replica more than
 *   REPLICA_MAX_LAG_MS behind, or not answering, is skipped until it catches up.
 * - A statement that finds its replica unreachable marks it down and runs on the
 *   primary instead, so a replica that dies costs no request.
 */

/** How long a read waits for a replica to replay its user's last write before reading the primary. */
export const WRITER_WAIT_MS = 200
/** How often the replicas' positions are probed. */
export const PROBE_MS = 250
/** Samples of the primary's position kept (2 min at PROBE_MS): a replica further behind counts as that far. */
const SAMPLES = 480

/** A WAL position ('16/B374D848') as a number. */
export function parseLsn (text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text)
  if (m === null) throw new Error(`not a WAL position: ${text}`)
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`)
}

/** A WAL position as PostgreSQL writes it. */
export function formatLsn (lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}

export interface Sample { lsn: bigint, at: number }

/**
 * How far behind a replica that has replayed `replayed` is at `now`, in ms: the age of
 * the oldest sample of the primary's position it has not reached (samples in time
 * order), 0 when it has reached the last one. Past the oldest sample kept, that sample's age.
 */
export function lagMs (samples: readonly Sample[], replayed: bigint, now: number): number {
  for (const s of samples) {
    if (s.lsn > replayed) return Math.max(0, now - s.at)
  }
  return 0
}

/** The last write's position of each user, for reading one's own writes. */
export class WritePositions {
  private readonly local = new Map<string, { lsn: bigint, until: number }>()
  private warned = false

  /**
   * `ttlMs`: how long a position is kept (a replica that has not replayed a write this
   * old is skipped for its lag anyway). `redis` with its key prefix: shared by every
   * process; null: this process alone.
   */
  constructor (private readonly ttlMs: number, private readonly redis: { client: Redis, prefix: string } | null, private readonly log: { warn: (obj: unknown, msg: string) => void }) {
    redis?.client.defineCommand('rememberLsn', {
      numberOfKeys: 1,
      // Keeps the larger of two positions (fixed-width hex compares as text).
      lua: "local c = redis.call('GET', KEYS[1]) if (not c) or c < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 1"
    })
  }

  private key (sub: string): string { return `${this.redis!.prefix}lsn:${sub}` }

  /** Remembers that `sub` wrote up to `lsn` (never moving a user's position back). */
  async remember (sub: string, lsn: bigint): Promise<void> {
    const now = Date.now()
    const had = this.local.get(sub)
    this.local.set(sub, { lsn: had !== undefined && had.lsn > lsn ? had.lsn : lsn, until: now + this.ttlMs })
    if (this.local.size > 100_000) for (const [k, v] of this.local) if (v.until < now) this.local.delete(k)
    if (this.redis === null) return
    try {
      await (this.redis.client as unknown as { rememberLsn: (key: string, lsn: string, ttl: number) => Promise<unknown> })
        .rememberLsn(this.key(sub), lsn.toString(16).padStart(16, '0'), this.ttlMs)
      this.warned = false
    } catch (err) {
      if (!this.warned) this.log.warn({ err: { message: (err as Error).message } }, 'Redis is unreachable: a write\'s position is known to this process only; other processes read the primary\'s current position instead')
      this.warned = true
    }
  }

  /**
   * The position `sub` last wrote up to (null: no write remembered), or 'unknown' when
   * Redis should know but does not answer.
   */
  async lastWrite (sub: string): Promise<bigint | null | 'unknown'> {
    const had = this.local.get(sub)
    const local = had !== undefined && had.until > Date.now() ? had.lsn : null
    if (this.redis === null) return local
    if (this.redis.client.status !== 'ready') return 'unknown'
    try {
      const shared = await this.redis.client.get(this.key(sub))
      const remote = shared === null ? null : BigInt(`0x${shared}`)
      return remote === null ? local : local === null || remote > local ? remote : local
    } catch {
      return 'unknown'
    }
  }
}

/** What /readyz and /metrics say of a replica. `streaming`: used; `lagging`, `down`: skipped. */
export interface ReplicaStatus {
  name: string
  state: 'streaming' | 'lagging' | 'down'
  /** ms behind the primary at the last probe (null while down). */
  lagMs: number | null
}

/** How a read was routed (the `db_reads_total` metric's label). */
export type ReadRoute = 'replica' | 'replica-after-wait' | 'primary-no-replica' | 'primary-writer-ahead'

interface Member {
  name: string
  pool: pg.Pool
  db: Db
  up: boolean
  replayed: bigint | null
  lagMs: number | null
}

/** The replica's pool, but a statement that finds it unreachable runs on the primary (and marks it down). */
class FailoverPool {
  constructor (private readonly replica: pg.Pool, private readonly primary: pg.Pool, private readonly down: (err: unknown) => void) {}

  async query (config: pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.replica.query(config, values)
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err
      this.down(err)
      return await this.primary.query(config, values)
    }
  }

  /** A transaction (drizzle checks for a pool by this class's name): on the replica, where it can only read. */
  async connect (): Promise<pg.PoolClient> { return await this.replica.connect() }
}

interface Logger { info: (obj: unknown, msg: string) => void, warn: (obj: unknown, msg: string) => void, error: (obj: unknown, msg?: string) => void }

/** A replica's name in logs and metrics: host, port and database, never its credentials. */
const nameOf = (url: string): string => { const u = new URL(url); return `${u.hostname}:${u.port || '5432'}${u.pathname}` }

export class Replicas {
  private readonly members: Member[]
  private readonly samples: Sample[] = []
  private next = 0
  private timer: NodeJS.Timeout | null = null
  private probing: Promise<void> = Promise.resolve()
  private closed = false
  /** Reads per route since start (db_reads_total). */
  readonly routed: Record<ReadRoute, number> = { replica: 0, 'replica-after-wait': 0, 'primary-no-replica': 0, 'primary-writer-ahead': 0 }

  /**
   * The replicas of `database` (the primary) from config, or null when none are
   * configured or the database is the embedded PGlite (which has none).
   */
  static open (config: Config, database: Database, redis: Redis | null, log: Logger): Replicas | null {
    if (config.replicas.urls.length === 0) return null
    if (database.kind !== 'postgres' || database.pool === null || config.database.kind !== 'postgres') {
      log.warn({ replicas: config.replicas.urls.length }, 'DATABASE_REPLICA_URLS is ignored: the embedded database has no replicas')
      return null
    }
    const positions = new WritePositions(Math.max(60_000, 10 * config.replicas.maxLagMs), redis === null || config.redis === null ? null : { client: redis, prefix: config.redis.keyPrefix }, log)
    return new Replicas(config.replicas.urls, config.replicas.maxLagMs, config.database, database.db, database.pool, positions, log)
  }

  private constructor (urls: string[], private readonly maxLagMs: number, cfg: { poolMax: number, statementTimeoutMs?: number }, readonly primary: Db, private readonly primaryPool: pg.Pool, readonly positions: WritePositions, private readonly log: Logger) {
    this.members = urls.map((url) => {
      const pool = openPool(url, cfg.poolMax, cfg.statementTimeoutMs, log)
      const member: Member = { name: nameOf(url), pool, db: null as unknown as Db, up: false, replayed: null, lagMs: null }
      const client = new FailoverPool(pool, primaryPool, (err) => { this.markDown(member, err) })
      member.db = drizzlePg({ client: client as unknown as pg.Pool, schema }) as unknown as Db
      return member
    })
  }

  /** Probes now and then every PROBE_MS until closed. */
  async start (): Promise<void> {
    await this.probe()
    const tick = (): void => {
      this.timer = setTimeout(() => { this.probing = this.probe().finally(() => { if (!this.closed) tick() }) }, PROBE_MS)
      this.timer.unref()
    }
    tick()
  }

  async close (): Promise<void> {
    this.closed = true
    if (this.timer !== null) clearTimeout(this.timer)
    await this.probing
    await Promise.all(this.members.map(async m => { await m.pool.end() }))
  }

  private usable (m: Member): boolean { return m.up && m.lagMs !== null && m.lagMs <= this.maxLagMs }

  private markDown (m: Member, err: unknown): void {
    if (m.up) this.log.warn({ replica: m.name, err: { message: (err as Error).message } }, 'read replica unreachable: reads go to the other replicas or the primary')
    m.up = false
    m.lagMs = null
  }

  /** The primary's WAL position now: every commit that has returned is at or before it. */
  async primaryPosition (): Promise<bigint> {
    const [row] = (await this.primaryPool.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn')).rows
    return parseLsn(row!.lsn)
  }

  /** The replica's replayed position (null when it is not a standby). Throws when it does not answer. */
  private async replayed (m: Member): Promise<bigint | null> {
    const [row] = (await m.pool.query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')).rows
    const lsn = row?.lsn == null ? null : parseLsn(row.lsn)
    if (lsn !== null && (m.replayed === null || lsn > m.replayed)) m.replayed = lsn
    return lsn
  }

  private async probe (): Promise<void> {
    try {
      this.samples.push({ lsn: await this.primaryPosition(), at: Date.now() })
      if (this.samples.length > SAMPLES) this.samples.shift()
    } catch {
      // The primary away: the replicas' lag is left as it was (reads fail over on their own).
      return
    }
    await Promise.all(this.members.map(async (m) => {
      const wasUsable = this.usable(m)
      try {
        const lsn = await this.replayed(m)
        if (lsn === null) throw new Error('not a standby (pg_last_wal_replay_lsn() is null)')
        m.up = true
        m.lagMs = lagMs(this.samples, lsn, Date.now())
      } catch (err) {
        this.markDown(m, err)
      }
      const usable = this.usable(m)
      if (usable && !wasUsable) this.log.info({ replica: m.name, lagMs: m.lagMs }, 'read replica in use')
      if (!usable && wasUsable && m.up) this.log.warn({ replica: m.name, lagMs: m.lagMs }, 'read replica skipped: it is further behind the primary than REPLICA_MAX_LAG_MS')
    }))
  }

  status (): ReplicaStatus[] {
    return this.members.map(m => ({ name: m.name, state: !m.up ? 'down' : this.usable(m) ? 'streaming' : 'lagging', lagMs: m.up ? m.lagMs : null }))
  }

  /**
   * The database a read of `sub` runs on: a usable replica (taken in turn) that has
   * replayed the user's last write — waiting up to WRITER_WAIT_MS for one — else the primary.
   */
  async forRead (sub: string): Promise<Db> {
    const usable = this.members.filter(m => this.usable(m))
    if (usable.length === 0) return this.route('primary-no-replica', this.primary)
    const first = this.next++ % usable.length
    const order = [...usable.slice(first), ...usable.slice(0, first)]
    let needed = await this.positions.lastWrite(sub)
    // Redis should know this user's writes through other processes but does not answer: the primary's position now covers them.
    if (needed === 'unknown') needed = await this.primaryPosition()
    if (needed === null) return this.route('replica', order[0]!.db)
    const ready = order.find(m => m.replayed !== null && m.replayed >= needed)
    if (ready !== undefined) return this.route('replica', ready.db)
    const deadline = Date.now() + WRITER_WAIT_MS
    for (;;) {
      for (const m of order) {
        const lsn = await this.replayed(m).catch(() => null)
        if (lsn !== null && lsn >= needed) return this.route('replica-after-wait', m.db)
      }
      if (Date.now() >= deadline) return this.route('primary-writer-ahead', this.primary)
      await sleep(5)
    }
  }

  private route (route: ReadRoute, db: Db): Db {
    this.routed[route]++
    return db
  }

  /** After a write by `sub` has committed: its next reads see it. */
  async wrote (sub: string): Promise<void> {
    await this.positions.remember(sub, await this.primaryPosition())
  }
}
