/**
 * Read replicas (DATABASE_REPLICA_URLS) against a real streaming replica: the machine's
 * PostgreSQL (127.0.0.1:5432) and a second cluster streaming from it on 5433, made (or
 * kept) by test/replica-setup.sh. Reads go to the replica — counted on both clusters —
 * a writer reads its own writes through it every time, and a replica that lags (replay
 * paused) or stops is skipped while the service keeps answering. The embedded database
 * ignores replicas.
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import pg from 'pg'
import t, { type Test } from 'tap'
import { openDatabase } from '../../src/db/index.js'
import { parseLsn } from '../../src/db/replicas.js'
import { migrateAndSeed } from '../../src/infra/migrate.js'
import { refreshSummary } from '../../src/modules/statistics/statistics-service.js'
import { projectRoot } from '../../src/paths.js'
import { householdInput } from '../fixtures.js'
import { buildApp, machinePgDatabase, PGLITE_TEMPLATE, testConfig, uniqueSub, withDatabase, type TestApp } from '../helper.js'

t.setTimeout(300_000)

const COUNTY = '411224'
const VILLAGE = '411224101201'
const REPLICA_PORT = 5433
const CLUSTER = ['15', 'replica']

// The replica, made once on this machine (kept when already streaming).
execFileSync('bash', [join(projectRoot, 'test', 'replica-setup.sh')], { stdio: ['ignore', 'ignore', 'inherit'] })

const primaryDb = await machinePgDatabase()
const replicaUrl = (() => { const u = new URL(primaryDb.url); u.port = String(REPLICA_PORT); return u.toString() })()

async function query<T extends pg.QueryResultRow> (url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try { return (await c.query<T>(text)).rows } finally { await c.end() }
}
const replicaAdmin = withDatabase(replicaUrl, 'postgres')
const primaryPosition = async (): Promise<bigint> => parseLsn((await query<{ lsn: string }>(primaryDb.url, 'SELECT pg_current_wal_flush_lsn()::text AS lsn'))[0]!.lsn)
const replayedPosition = async (): Promise<bigint> => parseLsn((await query<{ lsn: string }>(replicaAdmin, 'SELECT pg_last_wal_replay_lsn()::text AS lsn'))[0]!.lsn)

/** Waits until the replica has replayed everything the primary has written so far. */
async function caughtUp (): Promise<void> {
  const target = await primaryPosition()
  for (let i = 0; i < 300; i++) {
    try { if (await replayedPosition() >= target) return } catch {}
    await sleep(100)
  }
  throw new Error('the replica did not catch up within 30 s')
}
await caughtUp()

const clusterCtl = (action: string): void => { execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', ...CLUSTER, action, ...(action === 'stop' ? ['-m', 'fast'] : [])], { stdio: 'inherit' }) }

/** The app on the test's database with the replica, closed with the test. */
async function replicatedApp (test: Test, env: Record<string, string> = {}): Promise<TestApp & { closeDatabase: () => Promise<void> }> {
  const database = await openDatabase({ kind: 'postgres', url: primaryDb.url, poolMax: 5 }, { error: () => {} })
  let closed: Promise<void> | undefined
  const closeDatabase = async (): Promise<void> => { closed ??= database.close(); await closed }
  test.teardown(closeDatabase)
  const config = testConfig({ DATABASE_URL: primaryDb.url, DATABASE_REPLICA_URLS: replicaUrl, ...env })
  return Object.assign(await buildApp(test, { config, database }), { closeDatabase })
}

/** Table reads (index and sequential scans) of the registry's tables on one cluster, from its statistics. */
async function tableReads (url: string): Promise<number> {
  const [row] = await query<{ n: string }>(url, "SELECT coalesce(sum(coalesce(idx_scan, 0) + coalesce(seq_scan, 0)), 0) AS n FROM pg_stat_user_tables WHERE relname IN ('households', 'members', 'measures', 'incomes', 'stats_village_year')")
  return Number(row!.n)
}

/** Reads a cluster's counter until it holds still (a backend reports its statistics when its session ends). */
async function settled (read: () => Promise<number>): Promise<number> {
  let last = await read()
  for (let i = 0; i < 20; i++) {
    await sleep(300)
    const now = await read()
    if (now === last && i >= 2) return now
    last = now
  }
  return last
}

const operator = { sub: uniqueSub('operator'), role: 'OPERATOR' as const, region: VILLAGE }
const viewer = { role: 'VIEWER' as const, region: COUNTY }
const created: string[] = []

t.before(async () => {
  const app = await replicatedApp(t)
  for (let i = 0; i < 3; i++) {
    const res = await app.as(operator).gql<{ createHousehold: { id: string } }>('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(VILLAGE) })
    created.push(res.data.createHousehold.id)
  }
  await app.app.close()
  // Its sessions end now: a backend reports its table statistics when its session ends (an
  // idle one only after up to 10 s), and the next test counts the primary's table reads.
  await app.closeDatabase()
  // The statistics summary rebuilt now (a write, on the primary), so that no read below has to.
  const database = await openDatabase({ kind: 'postgres', url: primaryDb.url, poolMax: 1 }, { error: () => {} })
  await refreshSummary(database.db, '4112', new Date().getUTCFullYear())
  await database.close()
  await caughtUp()
})

t.test('reads of a request that changes nothing run on the replica: the primary reads no registry table', async (t) => {
  const before = { primary: await settled(async () => await tableReads(primaryDb.url)), replica: await settled(async () => await tableReads(replicaUrl)) }
  const app = await replicatedApp(t)
  const reader = app.as({ ...viewer, sub: uniqueSub('viewer') })
  let reads = 0
  for (const id of created) {
    const one = await reader.gql(`{ household(id: "${id}") { id headName members { name } } }`)
    t.equal(one.data.household.id, id)
    t.equal((await reader.get(`/api/v1/households/${id}`)).statusCode, 200)
    reads += 2
  }
  const page = await reader.gql(`{ households(filter: { regionCode: "${VILLAGE}" }, first: 10) { edges { node { id } } } }`)
  t.ok(page.data.households.edges.length >= created.length)
  const stats = await reader.gql(`{ statistics(regionCode: "${COUNTY}", year: 2020) { households { total } } }`)
  t.equal(stats.status, 200)
  t.equal((await reader.get(`/api/v1/statistics/${COUNTY}?year=2020`)).statusCode, 200)
  t.equal((await reader.get(`/api/v1/households/export?region=${VILLAGE}`)).statusCode, 200)
  t.equal((await reader.get('/api/v1/changes')).statusCode, 200)
  reads += 5
  t.same(app.app.replicas!.routed, { replica: reads, 'replica-after-wait': 0, 'primary-no-replica': 0, 'primary-writer-ahead': 0 }, 'each read was routed to the replica')
  await app.app.close()
  const after = { primary: await settled(async () => await tableReads(primaryDb.url)), replica: await settled(async () => await tableReads(replicaUrl)) }
  t.equal(after.primary - before.primary, 0, 'no household, member, measure, income or statistics row read on the primary')
  t.ok(after.replica - before.replica >= reads, `the replica read them (${after.replica - before.replica} table reads for ${reads} requests)`)
})

t.test('a writer reads its own write through the replica: 1,000 writes, each seen by the next read', async (t) => {
  // Not skipped for lag here (another's bulk load on the shared server may hold the replica back for seconds).
  const app = await replicatedApp(t, { REPLICA_MAX_LAG_MS: '60000' })
  const writer = app.as({ ...operator, sub: uniqueSub('writer') })
  const id = created[0]!
  let version = (await writer.gql(`{ household(id: "${id}") { version } }`)).data.household.version as number
  let stale = 0
  for (let i = 0; i < 1000; i++) {
    const phone = `138${String(i).padStart(8, '0')}`
    const w = await writer.gql('mutation ($id: ID!, $v: Int!, $p: HouseholdPatch!) { updateHousehold(id: $id, expectedVersion: $v, input: $p) { version } }', { id, v: version, p: { phone } })
    version = w.data.updateHousehold.version
    const r = await writer.gql(`{ household(id: "${id}") { version phone } }`)
    if (r.data.household.version !== version || r.data.household.phone !== phone) stale++
  }
  t.equal(stale, 0, 'no read saw older data than its writer\'s last write')
  const routed = app.app.replicas!.routed
  const throughReplica = routed.replica + routed['replica-after-wait']
  t.comment(`routes of the 1,001 reads: ${JSON.stringify(routed)}`)
  t.ok(throughReplica >= 750, `most reads went through the replica (${throughReplica}; the rest waited over 200 ms for it and read the primary)`)
})

/** A key prefix of the test's own on the machine's Redis, its keys deleted when the test ends. */
function redisPrefix (test: Test): string {
  const prefix = `br-test:${randomUUID()}:`
  test.teardown(async () => {
    const redis = new Redis('redis://127.0.0.1:6379')
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })
  return prefix
}

/** `n` writes through `a`, each followed by a read through `b`: how many reads saw older data than the write. */
async function writeThenRead (a: TestApp, b: TestApp, sub: string, n: number): Promise<number> {
  const writer = a.as({ ...operator, sub })
  const reader = b.as({ ...operator, sub })
  const id = created[1]!
  let version = (await writer.gql(`{ household(id: "${id}") { version } }`)).data.household.version as number
  let stale = 0
  for (let i = 0; i < n; i++) {
    version = (await writer.gql(`mutation { updateHousehold(id: "${id}", expectedVersion: ${version}, input: { phone: "139${String(i).padStart(8, '0')}" }) { version } }`)).data.updateHousehold.version
    if ((await reader.gql(`{ household(id: "${id}") { version } }`)).data.household.version !== version) stale++
  }
  return stale
}

t.test('with REDIS_URL, another process of the service knows a user\'s last write: it reads it too', async (t) => {
  const env = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: redisPrefix(t) }
  const a = await replicatedApp(t, env)
  const b = await replicatedApp(t, env)
  const sub = uniqueSub('writer')
  t.equal(await b.app.replicas!.positions.lastWrite(sub), null, 'no write yet')
  t.equal(await writeThenRead(a, b, sub, 200), 0, 'every read through the other process saw its writer\'s write')
  t.ok(typeof await b.app.replicas!.positions.lastWrite(sub) === 'bigint', 'the other process knows the position from Redis')
})

t.test('while Redis does not answer, a process reads at the primary\'s current position: still its writers\' writes', async (t) => {
  const a = await replicatedApp(t, { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: redisPrefix(t) })
  const deaf = await replicatedApp(t, { REDIS_URL: 'redis://127.0.0.1:1' })
  const sub = uniqueSub('writer')
  t.equal(await deaf.app.replicas!.positions.lastWrite(sub), 'unknown')
  t.equal(await writeThenRead(a, deaf, sub, 100), 0, 'every read saw the write made through the other process')
})

t.test('a replica more than REPLICA_MAX_LAG_MS behind is skipped: reads go to the primary, and back once it catches up', async (t) => {
  const app = await replicatedApp(t, { REPLICA_MAX_LAG_MS: '500' })
  const ready = async (): Promise<{ state: string, lagMs: number | null }> => (await app.app.inject('/readyz')).json().replicas[0]
  t.equal((await ready()).state, 'streaming')
  const started = Date.now()
  await query(replicaAdmin, 'SELECT pg_wal_replay_pause()')
  t.teardown(async () => { await query(replicaAdmin, 'SELECT pg_wal_replay_resume()').catch(() => {}) })
  // Writes continue on the primary; the replica does not replay them.
  const writer = app.as({ ...operator, sub: uniqueSub('writer') })
  const fresh = (await writer.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(VILLAGE) })).data.createHousehold.id as string
  let state = 'streaming'
  while (state === 'streaming' && Date.now() - started < 10_000) {
    await writer.gql(`mutation { updateHousehold(id: "${fresh}", expectedVersion: ${(await writer.gql(`{ household(id: "${fresh}") { version } }`)).data.household.version}, input: { housingSafe: true }) { id } }`)
    state = (await ready()).state
  }
  t.equal(state, 'lagging', `skipped after ${Date.now() - started} ms`)
  t.ok(Date.now() - started >= 500, 'not before REPLICA_MAX_LAG_MS')
  // Another user (no write of its own) reads what the paused replica does not have: from the primary.
  const before = app.app.replicas!.routed['primary-no-replica']
  const other = await app.as({ ...viewer, sub: uniqueSub('viewer') }).gql(`{ household(id: "${fresh}") { id } }`)
  t.equal(other.data.household.id, fresh, 'the read sees the primary\'s data')
  t.equal(app.app.replicas!.routed['primary-no-replica'], before + 1, 'routed to the primary')
  await query(replicaAdmin, 'SELECT pg_wal_replay_resume()')
  let back = ''
  for (let i = 0; i < 100 && back !== 'streaming'; i++) { await sleep(100); back = (await ready()).state }
  t.equal(back, 'streaming', 'in use again once it has caught up')
})

t.test('a stopped replica is skipped and the service keeps answering; it is used again once it is back', async (t) => {
  // Down is found by connecting, not by lag; a lag limit of a minute lets the restarted replica
  // replay what the other test files wrote meanwhile (CI's PostgreSQL pass writes a lot of WAL:
  // each file's database is a copy of the template) without being skipped as lagging.
  const app = await replicatedApp(t, { REPLICA_MAX_LAG_MS: '60000' })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const reader = app.as({ ...viewer, sub: uniqueSub('viewer') })
  const ready = async (): Promise<{ status: string, replicas: Array<{ state: string }> }> => (await app.app.inject('/readyz')).json()
  t.equal((await ready()).replicas[0]!.state, 'streaming')
  t.teardown(() => { if (!execFileSync('pg_lsclusters', CLUSTER, { encoding: 'utf8' }).includes('online')) clusterCtl('start') })
  clusterCtl('stop')
  // Every read answers, from the first one on: a statement that finds the replica gone runs on the primary.
  for (let i = 0; i < 20; i++) {
    const r = await reader.gql(`{ household(id: "${created[i % created.length]!}") { id } }`)
    t.equal(r.status, 200)
    t.equal(r.data.household.id, created[i % created.length])
  }
  const status = await ready()
  t.equal(status.status, 'ready', 'the service is ready without its replica')
  t.equal(status.replicas[0]!.state, 'down')
  await sleep(2000)
  await admin.get('/api/v1/me')
  const metrics = (await app.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${admin.token}` } })).body
  t.match(metrics, /db_replica_up\{replica="127\.0\.0\.1:5433\/[^"]+"\} 0/, '/metrics says it is not used')
  t.match(metrics, /db_reads_total\{route="primary-no-replica"\} [1-9]/)
  clusterCtl('start')
  let state = ''
  for (let i = 0; i < 150 && state !== 'streaming'; i++) { await sleep(200); state = (await ready()).replicas[0]!.state }
  t.equal(state, 'streaming', 'used again once it is back')
})

t.test('the embedded database ignores DATABASE_REPLICA_URLS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'br-pglite-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const template = existsSync(PGLITE_TEMPLATE)
  if (template) cpSync(PGLITE_TEMPLATE, dir, { recursive: true })
  const database = await openDatabase({ kind: 'pglite', dataDir: dir }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  if (!template) await migrateAndSeed(database, { regionSeed: '4112' })
  const lines: string[] = []
  const app = await buildApp(t, { config: testConfig({ DATABASE_REPLICA_URLS: replicaUrl }), database, log: (line) => { lines.push(line) } })
  t.equal(app.app.replicas, null)
  t.same((await app.app.inject('/readyz')).json().replicas, [])
  const me = await app.as({ ...viewer, sub: uniqueSub('viewer') }).gql(`{ region(code: "${COUNTY}") { name } }`)
  t.equal(me.data.region.name, '卢氏县')
  t.ok(lines.some(l => l.includes('DATABASE_REPLICA_URLS is ignored')), 'says so in its log')
})
