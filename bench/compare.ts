/**
 * `npm run bench`: the service side by side with PostGraphile and a raw floor, in one run.
 *
 *   npm run bench -- [--duration 20] [--warmup 5] [--rounds 3] [--connections 16]
 *                    [--elig-connections 32] [--pool 10] [--scenarios a,b,c,d,e]
 *                    [--households 100000] [--import-rows N] [--fresh]
 *                    [--candidates ours,ours-nojit,postgraphile,floor]
 *
 * Dataset: database br_bench_compare on the machine's PostgreSQL (BENCH_DATABASE_URL's
 * server), filled once by the demo-data generator (bench-server.ts) and reused.
 * Scenarios (autocannon, no pipelining, fixed connections):
 *   a  one household by id with members and measures (GraphQL; raw: one SQL statement)
 *   b  a page of 50 households of one township with members, measures, incomes
 *   c  eligibility check of 100 national IDs (REST), at --elig-connections
 *   d  statistics of a county with its breakdown (GraphQL)
 *   e  b on the service while an hr.employment import job runs on it
 * Candidates: the service as shipped with PostgreSQL's JIT on (its default) and off
 * (PGOPTIONS), PostGraphile v5 (bench/postgraphile-server.ts, on Node 22) and the raw
 * floor (bench/raw-floor.ts; for c the same keyed hashes and one lookup, by hand) — each
 * in its own process, all started at once. Before
 * timing, the answers of every candidate to the same requests are compared
 * (bench/read-shapes.ts) and the SQL statements per request counted from PostgreSQL's
 * log (a second start of each candidate with log_statement=all). Each timed run is
 * preceded once by a warm-up; the rounds interleave the candidates (their order turns
 * each round). CPU per request: utime+stime of the server's process (and, separately, of
 * the database's backends) over a run ÷ requests. Prints a Markdown table.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { randomInt } from 'node:crypto'
import type autocannon from 'autocannon'
import pg from 'pg'
import { openDatabase } from '../src/db/index.js'
import { refreshSummary } from '../src/modules/statistics/statistics-service.js'
import {
  BENCH_DATA_KEY, benchDatabase, benchToken, cpuSecondsOf, jobState, load, node22, registeredIds, startProcess, startServer, submitImportJob, unregisteredId,
  writeEmploymentRows, type BenchServer
} from './bench-server.js'
import { comparable, postgraphile as pglQueries } from './read-shapes.js'
import { gql, readRequest, type ReadInputs, type ReadScenario, type Request } from './scenarios.js'

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '100000' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    'elig-connections': { type: 'string', default: '32' },
    pool: { type: 'string', default: '10' },
    scenarios: { type: 'string', default: 'a,b,c,d,e' },
    candidates: { type: 'string', default: 'ours,ours-nojit,postgraphile,floor' },
    'import-rows': { type: 'string', default: '' },
    'pg-log': { type: 'string', default: '/var/log/postgresql/postgresql-15-main.log' },
    fresh: { type: 'boolean', default: false }
  }
})
const DURATION = Number(values.duration)
const WARMUP = Number(values.warmup)
const ROUNDS = Number(values.rounds)
const CONNECTIONS = Number(values.connections)
const ELIG_CONNECTIONS = Number(values['elig-connections'])
const POOL = Number(values.pool)
const SCENARIOS = new Set(values.scenarios.split(','))
const DB_NAME = 'br_bench_compare'
const YEAR = 2020
const log = { error: (o: unknown) => { console.error(o) } }

type Scenario = ReadScenario
interface Candidate {
  /** What --candidates calls it. */
  key: string
  name: string
  /** Starts it on `port` with `pgOptions` for its database connections. */
  start: (port: number, pgOptions: string) => Promise<BenchServer>
  /** The request of a scenario for the i-th input; undefined when the candidate has no such route. */
  request: (s: Scenario, i: number) => Request | undefined
  server?: BenchServer
}

// ─── data ──────────────────────────────────────────────────────────────────────
const url = await benchDatabase(DB_NAME, Number(values.households), values.fresh)
const admin = new pg.Client({ connectionString: url })
await admin.connect()
const q = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> => (await admin.query<T>(text, params)).rows
const [sizes] = await q<{ h: string, m: string, x: string, i: string }>(`SELECT (SELECT count(*) FROM households) h, (SELECT count(*) FROM members WHERE active) m,
  (SELECT count(*) FROM measures) x, (SELECT count(*) FROM incomes) i`)
const householdIds = (await q<{ id: string }>('SELECT id FROM households ORDER BY random() LIMIT 2000')).map(r => r.id)
const townships = (await q<{ t: string }>(`SELECT substr(region_code, 1, 9) t FROM households GROUP BY 1 HAVING count(*) >= 50 ORDER BY 1`)).map(r => r.t)
const counties = (await q<{ code: string }>(`SELECT code FROM regions WHERE code LIKE '4112%' AND length(code) = 6 ORDER BY code`)).map(r => r.code)
const registered = await registeredIds(url, 100_000)
const eligBodies = Array.from({ length: 500 }, () => JSON.stringify({
  nationalIds: Array.from({ length: 100 }, () => (Math.random() < 0.2 ? registered[randomInt(registered.length)]! : unregisteredId()))
}))
{
  // Statistics read a summary; build it now so that no timed request pays for the rebuild.
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 2 }, log)
  try { await refreshSummary(database.db, '4112', new Date().getUTCFullYear()) } finally { await database.close() }
}

// ─── candidates ────────────────────────────────────────────────────────────────
const operator = `Bearer ${await benchToken({ sub: 'bench-operator', role: 'OPERATOR', region: '4112' })}`
const viewer = `Bearer ${await benchToken({ sub: 'bench-viewer', role: 'VIEWER', region: '4112' })}`
const hospital = `Bearer ${await benchToken({ sub: 'bench-hospital', role: 'EXCHANGE', region: '4112', dept: 'health' })}`
const hr = await benchToken({ sub: 'bench-hr', role: 'EXCHANGE', dept: 'hr', region: '4112' })
const json = { 'content-type': 'application/json' }
const inputs: ReadInputs = { householdIds, townships, counties, eligBodies, year: YEAR, operator, viewer, hospital }

function oursCandidate (key: string, name: string, jit: 'on' | 'off'): Candidate {
  return {
    key,
    name,
    start: async (port, pgOptions) => await startServer(url, port, POOL, { PGOPTIONS: `-c jit=${jit} ${pgOptions}` }),
    request: (s, i) => readRequest(inputs, s, i)
  }
}
const env = (port: number, pgOptions: string): Record<string, string> => ({ DATABASE_URL: url, PORT: String(port), POOL_MAX: String(POOL), NODE_ENV: 'production', PGOPTIONS: pgOptions })
const candidates = ([
  oursCandidate('ours', 'ours (pg jit on)', 'on'),
  oursCandidate('ours-nojit', 'ours (pg jit off)', 'off'),
  {
    key: 'postgraphile',
    name: 'PostGraphile 5',
    start: async (port, pgOptions) => await startProcess(['--import', 'tsx', 'bench/postgraphile-server.ts'], port, env(port, pgOptions), '/graphql', { node: node22() }),
    request: (s, i) => {
      if (s === 'a') return gql({}, pglQueries.household, { id: householdIds[i % householdIds.length] })
      if (s === 'b') return gql({}, pglQueries.page, { region: townships[i % townships.length] })
      return undefined
    }
  },
  {
    key: 'floor',
    name: 'raw floor',
    start: async (port, pgOptions) => await startProcess(['--import', 'tsx', 'bench/raw-floor.ts'], port, { ...env(port, pgOptions), DATA_KEY: BENCH_DATA_KEY }, '/readyz'),
    request: (s, i) => {
      if (s === 'a') return { method: 'GET', path: `/household/${householdIds[i % householdIds.length]!}`, headers: {} }
      if (s === 'b') return { method: 'GET', path: `/households?region=${townships[i % townships.length]!}`, headers: {} }
      if (s === 'c') return { method: 'POST', path: '/eligibility', headers: json, body: eligBodies[i % eligBodies.length] }
      return undefined
    }
  }
] satisfies Candidate[] as Candidate[]).filter(c => values.candidates.split(',').includes(c.key))
const serves = (c: Candidate, s: Scenario): boolean => c.request(s, 0) !== undefined

async function send (server: BenchServer, r: Request): Promise<string> {
  const res = await fetch(server.base + r.path, { method: r.method, headers: r.headers, body: r.body })
  const text = await res.text()
  if (!res.ok) throw new Error(`${r.method} ${r.path} answered ${res.status}: ${text.slice(0, 300)}`)
  return text
}

// ─── statements per request, from PostgreSQL's log ─────────────────────────────
function logSize (): number { return statSync(values['pg-log']).size }
function statementsLogged (from: number, to: number): number {
  const fd = openSync(values['pg-log'], 'r')
  try {
    const buf = Buffer.alloc(to - from)
    readSync(fd, buf, 0, buf.length, from)
    return buf.toString('utf8').split('\n').filter(l => l.includes(`@${DB_NAME} LOG:  statement: `) || l.includes(`@${DB_NAME} LOG:  execute `)).length
  } finally {
    closeSync(fd)
  }
}

/** Statements per request of each scenario: K requests one after another, minus what the server logs idle as long. */
async function countStatements (c: Candidate, port: number): Promise<Partial<Record<Scenario, number>>> {
  const K = 40
  const server = await c.start(port, '-c log_statement=all')
  const out: Partial<Record<Scenario, number>> = {}
  try {
    for (const s of ['a', 'b', 'c', 'd'] as const) {
      if (!serves(c, s)) continue
      await send(server, c.request(s, 0)!)
      await sleep(200)
      const t0 = performance.now()
      const o0 = logSize()
      for (let i = 1; i <= K; i++) await send(server, c.request(s, i)!)
      await sleep(200)
      const o1 = logSize()
      await sleep(performance.now() - t0)
      const o2 = logSize()
      out[s] = Math.max(0, statementsLogged(o0, o1) - statementsLogged(o1, o2)) / K
    }
  } finally {
    await server.stop()
  }
  return out
}

// ─── correctness: the same answers from every candidate ────────────────────────
async function checkSame (s: 'a' | 'b', n: number): Promise<void> {
  const reads = candidates.filter(c => serves(c, s))
  for (let i = 0; i < n; i++) {
    const answers = await Promise.all(reads.map(async c => comparable(await send(c.server!, c.request(s, i)!))))
    const differ = reads.filter((_, k) => answers[k] !== answers[0])
    if (differ.length > 0) {
      throw new Error(`scenario ${s}, input ${i}: ${differ.map(c => c.name).join(', ')} answer otherwise than ${reads[0]!.name}:\n${answers[0]!.slice(0, 2000)}\n---\n${answers[reads.indexOf(differ[0]!)]!.slice(0, 2000)}`)
    }
    if (answers[0] === 'null') throw new Error(`scenario ${s}, input ${i}: no household`)
    if (s === 'b' && (JSON.parse(answers[0]!) as { households: unknown[] }).households.length !== 50) throw new Error(`scenario b, input ${i}: not a full page`)
  }
}

// ─── timing ────────────────────────────────────────────────────────────────────
interface Run { rps: number, p50: number, p99: number, requests: number, errors: number, cpuMs: number, dbCpuMs: number, load1: number }
const results = new Map<string, Run[]>()

async function backendCpu (): Promise<Map<number, number>> {
  const pids = await q<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [DB_NAME])
  return new Map(pids.map(r => [r.pid, cpuSecondsOf(r.pid)]))
}

async function timed (c: Candidate, s: Scenario | 'e', duration: number, server = c.server!): Promise<Run> {
  let i = 0
  const scenario = s === 'e' ? 'b' : s
  const connections = s === 'c' ? ELIG_CONNECTIONS : CONNECTIONS
  const opts: autocannon.Options = {
    url: server.base,
    connections,
    pipelining: 1,
    duration,
    requests: [{ setupRequest: (req) => ({ ...req, ...c.request(scenario, i++)! }) }]
  }
  const cpu0 = server.cpuSeconds()
  const db0 = await backendCpu()
  const r = await load(opts)
  const cpu1 = server.cpuSeconds()
  const db1 = await backendCpu()
  let dbCpu = 0
  for (const [pid, t] of db1) dbCpu += t - (db0.get(pid) ?? 0)
  const requests = r.requests.total
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests,
    errors: r.errors + r.non2xx + r.timeouts,
    cpuMs: ((cpu1 - cpu0) * 1000) / requests,
    dbCpuMs: (dbCpu * 1000) / requests,
    load1: loadavg()[0]!
  }
}

function record (c: Candidate, s: string, run: Run): void {
  const key = `${s}|${c.name}`
  results.set(key, [...(results.get(key) ?? []), run])
  console.log(`  ${s} ${c.name}: ${run.rps.toFixed(0)} req/s, p50 ${run.p50} ms, p99 ${run.p99} ms, CPU ${run.cpuMs.toFixed(2)} ms/req (db ${run.dbCpuMs.toFixed(2)}), ` +
    `${run.errors} errors, load ${run.load1.toFixed(1)}`)
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }

// ─── run ───────────────────────────────────────────────────────────────────────
const statements = new Map<string, Partial<Record<Scenario, number>>>()
const basePort = 3941
for (const [k, c] of candidates.entries()) statements.set(c.name, await countStatements(c, basePort + 10 + k))
console.log('statements per request', Object.fromEntries(statements))

for (const [k, c] of candidates.entries()) c.server = await c.start(basePort + k, '')
const startedAt = new Date()
try {
  await checkSame('a', 50)
  await checkSame('b', townships.length)
  console.log(`answers checked: the same from ${candidates.map(c => c.name).join(', ')} (50 households by id, a page of each of ${townships.length} townships)`)

  const scenarios = (['a', 'b', 'c', 'd'] as const).filter(s => SCENARIOS.has(s))
  for (const s of scenarios) for (const c of candidates.filter(c => serves(c, s))) await timed(c, s, WARMUP)
  for (let round = 0; round < ROUNDS; round++) {
    console.log(`round ${round + 1}`)
    for (const s of scenarios) {
      const cs = candidates.filter(c => serves(c, s))
      for (let j = 0; j < cs.length; j++) {
        const c = cs[(j + round) % cs.length]!
        record(c, s, await timed(c, s, DURATION))
      }
    }
  }

  if (SCENARIOS.has('e') && candidates.some(c => c.key === 'ours')) {
    // The page read on the service while an import job runs on it (last: the job changes members).
    const c = candidates.find(c => c.key === 'ours')!
    const rows = values['import-rows'] !== '' ? Number(values['import-rows']) : (WARMUP + ROUNDS * DURATION) * 8000
    const dir = mkdtempSync(join(tmpdir(), 'br-bench-compare-'))
    try {
      const file = (await writeEmploymentRows(dir, rows, registered)).ndjson
      const job = await submitImportJob(c.server!.base, hr, 'hr.employment', file)
      await timed(c, 'e', WARMUP)
      console.log('e: the page read while an import job runs')
      for (let round = 0; round < ROUNDS; round++) {
        const run = await timed(c, 'e', DURATION)
        const state = await jobState(c.server!.base, hr, job)
        record(c, 'e', run)
        if (state.status !== 'running' && state.status !== 'queued') console.log(`  the job had ended (${state.status}) by the end of this round`)
      }
      const state = await jobState(c.server!.base, hr, job)
      console.log(`import job ${job}: ${state.status}, ${JSON.stringify(state.counts)}`)
      if (state.status === 'running' || state.status === 'queued') {
        // Not left to resume at the next start over this database.
        await c.server!.stop()
        await q(`UPDATE exchange_jobs SET status = 'failed' WHERE id = $1 AND status IN ('running', 'queued')`, [job])
        c.server = undefined
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
} finally {
  await sleep(1000) // the last run's requests still in flight
  for (const c of candidates) await c.server?.stop()
  await admin.end()
}

// ─── report ────────────────────────────────────────────────────────────────────
const loads = [...results.values()].flat().map(r => r.load1)
console.log(`\n${startedAt.toISOString()}; ${sizes!.h} households, ${sizes!.m} active members, ${sizes!.x} measures, ${sizes!.i} incomes; ` +
  `${ROUNDS} rounds of ${DURATION} s after a ${WARMUP} s warm-up; ${CONNECTIONS} connections (c: ${ELIG_CONNECTIONS}); pool ${POOL}; ` +
  `load average during runs ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}\n`)
console.log('| scenario | candidate | req/s (median, min–max) | p50 ms | p99 ms | ÷ PostGraphile | ÷ raw floor | SQL statements/req | server CPU ms/req | PostgreSQL CPU ms/req | errors |')
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
const rpsOf = (s: string, name: string): number | undefined => { const runs = results.get(`${s}|${name}`); return runs === undefined ? undefined : median(runs.map(r => r.rps)) }
for (const s of ['a', 'b', 'c', 'd', 'e']) {
  for (const c of candidates) {
    const runs = results.get(`${s}|${c.name}`)
    if (runs === undefined) continue
    const rps = median(runs.map(r => r.rps))
    const ratio = (other: string): string => { const o = rpsOf(s, other); return o === undefined || c.name === other || !c.name.startsWith('ours') ? '' : (rps / o).toFixed(2) }
    const st = statements.get(c.name)?.[(s === 'e' ? 'b' : s) as Scenario]
    console.log(`| ${s} | ${c.name} | ${rps.toFixed(0)} (${Math.min(...runs.map(r => r.rps)).toFixed(0)}–${Math.max(...runs.map(r => r.rps)).toFixed(0)}) | ` +
      `${median(runs.map(r => r.p50))} | ${median(runs.map(r => r.p99))} | ${ratio('PostGraphile 5')} | ${ratio('raw floor')} | ${st === undefined ? '' : st.toFixed(1)} | ` +
      `${median(runs.map(r => r.cpuMs)).toFixed(2)} | ${median(runs.map(r => r.dbCpuMs)).toFixed(2)} | ${runs.reduce((n, r) => n + r.errors, 0)} |`)
  }
}
const e = results.get('e|ours (pg jit on)')
const b = results.get('b|ours (pg jit on)')
if (e !== undefined && b !== undefined) {
  const pe = median(e.map(r => r.p99))
  const pb = median(b.map(r => r.p99))
  console.log(`\ne: p99 ${pe} ms with the import running vs ${pb} ms alone: ${(pe / pb).toFixed(2)}× (goal ≤ 2×: ${pe <= 2 * pb ? 'met' : 'missed'})`)
}
const cOurs = results.get('c|ours (pg jit on)')
const cFloor = results.get('c|raw floor')
if (cOurs !== undefined && cFloor !== undefined) {
  const rps = median(cOurs.map(r => r.rps)) / median(cFloor.map(r => r.rps))
  const p99 = median(cOurs.map(r => r.p99)) / median(cFloor.map(r => r.p99))
  console.log(`c: ${rps.toFixed(2)}× the floor's throughput (goal ≥ 0.7), p99 ${p99.toFixed(2)}× the floor's (goal ≤ 1.5) at ${ELIG_CONNECTIONS} connections`)
}
