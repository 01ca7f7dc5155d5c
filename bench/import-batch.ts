/**
 * One import batch's statements in PostgreSQL, timed under schema variants (issue 7's
 * untried ideas): the member lookup of 1,000 hashes (400 registered), the UPDATE of 400
 * members, 400 matches and 400 audit entries, as the job writes them (one statement
 * each, JSON parameters). Every variant runs in a transaction that is rolled back, so the
 * database is left as it was.
 *
 *   npm run bench:import-batch -- [--reps 9] [--households 100000]
 *
 * Uses database br_bench_import (filled once by bench-server.ts, shared with
 * bench:import). Prints the median ms of each statement and of the batch per variant;
 * each rep first runs one batch to warm the cache, then times a second one on other
 * members.
 */
import { createHash, randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { benchDatabase } from './bench-server.js'

const { values } = parseArgs({ options: { reps: { type: 'string', default: '9' }, households: { type: 'string', default: '100000' } } })
const REPS = Number(values.reps)
const APPLIED = 400

interface Variant { members?: string, setup: string[] }
const COPY = (fillfactor: number): Variant => ({
  members: 'members_copy',
  setup: [`CREATE TABLE members_copy (LIKE members INCLUDING ALL) WITH (fillfactor = ${fillfactor})`, 'INSERT INTO members_copy SELECT * FROM members', 'ANALYZE members_copy']
})
const VARIANTS: Record<string, Variant> = {
  'as shipped': { setup: [] },
  'no foreign key from matches to members': { setup: ['ALTER TABLE exchange_job_matches DROP CONSTRAINT exchange_job_matches_member_id_members_id_fk'] },
  'audit_events with its primary key only': { setup: ['DROP INDEX audit_events_entity_id_idx', 'DROP INDEX audit_events_txid_idx'] },
  'lookup by the unique btree (no hash index)': { setup: ['DROP INDEX members_national_id_hash_idx'] },
  'members freshly packed (fillfactor 100)': COPY(100),
  'members freshly written at fillfactor 85': COPY(85)
}
const STEPS = ['lookup', 'update', 'matches', 'audit'] as const
type Timing = Record<typeof STEPS[number], number>

const client = new pg.Client({ connectionString: await benchDatabase('br_bench_import', Number(values.households), false) })
await client.connect()
const members = (await client.query<{ id: string, national_id_hash: string, version: number, region_code: string }>(
  `SELECT id, national_id_hash, version, region_code FROM members WHERE active ORDER BY random() LIMIT ${APPLIED * 10}`)).rows
const jobId = randomUUID()
const timed = async (text: string, params: unknown[]): Promise<number> => {
  const t0 = performance.now()
  await client.query(text, params)
  return performance.now() - t0
}

/** One batch over the k-th slice of members (0–9), on the variant's members table. */
async function batch (k: number, table: string): Promise<Timing> {
  const mine = members.slice(k * APPLIED, (k + 1) * APPLIED)
  const unregistered = Array.from({ length: 1000 - APPLIED }, () => createHash('sha256').update(randomUUID()).digest('hex'))
  const lookup = await timed(`SELECT id, household_id, region_code, national_id_hash, name, version, employment, employment_months, monthly_income FROM ${table}
    WHERE national_id_hash = ANY($1::text[]) AND active AND region_code LIKE '4112%'`, [`{${[...mine.map(m => m.national_id_hash), ...unregistered].join(',')}}`])
  const update = await timed(`UPDATE ${table} m SET employment = v.employment, employment_months = v.employment_months, monthly_income = v.monthly_income, version = m.version + 1, updated_at = now()
    FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, version integer, employment text, employment_months integer, monthly_income numeric)
    WHERE m.id = v.id AND m.version = v.version`, [JSON.stringify(mine.map((m, i) => ({ id: m.id, version: m.version, employment: 'LOCAL', employment_months: (i % 12) + 1, monthly_income: i })))])
  const matches = await timed(`INSERT INTO exchange_job_matches (job_id, line, member_id) SELECT job_id, line, member_id
    FROM jsonb_to_recordset($1::jsonb) AS v(job_id uuid, line integer, member_id uuid)`, [JSON.stringify(mine.map((m, i) => ({ job_id: jobId, line: k * 1000 + i, member_id: m.id })))])
  // The entries as the job appends them: no position (the sequencer gives it after commit).
  const entries = mine.map((m, i) => ({
    at: new Date().toISOString(), actor_sub: 'bench-hr', actor_role: 'EXCHANGE', action: 'exchange.hr.employment', entity: 'Member', entity_id: m.id, region_code: m.region_code,
    source: `exchange-job:${jobId}`, before: { employment: 'UNEMPLOYED', employmentMonths: null, monthlyIncome: null }, after: { employment: 'LOCAL', employmentMonths: (i % 12) + 1, monthlyIncome: i }
  }))
  const audit = await timed(`INSERT INTO audit_events (at, actor_sub, actor_role, action, entity, entity_id, region_code, source, before, after)
    SELECT at, actor_sub, actor_role, action, entity, entity_id, region_code, source, before, after
    FROM jsonb_to_recordset($1::jsonb) AS v(at timestamptz, actor_sub text, actor_role text, action text, entity text, entity_id text, region_code text, source text, before jsonb, after jsonb)`, [JSON.stringify(entries)])
  return { lookup, update, matches, audit }
}

const median = (xs: number[]): string => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1)
try {
  // The shipped schema first and last: the figures between compare with both.
  for (const name of [...Object.keys(VARIANTS), 'as shipped']) {
    const variant = VARIANTS[name]!
    const runs: Timing[] = []
    for (let r = 0; r < REPS; r++) {
      await client.query('BEGIN')
      await client.query(`INSERT INTO exchange_jobs (id, kind, format, charset, status, submitted_by, submitter_role, dept, region_code, created_at)
        VALUES ($1, 'hr.employment', 'ndjson', 'utf-8', 'running', 'bench', 'EXCHANGE', 'hr', '4112', now())`, [jobId])
      for (const statement of variant.setup) await client.query(statement)
      await batch(r % 5, variant.members ?? 'members')
      runs.push(await batch(5 + (r % 5), variant.members ?? 'members'))
      await client.query('ROLLBACK')
    }
    console.log(`${name.padEnd(44)} ${STEPS.map(s => `${s} ${median(runs.map(x => x[s]))}`).join('  ')}  batch ${median(runs.map(x => STEPS.reduce((n, s) => n + x[s], 0)))} ms`)
  }
} finally {
  await client.end()
}
