/**
 * Replicas of the service on one PostgreSQL (issue 19, item 1), on the machine's server
 * whichever variant of the suite runs: three real service processes started at once on a
 * fresh, empty database. What must happen once happens once:
 *
 *  - migrations, the reference seed and the demo data of a first start (one start-up lock);
 *  - the audit sequencer (one leader);
 *  - an exit's public notice starts once and the approval after it commits once, however
 *    many replicas receive the reviewers' clicks (nothing runs on a timer: the notice's end
 *    is a stored time that each step checks in its transaction);
 *  - an import job: the process holding its lease is killed with SIGKILL mid-job, another
 *    takes it over once the lease runs out and finishes it — every row applied and audited
 *    exactly once, in file order;
 *  - the statistics summary: concurrent reads on every replica rebuild each stale village once;
 *  - the audit log: every entry one position, 1..n with no gap, and it verifies.
 *
 * And the statistics summary's stale marks against writers in flight: a rebuild (on any
 * replica) never consumes the mark of a write that has not committed, so no write is lost
 * to the summary, whichever of the two comes first.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { openDatabase } from '../../src/db/index.js'
import { readRegionSeed } from '../../src/db/seed.js'
import { paths, projectRoot } from '../../src/paths.js'
import { Sealer } from '../../src/shared/sealing.js'
import { allSequenced, wellFormed } from '../audit-support.js'
import { householdInput } from '../fixtures.js'
import { buildApp, MACHINE_PG_URL, machinePgDatabase, TEST_AUDIT_KEY, TEST_DATA_KEY, TEST_SECRET, token, uniqueSub, withDatabase } from '../helper.js'
import { serviceProcess, type ServiceProcess } from '../processes.js'

const VILLAGE = '411224101201' // 龙王庙村, 杜关镇, 卢氏县
const TOWNSHIP = '411224101'
const COUNTY = '411224'
const ROWS = 20_000
const LEASE_SECONDS = 3

interface Gql { data?: any, errors?: Array<{ message: string, extensions?: { code?: string } }> }

// Three processes start (tsx compiling each) and an import runs on a machine shared with
// other suites: more than the suite's 120 s per file is possible on a busy day.
t.setTimeout(240_000)

const as = (claims: { role: string, region: string, dept?: string }) => {
  const bearer = token({ sub: uniqueSub(claims.role.toLowerCase()), ...claims })
  return {
    gql: async (s: ServiceProcess, query: string, variables: Record<string, unknown> = {}): Promise<Gql> => {
      const res = await fetch(`http://127.0.0.1:${s.port}/graphql`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables })
      })
      return await res.json() as Gql
    },
    fetch: async (s: ServiceProcess, path: string, init: RequestInit = {}): Promise<Response> =>
      await fetch(`http://127.0.0.1:${s.port}${path}`, { ...init, headers: { authorization: `Bearer ${await bearer}`, ...init.headers } })
  }
}

const ok = (res: Gql): any => {
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data
}

/** Lines of the processes' logs with this message. */
const logged = (services: ServiceProcess[], msg: string): Array<Record<string, unknown> & { pid: number }> =>
  services.flatMap(s => s.entries().filter(e => e.msg === msg).map(e => ({ ...e, pid: s.child.pid! })))

t.test('three replicas on one fresh database: migrations, the sequencer, exit steps, an import job with its worker killed, statistics — each once', async (t) => {
  const began = Date.now()
  const name = `br_replicas_${process.pid}_${Math.random().toString(16).slice(2, 8)}`
  const admin = new pg.Client({ connectionString: MACHINE_PG_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = withDatabase(MACHINE_PG_URL, name)
  t.teardown(async () => {
    const a = new pg.Client({ connectionString: MACHINE_PG_URL })
    await a.connect()
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await a.end()
  })
  const env = {
    NODE_ENV: 'production', LOG_LEVEL: 'info', DATABASE_URL: url,
    JWT_SECRET: TEST_SECRET, DATA_KEY: TEST_DATA_KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY,
    DEMO_DATA: 'true', IMPORT_LEASE_SECONDS: String(LEASE_SECONDS), IMPORT_BATCH_ROWS: '500',
    RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_EXCHANGE_PER_MINUTE: '0', RATE_LIMIT_IP_PER_MINUTE: '0',
    LOAD_SHED_EVENT_LOOP_DELAY_MS: '0', LOAD_SHED_HEAP_MB: '0'
  }
  const services = await Promise.all([0, 1, 2].map(async () => await serviceProcess(t, env, projectRoot)))
  t.comment(`three processes ready in ${Date.now() - began} ms`)
  const ctl = new pg.Client({ connectionString: url })
  await ctl.connect()
  t.teardown(async () => { await ctl.end() })
  const one = async <T = any>(query: string, params: unknown[] = []): Promise<T> => (await ctl.query(query, params)).rows[0] as T

  // ── Start-up: each migration applied once, the seed and the demo data loaded once ──
  const journal = JSON.parse(readFileSync(join(paths.migrations, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
  t.same(await one('SELECT count(*)::int AS n, count(DISTINCT hash)::int AS distinct FROM drizzle.__drizzle_migrations'),
    { n: journal.entries.length, distinct: journal.entries.length }, `each of the ${journal.entries.length} migrations recorded once`)
  t.same(await one(`SELECT (SELECT count(*)::int FROM regions) AS regions, (SELECT count(*)::int FROM poverty_lines) AS lines,
      (SELECT count(*)::int FROM plan_targets) AS targets, (SELECT count(*)::int FROM households) AS households,
      (SELECT count(DISTINCT household_no)::int FROM households) AS numbers`),
  { regions: readRegionSeed('4112').length, lines: 7, targets: 3, households: 200, numbers: 200 }, 'the seed once, the 200 demo households once')
  t.equal(logged(services, 'loaded 200 demo households into 卢氏县 (DEMO_DATA=false turns this off)').length, 1, 'one process loaded them')

  // ── The audit sequencer: one leader ──
  const leaders = (): number => services.filter(s => {
    const last = s.log.filter(l => /audit sequencer: (this process sequences|no longer leading)/.test(l)).at(-1)
    return last !== undefined && /this process sequences/.test(last)
  }).length
  for (let i = 0; i < 100 && leaders() === 0; i++) await sleep(50)
  t.equal(leaders(), 1, 'exactly one process sequences the audit log')

  const [a, b, c] = services as [ServiceProcess, ServiceProcess, ServiceProcess]
  const operator = as({ role: 'OPERATOR', region: VILLAGE })
  const township = as({ role: 'REVIEWER', region: TOWNSHIP })
  const county = as({ role: 'REVIEWER', region: COUNTY })
  const STATS = `{ statistics(regionCode: "${COUNTY}", year: 2019) { households { total poor exited } persons { total } employmentRate medicalInsuranceRate dropouts exitedInYear } }`
  ok(await county.gql(a, STATS)) // builds the summary of the demo households

  // ── An exit: verified once, approved once, whichever replicas the clicks reach ──
  const input = householdInput(VILLAGE, { foodSecure: true, clothingSecure: true, housingSafe: true, drinkingWaterSafe: true })
  const householdId = ok(await operator.gql(a, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: input })).createHousehold.id as string
  ok(await operator.gql(b, 'mutation ($h: ID!, $i: IncomeInput!) { recordIncome(householdId: $h, input: $i) { perCapitaNet } }',
    { h: householdId, i: { year: 2019, wage: 12000, business: 3000, property: 0, transfer: 1500, expenses: 1500 } }))
  const reviewId = ok(await operator.gql(c, 'mutation ($h: ID!) { proposeExit(householdId: $h, year: 2019) { id } }', { h: householdId })).proposeExit.id as string
  const verified = await Promise.all(services.map(async s => await township.gql(s, 'mutation ($r: ID!) { verifyExit(reviewId: $r) { status noticeEndsAt } }', { r: reviewId })))
  t.equal(verified.filter(r => r.errors === undefined).length, 1, 'three replicas asked to verify at once: the notice starts once')
  t.same(verified.filter(r => r.errors !== undefined).map(r => r.errors![0]!.extensions?.code), ['CONFLICT', 'CONFLICT'], 'the others are refused with CONFLICT')
  const notices = await Promise.all(services.map(async s => ok(await township.gql(s, `{ exitNotices(regionCode: "${VILLAGE}") { villageCode headName noticeEndsAt } }`)).exitNotices))
  t.equal(notices[0].length, 1, 'the household is on the notice once')
  t.same(notices[1], notices[0], 'every replica posts the same notice')
  t.same(notices[2], notices[0])
  // The notice's days pass (EXIT_NOTICE_DAYS is at least one day): its end is a stored time, nothing fires.
  await ctl.query("UPDATE exit_reviews SET notice_ends_at = now() - interval '1 second' WHERE id = $1", [reviewId])
  const approved = await Promise.all(services.map(async s => await county.gql(s, 'mutation ($r: ID!) { approveExit(reviewId: $r) { status household { status } } }', { r: reviewId })))
  t.equal(approved.filter(r => r.errors === undefined).length, 1, 'three replicas asked to approve at once: approved once')
  t.same(approved.filter(r => r.errors !== undefined).map(r => r.errors![0]!.extensions?.code), ['CONFLICT', 'CONFLICT'])
  const { rows: steps } = await ctl.query('SELECT action, count(*)::int AS n FROM exit_review_steps WHERE review_id = $1 GROUP BY action ORDER BY action', [reviewId])
  t.same(steps, [{ action: 'APPROVE', n: 1 }, { action: 'PROPOSE', n: 1 }, { action: 'VERIFY', n: 1 }], 'each step once')
  t.same(await one(`SELECT (SELECT status FROM households WHERE id = $3::uuid) AS status,
      (SELECT count(*)::int FROM audit_events WHERE entity_id = $1::text AND action = 'household.exit') AS exits,
      (SELECT count(*)::int FROM audit_events WHERE entity_id = $2::text) AS review_entries`, [householdId, reviewId, householdId]),
  { status: 'EXITED', exits: 1, review_entries: 3 }, 'one exit, each step audited once')

  // ── An import job; the process holding its lease is killed mid-job ──
  const sealer = new Sealer(Buffer.from(TEST_DATA_KEY, 'base64'))
  const { rows: sealed } = await ctl.query<{ id: string, national_id: string }>(
    `SELECT id, national_id_sealed AS national_id FROM members WHERE active AND region_code LIKE '${COUNTY}%' ORDER BY id`)
  const ids = sealed.map(m => sealer.open(m.national_id))
  const rows = Array.from({ length: ROWS }, (_, i) => ({ national_id: ids[i % ids.length], employment: i % 3 === 0 ? 'LOCAL' : 'MIGRANT', months: (i % 12) + 1, monthly_income: i }))
  const hr = as({ role: 'EXCHANGE', region: COUNTY, dept: 'hr' })
  const submitted = await hr.fetch(a, '/api/v1/exchange/jobs?kind=hr.employment', {
    method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: rows.map(r => JSON.stringify(r)).join('\n') + '\n'
  })
  t.equal(submitted.status, 202, 'the job is queued')
  const jobId = (await submitted.json() as { id: string }).id
  let holder: { lease_owner: string, resume_line: number } | undefined
  for (let i = 0; i < 1500; i++) {
    holder = await one('SELECT lease_owner, resume_line FROM exchange_jobs WHERE id = $1', [jobId])
    if (holder!.resume_line > 0) break
    await sleep(10)
  }
  const pid = Number(holder!.lease_owner.split('/')[1])
  const victim = services.find(s => s.child.pid === pid)
  t.ok(victim !== undefined, `the lease names the process working the job (${holder!.lease_owner})`)
  victim!.child.kill('SIGKILL')
  await victim!.exited
  const killedAt = Date.now()
  const cut = await one<{ resume_line: number, status: string }>('SELECT resume_line, status FROM exchange_jobs WHERE id = $1', [jobId])
  t.ok(cut.status === 'running' && cut.resume_line > 0 && cut.resume_line < ROWS, `killed mid-job (after line ${cut.resume_line} of ${ROWS})`)
  const survivors = services.filter(s => s !== victim)
  let job: any
  for (let i = 0; i < 600; i++) {
    job = await (await hr.fetch(survivors[0]!, `/api/v1/exchange/jobs/${jobId}`)).json()
    if (job.status === 'succeeded' || job.status === 'failed') break
    await sleep(50)
  }
  t.match(job, { status: 'succeeded', counts: { received: ROWS, applied: ROWS, unmatched: 0, rejected: 0 } }, `finished ${Date.now() - killedAt} ms after the kill`)
  const takenUp = logged(services, 'import job taken up').filter(e => e.jobId === jobId)
  t.same(takenUp.map(e => e.pid === pid), [true, false], 'taken up twice: by the killed process, then once by another')
  t.ok(Number(takenUp[1]!.resumeLine) >= cut.resume_line, `resumed after its last committed batch (line ${String(takenUp[1]!.resumeLine)})`)
  t.same(await one(`SELECT (SELECT count(*)::int FROM audit_events WHERE source = $1) AS audits,
      (SELECT count(DISTINCT (after->>'monthlyIncome'))::int FROM audit_events WHERE source = $1) AS distinct_rows,
      (SELECT count(*)::int FROM exchange_job_matches WHERE job_id = $2) AS matches,
      (SELECT count(DISTINCT line)::int FROM exchange_job_matches WHERE job_id = $2) AS lines`, ['exchange-job:' + jobId, jobId]),
  { audits: ROWS, distinct_rows: ROWS, matches: ROWS, lines: ROWS }, 'every row applied and audited exactly once: none lost, none twice')
  // Each member holds its last row of the file (rows applied in file order).
  const last = new Map<string, number>()
  rows.forEach((r, i) => last.set(r.national_id!, i))
  const { rows: now } = await ctl.query<{ national_id: string, monthly_income: string }>(
    `SELECT national_id_sealed AS national_id, monthly_income FROM members WHERE active AND region_code LIKE '${COUNTY}%'`)
  t.equal(now.filter(m => Number(m.monthly_income) !== last.get(sealer.open(m.national_id))).length, 0, `each of the ${now.length} members holds its last row`)

  // ── Statistics: concurrent reads on every replica rebuild each stale village once ──
  const { rows: [stale] } = await ctl.query(`SELECT count(DISTINCT village)::int AS n FROM stats_dirty WHERE village LIKE '${COUNTY}%'`)
  t.ok(stale.n > 0, `the import left ${stale.n} villages stale`)
  const rebuiltBefore = logged(services, 'statistics summary rebuilt').length
  const answers = await Promise.all(survivors.flatMap(s => [0, 1, 2, 3].map(async () => ok(await county.gql(s, STATS)).statistics)))
  t.ok(answers.every(x => JSON.stringify(x) === JSON.stringify(answers[0])), `${answers.length} concurrent reads on ${survivors.length} replicas answer alike`)
  const rebuilds = logged(services, 'statistics summary rebuilt').slice(rebuiltBefore)
  t.equal(rebuilds.reduce((n, e) => n + Number(e.villages), 0), stale.n, `each stale village rebuilt once (${rebuilds.length} rebuild)`)
  t.equal((await one(`SELECT count(*)::int AS n FROM stats_dirty WHERE village LIKE '${COUNTY}%'`)).n, 0, 'nothing left stale')

  // ── The audit log: every entry once, 1..n, verified ──
  await allSequenced(ctl)
  await wellFormed(t, ctl)
  const auditor = as({ role: 'AUDITOR', region: '4112' })
  const check = ok(await auditor.gql(survivors[0]!, '{ verifyAuditChain { valid pending problem } }')).verifyAuditChain
  t.same(check, { valid: true, pending: 0, problem: null }, 'the log verifies')
  t.comment(`whole test ${Date.now() - began} ms`)
})

t.test('a write in flight while the summary is rebuilt keeps its village stale, whichever starts first', async (t) => {
  const { url } = await machinePgDatabase()
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 4 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  const app = await buildApp(t, { database })
  const operator = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const viewer = app.as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: VILLAGE })
  ok(await operator.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(VILLAGE) }))
  const rate = async (): Promise<number> => ok(await viewer.gql(`{ statistics(regionCode: "${VILLAGE}", year: 2019) { medicalInsuranceRate } }`)).statistics.medicalInsuranceRate
  t.equal(await rate(), 1, 'every member insured')
  const clients = await Promise.all([0, 1].map(async () => { const c = new pg.Client({ connectionString: url }); await c.connect(); return c }))
  t.teardown(async () => { await Promise.all(clients.map(async c => await c.end())) })
  const [writer, holder] = clients as [pg.Client, pg.Client]
  /** A committed write of the village: its mark is there before the race. */
  const marked = async (): Promise<void> => { await holder.query('UPDATE households SET housing_safe = housing_safe WHERE region_code = $1', [VILLAGE]) }
  const insured = async (value: boolean): Promise<void> => { await writer.query('UPDATE members SET medical_insurance = $2 WHERE region_code = $1', [VILLAGE, value]) }

  // The write first: it is in flight (uncommitted) when a read rebuilds the village.
  await marked()
  await writer.query('BEGIN')
  await insured(false)
  t.equal(await rate(), 1, 'a read while the write is in flight sees the committed data')
  await writer.query('COMMIT')
  t.equal(await rate(), 0, 'the next read sees the write: its village stayed stale')

  // The rebuild first: it has taken the marks and waits (on a summary row held here) when the write arrives.
  await marked()
  await holder.query('BEGIN')
  await holder.query('SELECT 1 FROM stats_village_year WHERE village = $1 FOR UPDATE', [VILLAGE])
  const reading = rate()
  for (let i = 0; i < 400; i++) {
    const { rows } = await writer.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM stats_village_year%'")
    if (rows.length > 0) break
    await sleep(10)
  }
  await writer.query('BEGIN')
  await insured(true)
  await holder.query('ROLLBACK')
  t.equal(await reading, 0, 'the rebuild in flight answers the data committed before it')
  await writer.query('COMMIT')
  t.equal(await rate(), 1, 'the next read sees the write that arrived during the rebuild')
})
