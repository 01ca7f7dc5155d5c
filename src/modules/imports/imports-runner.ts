import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { sql } from 'drizzle-orm'
import { isDatabaseBusy, isDatabaseUnavailable } from '../../db/index.js'
import type { Deps } from '../../shared/context.js'
import type { FieldError } from '../../shared/errors.js'
import { maskNationalId } from '../../shared/masking.js'
import { BackgroundLoop, ROWS_PER_TURN, yieldToRequests } from '../../shared/background-loop.js'
import { recordAudit, type AuditEvent } from '../audit/audit-service.js'
import { KINDS, validateRow, type Kind, type MemberColumn, type MemberKind, type MemberState } from './kinds.js'
import { applyPayment, type PaymentPaths, type PaymentRefusal } from '../projects/payments.js'
import { levelOf } from '../../shared/region-code.js'
import { readRecords, SpreadsheetRefused, type Charset, type Format, type ParsedRecord } from './parse.js'
import * as repo from './imports-repository.js'

const POLL_MS = 2_000
const STOP_WAIT_MS = 10_000

class LostLease extends Error {}
/** A member of the batch changed between reading and writing it: the batch is tried again. */
class ChangedMeanwhile extends Error {}
/**
 * Tries of a batch: one that lost a race (ChangedMeanwhile) is read again; one that fails
 * for any reason but the database being away or busy fails the job after this many.
 */
export const BATCH_ATTEMPTS = 5
/** The file itself cannot be read or is refused (not the database): the job fails instead of being retried. */
class UnreadableFile extends Error {}
/** A batch failed BATCH_ATTEMPTS times for a reason that is not transient: the job fails with it. */
class BatchFailed extends Error {}
/** The database is away or overloaded: the job waits for its lease to expire and resumes. */
const transient = (err: unknown): boolean => isDatabaseUnavailable(err) || isDatabaseBusy(err)

/** The disbursement file's columns for the payment rule's fields (its errors name them). */
const PAYMENT_PATHS: PaymentPaths = { projectId: 'project_code', householdId: 'national_id', memberId: 'national_id', amount: 'amount', date: 'date', account: 'account', reference: 'voucher_no' }
/** The column a refusal without a field of its own is reported on. */
const REFUSAL_PATHS: Record<PaymentRefusal, string> = { INVALID: '', PROJECT_NOT_FOUND: 'project_code', NOT_PAYING: 'project_code', NOT_BENEFICIARY: 'national_id', NOT_A_MEMBER: 'national_id', ABOVE_ALLOCATION: 'amount', DUPLICATE: 'voucher_no' }
/** The reconciliation's finding for each refusal of a payment. */
export const REFUSAL_FINDINGS: Record<PaymentRefusal, string> = {
  INVALID: 'PAYMENT_INVALID',
  PROJECT_NOT_FOUND: 'PROJECT_NOT_FOUND',
  NOT_PAYING: 'PROJECT_NOT_PAYING',
  NOT_BENEFICIARY: 'PAYEE_NOT_BENEFICIARY',
  NOT_A_MEMBER: 'PAYEE_NOT_BENEFICIARY',
  ABOVE_ALLOCATION: 'ABOVE_ALLOCATION',
  DUPLICATE: 'DUPLICATE_PAYMENT'
}

/** The innermost cause's message: the database's own words, not drizzle's wrapper (which quotes the query's parameters). */
function rootMessage (err: unknown): string {
  let e = err as { message?: unknown, cause?: unknown }
  while (e.cause !== null && typeof e.cause === 'object') e = e.cause as typeof e
  return String(e.message)
}

/** A batch's rows checked in Node, before any database work. */
interface Prepared {
  now: Date
  /** The resume point the batch starts from (the last line of the batch before it) and the one it leaves. */
  after: number
  last: number
  received: number
  rejected: number
  errors: repo.ErrorInsert[]
  valid: Array<{ line: number, row: Record<string, string | number | boolean>, hash: string }>
}

/** Members as a batch wrote them (by id, at their new version). */
type WrittenMembers = Map<string, repo.MatchedMember>

/** A batch on its way: its members once written (not yet committed), and its commit. */
interface InFlight {
  last: number
  written: Promise<WrittenMembers>
  committed: Promise<void>
}

async function * unreadable (records: AsyncGenerator<ParsedRecord>): AsyncGenerator<ParsedRecord> {
  try {
    yield * records
  } catch (err) {
    // The stored file is read from the database: its being away is no fault of the file.
    if (transient(err)) throw err
    throw new UnreadableFile(err instanceof SpreadsheetRefused ? `the spreadsheet is refused: ${err.message}` : `the file cannot be read: ${(err as Error).message}`)
  }
}

/**
 * The background worker of import jobs. It takes the oldest queued job (or one whose
 * worker died: its lease expired), reads the stored file from its resume point, and
 * applies the rows in batches: each batch — member changes (written only if unchanged
 * since read, else the batch is tried again), one audit entry per applied row, rejected
 * rows' errors, matches and progress — is one transaction, so a job
 * interrupted anywhere resumes after its last committed batch with no row applied twice.
 *
 * Two batches are in flight at a time (see `startBatch`): while batch N commits, batch
 * N+1 is parsed, validated, looked up and written on a second connection, but it appends
 * its audit entries and moves the resume point only once N has committed, and only from
 * N's last line — so the resume point never passes a batch that did not commit.
 * At the end the kind's reconciliation becomes work items and the job's report.
 */
export class ImportRunner extends BackgroundLoop {
  /** The lease owner: the host and process, so that an operator sees which replica works a job (exchange_jobs.lease_owner). */
  private readonly owner = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`

  constructor (private readonly deps: Omit<Deps, 'log'> & { log: Deps['log'] }) { super() }

  /**
   * Stops after the current batch; the job stays running and is taken over once its lease
   * expires. Waits at most STOP_WAIT_MS: a batch stuck on a lost database connection must
   * not hold up the shutdown (its transaction never commits, so nothing is half-applied).
   */
  async stop (): Promise<void> {
    if (!await this.halt(STOP_WAIT_MS)) this.deps.log.warn('import runner: stopping without waiting for the current batch')
  }

  protected async run (): Promise<void> {
    const { db, clock, log } = this.deps
    await repo.failInterruptedUploads(db, clock()).catch((err: unknown) => { log.warn({ err }, 'import runner: could not close interrupted uploads') })
    while (!this.stopped) {
      let job: repo.JobRow | null = null
      try {
        job = await repo.claim(db, this.owner, clock(), this.leaseFrom(clock()))
        if (job !== null) {
          log.info({ jobId: job.id, kind: job.kind, resumeLine: job.resumeLine, leaseOwner: this.owner }, 'import job taken up')
          await this.holding(job, async () => { await this.process(job!) })
        }
      } catch (err) {
        if (!(err instanceof LostLease)) log.error({ err, jobId: job?.id }, 'import job interrupted; it resumes when its lease expires')
      }
      if (job === null && !this.stopped) await this.pause(POLL_MS)
    }
  }

  private leaseFrom (now: Date): Date {
    return new Date(now.getTime() + this.deps.config.importLeaseMs)
  }

  /**
   * Runs `work` while renewing the job's lease every third of it, so that the lease runs
   * out only when this process is gone (or cannot reach the database): then, and only
   * then, another process takes the job over. A renewal that finds the lease no longer
   * ours changes nothing; the batch in flight then fails to commit (LostLease).
   */
  private async holding (job: repo.JobRow, work: () => Promise<void>): Promise<void> {
    const { db, clock, log, config } = this.deps
    const timer = setInterval(() => {
      repo.renewLease(db, job, this.leaseFrom(clock())).then((ours) => {
        if (!ours) log.warn({ jobId: job.id }, 'import job: the lease is no longer ours')
      }, (err: unknown) => { log.warn({ err, jobId: job.id }, 'import job: could not renew the lease') })
    }, Math.max(1000, Math.floor(config.importLeaseMs / 3)))
    try {
      await work()
    } finally {
      clearInterval(timer)
    }
  }

  private async process (job: repo.JobRow): Promise<void> {
    const kind = job.kind as Kind
    const batchRows = this.deps.config.importBatchRows
    const file = repo.storedFile(this.deps.db, job.id, job.bytes)
    const records = unreadable(readRecords(file, job.format as Format, job.charset as Charset, this.deps.config.importXlsxMaxBytes))
    let batch: ParsedRecord[] = []
    let previous: InFlight | null = null
    try {
      let read = 0
      for await (const r of records) {
        // Parsing runs in microtasks: let requests in every ROWS_PER_TURN records.
        if (++read % ROWS_PER_TURN === 0) await yieldToRequests()
        if (r.line <= job.resumeLine) continue
        batch.push(r)
        if (batch.length >= batchRows) {
          previous = await this.send(job, kind, batch, previous)
          batch = []
          // Let waiting requests have the database between batches (PGlite is one connection).
          await yieldToRequests()
          if (this.stopped) {
            await previous!.committed
            // Hand the job over at once (a crash instead leaves it to the lease's expiry).
            await repo.releaseLease(this.deps.db, job, this.deps.clock())
            return
          }
        }
      }
      if (batch.length > 0) previous = await this.send(job, kind, batch, previous)
      if (previous !== null) await previous.committed
    } catch (err) {
      // The batch in flight ends first (its failure, if it fails, is the one reported).
      let failure = err
      if (previous !== null) await previous.committed.catch((e: unknown) => { failure = e })
      if (!(failure instanceof UnreadableFile || failure instanceof BatchFailed)) throw failure
      const message = failure.message
      await this.deps.db.transaction(async (tx) => {
        if (!await repo.finish(tx, job, 'failed', this.deps.clock(), null, message)) throw new LostLease()
      })
      return
    }
    await this.reconcile(job, kind)
  }

  /** Starts the batch, then waits for the one before it to commit: at most two are in flight. */
  private async send (job: repo.JobRow, kind: Kind, batch: ParsedRecord[], previous: InFlight | null): Promise<InFlight> {
    const prepared = await this.prepare(job, kind, batch, previous?.last ?? job.resumeLine)
    const next = this.startBatch(job, kind, prepared, previous)
    // If the batch before failed, this one fails too (it waits for it): let it end first.
    if (previous !== null) await previous.committed.catch(async (err: unknown) => { await next.committed.catch(() => {}); throw err })
    return next
  }

  /**
   * Starts applying a batch after `previous` (the batch before it, still in flight, or
   * null). Validation and the members' lookup start at once, outside any transaction;
   * the batch's transaction opens once the previous batch has written its members (so
   * that two batches never wait for each other's rows), writes its own, and waits for the
   * previous batch's commit before it appends its audit entries (one insert) and records
   * its progress. The lookup may have run before the previous batch committed, so the
   * members that batch wrote are taken as it wrote them (a member changed by anyone else
   * meanwhile fails the version check, and the batch is tried again from a fresh read).
   */
  private startBatch (job: repo.JobRow, kind: Kind, prepared: Prepared, previous: InFlight | null): InFlight {
    // Payments look their members up inside their transaction (see applyPayments).
    const lookup = kind === 'finance.payments' ? Promise.resolve([]) : repo.membersByHash(this.deps.db, job.regionCode, [...new Set(prepared.valid.map(v => v.hash))])
    lookup.catch(() => {}) // awaited by the first attempt, unless the previous batch failed first
    let wrote!: (members: WrittenMembers) => void
    let failed!: (err: unknown) => void
    const written = new Promise<WrittenMembers>((resolve, reject) => { wrote = resolve; failed = reject })
    written.catch(() => {}) // awaited by the next batch, if any
    const committed = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          if (kind === 'finance.payments') await this.applyPayments(job, prepared, previous, wrote)
          else await this.applyBatch(job, kind, prepared, previous, attempt === 1 ? lookup : null, wrote)
          return
        } catch (err) {
          // The batch before failed (this one waits for it), the lease is lost, the database is away: not this batch's to retry.
          if (err instanceof BatchFailed || err instanceof LostLease || transient(err)) throw err
          if (attempt < BATCH_ATTEMPTS) continue
          if (err instanceof ChangedMeanwhile) throw err // members edited all along: the job resumes later
          throw new BatchFailed(`lines ${prepared.after + 1}–${prepared.last} failed ${BATCH_ATTEMPTS} times: ${rootMessage(err)}`.slice(0, 1000))
        }
      }
    })()
    committed.catch(failed) // a batch that never wrote its members
    return { last: prepared.last, written, committed }
  }

  /**
   * The batch's rows validated (Node only): the errors of rejected rows, the valid rows
   * with their lookup hashes; requests get the event loop every ROWS_PER_TURN rows.
   */
  private async prepare (job: repo.JobRow, kind: Kind, batch: ParsedRecord[], after: number): Promise<Prepared> {
    const now = this.deps.clock()
    const errors: repo.ErrorInsert[] = []
    const valid: Prepared['valid'] = []
    for (const [i, r] of batch.entries()) {
      if (i > 0 && i % ROWS_PER_TURN === 0) await yieldToRequests()
      if ('error' in r) { errors.push({ jobId: job.id, line: r.line, path: '', message: r.error }); continue }
      const v = validateRow(kind, r.record, now)
      if ('errors' in v) errors.push(...v.errors.map((e: FieldError) => ({ jobId: job.id, line: r.line, path: e.path, message: e.message })))
      else valid.push({ line: r.line, row: v.row, hash: this.deps.sealer.lookupHash(String(v.row.national_id)) })
    }
    return { now, after, last: batch[batch.length - 1]!.line, received: batch.length, errors, valid, rejected: new Set(errors.map(e => e.line)).size }
  }

  /**
   * One attempt at a batch, in one transaction. `lookup` is the members read before the
   * transaction (the first attempt), or null to read them in it, after the previous
   * batch has committed (a retry). `wrote` is told the members as written.
   */
  private async applyBatch (job: repo.JobRow, kind: MemberKind, p: Prepared, previous: InFlight | null, lookup: Promise<repo.MatchedMember[]> | null, wrote: (members: WrittenMembers) => void): Promise<void> {
    const { now, valid, errors } = p
    const spec = KINDS[kind]
    const source = `exchange-job:${job.id}`
    // Before the transaction opens, so that the previous batch never waits for this one (for
    // a connection, or for PGlite, which runs one transaction at a time): the previous
    // batch's member writes, and the members as read then; a retry reads once it committed.
    let read: repo.MatchedMember[] | null = null
    if (lookup !== null) {
      const written: WrittenMembers = previous === null ? new Map() : await previous.written
      read = (await lookup).map(m => ({ ...(written.get(m.id) ?? m) }))
    } else {
      await previous?.committed
    }

    await this.deps.db.transaction(async (tx) => {
      const found = read ?? await repo.membersByHash(tx, job.regionCode, [...new Set(valid.map(v => v.hash))])
      const byHash = new Map(found.map(m => [m.nationalIdHash, m]))
      const changed = new Map<string, repo.MatchedMember>()
      const matches: repo.MatchInsert[] = []
      const items: repo.WorkItemInsert[] = []
      const audits: AuditEvent[] = []
      let columns: MemberColumn[] = []
      for (const [i, v] of valid.entries()) {
        if (i > 0 && i % ROWS_PER_TURN === 0) await yieldToRequests()
        const member = byHash.get(v.hash)
        if (member === undefined) {
          if (kind === 'civil_affairs.dibao' && v.row.status === 'active') {
            items.push({ jobId: job.id, finding: 'DIBAO_NOT_REGISTERED', regionCode: job.regionCode, detail: { line: v.line, name: v.row.name, nationalId: maskNationalId(String(v.row.national_id)) }, createdAt: now })
          }
          continue
        }
        const changes = spec.apply(v.row, member as unknown as MemberState) as Partial<Record<MemberColumn, unknown>>
        columns = Object.keys(changes) as MemberColumn[]
        const before = Object.fromEntries(columns.map(c => [c, member[c]]))
        Object.assign(member, changes)
        changed.set(member.id, member)
        matches.push({ jobId: job.id, line: v.line, memberId: member.id })
        audits.push({ action: `exchange.${kind}`, entity: 'Member', entityId: member.id, regionCode: member.regionCode, source, before, after: changes })
        if (kind === 'disability.certificates' && !(before.healthConditions as string[]).includes('DISABLED')) {
          items.push({ jobId: job.id, finding: 'NEWLY_DISABLED', regionCode: member.regionCode, householdId: member.householdId, memberId: member.id, detail: { line: v.line, name: member.name, grade: v.row.grade }, createdAt: now })
        }
      }
      // Optimistic: each member is written only if still at the version read (no row locks to take first).
      const updated = await repo.updateMembers(tx, columns, [...changed.values()].map(m => ({ id: m.id, version: m.version, ...Object.fromEntries(columns.map(c => [c, m[c]])) })), now)
      if (updated !== changed.size) throw new ChangedMeanwhile()
      wrote(new Map([...changed.values()].map(m => [m.id, { ...m, version: m.version + 1 }])))
      await repo.insertErrors(tx, errors)
      await repo.insertMatches(tx, matches)
      await repo.insertWorkItems(tx, items)
      // Audit entries and the resume point advance in file order, over committed batches only.
      await previous?.committed
      await recordAudit(tx, { sub: job.submittedBy, role: job.submitterRole }, now, audits)
      const counts = { received: p.received, applied: matches.length, unmatched: valid.length - matches.length, rejected: p.rejected }
      if (!await repo.commitProgress(tx, job, p.after, p.last, counts, this.leaseFrom(this.deps.clock()))) throw new LostLease()
    })
  }

  /**
   * One attempt at a batch of `finance.payments`, in one transaction, after the batch
   * before it has committed (payments lock their projects' rows, in file order). Each
   * valid row's person is looked up by the national ID's keyed hash among the registered
   * members in the job's area, then paid through `applyPayment` — the payment rule's one
   * place: the project in the area and paying, the household a beneficiary, paid never
   * above allocated, the reference (voucher or file line) not yet used. A person not
   * registered counts as unmatched; a payment refused is a rejected row with its reason;
   * both become work items of the reconciliation. Each payment writes its audit entry
   * (`project.pay`, with the job as its source) in the same transaction.
   */
  private async applyPayments (job: repo.JobRow, p: Prepared, previous: InFlight | null, wrote: (members: WrittenMembers) => void): Promise<void> {
    await previous?.committed
    wrote(new Map())
    const { now, valid } = p
    const source = `exchange-job:${job.id}`
    const principal = { sub: job.submittedBy, role: job.submitterRole, regionCode: job.regionCode, level: levelOf(job.regionCode), dept: job.dept } as Parameters<typeof applyPayment>[1]['principal']
    await this.deps.db.transaction(async (tx) => {
      const found = await repo.membersByHash(tx, job.regionCode, [...new Set(valid.map(v => v.hash))])
      const byHash = new Map(found.map(m => [m.nationalIdHash, m]))
      const projectIds = await repo.projectIdsByCode(tx, job.regionCode, [...new Set(valid.map(v => String(v.row.project_code)))])
      const errors = [...p.errors]
      const matches: repo.MatchInsert[] = []
      const items: repo.WorkItemInsert[] = []
      let rejected = p.rejected
      for (const v of valid) {
        const row = v.row
        const base = { line: v.line, projectCode: row.project_code, amount: row.amount, date: row.date, ...(row.voucher_no !== undefined ? { voucherNo: row.voucher_no } : {}) }
        const member = byHash.get(v.hash)
        if (member === undefined) {
          items.push({ jobId: job.id, finding: 'PAYEE_NOT_REGISTERED', regionCode: job.regionCode, detail: { ...base, nationalId: maskNationalId(String(row.national_id)) }, createdAt: now })
          continue
        }
        const outcome = await applyPayment(tx, { principal, sealer: this.deps.sealer, at: now, source }, {
          projectId: projectIds.get(String(row.project_code)) ?? '',
          householdId: member.householdId,
          memberId: member.id,
          amount: Number(row.amount),
          date: String(row.date),
          account: String(row.account),
          reference: row.voucher_no !== undefined ? String(row.voucher_no) : `${job.sha256!.slice(0, 16)}/${v.line}`
        }, PAYMENT_PATHS)
        if (outcome.ok) {
          matches.push({ jobId: job.id, line: v.line, memberId: member.id })
          continue
        }
        rejected++
        const fields = outcome.error.fields ?? []
        errors.push(...(fields.length > 0 ? fields : [{ path: REFUSAL_PATHS[outcome.reason], message: outcome.error.message }]).map(f => ({ jobId: job.id, line: v.line, path: f.path, message: f.message })))
        items.push({ jobId: job.id, finding: REFUSAL_FINDINGS[outcome.reason], regionCode: member.regionCode, householdId: member.householdId, memberId: member.id, detail: { ...base, name: member.name, reason: outcome.error.message }, createdAt: now })
      }
      await repo.insertErrors(tx, errors)
      await repo.insertMatches(tx, matches)
      await repo.insertWorkItems(tx, items)
      const counts = { received: p.received, applied: matches.length, unmatched: valid.length - matches.length - (rejected - p.rejected), rejected }
      if (!await repo.commitProgress(tx, job, p.after, p.last, counts, this.leaseFrom(now))) throw new LostLease()
    })
  }

  /** The kind's comparison with the registry, as work items routed to each household's village, and the report. */
  private async reconcile (job: repo.JobRow, kind: Kind): Promise<void> {
    const { db, clock } = this.deps
    const now = clock()
    const area = job.regionCode
    await db.transaction(async (tx) => {
      const findings: Array<[string, repo.FindingRow[]]> = []
      switch (kind) {
        case 'civil_affairs.dibao':
          findings.push(['DIBAO_NOT_ON_ROSTER', await repo.dibaoNotOnRoster(tx, job.id, area)])
          findings.push(['DIBAO_ATTRIBUTE_MISMATCH', await repo.dibaoAttributeMismatch(tx, job.id)])
          break
        case 'civil_affairs.deaths':
          findings.push(['NO_LIVING_MEMBER', await repo.householdsWithoutLiving(tx, job.id)])
          break
        case 'health.insurance':
          findings.push(['UNINSURED', await repo.membersWhere(tx, area, sql`NOT m.medical_insurance`)])
          break
        case 'education.enrollment':
          findings.push(['DROPOUT', await repo.membersWhere(tx, area, sql`m.schooling = 'DROPPED_OUT'`, job.id)])
          break
        case 'hr.employment':
          findings.push(['UNEMPLOYED_WILLING', await repo.membersWhere(tx, area, sql`m.employment = 'UNEMPLOYED' AND m.wants_work AND m.labor_capacity IN ('SKILLED', 'ORDINARY')`, job.id)])
          break
        case 'disability.certificates':
        case 'finance.payments':
          break // NEWLY_DISABLED and the payments' items are written with each batch
      }
      await repo.insertWorkItems(tx, findings.flatMap(([finding, rows]) => rows.map(r => ({
        jobId: job.id,
        finding,
        regionCode: r.regionCode,
        householdId: r.householdId,
        memberId: r.memberId,
        detail: r.name === null ? {} : { name: r.name },
        createdAt: now
      }))))
      const summary = await repo.findingCounts(tx, job.id)
      if (!await repo.finish(tx, job, 'succeeded', now, { reconciliation: KINDS[kind].reconciliation, findings: summary }, null)) throw new LostLease()
    })
  }
}
