/**
 * Faults of the database under a running app, on the machine's PostgreSQL whichever
 * variant of the suite runs: a connection terminated (`pg_terminate_backend`) in the
 * middle of a mutation, of an import batch (also the earlier of two batches in flight)
 * and of an export stream; the database gone
 * and back under load. Each time: nothing half-written, a clear masked error (503 on
 * REST, INTERNAL on GraphQL), no hang, and the next request works with no manual step.
 *
 * To catch a statement in flight, a second connection holds a lock the app's
 * statement needs (a table lock: on audit_events, every change's last insert), the
 * test terminates the backend waiting on it, then lets the lock go.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { AddressInfo } from 'node:net'
import { sql } from 'drizzle-orm'
import pg from 'pg'
import t, { type Test } from 'tap'
import { openDatabase, queryRows, type Database } from '../../src/db/index.js'
import { generateDemoData } from '../../src/db/demo-data.js'
import type { TokenClaims } from '../../src/infra/tokens.js'
import { householdInput, memberInput, nationalId } from '../fixtures.js'
import { buildApp, machinePgDatabase, pgProxy, testConfig, uniqueSub, type Client } from '../helper.js'

const VILLAGE = '411224101201'
const COUNTY = '411224'
const CREATE = 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { id } } }'
/** Lost connections are expected here; the app logs what it sees through its own logger. */
const log = { error: () => {} }

const { name: DB, url: DB_URL } = await machinePgDatabase()

async function open (t: Test, url = DB_URL): Promise<Database> {
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 5 }, log)
  t.teardown(async () => { await database.close() })
  return database
}

/** A connection of the test's own to the database, which takes locks and terminates the app's backends. */
async function controller (t: Test): Promise<pg.Client & { pid: number }> {
  const client = new pg.Client({ connectionString: DB_URL })
  await client.connect()
  t.teardown(async () => { await client.end() })
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  return Object.assign(client, { pid: rows[0]!.pid })
}

/** Waits until one of the app's backends waits on a lock, and terminates it. */
async function terminateWaiting (ctl: pg.Client & { pid: number }): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const { rows } = await ctl.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> $2 AND wait_event_type = 'Lock'", [DB, ctl.pid])
    if (rows.length > 0) {
      for (const { pid } of rows) await ctl.query('SELECT pg_terminate_backend($1)', [pid])
      return
    }
    await sleep(10)
  }
  throw new Error('no statement of the app came to wait on the lock')
}

/**
 * Makes every audit append wait (reads of the table go on: the sequencer keeps working),
 * from a connection of its own (statistics views hold still within a transaction, so the
 * controller that watches them must not be in one); `release` lets the appends go.
 */
async function holdAuditAppends (t: Test): Promise<{ release: () => Promise<void> }> {
  const holder = new pg.Client({ connectionString: DB_URL })
  await holder.connect()
  t.teardown(async () => { await holder.end() })
  await holder.query('BEGIN')
  await holder.query('LOCK TABLE audit_events IN EXCLUSIVE MODE')
  return { release: async () => { await holder.query('ROLLBACK') } }
}

async function counts (ctl: pg.Client): Promise<{ households: number, members: number, audits: number }> {
  const { rows } = await ctl.query(`SELECT (SELECT count(*)::int FROM households) AS households,
    (SELECT count(*)::int FROM members) AS members, (SELECT count(*)::int FROM audit_events) AS audits`)
  return rows[0]
}

const noDetail = /terminat|connection|pg_|select|insert|audit_events|households|ECONN|57P01/i

t.test('a connection terminated in the middle of a mutation: nothing written, a masked error, and the pool recovers', async (t) => {
  const app = await buildApp(t, { database: await open(t) })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const ctl = await controller(t)
  const before = await counts(ctl)

  // The household and its members are inserted, then the transaction waits to append its audit entry.
  const hold = await holdAuditAppends(t)
  const pending = op.gql(CREATE, { i: householdInput(VILLAGE) })
  await terminateWaiting(ctl)
  await hold.release()
  const res = await pending
  t.equal(res.status, 503, 'retry later: nothing was written')
  t.match(res.errors?.[0], { message: 'The database is unavailable; retry later', extensions: { code: 'INTERNAL', reason: 'SERVICE_UNAVAILABLE' } })
  t.notMatch(JSON.stringify(res), noDetail, 'no detail of the failure reaches the client')
  t.same(await counts(ctl), before, 'no household, member or audit entry of the lost transaction')

  const again = await op.gql(CREATE, { i: householdInput(VILLAGE) })
  t.equal(again.errors, undefined, 'the next mutation works')
  t.equal(again.data.createHousehold.members.length, 3)
  // Three entries: the household, its helper's record (帮扶责任人, new in this database) and the helper's assignment.
  t.same(await counts(ctl), { households: before.households + 1, members: before.members + 3, audits: before.audits + 3 })
})

t.test('a connection terminated in the middle of a REST read answers 503 problem+json, and the next one works', async (t) => {
  const app = await buildApp(t, { database: await open(t) })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const created = await op.gql(CREATE, { i: householdInput(VILLAGE) })
  const url = `/api/v1/households/${created.data.createHousehold.id as string}`
  const ctl = await controller(t)
  await ctl.query('BEGIN')
  await ctl.query('LOCK TABLE members IN ACCESS EXCLUSIVE MODE')
  const pending = op.get(url)
  await terminateWaiting(ctl)
  await ctl.query('ROLLBACK')
  const res = await pending
  t.equal(res.statusCode, 503)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { status: 503, title: 'Service Unavailable', detail: 'The database is unavailable; retry later' })
  t.notMatch(res.body, noDetail)
  t.equal((await op.get(url)).statusCode, 200, 'the next request works')
})

/**
 * An import of 700 hr.employment rows in batches of 7, over `members` registered members
 * taken in turn, under way (at least 35 lines committed); the test's own connection `ctl`.
 */
async function importUnderWay (t: Test, members: number) {
  const database = await open(t)
  let now = new Date('2026-01-10T08:00:00Z')
  const app = await buildApp(t, { database, config: testConfig({ IMPORT_BATCH_ROWS: '7' }), clock: () => now })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const ids = Array.from({ length: members }, (_, i) => nationalId(`19${70 + i}-01-0${1 + (i % 9)}`, 'MALE'))
  for (const id of ids) {
    const res = await op.gql(CREATE, { i: householdInput(VILLAGE, { members: [memberInput({ nationalId: id })] }) })
    t.equal(res.errors, undefined)
  }
  const hr: TokenClaims = { sub: uniqueSub('rs'), role: 'EXCHANGE', dept: 'hr', region: COUNTY }
  const exchange = app.as(hr)
  await exchange.gql('{ me { sub } }')
  const rows = Array.from({ length: 700 }, (_, i) => ({ national_id: ids[i % ids.length], employment: 'LOCAL', months: (i % 12) + 1, monthly_income: i }))
  const ctl = await controller(t)
  const submitted = await app.app.inject({
    method: 'POST',
    url: '/api/v1/exchange/jobs?kind=hr.employment',
    headers: { authorization: `Bearer ${exchange.token}`, 'content-type': 'application/x-ndjson' },
    payload: rows.map(r => JSON.stringify(r)).join('\n') + '\n'
  })
  t.equal(submitted.statusCode, 202)
  const jobId = submitted.json().id as string
  const progress = async (): Promise<{ resume_line: number, status: string }> =>
    (await ctl.query('SELECT resume_line, status FROM exchange_jobs WHERE id = $1', [jobId])).rows[0]
  while ((await progress()).resume_line < 35) await sleep(5)

  /** The interrupted worker takes its job up again once the lease has passed (60 s; the clock is moved): each row applied once, in file order. */
  const resumesExactlyOnce = async (): Promise<void> => {
    now = new Date(now.getTime() + 5 * 60_000)
    let job: any
    for (let i = 0; i < 600; i++) {
      job = (await exchange.get(`/api/v1/exchange/jobs/${jobId}`)).json()
      if (job.status === 'succeeded' || job.status === 'failed') break
      await sleep(25)
    }
    t.match(job, { status: 'succeeded', counts: { received: 700, applied: 700, unmatched: 0, rejected: 0 } })
    const [c] = await queryRows<{ audits: number, matches: number, lines: number }>(database.db, sql`SELECT
      (SELECT count(*)::int FROM audit_events WHERE source = ${'exchange-job:' + jobId}) AS audits,
      (SELECT count(*)::int FROM exchange_job_matches WHERE job_id = ${jobId}) AS matches,
      (SELECT count(DISTINCT line)::int FROM exchange_job_matches WHERE job_id = ${jobId}) AS lines`)
    t.same(c, { audits: 700, matches: 700, lines: 700 }, 'each row applied and audited exactly once')
    const last = rows.findLast(r => r.national_id === ids[3])!
    const [m] = await queryRows<{ employment_months: number }>(database.db, sql`SELECT employment_months FROM members WHERE national_id_hash = ${app.app.deps.sealer.lookupHash(ids[3]!)}`)
    t.equal(m!.employment_months, last.months, 'rows applied in file order')
  }
  return { database, ctl, jobId, progress, resumesExactlyOnce }
}

t.test('a connection terminated in the middle of an import batch: the job resumes and applies every row exactly once', async (t) => {
  const { ctl, progress, resumesExactlyOnce } = await importUnderWay(t, 12)
  // Hold audit appends so that the next batch waits in its transaction, and cut it there.
  const hold = await holdAuditAppends(t)
  await terminateWaiting(ctl)
  const cut = await progress()
  await hold.release()
  t.equal(cut.status, 'running')
  t.ok(cut.resume_line > 0 && cut.resume_line < 700, `cut mid-way (after line ${cut.resume_line})`)
  await resumesExactlyOnce()
})

t.test('the earlier of two import batches in flight is cut: the later one does not commit, and the resume point stays before both', async (t) => {
  // 30 members: two consecutive batches of 7 rows never share one (no row lock between them).
  const { database, ctl, jobId, progress, resumesExactlyOnce } = await importUnderWay(t, 30)
  // Hold audit appends: the next batch waits to append in its transaction; the one after it
  // writes its members and then waits, idle in its transaction, for the first to commit.
  const hold = await holdAuditAppends(t)
  let waiting: number | undefined
  for (let i = 0; i < 400 && waiting === undefined; i++) {
    const { rows } = await ctl.query<{ pid: number, state: string, wait_event: string | null }>(
      'SELECT pid, state, wait_event FROM pg_stat_activity WHERE datname = $1 AND pid <> $2', [DB, ctl.pid])
    const onLock = rows.find(a => a.wait_event === 'relation')
    if (onLock !== undefined && rows.some(a => a.state === 'idle in transaction')) waiting = onLock.pid
    else await sleep(10)
  }
  t.ok(waiting !== undefined, 'one batch waits to append its audit entries while the next is open behind it')
  const cut = (await progress()).resume_line
  await ctl.query('SELECT pg_terminate_backend($1)', [waiting])
  await hold.release()
  await sleep(300)
  t.equal((await progress()).resume_line, cut, `the resume point stays at line ${cut}: the later batch did not commit`)
  const [committed] = await queryRows<{ matches: number, beyond: number }>(database.db, sql`SELECT count(*)::int AS matches, count(*) FILTER (WHERE line > ${cut})::int AS beyond FROM exchange_job_matches WHERE job_id = ${jobId}`)
  t.same(committed, { matches: cut, beyond: 0 }, 'no row after the resume point is applied')
  await resumesExactlyOnce()
})

t.test('a connection terminated in the middle of an export stream: the stream ends in an error, no hang, and the next request works', async (t) => {
  const database = await open(t)
  const app = await buildApp(t, { database })
  await generateDemoData(database.db, app.app.deps.sealer, { households: 2_000, region: COUNTY, seed: 7 })
  await app.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}`
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await admin.gql('{ me { sub } }')
  const headers = { authorization: `Bearer ${admin.token}` }
  const ctl = await controller(t)
  const total = (await ctl.query<{ n: number }>("SELECT count(*)::int AS n FROM households WHERE region_code LIKE '411224%'")).rows[0]!.n

  const res = await fetch(`${base}/api/v1/households/export?region=${COUNTY}`, { headers, signal: AbortSignal.timeout(30_000) })
  t.equal(res.status, 200)
  const reader = res.body!.getReader()
  const first = await reader.read()
  t.ok(first.value !== undefined && first.value.length > 0, 'the export started')
  await ctl.query('BEGIN')
  await ctl.query('LOCK TABLE households IN ACCESS EXCLUSIVE MODE')
  let lines = 0
  const read = (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return 'ended'
      for (const b of value) if (b === 10) lines++
    }
  })()
  const failed = t.rejects(read, 'the client sees the stream fail (no clean end of a partial export)')
  await terminateWaiting(ctl)
  await ctl.query('ROLLBACK')
  await failed
  t.ok(lines < total, `partial: ${lines} households before the cut`)

  const again = await fetch(`${base}/api/v1/households/export?region=${COUNTY}`, { headers, signal: AbortSignal.timeout(30_000) })
  t.equal(again.status, 200)
  t.equal((await again.text()).split('\n').filter(l => l !== '').length, total, 'the next export is complete')
})

/** The app's database reached through a TCP proxy the test can hold, stop and start; `close` may be called more than once. */
async function proxiedDatabase (t: Test, poolMax: number): Promise<{ proxy: Awaited<ReturnType<typeof pgProxy>>, database: Database, close: () => Promise<void> }> {
  const proxy = await pgProxy()
  t.teardown(async () => { await proxy.stop().catch(() => {}) })
  const url = new URL(DB_URL)
  url.host = `127.0.0.1:${proxy.port}`
  const database = await openDatabase({ kind: 'postgres', url: url.toString(), poolMax }, log)
  let closed: Promise<void> | null = null
  const close = async (): Promise<void> => { closed ??= database.close(); await closed }
  t.teardown(close)
  return { proxy, database, close }
}

t.test('connections that died while idle, noticed at BEGIN: the transaction fails and no pool slot is lost', async (t) => {
  const { proxy, database, close } = await proxiedDatabase(t, 2)
  const ctl = await controller(t)
  const tx = async (): Promise<unknown> => await database.db.transaction(async (tx) => await tx.execute(sql`SELECT 1`))
  for (let round = 0; round < 4; round++) {
    await tx() // a healthy client waits idle in the pool
    proxy.hold()
    await ctl.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> $2', [DB, ctl.pid])
    const lost = tx() // takes the idle client, whose death it learns only from the answer to BEGIN
    await sleep(100)
    proxy.resume()
    await t.rejects(lost, `round ${round}: the transaction on the dead connection fails`)
  }
  t.equal(await Promise.race([tx().then(() => 'ok'), sleep(8_000, 'stuck')]), 'ok', 'the pool still has its connections')
  t.equal(await Promise.race([close().then(() => 'closed'), sleep(5_000, 'stuck')]), 'closed', 'every connection went back to the pool')
})

t.test('the database gone and back under load: 503 during the outage, never a hang, and recovery without a manual step', async (t) => {
  // A proxy in front of the server stands for its restart: every connection is cut and
  // new ones refused, then accepted again. (Restarting the machine's server itself would
  // cut the other test files and processes that share it.)
  const { proxy, database, close } = await proxiedDatabase(t, 5)
  const app = await buildApp(t, { database })
  // One village per user: concurrent creations in one village may meet on a household number (CONFLICT, by design).
  const villages = (await queryRows<{ code: string }>(app.database.db, sql`SELECT code FROM regions WHERE level = 'VILLAGE' AND code LIKE '411224%' ORDER BY code LIMIT 8`)).map(r => r.code)
  const users = villages.map(v => ({ village: v, client: app.as({ sub: uniqueSub('load'), role: 'OPERATOR', region: v }) }))
  for (const u of users) t.equal((await u.client.gql('{ me { sub } }')).status, 200)

  const statuses: Array<{ phase: string, endedIn: string, status: number, ms: number }> = []
  let phase = 'before'
  let running = true
  async function one ({ village, client: u }: { village: string, client: Client }, i: number): Promise<void> {
    const started = Date.now()
    const p = phase
    if (i % 2 === 0) {
      const res = await u.gql(CREATE, { i: householdInput(village) })
      statuses.push({ phase: p, status: res.errors === undefined ? 200 : res.status === 200 ? 500 : res.status, ms: Date.now() - started, endedIn: phase })
    } else {
      const res = await u.get(`/api/v1/households?region=${village}&limit=5`)
      statuses.push({ phase: p, status: res.statusCode, ms: Date.now() - started, endedIn: phase })
    }
  }
  const load = users.map(async (u, k) => { for (let i = k; running; i++) await one(u, i) })

  await sleep(500)
  phase = 'outage'
  await proxy.stop()
  await sleep(1_500)
  await proxy.start()
  phase = 'after'
  // The pool reconnects by itself: wait for the first success.
  for (let i = 0; i < 100 && !statuses.some(s => s.phase === 'after' && s.status === 200); i++) await sleep(50)
  await sleep(500)
  running = false
  await Promise.all(load)

  const of = (p: string): typeof statuses => statuses.filter(s => s.phase === p)
  const done = statuses.filter(s => s.phase === 'before' && s.endedIn === 'before')
  t.same(done.filter(s => s.status !== 200), [], `all ${done.length} good before`)
  const outage = of('outage')
  t.ok(outage.length > 0, `${outage.length} requests during the outage`)
  t.same([...new Set(outage.map(s => s.status))].filter(s => s !== 200 && s !== 503), [], 'during the outage: 503 (REST and GraphQL), nothing else')
  t.ok(Math.max(...statuses.map(s => s.ms)) < 6_000, 'no request hung')
  const after = of('after')
  t.ok(after.length > 0 && after.slice(-8).every(s => s.status === 200), 'service recovered with no manual step')
  t.equal((await app.app.inject('/readyz')).statusCode, 200)
  // A client lost at BEGIN and never given back would hold the pool open for ever.
  await app.app.close()
  t.equal(await Promise.race([close().then(() => 'closed'), sleep(5_000, 'stuck')]), 'closed', 'every connection went back to the pool')
})
