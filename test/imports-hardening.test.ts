/**
 * Imports that cannot be poisoned (issue 17, items 3 and 6): a row with a control
 * character or an unpaired surrogate is rejected and the rows after it apply; a batch that
 * keeps failing for a reason other than the database being away fails its job after a
 * bounded number of tries; a job that keeps losing its worker is not taken up forever;
 * an Idempotency-Key returns its job only for the same kind and bytes and only to its caller.
 */
import { PassThrough, Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import pg from 'pg'
import t from 'tap'
import { openDatabase, queryRows } from '../src/db/index.js'
import type { TokenClaims } from '../src/infra/tokens.js'
import { BATCH_ATTEMPTS } from '../src/modules/imports/imports-runner.js'
import { insertJob, MAX_CLAIMS } from '../src/modules/imports/imports-repository.js'
import { memberInput, nationalId } from './fixtures.js'
import { buildApp, machinePgDatabase, testConfig, uniqueSub } from './helper.js'
import { COUNTY, csv, finished, household, member, NDJSON, ndjson, uploader, VILLAGE } from './imports-support.js'

const errorsOf = async (client: { get: (url: string) => Promise<{ body: string }> }, id: string): Promise<Array<{ line: number, path: string, message: string }>> =>
  (await client.get(`/api/v1/exchange/jobs/${id}/errors`)).body.trim().split('\n').filter(l => l !== '').map(l => JSON.parse(l))

const POISONED = 'must not contain control characters or unpaired surrogates'

t.test('a roster row with NUL, another control character or an unpaired surrogate is rejected with its line and field; the rows after it apply', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const first = nationalId('1962-03-04', 'MALE')
  const last = nationalId('1964-05-06', 'FEMALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '韩建国', nationalId: first }), memberInput({ name: '韩秀梅', relation: 'SPOUSE', nationalId: last })])
  const mz: TokenClaims = { sub: uniqueSub('mz'), role: 'EXCHANGE', dept: 'civil_affairs', region: COUNTY }
  const row = (id: string, name: string): Record<string, unknown> => ({ national_id: id, name, status: 'active', start_date: '2018-03-01', monthly_amount: 260 })
  // Unregistered persons: their names would be written into work items (jsonb), which refuses NUL and unpaired surrogates.
  const body = ndjson([
    row(first, '韩建国'),
    row(nationalId('1950-01-01', 'MALE'), '无\u0000名'),
    row(nationalId('1951-01-01', 'FEMALE'), '\uD800孤'),
    row(nationalId('1952-01-01', 'MALE'), '孤\uDC00'),
    row(nationalId('1953-01-01', 'FEMALE'), '换\n行'),
    { ...row(nationalId('1954-01-01', 'MALE'), '正常'), status: 'active\u0007' },
    row(last, '韩秀梅')
  ])
  const submitted = await upload(mz, 'civil_affairs.dibao', body, NDJSON)
  t.equal(submitted.status, 202)
  const job = await finished(app.as(mz), submitted.json.id)
  t.match(job, { status: 'succeeded', counts: { received: 7, applied: 2, unmatched: 0, rejected: 5 } })
  t.same(await errorsOf(app.as(mz), job.id), [2, 3, 4, 5].map(line => ({ line, path: 'name', message: POISONED })).concat([{ line: 6, path: 'status', message: POISONED }]))
  t.same((await member(op, h.id)).map((m: any) => m.dibao), [true, true], 'the rows before and after applied')
})

t.test('every text field of every kind refuses control characters (NDJSON and CSV)', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const id = nationalId('1975-06-07', 'MALE')
  const cases: Array<{ kind: string, dept: string, row: Record<string, string> }> = [
    { kind: 'civil_affairs.dibao', dept: 'civil_affairs', row: { national_id: id, name: '甲', status: 'active', start_date: '2018-01-01', monthly_amount: '200' } },
    { kind: 'civil_affairs.deaths', dept: 'civil_affairs', row: { national_id: id, name: '甲', date_of_death: '2019-03-04' } },
    { kind: 'health.insurance', dept: 'health', row: { national_id: id, year: '2019', medical_insurance: 'true', serious_illness_insurance: 'true' } },
    { kind: 'education.enrollment', dept: 'education', row: { national_id: id, name: '甲', stage: 'SENIOR_HIGH', status: 'enrolled' } },
    { kind: 'disability.certificates', dept: 'disability', row: { national_id: id, name: '甲', grade: '3' } },
    { kind: 'hr.employment', dept: 'hr', row: { national_id: id, employment: 'LOCAL', months: '6', monthly_income: '1800' } }
  ]
  for (const c of cases) {
    const fields = Object.keys(c.row)
    // One row per field: that field poisoned (NUL in NDJSON, a C1 control in CSV, where NUL is text too), the others valid.
    for (const format of ['ndjson', 'csv'] as const) {
      const poison = format === 'ndjson' ? '\u0000' : '\u0085'
      const rows = fields.map(f => ({ ...c.row, [f]: c.row[f]!.slice(0, 1) + poison + c.row[f]!.slice(1) }))
      const body = format === 'ndjson' ? ndjson(rows) : csv(fields, rows.map(r => fields.map(f => r[f])))
      const who: TokenClaims = { sub: uniqueSub(c.dept), role: 'EXCHANGE', dept: c.dept, region: COUNTY }
      const job = await finished(app.as(who), (await upload(who, c.kind, body, format === 'ndjson' ? NDJSON : 'text/csv')).json.id)
      t.match(job, { status: 'succeeded', counts: { rejected: fields.length } }, `${c.kind} ${format}`)
      t.same((await errorsOf(app.as(who), job.id)).map(e => [e.line, e.path, e.message]), fields.map((f, i) => [format === 'ndjson' ? i + 1 : i + 2, f, POISONED]), `${c.kind} ${format}: each field named`)
    }
  }
})

t.test(`a batch that fails for a reason other than the database being away fails its job after ${BATCH_ATTEMPTS} tries, with the reason`, async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const id = nationalId('1966-06-06', 'MALE')
  await household(op, VILLAGE, [memberInput({ name: '毒行', nationalId: id })])
  // The test's own database refuses the match of this job's line 2, every time; a sequence counts the tries (nextval is not rolled back).
  const marker = uniqueSub('poison')
  await app.database.db.execute(sql.raw(`CREATE SEQUENCE "${marker}"`))
  await app.database.db.execute(sql.raw(`CREATE FUNCTION "${marker}"() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.line = 2 THEN PERFORM nextval('"${marker}"'); RAISE EXCEPTION 'refused by the test''s trigger'; END IF;
      RETURN NEW;
    END $$`))
  const hr: TokenClaims = { sub: uniqueSub('rs'), role: 'EXCHANGE', dept: 'hr', region: COUNTY }
  await app.database.db.execute(sql.raw(`CREATE TRIGGER "${marker}" BEFORE INSERT ON exchange_job_matches FOR EACH ROW WHEN (NEW.line = 2) EXECUTE FUNCTION "${marker}"()`))
  t.teardown(async () => { await app.database.db.execute(sql.raw(`DROP TRIGGER IF EXISTS "${marker}" ON exchange_job_matches`)) })
  const row = { national_id: id, employment: 'LOCAL', months: 3, monthly_income: 900 }
  const submitted = await upload(hr, 'hr.employment', ndjson([row, row]), NDJSON)
  const job = await finished(app.as(hr), submitted.json.id)
  t.match(job, { status: 'failed', counts: { applied: 0 }, error: new RegExp(`^lines 1–2 failed ${BATCH_ATTEMPTS} times: refused by the test's trigger$`) })
  const [tries] = await queryRows<{ n: number }>(app.database.db, sql.raw(`SELECT last_value::int AS n FROM "${marker}"`))
  t.equal(tries!.n, BATCH_ATTEMPTS, 'tried a bounded number of times, then given up')
  const [stored] = await queryRows<{ chunks: number, audits: number }>(app.database.db, sql`SELECT
    (SELECT count(*)::int FROM exchange_job_chunks WHERE job_id = ${job.id}) AS chunks,
    (SELECT count(*)::int FROM audit_events WHERE source = ${'exchange-job:' + String(job.id)}) AS audits`)
  t.same(stored, { chunks: 0, audits: 0 }, 'nothing applied; the stored file removed')
  // The worker carries on with the next job.
  const next = await upload(hr, 'hr.employment', ndjson([row]), NDJSON)
  t.match(await finished(app.as(hr), next.json.id), { status: 'succeeded', counts: { applied: 1 } })
})

t.test(`a job taken up ${MAX_CLAIMS} times without committing a batch (its worker died each time) fails instead of being taken up again`, async (t) => {
  const app = await buildApp(t)
  const hr: TokenClaims = { sub: uniqueSub('rs'), role: 'EXCHANGE', dept: 'hr', region: COUNTY }
  const now = new Date()
  const crashed = await insertJob(app.database.db, { kind: 'hr.employment', format: 'ndjson', charset: 'utf-8', status: 'running', submittedBy: hr.sub, submitterRole: 'EXCHANGE', dept: 'hr', regionCode: COUNTY, leaseOwner: 'dead-worker', leaseUntil: new Date(now.getTime() - 1000), attempts: MAX_CLAIMS, createdAt: now })
  const resumable = await insertJob(app.database.db, { kind: 'hr.employment', format: 'ndjson', charset: 'utf-8', status: 'running', submittedBy: hr.sub, submitterRole: 'EXCHANGE', dept: 'hr', regionCode: COUNTY, leaseOwner: 'dead-worker', leaseUntil: new Date(now.getTime() - 1000), attempts: MAX_CLAIMS - 1, createdAt: now })
  app.app.wakeImports()
  t.match(await finished(app.as(hr), crashed.id), { status: 'failed', error: /taken up 3 times without progress/ })
  t.match(await finished(app.as(hr), resumable.id), { status: 'succeeded' }, 'one that has tries left is taken up')
})

t.test('Idempotency-Key: the same kind and bytes return the same job; another kind or other bytes are 422 with nothing queued; a key is its caller\'s own', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const id = nationalId('1971-01-21', 'FEMALE')
  await household(op, VILLAGE, [memberInput({ name: '许丽', nationalId: id })])
  // A department's system, as the token tool mints it by default: one `sub` for every department of the region.
  const sub = uniqueSub('dev-exchange')
  const health: TokenClaims = { sub, role: 'EXCHANGE', dept: 'health', region: COUNTY }
  const jobs = async (): Promise<number> => (await queryRows<{ n: number }>(app.database.db, sql`SELECT count(*)::int AS n FROM exchange_jobs`))[0]!.n
  const body = ndjson([{ national_id: id, year: 2020, medical_insurance: true, serious_illness_insurance: false }])
  const key = uniqueSub('key')
  const first = await upload(health, 'health.insurance', body, NDJSON, key)
  t.equal(first.status, 202)
  t.match(await finished(app.as(health), first.json.id), { status: 'succeeded', counts: { applied: 1 } })
  const before = await jobs()

  const again = await upload(health, 'health.insurance', body, NDJSON, key)
  t.equal(again.status, 202)
  t.equal(again.json.id, first.json.id, 'the same job')
  t.equal(again.json.status, 'succeeded', 'as it is now')
  const otherBytes = await upload(health, 'health.insurance', body.replace('false', 'true'), NDJSON, key)
  t.equal(otherBytes.status, 422)
  t.match(otherBytes.json, { status: 422, code: 'BAD_USER_INPUT', errors: [{ path: 'headers.idempotency-key' }] })
  t.notOk(JSON.stringify(otherBytes.json).includes(first.json.id), 'the other job is not named')
  const otherKind = await upload({ sub, role: 'ADMIN', region: COUNTY }, 'hr.employment', body, NDJSON, key)
  t.equal(otherKind.status, 202, 'the same sub as ADMIN is another caller: a new job')
  const adminKind = await upload({ sub, role: 'ADMIN', region: COUNTY }, 'health.insurance', body, NDJSON, key)
  t.equal(adminKind.status, 422, 'and its key with another kind is 422')
  t.equal(await jobs(), before + 1, 'nothing queued by the refused ones')
  await sleep(50)
  t.equal((await queryRows<{ n: number }>(app.database.db, sql`SELECT count(*)::int AS n FROM audit_events WHERE source = ${'exchange-job:' + String(first.json.id)}`))[0]!.n, 1, 'imported once')

  // Another department (the same sub), another area, another user: their own keys; the health job is never returned.
  const civil = await upload({ ...health, dept: 'civil_affairs' }, 'civil_affairs.deaths', ndjson([{ national_id: id, name: '许丽', date_of_death: '2020-01-01' }]), NDJSON, key)
  t.equal(civil.status, 202)
  t.not(civil.json.id, first.json.id, 'another department: a job of its own')
  const civilSameKind = await upload({ ...health, dept: 'civil_affairs', role: 'ADMIN' }, 'health.insurance', body, NDJSON, uniqueSub('k'))
  t.equal(civilSameKind.status, 202)
  const area = await upload({ ...health, region: '411282' }, 'health.insurance', body, NDJSON, key)
  t.equal(area.status, 202)
  t.not(area.json.id, first.json.id, 'another area: a job of its own')
  const user = await upload({ ...health, sub: uniqueSub('wj') }, 'health.insurance', body, NDJSON, key)
  t.equal(user.status, 202)
  t.not(user.json.id, first.json.id, 'another user: a job of its own')
  t.equal((await app.as({ ...health, dept: 'civil_affairs' }).get(`/api/v1/exchange/jobs/${first.json.id}`)).statusCode, 404, 'which the other department cannot read either')

  // The same key while its first request is still arriving: 409, and the first completes as it would have.
  const slowKey = uniqueSub('key')
  const slow = new PassThrough()
  slow.write(body.slice(0, 10))
  const token = app.as(health)
  await token.gql('{ me { sub } }')
  const firstSlow = app.app.inject({ method: 'POST', url: '/api/v1/exchange/jobs?kind=health.insurance', headers: { authorization: `Bearer ${token.token}`, 'content-type': NDJSON, 'idempotency-key': slowKey }, payload: slow })
  while ((await queryRows(app.database.db, sql`SELECT 1 FROM exchange_jobs WHERE idempotency_key = ${slowKey}`)).length === 0) await sleep(5)
  const meanwhile = await upload(health, 'health.insurance', body, NDJSON, slowKey)
  t.match(meanwhile, { status: 409, json: { code: 'CONFLICT' } }, 'the first request is still arriving')
  slow.end(body.slice(10))
  const slowJob = (await firstSlow).json()
  t.match(await finished(app.as(health), slowJob.id), { status: 'succeeded', counts: { applied: 1 } })
  t.equal((await upload(health, 'health.insurance', body, NDJSON, slowKey)).json.id, slowJob.id, 'and then answers for its key')

  // A failed upload frees its key: the client's retry is a new request.
  const emptyKey = uniqueSub('key')
  t.equal((await upload(health, 'health.insurance', '', NDJSON, emptyKey)).status, 400)
  const retried = await upload(health, 'health.insurance', body, NDJSON, emptyKey)
  t.equal(retried.status, 202)
  await finished(app.as(health), retried.json.id)
})

t.test('the database lost while the stored file is read is not a fault of the file: the job resumes and succeeds (machine PostgreSQL)', async (t) => {
  const { name, url } = await machinePgDatabase()
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 5 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  let now = new Date('2026-01-10T08:00:00Z')
  const app = await buildApp(t, { database, config: testConfig({ IMPORT_BATCH_ROWS: '100' }), clock: () => now })
  const hr: TokenClaims = { sub: uniqueSub('rs'), role: 'EXCHANGE', dept: 'hr', region: COUNTY }
  const client = app.as(hr)
  await client.gql('{ me { sub } }')
  // Unregistered people (all unmatched), with a long column the kind ignores: 9 MB, stored
  // as nine chunks (the upload arrives in pieces); the reader runs a few chunks ahead at most.
  const ROWS = 5000
  const note = '备注'.repeat(300)
  const body = Buffer.from(ndjson(Array.from({ length: ROWS }, (_, i) => ({ national_id: nationalId(`19${50 + (i % 40)}-0${1 + (i % 9)}-1${i % 10}`, i % 2 === 0 ? 'MALE' : 'FEMALE'), employment: 'LOCAL', months: 1 + (i % 12), monthly_income: i, note }))))
  t.ok(body.length > 8 * 1024 * 1024, `${body.length} bytes`)
  const pieces = Array.from({ length: Math.ceil(body.length / 65_536) }, (_, i) => body.subarray(i * 65_536, (i + 1) * 65_536))
  const submitted = await app.app.inject({ method: 'POST', url: '/api/v1/exchange/jobs?kind=hr.employment', headers: { authorization: `Bearer ${client.token}`, 'content-type': NDJSON }, payload: Readable.from(pieces) })
  t.equal(submitted.statusCode, 202)
  const jobId = submitted.json().id as string
  const ctl = new pg.Client({ connectionString: url })
  await ctl.connect()
  t.teardown(async () => { await ctl.end() })
  const { rows: [me] } = await ctl.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  t.ok((await ctl.query('SELECT count(*)::int AS n FROM exchange_job_chunks WHERE job_id = $1', [jobId])).rows[0].n >= 8, 'eight chunks or more')
  const progress = async (): Promise<{ resume_line: number, status: string }> => (await ctl.query('SELECT resume_line, status FROM exchange_jobs WHERE id = $1', [jobId])).rows[0]
  while ((await progress()).resume_line < 100) await sleep(5)
  // An early chunk is being read; the read of the next one waits on the lock, and its connection is cut there.
  await ctl.query('BEGIN')
  await ctl.query('LOCK TABLE exchange_job_chunks IN ACCESS EXCLUSIVE MODE')
  let cut = false
  for (let i = 0; i < 1000 && !cut; i++) {
    const { rows } = await ctl.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> $2 AND wait_event_type = 'Lock'", [name, me!.pid])
    for (const { pid } of rows) { await ctl.query('SELECT pg_terminate_backend($1)', [pid]); cut = true }
    if (!cut) await sleep(10)
  }
  await ctl.query('ROLLBACK')
  t.ok(cut, 'the read of a chunk was cut')
  await sleep(300)
  const after = await progress()
  t.equal(after.status, 'running', 'not failed as unreadable: it waits for its lease to pass')
  t.ok(after.resume_line < ROWS, `stopped after line ${after.resume_line}, while reading the file`)
  now = new Date(now.getTime() + 5 * 60_000)
  t.match(await finished(client, jobId, 2400), { status: 'succeeded', counts: { received: ROWS, unmatched: ROWS } })
})
