/**
 * `npm run bench:replicas`: scenarios a–d of `npm run bench` on the service with and
 * without its read replica, in one run — throughput, latency, and where the statements
 * ran, counted on both clusters.
 *
 *   npm run bench:replicas -- [--duration 10] [--warmup 3] [--rounds 1] [--connections 16]
 *                             [--elig-connections 32] [--pool 10] [--households 20000]
 *                             [--scenarios a,b,c,d] [--replica-port 5433]
 *
 * The primary is the machine's PostgreSQL (database br_bench_replicas, filled once by the
 * demo-data generator and reused); the replica streams from it on --replica-port
 * (test/replica-setup.sh makes it, or keeps it, first). Two builds of the service run at
 * once: "primary only" and "with replica" (DATABASE_REPLICA_URLS). Each run of a scenario
 * is preceded by a warm-up on the same server; the two alternate, their order turning each
 * round. Statements are counted from each cluster's own statistics
 * (pg_stat_database.xact_commit: every statement outside a transaction is one; and
 * pg_stat_user_tables: scans of the registry's tables — households, members, measures,
 * incomes, the statistics summary — which no background work reads), read once every
 * backend has reported (PostgreSQL's statistics reach the views within 10 s of a session
 * going idle). Background statements (the audit sequencer, the replicas' probe) are
 * measured while idle and reported beside. Prints a Markdown table.
 */
import { execFileSync } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import type autocannon from 'autocannon'
import pg from 'pg'
import { openDatabase } from '../src/db/index.js'
import { parseLsn } from '../src/db/replicas.js'
import { refreshSummary } from '../src/modules/statistics/statistics-service.js'
import { projectRoot } from '../src/paths.js'
import { benchDatabase, benchToken, load, registeredIds, startServer, unregisteredId, type BenchServer } from './bench-server.js'
import { readRequest, type ReadInputs, type ReadScenario } from './scenarios.js'

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '20000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '1' },
    connections: { type: 'string', default: '16' },
    'elig-connections': { type: 'string', default: '32' },
    pool: { type: 'string', default: '10' },
    scenarios: { type: 'string', default: 'a,b,c,d' },
    'replica-port': { type: 'string', default: '5433' }
  }
})
const DURATION = Number(values.duration)
const WARMUP = Number(values.warmup)
const ROUNDS = Number(values.rounds)
const POOL = Number(values.pool)
const SCENARIOS = values.scenarios.split(',') as Scenario[]
const YEAR = 2020
/** PostgreSQL reports an idle session's statistics within PGSTAT_IDLE_INTERVAL (10 s). */
const STATS_SETTLE_MS = 11_500
const log = { error: (o: unknown) => { console.error(o) } }
type Scenario = ReadScenario
const TITLES: Record<Scenario, string> = { a: 'a household by id', b: 'b page of 50 of a township', c: 'c eligibility of 100 IDs', d: 'd statistics of a county' }

// ─── data and the replica ───────────────────────────────────────────────────────
execFileSync('bash', [join(projectRoot, 'test', 'replica-setup.sh')], { stdio: 'inherit' })
const url = await benchDatabase('br_bench_replicas', Number(values.households), false)
const replicaUrl = (() => { const u = new URL(url); u.port = values['replica-port']; return u.toString() })()
const primary = new pg.Client({ connectionString: url })
await primary.connect()
const q = async <T extends pg.QueryResultRow>(text: string): Promise<T[]> => (await primary.query<T>(text)).rows
{
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 2 }, log)
  try { await refreshSummary(database.db, '4112', new Date().getUTCFullYear()) } finally { await database.close() }
}
const [sizes] = await q<{ h: string, m: string }>('SELECT (SELECT count(*) FROM households) h, (SELECT count(*) FROM members WHERE active) m')
const householdIds = (await q<{ id: string }>('SELECT id FROM households ORDER BY random() LIMIT 2000')).map(r => r.id)
const townships = (await q<{ t: string }>('SELECT substr(region_code, 1, 9) t FROM households GROUP BY 1 HAVING count(*) >= 50 ORDER BY 1')).map(r => r.t)
const counties = (await q<{ code: string }>("SELECT code FROM regions WHERE code LIKE '4112%' AND length(code) = 6 ORDER BY code")).map(r => r.code)
const registered = await registeredIds(url, 20_000)
const eligBodies = Array.from({ length: 500 }, () => JSON.stringify({
  nationalIds: Array.from({ length: 100 }, () => (Math.random() < 0.2 ? registered[randomInt(registered.length)]! : unregisteredId()))
}))
// The replica has replayed everything written so far (the data, the summary).
{
  const [{ lsn }] = await q<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn') as [{ lsn: string }]
  const replica = new pg.Client({ connectionString: replicaUrl })
  await replica.connect()
  for (;;) {
    const [row] = (await replica.query<{ lsn: string }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')).rows
    if (parseLsn(row!.lsn) >= parseLsn(lsn)) break
    await sleep(200)
  }
  await replica.end()
}

// ─── counters ──────────────────────────────────────────────────────────────────
interface Counters { commits: number, registryScans: number }
async function counters (target: string): Promise<Counters> {
  const c = new pg.Client({ connectionString: target })
  await c.connect()
  try {
    const [db] = (await c.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()')).rows
    const [scans] = (await c.query<{ n: string }>("SELECT coalesce(sum(coalesce(idx_scan, 0) + coalesce(seq_scan, 0)), 0) AS n FROM pg_stat_user_tables WHERE relname IN ('households', 'members', 'measures', 'incomes', 'stats_village_year')")).rows
    // These two statements are this client's own: left out of the next reading's difference.
    return { commits: Number(db!.n), registryScans: Number(scans!.n) }
  } finally {
    await c.end()
  }
}
const both = async (): Promise<{ primary: Counters, replica: Counters }> => ({ primary: await counters(url), replica: await counters(replicaUrl) })

// ─── servers and requests ──────────────────────────────────────────────────────
const operator = `Bearer ${await benchToken({ sub: 'bench-operator', role: 'OPERATOR', region: '4112' })}`
const viewer = `Bearer ${await benchToken({ sub: 'bench-viewer', role: 'VIEWER', region: '4112' })}`
const hospital = `Bearer ${await benchToken({ sub: 'bench-hospital', role: 'EXCHANGE', region: '4112', dept: 'health' })}`
const inputs: ReadInputs = { householdIds, townships, counties, eligBodies, year: YEAR, operator, viewer, hospital }

type Mode = 'primary only' | 'with replica'
/** A shared machine's load must not turn requests into 503s in one mode and not the other. */
const NO_SHEDDING = { LOAD_SHED_EVENT_LOOP_DELAY_MS: '0' }
const servers: Record<Mode, BenchServer> = {
  'primary only': await startServer(url, 3301, POOL, NO_SHEDDING),
  'with replica': await startServer(url, 3302, POOL, { DATABASE_REPLICA_URLS: replicaUrl, ...NO_SHEDDING })
}

async function run (server: BenchServer, s: Scenario, duration: number): Promise<autocannon.Result> {
  let i = 0
  return await load({
    url: server.base,
    connections: s === 'c' ? Number(values['elig-connections']) : Number(values.connections),
    pipelining: 1,
    duration,
    requests: [{ setupRequest: (req) => ({ ...req, ...readRequest(inputs, s, i++) }) }]
  })
}

interface Row { rps: number[], p99: number[], requests: number, errors: number, primaryScans: number, primaryCommits: number, replicaScans: number, replicaCommits: number }
const results = new Map<string, Row>()
const loads: number[] = []

// Background: what both servers send while idle, per second.
await sleep(STATS_SETTLE_MS)
const idle0 = await both()
await sleep(20_000)
await sleep(STATS_SETTLE_MS)
const idle1 = await both()
const idleSeconds = (20_000 + STATS_SETTLE_MS) / 1000
const background = { primary: (idle1.primary.commits - idle0.primary.commits - 2) / idleSeconds, replica: (idle1.replica.commits - idle0.replica.commits - 2) / idleSeconds }
console.log(`background while idle: ${background.primary.toFixed(1)} statements/s on the primary, ${background.replica.toFixed(1)} on the replica (registry scans: ${idle1.primary.registryScans - idle0.primary.registryScans} / ${idle1.replica.registryScans - idle0.replica.registryScans})`)

for (let round = 0; round < ROUNDS; round++) {
  for (const s of SCENARIOS) {
    const modes: Mode[] = round % 2 === 0 ? ['primary only', 'with replica'] : ['with replica', 'primary only']
    for (const mode of modes) {
      await run(servers[mode], s, WARMUP)
      await sleep(STATS_SETTLE_MS)
      const before = await both()
      const started = Date.now()
      const r = await run(servers[mode], s, DURATION)
      const seconds = (Date.now() - started) / 1000
      loads.push(loadavg()[0]!)
      await sleep(STATS_SETTLE_MS)
      const after = await both()
      const window = seconds + STATS_SETTLE_MS / 1000
      const key = `${s}|${mode}`
      const row = results.get(key) ?? { rps: [], p99: [], requests: 0, errors: 0, primaryScans: 0, primaryCommits: 0, replicaScans: 0, replicaCommits: 0 }
      row.rps.push(r.requests.average)
      row.p99.push(r.latency.p99)
      row.requests += r.requests.total
      row.errors += r.errors + r.non2xx + r.timeouts
      row.primaryScans += after.primary.registryScans - before.primary.registryScans
      row.replicaScans += after.replica.registryScans - before.replica.registryScans
      // Less this script's own two statements per reading and the background of the window.
      row.primaryCommits += after.primary.commits - before.primary.commits - 2 - background.primary * window
      row.replicaCommits += after.replica.commits - before.replica.commits - 2 - background.replica * window
      results.set(key, row)
      console.log(`${s} ${mode}: ${r.requests.average.toFixed(0)} req/s, p99 ${r.latency.p99} ms, ${r.requests.total} requests, primary scans ${after.primary.registryScans - before.primary.registryScans}, replica scans ${after.replica.registryScans - before.replica.registryScans}`)
    }
  }
}
for (const server of Object.values(servers)) await server.stop()
await primary.end()

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`\n${sizes!.h} households, ${sizes!.m} members; ${DURATION} s per run (${WARMUP} s warm-up), ${ROUNDS} round(s); load average during the runs ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`)
console.log('\n| scenario | mode | req/s | p99 ms | errors | registry scans on primary | on replica | transactions/request on primary | on replica |')
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|')
for (const s of SCENARIOS) {
  for (const mode of ['primary only', 'with replica'] as Mode[]) {
    const r = results.get(`${s}|${mode}`)!
    const perRequest = (n: number): string => Math.abs(n / r.requests) < 0.05 ? '≈ 0' : (n / r.requests).toFixed(1)
    console.log(`| ${TITLES[s]} | ${mode} | ${median(r.rps).toFixed(0)} | ${median(r.p99)} | ${r.errors} | ${r.primaryScans} | ${r.replicaScans} | ${perRequest(r.primaryCommits)} | ${perRequest(r.replicaCommits)} |`)
  }
}
for (const s of SCENARIOS) {
  const ratio = median(results.get(`${s}|with replica`)!.rps) / median(results.get(`${s}|primary only`)!.rps)
  console.log(`${s}: with replica / primary only = ${ratio.toFixed(2)}`)
}
