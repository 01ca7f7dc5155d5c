import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Deps } from '../../shared/context.js'
import { AppError, badInput, conflict, notFound } from '../../shared/errors.js'
import { isUuid } from '../../shared/ids.js'
import { authorize, can } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import { isKind, KIND_NAMES, KINDS } from './kinds.js'
import { formatOf } from './parse.js'
import * as repo from './imports-repository.js'

/** One bad field of a rejected row (`path` empty when the row itself is unreadable). */
export interface ImportErrorRow { line: number, path: string, message: string }

export interface JobView {
  id: string
  kind: string
  status: 'queued' | 'running' | 'succeeded' | 'failed'
  counts: { received: number, applied: number, unmatched: number, rejected: number }
  format: string
  charset: string
  bytes: number
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  error: string | null
}

/** Stored chunks of the upload: large enough to be few, small enough to keep memory flat. */
const CHUNK_BYTES = 1024 * 1024
const KEY = /^[\x21-\x7e]{1,200}$/

const tooLarge = (max: number): AppError => new AppError('BAD_USER_INPUT', `The file is larger than the limit of ${Math.floor(max / 1024 / 1024)} MiB`, [{ path: 'body', message: `is larger than the limit of ${Math.floor(max / 1024 / 1024)} MiB` }], 413)

export function jobView (j: repo.JobRow): JobView {
  return {
    id: j.id,
    kind: j.kind,
    // A job still receiving its file is not visible to anyone but its submitter's request; it reads as queued.
    status: (j.status === 'receiving' ? 'queued' : j.status) as JobView['status'],
    counts: { received: j.received, applied: j.applied, unmatched: j.unmatched, rejected: j.rejected },
    format: j.format,
    charset: j.charset,
    bytes: j.bytes,
    createdAt: j.createdAt.toISOString(),
    startedAt: j.startedAt?.toISOString() ?? null,
    finishedAt: j.finishedAt?.toISOString() ?? null,
    error: j.error
  }
}

/** Submitting and reading import jobs (ADMIN; EXCHANGE for their department's kinds), in the caller's area. */
export class ImportsService {
  constructor (private readonly deps: Deps, private readonly principal: Principal) {}

  /** The job if the caller may see it (their department's kind, in their area), else NOT_FOUND. */
  async find (id: string): Promise<repo.JobRow> {
    authorize(this.principal, 'exchange.submit')
    const job = isUuid(id) ? await repo.findJob(this.deps.db, id) : null
    if (job === null || !isKind(job.kind) || !can(this.principal, 'exchange.submit', job.regionCode, KINDS[job.kind].depts)) {
      throw notFound('Job')
    }
    return job
  }

  async get (id: string): Promise<JobView> {
    return jobView(await this.find(id))
  }

  /**
   * Stores the uploaded file in the database chunk by chunk as it arrives (constant
   * memory), then queues the job. Returns the job and whether it is new.
   *
   * An Idempotency-Key belongs to its caller (the token's sub, role, department and
   * region together): the same key again with the same kind and the same bytes returns
   * the first job and stores nothing; with another kind or other bytes it is 422 and
   * nothing is queued. Another caller's key of the same text is another key: it never
   * finds, returns or reveals their job. A failed upload (too large, empty, interrupted)
   * frees its key.
   */
  async submit (kind: string | undefined, contentType: string | undefined, idempotencyKey: string | undefined, body: Readable): Promise<{ job: JobView, created: boolean }> {
    authorize(this.principal, 'exchange.submit')
    if (!isKind(kind)) throw badInput([{ path: 'querystring.kind', message: `must be one of ${KIND_NAMES.join(', ')}` }])
    authorize(this.principal, 'exchange.submit', undefined, KINDS[kind].depts)
    if (idempotencyKey !== undefined && !KEY.test(idempotencyKey)) throw badInput([{ path: 'headers.idempotency-key', message: 'must be 1–200 visible ASCII characters' }])
    const type = formatOf(contentType)
    if ('error' in type) throw badInput([{ path: 'headers.content-type', message: type.error }])
    const { db, clock } = this.deps
    if (idempotencyKey !== undefined) {
      const existing = await repo.findByIdempotencyKey(db, this.principal, idempotencyKey)
      if (existing !== null) return { job: await this.repeated(existing, kind, body), created: false }
    }
    let job: repo.JobRow
    try {
      job = await repo.insertJob(db, {
        kind,
        format: type.format,
        charset: type.charset,
        status: 'receiving',
        idempotencyKey: idempotencyKey ?? null,
        submittedBy: this.principal.sub,
        submitterRole: this.principal.role,
        dept: this.principal.dept,
        regionCode: this.principal.regionCode,
        leaseUntil: new Date(clock().getTime() + this.deps.config.importLeaseMs),
        createdAt: clock()
      })
    } catch (err) {
      // The same key raced in from a concurrent request: answer with its job.
      const existing = idempotencyKey === undefined ? null : await repo.findByIdempotencyKey(db, this.principal, idempotencyKey)
      if (existing !== null) return { job: await this.repeated(existing, kind, body), created: false }
      throw err
    }
    const { bytes, sha256 } = await this.store(job, body)
    return { job: jobView(await repo.markQueued(db, job.id, bytes, sha256)), created: true }
  }

  /** A request repeating an Idempotency-Key: the first job, if it had the same kind and the same bytes. */
  private async repeated (existing: repo.JobRow, kind: string, body: Readable): Promise<JobView> {
    const other = [{ path: 'headers.idempotency-key', message: 'was used for another request (another kind or another file); use a new key' }]
    if (existing.kind !== kind) throw new AppError('BAD_USER_INPUT', 'The Idempotency-Key was used for another request', other, 422)
    const hash = createHash('sha256')
    let total = 0
    for await (const chunk of body) {
      total += (chunk as Buffer).length
      if (total > this.deps.config.importMaxBytes) { body.destroy(); throw tooLarge(this.deps.config.importMaxBytes) }
      hash.update(chunk as Buffer)
    }
    // Still arriving: its bytes are not known yet.
    if (existing.sha256 === null) throw conflict('The first request with this Idempotency-Key is still being received; retry later')
    if (hash.digest('hex') !== existing.sha256) throw new AppError('BAD_USER_INPUT', 'The Idempotency-Key was used for another request', other, 422)
    return jobView(existing)
  }

  private async store (job: repo.JobRow, body: Readable): Promise<{ bytes: number, sha256: string }> {
    const max = this.deps.config.importMaxBytes
    const hash = createHash('sha256')
    let n = 0
    let total = 0
    let pending: Buffer[] = []
    let pendingBytes = 0
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return
      await repo.appendChunk(this.deps.db, job.id, n++, Buffer.concat(pending, pendingBytes), new Date(this.deps.clock().getTime() + this.deps.config.importLeaseMs))
      pending = []
      pendingBytes = 0
    }
    for await (const chunk of body) {
      const buf = chunk as Buffer
      total += buf.length
      if (total > max) {
        body.destroy()
        await repo.failUpload(this.deps.db, job.id, this.deps.clock(), 'the file is larger than IMPORT_MAX_MB')
        throw tooLarge(max)
      }
      hash.update(buf)
      pending.push(buf)
      pendingBytes += buf.length
      if (pendingBytes >= CHUNK_BYTES) await flush()
    }
    await flush()
    if (total === 0) {
      await repo.failUpload(this.deps.db, job.id, this.deps.clock(), 'the file is empty')
      throw badInput([{ path: 'body', message: 'is empty' }])
    }
    return { bytes: total, sha256: hash.digest('hex') }
  }

  /**
   * The rejected rows' reasons of a job (404 unless the caller may read it), in file
   * order, as pages read one at a time as the reader takes them.
   */
  async errors (id: string): Promise<AsyncGenerator<ImportErrorRow[]>> {
    const job = await this.find(id)
    const db = this.deps.db
    return (async function * pages () {
      let after: { line: number, path: string } | null = null
      for (;;) {
        const page = await repo.errorsAfter(db, job.id, after, 1000)
        if (page.length > 0) yield page
        if (page.length < 1000) return
        after = page[page.length - 1]!
      }
    })()
  }

  /** The kind's reconciliation: counts per finding and every work item with its state. */
  async report (id: string): Promise<{ job: JobView, reconciliation: string, findings: Record<string, number>, items: unknown[] }> {
    const job = await this.find(id)
    if (job.status !== 'succeeded') throw conflict(`The job is ${jobView(job).status}; its report is ready when it has succeeded`)
    const report = job.report as { reconciliation: string, findings: Record<string, number> }
    const items = await repo.workItemsOfJob(this.deps.db, job.id)
    return { job: jobView(job), ...report, items: items.map(workItemView) }
  }
}

export function workItemView (w: repo.WorkItemRow): Record<string, unknown> {
  return {
    id: w.id,
    jobId: w.jobId,
    finding: w.finding,
    regionCode: w.regionCode,
    householdId: w.householdId,
    memberId: w.memberId,
    detail: w.detail,
    status: w.status,
    disposition: w.disposition,
    note: w.note,
    resolvedBy: w.resolvedBy,
    resolvedAt: w.resolvedAt?.toISOString() ?? null,
    createdAt: w.createdAt.toISOString(),
    version: w.version
  }
}
