import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../../config.js'
import type { Database, Db, DbOrTx, Session } from '../../db/index.js'
import { BackgroundLoop } from '../../shared/background-loop.js'
import type { Clock } from '../../shared/context.js'
import { signHead, type TreeHead } from '../../shared/tree-heads.js'
import { entryLeafHash, recordsChange } from './audit-entry.js'
import { CompactRange, frontierNodes, nodesNeeded, treeRoot } from './audit-merkle.js'
import * as repo from './audit-repository.js'

/** The session advisory lock whose holder is the one sequencer. */
const LEADER_LOCK = 4112_0003
/** Entries given positions per transaction. */
const BATCH = 5_000
/** How often the leader looks for new entries: every 50 ms while they come, backing off to 250 ms when idle. */
const POLL_MS = 50
const IDLE_POLL_MS = 250
/** How often a follower tries for the leader's lock. */
const FOLLOW_MS = 1_000
const RETRY_MS = 1_000
const STOP_WAIT_MS = 5_000
/** How often the leader makes sure the partitions of this month and the next exist (and again a minute after a failure). */
const MAINTAIN_MS = 3_600_000
const MAINTAIN_RETRY_MS = 60_000

/** The tree of `size` leaves as its right edge, read from the stored nodes (O(log n) rows). */
export async function loadTree (db: DbOrTx, size: number): Promise<CompactRange> {
  const keys = frontierNodes(size)
  const stored = await repo.readNodes(db, keys)
  const frontier: Buffer[] = []
  for (const { level, index } of keys) {
    const hex = stored.get(`${level}:${index}`)
    if (hex === undefined) throw new Error(`audit tree node ${level}:${index} is missing`)
    frontier[level] = Buffer.from(hex, 'hex')
  }
  return new CompactRange(size, frontier)
}

/** The root of the first `size` leaves, from the stored nodes. */
export async function rootAt (db: DbOrTx, size: number): Promise<Buffer> {
  const stored = await repo.readNodes(db, nodesNeeded(treeRoot(size)))
  return treeRoot(size)((level, index) => Buffer.from(stored.get(`${level}:${index}`)!, 'hex'))
}

/** Signs a head for the tree as it is now and stores it (unless another process stored that size first); returns the latest head. */
export async function signCurrentHead (db: Db, config: Config, at: Date): Promise<TreeHead> {
  const size = await repo.treeSize(db)
  const latest = await repo.latestHead(db)
  if (latest === null || Number(latest.treeSize) < size) {
    const head = signHead(config.audit.signingKey, size, (await rootAt(db, size)).toString('hex'), at)
    await repo.insertHead(db, { ...head, signedAt: at })
  }
  return headOf((await repo.latestHead(db))!)
}

export function headOf (row: repo.HeadRow): TreeHead {
  return { treeSize: Number(row.treeSize), rootHash: row.rootHash, timestamp: new Date(row.signedAt).toISOString(), keyId: row.keyId, signature: row.signature }
}

/**
 * Gives committed audit entries their positions in the log (contract §9). Every process
 * runs one, but only the holder of a session advisory lock works: when its process dies
 * or its connection drops, the lock goes with the session and a follower takes over
 * within a second. It looks every 50 ms while entries come (250 ms when idle; a caller
 * waiting for its entries wakes it). Each step is one repeatable-read transaction on that session that
 * reads the entries its snapshot sees that the last complete step's snapshot did not,
 * appends them to the log with their leaf hashes and the tree's new complete nodes, and
 * records the new snapshot — so an entry is sequenced exactly once, in the order its
 * commit became visible, and a step that fails leaves nothing behind. A head is signed
 * at least every AUDIT_HEAD_INTERVAL_SECONDS while entries arrive.
 */
export class AuditSequencer extends BackgroundLoop {
  private session: Session | null = null
  /** The tree as the last committed step left it (null: read it again). */
  private tree: CompactRange | null = null
  private lastHeadAt = 0
  /** True while this process holds the lock. */
  leading = false
  /** Entries in the DEFAULT partitions at the leader's last maintenance (for metrics). */
  inDefault = 0
  private nextMaintenance = 0
  /** When the last step ran, and how long after its oldest entry was written (for metrics). */
  lastStep = { at: 0, lagMs: 0, sequenced: 0 }

  constructor (private readonly deps: { database: Database, config: Config, clock: Clock, log: FastifyBaseLogger }) { super() }

  /** Stops after the current step; a step stuck on a lost connection is cut off (its transaction never commits). */
  async stop (): Promise<void> {
    if (!await this.halt(STOP_WAIT_MS)) {
      await this.session?.close()
      await this.loop
    }
  }

  /** Resolves once every entry committed before the call has its position (whichever process sequences); for tests and tools. */
  async settled (timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (await repo.pendingCount(this.deps.database.db) > 0) {
      if (Date.now() > deadline) throw new Error('audit entries still pending after ' + timeoutMs + ' ms')
      this.wake()
      await sleep(10)
    }
  }

  protected async run (): Promise<void> {
    const { log } = this.deps
    while (!this.stopped) {
      let ended = false
      try {
        const session = this.session = await this.deps.database.session()
        void session.ended.then(() => { ended = true })
        while (!this.stopped && !ended && !await this.tryLead(session.db)) await this.pause(FOLLOW_MS, session.ended)
        if (this.stopped || ended) continue
        this.leading = true
        this.tree = null
        log.info('audit sequencer: this process sequences the audit log')
        let idle = POLL_MS
        this.nextMaintenance = 0
        while (!this.stopped && !ended) {
          if (this.deps.clock().getTime() >= this.nextMaintenance) await this.maintain(session.db)
          const n = await this.step(session.db)
          idle = n > 0 ? POLL_MS : Math.min(idle * 2, IDLE_POLL_MS)
          if (n < BATCH) await this.pause(idle, session.ended)
        }
      } catch (err) {
        if (!this.stopped) log.error({ err }, 'audit sequencer: step failed; trying again')
      } finally {
        if (this.leading) log.info('audit sequencer: no longer leading')
        this.leading = false
        await this.release()
      }
      if (!this.stopped) await sleep(RETRY_MS)
    }
  }

  /**
   * Partitions ahead of time (docs/audit.md "Partitions and retention"): this month's and
   * the next month's are made when missing, so that the DEFAULT partition only ever
   * catches an entry dated where no month exists — reported here every time, never
   * silently. A failure (a lock timeout) is logged and tried again a minute later.
   */
  async maintain (db: Db): Promise<void> {
    const { clock, log } = this.deps
    try {
      if (await repo.ensureMonths(db, clock(), 1)) log.info('audit: partitions made for this month and the next')
      const stray = await repo.entriesInDefault(db)
      this.inDefault = stray.reduce((n, m) => n + m.entries, 0)
      if (stray.length > 0) log.warn({ months: stray }, 'audit: entries in the DEFAULT partition (dated in months that have no partition): make their months with audit_ensure_month or check the clocks')
      this.nextMaintenance = clock().getTime() + MAINTAIN_MS
    } catch (err) {
      log.warn({ err }, 'audit: making the next partitions failed; trying again in a minute')
      this.nextMaintenance = clock().getTime() + MAINTAIN_RETRY_MS
    }
  }

  private async tryLead (db: Db): Promise<boolean> {
    const [row] = (await db.execute(sql`SELECT pg_try_advisory_lock(${LEADER_LOCK}) AS ok`) as unknown as { rows: Array<{ ok: boolean }> }).rows
    return row?.ok === true
  }

  /** Ends the session (which frees the lock); PGlite's one connection stays open, so its lock is let go of. */
  private async release (): Promise<void> {
    const session = this.session
    this.session = null
    if (session === null) return
    if (this.deps.database.kind === 'pglite') await session.db.execute(sql`SELECT pg_advisory_unlock_all()`).catch(() => {})
    await session.close()
  }

  /** One step: returns how many entries it sequenced. */
  private async step (db: Db): Promise<number> {
    const { clock } = this.deps
    const now = clock()
    const result = await db.transaction(async (tx) => {
      const state = await repo.lockSequencer(tx)
      const size = Number(state.treeSize)
      const tree = this.tree !== null && this.tree.size === size ? this.tree.clone() : await loadTree(tx, size)
      const entries = await repo.unsequencedEntries(tx, state.snapshot, BATCH)
      if (entries.length === 0) return { tree, count: 0, oldest: null }
      const log: repo.LogRow[] = []
      const nodes: repo.TreeNodeRow[] = []
      for (const e of entries) {
        const seq = tree.size + 1
        const leaf = entryLeafHash(seq, e)
        log.push({ seq, entryId: e.id, at: e.atKey, regionCode: e.regionCode, leafHash: leaf, change: recordsChange(e.action) })
        tree.append(Buffer.from(leaf, 'hex'), (level, index, hash) => { nodes.push({ level, index, hash: hash.toString('hex') }) })
      }
      // The snapshot moves on only when this step took every entry it could see.
      await repo.saveStep(tx, log, nodes, tree.size, entries.length < BATCH ? state.current : state.snapshot, now)
      return { tree, count: entries.length, oldest: Math.min(...entries.map(e => new Date(e.at).getTime())) }
    }, { isolationLevel: 'repeatable read' })
    this.tree = result.tree
    if (result.count > 0) {
      this.lastStep = { at: now.getTime(), lagMs: Math.max(0, clock().getTime() - result.oldest!), sequenced: result.count }
      if (now.getTime() - this.lastHeadAt >= this.deps.config.audit.headIntervalMs) {
        await signCurrentHead(db, this.deps.config, clock())
        this.lastHeadAt = now.getTime()
      }
    }
    return result.count
  }
}
