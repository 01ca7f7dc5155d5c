import { sql } from 'drizzle-orm'
import { bigint, customType, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { households, members } from './registry.js'
import { regionCode } from './types.js'

const bytea = customType<{ data: Buffer, driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v))
})

/**
 * 数据交换: a department's file imported in the background (contract §8). The job's
 * state, counts and resume point live here, so a restarted service carries on from the
 * last committed batch.
 */
export const exchangeJobs = pgTable('exchange_jobs', {
  id: uuid('id').primaryKey().defaultRandom(),
  kind: text('kind').notNull(),
  /** ndjson | csv | xlsx */
  format: text('format').notNull(),
  /** utf-8 | gb18030 (text formats) */
  charset: text('charset').notNull(),
  /** receiving | queued | running | succeeded | failed */
  status: text('status').notNull(),
  /** The client's Idempotency-Key, scoped to its caller (sub, role, dept, region: the unique index below). */
  idempotencyKey: text('idempotency_key'),
  /** SHA-256 (hex) of the stored file, once received: a repeated Idempotency-Key must come with the same bytes. */
  sha256: text('sha256'),
  submittedBy: text('submitted_by').notNull(),
  submitterRole: text('submitter_role').notNull(),
  dept: text('dept'),
  /** The submitter's region: rows apply only to members in this area. */
  regionCode: regionCode('region_code').notNull(),
  bytes: bigint('bytes', { mode: 'number' }).notNull().default(0),
  received: integer('received').notNull().default(0),
  applied: integer('applied').notNull().default(0),
  unmatched: integer('unmatched').notNull().default(0),
  rejected: integer('rejected').notNull().default(0),
  /** Every row up to this line is committed (applied, counted or rejected). */
  resumeLine: integer('resume_line').notNull().default(0),
  /** The worker holding the job, and until when (renewed with every batch). */
  leaseOwner: text('lease_owner'),
  leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'date' }),
  error: text('error'),
  /** Times the job was taken up since its last committed batch: a job that keeps killing its worker fails after a few. */
  attempts: integer('attempts').notNull().default(0),
  report: jsonb('report'),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
  startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }),
  finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' })
}, (t) => [
  uniqueIndex('exchange_jobs_idempotency_key').on(t.submittedBy, t.submitterRole, sql`coalesce(${t.dept}, '')`, t.regionCode, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
  index('exchange_jobs_status_idx').on(t.status, t.createdAt)
])

/** The uploaded file, in order, as it arrived: durable before the job is queued. */
export const exchangeJobChunks = pgTable('exchange_job_chunks', {
  jobId: uuid('job_id').notNull().references(() => exchangeJobs.id),
  n: integer('n').notNull(),
  data: bytea('data').notNull()
}, (t) => [primaryKey({ columns: [t.jobId, t.n] })])

/** A rejected row's reasons: one entry per bad field. */
export const exchangeJobErrors = pgTable('exchange_job_errors', {
  jobId: uuid('job_id').notNull().references(() => exchangeJobs.id),
  line: integer('line').notNull(),
  path: text('path').notNull(),
  message: text('message').notNull()
}, (t) => [primaryKey({ columns: [t.jobId, t.line, t.path] })])

/** The registered members a job's rows matched (the roster side of reconciliations). */
export const exchangeJobMatches = pgTable('exchange_job_matches', {
  jobId: uuid('job_id').notNull().references(() => exchangeJobs.id),
  line: integer('line').notNull(),
  memberId: uuid('member_id').notNull().references(() => members.id)
}, (t) => [
  primaryKey({ columns: [t.jobId, t.line] }),
  index('exchange_job_matches_member_idx').on(t.jobId, t.memberId)
])

/**
 * 工作清单: a reconciliation finding routed to the village that owns the household (or,
 * for a person not registered at all, to the job's region), resolved by an operator.
 */
export const workItems = pgTable('work_items', {
  id: uuid('id').primaryKey().defaultRandom(),
  jobId: uuid('job_id').notNull().references(() => exchangeJobs.id),
  /** e.g. DIBAO_NOT_REGISTERED, DIBAO_NOT_ON_ROSTER, DIBAO_ATTRIBUTE_MISMATCH, NO_LIVING_MEMBER, UNINSURED, DROPOUT */
  finding: text('finding').notNull(),
  regionCode: regionCode('region_code').notNull(),
  householdId: uuid('household_id').references(() => households.id),
  memberId: uuid('member_id').references(() => members.id),
  /** What the officer needs to act: the row's line, name and masked ID, the member's name … never an ID in the clear. */
  detail: jsonb('detail').notNull(),
  /** OPEN | RESOLVED */
  status: text('status').notNull().default('OPEN'),
  /** CONFIRMED_FIXED | FALSE_MATCH | NEEDS_VISIT */
  disposition: text('disposition'),
  note: text('note'),
  resolvedBy: text('resolved_by'),
  resolvedAt: timestamp('resolved_at', { withTimezone: true, mode: 'date' }),
  version: integer('version').notNull().default(1),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull()
}, (t) => [
  index('work_items_region_status_idx').on(t.regionCode, t.status),
  index('work_items_job_idx').on(t.jobId)
])
