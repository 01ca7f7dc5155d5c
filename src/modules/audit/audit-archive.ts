import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { sql } from 'drizzle-orm'
import type { Config } from '../../config.js'
import { queryRows, type Db } from '../../db/index.js'
import { rangeNodes } from './audit-merkle.js'
import { verifyExport, type RangeProof } from './audit-offline.js'
import * as repo from './audit-repository.js'
import { signCurrentHead } from './audit-sequencer.js'
import { logLines } from './audit-service.js'

/** The archive command refused (nothing was written or detached); the message says why. */
export class ArchiveRefused extends Error {}

export interface ArchiveResult { month: string, dir: string, entries: number, first: number | null, last: number | null, treeSize: number, dropped: boolean }

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/

/**
 * Archives a month of the audit log (docs/audit.md "Partitions and retention"): writes
 * `DIR/audit-YYYY-MM/` — `log.ndjson` (positions first..last as `GET /api/v1/audit/log`
 * exports them, every entry of the month in full), `head.json` (a signed head covering
 * them), `keys.json`, `proof.json` (the range proof joining them to the head) and
 * `manifest.json` (counts and SHA-256 of each file) — verifies what it wrote as
 * `npm run audit:verify -- --archive` would, and only then, in one transaction, keeps
 * the month's leaves in the tree's nodes, records the archive and detaches the month's
 * two partitions (dropping them with `drop`). Refuses a month that ended less than
 * AUDIT_ARCHIVE_MIN_MONTHS (≥ 6) months before `now`, one not fully sequenced, one
 * archived already and an archive directory that exists.
 */
export async function archiveMonth (db: Db, config: Config, opts: { month: string, out: string, drop: boolean, now: Date }): Promise<ArchiveResult> {
  const m = MONTH.exec(opts.month)
  if (m === null) throw new ArchiveRefused('--month must be a month as YYYY-MM')
  const year = Number(m[1])
  const month = Number(m[2])
  const suffix = `${m[1]}_${m[2]}`
  const ends = new Date(Date.UTC(year, month, 1))
  const keptUntil = new Date(Date.UTC(year, month + config.audit.archiveMinMonths, 1))
  if (opts.now < keptUntil) {
    throw new ArchiveRefused(`${opts.month} ended ${ends.toISOString()}; audit logs are kept in the database at least ${config.audit.archiveMinMonths} months (AUDIT_ARCHIVE_MIN_MONTHS, never fewer than the Cybersecurity Law's 6): it can be archived from ${keptUntil.toISOString()}`)
  }
  const dir = join(opts.out, `audit-${opts.month}`)
  if (existsSync(dir)) throw new ArchiveRefused(`${dir} exists: an archive is never overwritten`)
  const [done] = await queryRows<{ archivedAt: Date }>(db, sql`SELECT archived_at AS "archivedAt" FROM audit_archives WHERE month = ${suffix}`)
  if (done !== undefined) throw new ArchiveRefused(`${opts.month} was archived on ${new Date(done.archivedAt).toISOString()}`)
  const attached = await queryRows<{ name: string }>(db, sql`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE c.relname IN (${`audit_events_${suffix}`}, ${`audit_log_${suffix}`})`)
  if (attached.length !== 2) throw new ArchiveRefused(`${opts.month} has no partitions to archive`)
  const strays = (await repo.entriesInDefault(db)).find(s => s.month === opts.month)
  if (strays !== undefined) throw new ArchiveRefused(`${strays.entries} entries of ${opts.month} are in the DEFAULT partition, not the month's: move them into it first`)
  const events = sql.identifier(`audit_events_${suffix}`)
  const log = sql.identifier(`audit_log_${suffix}`)
  const [counts] = await queryRows<{ entries: number, pending: number, first: string | null, last: string | null }>(db, sql`SELECT
    (SELECT count(*)::int FROM ${events}) AS entries,
    (SELECT count(*)::int FROM ${events} e WHERE NOT EXISTS (SELECT 1 FROM ${log} l WHERE l.entry_id = e.id AND l.at = e.at)) AS pending,
    (SELECT min(seq)::text FROM ${log}) AS first, (SELECT max(seq)::text FROM ${log}) AS last`)
  const { entries, pending } = counts!
  if (pending > 0) throw new ArchiveRefused(`${pending} entries of ${opts.month} are not sequenced yet: a month is archived only once every entry has its position`)
  const first = counts!.first === null ? null : Number(counts!.first)
  const last = counts!.last === null ? null : Number(counts!.last)

  const head = await signCurrentHead(db, config, opts.now)
  const partial = `${dir}.partial-${process.pid}`
  await rm(partial, { recursive: true, force: true })
  await mkdir(partial, { recursive: true })
  try {
    const files: Record<string, string> = {}
    const put = async (name: string, body: string): Promise<void> => {
      await writeFile(join(partial, name), body, { flag: 'wx' })
      files[name] = createHash('sha256').update(body).digest('hex')
    }
    await put('head.json', JSON.stringify(head, null, 2) + '\n')
    await put('keys.json', JSON.stringify({ keys: config.audit.publicKeys }, null, 2) + '\n')
    if (first !== null && last !== null) {
      const stored = await repo.readNodes(db, [...rangeNodes(0, first - 1), ...rangeNodes(last, head.treeSize)])
      const hashOf = ({ level, index }: { level: number, index: number }): string => {
        const hex = stored.get(`${level}:${index}`)
        if (hex === undefined) throw new Error(`audit tree node ${level}:${index} is missing`)
        return hex
      }
      const proof: RangeProof = { first, last, treeSize: head.treeSize, left: rangeNodes(0, first - 1).map(hashOf), right: rangeNodes(last, head.treeSize).map(hashOf) }
      await put('proof.json', JSON.stringify(proof, null, 2) + '\n')
      const hash = createHash('sha256')
      // The whole month's entries in full: the archive keeps what the database gives up.
      await pipeline(Readable.from(logLines(db, first, last, '')), async function * (source) {
        for await (const chunk of source) { hash.update(chunk as string); yield chunk }
      }, createWriteStream(join(partial, 'log.ndjson'), { flags: 'wx' }))
      files['log.ndjson'] = hash.digest('hex')
      // What was written must verify offline before anything is detached.
      // (the proof read first: lines read before the loop starts would be lost)
      const written = JSON.parse(await readFile(join(partial, 'proof.json'), 'utf8')) as RangeProof
      const result = await verifyExport(createInterface({ input: createReadStream(join(partial, 'log.ndjson')), crlfDelay: Infinity }), head, config.audit.publicKeys, written)
      if (!result.ok) throw new Error(`the archive written does not verify (${result.reason}): nothing detached`)
    } else {
      await put('log.ndjson', '')
    }
    await put('manifest.json', JSON.stringify({ month: opts.month, entries, first, last, treeSize: head.treeSize, rootHash: head.rootHash, archivedAt: opts.now.toISOString(), dropped: opts.drop, files }, null, 2) + '\n')
    await rename(partial, dir)
  } catch (err) {
    await rm(partial, { recursive: true, force: true })
    throw err
  }

  await db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL lock_timeout = '10s'`)
    // The month's leaves stay in the tree's nodes: proofs, the root and verifyAuditChain never need the archive.
    await tx.execute(sql`INSERT INTO audit_tree_nodes (level, idx, hash) SELECT 0, seq - 1, leaf_hash FROM ${log} ON CONFLICT DO NOTHING`)
    await tx.execute(sql`INSERT INTO audit_archives (month, first_seq, last_seq, entries, tree_size, root_hash, archived_at, dropped)
      VALUES (${suffix}, ${first}, ${last}, ${entries}, ${head.treeSize}, decode(${head.rootHash}, 'hex'), ${opts.now}, ${opts.drop})`)
    await tx.execute(sql`ALTER TABLE audit_events DETACH PARTITION ${events}`)
    await tx.execute(sql`ALTER TABLE audit_log DETACH PARTITION ${log}`)
    if (opts.drop) await tx.execute(sql`DROP TABLE ${events}, ${log}`)
  })
  return { month: opts.month, dir, entries, first, last, treeSize: head.treeSize, dropped: opts.drop }
}
